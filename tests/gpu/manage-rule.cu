/* SPDX-License-Identifier: MIT */
/*
 * The management kernel against the CPU reference of the hot-set rule
 * (runtime/hotset.c): over many steps of a synthetic top-k stream with
 * step-to-step overlap, evictions and unused (-1) entries, the slot ids,
 * the miss list, the host offsets and the whole hot-set state (token, key,
 * freq, t) must be identical; the rows the fetch put in the hot buffer
 * (poisoned at start) must equal the host rows byte for byte; bad rows must
 * set the error word, write -1 and change nothing; the step must run the
 * same when captured in a CUDA graph.  ESS_GPU_QUICK=1 runs fewer steps
 * (for compute-sanitizer), ESS_MANAGE_ONLY=text only the geometries whose
 * name holds text.  Each geometry runs under the blocks per request the
 * launcher picks, or those its flags force (one block, a cluster of 2 or
 * 4 blocks), batches above the SM count included.  The "-map" geometries
 * also hand the kernels a token -> slot map (hs_map), checked after every
 * step against the hot set it mirrors (ESS_MANAGE_ONLY=map runs just them).
 * The "-order" geometries add the kept LRU order (hs_order, hs_order_tail):
 * where the launcher picks the order kernel (ess_cuda_manage_kernel), every
 * request's order must equal its slots in ascending (key, slot) order with
 * the tail {t, n} right after every accepted row, stay as it was for a
 * refused one, be rebuilt from the keys where marked stale by hand over a
 * garbled order ("-rebuild"); where another kernel runs (forced by a flag,
 * or another policy) every request's order must be left stale.  The
 * "-append" geometries put decode appends (one-entry ESS_MANAGE_NO_TICK
 * rows, the first before any resolve) between the resolves, against
 * ess_hotset_insert.  ESS_MANAGE_ONLY=order runs the order geometries.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ess_cuda.h"
#include "gpu-tap.h"
extern "C" {
#include "hotset.h"
}

#define LAYERS 2
#define LAYER 1		/* the layer exercised: not 0, so offsets matter */
#define ENTRY 656u
#define EXT_SHIFT 8u	/* 256 tokens per extent */
/* geom.flags bits of the test alone (stripped before ess_manage_args.flags):
 *  GEOM_MAP      the geometry keeps a token -> slot map, hs_map;
 *  GEOM_ORDER    and the kept LRU order, hs_order and hs_order_tail (implies
 *                GEOM_MAP: the launcher refuses an order without a map);
 *  GEOM_APPEND   decode appends (one-entry NO_TICK rows) before the first
 *                resolve and between resolves;
 *  GEOM_REBUILD  now and then a few requests' orders garbled and marked
 *                stale by hand (the next resolve must build them again) */
#define GEOM_MAP (1u << 30)
#define GEOM_ORDER (1u << 29)
#define GEOM_APPEND (1u << 28)
#define GEOM_REBUILD (1u << 27)
#define GEOM_TEST (GEOM_MAP | GEOM_ORDER | GEOM_APPEND | GEOM_REBUILD)

struct geom {
	const char *name;
	uint32_t slots, topk, max_req, nreq, max_tokens, steps;
	uint32_t keep_pct;	/* share of the previous row kept */
	uint32_t unused_pct;	/* share of -1 entries */
	int graph_from;		/* steps from here on replay a CUDA graph (-1 never) */
	uint32_t policy;	/* enum ess_policy_id (0: LRU) */
	uint32_t flags;		/* ESS_MANAGE_* of every step, GEOM_* */
};

struct state {
	const struct geom *g;
	uint32_t max_ext;
	/* host */
	uint64_t pool_bytes;
	unsigned char *pool_h;
	void *pool_d;
	uint64_t *ext_h;	/* [(req*LAYERS+layer)*max_ext + e] */
	uint32_t *ntok_h;	/* [req*LAYERS+layer] */
	struct ess_hotset *ref;	/* [max_req] of LAYER */
	int32_t *prev;		/* [max_req * topk] previous row per request */
	/* device */
	int32_t *tok_d;
	uint64_t *key_d;
	uint32_t *freq_d, *t_d;
	uint32_t *reqs_d, *ntok_d, *nmiss_d;
	uint64_t *ext_d, *moff_d, *cnt_d;
	int32_t *topk_d, *out_d, *mslot_d, *mtok_d, *err_d;
	unsigned char *hot_d;
	/* token -> slot map, [LAYERS][max_req][map_cap] (GEOM_MAP, else NULL);
	 * map_cap covers every token a request can hold */
	uint16_t *map_d;
	uint32_t map_cap;
	/* kept LRU order (GEOM_ORDER, else NULL): [LAYERS + 1][max_req][slots]
	 * and tails [LAYERS + 1][max_req][2]; layer LAYERS is a guard past the
	 * exercised one, which no launch may write (nor layer 0) */
	uint16_t *order_d;
	uint32_t *tail_d;
	/* counters summed from the reference (appends count as resolves) */
	uint64_t hits, misses, evictions, lookups, resolves;
	uint64_t app_hits, app_fills;	/* appends (GEOM_APPEND) */
};

static void setup(struct state *st, const struct geom *g)
{
	memset(st, 0, sizeof(*st));
	st->g = g;
	st->max_ext = (g->max_tokens + (1u << EXT_SHIFT) - 1) >> EXT_SHIFT;
	const uint32_t nmap = g->max_req * LAYERS;
	st->ext_h = (uint64_t *)malloc(8ull * nmap * st->max_ext);
	st->ntok_h = (uint32_t *)calloc(nmap, 4);
	/* extents at ascending offsets per (req, layer), with gaps, and the
	 * (req, layer) blocks interleaved in a shuffled order */
	uint64_t pos = 0;
	uint32_t *order = (uint32_t *)malloc(4 * nmap);
	for (uint32_t i = 0; i < nmap; i++)
		order[i] = i;
	for (uint32_t i = nmap - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng() % (i + 1)), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	const uint64_t ext_bytes = (uint64_t)ENTRY << EXT_SHIFT;
	for (uint32_t k = 0; k < nmap; k++) {
		uint32_t m = order[k];
		for (uint32_t e = 0; e < st->max_ext; e++) {
			pos += (rng() % 3) * ext_bytes;	/* gaps */
			st->ext_h[(uint64_t)m * st->max_ext + e] = pos;
			pos += ext_bytes;
		}
	}
	free(order);
	st->pool_bytes = pos;
	st->pool_h = (unsigned char *)aligned_alloc(4096, (pos + 4095) / 4096 * 4096);
	fill_random(st->pool_h, pos);
	CK(cudaHostRegister(st->pool_h, pos, cudaHostRegisterMapped));
	CK(cudaHostGetDevicePointer(&st->pool_d, st->pool_h, 0));

	st->ref = (struct ess_hotset *)calloc(g->max_req, sizeof(*st->ref));
	for (uint32_t r = 0; r < g->max_req; r++)
		if (ess_hotset_init(&st->ref[r], g->slots, g->policy) != 0) {
			tap_ok(0, "ess_hotset_init");
			exit(1);
		}
	st->prev = (int32_t *)malloc(4ull * g->max_req * g->topk);
	for (uint64_t i = 0; i < (uint64_t)g->max_req * g->topk; i++)
		st->prev[i] = -1;
	for (uint32_t r = 0; r < g->max_req; r++)
		st->ntok_h[r * LAYERS + LAYER] = g->max_tokens / 2 + (uint32_t)(rng() % (g->max_tokens / 4));

	const uint64_t nsl = (uint64_t)LAYERS * g->max_req * g->slots;
	CK(cudaMalloc(&st->tok_d, 4 * nsl));
	CK(cudaMalloc(&st->key_d, 8 * nsl));
	CK(cudaMalloc(&st->freq_d, 4 * nsl));
	CK(cudaMalloc(&st->t_d, 4ull * LAYERS * g->max_req));
	CK(cudaMemset(st->tok_d, 0xff, 4 * nsl));	/* -1: empty */
	CK(cudaMemset(st->key_d, 0, 8 * nsl));
	CK(cudaMemset(st->freq_d, 0, 4 * nsl));
	CK(cudaMemset(st->t_d, 0, 4ull * LAYERS * g->max_req));
	const uint64_t nk = (uint64_t)g->nreq * g->topk;
	CK(cudaMalloc(&st->reqs_d, 4 * g->nreq));
	CK(cudaMalloc(&st->ntok_d, 4 * nmap));
	CK(cudaMalloc(&st->nmiss_d, 4 * g->nreq));
	CK(cudaMalloc(&st->ext_d, 8ull * nmap * st->max_ext));
	CK(cudaMalloc(&st->moff_d, 8 * nk));
	CK(cudaMalloc(&st->cnt_d, 8 * ESS_CUDA_NCOUNTERS));
	CK(cudaMemset(st->cnt_d, 0, 8 * ESS_CUDA_NCOUNTERS));
	CK(cudaMalloc(&st->topk_d, 4 * nk));
	CK(cudaMalloc(&st->out_d, 4 * nk));
	CK(cudaMalloc(&st->mslot_d, 4 * nk));
	CK(cudaMalloc(&st->mtok_d, 4 * nk));
	CK(cudaMalloc(&st->err_d, 8));
	CK(cudaMemset(st->err_d, 0, 8));
	CK(cudaMalloc(&st->hot_d, (uint64_t)g->max_req * g->slots * ENTRY));
	CK(cudaMemset(st->hot_d, 0xA5, (uint64_t)g->max_req * g->slots * ENTRY));
	CK(cudaMemcpy(st->ext_d, st->ext_h, 8ull * nmap * st->max_ext, cudaMemcpyHostToDevice));
	if (g->flags & (GEOM_MAP | GEOM_ORDER)) {
		st->map_cap = st->max_ext << EXT_SHIFT;
		const uint64_t nm = (uint64_t)LAYERS * g->max_req * st->map_cap;
		CK(cudaMalloc(&st->map_d, 2 * nm));
		CK(cudaMemset(st->map_d, 0xff, 2 * nm));	/* ESS_MAP_NONE: empty */
	}
	if (g->flags & GEOM_ORDER) {
		const uint64_t no = (uint64_t)(LAYERS + 1) * g->max_req * g->slots;
		const uint64_t nt = 2ull * (LAYERS + 1) * g->max_req;
		CK(cudaMalloc(&st->order_d, 2 * no));
		CK(cudaMemset(st->order_d, 0xff, 2 * no));	/* garbage: nothing built */
		CK(cudaMalloc(&st->tail_d, 4 * nt));
		CK(cudaMemset(st->tail_d, 0xff, 4 * nt));	/* ESS_ORDER_STALE */
	}
	CK(cudaDeviceSynchronize());
}

static void teardown(struct state *st)
{
	for (uint32_t r = 0; r < st->g->max_req; r++)
		ess_hotset_fini(&st->ref[r]);
	free(st->ref);
	free(st->prev);
	cudaHostUnregister(st->pool_h);
	free(st->pool_h);
	free(st->ext_h);
	free(st->ntok_h);
	void *d[] = {st->tok_d, st->key_d, st->freq_d, st->t_d, st->reqs_d, st->ntok_d,
		     st->nmiss_d, st->ext_d, st->moff_d, st->cnt_d, st->topk_d, st->out_d,
		     st->mslot_d, st->mtok_d, st->err_d, st->hot_d, st->map_d, st->order_d,
		     st->tail_d};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		cudaFree(d[i]);
}

static uint64_t host_off(const struct state *st, uint32_t req, int32_t tok)
{
	const uint64_t m = (uint64_t)req * LAYERS + LAYER;
	return st->ext_h[m * st->max_ext + ((uint32_t)tok >> EXT_SHIFT)] +
	       (uint64_t)((uint32_t)tok & ((1u << EXT_SHIFT) - 1)) * ENTRY;
}

/* Next top-k row of request r: keep_pct of its previous valid tokens, the
 * rest new distinct ones (half of them from the recent window), unused_pct
 * entries -1, positions shuffled. */
static void next_row(struct state *st, uint32_t r, int32_t *row)
{
	const struct geom *g = st->g;
	const uint32_t ntok = st->ntok_h[r * LAYERS + LAYER];
	int32_t *prev = st->prev + (uint64_t)r * g->topk;
	unsigned char *used = (unsigned char *)calloc(ntok, 1);
	uint32_t n = 0, i;
	const uint32_t want = g->topk - g->topk * g->unused_pct / 100;
	for (i = 0; i < g->topk && n < want; i++)
		if (prev[i] >= 0 && (uint32_t)prev[i] < ntok && rng() % 100 < g->keep_pct &&
		    !used[prev[i]]) {
			used[prev[i]] = 1;
			row[n++] = prev[i];
		}
	while (n < want) {
		uint32_t tok = (rng() & 1) ? ntok - 1 - (uint32_t)(rng() % (ntok < 512 ? ntok : 512))
					    : (uint32_t)(rng() % ntok);
		if (used[tok])
			continue;
		used[tok] = 1;
		row[n++] = (int32_t)tok;
	}
	for (; n < g->topk; n++)
		row[n] = -1;
	for (i = g->topk - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng() % (i + 1));
		int32_t t = row[i];
		row[i] = row[j];
		row[j] = t;
	}
	memcpy(prev, row, 4ull * g->topk);
	free(used);
}

/* Make sure row (of request r) has a miss: where every valid entry is
 * held, its first valid entry becomes a token neither held nor in the row
 * (rows that keep most of the previous one often have no miss). */
static void force_miss(const struct state *st, uint32_t r, int32_t *row)
{
	const uint32_t K = st->g->topk;
	const uint32_t ntok = st->ntok_h[r * LAYERS + LAYER];
	uint32_t i, first = K;
	for (i = 0; i < K; i++) {
		if (row[i] < 0)
			continue;
		if (first == K)
			first = i;
		if (ess_hotset_lookup(&st->ref[r], row[i]) < 0)
			return;
	}
	if (first == K)
		return;
	for (int32_t tok = 0; (uint32_t)tok < ntok; tok++) {
		if (ess_hotset_lookup(&st->ref[r], tok) >= 0)
			continue;
		for (i = 0; i < K && row[i] != tok; i++)
			;
		if (i == K) {
			row[first] = tok;
			return;
		}
	}
}

/* Make row (of request r) name one token twice, a token the hot set holds
 * (held) or one it does not: a duplicate hit or a duplicate miss.  A row
 * entry of that kind is doubled where there is one, else a token from
 * outside the row replaces the first valid entry and another; the number
 * of valid entries stays.  0 where no such token or no second valid entry
 * exists. */
static int dup_token(const struct state *st, uint32_t r, int32_t *row, int held)
{
	const uint32_t K = st->g->topk;
	const struct ess_hotset *h = &st->ref[r];
	const uint32_t ntok = st->ntok_h[r * LAYERS + LAYER];
	uint32_t i, p = K, q = K;
	int32_t tok = -1;
	for (i = 0; i < K && tok < 0; i++)
		if (row[i] >= 0 && (ess_hotset_lookup(h, row[i]) >= 0) == held) {
			tok = row[i];
			p = i;
		}
	/* none in the row: then no row entry is of that kind, so any token
	 * of that kind is outside the row */
	for (i = 0; held && tok < 0 && i < h->nslots; i++)
		tok = h->token[i];
	for (int32_t u = 0; !held && tok < 0 && (uint32_t)u < ntok; u++)
		if (ess_hotset_lookup(h, u) < 0)
			tok = u;
	if (tok < 0)
		return 0;
	for (i = 0; i < K && (p == K || q == K); i++)
		if (row[i] >= 0 && row[i] != tok && i != p) {
			if (p == K)
				p = i;
			else
				q = i;
		}
	if (p == K || q == K)
		return 0;
	row[p] = row[q] = tok;
	return 1;
}

static struct ess_manage_args make_args(const struct state *st)
{
	const struct geom *g = st->g;
	const uint64_t lbase = (uint64_t)LAYER * g->max_req * g->slots;
	struct ess_manage_args a;
	memset(&a, 0, sizeof(a));
	a.hs_token = st->tok_d + lbase;
	a.hs_key = st->key_d + lbase;
	a.hs_freq = st->freq_d + lbase;
	a.hs_t = st->t_d + (uint64_t)LAYER * g->max_req;
	a.slots = g->slots;
	a.topk = g->topk;
	a.policy = g->policy;
	a.flags = g->flags & ~GEOM_TEST;
	if (st->map_d) {
		a.hs_map = st->map_d + (uint64_t)LAYER * g->max_req * st->map_cap;
		a.map_cap = st->map_cap;
	}
	if (st->order_d) {
		a.hs_order = st->order_d + lbase;
		a.hs_order_tail = st->tail_d + 2ull * LAYER * g->max_req;
	}
	a.nreq = g->nreq;
	a.reqs = st->reqs_d;
	a.topk_rows = st->topk_d;
	a.slots_out = st->out_d;
	a.extent_off = st->ext_d;
	a.ntokens = st->ntok_d;
	a.layers = LAYERS;
	a.layer = LAYER;
	a.max_extents = st->max_ext;
	a.extent_shift = EXT_SHIFT;
	a.entry_bytes = ENTRY;
	a.miss_off = st->moff_d;
	a.miss_slot = st->mslot_d;
	a.miss_token = st->mtok_d;
	a.nmiss = st->nmiss_d;
	a.counters = st->cnt_d;
	a.err = st->err_d;
	a.host_base = st->pool_d;
	a.hot_base = st->hot_d;
	a.do_fetch = 1;
	return a;
}

/*
 * One step over the batch reqs[]: rows given (host), expected error code for
 * batch row bad_b (-1 none).  Runs the GPU (directly or by graph replay),
 * the reference, and compares everything.  Returns the number of
 * mismatches (details printed as TAP comments).
 */
static uint32_t step(struct state *st, const uint32_t *reqs, const int32_t *rows,
		     int bad_b, int bad_code, cudaGraphExec_t gexec, cudaStream_t s)
{
	const struct geom *g = st->g;
	const uint32_t K = g->topk, S = g->slots, B = g->nreq;
	const uint32_t nmap = g->max_req * LAYERS;
	uint32_t bad = 0;
	CK(cudaMemcpyAsync(st->reqs_d, reqs, 4 * B, cudaMemcpyHostToDevice, s));
	CK(cudaMemcpyAsync(st->topk_d, rows, 4ull * B * K, cudaMemcpyHostToDevice, s));
	CK(cudaMemcpyAsync(st->ntok_d, st->ntok_h, 4 * nmap, cudaMemcpyHostToDevice, s));
	CK(cudaMemcpyAsync(st->ext_d, st->ext_h, 8ull * nmap * st->max_ext,
			   cudaMemcpyHostToDevice, s));
	CK(cudaMemsetAsync(st->out_d, 0x7f, 4ull * B * K, s));	/* poison */
	if (gexec) {
		CK(cudaGraphLaunch(gexec, s));
	} else {
		struct ess_manage_args a = make_args(st);
		int rc = ess_cuda_manage(&a, g->max_req, s);
		if (rc) {
			printf("# ess_cuda_manage: %d %s\n", rc, ess_cuda_last_error());
			return 1;
		}
	}
	CK(cudaStreamSynchronize(s));

	int32_t *out = (int32_t *)malloc(4ull * B * K);
	int32_t *mslot = (int32_t *)malloc(4ull * B * K);
	int32_t *mtok = (int32_t *)malloc(4ull * B * K);
	uint64_t *moff = (uint64_t *)malloc(8ull * B * K);
	uint32_t *nmiss = (uint32_t *)malloc(4 * B);
	int32_t err[2];
	CK(cudaMemcpy(out, st->out_d, 4ull * B * K, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(mslot, st->mslot_d, 4ull * B * K, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(mtok, st->mtok_d, 4ull * B * K, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(moff, st->moff_d, 8ull * B * K, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(nmiss, st->nmiss_d, 4 * B, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(err, st->err_d, 8, cudaMemcpyDeviceToHost));

	int32_t *slot_ref = (int32_t *)malloc(4ull * K);
	int32_t *mtok_ref = (int32_t *)malloc(4ull * (S > K ? S : K));
	uint32_t *mslot_ref = (uint32_t *)malloc(4ull * (S > K ? S : K));
	unsigned char *rowbuf = (unsigned char *)malloc(ENTRY);
	for (uint32_t b = 0; b < B; b++) {
		const uint32_t r = reqs[b];
		const int32_t *row = rows + (uint64_t)b * K;
		if ((int)b == bad_b) {
			/* the reference checks only what a row alone shows
			 * (negative ids, repeats, length): it must refuse those
			 * too; range, extents and request ids are the caller's */
			int ref_sees = bad_code == ESS_CUDA_EDUP || bad_code == ESS_CUDA_ETOOMANY;
			for (uint32_t i = 0; i < K; i++)
				ref_sees |= row[i] < -1;
			if (ref_sees) {
				struct ess_hotset_result res;
				int rc = ess_hotset_resolve(&st->ref[r], row, K, slot_ref, mtok_ref,
							    mslot_ref, &res);
				if (rc != -EINVAL) {
					printf("# reference accepted the bad row (%d)\n", rc);
					bad++;
				}
			}
			for (uint32_t i = 0; i < K; i++)
				bad += out[(uint64_t)b * K + i] != -1;
			bad += nmiss[b] != 0;
			continue;
		}
		struct ess_hotset_result res;
		int rc = ess_hotset_resolve(&st->ref[r], row, K, slot_ref, mtok_ref, mslot_ref, &res);
		if (rc != 0) {
			printf("# reference refused row %u: %d\n", b, rc);
			bad++;
			continue;
		}
		st->resolves++;
		st->hits += res.hits;
		st->misses += res.nmiss;
		st->evictions += res.evictions;
		for (uint32_t i = 0; i < K; i++)
			st->lookups += row[i] >= 0;
		uint32_t rb = 0;
		for (uint32_t i = 0; i < K; i++) {
			int32_t want = slot_ref[i] < 0 ? -1 : (int32_t)(r * S) + slot_ref[i];
			if (row[i] == -1)
				want = -1;
			rb += out[(uint64_t)b * K + i] != want;
		}
		if (nmiss[b] != res.nmiss) {
			rb++;
		} else {
			for (uint32_t j = 0; j < res.nmiss; j++) {
				const uint64_t o = (uint64_t)b * K + j;
				rb += mtok[o] != mtok_ref[j];
				rb += mslot[o] != (int32_t)(r * S + mslot_ref[j]);
				rb += moff[o] != host_off(st, r, mtok_ref[j]);
			}
		}
		/* the hot buffer holds the host row of every valid entry */
		for (uint32_t i = 0; i < K; i++) {
			if (row[i] < 0)
				continue;
			int32_t gs = out[(uint64_t)b * K + i];
			if (gs < 0 || (uint32_t)gs >= g->max_req * S) {
				rb++;
				continue;
			}
			CK(cudaMemcpy(rowbuf, st->hot_d + (uint64_t)gs * ENTRY, ENTRY,
				      cudaMemcpyDeviceToHost));
			rb += memcmp(rowbuf, st->pool_h + host_off(st, r, row[i]), ENTRY) != 0;
		}
		if (rb)
			printf("# batch row %u (request %u): %u mismatches, %u misses gpu %u ref\n", b, r,
			       rb, nmiss[b], res.nmiss);
		bad += rb;
	}
	if (bad_b < 0 && (err[0] != 0)) {
		printf("# error word set on a good step: %d (%s) request %d\n", err[0],
		       ess_cuda_err_name(err[0]), err[1]);
		bad++;
	}
	if (bad_b >= 0 && (err[0] != bad_code || err[1] != (int32_t)reqs[bad_b])) {
		printf("# error word %d request %d, want %d request %u\n", err[0], err[1], bad_code,
		       reqs[bad_b]);
		bad++;
	}
	CK(cudaMemset(st->err_d, 0, 8));
	free(out);
	free(mslot);
	free(mtok);
	free(moff);
	free(nmiss);
	free(slot_ref);
	free(mtok_ref);
	free(mslot_ref);
	free(rowbuf);
	return bad;
}

/* Whole hot-set state of the layer equal to the reference? */
static uint32_t compare_state(const struct state *st)
{
	const struct geom *g = st->g;
	const uint64_t n = (uint64_t)g->max_req * g->slots;
	const uint64_t lbase = (uint64_t)LAYER * n;
	int32_t *tok = (int32_t *)malloc(4 * n);
	uint64_t *key = (uint64_t *)malloc(8 * n);
	uint32_t *freq = (uint32_t *)malloc(4 * n), t[256];
	CK(cudaMemcpy(tok, st->tok_d + lbase, 4 * n, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(key, st->key_d + lbase, 8 * n, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(freq, st->freq_d + lbase, 4 * n, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(t, st->t_d + (uint64_t)LAYER * g->max_req, 4 * g->max_req,
		      cudaMemcpyDeviceToHost));
	uint32_t bad = 0;
	for (uint32_t r = 0; r < g->max_req; r++) {
		const struct ess_hotset *h = &st->ref[r];
		bad += t[r] != h->t;
		for (uint32_t s = 0; s < g->slots; s++) {
			uint64_t i = (uint64_t)r * g->slots + s;
			bad += tok[i] != h->token[s] || key[i] != h->key[s] || freq[i] != h->freq[s];
		}
	}
	free(tok);
	free(key);
	free(freq);
	return bad;
}

/*
 * The map of LAYER against the hot-set tokens on the device: every held
 * token maps to its slot, and a request has as many map entries as held
 * tokens (no stale entry survives an eviction or a refused row); the other
 * layer's map stays empty.  Together with compare_state this makes the map
 * the reference's.  Returns the mismatches, the first printed if verbose.
 */
static uint32_t check_map(const struct state *st, int verbose)
{
	const struct geom *g = st->g;
	if (!st->map_d)
		return 0;
	const uint32_t S = g->slots, cap = st->map_cap;
	const uint64_t n = (uint64_t)g->max_req * S, nm = (uint64_t)g->max_req * cap;
	int32_t *tok = (int32_t *)malloc(4 * n);
	uint16_t *map = (uint16_t *)malloc(2 * LAYERS * nm);
	CK(cudaMemcpy(tok, st->tok_d + (uint64_t)LAYER * n, 4 * n, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(map, st->map_d, 2 * LAYERS * nm, cudaMemcpyDeviceToHost));
	uint32_t bad = 0;
	char first[160] = "";
	for (uint32_t r = 0; r < g->max_req; r++) {
		const uint16_t *m = map + (uint64_t)LAYER * nm + (uint64_t)r * cap;
		uint32_t held = 0, mapped = 0;
		for (uint32_t s = 0; s < S; s++) {
			const int32_t t = tok[(uint64_t)r * S + s];
			if (t < 0)
				continue;
			held++;
			if ((uint32_t)t >= cap || m[t] != s) {
				if (!bad++)
					snprintf(first, sizeof(first),
						 "request %u slot %u holds token %d, its map entry is %d", r, s,
						 t, (uint32_t)t < cap ? (int)m[t] : -1);
			}
		}
		for (uint32_t u = 0; u < cap; u++)
			mapped += m[u] != ESS_MAP_NONE;
		if (mapped != held && !bad++)
			snprintf(first, sizeof(first), "request %u: %u map entries for %u tokens held", r,
				 mapped, held);
	}
	for (uint64_t i = 0; i < LAYERS * nm; i++) {
		if (i / nm == LAYER || map[i] == ESS_MAP_NONE)
			continue;
		if (!bad++)
			snprintf(first, sizeof(first), "layer %llu entry %llu written (%u)",
				 (unsigned long long)(i / nm), (unsigned long long)(i % nm), map[i]);
	}
	if (bad && verbose)
		printf("# %s: token -> slot map: %u mismatches, first: %s\n", g->name, bad, first);
	free(tok);
	free(map);
	return bad;
}

/* check_map must see a map that lost a held token's entry, and one that
 * kept a token no slot holds (what a kernel that forgot to write the map,
 * or to clear it on eviction, would leave).  The map is put back. */
static int check_map_bites(const struct state *st)
{
	const struct geom *g = st->g;
	const uint64_t base = (uint64_t)LAYER * g->max_req * st->map_cap;
	int32_t *tok = (int32_t *)malloc(4ull * g->max_req * g->slots);
	CK(cudaMemcpy(tok, st->tok_d + (uint64_t)LAYER * g->max_req * g->slots,
		      4ull * g->max_req * g->slots, cudaMemcpyDeviceToHost));
	uint32_t r, s = 0;
	for (r = 0; r < g->max_req; r++) {
		for (s = 0; s < g->slots && tok[(uint64_t)r * g->slots + s] < 0; s++)
			;
		if (s < g->slots)
			break;
	}
	if (r == g->max_req) {
		printf("# %s: no token held anywhere\n", g->name);
		free(tok);
		return 0;
	}
	const uint16_t none = ESS_MAP_NONE, slot = (uint16_t)s;
	uint16_t was;
	/* lost: the held token's entry cleared */
	uint16_t *e = st->map_d + base + (uint64_t)r * st->map_cap + tok[(uint64_t)r * g->slots + s];
	CK(cudaMemcpy(&was, e, 2, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(e, &none, 2, cudaMemcpyHostToDevice));
	const int lost = check_map(st, 0) != 0;
	CK(cudaMemcpy(e, &was, 2, cudaMemcpyHostToDevice));
	/* stale: a token r does not hold (an empty entry) names a slot */
	int stale = 0;
	uint16_t *m = (uint16_t *)malloc(2ull * st->map_cap);
	CK(cudaMemcpy(m, st->map_d + base + (uint64_t)r * st->map_cap, 2ull * st->map_cap,
		      cudaMemcpyDeviceToHost));
	for (uint32_t u = 0; u < st->map_cap; u++)
		if (m[u] == ESS_MAP_NONE) {
			e = st->map_d + base + (uint64_t)r * st->map_cap + u;
			CK(cudaMemcpy(e, &slot, 2, cudaMemcpyHostToDevice));
			stale = check_map(st, 0) != 0;
			CK(cudaMemcpy(e, &none, 2, cudaMemcpyHostToDevice));
			break;
		}
	free(m);
	free(tok);
	if (!lost || !stale)
		printf("# %s: map check missed a %s entry\n", g->name, !lost ? "lost" : "stale");
	return lost && stale && check_map(st, 1) == 0;
}

/* Tails of LAYER's requests, [max_req][2] {t, n}, read back. */
static uint32_t *read_tails(const struct state *st)
{
	const uint32_t R = st->g->max_req;
	uint32_t *tail = (uint32_t *)malloc(8ull * R);
	CK(cudaMemcpy(tail, st->tail_d + 2ull * LAYER * R, 8ull * R, cudaMemcpyDeviceToHost));
	return tail;
}

/*
 * The kept order of LAYER against the hot-set keys on the device: for
 * every request whose tail {t, n} is not stale, the order is a permutation
 * of the slots in ascending (key, slot) order, its last n entries hold key
 * t and every earlier one a lower key, and n is the number of slots with
 * key t.  (Ascending (key, slot) is a total order: with compare_state this
 * makes the order the only right one.)  The other layer and the guard
 * layer after LAYER stay as setup left them.  Returns the violations, the
 * first printed if verbose.
 */
static uint32_t check_order(const struct state *st, int verbose)
{
	const struct geom *g = st->g;
	if (!st->order_d)
		return 0;
	const uint32_t S = g->slots, R = g->max_req;
	const uint64_t n = (uint64_t)R * S;
	uint64_t *key = (uint64_t *)malloc(8 * n);
	uint16_t *ord = (uint16_t *)malloc(2 * (LAYERS + 1) * n);
	uint32_t *tail = (uint32_t *)malloc(8ull * (LAYERS + 1) * R);
	unsigned char *seen = (unsigned char *)malloc(S);
	CK(cudaMemcpy(key, st->key_d + (uint64_t)LAYER * n, 8 * n, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(ord, st->order_d, 2 * (LAYERS + 1) * n, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(tail, st->tail_d, 8ull * (LAYERS + 1) * R, cudaMemcpyDeviceToHost));
	uint32_t bad = 0;
	char first[200] = "";
#define ORDER_BAD(...)                                              \
	do {                                                        \
		if (!bad++)                                         \
			snprintf(first, sizeof(first), __VA_ARGS__); \
	} while (0)
	for (uint32_t r = 0; r < R; r++) {
		const uint32_t *tr = tail + 2ull * (LAYER * R + r), tt = tr[0], nt = tr[1];
		if (nt == ESS_ORDER_STALE)
			continue;
		const uint16_t *o = ord + (uint64_t)LAYER * n + (uint64_t)r * S;
		const uint64_t *k = key + (uint64_t)r * S;
		uint32_t i, cnt = 0;
		memset(seen, 0, S);
		for (i = 0; i < S && o[i] < S && !seen[o[i]]; i++)
			seen[o[i]] = 1;
		if (i < S) {
			ORDER_BAD("request %u: order entry %u is %u: no slot, or a repeat", r, i,
				  o[i]);
			continue;	/* the rest would index outside the slots */
		}
		for (i = 1; i < S; i++) {
			const uint64_t ka = k[o[i - 1]], kb = k[o[i]];
			if (ka < kb || (ka == kb && o[i - 1] < o[i]))
				continue;
			ORDER_BAD("request %u: order entries %u, %u: "
				  "(key %llu, slot %u) before (key %llu, slot %u)",
				  r, i - 1, i, (unsigned long long)ka, o[i - 1],
				  (unsigned long long)kb, o[i]);
			break;
		}
		for (uint32_t s = 0; s < S; s++)
			cnt += k[s] == tt;
		if (nt != cnt)
			ORDER_BAD("request %u: tail {%u, %u}, but %u slots have key %u", r, tt, nt,
				  cnt, tt);
		for (i = 0; i < S; i++) {
			const uint64_t ki = k[o[i]];
			if (i >= S - (nt < S ? nt : S) ? ki == tt : ki < tt)
				continue;
			ORDER_BAD("request %u: tail {%u, %u}, order entry %u (slot %u) has key %llu",
				  r, tt, nt, i, o[i], (unsigned long long)ki);
			break;
		}
	}
	for (uint32_t l = 0; l <= LAYERS; l++) {
		if (l == LAYER)
			continue;
		for (uint64_t i = 0; i < n; i++)
			if (ord[l * n + i] != 0xffffu) {
				ORDER_BAD("layer %u order entry %llu written (%u)", l,
					  (unsigned long long)i, ord[l * n + i]);
				break;
			}
		for (uint64_t i = 0; i < 2ull * R; i++)
			if (tail[2ull * l * R + i] != ESS_ORDER_STALE) {
				ORDER_BAD("layer %u tail word %llu written (%u)", l,
					  (unsigned long long)i, tail[2ull * l * R + i]);
				break;
			}
	}
#undef ORDER_BAD
	if (bad && verbose)
		printf("# %s: kept order: %u mismatches, first: %s\n", g->name, bad, first);
	free(key);
	free(ord);
	free(tail);
	free(seen);
	return bad;
}

/* check_order must see an order with two entries of different keys
 * swapped, a slot named twice, and a tail whose n is one off (what a kernel
 * that moved the wrong entry, or miscounted the slots it stamped, would
 * leave).  The order is put back. */
static int check_order_bites(const struct state *st)
{
	const struct geom *g = st->g;
	const uint32_t S = g->slots, R = g->max_req;
	uint32_t *tail = read_tails(st);
	uint64_t *key = (uint64_t *)malloc(8ull * S);
	uint16_t *o = (uint16_t *)malloc(2ull * S), *w = (uint16_t *)malloc(2ull * S);
	uint32_t r;
	for (r = 0; r < R; r++) {
		if (tail[2 * r + 1] == ESS_ORDER_STALE)
			continue;
		CK(cudaMemcpy(key, st->key_d + ((uint64_t)LAYER * R + r) * S, 8ull * S,
			      cudaMemcpyDeviceToHost));
		CK(cudaMemcpy(o, st->order_d + ((uint64_t)LAYER * R + r) * S, 2ull * S,
			      cudaMemcpyDeviceToHost));
		if (key[o[0]] != key[o[S - 1]])
			break;
	}
	if (r == R) {
		printf("# %s: no request keeps an order with two keys\n", g->name);
		free(tail);
		free(key);
		free(o);
		free(w);
		return 0;
	}
	uint16_t *od = st->order_d + ((uint64_t)LAYER * R + r) * S;
	uint32_t *td = st->tail_d + 2ull * (LAYER * R + r);
	/* swapped: the oldest and the newest entry */
	memcpy(w, o, 2ull * S);
	w[0] = o[S - 1];
	w[S - 1] = o[0];
	CK(cudaMemcpy(od, w, 2ull * S, cudaMemcpyHostToDevice));
	const int swapped = check_order(st, 0) != 0;
	/* repeated: the second entry names the first's slot */
	memcpy(w, o, 2ull * S);
	w[1] = w[0];
	CK(cudaMemcpy(od, w, 2ull * S, cudaMemcpyHostToDevice));
	const int repeated = check_order(st, 0) != 0;
	CK(cudaMemcpy(od, o, 2ull * S, cudaMemcpyHostToDevice));
	/* miscounted: n one off */
	const uint32_t nt = tail[2 * r + 1], off = nt ? nt - 1 : nt + 1;
	CK(cudaMemcpy(td + 1, &off, 4, cudaMemcpyHostToDevice));
	const int miscounted = check_order(st, 0) != 0;
	CK(cudaMemcpy(td + 1, &nt, 4, cudaMemcpyHostToDevice));
	if (!swapped || !repeated || !miscounted)
		printf("# %s: order check missed a %s (request %u)\n", g->name,
		       !swapped ? "swap" : !repeated ? "repeated slot" : "miscounted tail", r);
	free(tail);
	free(key);
	free(o);
	free(w);
	return swapped && repeated && miscounted && check_order(st, 1) == 0;
}

/* Requests of LAYER whose order is known (tail n not stale). */
static uint32_t count_known(const struct state *st)
{
	if (!st->order_d)
		return 0;
	uint32_t *tail = read_tails(st), n = 0;
	for (uint32_t r = 0; r < st->g->max_req; r++)
		n += tail[2 * r + 1] != ESS_ORDER_STALE;
	free(tail);
	return n;
}

/* After an accepted row of a request the order kernel has its order:
 * tail {t, n} with t the request's t.  The batch rows of reqs[] but skip_b
 * (a refused row) whose request's order is stale or names another t are
 * counted, the first printed if verbose. */
static uint32_t check_known(const struct state *st, const uint32_t *reqs, int skip_b, int verbose)
{
	const struct geom *g = st->g;
	uint32_t *tail = read_tails(st), *t = (uint32_t *)malloc(4ull * g->max_req), bad = 0;
	CK(cudaMemcpy(t, st->t_d + (uint64_t)LAYER * g->max_req, 4ull * g->max_req,
		      cudaMemcpyDeviceToHost));
	for (uint32_t b = 0; b < g->nreq; b++) {
		const uint32_t r = reqs[b];
		if ((int)b == skip_b || r >= g->max_req)
			continue;
		if (tail[2 * r + 1] != ESS_ORDER_STALE && tail[2 * r] == t[r])
			continue;
		if (!bad++ && verbose)
			printf("# %s: request %u (t %u) resolved, its tail is {%u, %u}\n",
			       g->name, r, t[r], tail[2 * r], tail[2 * r + 1]);
	}
	free(tail);
	free(t);
	return bad;
}

/* Whether ess_cuda_manage should run the order kernel for a (the rule
 * ess_cuda_manage_kernel documents), worked out here on its own. */
static int order_rule(const struct ess_manage_args *a)
{
	const uint32_t other = ESS_MANAGE_ONE_BLOCK | ESS_MANAGE_CLUSTER2 | ESS_MANAGE_CLUSTER4 |
			       ESS_MANAGE_RADIX_ONLY | ESS_MANAGE_HIST_MATCH | ESS_MANAGE_FILL_OWN;
	return a->hs_order && a->hs_order_tail && a->hs_map && a->policy == ESS_POLICY_LRU &&
	       a->topk <= 2048 && a->slots <= ESS_ORDER_MAX_SLOTS && !(a->flags & other);
}

/* Before a launch that must not keep the order: every tail of LAYER
 * {0, 0}, an order that claims to be known, so that only the launcher
 * marking them stale makes them stale. */
static void claim_known(const struct state *st)
{
	CK(cudaMemset(st->tail_d + 2ull * LAYER * st->g->max_req, 0, 8ull * st->g->max_req));
	CK(cudaDeviceSynchronize());
}

/* Garble the order of two requests and mark it stale by hand (what a
 * request reset leaves): one permuted, or slot numbers at random (repeats
 * included).  pending[r] is set for each. */
static void garble(const struct state *st, unsigned char *pending)
{
	const struct geom *g = st->g;
	const uint32_t S = g->slots, R = g->max_req;
	uint16_t *o = (uint16_t *)malloc(2ull * S);
	const uint32_t r0 = (uint32_t)(rng() % R);
	const uint32_t r1 = R > 1 ? (r0 + 1 + (uint32_t)(rng() % (R - 1))) % R : r0;
	for (int j = 0; j < 2; j++) {
		const uint32_t r = j ? r1 : r0;
		uint16_t *od = st->order_d + ((uint64_t)LAYER * R + r) * S;
		CK(cudaMemcpy(o, od, 2ull * S, cudaMemcpyDeviceToHost));
		if (rng() & 1) {
			for (uint32_t i = S - 1; i > 0; i--) {
				uint32_t k = (uint32_t)(rng() % (i + 1));
				uint16_t t = o[i];
				o[i] = o[k];
				o[k] = t;
			}
		} else {
			for (uint32_t i = 0; i < S; i++)
				o[i] = (uint16_t)(rng() % S);
		}
		CK(cudaMemcpy(od, o, 2ull * S, cudaMemcpyHostToDevice));
		CK(cudaMemset(st->tail_d + 2ull * (LAYER * R + r), 0xff, 8));
		pending[r] = 1;
	}
	CK(cudaDeviceSynchronize());
	free(o);
}

/*
 * One decode append over the batch reqs[]: a one-entry row per request
 * (topk 1, ESS_MANAGE_NO_TICK, as the CUDA backend's append), half of them
 * a token the request holds (a hit) where it holds any, the others one it
 * does not (a fill: mostly the token just appended, ntokens one up),
 * against ess_hotset_insert on the reference.  Slot ids, the miss list,
 * the fetched rows and the error word are compared (the caller compares
 * state, map and order).  Returns the mismatches.
 */
static uint32_t append_step(struct state *st, const uint32_t *reqs, cudaStream_t s)
{
	const struct geom *g = st->g;
	const uint32_t S = g->slots, B = g->nreq, nmap = g->max_req * LAYERS;
	int32_t *tok = (int32_t *)malloc(4ull * B);
	for (uint32_t b = 0; b < B; b++) {
		const uint32_t r = reqs[b];
		const struct ess_hotset *h = &st->ref[r];
		uint32_t *nt = &st->ntok_h[r * LAYERS + LAYER];
		int32_t t = -1;
		if (rng() & 1) {
			const uint32_t s0 = (uint32_t)(rng() % S);
			for (uint32_t i = 0; i < S && t < 0; i++)
				t = h->token[(s0 + i) % S];
		}
		if (t < 0) {
			if (*nt < g->max_tokens)
				(*nt)++;
			const uint32_t u0 = *nt - 1 - (rng() & 1 ? 0 : (uint32_t)(rng() % *nt));
			for (uint32_t u = 0; u < *nt && t < 0; u++)
				if (ess_hotset_lookup(h, (int32_t)((u0 + u) % *nt)) < 0)
					t = (int32_t)((u0 + u) % *nt);
		}
		tok[b] = t;	/* every token held (more tokens than slots): never */
	}
	CK(cudaMemcpyAsync(st->reqs_d, reqs, 4 * B, cudaMemcpyHostToDevice, s));
	CK(cudaMemcpyAsync(st->topk_d, tok, 4 * B, cudaMemcpyHostToDevice, s));
	CK(cudaMemcpyAsync(st->ntok_d, st->ntok_h, 4 * nmap, cudaMemcpyHostToDevice, s));
	CK(cudaMemcpyAsync(st->ext_d, st->ext_h, 8ull * nmap * st->max_ext,
			   cudaMemcpyHostToDevice, s));
	CK(cudaMemsetAsync(st->out_d, 0x7f, 4ull * B, s));	/* poison */
	struct ess_manage_args a = make_args(st);
	a.topk = 1;
	a.flags |= ESS_MANAGE_NO_TICK;
	int rc = ess_cuda_manage(&a, g->max_req, s);
	if (rc) {
		printf("# ess_cuda_manage (append): %d %s\n", rc, ess_cuda_last_error());
		free(tok);
		return 1;
	}
	CK(cudaStreamSynchronize(s));
	int32_t *out = (int32_t *)malloc(4ull * B), *mslot = (int32_t *)malloc(4ull * B);
	int32_t *mtok = (int32_t *)malloc(4ull * B), err[2];
	uint64_t *moff = (uint64_t *)malloc(8ull * B);
	uint32_t *nmiss = (uint32_t *)malloc(4ull * B), bad = 0;
	unsigned char *rowbuf = (unsigned char *)malloc(ENTRY);
	CK(cudaMemcpy(out, st->out_d, 4ull * B, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(mslot, st->mslot_d, 4ull * B, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(mtok, st->mtok_d, 4ull * B, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(moff, st->moff_d, 8ull * B, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(nmiss, st->nmiss_d, 4ull * B, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(err, st->err_d, 8, cudaMemcpyDeviceToHost));
	for (uint32_t b = 0; b < B; b++) {
		const uint32_t r = reqs[b];
		uint32_t slot = 0, rb = 0;
		struct ess_hotset_result res;
		if (tok[b] < 0 || ess_hotset_insert(&st->ref[r], tok[b], &slot, &res) != 0) {
			printf("# reference refused append of token %d to request %u\n", tok[b], r);
			bad++;
			continue;
		}
		st->resolves++;
		st->lookups++;
		st->hits += res.hits;
		st->misses += res.nmiss;
		st->evictions += res.evictions;
		st->app_hits += res.hits;
		st->app_fills += res.nmiss;
		const int32_t gs = (int32_t)(r * S + slot);
		rb += out[b] != gs;
		rb += nmiss[b] != res.nmiss;
		if (res.nmiss && nmiss[b] == 1)
			rb += mtok[b] != tok[b] || mslot[b] != gs ||
			      moff[b] != host_off(st, r, tok[b]);
		if (out[b] == gs) {
			CK(cudaMemcpy(rowbuf, st->hot_d + (uint64_t)gs * ENTRY, ENTRY,
				      cudaMemcpyDeviceToHost));
			rb += memcmp(rowbuf, st->pool_h + host_off(st, r, tok[b]), ENTRY) != 0;
		}
		if (rb)
			printf("# append, batch row %u (request %u, token %d, %s): %u mismatches, "
			       "slot %d want %d, %u misses\n",
			       b, r, tok[b], res.hits ? "hit" : "fill", rb, out[b], gs, nmiss[b]);
		bad += rb;
	}
	if (err[0] != 0) {
		printf("# error word set by an append: %d (%s) request %d\n", err[0],
		       ess_cuda_err_name(err[0]), err[1]);
		CK(cudaMemset(st->err_d, 0, 8));
		bad++;
	}
	free(tok);
	free(out);
	free(mslot);
	free(mtok);
	free(moff);
	free(nmiss);
	free(rowbuf);
	return bad;
}

static void pick_batch(const struct state *st, uint32_t *reqs)
{
	const struct geom *g = st->g;
	uint32_t *p = (uint32_t *)malloc(4 * g->max_req);
	for (uint32_t i = 0; i < g->max_req; i++)
		p[i] = i;
	for (uint32_t i = g->max_req - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng() % (i + 1)), t = p[i];
		p[i] = p[j];
		p[j] = t;
	}
	memcpy(reqs, p, 4 * g->nreq);
	free(p);
}

/* What run_geom counts over a geometry's launches for the kept order. */
struct tally {
	int keeps;		/* the order kernel runs: it keeps the orders */
	uint32_t order_bad;	/* check_order */
	uint32_t known_bad;	/* accepted rows whose order is not known (keeps) */
	uint32_t stale_bad;	/* orders known after another kernel ran */
};

/* Before a launch that must not keep the order: claim_known. */
static void before_launch(const struct state *st, const struct tally *tl)
{
	if (st->order_d && !tl->keeps)
		claim_known(st);
}

/* The order checks after a launch over reqs[] (skip_b: a refused row). */
static void after_launch(const struct state *st, struct tally *tl, const uint32_t *reqs, int skip_b)
{
	if (!st->order_d)
		return;
	tl->order_bad += check_order(st, tl->order_bad == 0);
	if (tl->keeps) {
		tl->known_bad += check_known(st, reqs, skip_b, tl->known_bad == 0);
	} else {
		const uint32_t nk = count_known(st);
		if (nk && !tl->stale_bad)
			printf("# %s: %u orders known after another kernel ran\n", st->g->name, nk);
		tl->stale_bad += nk;
	}
}

/* An append over a new batch, then the whole state, the map and the
 * order.  Returns the mismatches but the order's (in tl). */
static uint32_t run_append(struct state *st, struct tally *tl, uint32_t *reqs, cudaStream_t s)
{
	pick_batch(st, reqs);
	before_launch(st, tl);
	uint32_t bad = append_step(st, reqs, s);
	bad += compare_state(st);
	bad += check_map(st, bad == 0);
	after_launch(st, tl, reqs, -1);
	return bad;
}

static void run_geom(const struct geom *g, int quick)
{
	/* ESS_MANAGE_ONLY=text: only geometries whose name holds it (to keep
	 * a compute-sanitizer run short) */
	const char *only = getenv("ESS_MANAGE_ONLY");
	if (only && *only && !strstr(g->name, only))
		return;
	struct state st;
	setup(&st, g);
	const uint32_t steps = quick ? (g->steps < 6 ? g->steps : 6) : g->steps;
	const uint32_t K = g->topk, B = g->nreq;
	uint32_t *reqs = (uint32_t *)malloc(4 * B);
	int32_t *rows = (int32_t *)malloc(4ull * B * K);
	cudaStream_t s;
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	cudaGraphExec_t gexec = NULL;
	uint32_t bad = 0, state_bad = 0, map_bad = 0;
	/* the kept order: the kernel the launcher runs against the one it
	 * should run; the order kernel keeps every order, another leaves every
	 * one stale */
	const struct ess_manage_args a0 = make_args(&st);
	const int kern = ess_cuda_manage_kernel(&a0);
	struct tally tl;
	memset(&tl, 0, sizeof(tl));
	tl.keeps = order_rule(&a0);
	uint32_t app_bad = 0, napp = 0, garbled = 0, rebuilt = 0, pend_bad = 0;
	unsigned char *pending = (unsigned char *)calloc(g->max_req, 1);
	const int other = kern == ESS_MANAGE_KERNEL_BLOCK || kern == ESS_MANAGE_KERNEL_CLUSTER;
	if (st.order_d)
		tap_ok(tl.keeps ? kern == ESS_MANAGE_KERNEL_ORDER : other,
		       "%s: the launcher runs the %s kernel (%d)", g->name,
		       tl.keeps ? "order" : "cluster or one-block", kern);
	if (g->flags & GEOM_APPEND) {	/* before the first resolve: at t = 0 */
		app_bad += run_append(&st, &tl, reqs, s);
		napp++;
	}
	for (uint32_t k = 0; k < steps; k++) {
		pick_batch(&st, reqs);
		for (uint32_t b = 0; b < B; b++) {
			st.ntok_h[reqs[b] * LAYERS + LAYER] += (uint32_t)(rng() % 3);
			if (st.ntok_h[reqs[b] * LAYERS + LAYER] > g->max_tokens)
				st.ntok_h[reqs[b] * LAYERS + LAYER] = g->max_tokens;
			next_row(&st, reqs[b], rows + (uint64_t)b * K);
		}
		if (g->graph_from >= 0 && (int)k == (quick ? 3 : g->graph_from) && !gexec) {
			cudaGraph_t graph;
			struct ess_manage_args a = make_args(&st);
			CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
			int rc = ess_cuda_manage(&a, g->max_req, s);
			CK(cudaStreamEndCapture(s, &graph));
			CK(cudaGraphInstantiate(&gexec, graph, 0));
			CK(cudaGraphDestroy(graph));
			tap_ok(rc == 0, "%s: management + fetch captured in a CUDA graph", g->name);
		}
		if ((g->flags & GEOM_REBUILD) && k % 3 == 2) {
			garble(&st, pending);
			garbled += 2;
		}
		before_launch(&st, &tl);
		bad += step(&st, reqs, rows, -1, 0, gexec, s);
		state_bad += compare_state(&st);
		map_bad += check_map(&st, map_bad == 0);	/* the first bad step told */
		after_launch(&st, &tl, reqs, -1);
		if (g->flags & GEOM_REBUILD) {
			/* garbled orders in the batch are built again (check_known
			 * and check_order above), the others stay stale */
			uint32_t *tail = read_tails(&st);
			for (uint32_t r = 0; r < g->max_req; r++) {
				uint32_t b = 0;
				while (b < B && reqs[b] != r)
					b++;
				if (!pending[r])
					continue;
				if (b < B) {
					rebuilt++;
					pending[r] = 0;
				} else if (tail[2 * r + 1] != ESS_ORDER_STALE) {
					printf("# %s: request %u, outside the batch, got an order\n",
					       g->name, r);
					pend_bad++;
				}
			}
			free(tail);
		}
		if (g->flags & GEOM_APPEND)
			for (uint32_t j = 1 + (uint32_t)(rng() % 2); j > 0; j--) {
				app_bad += run_append(&st, &tl, reqs, s);
				napp++;
			}
	}
	tap_ok(bad == 0, "%s: %u steps, slot ids, miss lists, offsets and fetched rows match the reference%s",
	       g->name, steps, gexec ? " (graph replays included)" : "");
	tap_ok(state_bad == 0, "%s: hot-set state (token, key, freq, t) identical after every step", g->name);
	if (st.map_d) {
		tap_ok(map_bad == 0, "%s: token -> slot map equal to the hot set after every step", g->name);
		tap_ok(check_map_bites(&st), "%s: the map check sees a lost and a stale map entry", g->name);
	}

	/* bad rows: each one in a batch of good rows.  A repeat is found
	 * differently where the token is held (both entries hit one slot; with
	 * a map, both look up the same entry) and where it is not (both
	 * would claim a victim): one case each. */
	enum { BAD_NTOK, BAD_NEG, BAD_DUP_HIT, BAD_DUP_MISS, BAD_EXTENT, BAD_REQ };
	static const struct { int kind, code; const char *what; } cases[] = {
		{BAD_NTOK, ESS_CUDA_ERANGE, "token == tokens held"},
		{BAD_NEG, ESS_CUDA_ERANGE, "token -7"},
		{BAD_DUP_HIT, ESS_CUDA_EDUP, "held token twice: a duplicate hit"},
		{BAD_DUP_MISS, ESS_CUDA_EDUP, "token not held twice: a duplicate miss"},
		{BAD_EXTENT, ESS_CUDA_ENOEXTENT, "missed tokens in unallocated extents"},
		{BAD_REQ, ESS_CUDA_EREQ, "request id >= max_requests"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		pick_batch(&st, reqs);
		for (uint32_t b = 0; b < B; b++)
			next_row(&st, reqs[b], rows + (uint64_t)b * K);
		int bb = (int)(rng() % B);
		/* a duplicate hit needs a request that holds something */
		for (uint32_t j = 0; cases[c].kind == BAD_DUP_HIT && j < B; j++) {
			uint32_t s0 = 0;
			const struct ess_hotset *h = &st.ref[reqs[bb]];
			while (s0 < h->nslots && h->token[s0] < 0)
				s0++;
			if (s0 < h->nslots)
				break;
			bb = (bb + 1) % (int)B;
		}
		int32_t *row = rows + (uint64_t)bb * K;
		uint32_t i0 = 0;
		while (row[i0] < 0)
			i0++;
		const uint32_t r = reqs[bb];
		uint64_t ei = 0;
		uint64_t *saved = (uint64_t *)malloc(8ull * st.max_ext);
		int made = 1;
		switch (cases[c].kind) {
		case BAD_NTOK: row[i0] = (int32_t)st.ntok_h[r * LAYERS + LAYER]; break;
		case BAD_NEG: row[i0] = -7; break;
		case BAD_DUP_HIT: made = dup_token(&st, r, row, 1); break;
		case BAD_DUP_MISS: made = dup_token(&st, r, row, 0); break;
		case BAD_EXTENT:	/* every extent of (r, LAYER) gone: the row's misses have none */
			force_miss(&st, r, row);
			ei = ((uint64_t)r * LAYERS + LAYER) * st.max_ext;
			memcpy(saved, st.ext_h + ei, 8ull * st.max_ext);
			for (uint32_t e = 0; e < st.max_ext; e++)
				st.ext_h[ei + e] = UINT64_MAX;
			break;
		case BAD_REQ: reqs[bb] = g->max_req + 3; break;
		}
		uint32_t nbad = 0, tail_was[2] = {0, 0}, tail_now[2] = {0, 0};
		const int keep_tail = st.order_d && tl.keeps && reqs[bb] < g->max_req;
		uint32_t *td = st.tail_d + (keep_tail ? 2ull * (LAYER * g->max_req + reqs[bb]) : 0);
		if (keep_tail)
			CK(cudaMemcpy(tail_was, td, 8, cudaMemcpyDeviceToHost));
		if (made) {
			before_launch(&st, &tl);
			nbad = step(&st, reqs, rows, bb, cases[c].code, NULL, s);
		} else {
			printf("# %s: no row for the case (%s)\n", g->name, cases[c].what);
			nbad = 1;
		}
		if (cases[c].kind == BAD_EXTENT)
			memcpy(st.ext_h + ei, saved, 8ull * st.max_ext);
		free(saved);
		nbad += compare_state(&st);
		nbad += check_map(&st, 1);
		if (made)
			after_launch(&st, &tl, reqs, bb);
		if (keep_tail) {	/* the refused row's order as it was */
			CK(cudaMemcpy(tail_now, td, 8, cudaMemcpyDeviceToHost));
			if (tail_now[0] != tail_was[0] || tail_now[1] != tail_was[1]) {
				printf("# %s: refused row's tail {%u, %u} became {%u, %u}\n",
				       g->name, tail_was[0], tail_was[1], tail_now[0], tail_now[1]);
				nbad++;
			}
		}
		tap_ok(nbad == 0, "%s: bad row (%s) sets error %s, writes -1, changes nothing; other rows resolved",
		       g->name, cases[c].what, ess_cuda_err_name(cases[c].code));
	}

	if (g->flags & GEOM_APPEND)
		tap_ok(app_bad == 0 && st.app_hits && st.app_fills,
		       "%s: %u appends (one-entry NO_TICK rows, the first at t = 0: %llu hits, "
		       "%llu fills) match ess_hotset_insert: slot ids, miss lists, fetched rows, "
		       "state, map%s",
		       g->name, napp, (unsigned long long)st.app_hits,
		       (unsigned long long)st.app_fills, st.order_d ? ", order" : "");
	if (st.order_d && tl.keeps) {
		const uint32_t nk = count_known(&st);
		tap_ok(tl.order_bad == 0,
		       "%s: order equal to the hot set's (key, slot) order after every step",
		       g->name);
		tap_ok(tl.known_bad == 0,
		       "%s: every accepted row leaves its request's order known, at its t", g->name);
		tap_ok(check_order_bites(&st),
		       "%s: the order check sees a swap, a repeated slot and a miscounted tail",
		       g->name);
		tap_ok(nk > 0, "%s: after the run %u of %u requests keep a known order", g->name,
		       nk, g->max_req);
	} else if (st.order_d) {
		tap_ok(tl.stale_bad == 0 && tl.order_bad == 0,
		       "%s: another kernel ran: every request's order left stale after every step",
		       g->name);
	}
	if (g->flags & GEOM_REBUILD)
		tap_ok(rebuilt > 0 && pend_bad == 0,
		       "%s: %u orders garbled and marked stale by hand, %u built again from the keys "
		       "by the next resolve",
		       g->name, garbled, rebuilt);

	uint64_t cnt[ESS_CUDA_NCOUNTERS];
	CK(cudaMemcpy(cnt, st.cnt_d, sizeof(cnt), cudaMemcpyDeviceToHost));
	tap_ok(cnt[ESS_CUDA_C_RESOLVES] == st.resolves && cnt[ESS_CUDA_C_HITS] == st.hits &&
		       cnt[ESS_CUDA_C_MISSES] == st.misses && cnt[ESS_CUDA_C_EVICTIONS] == st.evictions &&
		       cnt[ESS_CUDA_C_LOOKUPS] == st.lookups &&
		       cnt[ESS_CUDA_C_BYTES_H2D] == st.misses * ENTRY,
	       "%s: device counters equal the reference's (%llu resolves, %llu hits, %llu misses, %llu evictions)",
	       g->name, (unsigned long long)st.resolves, (unsigned long long)st.hits,
	       (unsigned long long)st.misses, (unsigned long long)st.evictions);
	if (gexec)
		cudaGraphExecDestroy(gexec);
	cudaStreamDestroy(s);
	free(reqs);
	free(rows);
	free(pending);
	teardown(&st);
}

/* g with a token -> slot map, named name, plus the flags force (a block
 * count the map variant pins where g leaves the choice) */
static void run_geom_map(const struct geom *g, const char *name, uint32_t force, int quick)
{
	struct geom m = *g;
	m.name = name;
	m.flags |= GEOM_MAP | force;
	run_geom(&m, quick);
}

/* g with a token -> slot map and the kept LRU order, named name, plus the
 * flags force (GEOM_APPEND, GEOM_REBUILD, or a kernel forced) */
static void run_geom_order(const struct geom *g, const char *name, uint32_t force, int quick)
{
	struct geom m = *g;
	m.name = name;
	m.flags |= GEOM_MAP | GEOM_ORDER | force;
	run_geom(&m, quick);
}

/* More valid entries than slots (topk > slots). */
static void test_too_many(void)
{
	static const struct geom g = {"small-k>slots", 64, 96, 3, 2, 1024, 1, 50, 30, -1, ESS_POLICY_LRU, 0};
	struct state st;
	setup(&st, &g);
	uint32_t reqs[2] = {2, 0};
	int32_t rows[2 * 96];
	cudaStream_t s;
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (int b = 0; b < 2; b++)
		next_row(&st, reqs[b], rows + b * 96);	/* 68 valid of 96: > 64 */
	for (int i = 0, nv = 0; i < 96; i++)	/* row 1 cut to 60 valid */
		if (rows[96 + i] >= 0 && ++nv > 60)
			rows[96 + i] = -1;
	uint32_t nbad = step(&st, reqs, rows, 0, ESS_CUDA_ETOOMANY, NULL, s);
	nbad += compare_state(&st);
	tap_ok(nbad == 0, "more valid entries than slots: error %s, rows -1, state unchanged",
	       ess_cuda_err_name(ESS_CUDA_ETOOMANY));
	cudaStreamDestroy(s);
	teardown(&st);
}

static void test_bad_args(void)
{
	struct ess_manage_args a;
	memset(&a, 0, sizeof(a));
	a.nreq = 1;
	tap_ok(ess_cuda_manage(&a, 4, 0) == -EINVAL, "management with NULL arrays is -EINVAL");
	tap_ok(ess_cuda_manage(NULL, 4, 0) == -EINVAL, "management with NULL args is -EINVAL");
	a.slots = 64;
	a.topk = 48;
	a.flags = ESS_MANAGE_CLUSTER2 | ESS_MANAGE_CLUSTER4;
	tap_ok(ess_cuda_manage_cluster(&a) == -EINVAL, "two cluster sizes forced at once is -EINVAL");
	a.flags = ESS_MANAGE_ONE_BLOCK | ESS_MANAGE_CLUSTER2;
	tap_ok(ess_cuda_manage_cluster(&a) == -EINVAL, "one block and a cluster forced at once is -EINVAL");
	tap_ok(ess_cuda_manage_cluster(NULL) == -EINVAL, "launcher choice with NULL args is -EINVAL");
}

/*
 * The map's limits: a slot index must fit below ESS_MAP_NONE, and a map
 * needs room for tokens.  Each refusal is tried on a real state of that
 * shape, so that a launch let through by mistake stays in bounds and shows
 * as a changed state.  (No kernel takes 65535 slots in today's shared
 * memory, so that refusal holds without the map rule too: it pins the rule
 * for a kernel that keeps slots out of shared memory.)
 */
static void test_map_args(void)
{
	static const struct geom g = {"map-args", 64, 48, 2, 1, 1024, 1, 70, 5, -1,
				      ESS_POLICY_LRU, GEOM_MAP};
	static const struct geom wide = {"map-slots-65535", 65535, 48, 1, 1, 1024, 1, 70, 5, -1,
					 ESS_POLICY_LRU, GEOM_MAP};
	cudaStream_t s;
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	struct state st;
	uint32_t req = 1;
	int32_t row[48];

	setup(&st, &g);
	next_row(&st, req, row);
	uint32_t nbad = step(&st, &req, row, -1, 0, NULL, s);
	nbad += compare_state(&st) + check_map(&st, 1);
	tap_ok(nbad == 0, "%s: a step with hs_map and map_cap %u matches the reference", g.name, st.map_cap);
	struct ess_manage_args a = make_args(&st);
	a.map_cap = 0;
	int rc = ess_cuda_manage(&a, g.max_req, s);
	CK(cudaStreamSynchronize(s));
	nbad = compare_state(&st) + check_map(&st, 1);
	tap_ok(rc == -EINVAL && nbad == 0, "hs_map with map_cap 0 is -EINVAL (%d), state unchanged", rc);
	teardown(&st);

	setup(&st, &wide);
	req = 0;
	next_row(&st, req, row);	/* inputs a wrong launch would resolve */
	CK(cudaMemcpy(st.reqs_d, &req, 4, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(st.topk_d, row, sizeof(row), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(st.ntok_d, st.ntok_h, 4 * LAYERS * wide.max_req, cudaMemcpyHostToDevice));
	a = make_args(&st);
	rc = ess_cuda_manage(&a, wide.max_req, s);
	CK(cudaStreamSynchronize(s));
	nbad = compare_state(&st) + check_map(&st, 1);
	tap_ok(rc == -EINVAL && nbad == 0, "hs_map with 65535 slots (== ESS_MAP_NONE) is -EINVAL (%d)", rc);
	teardown(&st);
	cudaStreamDestroy(s);
}

/* Blocks per request the launcher picks: a cluster of 4 while 4 x batch
 * fits the SMs, 2 while 2 x batch does, else one block; forced by flags. */
static void test_pick(void)
{
	int dev = 0, sms = 0;
	CK(cudaGetDevice(&dev));
	CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
	struct ess_manage_args a;
	memset(&a, 0, sizeof(a));
	a.slots = 6144;
	a.topk = 2048;
	const struct { uint32_t nreq, flags; int want; } c[] = {
		{8, 0, 8u * 4 <= (uint32_t)sms ? 4 : 8u * 2 <= (uint32_t)sms ? 2 : 1},
		{(uint32_t)sms / 2, 0, 2},	/* 1 where fewer clusters of 2 fit at once */
		{(uint32_t)sms / 2 + 1, 0, 1},
		{(uint32_t)sms + 18, 0, 1},
		{(uint32_t)sms + 18, ESS_MANAGE_CLUSTER2, 2},
		{(uint32_t)sms + 18, ESS_MANAGE_CLUSTER4, 4},
		{8, ESS_MANAGE_ONE_BLOCK, 1},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		a.nreq = c[i].nreq;
		a.flags = c[i].flags;
		const int got = ess_cuda_manage_cluster(&a);
		tap_ok(got == c[i].want || (c[i].want == 2 && !c[i].flags && got == 1),
		       "batch %u of 6144/2048 on %d SMs, flags %u: %d block(s) per request (want %d)",
		       c[i].nreq, sms, c[i].flags, got, c[i].want);
	}
	/* the cluster kernel takes top-k up to 2048 */
	a.topk = 2049;
	a.nreq = 8;
	a.flags = 0;
	tap_ok(ess_cuda_manage_cluster(&a) == 1, "top-k 2049: one block per request");
	a.flags = ESS_MANAGE_CLUSTER2;
	tap_ok(ess_cuda_manage_cluster(&a) == -EINVAL, "top-k 2049 with a cluster forced is -EINVAL");
}

/*
 * The kept order's arguments.  Which kernel the launcher picks
 * (ess_cuda_manage_kernel; shapes varied on a real state's arguments,
 * nothing launched): the order kernel for LRU with order and map at every
 * batch, top-k up to 2048 and slots up to ESS_ORDER_MAX_SLOTS, else the
 * cluster or the one-block kernel as ess_cuda_manage_cluster says.  And
 * the refusals: an order without its tail, a tail without its order, an
 * order without a map, each tried with a row a wrong launch would resolve,
 * so that one let through shows as a changed state, map or order.
 */
static void test_order_args(void)
{
	static const struct geom g = {"order-args", 64, 48, 2, 1, 1024, 1, 70, 5, -1,
				      ESS_POLICY_LRU, GEOM_ORDER};
	cudaStream_t s;
	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	struct state st;
	uint32_t req = 1;
	int32_t row[48];

	setup(&st, &g);
	next_row(&st, req, row);
	uint32_t nbad = step(&st, &req, row, -1, 0, NULL, s);
	nbad += compare_state(&st) + check_map(&st, 1) + check_order(&st, 1);
	const uint32_t nk = count_known(&st);
	tap_ok(nbad == 0 && nk == 1,
	       "%s: a step with hs_order keeps the order of its request alone (%u known)", g.name,
	       nk);

	int dev = 0, sms = 0;
	CK(cudaGetDevice(&dev));
	CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
	enum { ANY = 0 };	/* the cluster or the one-block kernel */
	const struct { uint32_t slots, topk, nreq, policy, flags; int want; } c[] = {
		{6144, 2048, 8, ESS_POLICY_LRU, 0, ESS_MANAGE_KERNEL_ORDER},
		{6144, 2048, 64, ESS_POLICY_LRU, 0, ESS_MANAGE_KERNEL_ORDER},
		{6144, 2048, 150, ESS_POLICY_LRU, 0, ESS_MANAGE_KERNEL_ORDER},
		{ESS_ORDER_MAX_SLOTS, 2048, 8, ESS_POLICY_LRU, 0, ESS_MANAGE_KERNEL_ORDER},
		/* appends: one-entry rows */
		{6144, 1, 8, ESS_POLICY_LRU, ESS_MANAGE_NO_TICK, ESS_MANAGE_KERNEL_ORDER},
		{6144, 2048, 8, ESS_POLICY_LRU, ESS_MANAGE_ONE_BLOCK, ESS_MANAGE_KERNEL_BLOCK},
		{6144, 2048, 8, ESS_POLICY_LRU, ESS_MANAGE_CLUSTER2, ESS_MANAGE_KERNEL_CLUSTER},
		{6144, 2048, 8, ESS_POLICY_LRU, ESS_MANAGE_CLUSTER4, ESS_MANAGE_KERNEL_CLUSTER},
		{6144, 2048, 150, ESS_POLICY_LRU, ESS_MANAGE_CLUSTER2, ESS_MANAGE_KERNEL_CLUSTER},
		{6144, 2048, 8, ESS_POLICY_LRU, ESS_MANAGE_RADIX_ONLY, ANY},
		{6144, 2048, 8, ESS_POLICY_LRU, ESS_MANAGE_HIST_MATCH, ANY},
		{6144, 2048, 8, ESS_POLICY_LRU, ESS_MANAGE_FILL_OWN, ANY},
		{6144, 2048, 8, ESS_POLICY_LFRU, 0, ANY},
		{6144, 2048, (uint32_t)sms + 18, ESS_POLICY_LFRU, 0, ESS_MANAGE_KERNEL_BLOCK},
		{6144, 2048, 8, ESS_POLICY_RET, 0, ANY},
		{ESS_ORDER_MAX_SLOTS + 1, 2048, 8, ESS_POLICY_LRU, 0, ANY},
		{6144, 2049, 8, ESS_POLICY_LRU, 0, ESS_MANAGE_KERNEL_BLOCK},
	};
	struct ess_manage_args a = make_args(&st);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		a.slots = c[i].slots;
		a.topk = c[i].topk;
		a.nreq = c[i].nreq;
		a.policy = c[i].policy;
		a.flags = c[i].flags;
		const int got = ess_cuda_manage_kernel(&a), cl = ess_cuda_manage_cluster(&a);
		/* another kernel: the one the block count names */
		const int same = got == ESS_MANAGE_KERNEL_ORDER ||
				 (cl > 0 && (got == ESS_MANAGE_KERNEL_BLOCK) == (cl == 1) &&
				  (got == ESS_MANAGE_KERNEL_CLUSTER) == (cl > 1));
		const int ok = c[i].want == ANY ? got == ESS_MANAGE_KERNEL_BLOCK ||
							  got == ESS_MANAGE_KERNEL_CLUSTER
						: got == c[i].want;
		static const char *const pol[] = {"lru", "lfru", "ret"};
		tap_ok(ok && same,
		       "kernel for %u/%u, batch %u on %d SMs, %s, flags %u, order and map: %d "
		       "(want %s%d), %d block(s) per request",
		       c[i].slots, c[i].topk, c[i].nreq, sms, pol[c[i].policy % 3], c[i].flags,
		       got, c[i].want == ANY ? "cluster or one-block, not " : "",
		       c[i].want == ANY ? ESS_MANAGE_KERNEL_ORDER : c[i].want, cl);
	}
	a = make_args(&st);
	a.hs_order = NULL;
	a.hs_order_tail = NULL;
	int got = ess_cuda_manage_kernel(&a);
	tap_ok(got != ESS_MANAGE_KERNEL_ORDER && got > 0,
	       "map without an order: not the order kernel (%d)", got);
	/* the order kernel's bitmap of missed tokens, map_cap / 32 words in
	 * shared memory: 128 K tokens fit, 16 M do not */
	a = make_args(&st);
	a.slots = 6144;
	a.topk = 2048;
	a.map_cap = 1u << 17;
	got = ess_cuda_manage_kernel(&a);
	tap_ok(got == ESS_MANAGE_KERNEL_ORDER, "map_cap 128 K tokens: the order kernel (%d)", got);
	a.map_cap = 1u << 24;
	got = ess_cuda_manage_kernel(&a);
	tap_ok(got != ESS_MANAGE_KERNEL_ORDER && got > 0,
	       "map_cap 16 M tokens (bitmap past shared memory): not the order kernel (%d)", got);

	/* refusals: a new row in place, state, map and order as they are */
	next_row(&st, req, row);
	CK(cudaMemcpy(st.reqs_d, &req, 4, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(st.topk_d, row, sizeof(row), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(st.ntok_d, st.ntok_h, 4 * LAYERS * g.max_req, cudaMemcpyHostToDevice));
	const uint64_t no = (uint64_t)(LAYERS + 1) * g.max_req * g.slots;
	const uint64_t nt = 2ull * (LAYERS + 1) * g.max_req;
	uint16_t *ord0 = (uint16_t *)malloc(2 * no), *ord1 = (uint16_t *)malloc(2 * no);
	uint32_t *tail0 = (uint32_t *)malloc(4 * nt), *tail1 = (uint32_t *)malloc(4 * nt);
	CK(cudaMemcpy(ord0, st.order_d, 2 * no, cudaMemcpyDeviceToHost));
	CK(cudaMemcpy(tail0, st.tail_d, 4 * nt, cudaMemcpyDeviceToHost));
	static const char *const what[] = {"hs_order without hs_order_tail",
					   "hs_order_tail without hs_order",
					   "hs_order without hs_map"};
	for (int i = 0; i < 3; i++) {
		a = make_args(&st);
		if (i == 0)
			a.hs_order_tail = NULL;
		else if (i == 1)
			a.hs_order = NULL;
		else
			a.hs_map = NULL;
		const int rc = ess_cuda_manage(&a, g.max_req, s);
		CK(cudaStreamSynchronize(s));
		CK(cudaMemcpy(ord1, st.order_d, 2 * no, cudaMemcpyDeviceToHost));
		CK(cudaMemcpy(tail1, st.tail_d, 4 * nt, cudaMemcpyDeviceToHost));
		nbad = compare_state(&st) + check_map(&st, 1) + check_order(&st, 1);
		nbad += memcmp(ord0, ord1, 2 * no) != 0 || memcmp(tail0, tail1, 4 * nt) != 0;
		tap_ok(rc == -EINVAL && nbad == 0,
		       "%s is -EINVAL (%d), state, map and order unchanged", what[i], rc);
	}
	free(ord0);
	free(ord1);
	free(tail0);
	free(tail1);
	teardown(&st);
	cudaStreamDestroy(s);
}

int main(void)
{
	tap_need_device();
	rng_seed();
	const int quick = getenv("ESS_GPU_QUICK") && atoi(getenv("ESS_GPU_QUICK"));
	/* name, slots, topk, max_req, nreq, max_tokens, steps, keep%, unused%, graph */
	static const struct geom small = {"small", 64, 48, 6, 5, 2048, 300, 70, 5, 150, ESS_POLICY_LRU, 0};
	static const struct geom dsa = {"dsa-6144/2048", 6144, 2048, 10, 8, 16384, 40, 90, 2, 20, ESS_POLICY_LRU, 0};
	static const struct geom sparse = {"k>slots-sparse", 96, 128, 4, 4, 4096, 120, 60, 40, -1, ESS_POLICY_LRU, 0};
	/* LRU victims by the radix select alone; other policies (radix) */
	static const struct geom radix = {"small-radix-only", 64, 48, 6, 5, 2048, 300, 70, 5, -1,
					  ESS_POLICY_LRU, ESS_MANAGE_RADIX_ONLY};
	static const struct geom lfru = {"small-lfru", 64, 48, 6, 5, 2048, 200, 70, 5, -1, ESS_POLICY_LFRU, 0};
	static const struct geom ret = {"small-ret", 64, 48, 6, 5, 2048, 200, 70, 5, -1, ESS_POLICY_RET, 0};
	/* few misses over 400 steps: keys older than t - 255 (the LRU
	 * histogram's bucket 0 holds several keys: radix fallback) */
	static const struct geom stale = {"stale-keys", 64, 16, 4, 4, 2048, 400, 99, 0, -1, ESS_POLICY_LRU, 0};
	/* the cluster kernel (4 blocks per request at these batches) against
	 * a cluster of 2 and the one-block kernel, forced; rows of requests
	 * beyond the SM count (one block by default; clusters in waves) */
	static const struct geom dsa2 = {"dsa-cluster2", 6144, 2048, 10, 8, 16384, 40, 90, 2, 20,
					 ESS_POLICY_LRU, ESS_MANAGE_CLUSTER2};
	static const struct geom dsa1 = {"dsa-one-block", 6144, 2048, 10, 8, 16384, 40, 90, 2, 20,
					 ESS_POLICY_LRU, ESS_MANAGE_ONE_BLOCK};
	static const struct geom dsa64 = {"dsa-batch-64", 6144, 2048, 70, 64, 6144, 12, 90, 2, 6,
					  ESS_POLICY_LRU, 0};
	static const struct geom lfru2 = {"small-lfru-cluster2", 64, 48, 6, 5, 2048, 200, 70, 5, -1,
					  ESS_POLICY_LFRU, ESS_MANAGE_CLUSTER2};
	static const struct geom ret1 = {"small-ret-one-block", 64, 48, 6, 5, 2048, 200, 70, 5, -1,
					 ESS_POLICY_RET, ESS_MANAGE_ONE_BLOCK};
	static const struct geom radix2 = {"small-radix-only-cluster2", 64, 48, 6, 5, 2048, 300, 70, 5, -1,
					   ESS_POLICY_LRU, ESS_MANAGE_RADIX_ONLY | ESS_MANAGE_CLUSTER2};
	static const struct geom stale2 = {"stale-keys-cluster2", 64, 16, 4, 4, 2048, 400, 99, 0, -1,
					   ESS_POLICY_LRU, ESS_MANAGE_CLUSTER2};
	static const struct geom odd4 = {"odd-slots-cluster4", 70, 40, 6, 5, 2048, 200, 70, 5, -1,
					 ESS_POLICY_LRU, ESS_MANAGE_CLUSTER4};
	static const struct geom match = {"dsa-hist-match", 6144, 2048, 10, 8, 16384, 40, 90, 2, 20,
					  ESS_POLICY_LRU, ESS_MANAGE_HIST_MATCH};
	static const struct geom big = {"batch-150", 64, 48, 160, 150, 512, 40, 70, 5, 20, ESS_POLICY_LRU, 0};
	static const struct geom big2 = {"batch-150-cluster2", 64, 48, 160, 150, 512, 40, 70, 5, 20,
					 ESS_POLICY_LRU, ESS_MANAGE_CLUSTER2};
	static const struct geom big4 = {"batch-150-cluster4", 64, 48, 160, 150, 512, 40, 70, 5, 20,
					 ESS_POLICY_LRU, ESS_MANAGE_CLUSTER4};
	/* slots not a multiple of 4 or of 32, nothing forced */
	static const struct geom odd = {"odd-slots", 70, 40, 6, 5, 2048, 200, 70, 5, -1,
					ESS_POLICY_LRU, 0};
	test_bad_args();
	test_map_args();
	test_order_args();
	test_pick();
	run_geom(&small, quick);
	run_geom(&dsa, quick);
	run_geom(&sparse, quick);
	run_geom(&radix, quick);
	run_geom(&lfru, quick);
	run_geom(&ret, quick);
	run_geom(&stale, quick);
	run_geom(&dsa2, quick);
	run_geom(&dsa1, quick);
	if (!quick)	/* 64 x 2 blocks: long under compute-sanitizer */
		run_geom(&dsa64, quick);
	run_geom(&match, quick);
	run_geom(&lfru2, quick);
	run_geom(&ret1, quick);
	run_geom(&radix2, quick);
	run_geom(&stale2, quick);
	run_geom(&odd4, quick);
	run_geom(&big, quick);
	run_geom(&big2, quick);
	run_geom(&big4, quick);
	/* the same with a token -> slot map: the cluster kernel finds hits in
	 * it, the one-block kernel only keeps it */
	run_geom_map(&small, "small-map", 0, quick);
	run_geom_map(&dsa, "dsa-6144/2048-map", 0, quick);
	run_geom_map(&dsa2, "dsa-cluster2-map", 0, quick);
	/* each block fills its own victims (a measured alternative) */
	run_geom_map(&dsa2, "dsa-cluster2-map-fill-own", ESS_MANAGE_FILL_OWN, quick);
	run_geom_map(&dsa1, "dsa-one-block-map", 0, quick);
	if (!quick)
		run_geom_map(&dsa64, "dsa-batch-64-map", 0, quick);
	run_geom_map(&match, "dsa-hist-match-map", 0, quick);
	run_geom_map(&lfru2, "small-lfru-cluster2-map", 0, quick);
	run_geom_map(&ret1, "small-ret-one-block-map", 0, quick);
	run_geom_map(&radix2, "small-radix-only-cluster2-map", 0, quick);
	run_geom_map(&stale2, "stale-keys-cluster2-map", 0, quick);
	run_geom_map(&odd4, "odd-slots-cluster4-map", 0, quick);
	run_geom_map(&big, "batch-150-one-block-map", ESS_MANAGE_ONE_BLOCK, quick);
	run_geom_map(&big2, "batch-150-cluster2-map", 0, quick);
	/* with the kept LRU order: the order kernel keeps it (150 requests:
	 * more blocks than SMs) */
	run_geom_order(&small, "small-order", 0, quick);
	run_geom_order(&dsa, "dsa-6144/2048-order", 0, quick);
	run_geom_order(&sparse, "k>slots-sparse-order", 0, quick);
	run_geom_order(&stale, "stale-keys-order", 0, quick);
	if (!quick)
		run_geom_order(&dsa64, "dsa-batch-64-order", 0, quick);
	run_geom_order(&big, "batch-150-order", 0, quick);
	run_geom_order(&odd, "odd-slots-order", 0, quick);
	/* another kernel forced by a flag, or by the policy: every launch
	 * leaves the orders stale */
	run_geom_order(&dsa2, "dsa-cluster2-order", 0, quick);
	run_geom_order(&dsa1, "dsa-one-block-order", 0, quick);
	run_geom_order(&radix, "small-radix-only-order", 0, quick);
	run_geom_order(&lfru, "small-lfru-order", 0, quick);
	/* orders garbled and marked stale by hand: built again from the keys */
	run_geom_order(&small, "small-order-rebuild", GEOM_REBUILD, quick);
	run_geom_order(&dsa, "dsa-6144/2048-order-rebuild", GEOM_REBUILD, quick);
	/* decode appends between the resolves, with the order and with the
	 * map alone */
	run_geom_order(&small, "small-order-append", GEOM_APPEND, quick);
	run_geom_order(&dsa, "dsa-6144/2048-order-append", GEOM_APPEND, quick);
	run_geom_map(&small, "small-map-append", GEOM_APPEND, quick);
	test_too_many();
	printf("1..%d\n", tap_n);
	return tap_fail ? 1 : 0;
}
