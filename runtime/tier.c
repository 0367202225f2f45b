// SPDX-License-Identifier: MIT
/*
 * Tiering between the host pool and the NVMe extent store (ess_tier_* in
 * include/ess/nvme.h; design in Documentation/dev/nvme.md).
 *
 * One entry per extent of the pool's extent tables, same index
 * ((req * layers + layer) * max_extents + e):
 *   loc[i]    0 = in host memory (or not allocated); else the store slot
 *             + 1 shifted left by 2, with the state in the low bits:
 *             DEMOTED (NVMe only, the pool table says UINT64_MAX),
 *             WRITING (being demoted: the host copy is still the live one),
 *             READING (being read back into a freshly allocated extent)
 *   count[i]  accesses seen by ess_tier_prepare, halved every balance pass
 * The index doubles as the store operation's tag.
 *
 * The tier is found from its context through a small registry until the
 * context gets a field for it (a requested runtime hook).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "ess/nvme.h"
#include "uapi/ess.h"
#include "internal.h"
#include "tier.h"

enum { ST_DEMOTED = 1, ST_WRITING = 2, ST_READING = 3 };

#define LOC(slot, st)	((((uint64_t)(slot) + 1) << 2) | (st))
#define LOC_STATE(l)	((uint32_t)((l) & 3))
#define LOC_SLOT(l)	(((l) >> 2) - 1)

#define TIER_MAX_CTX	16
#define HEAT_BATCH	4096u

struct ess_tier {
	ess_ctx *ctx;
	struct ess_tier_config cfg;
	ess_nvme *store;
	uint32_t layers, max_extents, max_requests, et;
	uint64_t nent;
	uint64_t *loc;
	uint32_t *count;
	uint8_t *parked;
	uint64_t *owner_tag;	/* tag of the request whose extents are here */
	uint8_t *owned;
	uint32_t writing, reading;	/* operations in flight */
	int first_err;			/* first failure since last asked */
	struct ess_tier_stats st;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { const ess_ctx *ctx; struct ess_tier *t; } reg[TIER_MAX_CTX];

static struct ess_tier *tier_of(const ess_ctx *ctx)
{
	struct ess_tier *t = NULL;

	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < TIER_MAX_CTX; i++)
		if (reg[i].ctx == ctx && ctx)
			t = reg[i].t;
	pthread_mutex_unlock(&reg_lock);
	return t;
}

static int tier_get(ess_ctx *ctx, const char *fn, struct ess_tier **out)
{
	if (!ctx)
		return -EINVAL;
	*out = tier_of(ctx);
	if (!*out)
		return ess_fail(ctx, -ENODEV, "%s: no NVMe tier attached", fn);
	return 0;
}

static uint64_t ent(const struct ess_tier *t, uint32_t req, uint32_t layer,
		    uint32_t e)
{
	return ((uint64_t)req * t->layers + layer) * t->max_extents + e;
}

static uint64_t *pool_tab(const struct ess_tier *t, uint64_t i)
{
	uint64_t rl = i / t->max_extents;

	return ess_pool_extents(&t->ctx->pool, (uint32_t)(rl / t->layers),
				(uint32_t)(rl % t->layers));
}

/*
 * Release one host extent.  The pool's interface frees "extent e and all
 * after it" only, so the later ones are hidden from it for the call.
 * (Requested hook: ess_pool_extent_free(p, req, layer, e).)
 */
static void pool_release_one(struct ess_tier *t, uint64_t i)
{
	uint64_t *tab = pool_tab(t, i);
	uint32_t e = (uint32_t)(i % t->max_extents), n = t->max_extents;
	uint64_t rl = i / t->max_extents;
	uint64_t *saved = malloc((size_t)(n - e) * sizeof(*saved));

	if (!saved) {
		/* Cannot hide the tail: keep the host copy (wastes memory,
		 * loses nothing). */
		return;
	}
	for (uint32_t k = e + 1; k < n; k++) {
		saved[k - e] = tab[k];
		tab[k] = UINT64_MAX;
	}
	ess_pool_extents_free(&t->ctx->pool, (uint32_t)(rl / t->layers),
			      (uint32_t)(rl % t->layers), e);
	for (uint32_t k = e + 1; k < n; k++)
		tab[k] = saved[k - e];
	free(saved);
}

/* Tell the backend that (req, layer)'s extent table changed (the CUDA
 * backend keeps a device copy of it). */
static void map_changed(struct ess_tier *t, uint64_t i)
{
	uint64_t rl = i / t->max_extents;
	struct ess_backend *be = &t->ctx->be;

	if (be->ops && be->ops->map_changed)
		be->ops->map_changed(be, (uint32_t)(rl / t->layers),
				     (uint32_t)(rl % t->layers));
}

static int note_err(struct ess_tier *t, int err, const char *what, uint64_t i)
{
	uint64_t rl = i / t->max_extents;

	if (!t->first_err) {
		t->first_err = err;
		ess_fail(t->ctx, err,
			 "NVMe tier: %s of request %llu layer %llu extent %llu failed: %s",
			 what, (unsigned long long)(rl / t->layers),
			 (unsigned long long)(rl % t->layers),
			 (unsigned long long)(i % t->max_extents),
			 ess_nvme_errmsg(t->store));
	}
	return err;
}

static void complete(struct ess_tier *t, const struct ess_nvme_cpl *c)
{
	uint64_t i = c->tag, l = t->loc[i];
	uint64_t slot = LOC_SLOT(l);
	uint64_t eb = t->ctx->pool.hdr->extent_bytes;

	if (c->op == ESS_NVME_OP_WRITE) {
		t->writing--;
		if (c->status == 0) {
			/* The NVMe copy is complete and checksummed: only
			 * now may the host copy go. */
			pool_release_one(t, i);
			map_changed(t, i);
			t->loc[i] = LOC(slot, ST_DEMOTED);
			t->st.demoted++;
			t->st.demoted_bytes += eb;
			t->st.on_nvme++;
		} else {
			ess_nvme_free(t->store, slot);
			t->loc[i] = 0;
			t->st.write_failures++;
			note_err(t, c->status, "demotion", i);
		}
		return;
	}
	t->reading--;
	if (c->status == 0) {
		ess_nvme_free(t->store, slot);
		t->loc[i] = 0;
		t->st.promoted++;
		t->st.promoted_bytes += eb;
		t->st.on_nvme--;
	} else {
		/* Give the host extent back; the NVMe copy stays, so a
		 * transient error can be retried. */
		pool_release_one(t, i);
		map_changed(t, i);
		t->loc[i] = LOC(slot, ST_DEMOTED);
		t->st.read_failures++;
		note_err(t, c->status, "read-back", i);
	}
}

/* Reap completions; with wait, until nothing is in flight. */
static int reap(struct ess_tier *t, int wait)
{
	struct ess_nvme_cpl c[64];
	int k;

	do {
		k = ess_nvme_reap(t->store, c, 64, wait ? 1 : 0);
		if (k < 0)
			return note_err(t, k, "reap", 0);
		for (int j = 0; j < k; j++)
			complete(t, &c[j]);
	} while (wait && (t->writing || t->reading));
	return 0;
}

static int take_err(struct ess_tier *t)
{
	int e = t->first_err;

	t->first_err = 0;
	return e;
}

/* Extents left here by a request that has since been removed (or its id
 * reused) are dropped: their data belonged to someone else. */
static void check_owner(struct ess_tier *t, uint32_t req)
{
	const struct ess_pool_req *pr = &t->ctx->pool.req[req];

	if (!t->owned[req])
		return;
	if (pr->used && pr->tag == t->owner_tag[req])
		return;
	ess_tier_forget(t->ctx, req);
}

static void own(struct ess_tier *t, uint32_t req)
{
	t->owned[req] = 1;
	t->owner_tag[req] = t->ctx->pool.req[req].tag;
}

static int start_write(struct ess_tier *t, uint64_t i)
{
	uint64_t *tab = pool_tab(t, i);
	uint32_t e = (uint32_t)(i % t->max_extents);
	uint64_t slot;
	int ret;

	ret = ess_nvme_alloc(t->store, &slot);
	if (ret)
		return ess_fail(t->ctx, ret, "NVMe tier: %s",
				ess_nvme_errmsg(t->store));
	ret = ess_nvme_write(t->store, slot,
			     (uint8_t *)t->ctx->pool.base + tab[e],
			     (uint32_t)t->ctx->pool.hdr->extent_bytes, i);
	if (ret) {
		ess_nvme_free(t->store, slot);
		return ess_fail(t->ctx, ret, "NVMe tier: %s",
				ess_nvme_errmsg(t->store));
	}
	t->loc[i] = LOC(slot, ST_WRITING);
	t->writing++;
	own(t, (uint32_t)(i / t->max_extents / t->layers));
	return 0;
}

static int start_read(struct ess_tier *t, uint64_t i, uint32_t flags)
{
	uint64_t rl = i / t->max_extents;
	uint32_t req = (uint32_t)(rl / t->layers), layer = (uint32_t)(rl % t->layers);
	uint32_t e = (uint32_t)(i % t->max_extents);
	uint64_t slot = LOC_SLOT(t->loc[i]), *tab;
	char msg[ESS_ERRMSG_MAX];
	int ret;

	ret = ess_pool_extent_alloc(&t->ctx->pool, req, layer, e, msg,
				    sizeof(msg));
	if (ret)
		return ess_fail(t->ctx, ret, "NVMe tier: read-back: %s", msg);
	tab = pool_tab(t, i);
	ret = ess_nvme_read(t->store, slot, (uint8_t *)t->ctx->pool.base + tab[e],
			    (uint32_t)t->ctx->pool.hdr->extent_bytes, flags, i);
	if (ret) {
		pool_release_one(t, i);
		return ess_fail(t->ctx, ret, "NVMe tier: %s",
				ess_nvme_errmsg(t->store));
	}
	map_changed(t, i);
	t->loc[i] = LOC(slot, ST_READING);
	t->reading++;
	if (flags & ESS_NVME_READ_CRITICAL)
		t->st.critical_reads++;
	else
		t->st.prefetch_reads++;
	return 0;
}

void ess_tier_config_default(struct ess_tier_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->store_flags = ESS_NVME_CREATE;
	cfg->queue_depth = 32;
	cfg->high_pct = 90;
	cfg->low_pct = 75;
	cfg->verify_cpu = -1;
}

static void tier_free(struct ess_tier *t)
{
	if (!t)
		return;
	ess_nvme_close(t->store);
	free(t->loc);
	free(t->count);
	free(t->parked);
	free(t->owner_tag);
	free(t->owned);
	free(t);
}

int ess_tier_attach(ess_ctx *ctx, const struct ess_tier_config *cfg)
{
	struct ess_nvme_config nc;
	struct ess_tier *t;
	char err[256];
	int ret, slot = -1;

	if (!ctx)
		return -EINVAL;
	if (!cfg || cfg->size != sizeof(*cfg))
		return ess_fail(ctx, -EINVAL, "ess_tier_attach: bad config%s",
				cfg ? " size" : " (NULL)");
	if (!cfg->high_pct || cfg->high_pct > 100 || cfg->low_pct >= cfg->high_pct)
		return ess_fail(ctx, -EINVAL,
				"ess_tier_attach: watermarks high %u low %u: need 0 <= low < high <= 100",
				cfg->high_pct, cfg->low_pct);
	if (tier_of(ctx))
		return ess_fail(ctx, -EBUSY, "ess_tier_attach: a tier is attached already");
	if (ctx->pool.hdr->extent_bytes > ESS_NVME_EXTENT_MAX)
		return ess_fail(ctx, -EINVAL, "ess_tier_attach: host extents of %llu bytes exceed %u",
				(unsigned long long)ctx->pool.hdr->extent_bytes,
				ESS_NVME_EXTENT_MAX);
	t = calloc(1, sizeof(*t));
	if (!t)
		return ess_fail(ctx, -ENOMEM, "ess_tier_attach: out of memory");
	t->ctx = ctx;
	t->cfg = *cfg;
	t->cfg.path = NULL;	/* not kept: the store holds its own copy */
	t->layers = ctx->cfg.layers;
	t->max_extents = ctx->max_extents;
	t->max_requests = ctx->cfg.max_requests;
	t->et = ctx->cfg.extent_tokens;
	t->nent = (uint64_t)t->max_requests * t->layers * t->max_extents;
	t->loc = calloc(t->nent, sizeof(*t->loc));
	t->count = calloc(t->nent, sizeof(*t->count));
	t->parked = calloc(t->max_requests, 1);
	t->owned = calloc(t->max_requests, 1);
	t->owner_tag = calloc(t->max_requests, sizeof(*t->owner_tag));
	if (!t->loc || !t->count || !t->parked || !t->owned || !t->owner_tag) {
		tier_free(t);
		return ess_fail(ctx, -ENOMEM, "ess_tier_attach: out of memory for %llu extent entries",
				(unsigned long long)t->nent);
	}
	ess_nvme_config_default(&nc);
	nc.flags = cfg->store_flags;
	nc.path = cfg->path;
	nc.capacity_bytes = cfg->capacity_bytes;
	nc.extent_bytes = (uint32_t)ctx->pool.hdr->extent_bytes;
	nc.queue_depth = cfg->queue_depth;
	nc.verify_cpu = cfg->verify_cpu;
	ret = ess_nvme_open(&nc, &t->store, err, sizeof(err));
	if (ret) {
		tier_free(t);
		return ess_fail(ctx, ret, "ess_tier_attach: %s", err);
	}
	/* Register the pool for fixed-buffer I/O, 1 GiB per range (the
	 * kernel's limit for one registered buffer). */
	for (uint64_t off = 0; off < ctx->pool.bytes && off < 15ull << 30;
	     off += 1ull << 30) {
		uint64_t len = ctx->pool.bytes - off;

		if (len > 1ull << 30)
			len = 1ull << 30;
		if (ess_nvme_register_memory(t->store,
					     (uint8_t *)ctx->pool.base + off,
					     len) < 0)
			break;
	}
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < TIER_MAX_CTX; i++)
		if (!reg[i].ctx) {
			reg[i].ctx = ctx;
			reg[i].t = t;
			slot = i;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	if (slot < 0) {
		tier_free(t);
		return ess_fail(ctx, -ENOSPC, "ess_tier_attach: %d contexts have tiers already",
				TIER_MAX_CTX);
	}
	return 0;
}

void ess_tier_release(ess_ctx *ctx)
{
	struct ess_tier *t = NULL;

	/* A named region outlives the process, and its extent tables must be
	 * whole for the next one to adopt it: read back what can be.  An
	 * anonymous pool dies with the context, so nothing is read. */
	if (ctx && ctx->cfg.region_name && tier_of(ctx) &&
	    ess_tier_detach(ctx) == 0)
		return;

	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < TIER_MAX_CTX; i++)
		if (reg[i].ctx == ctx && ctx) {
			t = reg[i].t;
			reg[i].ctx = NULL;
		}
	pthread_mutex_unlock(&reg_lock);
	tier_free(t);	/* the store waits for its in-flight I/O */
}

int ess_tier_detach(ess_ctx *ctx)
{
	struct ess_tier *t;
	int ret = tier_get(ctx, "ess_tier_detach", &t);

	if (ret)
		return ret;
	reap(t, 1);
	take_err(t);
	for (uint32_t r = 0; r < t->max_requests; r++)
		check_owner(t, r);
	for (uint64_t i = 0; i < t->nent; i++) {
		if (LOC_STATE(t->loc[i]) != ST_DEMOTED)
			continue;
		ret = start_read(t, i, 0);
		if (ret) {
			reap(t, 1);
			return ret;
		}
	}
	reap(t, 1);
	ret = take_err(t);
	if (ret)
		return ret;
	pthread_mutex_lock(&reg_lock);
	for (int i = 0; i < TIER_MAX_CTX; i++)
		if (reg[i].ctx == ctx)
			reg[i].ctx = NULL;
	pthread_mutex_unlock(&reg_lock);
	memset(t->parked, 0, t->max_requests);
	tier_free(t);
	return 0;
}

static uint64_t pool_used(const struct ess_tier *t)
{
	return t->ctx->pool.nused;
}

static int over(const struct ess_tier *t, uint64_t used, uint32_t pct)
{
	return used * 100 > (uint64_t)t->ctx->pool.hdr->nextents * pct;
}

/* May balance demote entry i: resident, full, not parked or in flight. */
static int demotable(const struct ess_tier *t, uint64_t i)
{
	uint64_t rl = i / t->max_extents;
	uint32_t req = (uint32_t)(rl / t->layers), layer = (uint32_t)(rl % t->layers);
	uint32_t e = (uint32_t)(i % t->max_extents);
	uint32_t held;

	if (t->loc[i] || !t->ctx->pool.req[req].used || t->parked[req])
		return 0;
	if (pool_tab(t, i)[e] == UINT64_MAX)
		return 0;
	held = *ess_pool_ntokens(&t->ctx->pool, req, layer);
	return (uint64_t)(e + 1) * t->et <= held;
}

static int by_count(const void *a, const void *b, void *arg)
{
	const uint32_t *sort_counts = arg;
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	if (sort_counts[x] != sort_counts[y])
		return sort_counts[x] < sort_counts[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

/*
 * Whether the module's heat reflects what this context resolves: only when
 * the context reports heat (not ESS_CFG_NO_HEAT) through a backend that
 * hands over the rows it resolved (the CPU backend's heat hook, or a
 * backend's heat_drain).  A named region is attached by one context at a
 * time, so nobody else reports for it; without reports every block looks
 * equally cold, and the tier's own counts rank the extents instead.
 */
static int heat_sees_resolves(const ess_ctx *ctx)
{
	return ctx->heat.fd >= 0 &&
	       (ctx->cfg.backend == ESS_BACKEND_CPU || ctx->be.ops->heat_drain);
}

/* Victims from the module's coldest heat blocks, in that order. */
static uint64_t heat_victims(struct ess_tier *t, uint64_t *v, uint64_t want)
{
	const struct ess_pool *p = &t->ctx->pool;
	const struct ess_pool_hdr *h = p->hdr;
	struct ess_heat_entry *he;
	struct ess_heat_read rd;
	uint64_t *owner, n = 0;
	uint32_t nr;

	if (p->src != ESS_POOL_SRC_MODULE || p->fd < 0 || !p->nr_heat_blocks ||
	    !heat_sees_resolves(t->ctx))
		return 0;
	nr = p->nr_heat_blocks < ESS_HEAT_BATCH_MAX ?
	     (uint32_t)p->nr_heat_blocks : ESS_HEAT_BATCH_MAX;
	he = calloc(nr, sizeof(*he));
	owner = malloc((size_t)h->nextents * sizeof(*owner));
	if (!he || !owner)
		goto out;
	/* Which entry owns each host extent. */
	for (uint64_t x = 0; x < h->nextents; x++)
		owner[x] = UINT64_MAX;
	for (uint64_t i = 0; i < t->nent; i++) {
		uint64_t off = pool_tab(t, i)[i % t->max_extents];

		if (off != UINT64_MAX && !t->loc[i])
			owner[(off - h->data_off) / h->extent_bytes] = i;
	}
	memset(&rd, 0, sizeof(rd));
	rd.size = sizeof(rd);
	rd.flags = ESS_HEAT_COLDEST;
	rd.addr = (uint64_t)(uintptr_t)he;
	rd.nr = nr;
	if (ioctl(p->fd, ESS_IOC_HEAT_READ, &rd) < 0)
		goto out;
	for (uint32_t b = 0; b < rd.nr && n < want; b++) {
		uint64_t lo = (uint64_t)he[b].block << p->heat_shift;
		uint64_t hi = lo + (1ull << p->heat_shift);
		uint64_t x0, x1;

		if (hi <= h->data_off)
			continue;
		x0 = lo < h->data_off ? 0 : (lo - h->data_off) / h->extent_bytes;
		x1 = (hi - h->data_off + h->extent_bytes - 1) / h->extent_bytes;
		for (uint64_t x = x0; x < x1 && x < h->nextents && n < want; x++) {
			uint64_t i = owner[x];

			if (i != UINT64_MAX && demotable(t, i)) {
				v[n++] = i;
				owner[x] = UINT64_MAX;	/* once */
			}
		}
	}
	t->st.heat_picks += n;
out:
	free(he);
	free(owner);
	return n;
}

static uint64_t count_victims(struct ess_tier *t, uint64_t *v, uint64_t want)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < t->nent; i++)
		if (demotable(t, i))
			v[n++] = i;
	qsort_r(v, n, sizeof(*v), by_count, t->count);
	if (n > want)
		n = want;
	t->st.count_picks += n;
	return n;
}

int ess_tier_balance(ess_ctx *ctx)
{
	struct ess_tier *t;
	uint64_t used, want, n, *v;
	int ret = tier_get(ctx, "ess_tier_balance", &t);

	if (ret)
		return ret;
	reap(t, 0);
	for (uint32_t r = 0; r < t->max_requests; r++)
		check_owner(t, r);
	used = pool_used(t);
	if (!over(t, used, t->cfg.high_pct))
		return take_err(t);
	t->st.balance_passes++;
	/* Down to low_pct of the extents at most. */
	want = used - (uint64_t)t->ctx->pool.hdr->nextents * t->cfg.low_pct / 100;
	v = malloc((size_t)(t->nent ? t->nent : 1) * sizeof(*v));
	if (!v)
		return ess_fail(ctx, -ENOMEM, "ess_tier_balance: out of memory");
	n = heat_victims(t, v, want);
	if (!n)
		n = count_victims(t, v, want);
	for (uint64_t k = 0; k < n && !ret; k++)
		ret = start_write(t, v[k]);
	free(v);
	reap(t, 1);
	/* Age the counts so old popularity fades. */
	for (uint64_t i = 0; i < t->nent; i++)
		t->count[i] >>= 1;
	if (!ret)
		ret = take_err(t);
	return ret ? ret : (int)n;
}

int ess_tier_park(ess_ctx *ctx, uint32_t req)
{
	struct ess_tier *t;
	int ret = tier_get(ctx, "ess_tier_park", &t);

	if (!ret)
		ret = ess_check_req(ctx, "ess_tier_park", req);
	if (ret)
		return ret;
	check_owner(t, req);
	reap(t, 0);
	/* A prefetch still running: let it land before writing back. */
	while (t->reading)
		reap(t, 1);
	take_err(t);
	t->parked[req] = 1;
	t->st.parks++;
	for (uint32_t l = 0; l < t->layers && !ret; l++)
		for (uint32_t e = 0; e < t->max_extents && !ret; e++) {
			uint64_t i = ent(t, req, l, e);

			if (!t->loc[i] && pool_tab(t, i)[e] != UINT64_MAX)
				ret = start_write(t, i);
		}
	reap(t, 1);
	if (!ret)
		ret = take_err(t);
	return ret;
}

int ess_tier_resume(ess_ctx *ctx, uint32_t req)
{
	struct ess_tier *t;
	int ret = tier_get(ctx, "ess_tier_resume", &t);

	if (!ret)
		ret = ess_check_req(ctx, "ess_tier_resume", req);
	if (ret)
		return ret;
	check_owner(t, req);
	reap(t, 0);
	t->parked[req] = 0;
	t->st.resumes++;
	for (uint32_t l = 0; l < t->layers && !ret; l++)
		for (uint32_t e = 0; e < t->max_extents && !ret; e++) {
			uint64_t i = ent(t, req, l, e);

			if (LOC_STATE(t->loc[i]) == ST_DEMOTED)
				ret = start_read(t, i, 0);
		}
	/* Not waited for: the reads overlap whatever runs next. */
	ess_nvme_submit(t->store);
	return ret;
}

int ess_tier_poll(ess_ctx *ctx, int wait)
{
	struct ess_tier *t;
	int ret = tier_get(ctx, "ess_tier_poll", &t);

	if (ret)
		return ret;
	ret = reap(t, wait);
	return ret ? ret : take_err(t);
}

/*
 * Bring back the demoted extents that rows of k token ids per request
 * (toks NULL: every extent) touch in a layer, all reads issued before the
 * first wait so they overlap; count the accesses.  Without token ids (a
 * device backend's resolve, whose top-k the host cannot read) every
 * extent of the (request, layer) counts once: the request is in use, so
 * balance takes the extents of requests nobody resolves first instead of
 * treating every extent as unused.
 */
static int bring_back(struct ess_tier *t, const char *fn, uint32_t layer,
		      uint32_t nreq, const uint32_t *reqs, const int32_t *toks,
		      uint32_t k, uint32_t flags)
{
	ess_ctx *ctx = t->ctx;
	int ret = 0, waiting;

	reap(t, 0);
	take_err(t);
	for (uint32_t r = 0; r < nreq; r++) {
		check_owner(t, reqs[r]);
		if (t->parked[reqs[r]])
			return ess_fail(ctx, -EBUSY, "%s: request %u is parked",
					fn, reqs[r]);
	}
	for (uint32_t r = 0; r < nreq && !ret; r++) {
		uint32_t req = reqs[r];
		uint32_t held = *ess_pool_ntokens(&ctx->pool, req, layer);
		uint32_t n = toks ? k : (held + t->et - 1) / t->et;

		for (uint32_t j = 0; j < n && !ret; j++) {
			uint64_t i;

			if (toks) {
				int32_t tok = toks[(size_t)r * k + j];

				if (tok < 0 || (uint32_t)tok >= held)
					continue;	/* the core rejects it */
				i = ent(t, req, layer, (uint32_t)tok / t->et);
			} else {
				i = ent(t, req, layer, j);
			}
			if (t->count[i] < UINT32_MAX)
				t->count[i]++;
			if (LOC_STATE(t->loc[i]) == ST_DEMOTED)
				ret = start_read(t, i, flags);
		}
	}
	/* Wait until no extent of the batch is still being read. */
	do {
		waiting = 0;
		for (uint32_t r = 0; r < nreq && !waiting; r++)
			for (uint32_t e = 0; e < t->max_extents; e++)
				if (LOC_STATE(t->loc[ent(t, reqs[r], layer, e)]) ==
				    ST_READING) {
					waiting = 1;
					break;
				}
		if (waiting && reap(t, 1) < 0)
			break;
	} while (waiting && t->reading);
	if (ret)
		return ret;
	return take_err(t);
}

int ess_tier_prepare(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
		     const uint32_t *reqs, const int32_t *topk)
{
	const char *fn = "ess_tier_prepare";
	struct ess_tier *t;
	int ret = tier_get(ctx, fn, &t);

	if (!ret)
		ret = ess_check_layer(ctx, fn, layer);
	if (!ret)
		ret = ess_check_batch(ctx, fn, nreq, reqs);
	if (ret)
		return ret;
	return bring_back(t, fn, layer, nreq, reqs, topk, ctx->cfg.topk,
			  ESS_NVME_READ_CRITICAL);
}

int ess_tier_hook_resolve(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
			  const uint32_t *reqs, const int32_t *topk)
{
	struct ess_tier *t = tier_of(ctx);

	if (!t)
		return 0;
	/* Device memory cannot be read here: bring whole layers back. */
	if (ctx->cfg.backend != ESS_BACKEND_CPU)
		topk = NULL;
	return bring_back(t, "ess_resolve", layer, nreq, reqs, topk,
			  ctx->cfg.topk, ESS_NVME_READ_CRITICAL);
}

int ess_tier_hook_warmup(ess_ctx *ctx, uint32_t req, uint32_t layer,
			 const int32_t *tokens, uint32_t n)
{
	struct ess_tier *t = tier_of(ctx);

	if (!t)
		return 0;
	return bring_back(t, "ess_warmup", layer, 1, &req, tokens, n,
			  ESS_NVME_READ_CRITICAL);
}

int ess_tier_hook_write(ess_ctx *ctx, const char *fn, uint32_t req)
{
	struct ess_tier *t = tier_of(ctx);

	if (!t || req >= t->max_requests)
		return 0;
	check_owner(t, req);
	if (t->parked[req])
		return ess_fail(ctx, -EBUSY, "%s: request %u is parked on NVMe",
				fn, req);
	return 0;
}

void ess_tier_hook_remove(ess_ctx *ctx, uint32_t req)
{
	if (tier_of(ctx))
		ess_tier_forget(ctx, req);
}

int ess_tier_forget(ess_ctx *ctx, uint32_t req)
{
	struct ess_tier *t;
	int ret = tier_get(ctx, "ess_tier_forget", &t);

	if (ret)
		return ret;
	if (req >= t->max_requests)
		return ess_fail(ctx, -EINVAL, "ess_tier_forget: request %u out of range", req);
	/* In-flight operations of the request finish first. */
	while (t->writing || t->reading)
		reap(t, 1);
	for (uint32_t l = 0; l < t->layers; l++)
		for (uint32_t e = 0; e < t->max_extents; e++) {
			uint64_t i = ent(t, req, l, e);

			if (LOC_STATE(t->loc[i]) == ST_DEMOTED) {
				ess_nvme_free(t->store, LOC_SLOT(t->loc[i]));
				t->st.on_nvme--;
			}
			t->loc[i] = 0;
			t->count[i] = 0;
		}
	t->parked[req] = 0;
	t->owned[req] = 0;
	return 0;
}

int ess_tier_demoted(const ess_ctx *ctx, uint32_t req, uint32_t layer,
		     uint32_t tok)
{
	struct ess_tier *t = tier_of(ctx);

	if (!t || req >= t->max_requests || layer >= t->layers ||
	    tok / t->et >= t->max_extents)
		return -EINVAL;
	return LOC_STATE(t->loc[ent(t, req, layer, tok / t->et)]) == ST_DEMOTED;
}

int ess_tier_stats_get(const ess_ctx *ctx, struct ess_tier_stats *st)
{
	struct ess_tier *t = tier_of(ctx);

	if (!t || !st)
		return -EINVAL;
	*st = t->st;
	st->pool_extents = ctx->pool.hdr->nextents;
	st->pool_used = ctx->pool.nused;
	return ess_nvme_stats_get(t->store, &st->store);
}
