// SPDX-License-Identifier: MIT
/*
 * One side of the decode benchmark: buffers and the per-layer queue.
 *
 * Per layer of a step, on the main stream:
 *   stand-in (projections before the indexer)
 *   the new token's row and indexer key (baseline: into the HBM cache;
 *     ESS: into a staging row, written through to the host pool by the
 *     fetch stream, ess_cuda_scatter)
 *   indexer scan over every cached key, top-2048 radix select
 *   ESS: event -> fetch stream: resolve + gather of the misses
 *     (ess_cuda_manage), event back
 *   stand-in (q_b and W_UK projections: the work the fetch hides behind)
 *   sparse attention over the 2048 rows (baseline: HBM cache rows by
 *     token; ESS: hot-buffer slots from the resolve)
 *   stand-in (W_UV, o_proj, FFN/MoE, all-to-all, per-layer overhead)
 * The attention reads the top-k stream's rows, not the indexer's (its
 * random keys give a top-k without locality); the indexer and the top-k
 * still run at full size for their time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/errbuf.h"
#include "decode.h"
#include "ess/hotset.h"
#include "ess_cuda.h"
#include "side.h"

#define EXT_SHIFT 6u	/* host pool extents of 64 tokens (a cache page) */

struct dec_side {
	struct dec_cfg c;
	cudaStream_t s, f;
	cudaEvent_t ev_new, ev_topk, ev_fetch;
	/* per layer */
	uint8_t **keys, **cache, **hot;
	int32_t **hs_token;
	uint64_t **hs_key;
	uint32_t **hs_freq, **hs_t;
	/* token -> slot maps (cap entries a request) and, under LRU, the
	 * kept orders and their tails, as the CUDA backend keeps them */
	uint16_t **hs_map, **hs_ord;
	uint32_t **hs_tail;
	/* shared by the layers */
	float *score, *out;
	int32_t *topk, *rows;
	uint8_t *qi, *stage;
	float *w;
	uint16_t *q;
	void *work;
	uint32_t *seq_d, *pos_d;	/* [steps][batch] */
	/* ESS */
	uint8_t *pool;			/* pinned host */
	uint64_t *ext, *moff, *counters, *wt_off;
	uint32_t *mntok, *reqs, *nmiss, *wt_count;
	int32_t *slots_out, *mslot, *mtok, *err, *wt_slot;
};

/* The ESS side keeps LRU orders where the order kernel takes its hot sets
 * (with the map: slots below ESS_MAP_NONE, and at most ESS_ORDER_MAX_SLOTS). */
static bool dec_side_orders(const struct dec_cfg *c)
{
	return c->policy == ESS_POLICY_LRU && c->slots <= ESS_ORDER_MAX_SLOTS;
}

void dec_side_bytes(const struct dec_cfg *c, uint64_t *dev, uint64_t *host)
{
	const uint64_t B = c->batch, L = c->layers, cap = c->cap, S = c->steps;
	uint64_t d = L * B * cap * DEC_KEY;		/* indexer keys: both sides */
	d += B * cap * 4 + (uint64_t)B * DEC_TOPK * 4;	/* scores, top-k */
	d += B * (DEC_IDX_HEADS * DEC_IDX_DIM + DEC_IDX_HEADS * 4 + DEC_HEADS * DEC_QK * 2 +
		  DEC_HEADS * DEC_LATENT * 4 + DEC_ROW);
	d += dec_attn_work_bytes(c->batch);
	d += S * L * B * DEC_TOPK * 4 + 2 * S * B * 4;	/* the stream */
	uint64_t h = 0;
	if (c->ess) {
		const uint64_t ns = B * c->slots;
		d += L * ns * (DEC_ROW + 4 + 8 + 4) + L * B * 4;
		if (c->slots < ESS_MAP_NONE)
			d += L * B * cap * 2;		/* token -> slot maps */
		if (dec_side_orders(c))
			d += L * ns * 2 + L * B * 8;	/* orders, tails */
		d += B * L * (cap >> EXT_SHIFT) * 8 + S * B * L * 4;
		d += B * DEC_TOPK * (4 + 8 + 4 + 4) + B * 8 + S * L * B * 8 + B * 4 + 64;
		h = L * B * cap * DEC_ROW;
	} else {
		d += L * B * cap * DEC_ROW;
	}
	*dev = d;
	*host = h;
}

#define DALLOC(p, n)                                                                   \
	do {                                                                           \
		if (cudaMalloc((void **)&(p), (n)) != cudaSuccess) {                   \
			seterr(err, errlen, "cudaMalloc %llu B failed (%s)",           \
			       (unsigned long long)(n), #p);                           \
			goto fail;                                                     \
		}                                                                      \
	} while (0)
#define CKF(call)                                                                      \
	do {                                                                           \
		cudaError_t e_ = (call);                                               \
		if (e_ != cudaSuccess) {                                               \
			seterr(err, errlen, "%s: %s", #call, cudaGetErrorString(e_));  \
			goto fail;                                                     \
		}                                                                      \
	} while (0)
#define CKR(call)                                                                      \
	do {                                                                           \
		int r_ = (call);                                                       \
		if (r_) {                                                              \
			seterr(err, errlen, "%s: %d", #call, r_);                      \
			goto fail;                                                     \
		}                                                                      \
	} while (0)

struct dec_side *dec_side_new(const struct dec_cfg *c, const struct dec_stream *st, char *err,
			      size_t errlen)
{
	const uint64_t B = c->batch, L = c->layers, cap = c->cap, S = c->steps;
	struct dec_side *d = (struct dec_side *)calloc(1, sizeof(*d));
	if (!d) {
		seterr(err, errlen, "out of memory");
		return NULL;
	}
	d->c = *c;
	if (!B || !L || !S || c->warm >= S || !cap || cap % 64 || c->prefill > cap ||
	    (c->ess && c->slots < DEC_TOPK) || !c->spin_blocks) {
		seterr(err, errlen, "bad configuration (batch %u layers %u steps %u warm %u cap %u "
		       "prefill %u slots %u)", c->batch, c->layers, c->steps, c->warm, c->cap,
		       c->prefill, c->slots);
		free(d);
		return NULL;
	}
	for (uint64_t i = 0; i < S * B; i++)
		if (st->seq_len[i] == 0 || st->seq_len[i] > cap) {
			seterr(err, errlen, "stream: seq_len %u at entry %llu outside [1, cap %u]",
			       st->seq_len[i], (unsigned long long)i, c->cap);
			free(d);
			return NULL;
		}
	{
		int lo, hi;
		CKF(cudaDeviceGetStreamPriorityRange(&lo, &hi));
		CKF(cudaStreamCreateWithFlags(&d->s, cudaStreamNonBlocking));
		/* the fetch at the highest priority: it is on the critical path
		 * as soon as the compute before attention is shorter */
		CKF(cudaStreamCreateWithPriority(&d->f, cudaStreamNonBlocking, hi));
	}
	CKF(cudaEventCreateWithFlags(&d->ev_new, cudaEventDisableTiming));
	CKF(cudaEventCreateWithFlags(&d->ev_topk, cudaEventDisableTiming));
	CKF(cudaEventCreateWithFlags(&d->ev_fetch, cudaEventDisableTiming));
	d->keys = (uint8_t **)calloc(L, sizeof(void *));
	d->cache = (uint8_t **)calloc(L, sizeof(void *));
	d->hot = (uint8_t **)calloc(L, sizeof(void *));
	d->hs_token = (int32_t **)calloc(L, sizeof(void *));
	d->hs_key = (uint64_t **)calloc(L, sizeof(void *));
	d->hs_freq = (uint32_t **)calloc(L, sizeof(void *));
	d->hs_t = (uint32_t **)calloc(L, sizeof(void *));
	d->hs_map = (uint16_t **)calloc(L, sizeof(void *));
	d->hs_ord = (uint16_t **)calloc(L, sizeof(void *));
	d->hs_tail = (uint32_t **)calloc(L, sizeof(void *));
	if (!d->keys || !d->cache || !d->hot || !d->hs_token || !d->hs_key || !d->hs_freq || !d->hs_t ||
	    !d->hs_map || !d->hs_ord || !d->hs_tail) {
		seterr(err, errlen, "out of memory");
		goto fail;
	}
	DALLOC(d->score, B * cap * 4);
	DALLOC(d->topk, B * DEC_TOPK * 4);
	DALLOC(d->qi, B * DEC_IDX_HEADS * DEC_IDX_DIM);
	DALLOC(d->w, B * DEC_IDX_HEADS * 4);
	DALLOC(d->q, B * DEC_HEADS * DEC_QK * 2);
	DALLOC(d->out, B * DEC_HEADS * DEC_LATENT * 4);
	DALLOC(d->stage, B * DEC_ROW);
	DALLOC(d->work, dec_attn_work_bytes(c->batch));
	DALLOC(d->rows, S * L * B * DEC_TOPK * 4);
	DALLOC(d->seq_d, S * B * 4);
	DALLOC(d->pos_d, S * B * 4);
	CKF(cudaMemcpy(d->rows, st->rows, S * L * B * DEC_TOPK * 4, cudaMemcpyHostToDevice));
	CKF(cudaMemcpy(d->seq_d, st->seq_len, S * B * 4, cudaMemcpyHostToDevice));
	{
		uint32_t *pos = (uint32_t *)malloc(S * B * 4);
		if (!pos) {
			seterr(err, errlen, "out of memory");
			goto fail;
		}
		for (uint64_t i = 0; i < S * B; i++)
			pos[i] = st->seq_len[i] - 1;
		cudaError_t e = cudaMemcpy(d->pos_d, pos, S * B * 4, cudaMemcpyHostToDevice);
		free(pos);
		CKF(e);
	}
	CKR(dec_fill_q(d->qi, d->w, d->q, c->batch, 1, d->s));
	for (uint32_t l = 0; l < L; l++) {
		DALLOC(d->keys[l], B * cap * DEC_KEY);
		if (!c->ess) {
			DALLOC(d->cache[l], B * cap * DEC_ROW);
			CKR(dec_fill_rows(d->cache[l], d->keys[l], l, c->batch, c->cap, c->prefill, d->s));
		} else {
			CKR(dec_fill_rows(NULL, d->keys[l], l, c->batch, c->cap, c->prefill, d->s));
		}
	}
	if (c->ess) {
		const uint64_t ns = B * c->slots, max_ext = cap >> EXT_SHIFT;
		uint8_t *tmp = NULL;
		CKF(cudaHostAlloc((void **)&d->pool, L * B * cap * DEC_ROW, cudaHostAllocMapped));
		/* the pool's rows are made on the GPU, one layer at a time */
		DALLOC(tmp, B * cap * DEC_ROW);
		for (uint32_t l = 0; l < L; l++) {
			cudaError_t e = cudaSuccess;
			if (dec_fill_rows(tmp, NULL, l, c->batch, c->cap, c->prefill, d->s))
				e = cudaErrorUnknown;
			if (e == cudaSuccess)
				e = cudaMemcpyAsync(d->pool + (uint64_t)l * B * cap * DEC_ROW, tmp,
						    B * cap * DEC_ROW, cudaMemcpyDeviceToHost, d->s);
			if (e == cudaSuccess)
				e = cudaStreamSynchronize(d->s);
			if (e != cudaSuccess) {
				cudaFree(tmp);
				seterr(err, errlen, "filling the host pool: %s", cudaGetErrorString(e));
				goto fail;
			}
		}
		cudaFree(tmp);
		for (uint32_t l = 0; l < L; l++) {
			DALLOC(d->hot[l], ns * DEC_ROW);
			DALLOC(d->hs_token[l], ns * 4);
			DALLOC(d->hs_key[l], ns * 8);
			DALLOC(d->hs_freq[l], ns * 4);
			DALLOC(d->hs_t[l], B * 4);
			if (c->slots < ESS_MAP_NONE)
				DALLOC(d->hs_map[l], B * cap * 2);
			if (dec_side_orders(c)) {
				DALLOC(d->hs_ord[l], ns * 2);
				DALLOC(d->hs_tail[l], B * 8);
			}
		}
		DALLOC(d->ext, B * L * max_ext * 8);
		DALLOC(d->mntok, S * B * L * 4);
		DALLOC(d->reqs, B * 4);
		DALLOC(d->slots_out, B * DEC_TOPK * 4);
		DALLOC(d->moff, B * DEC_TOPK * 8);
		DALLOC(d->mslot, B * DEC_TOPK * 4);
		DALLOC(d->mtok, B * DEC_TOPK * 4);
		DALLOC(d->nmiss, B * 4);
		DALLOC(d->counters, 8 * ESS_CUDA_NCOUNTERS);
		DALLOC(d->err, 8);
		DALLOC(d->wt_off, S * L * B * 8);
		DALLOC(d->wt_slot, B * 4);
		DALLOC(d->wt_count, 4);
		/* host maps: request b, layer l at ((l * B + b) * cap) rows */
		uint64_t *ext = (uint64_t *)malloc(B * L * max_ext * 8);
		uint32_t *ntk = (uint32_t *)malloc(S * B * L * 4);
		uint64_t *wto = (uint64_t *)malloc(S * L * B * 8);
		uint32_t *ids = (uint32_t *)malloc(B * 4);
		cudaError_t e = cudaErrorMemoryAllocation;
		if (ext && ntk && wto && ids) {
			for (uint64_t b = 0; b < B; b++) {
				ids[b] = (uint32_t)b;
				for (uint64_t l = 0; l < L; l++)
					for (uint64_t x = 0; x < max_ext; x++)
						ext[(b * L + l) * max_ext + x] =
							((l * B + b) * cap + (x << EXT_SHIFT)) * DEC_ROW;
			}
			for (uint64_t s = 0; s < S; s++)
				for (uint64_t b = 0; b < B; b++)
					for (uint64_t l = 0; l < L; l++) {
						ntk[(s * B + b) * L + l] = st->seq_len[s * B + b];
						wto[(s * L + l) * B + b] =
							((l * B + b) * cap + st->seq_len[s * B + b] - 1) * DEC_ROW;
					}
			const uint32_t nb = (uint32_t)B;
			e = cudaMemcpy(d->ext, ext, B * L * max_ext * 8, cudaMemcpyHostToDevice);
			if (e == cudaSuccess)
				e = cudaMemcpy(d->mntok, ntk, S * B * L * 4, cudaMemcpyHostToDevice);
			if (e == cudaSuccess)
				e = cudaMemcpy(d->wt_off, wto, S * L * B * 8, cudaMemcpyHostToDevice);
			if (e == cudaSuccess)
				e = cudaMemcpy(d->reqs, ids, B * 4, cudaMemcpyHostToDevice);
			if (e == cudaSuccess)
				e = cudaMemcpy(d->wt_slot, ids, B * 4, cudaMemcpyHostToDevice);
			if (e == cudaSuccess)
				e = cudaMemcpy(d->wt_count, &nb, 4, cudaMemcpyHostToDevice);
		}
		free(ext);
		free(ntk);
		free(wto);
		free(ids);
		CKF(e);
		if (dec_side_reset(d)) {
			seterr(err, errlen, "reset: %s", cudaGetErrorString(cudaGetLastError()));
			goto fail;
		}
	}
	CKF(cudaStreamSynchronize(d->s));
	return d;
fail:
	dec_side_free(d);
	return NULL;
}

void dec_side_free(struct dec_side *d)
{
	if (!d)
		return;
	if (d->s)
		cudaStreamSynchronize(d->s);
	if (d->f)
		cudaStreamSynchronize(d->f);
	for (uint32_t l = 0; d->keys && l < d->c.layers; l++) {
		cudaFree(d->keys[l]);
		cudaFree(d->cache[l]);
		cudaFree(d->hot[l]);
		cudaFree(d->hs_token[l]);
		cudaFree(d->hs_key[l]);
		cudaFree(d->hs_freq[l]);
		cudaFree(d->hs_t[l]);
		cudaFree(d->hs_map[l]);
		cudaFree(d->hs_ord[l]);
		cudaFree(d->hs_tail[l]);
	}
	free(d->keys);
	free(d->cache);
	free(d->hot);
	free(d->hs_token);
	free(d->hs_key);
	free(d->hs_freq);
	free(d->hs_t);
	free(d->hs_map);
	free(d->hs_ord);
	free(d->hs_tail);
	void *dev[] = {d->score, d->out, d->topk, d->rows, d->qi, d->stage, d->w, d->q, d->work,
		       d->seq_d, d->pos_d, d->ext, d->moff, d->counters, d->wt_off, d->mntok,
		       d->reqs, d->nmiss, d->wt_count, d->slots_out, d->mslot, d->mtok, d->err,
		       d->wt_slot};
	for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
		cudaFree(dev[i]);
	if (d->pool)
		cudaFreeHost(d->pool);
	if (d->ev_new)
		cudaEventDestroy(d->ev_new);
	if (d->ev_topk)
		cudaEventDestroy(d->ev_topk);
	if (d->ev_fetch)
		cudaEventDestroy(d->ev_fetch);
	if (d->s)
		cudaStreamDestroy(d->s);
	if (d->f)
		cudaStreamDestroy(d->f);
	free(d);
}

cudaStream_t dec_side_stream(const struct dec_side *d)
{
	return d->s;
}

int dec_side_reset(struct dec_side *d)
{
	const uint64_t ns = (uint64_t)d->c.batch * d->c.slots;
	if (!d->c.ess)
		return 0;
	for (uint32_t l = 0; l < d->c.layers; l++) {
		if (cudaMemsetAsync(d->hs_token[l], 0xff, ns * 4, d->s) ||
		    cudaMemsetAsync(d->hs_key[l], 0, ns * 8, d->s) ||
		    cudaMemsetAsync(d->hs_freq[l], 0, ns * 4, d->s) ||
		    cudaMemsetAsync(d->hs_t[l], 0, d->c.batch * 4, d->s) ||
		    (d->hs_map[l] &&
		     cudaMemsetAsync(d->hs_map[l], 0xff, (uint64_t)d->c.batch * d->c.cap * 2, d->s)) ||
		    (d->hs_tail[l] && cudaMemsetAsync(d->hs_tail[l], 0xff, d->c.batch * 8, d->s)))
			return -EIO;
	}
	if (cudaMemsetAsync(d->counters, 0, 8 * ESS_CUDA_NCOUNTERS, d->s) ||
	    cudaMemsetAsync(d->err, 0, 8, d->s))
		return -EIO;
	return cudaStreamSynchronize(d->s) == cudaSuccess ? 0 : -EIO;
}

int dec_side_zero_counts(struct dec_side *d)
{
	if (!d->c.ess)
		return 0;
	if (cudaStreamSynchronize(d->f) || cudaMemsetAsync(d->counters, 0, 8 * ESS_CUDA_NCOUNTERS, d->s))
		return -EIO;
	return cudaStreamSynchronize(d->s) == cudaSuccess ? 0 : -EIO;
}

static int ess_fetch(struct dec_side *d, uint32_t s, uint32_t l, const int32_t *rows)
{
	struct ess_manage_args a;
	memset(&a, 0, sizeof(a));
	a.hs_token = d->hs_token[l];
	a.hs_key = d->hs_key[l];
	a.hs_freq = d->hs_freq[l];
	a.hs_t = d->hs_t[l];
	a.hs_map = d->hs_map[l];
	a.map_cap = d->hs_map[l] ? d->c.cap : 0;
	a.hs_order = d->hs_ord[l];
	a.hs_order_tail = d->hs_tail[l];
	a.slots = d->c.slots;
	a.topk = DEC_TOPK;
	a.policy = d->c.policy;
	a.nreq = d->c.batch;
	a.reqs = d->reqs;
	a.topk_rows = rows;
	a.slots_out = d->slots_out;
	a.extent_off = d->ext;
	a.ntokens = d->mntok + (uint64_t)s * d->c.batch * d->c.layers;
	a.layers = d->c.layers;
	a.layer = l;
	a.max_extents = d->c.cap >> EXT_SHIFT;
	a.extent_shift = EXT_SHIFT;
	a.entry_bytes = DEC_ROW;
	a.miss_off = d->moff;
	a.miss_slot = d->mslot;
	a.miss_token = d->mtok;
	a.nmiss = d->nmiss;
	a.counters = d->counters;
	a.err = d->err;
	a.host_base = d->pool;
	a.hot_base = d->hot[l];
	a.do_fetch = 1;
	return ess_cuda_manage(&a, d->c.batch, d->f);
}

int dec_side_step(struct dec_side *d, uint32_t s, int standin)
{
	const struct dec_cfg *c = &d->c;
	const uint64_t B = c->batch;
	const uint32_t *ntok = d->seq_d + (uint64_t)s * B, *pos = d->pos_d + (uint64_t)s * B;
	int r;
	if (s >= c->steps)
		return -EINVAL;
	for (uint32_t l = 0; l < c->layers; l++) {
		const int32_t *rows = d->rows + ((uint64_t)s * c->layers + l) * B * DEC_TOPK;
		if (standin && (r = dec_spin(c->pre_ns, c->spin_blocks, d->s)))
			return r;
		if ((r = dec_new_rows(d->stage, d->keys[l], c->ess ? NULL : d->cache[l], l, pos,
				      c->batch, c->cap, d->s)))
			return r;
		if (c->ess) {
			/* write-through of the new rows on the fetch stream,
			 * before the resolve that may fetch them back */
			struct ess_fetch_list wl;
			wl.off = d->wt_off + ((uint64_t)s * c->layers + l) * B;
			wl.slot = d->wt_slot;
			wl.count = d->wt_count;
			wl.nseg = 1;
			wl.seg_cap = c->batch;
			if (cudaEventRecord(d->ev_new, d->s) || cudaStreamWaitEvent(d->f, d->ev_new, 0))
				return -EIO;
			if ((r = ess_cuda_scatter(d->pool, d->stage, DEC_ROW, &wl, NULL, d->f)))
				return r;
		}
		if ((r = dec_indexer(d->keys[l], d->qi, d->w, ntok, c->batch, c->cap, d->score, d->s)) ||
		    (r = dec_topk(d->score, ntok, c->batch, c->cap, DEC_TOPK, d->topk, d->s)))
			return r;
		if (c->ess) {
			if (cudaEventRecord(d->ev_topk, d->s) || cudaStreamWaitEvent(d->f, d->ev_topk, 0))
				return -EIO;
			if ((r = ess_fetch(d, s, l, rows)))
				return r;
			if (cudaEventRecord(d->ev_fetch, d->f))
				return -EIO;
		}
		if (standin && (r = dec_spin(c->mid_ns, c->spin_blocks, d->s)))
			return r;
		if (c->ess) {
			if (cudaStreamWaitEvent(d->s, d->ev_fetch, 0))
				return -EIO;
			r = dec_attn(d->q, d->hot[l], d->slots_out, 0, c->batch, DEC_TOPK, d->out, d->work,
				     d->s);
		} else {
			r = dec_attn(d->q, d->cache[l], rows, c->cap, c->batch, DEC_TOPK, d->out, d->work,
				     d->s);
		}
		if (r)
			return r;
		if (standin && (r = dec_spin(c->post_ns, c->spin_blocks, d->s)))
			return r;
	}
	return 0;
}

int dec_side_counts(struct dec_side *d, struct dec_counts *o)
{
	uint64_t cn[ESS_CUDA_NCOUNTERS];
	int32_t e[2];
	memset(o, 0, sizeof(*o));
	if (cudaStreamSynchronize(d->s) || cudaStreamSynchronize(d->f))
		return -EIO;
	if (!d->c.ess)
		return 0;
	if (cudaMemcpy(cn, d->counters, sizeof(cn), cudaMemcpyDeviceToHost) ||
	    cudaMemcpy(e, d->err, sizeof(e), cudaMemcpyDeviceToHost))
		return -EIO;
	o->lookups = cn[ESS_CUDA_C_LOOKUPS];
	o->hits = cn[ESS_CUDA_C_HITS];
	o->misses = cn[ESS_CUDA_C_MISSES];
	o->bytes_h2d = cn[ESS_CUDA_C_BYTES_H2D];
	o->err = e[0];
	return 0;
}

int dec_side_output(struct dec_side *d, float *host)
{
	if (cudaStreamSynchronize(d->s))
		return -EIO;
	return cudaMemcpy(host, d->out, (size_t)d->c.batch * DEC_HEADS * DEC_LATENT * 4,
			  cudaMemcpyDeviceToHost) == cudaSuccess ? 0 : -EIO;
}
