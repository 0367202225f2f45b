// SPDX-License-Identifier: MIT
/*
 * Cache contents and the new token's row.  A row's bytes are a hash of
 * (layer, request, token), so every copy of a row (the baseline's HBM
 * cache, ESS's host pool, the hot buffer after a fetch) is the same and the
 * two sides' attention outputs can be compared exactly.  FP8 bytes are
 * masked with 0xbf (exponent field <= 7): finite values below 2 in
 * magnitude, never NaN; scales lie in [0.5, 1.5).
 */
#include <errno.h>

#include <cuda_bf16.h>

#include "decode.h"

static __device__ __forceinline__ uint32_t mix(uint32_t layer, uint32_t b, uint32_t t, uint32_t w)
{
	uint64_t x = ((uint64_t)layer << 56) ^ ((uint64_t)b << 36) ^ ((uint64_t)t << 8) ^ w;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static __device__ __forceinline__ float unit(uint32_t h)
{
	return (float)(h >> 8) * (1.0f / 16777216.0f);	/* [0, 1) */
}

/* One 656-B row (and the 132-B key when key != NULL), by 32 lanes. */
static __device__ void make_row(uint8_t *row, uint8_t *key, uint32_t layer, uint32_t b,
				uint32_t t, uint32_t lane)
{
	if (row) {
		uint32_t *r32 = reinterpret_cast<uint32_t *>(row);
		for (uint32_t w = lane; w < DEC_ROW_SCALES / 4; w += 32)
			r32[w] = mix(layer, b, t, w) & 0xbfbfbfbfu;
		if (lane < 4)
			reinterpret_cast<float *>(row + DEC_ROW_SCALES)[lane] =
				0.5f + unit(mix(layer, b, t, 200 + lane));
		uint16_t *rope = reinterpret_cast<uint16_t *>(row + DEC_ROW_ROPE);
		for (uint32_t d = lane; d < DEC_ROPE; d += 32)
			rope[d] = __bfloat16_as_ushort(
				__float2bfloat16(2.f * unit(mix(layer, b, t, 300 + d)) - 1.f));
	}
	if (key) {
		uint32_t *k32 = reinterpret_cast<uint32_t *>(key);
		k32[lane] = mix(layer, b, t, 400 + lane) & 0xbfbfbfbfu;
		if (lane == 0)
			reinterpret_cast<float *>(key + DEC_IDX_DIM)[0] = 0.5f + unit(mix(layer, b, t, 500));
	}
}

__global__ void fill_kernel(uint8_t *rows, uint8_t *keys, uint32_t layer, uint32_t batch,
			    uint32_t cap, uint32_t n)
{
	const uint32_t lane = threadIdx.x & 31;
	const uint64_t total = (uint64_t)batch * n;
	for (uint64_t i = (blockIdx.x * (uint64_t)blockDim.x + threadIdx.x) / 32; i < total;
	     i += (uint64_t)gridDim.x * blockDim.x / 32) {
		const uint32_t b = (uint32_t)(i / n), t = (uint32_t)(i % n);
		const uint64_t r = (uint64_t)b * cap + t;
		make_row(rows ? rows + r * DEC_ROW : nullptr, keys ? keys + r * DEC_KEY : nullptr,
			 layer, b, t, lane);
	}
}

__global__ void new_rows_kernel(uint8_t *stage, uint8_t *keys, uint8_t *cache, uint32_t layer,
				const uint32_t *pos, uint32_t batch, uint32_t cap)
{
	const uint32_t b = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
	if (b >= batch)
		return;
	const uint32_t t = pos[b];
	if (t >= cap)
		return;		/* the caller checked; never write out of range */
	const uint64_t r = (uint64_t)b * cap + t;
	make_row(stage + (size_t)b * DEC_ROW, keys + r * DEC_KEY, layer, b, t, lane);
	if (cache) {
		__syncwarp();
		for (uint32_t w = lane; w < DEC_ROW / 4; w += 32)
			reinterpret_cast<uint32_t *>(cache + r * DEC_ROW)[w] =
				reinterpret_cast<const uint32_t *>(stage + (size_t)b * DEC_ROW)[w];
	}
}

int dec_fill_rows(uint8_t *rows, uint8_t *keys, uint32_t layer, uint32_t batch, uint32_t cap,
		  uint32_t n, cudaStream_t s)
{
	if ((!rows && !keys) || !batch || !cap || n > cap)
		return -EINVAL;
	if (!n)
		return 0;
	const uint64_t warps = (uint64_t)batch * n;
	const uint32_t blocks = warps / 8 + 1 > 4096 ? 4096 : (uint32_t)(warps / 8 + 1);
	fill_kernel<<<blocks, 256, 0, s>>>(rows, keys, layer, batch, cap, n);
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}

int dec_new_rows(uint8_t *stage, uint8_t *keys, uint8_t *cache, uint32_t layer,
		 const uint32_t *pos, uint32_t batch, uint32_t cap, cudaStream_t s)
{
	if (!stage || !keys || !pos || !batch || !cap)
		return -EINVAL;
	new_rows_kernel<<<(batch + 7) / 8, 256, 0, s>>>(stage, keys, cache, layer, pos, batch, cap);
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}

/* Spin on the global timer: sleep-free, so the SMs are really busy. */
__global__ void spin_kernel(uint64_t ns)
{
	uint64_t t0, t;
	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
	do {
		asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	} while (t - t0 < ns);
}

/* Queries: indexer q (fp8) and head weights, attention q (bf16), from seed. */
__global__ void fill_q_kernel(uint8_t *qi, float *w, uint16_t *q, uint32_t batch, uint32_t seed)
{
	const uint64_t nqi = (uint64_t)batch * DEC_IDX_HEADS * DEC_IDX_DIM / 4;
	const uint64_t nq = (uint64_t)batch * DEC_HEADS * DEC_QK;
	const uint64_t step = (uint64_t)gridDim.x * blockDim.x;
	for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < nqi; i += step)
		reinterpret_cast<uint32_t *>(qi)[i] = mix(seed, 1, (uint32_t)(i >> 20), (uint32_t)i) & 0xbfbfbfbfu;
	for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < (uint64_t)batch * DEC_IDX_HEADS;
	     i += step)
		w[i] = unit(mix(seed, 2, 0, (uint32_t)i)) / DEC_IDX_HEADS;
	for (uint64_t i = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; i < nq; i += step)
		q[i] = __bfloat16_as_ushort(
			__float2bfloat16(2.f * unit(mix(seed, 3, (uint32_t)(i >> 24), (uint32_t)i)) - 1.f));
}

int dec_fill_q(uint8_t *qi, float *w, uint16_t *q, uint32_t batch, uint32_t seed, cudaStream_t s)
{
	if (!qi || !w || !q || !batch)
		return -EINVAL;
	fill_q_kernel<<<1024, 256, 0, s>>>(qi, w, q, batch, seed);
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}

int dec_spin(uint64_t ns, uint32_t blocks, cudaStream_t s)
{
	if (!blocks)
		return -EINVAL;
	if (!ns)
		return 0;
	spin_kernel<<<blocks, 1024, 0, s>>>(ns);
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}
