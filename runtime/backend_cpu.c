// SPDX-License-Identifier: MIT
/*
 * The CPU backend: the hot buffer is host memory, the hot-set rule runs on
 * the host (ess_hotset_resolve per (request, layer)) and misses are copied
 * from the host pool with memcpy in fetch-list order (ascending token,
 * i.e. ascending host address).  CI runs everything on it, and the CUDA
 * backend must match it slot for slot and counter for counter.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "backend.h"
#include "hotset.h"

struct cpu_be {
	uint8_t *hot;		/* layers x max_requests x slots rows */
	size_t hot_bytes;
	struct ess_hotset *hs;	/* [layer * max_requests + req], lazy */
	uint8_t *hs_ready;
	int32_t *slot_row;	/* [slots] scratch */
	int32_t *miss_tok;
	uint32_t *miss_slot;
	uint64_t *heat_off;
	uint32_t *stamp;	/* [max_tokens] duplicate detection */
	uint32_t gen;
};

static int fail(struct ess_backend *be, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ess_backend *be, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(be->err, be->errlen, fmt, ap);
	va_end(ap);
	return err;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t row_off(const struct ess_backend *be, uint32_t req,
			uint32_t layer, uint32_t tok)
{
	const struct ess_backend_geom *g = &be->geom;
	const uint64_t *tab = be->extent_off +
			      ((uint64_t)req * g->layers + layer) * g->max_extents;

	return tab[tok / g->extent_tokens] +
	       (uint64_t)(tok % g->extent_tokens) * g->entry_bytes;
}

static uint8_t *hot_row(const struct ess_backend *be, uint32_t layer,
			uint64_t slot)
{
	const struct ess_backend_geom *g = &be->geom;
	struct cpu_be *cb = be->priv;

	return cb->hot + (((uint64_t)layer * g->max_requests * g->slots) +
			  slot) * g->entry_bytes;
}

static void cpu_fini(struct ess_backend *be)
{
	struct cpu_be *cb = be->priv;
	uint64_t n;

	if (!cb)
		return;
	n = (uint64_t)be->geom.layers * be->geom.max_requests;
	if (cb->hs_ready)
		for (uint64_t i = 0; i < n; i++)
			if (cb->hs_ready[i])
				ess_hotset_fini(&cb->hs[i]);
	if (cb->hot && cb->hot != MAP_FAILED)
		munmap(cb->hot, cb->hot_bytes);
	free(cb->hs);
	free(cb->hs_ready);
	free(cb->slot_row);
	free(cb->miss_tok);
	free(cb->miss_slot);
	free(cb->heat_off);
	free(cb->stamp);
	free(cb);
	be->priv = NULL;
}

static int cpu_init(struct ess_backend *be)
{
	const struct ess_backend_geom *g = &be->geom;
	uint64_t n = (uint64_t)g->layers * g->max_requests;
	uint32_t w = g->slots > g->topk ? g->slots : g->topk;
	struct cpu_be *cb = calloc(1, sizeof(*cb));

	if (!cb)
		return fail(be, -ENOMEM, "cpu backend: out of memory");
	be->priv = cb;
	cb->hot_bytes = n * g->slots * g->entry_bytes;
	/* Untouched pages cost nothing: only used slots are backed. */
	cb->hot = mmap(NULL, cb->hot_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cb->hs = calloc(n, sizeof(*cb->hs));
	cb->hs_ready = calloc(n, 1);
	cb->slot_row = calloc(w, sizeof(int32_t));
	cb->miss_tok = calloc(w, sizeof(int32_t));
	cb->miss_slot = calloc(w, sizeof(uint32_t));
	cb->heat_off = calloc(w, sizeof(uint64_t));
	cb->stamp = calloc(g->max_tokens, sizeof(uint32_t));
	if (cb->hot == MAP_FAILED || !cb->hs || !cb->hs_ready ||
	    !cb->slot_row || !cb->miss_tok || !cb->miss_slot ||
	    !cb->heat_off || !cb->stamp) {
		cpu_fini(be);
		return fail(be, -ENOMEM,
			    "cpu backend: cannot allocate a %zu-byte hot buffer and its state",
			    cb->hot_bytes);
	}
	return 0;
}

static void *cpu_hot_layer(struct ess_backend *be, uint32_t layer)
{
	return hot_row(be, layer, 0);
}

/* The hot set of (req, layer), made on first use. */
static struct ess_hotset *hotset(struct ess_backend *be, uint32_t req,
				 uint32_t layer, int *err)
{
	struct cpu_be *cb = be->priv;
	uint64_t i = (uint64_t)layer * be->geom.max_requests + req;

	if (!cb->hs_ready[i]) {
		*err = ess_hotset_init(&cb->hs[i], be->geom.slots,
				       be->geom.policy);
		if (*err)
			return NULL;
		cb->hs_ready[i] = 1;
	}
	*err = 0;
	return &cb->hs[i];
}

/* Fills of free slots: misses (or the appended row) that evicted nothing
 * take a slot that was empty, so the occupied slots grow by that much. */
static void hot_filled(struct ess_backend *be,
		       const struct ess_hotset_result *res)
{
	be->stats->hot_used_bytes += (uint64_t)(res->nmiss - res->evictions) *
				     be->geom.entry_bytes;
}

static int cpu_request_reset(struct ess_backend *be, uint32_t req)
{
	struct cpu_be *cb = be->priv;
	uint64_t held = 0;

	for (uint32_t l = 0; l < be->geom.layers; l++) {
		uint64_t i = (uint64_t)l * be->geom.max_requests + req;

		if (!cb->hs_ready[i])
			continue;
		for (uint32_t s = 0; s < be->geom.slots; s++)
			held += cb->hs[i].token[s] >= 0;
		ess_hotset_reset(&cb->hs[i]);
	}
	be->stats->hot_used_bytes -= held * be->geom.entry_bytes;
	return 0;
}

/* Copy the fetch list's rows into their slots, in list order. */
static void fetch(struct ess_backend *be, uint32_t req, uint32_t layer,
		  uint32_t nmiss)
{
	struct cpu_be *cb = be->priv;
	uint32_t eb = be->geom.entry_bytes;
	uint64_t base = (uint64_t)req * be->geom.slots;
	uint64_t t0 = now_ns();

	for (uint32_t m = 0; m < nmiss; m++)
		memcpy(hot_row(be, layer, base + cb->miss_slot[m]),
		       (uint8_t *)be->pool_base +
		       row_off(be, req, layer, (uint32_t)cb->miss_tok[m]), eb);
	be->stats->fetch_ns += now_ns() - t0;
	be->stats->bytes_h2d += (uint64_t)nmiss * eb;
}

static int cpu_warmup(struct ess_backend *be, uint32_t req, uint32_t layer,
		      const int32_t *tokens, uint32_t n)
{
	struct cpu_be *cb = be->priv;
	struct ess_hotset_result res;
	struct ess_hotset *hs;
	int ret;

	hs = hotset(be, req, layer, &ret);
	if (!hs)
		return fail(be, ret, "warm-up: no memory for a hot set");
	ret = ess_hotset_resolve(hs, tokens, n, cb->slot_row, cb->miss_tok,
				 cb->miss_slot, &res);
	if (ret)
		return fail(be, ret, "warm-up: hot set refused the tokens");
	fetch(be, req, layer, res.nmiss);
	be->stats->warmups += res.nmiss;
	be->stats->evictions += res.evictions;
	hot_filled(be, &res);
	return 0;
}

static int cpu_append(struct ess_backend *be, uint32_t layer, uint32_t nreq,
		      const uint32_t *reqs, const uint32_t *pos,
		      const void *rows, void *stream)
{
	uint32_t eb = be->geom.entry_bytes;
	int ret;

	(void)stream;
	for (uint32_t i = 0; i < nreq; i++)
		if (!hotset(be, reqs[i], layer, &ret))
			return fail(be, ret, "append: no memory for a hot set");
	for (uint32_t i = 0; i < nreq; i++) {
		const uint8_t *src = (const uint8_t *)rows + (size_t)i * eb;
		struct ess_hotset *hs = hotset(be, reqs[i], layer, &ret);
		struct ess_hotset_result res;
		uint32_t slot;

		memcpy((uint8_t *)be->pool_base +
		       row_off(be, reqs[i], layer, pos[i]), src, eb);
		ret = ess_hotset_insert(hs, (int32_t)pos[i], &slot, &res);
		if (ret)
			return fail(be, ret, "append: hot set refused token %u",
				    pos[i]);
		memcpy(hot_row(be, layer,
			       (uint64_t)reqs[i] * be->geom.slots + slot),
		       src, eb);
		be->stats->appends++;
		be->stats->bytes_d2h += eb;
		be->stats->evictions += res.evictions;
		hot_filled(be, &res);
	}
	return 0;
}

/* Check one top-k row before anything changes. */
static int check_row(struct ess_backend *be, uint32_t req, uint32_t layer,
		     const int32_t *row)
{
	const struct ess_backend_geom *g = &be->geom;
	struct cpu_be *cb = be->priv;
	uint32_t held = be->ntokens[(uint64_t)req * g->layers + layer];
	uint32_t valid = 0;

	if (++cb->gen == 0) {
		memset(cb->stamp, 0, (size_t)g->max_tokens * sizeof(uint32_t));
		cb->gen = 1;
	}
	for (uint32_t j = 0; j < g->topk; j++) {
		int32_t t = row[j];

		if (t == -1)
			continue;
		if (t < 0 || (uint32_t)t >= held)
			return fail(be, -EINVAL,
				    "ess_resolve: request %u layer %u entry %u: token %d out of range (%u held)",
				    req, layer, j, t, held);
		if (cb->stamp[t] == cb->gen)
			return fail(be, -EINVAL,
				    "ess_resolve: request %u layer %u: token %d twice in the top-k",
				    req, layer, t);
		cb->stamp[t] = cb->gen;
		if (++valid > g->slots)
			return fail(be, -EINVAL,
				    "ess_resolve: request %u layer %u: more than %u valid entries",
				    req, layer, g->slots);
	}
	return 0;
}

static int cpu_resolve(struct ess_backend *be, uint32_t layer, uint32_t nreq,
		       const uint32_t *reqs, const int32_t *topk,
		       int32_t *slots_out, void *stream)
{
	const struct ess_backend_geom *g = &be->geom;
	struct cpu_be *cb = be->priv;
	int ret;

	(void)stream;
	/* Whole batch checked (and hot sets made) first: a bad row anywhere
	 * leaves every hot set, slot and counter as it was. */
	for (uint32_t i = 0; i < nreq; i++) {
		ret = check_row(be, reqs[i], layer, topk + (size_t)i * g->topk);
		if (ret)
			return ret;
	}
	for (uint32_t i = 0; i < nreq; i++)
		if (!hotset(be, reqs[i], layer, &ret))
			return fail(be, ret, "ess_resolve: no memory for a hot set");

	for (uint32_t i = 0; i < nreq; i++) {
		uint32_t req = reqs[i];
		const int32_t *row = topk + (size_t)i * g->topk;
		int32_t *out = slots_out + (size_t)i * g->topk;
		struct ess_hotset *hs = hotset(be, req, layer, &ret);
		int32_t base = (int32_t)(req * g->slots);
		struct ess_hotset_result res;
		uint32_t valid = 0;

		ret = ess_hotset_resolve(hs, row, g->topk, cb->slot_row,
					 cb->miss_tok, cb->miss_slot, &res);
		if (ret)
			return fail(be, ret,
				    "ess_resolve: hot set refused request %u layer %u",
				    req, layer);
		fetch(be, req, layer, res.nmiss);
		for (uint32_t j = 0; j < g->topk; j++) {
			if (cb->slot_row[j] < 0) {
				out[j] = -1;
				continue;
			}
			out[j] = base + cb->slot_row[j];
			cb->heat_off[valid++] = row_off(be, req, layer,
							(uint32_t)row[j]);
		}
		if (be->heat)
			be->heat(be->heat_arg, cb->heat_off, valid);
		be->stats->resolves++;
		be->stats->lookups += valid;
		be->stats->hits += res.hits;
		be->stats->misses += res.nmiss;
		be->stats->evictions += res.evictions;
		be->stats->layer_misses[layer] += res.nmiss;
		hot_filled(be, &res);
	}
	return 0;
}

static int cpu_sync(struct ess_backend *be, void *stream)
{
	(void)be;
	(void)stream;
	return 0;
}

static int cpu_read_tokens(struct ess_backend *be, uint32_t req,
			   uint32_t layer, int32_t *tokens)
{
	struct cpu_be *cb = be->priv;
	uint64_t i = (uint64_t)layer * be->geom.max_requests + req;

	if (!cb->hs_ready[i]) {
		for (uint32_t s = 0; s < be->geom.slots; s++)
			tokens[s] = -1;
		return 0;
	}
	memcpy(tokens, cb->hs[i].token, be->geom.slots * sizeof(int32_t));
	return 0;
}

static int cpu_read_hot(struct ess_backend *be, uint32_t layer,
			uint64_t first_slot, uint32_t n, void *dst)
{
	memcpy(dst, hot_row(be, layer, first_slot),
	       (size_t)n * be->geom.entry_bytes);
	return 0;
}

static const struct ess_backend_ops cpu_ops = {
	.abi = ESS_BACKEND_ABI,
	.size = sizeof(struct ess_backend_ops),
	.name = "cpu",
	.probe = NULL,
	.init = cpu_init,
	.fini = cpu_fini,
	.hot_layer = cpu_hot_layer,
	.map_changed = NULL,
	.request_reset = cpu_request_reset,
	.warmup = cpu_warmup,
	.append = cpu_append,
	.resolve = cpu_resolve,
	.sync = cpu_sync,
	.read_tokens = cpu_read_tokens,
	.read_hot = cpu_read_hot,
	.stats_flush = NULL,
	.heat_drain = NULL,
};

const struct ess_backend_ops *ess_backend_cpu_ops(void)
{
	return &cpu_ops;
}
