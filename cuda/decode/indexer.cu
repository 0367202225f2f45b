// SPDX-License-Identifier: MIT
/*
 * The DSA indexer's scan: one score per cached token from its 132-byte key
 * (128 x fp8 e4m3 + fp32 scale) and the request's 64 indexer query heads.
 * A warp takes 16 tokens at a time and multiplies them by all 64 heads on
 * the FP8 tensor cores (mma m16n8k32: tokens x dims by dims x heads), then
 * folds the heads with their weights and the ReLU, as DeepSeek's
 * fp8_mqa_logits does.  The query fragments stay in registers for the
 * whole scan, so the keys are the only memory traffic.
 */
#include <errno.h>
#include <math.h>

#include "decode.h"

#define IDX_WARPS 8
#define IDX_GRID_BLOCKS 1056	/* 132 SMs x 2 resident blocks x 4 waves */
#define IDX_STAGES 3		/* tiles in flight per warp */
#define IDX_TILE_BYTES (16 * DEC_KEY)	/* 16 tokens' keys, contiguous: 2112 B */
#define IDX_SMEM (IDX_WARPS * IDX_STAGES * IDX_TILE_BYTES)

static __device__ __forceinline__ uint32_t ld32(const uint8_t *p)
{
	return *reinterpret_cast<const uint32_t *>(p);
}

static __device__ __forceinline__ void mma_e4m3(float *c, uint32_t a0, uint32_t a1, uint32_t a2,
						uint32_t a3, uint32_t b0, uint32_t b1)
{
	asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
		     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/*
 * Start the copy of the keys of tokens tile .. tile+15 (those below cap)
 * into a warp's stage, by coalesced 16-byte pieces, and close the group
 * (an empty group past the end keeps the count of groups regular).
 */
static __device__ __forceinline__ void idx_issue(uint8_t *stage, const uint8_t *kb, uint32_t tile,
						 uint32_t cap, uint32_t lane)
{
	if (tile < cap) {
		const uint32_t rows = cap - tile < 16 ? cap - tile : 16;
		const uint32_t pieces = rows * DEC_KEY / 16;	/* cap % 4 == 0 */
		const uint8_t *src = kb + (size_t)tile * DEC_KEY;
		for (uint32_t c = lane; c < pieces; c += 32) {
			const uint32_t d = (uint32_t)__cvta_generic_to_shared(stage + 16 * c);
			asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(d),
				     "l"(src + 16 * c));
		}
	}
	asm volatile("cp.async.commit_group;\n" ::);
}

__global__ void __launch_bounds__(IDX_WARPS * 32, 2)
indexer_kernel(const uint8_t *__restrict__ keys, const uint8_t *__restrict__ q,
	       const float *__restrict__ w, const uint32_t *__restrict__ ntok, uint32_t cap,
	       float *__restrict__ score)
{
	extern __shared__ __align__(16) uint8_t idx_smem[];
	const uint32_t b = blockIdx.y;
	const uint32_t lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
	const uint32_t g = lane >> 2, t4 = lane & 3;
	const uint8_t *qb = q + (size_t)b * DEC_IDX_HEADS * DEC_IDX_DIM;
	const uint32_t n = ntok[b] < cap ? ntok[b] : cap;
	const uint8_t *kb = keys + (size_t)b * cap * DEC_KEY;
	float *sb = score + (size_t)b * cap;
	/* this warp's tiles: first, first + stride, ... */
	const uint32_t first = (blockIdx.x * IDX_WARPS + warp) * 16;
	const uint32_t stride = gridDim.x * IDX_WARPS * 16;
	uint8_t *stages = idx_smem + warp * IDX_STAGES * IDX_TILE_BYTES;
	/* the keys start moving before the query fragments are read */
#pragma unroll
	for (int k = 0; k < IDX_STAGES - 1; k++)
		idx_issue(stages + k * IDX_TILE_BYTES, kb, first + k * stride, cap, lane);
	/* B fragments (dims x heads): head nt*8+g, dims ks*32 + t4*4 (+16) */
	uint32_t bq[8][4][2];
	/* head weights in shared memory: registers go to the fragments, and
	 * two blocks fit an SM */
	__shared__ float wh[DEC_IDX_HEADS];
	for (uint32_t h = threadIdx.x; h < DEC_IDX_HEADS; h += blockDim.x)
		wh[h] = w[b * DEC_IDX_HEADS + h];
	__syncthreads();
#pragma unroll
	for (int nt = 0; nt < 8; nt++) {
		const uint8_t *qh = qb + (nt * 8 + g) * DEC_IDX_DIM;
#pragma unroll
		for (int ks = 0; ks < 4; ks++) {
			bq[nt][ks][0] = ld32(qh + ks * 32 + t4 * 4);
			bq[nt][ks][1] = ld32(qh + ks * 32 + 16 + t4 * 4);
		}
	}
	uint32_t st = 0;
	for (uint32_t tile = first; tile < cap; tile += stride) {
		/* the tile IDX_STAGES - 1 ahead goes into the stage freed last time */
		const uint32_t ahead = (st + IDX_STAGES - 1) % IDX_STAGES;
		idx_issue(stages + ahead * IDX_TILE_BYTES, kb, tile + (IDX_STAGES - 1) * stride, cap, lane);
		asm volatile("cp.async.wait_group %0;\n" ::"n"(IDX_STAGES - 1));
		__syncwarp();
		const uint8_t *kt = stages + st * IDX_TILE_BYTES;
		const uint32_t r0 = tile + g, r1 = tile + g + 8;
		const bool v0 = r0 < n, v1 = r1 < n;
		const uint8_t *k0 = kt + g * DEC_KEY, *k1 = kt + (g + 8) * DEC_KEY;
		float acc[8][4];
#pragma unroll
		for (int nt = 0; nt < 8; nt++)
			acc[nt][0] = acc[nt][1] = acc[nt][2] = acc[nt][3] = 0.f;
#pragma unroll
		for (int ks = 0; ks < 4; ks++) {
			const uint32_t a0 = v0 ? ld32(k0 + ks * 32 + t4 * 4) : 0;
			const uint32_t a1 = v1 ? ld32(k1 + ks * 32 + t4 * 4) : 0;
			const uint32_t a2 = v0 ? ld32(k0 + ks * 32 + 16 + t4 * 4) : 0;
			const uint32_t a3 = v1 ? ld32(k1 + ks * 32 + 16 + t4 * 4) : 0;
#pragma unroll
			for (int nt = 0; nt < 8; nt++)
				mma_e4m3(acc[nt], a0, a1, a2, a3, bq[nt][ks][0], bq[nt][ks][1]);
		}
		/* accumulator columns of this lane: heads nt*8 + t4*2 + {0,1} */
		float s0 = 0.f, s1 = 0.f;
#pragma unroll
		for (int nt = 0; nt < 8; nt++) {
			const float w0 = wh[nt * 8 + t4 * 2], w1 = wh[nt * 8 + t4 * 2 + 1];
			s0 += w0 * fmaxf(acc[nt][0], 0.f) + w1 * fmaxf(acc[nt][1], 0.f);
			s1 += w0 * fmaxf(acc[nt][2], 0.f) + w1 * fmaxf(acc[nt][3], 0.f);
		}
		s0 += __shfl_xor_sync(0xffffffffu, s0, 1);
		s0 += __shfl_xor_sync(0xffffffffu, s0, 2);
		s1 += __shfl_xor_sync(0xffffffffu, s1, 1);
		s1 += __shfl_xor_sync(0xffffffffu, s1, 2);
		if (t4 == 0) {
			if (r0 < cap)
				sb[r0] = v0 ? s0 * *reinterpret_cast<const float *>(k0 + DEC_IDX_DIM)
					    : -INFINITY;
			if (r1 < cap)
				sb[r1] = v1 ? s1 * *reinterpret_cast<const float *>(k1 + DEC_IDX_DIM)
					    : -INFINITY;
		}
		__syncwarp();	/* the stage is read before it is refilled */
		st = (st + 1) % IDX_STAGES;
	}
	asm volatile("cp.async.wait_group 0;\n" ::);
}

int dec_indexer(const uint8_t *keys, const uint8_t *q, const float *w, const uint32_t *ntok,
		uint32_t batch, uint32_t cap, float *score, cudaStream_t s)
{
	static bool attr_set;
	/* keys are copied by 16-byte pieces: cap % 4 keeps a request's keys
	 * (cap x 132 B) a multiple of 16 bytes */
	if (!keys || !q || !w || !ntok || !score || !batch || !cap || cap % 4 || batch > 65535 ||
	    ((uintptr_t)keys & 15))
		return -EINVAL;
	if (!attr_set) {
		/* once, before any capture: a function attribute, not stream work */
		if (cudaFuncSetAttribute(indexer_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
					 IDX_SMEM) != cudaSuccess)
			return -EIO;
		attr_set = true;
	}
	/*
	 * About four waves of blocks over the whole batch, each warp looping
	 * over many tiles: a warp loads the request's 8 KB of query fragments
	 * once, which must stay small against the 2 KB of keys per tile.
	 */
	const uint32_t tiles = (cap + 15) / 16;
	const uint32_t most = (tiles + IDX_WARPS - 1) / IDX_WARPS;
	uint32_t gx = (IDX_GRID_BLOCKS + batch - 1) / batch;
	if (gx > most)
		gx = most;
	if (gx > 1024)
		gx = 1024;
	indexer_kernel<<<dim3(gx, batch), IDX_WARPS * 32, IDX_SMEM, s>>>(keys, q, w, ntok, cap, score);
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}
