/* SPDX-License-Identifier: MIT */
/*
 * ess-bench-fetch: one table from one run on one GPU.
 *   bulk pinned cudaMemcpy H2D / D2H (the ceiling), SM gather and scatter
 *   of 656-B rows over a multi-GB pinned pool with their ratio to bulk,
 *   the copy-engine path, and the management kernel's time per layer, at
 *   several batch sizes and miss rates.
 *
 *   ess-bench-fetch [pool_GiB (4)] [reps (9)] [manage|bulk|locality|wc]
 *   (manage: the management table only; bulk, locality, wc: one experiment)
 *
 * Each measurement is the median of reps timed runs (CUDA events), after a
 * warm-up; gathers rotate over 8 different row lists (> L2) so no run reads
 * rows the L2 still holds.
 */
#include <algorithm>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <vector>

#include <cuda_runtime.h>

#include "cluster_config.h"
#include "ess/hotset.h"
#include "ess_cuda.h"

#define ROW 656u
#define TOPK 2048u
#define SLOTS 6144u
#define NLISTS 8

#define CK(x)                                                                          \
	do {                                                                           \
		cudaError_t e_ = (x);                                                  \
		if (e_ != cudaSuccess) {                                               \
			fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x,       \
				cudaGetErrorString(e_));                               \
			exit(1);                                                       \
		}                                                                      \
	} while (0)
#define CR(x)                                                                          \
	do {                                                                           \
		int r_ = (x);                                                          \
		if (r_) {                                                              \
			fprintf(stderr, "%s:%d %s: %d %s\n", __FILE__, __LINE__, #x, r_,    \
				ess_cuda_last_error());                                \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

static uint64_t rs = 88172645463325252ull;
static uint64_t rng(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs * 0x2545F4914F6CDD1Dull;
}

#ifdef ESS_MANAGE_PROF
extern "C" int ess_cuda_manage_prof(unsigned long long *out);
extern "C" int ess_cuda_manage_prof_cluster(unsigned long long *out);
extern "C" int ess_cuda_manage_prof_order(unsigned long long *out);
#endif

static int reps = 9;
static cudaEvent_t ev0, ev1;
static cudaStream_t bs;	/* every timed operation runs here */

template <typename F> static double median_ms(F f)
{
	std::vector<float> v;
	f(0);	/* warm-up */
	CK(cudaStreamSynchronize(bs));
	for (int i = 0; i < reps; i++) {
		CK(cudaEventRecord(ev0, bs));
		f(i + 1);
		CK(cudaEventRecord(ev1, bs));
		CK(cudaEventSynchronize(ev1));
		float ms;
		CK(cudaEventElapsedTime(&ms, ev0, ev1));
		v.push_back(ms);
	}
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}

struct dlist {
	uint32_t n;		/* rows */
	std::vector<uint64_t> off;
	std::vector<int32_t> slot;
	uint64_t *off_d;
	int32_t *slot_d;
	uint32_t *count_d;
	struct ess_fetch_list fl;
};

/* Misses of one layer: per request `miss` rows in ascending order inside
 * that request's own slice of the pool (a request's rows of a layer are
 * contiguous), to distinct random slots of its hot set. */
static void make_list(struct dlist *l, uint32_t batch, uint32_t miss, uint64_t pool_rows,
		      int adjacent_slots)
{
	l->n = batch * miss;
	l->off.resize(l->n);
	l->slot.resize(l->n);
	const uint64_t span = pool_rows / batch;	/* rows per request slice */
	std::vector<uint64_t> rows;
	std::vector<int32_t> perm(SLOTS);
	for (uint32_t b = 0; b < batch; b++) {
		/* the request's tokens of this layer: a 32K-token window at a
		 * random place in its slice, so rows are near each other the way
		 * a real request's are */
		const uint64_t window = std::min<uint64_t>(span, 32768);
		const uint64_t base = b * span + rng() % (span - window + 1);
		rows.clear();
		while (rows.size() < miss) {
			uint64_t r = base + rng() % window;
			rows.push_back(r);
			if (rows.size() == miss) {
				std::sort(rows.begin(), rows.end());
				rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
			}
		}
		for (uint32_t i = 0; i < SLOTS; i++)
			perm[i] = (int32_t)i;
		for (uint32_t i = SLOTS - 1; i > 0; i--)
			std::swap(perm[i], perm[rng() % (i + 1)]);
		for (uint32_t i = 0; i < miss; i++) {
			l->off[(uint64_t)b * miss + i] = rows[i] * ROW;
			l->slot[(uint64_t)b * miss + i] =
				(int32_t)(b * SLOTS) + (adjacent_slots ? (int32_t)i : perm[i]);
		}
	}
	CK(cudaMalloc(&l->off_d, 8ull * l->n));
	CK(cudaMalloc(&l->slot_d, 4ull * l->n));
	CK(cudaMalloc(&l->count_d, 4));
	CK(cudaMemcpy(l->off_d, l->off.data(), 8ull * l->n, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(l->slot_d, l->slot.data(), 4ull * l->n, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(l->count_d, &l->n, 4, cudaMemcpyHostToDevice));
	l->fl.off = l->off_d;
	l->fl.slot = l->slot_d;
	l->fl.count = l->count_d;
	l->fl.nseg = 1;
	l->fl.seg_cap = l->n;
}

static void free_list(struct dlist *l)
{
	cudaFree(l->off_d);
	cudaFree(l->slot_d);
	cudaFree(l->count_d);
}

/* NLISTS row lists of the same shape (gathers rotate over them so that
 * repeated runs do not hit the L2 cache). */
static void make_lists(struct dlist *lists, uint32_t batch, uint32_t miss, uint64_t pool_rows,
		       int adjacent_slots)
{
	for (int i = 0; i < NLISTS; i++)
		make_list(&lists[i], batch, miss, pool_rows, adjacent_slots);
}

static void free_lists(struct dlist *lists)
{
	for (int i = 0; i < NLISTS; i++)
		free_list(&lists[i]);
}

/* Rows of list l whose hot-buffer slot differs from the host copy in ref
 * (the stream synchronized first). */
static uint32_t rows_wrong(const struct dlist *l, const unsigned char *hot_d, const unsigned char *ref)
{
	std::vector<unsigned char> row(ROW);
	uint32_t wrong = 0;
	CK(cudaStreamSynchronize(bs));
	for (uint32_t i = 0; i < l->n; i++) {
		CK(cudaMemcpy(row.data(), hot_d + (uint64_t)l->slot[i] * ROW, ROW, cudaMemcpyDeviceToHost));
		wrong += memcmp(row.data(), ref + l->off[i], ROW) != 0;
	}
	return wrong;
}

static double gbs(uint64_t bytes, double ms)
{
	return bytes / (ms * 1e6);
}

/* ---- management kernel timing ---- */
struct mbench {
	uint32_t batch, steps;
	int32_t *tok_d;
	uint64_t *key_d, *ext_d, *moff_d, *cnt_d;
	uint32_t *freq_d, *t_d, *reqs_d, *ntok_d, *nmiss_d;
	int32_t *rows_d, *out_d, *mslot_d, *mtok_d, *err_d;
	unsigned char *hot_d;
	uint16_t *map_d;	/* token -> slot map, or NULL */
	uint16_t *ord_d;	/* LRU order, or NULL */
	uint32_t *tail_d;	/* its tails */
};

/* What the management kernels get besides the hot set: */
enum { MB_HASHED = 0, MB_MAP = 1, MB_ORDER = 2 };

static void mbench_rows(std::vector<int32_t> &rows, uint32_t batch, uint32_t steps,
			uint32_t ntok, double miss_rate)
{
	rows.assign((size_t)steps * batch * TOPK, -1);
	std::vector<unsigned char> used(ntok);
	for (uint32_t b = 0; b < batch; b++) {
		std::vector<int32_t> prev;
		for (uint32_t k = 0; k < steps; k++) {
			std::fill(used.begin(), used.end(), 0);
			int32_t *row = &rows[((size_t)k * batch + b) * TOPK];
			uint32_t n = 0;
			for (int32_t t : prev)
				if ((double)(rng() % 10000) / 10000.0 >= miss_rate && n < TOPK) {
					used[t] = 1;
					row[n++] = t;
				}
			while (n < TOPK) {
				uint32_t t = (uint32_t)(rng() % ntok);
				if (used[t])
					continue;
				used[t] = 1;
				row[n++] = (int32_t)t;
			}
			prev.assign(row, row + TOPK);
			for (uint32_t i = TOPK - 1; i > 0; i--)
				std::swap(row[i], row[rng() % (i + 1)]);
		}
	}
}

/* ---- launch floor of the management kernel's shape ----
 * An empty kernel launched as the cluster kernel is (batch x cl blocks of
 * 1024 threads, clusters of cl, smem bytes of dynamic shared memory: about
 * what the launcher asks for at top-k 2048 and 6144 slots), the same 18
 * launches in a graph: what a layer costs before the kernel does anything. */
__global__ void __launch_bounds__(1024, 1) empty_manage_shape(int *sink)
{
	if (sink && blockIdx.x == 0 && threadIdx.x == 0)
		*sink = 1;
}

static double launch_floor_us(uint32_t batch, unsigned cl, size_t smem)
{
	const int launches = 18;
	cudaLaunchAttribute at;
	cudaGraph_t graph;
	cudaGraphExec_t gexec;
	float ms;

	CK(cudaFuncSetAttribute(empty_manage_shape, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
	cudaLaunchConfig_t cfg = ess_cluster_config(&at, cl, batch * cl, 1024, smem, bs);
	CK(cudaStreamSynchronize(bs));
	CK(cudaStreamBeginCapture(bs, cudaStreamCaptureModeThreadLocal));
	for (int k = 0; k < launches; k++)
		CK(cudaLaunchKernelEx(&cfg, empty_manage_shape, (int *)NULL));
	CK(cudaStreamEndCapture(bs, &graph));
	CK(cudaGraphInstantiate(&gexec, graph, 0));
	CK(cudaGraphUpload(gexec, bs));
	CK(cudaGraphLaunch(gexec, bs));	/* warm-up */
	CK(cudaStreamSynchronize(bs));
	CK(cudaEventRecord(ev0, bs));
	CK(cudaGraphLaunch(gexec, bs));
	CK(cudaEventRecord(ev1, bs));
	CK(cudaEventSynchronize(ev1));
	CK(cudaEventElapsedTime(&ms, ev0, ev1));
	CK(cudaGraphExecDestroy(gexec));
	CK(cudaGraphDestroy(graph));
	return ms * 1000.0 / launches;
}

/* Returns ms per layer for manage only and manage + fetch, and the miss
 * rate seen; mode MB_ORDER: with a token -> slot map and the LRU order (as
 * the CUDA backend runs it), MB_MAP: the map only, MB_HASHED: neither
 * (hits found by hashing each row). */
static void mbench_run(uint32_t batch, double miss_rate, const void *pool_d, uint64_t pool_rows,
		       uint32_t flags, int mode, double *ms_manage, double *ms_both,
		       double *seen_miss, double *fetch_gbs)
{
	const uint32_t steps = 24, warm = 6, ntok = 32768, ext_shift = 8;
	const uint32_t max_ext = ntok >> ext_shift;
	struct mbench m;
	const uint64_t ns = (uint64_t)batch * SLOTS;
	CK(cudaMalloc(&m.tok_d, 4 * ns));
	CK(cudaMalloc(&m.key_d, 8 * ns));
	CK(cudaMalloc(&m.freq_d, 4 * ns));
	CK(cudaMalloc(&m.t_d, 4 * batch));
	CK(cudaMalloc(&m.reqs_d, 4 * batch));
	CK(cudaMalloc(&m.ntok_d, 4 * batch));
	CK(cudaMalloc(&m.nmiss_d, 4 * batch));
	CK(cudaMalloc(&m.ext_d, 8ull * batch * max_ext));
	CK(cudaMalloc(&m.moff_d, 8ull * batch * TOPK));
	CK(cudaMalloc(&m.cnt_d, 8 * ESS_CUDA_NCOUNTERS));
	CK(cudaMalloc(&m.rows_d, 4ull * steps * batch * TOPK));
	CK(cudaMalloc(&m.out_d, 4ull * batch * TOPK));
	CK(cudaMalloc(&m.mslot_d, 4ull * batch * TOPK));
	CK(cudaMalloc(&m.mtok_d, 4ull * batch * TOPK));
	CK(cudaMalloc(&m.err_d, 8));
	CK(cudaMalloc(&m.hot_d, ns * ROW));
	m.map_d = NULL;
	m.ord_d = NULL;
	m.tail_d = NULL;
	if (mode >= MB_MAP)
		CK(cudaMalloc(&m.map_d, 2ull * batch * ntok));
	if (mode == MB_ORDER) {
		CK(cudaMalloc(&m.ord_d, 2ull * ns));
		CK(cudaMalloc(&m.tail_d, 8ull * batch));
	}
	std::vector<uint32_t> reqs(batch), ntk(batch, ntok);
	for (uint32_t b = 0; b < batch; b++)
		reqs[b] = b;
	/* each request's extents contiguous inside its own pool slice */
	std::vector<uint64_t> ext((size_t)batch * max_ext);
	const uint64_t span = pool_rows / batch;
	for (uint32_t b = 0; b < batch; b++)
		for (uint32_t e = 0; e < max_ext; e++)
			ext[(size_t)b * max_ext + e] = ((uint64_t)b * span << 0) * ROW +
						       ((uint64_t)e << ext_shift) * ROW;
	CK(cudaMemcpy(m.reqs_d, reqs.data(), 4 * batch, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(m.ntok_d, ntk.data(), 4 * batch, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(m.ext_d, ext.data(), 8ull * batch * max_ext, cudaMemcpyHostToDevice));
	std::vector<int32_t> rows;
	mbench_rows(rows, batch, steps, ntok, miss_rate);
	CK(cudaMemcpy(m.rows_d, rows.data(), 4ull * rows.size(), cudaMemcpyHostToDevice));

	struct ess_manage_args a;
	memset(&a, 0, sizeof(a));
	a.hs_token = m.tok_d;
	a.hs_key = m.key_d;
	a.hs_freq = m.freq_d;
	a.hs_t = m.t_d;
	a.hs_map = m.map_d;
	a.map_cap = ntok;
	a.hs_order = m.ord_d;
	a.hs_order_tail = m.tail_d;
	a.slots = SLOTS;
	a.topk = TOPK;
	a.policy = ESS_POLICY_LRU;
	a.nreq = batch;
	a.reqs = m.reqs_d;
	a.slots_out = m.out_d;
	a.extent_off = m.ext_d;
	a.ntokens = m.ntok_d;
	a.layers = 1;
	a.layer = 0;
	a.max_extents = max_ext;
	a.extent_shift = ext_shift;
	a.entry_bytes = ROW;
	a.miss_off = m.moff_d;
	a.miss_slot = m.mslot_d;
	a.miss_token = m.mtok_d;
	a.nmiss = m.nmiss_d;
	a.counters = m.cnt_d;
	a.err = m.err_d;
	a.host_base = pool_d;
	a.hot_base = m.hot_d;
	a.flags = flags;

	/* The timed steps are captured in a CUDA graph and replayed once, so
	 * the time is the GPU's, not the host's launch rate. */
	for (int pass = 0; pass < 2; pass++) {
		a.do_fetch = pass;
		CK(cudaStreamSynchronize(bs));
		CK(cudaMemsetAsync(m.tok_d, 0xff, 4 * ns, bs));
		CK(cudaMemsetAsync(m.key_d, 0, 8 * ns, bs));
		CK(cudaMemsetAsync(m.freq_d, 0, 4 * ns, bs));
		CK(cudaMemsetAsync(m.t_d, 0, 4 * batch, bs));
		if (m.map_d)
			CK(cudaMemsetAsync(m.map_d, 0xff, 2ull * batch * ntok, bs));
		if (m.tail_d)	/* stale: the first step builds each order */
			CK(cudaMemsetAsync(m.tail_d, 0xff, 8ull * batch, bs));
		CK(cudaMemsetAsync(m.err_d, 0, 8, bs));
		for (uint32_t k = 0; k < warm; k++) {
			a.topk_rows = m.rows_d + (size_t)k * batch * TOPK;
			CR(ess_cuda_manage(&a, batch, bs));
		}
		CK(cudaMemsetAsync(m.cnt_d, 0, 8 * ESS_CUDA_NCOUNTERS, bs));
		CK(cudaStreamSynchronize(bs));
		cudaGraph_t graph;
		cudaGraphExec_t gexec;
		CK(cudaStreamBeginCapture(bs, cudaStreamCaptureModeThreadLocal));
		for (uint32_t k = warm; k < steps; k++) {
			a.topk_rows = m.rows_d + (size_t)k * batch * TOPK;
			CR(ess_cuda_manage(&a, batch, bs));
		}
		CK(cudaStreamEndCapture(bs, &graph));
		CK(cudaGraphInstantiate(&gexec, graph, 0));
		CK(cudaGraphUpload(gexec, bs));
		CK(cudaStreamSynchronize(bs));
		CK(cudaEventRecord(ev0, bs));
		CK(cudaGraphLaunch(gexec, bs));
		CK(cudaEventRecord(ev1, bs));
		CK(cudaEventSynchronize(ev1));
		CK(cudaGraphExecDestroy(gexec));
		CK(cudaGraphDestroy(graph));
		float ms;
		CK(cudaEventElapsedTime(&ms, ev0, ev1));
		uint64_t c[ESS_CUDA_NCOUNTERS];
		int32_t err[2];
		CK(cudaMemcpy(c, m.cnt_d, sizeof(c), cudaMemcpyDeviceToHost));
		CK(cudaMemcpy(err, m.err_d, 8, cudaMemcpyDeviceToHost));
		if (err[0])
			fprintf(stderr, "management error word %d (%s)\n", err[0], ess_cuda_err_name(err[0]));
		const double per = ms / (steps - warm);
		if (pass == 0) {
			*ms_manage = per;
		} else {
			*ms_both = per;
			*seen_miss = (double)c[ESS_CUDA_C_MISSES] / (double)c[ESS_CUDA_C_LOOKUPS];
			*fetch_gbs = gbs(c[ESS_CUDA_C_BYTES_H2D], ms);
		}
	}
#ifdef ESS_MANAGE_PROF
	{
		unsigned long long pr[16];
		const int cl = ess_cuda_manage_cluster(&a);
		if (ess_cuda_manage_kernel(&a) == ESS_MANAGE_KERNEL_ORDER) {
			ess_cuda_manage_prof_order(pr);
			printf("<!-- flags %u order kernel: phase cycles (block 0, last step): loads and clears %llu, "
			       "row checks and hits %llu, scan 1 and bitmap counts %llu, victims and bitmap prefixes %llu, "
			       "scan 2 and misses by rank %llu, fills and order staged %llu, slot state and order written %llu; "
			       "total %llu -->\n",
			       flags, pr[1] - pr[0], pr[2] - pr[1], pr[3] - pr[2], pr[4] - pr[3], pr[5] - pr[4],
			       pr[6] - pr[5], pr[7] - pr[6], pr[7] - pr[0]);
		} else if (cl > 1)
			ess_cuda_manage_prof_cluster(pr);
		else
			ess_cuda_manage_prof(pr);
		printf("<!-- flags %u mode %d, %d block(s) per request: phase cycles (block 0, last step): load %llu hash %llu hits %llu misses %llu "
		       "range %llu radix %llu ties %llu sort %llu fill %llu; total %llu -->\n",
		       flags, mode, cl, pr[1] - pr[0], pr[2] - pr[1], pr[3] - pr[2], pr[4] - pr[3], pr[5] - pr[4],
		       pr[6] - pr[5], pr[7] - pr[6], pr[8] - pr[7], pr[9] - pr[8], pr[9] - pr[0]);
		/* the cluster kernel's points inside phases (cycles from the
		 * phase's start): hits done locally, the others' start seen;
		 * misses sorted (warp 0), victims placed (warp 16) */
		if (cl > 1)
			printf("<!-- flags %u inside: hits local %llu, cluster wait done %llu of %llu; "
			       "misses sorted %llu, victims placed %llu of %llu -->\n",
			       flags, pr[10] - pr[2], pr[11] - pr[2], pr[3] - pr[2], pr[12] - pr[5],
			       pr[13] - pr[5], pr[6] - pr[5]);
	}
#endif
	void *d[] = {m.tok_d, m.key_d, m.freq_d, m.t_d, m.reqs_d, m.ntok_d, m.nmiss_d, m.ext_d,
		     m.moff_d, m.cnt_d, m.rows_d, m.out_d, m.mslot_d, m.mtok_d, m.err_d, m.hot_d,
		     m.map_d, m.ord_d, m.tail_d};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		cudaFree(d[i]);
}

/* ---- experiment: gather through the bulk copy unit (TMA) ----
 * cp.async.bulk copies whole rows from host memory into shared memory
 * (one bulk copy per row, completing on an mbarrier, two stages), and the
 * block then stores them to their slots.  Measured against the SM gather
 * to see whether the bulk unit reads the host over PCIe differently.
 * (ess-bench-fetch POOL REPS bulk) */
#define BULK_R 32
static __device__ __forceinline__ uint32_t smem_u32(const void *p)
{
	return (uint32_t)__cvta_generic_to_shared(p);
}

__global__ void __launch_bounds__(128) bulk_gather(const char *host, char *dev, const uint64_t *off,
						   const int32_t *slot, uint32_t n, uint32_t rb)
{
	extern __shared__ __align__(128) unsigned char buf[];	/* [2][BULK_R * rb] */
	__shared__ __align__(8) uint64_t bar[2];
	const uint32_t tid = threadIdx.x;
	if (tid == 0) {
		asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(smem_u32(&bar[0])));
		asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" :: "r"(smem_u32(&bar[1])));
		asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
	}
	__syncthreads();
	const uint32_t nb = (n + BULK_R - 1) / BULK_R;
	auto issue = [&](uint32_t batch, uint32_t st) {
		const uint32_t r0 = batch * BULK_R, cnt = min(BULK_R, n - r0);
		if (tid == 0)
			asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;"
				     :: "r"(smem_u32(&bar[st])), "r"(cnt * rb) : "memory");
		if (tid < cnt) {
			asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
			asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
				     :: "r"(smem_u32(buf + (st * BULK_R + tid) * rb)), "l"(host + off[r0 + tid]),
				        "r"(rb), "r"(smem_u32(&bar[st])) : "memory");
		}
	};
	uint32_t k = 0;
	if (blockIdx.x < nb)
		issue(blockIdx.x, 0);
	for (uint32_t batch = blockIdx.x; batch < nb; batch += gridDim.x, k++) {
		const uint32_t st = k & 1, par = (k >> 1) & 1;
		if (batch + gridDim.x < nb)
			issue(batch + gridDim.x, st ^ 1);
		asm volatile("{\n .reg .pred p;\n WAIT_%=:\n"
			     " mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
			     " @!p bra WAIT_%=;\n}" :: "r"(smem_u32(&bar[st])), "r"(par) : "memory");
		const uint32_t r0 = batch * BULK_R, cnt = min(BULK_R, n - r0), cpr = rb / 16;
		for (uint32_t c = tid; c < cnt * cpr; c += blockDim.x) {
			const uint32_t r = c / cpr, w = c - r * cpr;
			*(int4 *)(dev + (uint64_t)slot[r0 + r] * rb + w * 16) =
				*(const int4 *)(buf + (st * BULK_R + r) * rb + w * 16);
		}
		__syncthreads();
	}
}

static void bulk_experiment(const unsigned char *pool_h, const void *pool_d, uint64_t pool_rows,
			    unsigned char *hot_d)
{
	printf("## Experiment: gather through the bulk copy unit (cp.async.bulk per row, batch 64)\n\n");
	printf("| miss %% | rows | MB | bulk same bytes H2D GB/s | SM gather (default) GB/s | bulk-unit gather 66 blocks GB/s | 132 blocks GB/s | rows wrong |\n|---|---|---|---|---|---|---|---|\n");
	const size_t smem = 2ull * BULK_R * ROW;
	CK(cudaFuncSetAttribute(bulk_gather, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
	unsigned char *same_d;
	CK(cudaMalloc(&same_d, 64ull * TOPK * ROW));
	for (uint32_t rate : {5u, 10u, 20u}) {
		const uint32_t miss = TOPK * rate / 100;
		struct dlist lists[NLISTS];
		make_lists(lists, 64, miss, pool_rows, 0);
		const uint64_t bytes = (uint64_t)lists[0].n * ROW;
		struct ess_fetch_tune tu = {0, 0, 0, 0};
		double same = gbs(bytes, median_ms([&](int) { CK(cudaMemcpyAsync(same_d, pool_h, bytes, cudaMemcpyHostToDevice, bs)); }));
		double g = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_gather(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tu, bs)); }));
		double t[2];
		const uint32_t grids[2] = {66, 132};
		for (int gi = 0; gi < 2; gi++)
			t[gi] = gbs(bytes, median_ms([&](int i) {
				const struct dlist &l = lists[i % NLISTS];
				bulk_gather<<<grids[gi], 128, smem, bs>>>((const char *)pool_d, (char *)hot_d, l.off_d, l.slot_d, l.n, ROW);
				CK(cudaGetLastError());
			}));
		/* every row of list 0 right after one more bulk-unit gather */
		CK(cudaMemsetAsync(hot_d, 0x5c, 64ull * SLOTS * ROW, bs));
		bulk_gather<<<66, 128, smem, bs>>>((const char *)pool_d, (char *)hot_d, lists[0].off_d, lists[0].slot_d, lists[0].n, ROW);
		CK(cudaGetLastError());
		const uint32_t wrong = rows_wrong(&lists[0], hot_d, pool_h);
		printf("| %u | %u | %.1f | %.1f | %.1f | %.1f | %.1f | %u |\n", rate, lists[0].n, bytes / 1e6, same, g, t[0], t[1], wrong);
		fflush(stdout);
		free_lists(lists);
	}
	CK(cudaFree(same_d));
}

/* ---- experiment: gather rate against host-address locality ----
 * 13056 rows (batch 64 x 204) spaced `stride` rows apart (no two rows
 * share a 128-B line from stride 2 on: the same bytes and line requests
 * at every stride), to random distinct slots.  What changes with the
 * stride is how many host pages and DRAM rows the list touches.
 * (ess-bench-fetch POOL REPS locality) */
static void make_strided(struct dlist *l, uint32_t n, uint64_t stride, uint64_t pool_rows)
{
	l->n = n;
	l->off.resize(n);
	l->slot.resize(n);
	std::vector<int32_t> perm(64 * SLOTS);
	for (uint32_t i = 0; i < perm.size(); i++)
		perm[i] = (int32_t)i;
	for (uint32_t i = (uint32_t)perm.size() - 1; i > 0; i--)
		std::swap(perm[i], perm[rng() % (i + 1)]);
	const uint64_t span = (uint64_t)n * stride;
	const uint64_t r0 = span < pool_rows ? rng() % (pool_rows - span) : 0;
	for (uint32_t i = 0; i < n; i++) {
		l->off[i] = ((r0 + (uint64_t)i * stride) % pool_rows) * ROW;
		l->slot[i] = perm[i];
	}
	std::sort(l->off.begin(), l->off.end());
	CK(cudaMalloc(&l->off_d, 8ull * n));
	CK(cudaMalloc(&l->slot_d, 4ull * n));
	CK(cudaMalloc(&l->count_d, 4));
	CK(cudaMemcpy(l->off_d, l->off.data(), 8ull * n, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(l->slot_d, l->slot.data(), 4ull * n, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(l->count_d, &l->n, 4, cudaMemcpyHostToDevice));
	l->fl.off = l->off_d;
	l->fl.slot = l->slot_d;
	l->fl.count = l->count_d;
	l->fl.nseg = 1;
	l->fl.seg_cap = n;
}

static void locality_experiment(const unsigned char *pool_h, const void *pool_d, uint64_t pool_rows,
				unsigned char *hot_d)
{
	const uint32_t n = 64 * 204;
	unsigned char *same_d;
	CK(cudaMalloc(&same_d, (uint64_t)n * ROW));
	const double same = gbs((uint64_t)n * ROW, median_ms([&](int) { CK(cudaMemcpyAsync(same_d, pool_h, (uint64_t)n * ROW, cudaMemcpyHostToDevice, bs)); }));
	printf("## Experiment: SM gather against host-address locality (%u rows, %.1f MB; bulk same bytes %.1f GB/s)\n\n",
	       n, n * ROW / 1e6, same);
	printf("| row stride | span MB | lines layout GB/s | x same bytes | flat layout GB/s | scatter (lines) GB/s |\n|---|---|---|---|---|---|\n");
	for (uint64_t stride : {1ull, 2ull, 3ull, 7ull, 25ull, 100ull, 400ull}) {
		struct dlist lists[NLISTS];
		for (int i = 0; i < NLISTS; i++)
			make_strided(&lists[i], n, stride, pool_rows);
		const uint64_t bytes = (uint64_t)n * ROW;
		struct ess_fetch_tune tl = {0, 0, 0, ESS_FETCH_LAYOUT_LINES}, tf = {0, 0, 0, ESS_FETCH_LAYOUT_FLAT};
		double gl = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_gather(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tl, bs)); }));
		double gf = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_gather(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tf, bs)); }));
		double sl = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_scatter((void *)pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tl, bs)); }));
		printf("| %llu | %.1f | %.1f | %.2f | %.1f | %.1f |\n", (unsigned long long)stride, n * stride * ROW / 1e6,
		       gl, gl / same, gf, sl);
		fflush(stdout);
		free_lists(lists);
	}
	CK(cudaFree(same_d));
}

/* ---- experiment: write-combined host pool ----
 * The same rows in a second pool allocated write-combined
 * (cudaHostAllocWriteCombined): such memory is not cached by the CPU, so
 * the GPU's PCIe reads of it need no snoop of the CPU caches.  Bulk
 * copies and the SM gather / scatter of both pools side by side, and every
 * row of one gather from the write-combined pool checked.
 * (ess-bench-fetch POOL REPS wc) */
static void wc_experiment(const unsigned char *pool_h, const void *pool_d, uint64_t pool_bytes,
			  unsigned char *hot_d)
{
	const uint64_t pool_rows = pool_bytes / ROW;
	unsigned char *wc_h;
	void *wc_d;
	CK(cudaHostAlloc((void **)&wc_h, pool_bytes, cudaHostAllocMapped | cudaHostAllocWriteCombined));
	CK(cudaHostGetDevicePointer(&wc_d, wc_h, 0));
	memcpy(wc_h, pool_h, pool_bytes);
	const uint64_t bulk = 1ull << 30;
	unsigned char *bulk_d;
	CK(cudaMalloc(&bulk_d, bulk));
	double h2d[2], d2h[2];
	const unsigned char *src[2] = {pool_h, wc_h};
	for (int k = 0; k < 2; k++) {
		h2d[k] = gbs(bulk, median_ms([&](int) { CK(cudaMemcpyAsync(bulk_d, src[k], bulk, cudaMemcpyHostToDevice, bs)); }));
		d2h[k] = gbs(bulk, median_ms([&](int) { CK(cudaMemcpyAsync((void *)(src[k] + bulk), bulk_d, bulk, cudaMemcpyDeviceToHost, bs)); }));
	}
	/* the D2H copies wrote over the second GiB: make the pools equal again */
	memcpy(wc_h + bulk, pool_h + bulk, bulk);
	printf("## Experiment: write-combined host pool (batch 64)\n\n");
	printf("| pool | bulk 1 GiB H2D GB/s | bulk 1 GiB D2H GB/s |\n|---|---|---|\n");
	printf("| cached (cudaHostAllocMapped) | %.1f | %.1f |\n| write-combined | %.1f | %.1f |\n\n",
	       h2d[0], d2h[0], h2d[1], d2h[1]);
	printf("| miss %% | rows | MB | gather cached GB/s | x bulk | gather WC GB/s | x bulk (WC) | scatter cached GB/s | x bulk | scatter WC GB/s | x bulk (WC) | WC rows wrong |\n"
	       "|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	struct ess_fetch_tune tu = {0, 0, 0, 0};
	for (uint32_t rate : {5u, 10u, 20u}) {
		const uint32_t miss = TOPK * rate / 100;
		struct dlist lists[NLISTS];
		make_lists(lists, 64, miss, pool_rows, 0);
		const uint64_t bytes = (uint64_t)lists[0].n * ROW;
		double g[2], s[2];
		const void *dev[2] = {pool_d, wc_d};
		for (int k = 0; k < 2; k++) {
			g[k] = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_gather(dev[k], hot_d, ROW, &lists[i % NLISTS].fl, &tu, bs)); }));
			s[k] = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_scatter((void *)dev[k], hot_d, ROW, &lists[i % NLISTS].fl, &tu, bs)); }));
		}
		/* the scatters wrote hot rows into both pools: restore the
		 * rows of list 0 in the WC pool from the cached one first */
		CK(cudaStreamSynchronize(bs));
		for (uint32_t i = 0; i < lists[0].n; i++)
			memcpy(wc_h + lists[0].off[i], pool_h + lists[0].off[i], ROW);
		CK(cudaMemsetAsync(hot_d, 0x5c, 64ull * SLOTS * ROW, bs));
		CR(ess_cuda_gather(wc_d, hot_d, ROW, &lists[0].fl, &tu, bs));
		const uint32_t wrong = rows_wrong(&lists[0], hot_d, pool_h);
		printf("| %u | %u | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f | %.2f | %.1f | %.2f | %u |\n", rate, lists[0].n,
		       bytes / 1e6, g[0], g[0] / h2d[0], g[1], g[1] / h2d[0], s[0], s[0] / d2h[0], s[1], s[1] / d2h[0], wrong);
		fflush(stdout);
		free_lists(lists);
	}
	CK(cudaFree(bulk_d));
	CK(cudaFreeHost(wc_h));
}

int main(int argc, char **argv)
{
	const uint64_t pool_gib = argc > 1 ? strtoull(argv[1], NULL, 0) : 4;
	if (argc > 2)
		reps = atoi(argv[2]);
	const bool manage_only = argc > 3 && strcmp(argv[3], "manage") == 0;
	if (argc > 4 || (argc > 3 && !manage_only && strcmp(argv[3], "bulk") && strcmp(argv[3], "locality") &&
				      strcmp(argv[3], "wc"))) {
		fprintf(stderr, "usage: ess-bench-fetch [pool_GiB] [reps] [manage|bulk|locality|wc]\n");
		return 2;
	}
	/* the full table copies 1 GiB back at 1 GiB into the pool and lists'
	 * bytes at 2 GiB; wc copies 1 GiB back at 1 GiB */
	const bool big = argc <= 3 || strcmp(argv[3], "wc") == 0;
	if (pool_gib < (big ? 3u : 1u) || pool_gib > 1024 || reps < 1 || reps > 1000) {
		fprintf(stderr, "ess-bench-fetch: pool_GiB must be %u to 1024 for %s, reps 1 to 1000 "
			"(got %llu, %d)\n", big ? 3u : 1u, argc > 3 ? argv[3] : "the full table",
			(unsigned long long)pool_gib, reps);
		return 2;
	}
	int dev = 0, drv = 0, rt = 0;
	cudaDeviceProp prop;
	if (cudaGetDeviceProperties(&prop, dev) != cudaSuccess) {
		printf("ess-bench fetch: no CUDA device\n");
		return 0;
	}
	cudaDriverGetVersion(&drv);
	cudaRuntimeGetVersion(&rt);
	CK(cudaEventCreate(&ev0));
	CK(cudaEventCreate(&ev1));
	CK(cudaStreamCreateWithFlags(&bs, cudaStreamNonBlocking));
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));

	const uint64_t pool_bytes = pool_gib << 30;
	const uint64_t pool_rows = pool_bytes / ROW;
	unsigned char *pool_h;
	CK(cudaHostAlloc((void **)&pool_h, pool_bytes, cudaHostAllocMapped));
	for (uint64_t i = 0; i < pool_bytes / 8; i++)
		((uint64_t *)pool_h)[i] = i * 0x9E3779B97F4A7C15ull;
	void *pool_d;
	CK(cudaHostGetDevicePointer(&pool_d, pool_h, 0));
	const uint32_t maxbatch = 128;
	unsigned char *hot_d;
	CK(cudaMalloc(&hot_d, (uint64_t)maxbatch * SLOTS * ROW));
	CK(cudaMemset(hot_d, 0x11, (uint64_t)maxbatch * SLOTS * ROW));

	printf("# ess-bench fetch\n\n");
	printf("- card: %s (%d SMs, L2 %d MB), CUDA driver %d, runtime %d\n", prop.name,
	       prop.multiProcessorCount, prop.l2CacheSize >> 20, drv, rt);
	printf("- date: %s; host pool %llu GiB pinned (cudaHostAlloc), rows %u B, top-k %u, "
	       "%u slots per request; medians of %d runs\n\n",
	       date, (unsigned long long)pool_gib, ROW, TOPK, SLOTS, reps);

	double h2d = 0, d2h = 0;
	unsigned char *same_d = NULL;
	if (argc > 3 && strcmp(argv[3], "locality") == 0) {
		locality_experiment(pool_h, pool_d, pool_rows, hot_d);
		return 0;
	}
	if (argc > 3 && strcmp(argv[3], "wc") == 0) {
		wc_experiment(pool_h, pool_d, pool_bytes, hot_d);
		return 0;
	}
	if (argc > 3 && strcmp(argv[3], "bulk") == 0) {
		bulk_experiment(pool_h, pool_d, pool_rows, hot_d);
		return 0;
	}
	if (manage_only)
		goto manage;
	{
	/* bulk */
	const uint64_t bulk = 1ull << 30;
	unsigned char *bulk_d;
	CK(cudaMalloc(&bulk_d, bulk));
	h2d = gbs(bulk, median_ms([&](int) { CK(cudaMemcpyAsync(bulk_d, pool_h, bulk, cudaMemcpyHostToDevice, bs)); }));
	d2h = gbs(bulk, median_ms([&](int) { CK(cudaMemcpyAsync(pool_h + bulk, bulk_d, bulk, cudaMemcpyDeviceToHost, bs)); }));
	CK(cudaFree(bulk_d));
	printf("| bulk pinned cudaMemcpy 1 GiB | H2D %.1f GB/s | D2H %.1f GB/s |\n|---|---|---|\n\n", h2d, d2h);

	/* tuning sweep at batch 64, 10% misses */
	printf("## SM gather tuning (batch 64, 10%% misses = 205 rows/request, %u rows, sorted)\n\n",
	       64 * 205);
	printf("layout: flat = rows back to back, lines = each host 128-B line read by one instruction, "
	       "whole = lines, reading whole lines (cuda/fetch.cu)\n\n");
	printf("| layout | load hint | loads in flight/thread | blocks | gather GB/s | x bulk H2D | scatter GB/s | x bulk D2H |\n|---|---|---|---|---|---|---|---|\n");
	struct dlist lists[NLISTS];
	make_lists(lists, 64, 205, pool_rows, 0);
	struct cfg { uint32_t l, h, u, b; };
	std::vector<cfg> cfgs;
	for (uint32_t l : {1u, 2u, 3u})
		for (uint32_t u : {4u, 8u, 16u})
			for (uint32_t bl : {16u, 33u, 66u, 132u})
				cfgs.push_back({l, 0, u, bl});
	cfgs.push_back({1, 1, 8, 66});
	cfgs.push_back({1, 2, 8, 66});
	static const char *const lname[] = {"default", "flat", "lines", "whole"};
	for (const cfg &c : cfgs) {
		struct ess_fetch_tune tu = {c.b, c.u, c.h, c.l};
		const uint64_t bytes = (uint64_t)lists[0].n * ROW;
		double g = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_gather(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tu, bs)); }));
		double s = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_scatter(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tu, bs)); }));
		printf("| %s | %u | %u | %u | %.1f | %.2f | %.1f | %.2f |\n", lname[c.l], c.h, c.u, c.b, g, g / h2d, s, s / d2h);
	}
	free_lists(lists);
	printf("\n");

	/* main table */
	printf("## Fetch by batch and miss rate (SM path with the library's defaults; copy engine)\n\n");
	printf("x bulk: against the 1 GiB bulk copy above; bulk same bytes: one cudaMemcpy of the list's total bytes.\n\n");
	printf("| batch | miss %% | rows | MB | bulk same bytes H2D GB/s | bulk same bytes D2H GB/s | SM gather GB/s | x bulk | x same bytes | SM scatter GB/s | x bulk | x same bytes | flat layout gather / scatter GB/s | CE gather GB/s (copies) | CE gather, sequential slots GB/s (copies) |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	const uint32_t batches[] = {16, 64, 128};
	const uint32_t rates[] = {5, 10, 20};
	struct ess_fetch_tune tu = {0, 0, 0, 0};
	CK(cudaMalloc(&same_d, (uint64_t)128 * TOPK * ROW));
	for (uint32_t bt : batches)
		for (uint32_t rate : rates) {
			const uint32_t miss = TOPK * rate / 100;
			make_lists(lists, bt, miss, pool_rows, 0);
			const uint64_t bytes = (uint64_t)lists[0].n * ROW;
			double g = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_gather(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tu, bs)); }));
			double s = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_scatter(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tu, bs)); }));
			double same = gbs(bytes, median_ms([&](int) { CK(cudaMemcpyAsync(same_d, pool_h, bytes, cudaMemcpyHostToDevice, bs)); }));
			double same2 = gbs(bytes, median_ms([&](int) { CK(cudaMemcpyAsync(pool_h + (2ull << 30), same_d, bytes, cudaMemcpyDeviceToHost, bs)); }));
			struct ess_fetch_tune tf = {0, 0, 0, ESS_FETCH_LAYOUT_FLAT};
			double gf = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_gather(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tf, bs)); }));
			double sf = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_scatter(pool_d, hot_d, ROW, &lists[i % NLISTS].fl, &tf, bs)); }));
			uint32_t nc = 0, nc2 = 0;
			double ce = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_copy_ce(pool_h, hot_d, ROW, lists[i % NLISTS].off.data(), lists[i % NLISTS].slot.data(), lists[i % NLISTS].n, 0, &nc, bs)); }));
			free_lists(lists);
			make_lists(lists, bt, miss, pool_rows, 1);
			double ce2 = gbs(bytes, median_ms([&](int i) { CR(ess_cuda_copy_ce(pool_h, hot_d, ROW, lists[i % NLISTS].off.data(), lists[i % NLISTS].slot.data(), lists[i % NLISTS].n, 0, &nc2, bs)); }));
			free_lists(lists);
			printf("| %u | %u | %u | %.1f | %.1f | %.1f | %.1f | %.2f | %.2f | %.1f | %.2f | %.2f | %.1f / %.1f | %.2f (%u) | %.2f (%u) |\n", bt, rate,
			       bt * miss, bytes / 1e6, same, same2, g, g / h2d, g / same, s, s / d2h, s / same2, gf, sf, ce, nc, ce2, nc2);
			fflush(stdout);
		}

	}
manage:
	printf("\n## Management kernel per layer (top-k %u, %u slots, LRU, synthetic stream, 18 timed steps)\n\n", TOPK, SLOTS);
	printf("manage: the kernel the launcher picks with the token -> slot map and the kept LRU order, as the CUDA backend runs it "
	       "(the order kernel: one block per request, victims the first entries of the order not hit); "
	       "map, no order: the launcher's choice with the map alone (a cluster of 4 while 4 x batch fits the SMs, of 2 while 2 x batch does, else one block), "
	       "hits looked up in the map; "
	       "hashed: the same without the map (every row hashed against the slots); "
	       "the other columns run with the map and no order: "
	       "radix only: ESS_MANAGE_RADIX_ONLY (victims by radix select, not the LRU histogram); "
	       "one block, cluster 2, cluster 4: that many blocks per request forced (clusters beyond what fits at once run in waves; "
	       "one block hashes and keeps the map); "
	       "match_any: the cluster kernel's LRU histogram by one shared atomic per bucket and warp (match_any) instead of per slot; "
	       "fill own: ESS_MANAGE_FILL_OWN (with counted victim places each block fills its own victims).\n\n");
	printf("| batch | target miss %% | seen miss %% | manage us/layer | manage + fetch us/layer | fetch GB/s within | map, no order: manage us/layer "
	       "| hashed | radix only | one block | cluster 2 | cluster 4 | match_any | fill own |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
	const uint32_t mb[] = {16, 64, 128};
	const double mr[] = {0.05, 0.10, 0.20};
	const bool one = getenv("ESS_BENCH_ONE") != NULL;	/* batch 64, 10% only */
	for (uint32_t bt : mb)
		for (double r : mr) {
			if (one && (bt != 64 || r != 0.10))
				continue;
			double m1, m2, seen, fg, p1, h1, r2, rseen, rfg;
			mbench_run(bt, r, pool_d, pool_rows, 0, MB_ORDER, &m1, &m2, &seen, &fg);
			mbench_run(bt, r, pool_d, pool_rows, 0, MB_MAP, &p1, &r2, &rseen, &rfg);
			mbench_run(bt, r, pool_d, pool_rows, 0, MB_HASHED, &h1, &r2, &rseen, &rfg);
			double f1[6];
			const uint32_t ff[6] = {ESS_MANAGE_RADIX_ONLY, ESS_MANAGE_ONE_BLOCK, ESS_MANAGE_CLUSTER2,
						ESS_MANAGE_CLUSTER4, ESS_MANAGE_HIST_MATCH, ESS_MANAGE_FILL_OWN};
			for (int q = 0; q < 6; q++)
				mbench_run(bt, r, pool_d, pool_rows, ff[q], MB_MAP, &f1[q], &r2, &rseen, &rfg);
			printf("| %u | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |\n", bt, r * 100,
			       seen * 100, m1 * 1000, m2 * 1000, fg, p1 * 1000, h1 * 1000, f1[0] * 1000, f1[1] * 1000, f1[2] * 1000,
			       f1[3] * 1000, f1[4] * 1000, f1[5] * 1000);
			fflush(stdout);
		}
	printf("\nLaunch floor (an empty kernel of the same shape, 18 launches in a graph, us per launch): "
	       "batch 64, clusters of 2, 160 KiB shared: %.1f; batch 64, one block, 220 KiB: %.1f; "
	       "batch 16, clusters of 4, 160 KiB: %.1f\n",
	       launch_floor_us(64, 2, 160u << 10), launch_floor_us(64, 1, 220u << 10),
	       launch_floor_us(16, 4, 160u << 10));
	CK(cudaFree(same_d));
	CK(cudaFreeHost(pool_h));
	CK(cudaFree(hot_d));
	return 0;
}
