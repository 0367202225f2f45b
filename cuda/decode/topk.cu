// SPDX-License-Identifier: MIT
/*
 * Top-k of the indexer scores by radix select: a cluster of blocks per
 * request (1 to 8, so that small batches still fill the GPU) finds the k-th
 * largest score in four passes of 8-bit histograms over the
 * order-preserving integer image of the floats, then writes every token
 * above that threshold and as many at it as k still needs.  Each block
 * scans its share of the request's scores; the blocks' histograms are
 * summed through distributed shared memory, so every block takes the same
 * decision without a trip through global memory.  Five reads of the
 * scores; no sort (attention does not need the order).
 */
#include <errno.h>

#include <cooperative_groups.h>

#include "cluster_config.h"
#include "decode.h"

namespace cg = cooperative_groups;

#define TOPK_THREADS	1024
#define TOPK_MAX_CLUSTER 8

static __device__ __forceinline__ uint32_t order_key(float f)
{
	const uint32_t u = __float_as_uint(f);
	return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

__global__ void __launch_bounds__(TOPK_THREADS)
topk_kernel(const float *__restrict__ score, const uint32_t *__restrict__ ntok, uint32_t cap,
	    uint32_t k, int32_t *__restrict__ idx)
{
	__shared__ uint32_t hist[256];
	__shared__ uint32_t prefix, need, cgt, ceq;
	cg::cluster_group cl = cg::this_cluster();
	const uint32_t csz = cl.num_blocks(), rank = cl.block_rank();
	const uint32_t b = blockIdx.x / csz, tid = threadIdx.x;
	const uint32_t n = ntok[b] < cap ? ntok[b] : cap;
	const uint32_t want = n < k ? n : k;
	const float *sb = score + (size_t)b * cap;
	int32_t *ib = idx + (size_t)b * k;
	if (rank == 0)
		for (uint32_t j = want + tid; j < k; j += blockDim.x)
			ib[j] = -1;
	if (!want)
		return;		/* the same for every block of the cluster */
	/* this block's quads of scores: [q_lo, q_hi) of the (n + 3) / 4 */
	const uint32_t quads = (n + 3) / 4, share = (quads + csz - 1) / csz;
	const uint32_t q_lo = rank * share < quads ? rank * share : quads;
	const uint32_t q_hi = q_lo + share < quads ? q_lo + share : quads;
	const float4 *s4 = reinterpret_cast<const float4 *>(sb);
	if (tid == 0) {
		prefix = 0;
		need = want;
		cgt = ceq = 0;
	}
	uint32_t mask = 0;
	for (int shift = 24; shift >= 0; shift -= 8) {
		for (uint32_t i = tid; i < 256; i += blockDim.x)
			hist[i] = 0;
		__syncthreads();
		const uint32_t pre = prefix;
		for (uint32_t j = q_lo + tid; j < q_hi; j += blockDim.x) {
			const float4 v = s4[j];
			const float f[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
			for (int e = 0; e < 4; e++) {
				const uint32_t u = order_key(f[e]);
				if (4 * j + e < n && (u & mask) == pre)
					atomicAdd(&hist[(u >> shift) & 255u], 1u);
			}
		}
		/* every block's histogram is complete; each block adds them all
		 * up in the same order and takes the same decision */
		cl.sync();
		if (tid < 32) {
			uint32_t cum = 0, nd = need, found = 0, nprefix = 0, nneed = 0;
			for (int bin0 = 255; bin0 >= 0 && !found; bin0 -= 32) {
				/* lanes take bins bin0 - lane, highest first */
				const int bin = bin0 - (int)tid;
				uint32_t c = 0;
				if (bin >= 0)
					for (uint32_t r = 0; r < csz; r++)
						c += cl.map_shared_rank(hist, r)[bin];
				/* inclusive prefix over the lanes, from the high bins down */
				uint32_t inc = c;
#pragma unroll
				for (int o = 1; o < 32; o <<= 1) {
					const uint32_t x = __shfl_up_sync(0xffffffffu, inc, o);
					if (tid >= (uint32_t)o)
						inc += x;
				}
				const uint32_t hit = __ballot_sync(0xffffffffu, bin >= 0 && cum + inc >= nd);
				if (hit) {
					const uint32_t l = __ffs(hit) - 1;
					const uint32_t inc_l = __shfl_sync(0xffffffffu, inc, l);
					const uint32_t c_l = __shfl_sync(0xffffffffu, c, l);
					nprefix = pre | ((uint32_t)(bin0 - (int)l) << shift);
					nneed = nd - (cum + inc_l - c_l);
					found = 1;
				} else {
					cum += __shfl_sync(0xffffffffu, inc, 31);
				}
			}
			__syncwarp();	/* every lane has read `need` */
			if (tid == 0) {
				prefix = nprefix;
				need = nneed;
			}
		}
		mask |= 255u << shift;
		/* no block clears its histogram while another still reads it */
		cl.sync();
	}
	/* prefix is now the k-th largest key; `need` of the keys equal to it
	 * are taken, after the want - need keys above it.  Positions come from
	 * the counters of the cluster's first block, one atomic per warp. */
	const uint32_t thr = prefix, eq_take = need, gt_total = want - need;
	uint32_t *gtc = cl.map_shared_rank(&cgt, 0), *eqc = cl.map_shared_rank(&ceq, 0);
	const uint32_t lane = tid & 31, below = (1u << lane) - 1;
	/* every lane of a warp runs the same iterations for the votes */
	for (uint32_t j0 = q_lo; j0 < q_hi; j0 += blockDim.x) {
		const uint32_t j = j0 + tid;
		float f[4] = {0.f, 0.f, 0.f, 0.f};
		if (j < q_hi) {
			const float4 v = s4[j];
			f[0] = v.x;
			f[1] = v.y;
			f[2] = v.z;
			f[3] = v.w;
		}
#pragma unroll
		for (int e = 0; e < 4; e++) {
			const uint32_t i = 4 * j + e;
			const uint32_t u = order_key(f[e]);
			const bool in = j < q_hi && i < n;
			const bool gt = in && u > thr, eq = in && u == thr;
			const uint32_t mg = __ballot_sync(0xffffffffu, gt);
			const uint32_t me = __ballot_sync(0xffffffffu, eq);
			uint32_t bg = 0, be = 0;
			if (lane == 0) {
				if (mg)
					bg = atomicAdd(gtc, (uint32_t)__popc(mg));
				if (me)
					be = atomicAdd(eqc, (uint32_t)__popc(me));
			}
			bg = __shfl_sync(0xffffffffu, bg, 0);
			be = __shfl_sync(0xffffffffu, be, 0);
			if (gt) {
				ib[bg + __popc(mg & below)] = (int32_t)i;
			} else if (eq) {
				const uint32_t x = be + __popc(me & below);
				if (x < eq_take)
					ib[gt_total + x] = (int32_t)i;
			}
		}
	}
	/* the first block's counters stay alive until every block is done */
	cl.sync();
}

static uint32_t topk_cluster(uint32_t batch)
{
	/* about two resident blocks per SM of an H100/H200 (132 SMs) */
	uint32_t c = TOPK_MAX_CLUSTER;
	while (c > 1 && batch * c > 264)
		c >>= 1;
	return c;
}

int dec_topk(const float *score, const uint32_t *ntok, uint32_t batch, uint32_t cap, uint32_t k,
	     int32_t *idx, cudaStream_t s)
{
	/* scores are read four at a time: cap % 4 keeps each row's quads whole */
	if (!score || !ntok || !idx || !batch || !cap || cap % 4 || !k || k > DEC_TOPK ||
	    ((uintptr_t)score & 15))
		return -EINVAL;
	const uint32_t c = topk_cluster(batch);
	if ((uint64_t)batch * c > 0x7fffffffu)
		return -EINVAL;
	cudaLaunchAttribute attr;
	cudaLaunchConfig_t cfg = ess_cluster_config(&attr, c, batch * c, TOPK_THREADS, 0, s);
	if (cudaLaunchKernelEx(&cfg, topk_kernel, score, ntok, cap, k, idx) != cudaSuccess)
		return -EIO;
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}
