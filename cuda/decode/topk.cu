// SPDX-License-Identifier: MIT
/*
 * Top-k of the indexer scores by radix select: one block per request finds
 * the k-th largest score in four passes of 8-bit histograms over the
 * order-preserving integer image of the floats, then writes every token
 * above that threshold and as many at it as k still needs.  Five reads of
 * the request's scores; no sort (attention does not need the order).
 */
#include <errno.h>

#include "decode.h"

#define TOPK_THREADS 1024

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
	const uint32_t b = blockIdx.x, tid = threadIdx.x;
	const uint32_t n = ntok[b] < cap ? ntok[b] : cap;
	const uint32_t want = n < k ? n : k;
	const float *sb = score + (size_t)b * cap;
	int32_t *ib = idx + (size_t)b * k;
	for (uint32_t j = want + tid; j < k; j += blockDim.x)
		ib[j] = -1;
	if (!want)
		return;
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
		for (uint32_t i = tid; i < n; i += blockDim.x) {
			const uint32_t u = order_key(sb[i]);
			if ((u & mask) == pre)
				atomicAdd(&hist[(u >> shift) & 255u], 1u);
		}
		__syncthreads();
		if (tid == 0) {
			uint32_t cum = 0, nd = need;
			for (int bin = 255; bin >= 0; bin--) {
				if (cum + hist[bin] >= nd) {
					prefix = pre | ((uint32_t)bin << shift);
					need = nd - cum;
					break;
				}
				cum += hist[bin];
			}
		}
		mask |= 255u << shift;
		__syncthreads();
	}
	/* prefix is now the k-th largest key; `need` of the keys equal to it
	 * are taken, after the want - need keys above it */
	const uint32_t thr = prefix, eq_take = need, gt_total = want - need;
	for (uint32_t i = tid; i < n; i += blockDim.x) {
		const uint32_t u = order_key(sb[i]);
		if (u > thr) {
			ib[atomicAdd(&cgt, 1u)] = (int32_t)i;
		} else if (u == thr) {
			const uint32_t e = atomicAdd(&ceq, 1u);
			if (e < eq_take)
				ib[gt_total + e] = (int32_t)i;
		}
	}
}

int dec_topk(const float *score, const uint32_t *ntok, uint32_t batch, uint32_t cap, uint32_t k,
	     int32_t *idx, cudaStream_t s)
{
	if (!score || !ntok || !idx || !batch || !cap || !k || k > DEC_TOPK)
		return -EINVAL;
	topk_kernel<<<batch, TOPK_THREADS, 0, s>>>(score, ntok, cap, k, idx);
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}
