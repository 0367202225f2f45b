// SPDX-License-Identifier: MIT
/*
 * Host-pool layout and extent allocation, common to both providers.
 *
 * Layout: [header | request table | token counts | extent tables | pad to
 * 2 MiB | extents].  An extent is extent_tokens consecutive rows of one
 * (request, layer).  Allocation keeps a (request, layer)'s extents at
 * ascending offsets where it can (the next free extent after the previous
 * one), so sorted token ids give ascending host addresses: the gather over
 * PCIe runs near twice as fast sorted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

struct layout {
	uint64_t req_off, ntokens_off, extent_off_off, data_off;
};

static void layout_of(const struct ess_pool_geom *g, struct layout *l)
{
	uint64_t pairs = (uint64_t)g->max_requests * g->layers;

	l->req_off = align_up(sizeof(struct ess_pool_hdr), 64);
	l->ntokens_off = align_up(l->req_off + (uint64_t)g->max_requests *
				  sizeof(struct ess_pool_req), 64);
	l->extent_off_off = align_up(l->ntokens_off + pairs * 4, 64);
	l->data_off = align_up(l->extent_off_off +
			       pairs * g->max_extents * 8, ESS_POOL_ALIGN);
}

uint64_t ess_pool_header_bytes(const struct ess_pool_geom *g)
{
	struct layout l;

	layout_of(g, &l);
	return l.data_off;
}

static void bind_tables(struct ess_pool *p)
{
	char *b = p->base;

	p->hdr = p->base;
	p->req = (struct ess_pool_req *)(b + p->hdr->req_off);
	p->ntokens = (uint32_t *)(b + p->hdr->ntokens_off);
	p->extent_off = (uint64_t *)(b + p->hdr->extent_off_off);
}

static int bitmap_alloc(struct ess_pool *p, char *err, size_t errlen)
{
	p->used = calloc((p->hdr->nextents + 63) / 64 + 1, 8);
	if (!p->used) {
		snprintf(err, errlen, "out of memory for the extent bitmap");
		return -ENOMEM;
	}
	p->nused = 0;
	p->cursor = 0;
	return 0;
}

static int test_bit64(const uint64_t *m, uint32_t i)
{
	return (m[i / 64] >> (i % 64)) & 1;
}

static void set_bit64(uint64_t *m, uint32_t i)
{
	m[i / 64] |= 1ULL << (i % 64);
}

static void clear_bit64(uint64_t *m, uint32_t i)
{
	m[i / 64] &= ~(1ULL << (i % 64));
}

int ess_pool_format(struct ess_pool *p, const struct ess_pool_geom *g,
		    uint64_t data_bytes, char *err, size_t errlen)
{
	struct layout l;
	struct ess_pool_hdr *h = p->base;
	uint64_t eb = (uint64_t)g->extent_tokens * g->entry_bytes;
	uint64_t pairs = (uint64_t)g->max_requests * g->layers;
	uint64_t next;

	layout_of(g, &l);
	if (l.data_off + eb > p->bytes) {
		snprintf(err, errlen,
			 "pool of %llu bytes too small: tables need %llu bytes plus at least one extent of %llu",
			 (unsigned long long)p->bytes,
			 (unsigned long long)l.data_off,
			 (unsigned long long)eb);
		return -EINVAL;
	}
	next = (p->bytes - l.data_off) / eb;
	if (next > data_bytes / eb)
		next = data_bytes / eb;
	if (next > UINT32_MAX - 64) {
		snprintf(err, errlen, "pool holds too many extents");
		return -EINVAL;
	}
	memset(h, 0, sizeof(*h));
	h->version = ESS_POOL_VERSION;
	h->geom = *g;
	h->nextents = (uint32_t)next;
	h->extent_bytes = eb;
	h->req_off = l.req_off;
	h->ntokens_off = l.ntokens_off;
	h->extent_off_off = l.extent_off_off;
	h->data_off = l.data_off;
	h->bytes = p->bytes;
	bind_tables(p);
	memset(p->req, 0, g->max_requests * sizeof(*p->req));
	memset(p->ntokens, 0, pairs * 4);
	for (uint64_t i = 0; i < pairs * g->max_extents; i++)
		p->extent_off[i] = UINT64_MAX;
	/* Magic last: a header is valid only once its tables are. */
	__atomic_store_n(&h->magic, ESS_POOL_MAGIC, __ATOMIC_RELEASE);
	return bitmap_alloc(p, err, errlen);
}

int ess_pool_adopt(struct ess_pool *p, const struct ess_pool_geom *g,
		   uint64_t data_bytes, char *err, size_t errlen)
{
	const struct ess_pool_hdr *h = p->base;
	const struct ess_pool_geom *hg = &h->geom;
	struct layout l;
	uint64_t pairs;
	int ret;

	/* A region created but never formatted (its process died first)
	 * is all zero; anything else without our magic is not ours. */
	if (h->magic == 0)
		return ess_pool_format(p, g, data_bytes, err, errlen);
	if (h->magic != ESS_POOL_MAGIC) {
		snprintf(err, errlen,
			 "region holds no libess pool (magic %016llx): refusing to overwrite it",
			 (unsigned long long)h->magic);
		return -EINVAL;
	}
	layout_of(g, &l);
	if (h->version != ESS_POOL_VERSION) {
		snprintf(err, errlen, "region holds pool version %u, expected %u",
			 h->version, ESS_POOL_VERSION);
		return -EINVAL;
	}
	if (memcmp(hg, g, sizeof(*g))) {
		snprintf(err, errlen,
			 "region holds a pool of other geometry (layers %u entry_bytes %u extent_tokens %u max_requests %u max_extents %u)",
			 hg->layers, hg->entry_bytes, hg->extent_tokens,
			 hg->max_requests, hg->max_extents);
		return -EINVAL;
	}
	if (h->bytes > p->bytes || h->data_off != l.data_off ||
	    h->req_off != l.req_off || h->ntokens_off != l.ntokens_off ||
	    h->extent_off_off != l.extent_off_off ||
	    h->extent_bytes != (uint64_t)g->extent_tokens * g->entry_bytes ||
	    h->data_off + (uint64_t)h->nextents * h->extent_bytes > p->bytes) {
		snprintf(err, errlen, "region's pool header is inconsistent");
		return -EIO;
	}
	bind_tables(p);
	ret = bitmap_alloc(p, err, errlen);
	if (ret)
		return ret;
	/* Rebuild the bitmap from the extent tables, checking each entry. */
	pairs = (uint64_t)g->max_requests * g->layers;
	for (uint64_t i = 0; i < pairs; i++) {
		uint32_t req = (uint32_t)(i / g->layers);
		uint32_t nt = p->ntokens[i];
		uint32_t need = (nt + g->extent_tokens - 1) / g->extent_tokens;

		if ((!p->req[req].used && nt) || need > g->max_extents)
			goto bad;
		for (uint32_t e = 0; e < g->max_extents; e++) {
			uint64_t off = p->extent_off[i * g->max_extents + e];
			uint64_t x;

			if (off == UINT64_MAX) {
				if (e < need)
					goto bad;
				continue;
			}
			if (off < h->data_off ||
			    (off - h->data_off) % h->extent_bytes)
				goto bad;
			x = (off - h->data_off) / h->extent_bytes;
			if (x >= h->nextents || test_bit64(p->used, (uint32_t)x))
				goto bad;
			set_bit64(p->used, (uint32_t)x);
			p->nused++;
		}
	}
	return 0;
bad:
	snprintf(err, errlen, "region's pool tables are inconsistent");
	free(p->used);
	p->used = NULL;
	return -EIO;
}

void ess_pool_fini(struct ess_pool *p)
{
	free(p->used);
	p->used = NULL;
}

static int64_t find_free(const struct ess_pool *p, uint32_t from)
{
	uint32_t n = p->hdr->nextents;

	if (p->nused >= n)
		return -1;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t i = from + k;

		if (i >= n)
			i -= n;
		if (!(i % 64) && i + 64 <= n && p->used[i / 64] == UINT64_MAX) {
			k += 63;
			continue;
		}
		if (!test_bit64(p->used, i))
			return i;
	}
	return -1;
}

int ess_pool_extent_alloc(struct ess_pool *p, uint32_t req, uint32_t layer,
			  uint32_t e, char *err, size_t errlen)
{
	const struct ess_pool_hdr *h = p->hdr;
	uint64_t *tab = ess_pool_extents(p, req, layer);
	uint32_t from = p->cursor;
	int64_t x;

	if (e >= h->geom.max_extents) {
		snprintf(err, errlen, "request %u layer %u: extent %u beyond max_tokens",
			 req, layer, e);
		return -EINVAL;
	}
	if (tab[e] != UINT64_MAX)
		return 0;
	if (e > 0 && tab[e - 1] != UINT64_MAX)
		from = (uint32_t)((tab[e - 1] - h->data_off) / h->extent_bytes) + 1;
	if (from >= h->nextents)
		from = 0;
	x = find_free(p, from);
	if (x < 0) {
		snprintf(err, errlen,
			 "host pool full: all %u extents of %llu bytes in use (request %u layer %u needs one more)",
			 h->nextents, (unsigned long long)h->extent_bytes,
			 req, layer);
		return -ENOSPC;
	}
	set_bit64(p->used, (uint32_t)x);
	p->nused++;
	tab[e] = h->data_off + (uint64_t)x * h->extent_bytes;
	if (e == 0)
		p->cursor = (uint32_t)x + 1 < h->nextents ? (uint32_t)x + 1 : 0;
	return 0;
}

void ess_pool_extents_free(struct ess_pool *p, uint32_t req, uint32_t layer,
			   uint32_t from)
{
	const struct ess_pool_hdr *h = p->hdr;
	uint64_t *tab = ess_pool_extents(p, req, layer);

	for (uint32_t e = from; e < h->geom.max_extents; e++) {
		if (tab[e] == UINT64_MAX)
			continue;
		clear_bit64(p->used,
			    (uint32_t)((tab[e] - h->data_off) / h->extent_bytes));
		p->nused--;
		tab[e] = UINT64_MAX;
	}
}
