// SPDX-License-Identifier: MIT
/*
 * Sparse MLA decode attention over the top-k latent rows (656-B FP8 format:
 * 512 fp8 e4m3 with one fp32 scale per 128, then 64 bf16 RoPE dims).
 *
 * One block per (request, 64 of the 128 heads, split of the k rows).  The
 * block keeps its 64 query heads in shared memory, copies 32 rows at a time
 * with cp.async into a raw buffer (the next tile lands while the current
 * one is computed), dequantises them to bf16 once (FlashMLA's FP8 path does
 * the same), and runs both products on the BF16 tensor cores (mma
 * m16n8k16, fragments by ldmatrix, transposed for V):
 *   scores: 8 warps = 4 head tiles x 2 halves of the 32 rows
 *   softmax: online, fp32, 4 threads per head
 *   P.V:    8 warps = 4 head tiles x 2 halves of the 512 output dims
 * Splits are combined by a second kernel (flash-decoding), so small batches
 * still fill the GPU.
 */
#include <errno.h>
#include <math.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "decode.h"

#define AT_HEADS	64		/* heads per block */
#define AT_TILE		32		/* rows per tile */
#define AT_THREADS	256
#define AT_QS		(DEC_QK + 8)	/* bf16 row stride of Q and K tiles */
#define AT_PS		(AT_TILE + 8)	/* bf16 row stride of P */
#define AT_SS		(AT_TILE + 1)	/* fp32 row stride of S */
#define AT_MAX_SPLIT	16
#define AT_CHUNKS	(DEC_ROW / 16)	/* 16-byte pieces of a row: 41 */

struct at_smem {
	uint16_t q[AT_HEADS * AT_QS];
	uint16_t k[AT_TILE * AT_QS];
	/* raw rows of the next tile(s), filled by cp.async while the current
	 * one is computed: loads stop being serial round trips */
	uint8_t raw[2][AT_TILE * DEC_ROW];
	float s[AT_HEADS * AT_SS];
	uint16_t p[AT_HEADS * AT_PS];
	float m[AT_HEADS], l[AT_HEADS], alpha[AT_HEADS];
	int valid[2][AT_TILE];
};

static uint32_t at_splits(uint32_t batch)
{
	/*
	 * One block fits an SM (shared memory), so the grid runs in waves of
	 * 132 on an H100/H200: as many splits as still fit one wave when the
	 * batch is small (a third wave of short blocks costs more than longer
	 * blocks in one), one split from 67 requests on.
	 */
	const uint32_t sp = 132 / (2 * batch);
	return sp < 1 ? 1 : sp > AT_MAX_SPLIT ? AT_MAX_SPLIT : sp;
}

size_t dec_attn_work_bytes(uint32_t batch)
{
	return (size_t)batch * DEC_HEADS * at_splits(batch) * (DEC_LATENT + 2) * sizeof(float);
}

static __device__ __forceinline__ void mma_bf16(float *c, uint32_t a0, uint32_t a1, uint32_t a2,
						uint32_t a3, uint32_t b0, uint32_t b1)
{
	asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
		     "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
		     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
		     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

/* four 8x8 bf16 matrices from shared memory; lane l gives row address l */
static __device__ __forceinline__ void ldsm4(uint32_t *r, const uint16_t *p)
{
	const uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(a));
}

/* the same, each matrix transposed (B fragments of a row-major V) */
static __device__ __forceinline__ void ldsm4t(uint32_t *r, const uint16_t *p)
{
	const uint32_t a = (uint32_t)__cvta_generic_to_shared(p);
	asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
		     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
		     : "r"(a));
}

static __device__ __forceinline__ void cp_async16(void *dst, const void *src)
{
	const uint32_t a = (uint32_t)__cvta_generic_to_shared(dst);
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(a), "l"(src));
}

static __device__ __forceinline__ uint16_t bf16_bits(float f)
{
	return __bfloat16_as_ushort(__float2bfloat16(f));
}

/* Start copying the rows r0 .. r0+31 (those below r_end and not -1) into
 * raw[buf]; the valid flags are written by the first 32 threads. */
static __device__ __forceinline__ void at_issue(at_smem &sm, uint32_t buf, const uint8_t *rows,
						const int32_t *ib, uint64_t base, uint32_t r0,
						uint32_t r_end, uint32_t tid)
{
	for (uint32_t e = tid; e < AT_TILE * AT_CHUNKS; e += AT_THREADS) {
		const uint32_t r = e / AT_CHUNKS, c = e % AT_CHUNKS;
		const int32_t t = r0 + r < r_end ? ib[r0 + r] : -1;
		if (t >= 0)
			cp_async16(&sm.raw[buf][r * DEC_ROW + 16 * c],
				   rows + (base + (uint64_t)t) * DEC_ROW + 16 * c);
	}
	if (tid < AT_TILE)
		sm.valid[buf][tid] = r0 + tid < r_end && ib[r0 + tid] >= 0;
	asm volatile("cp.async.commit_group;\n" ::);
}

__global__ void __launch_bounds__(AT_THREADS, 1)
attn_kernel(const uint16_t *__restrict__ q, const uint8_t *__restrict__ rows,
	    const int32_t *__restrict__ idx, uint64_t req_stride, uint32_t k,
	    uint32_t rows_per_split, float *__restrict__ part)
{
	extern __shared__ __align__(16) unsigned char smem_raw[];
	at_smem &sm = *reinterpret_cast<at_smem *>(smem_raw);
	const uint32_t b = blockIdx.x, hh = blockIdx.y, sp = blockIdx.z, nsplit = gridDim.z;
	const uint32_t tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
	const uint32_t g = lane >> 2, t4 = lane & 3, ht = warp & 3, half = warp >> 2;
	/* softmax in base 2: scores pre-multiplied by log2(e) / sqrt(576) */
	const float sc = 1.4426950408889634f / 24.0f;

	const uint32_t r_begin = sp * rows_per_split;
	uint32_t r_end = r_begin + rows_per_split;
	if (r_end > k)
		r_end = k;
	const int32_t *ib = idx + (size_t)b * k;
	const uint64_t base = (uint64_t)b * req_stride;
	if (r_begin < r_end)
		at_issue(sm, 0, rows, ib, base, r_begin, r_end, tid);

	const uint16_t *qb = q + ((size_t)b * DEC_HEADS + hh * AT_HEADS) * DEC_QK;
	for (uint32_t e = tid; e < AT_HEADS * DEC_QK / 8; e += AT_THREADS) {
		const uint32_t h = e / (DEC_QK / 8), c = e % (DEC_QK / 8);
		*reinterpret_cast<uint4 *>(&sm.q[h * AT_QS + 8 * c]) =
			reinterpret_cast<const uint4 *>(qb + (size_t)h * DEC_QK)[c];
	}
	if (tid < AT_HEADS) {
		sm.m[tid] = -INFINITY;
		sm.l[tid] = 0.f;
	}
	float o[32][4];
#pragma unroll
	for (int nt = 0; nt < 32; nt++)
		o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.f;

	/* ldmatrix lane roles: A (Q, P) rows and column halves, B (K) rows */
	const uint32_t a_row = (lane & 7) + ((lane >> 3) & 1) * 8, a_col = (lane >> 4) * 8;
	const uint32_t b_row = (lane & 7) + (lane >> 4) * 8, b_col = ((lane >> 3) & 1) * 8;
	uint32_t buf = 0;
	for (uint32_t r0 = r_begin; r0 < r_end; r0 += AT_TILE, buf ^= 1) {
		__syncthreads();	/* K, P, valid[buf ^ 1] and raw[buf ^ 1] are consumed */
		if (r0 + AT_TILE < r_end) {
			at_issue(sm, buf ^ 1, rows, ib, base, r0 + AT_TILE, r_end, tid);
			asm volatile("cp.async.wait_group 1;\n" ::);
		} else {
			asm volatile("cp.async.wait_group 0;\n" ::);
		}
		__syncthreads();
		/* dequantise raw[buf] to bf16: 72 pieces of 8 values per row */
		for (uint32_t e = tid; e < AT_TILE * 72; e += AT_THREADS) {
			const uint32_t r = e / 72, c = e % 72;
			uint4 *dst = reinterpret_cast<uint4 *>(&sm.k[r * AT_QS + 8 * c]);
			const uint8_t *row = &sm.raw[buf][r * DEC_ROW];
			if (!sm.valid[buf][r]) {
				*dst = make_uint4(0, 0, 0, 0);
			} else if (c < 64) {
				const uint2 v = *reinterpret_cast<const uint2 *>(row + 8 * c);
				const float s = reinterpret_cast<const float *>(row + DEC_ROW_SCALES)[c >> 4];
				/* two values per conversion: fp8x2 -> f16x2 -> f32 -> bf16x2 */
				const uint32_t w[4] = {v.x & 0xffffu, v.x >> 16, v.y & 0xffffu, v.y >> 16};
				uint32_t out[4];
#pragma unroll
				for (int i = 0; i < 4; i++) {
					const __half2_raw hr = __nv_cvt_fp8x2_to_halfraw2(
						(__nv_fp8x2_storage_t)w[i], __NV_E4M3);
					const float2 f = __half22float2(*reinterpret_cast<const __half2 *>(&hr));
					const __nv_bfloat162 bv = __floats2bfloat162_rn(f.x * s, f.y * s);
					out[i] = *reinterpret_cast<const uint32_t *>(&bv);
				}
				*dst = make_uint4(out[0], out[1], out[2], out[3]);
			} else {
				*dst = *reinterpret_cast<const uint4 *>(row + DEC_ROW_ROPE + 16 * (c - 64));
			}
		}
		__syncthreads();
		/* scores: head tile ht x rows half*16 .. +15 */
		{
			float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
			const uint16_t *qa = &sm.q[(ht * 16 + a_row) * AT_QS + a_col];
			const uint16_t *kb = &sm.k[(half * 16 + b_row) * AT_QS + b_col];
#pragma unroll 4
			for (int ks = 0; ks < DEC_QK / 16; ks++) {
				uint32_t a[4], bb[4];
				ldsm4(a, qa + ks * 16);
				ldsm4(bb, kb + ks * 16);
				mma_bf16(acc[0], a[0], a[1], a[2], a[3], bb[0], bb[1]);
				mma_bf16(acc[1], a[0], a[1], a[2], a[3], bb[2], bb[3]);
			}
#pragma unroll
			for (int nt = 0; nt < 2; nt++) {
				const uint32_t col = half * 16 + nt * 8 + t4 * 2;
				float *s0 = &sm.s[(ht * 16 + g) * AT_SS + col];
				float *s8 = s0 + 8 * AT_SS;
				s0[0] = acc[nt][0] * sc;
				s0[1] = acc[nt][1] * sc;
				s8[0] = acc[nt][2] * sc;
				s8[1] = acc[nt][3] * sc;
			}
		}
		__syncthreads();
		/* online softmax: head tid/4, columns (tid%4)*8 .. +7 */
		{
			const uint32_t h = tid >> 2, part4 = tid & 3;
			float v[8], mx = -INFINITY;
#pragma unroll
			for (int i = 0; i < 8; i++) {
				const uint32_t c = part4 * 8 + i;
				v[i] = sm.valid[buf][c] ? sm.s[h * AT_SS + c] : -INFINITY;
				mx = fmaxf(mx, v[i]);
			}
			mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
			mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
			const float m_old = sm.m[h];
			const float m_new = fmaxf(m_old, mx);
			float sum = 0.f;
#pragma unroll
			for (int i = 0; i < 8; i++) {
				const float p = m_new == -INFINITY ? 0.f : exp2f(v[i] - m_new);
				sum += p;
				sm.p[h * AT_PS + part4 * 8 + i] = bf16_bits(p);
			}
			sum += __shfl_xor_sync(0xffffffffu, sum, 1);
			sum += __shfl_xor_sync(0xffffffffu, sum, 2);
			__syncwarp();
			if (part4 == 0) {
				const float alpha = m_old == -INFINITY ? 0.f : exp2f(m_old - m_new);
				sm.alpha[h] = alpha;
				sm.l[h] = sm.l[h] * alpha + sum;
				sm.m[h] = m_new;
			}
		}
		__syncthreads();
		/* P.V: head tile ht x output dims half*256 .. +255 */
		{
			const float al0 = sm.alpha[ht * 16 + g], al8 = sm.alpha[ht * 16 + g + 8];
#pragma unroll
			for (int nt = 0; nt < 32; nt++) {
				o[nt][0] *= al0;
				o[nt][1] *= al0;
				o[nt][2] *= al8;
				o[nt][3] *= al8;
			}
			/* V tile rows j*16 + (lane & 15), dims half*256 + nt*8 (+8) */
			const uint16_t *vb = &sm.k[(lane & 15) * AT_QS + half * 256 + (lane >> 4) * 8];
#pragma unroll
			for (int j = 0; j < 2; j++) {
				uint32_t a[4];
				ldsm4(a, &sm.p[(ht * 16 + a_row) * AT_PS + j * 16 + a_col]);
#pragma unroll
				for (int nt = 0; nt < 32; nt += 2) {
					uint32_t bb[4];
					ldsm4t(bb, vb + j * 16 * AT_QS + nt * 8);
					mma_bf16(o[nt], a[0], a[1], a[2], a[3], bb[0], bb[1]);
					mma_bf16(o[nt + 1], a[0], a[1], a[2], a[3], bb[2], bb[3]);
				}
			}
		}
	}
	__syncthreads();
	/* partials: o (unnormalised), then m and l, per (request, head, split) */
	const uint32_t h0 = hh * AT_HEADS + ht * 16 + g;
	float *p0 = part + (((size_t)b * DEC_HEADS + h0) * nsplit + sp) * (DEC_LATENT + 2);
	float *p8 = part + (((size_t)b * DEC_HEADS + h0 + 8) * nsplit + sp) * (DEC_LATENT + 2);
#pragma unroll
	for (int nt = 0; nt < 32; nt++) {
		const uint32_t d = half * 256 + nt * 8 + t4 * 2;
		*reinterpret_cast<float2 *>(p0 + d) = make_float2(o[nt][0], o[nt][1]);
		*reinterpret_cast<float2 *>(p8 + d) = make_float2(o[nt][2], o[nt][3]);
	}
	if (tid < AT_HEADS) {
		float *pm = part + (((size_t)b * DEC_HEADS + hh * AT_HEADS + tid) * nsplit + sp) *
					   (DEC_LATENT + 2);
		pm[DEC_LATENT] = sm.m[tid];
		pm[DEC_LATENT + 1] = sm.l[tid];
	}
}

/* One block per (request, head): weights exp2(m_s - M) over the splits. */
__global__ void attn_combine(const float *__restrict__ part, uint32_t nsplit, float *__restrict__ out)
{
	const size_t bh = blockIdx.x;
	const float *pb = part + bh * nsplit * (DEC_LATENT + 2);
	float M = -INFINITY;
	for (uint32_t s = 0; s < nsplit; s++)
		M = fmaxf(M, pb[s * (DEC_LATENT + 2) + DEC_LATENT]);
	float L = 0.f;
	for (uint32_t s = 0; s < nsplit; s++) {
		const float m = pb[s * (DEC_LATENT + 2) + DEC_LATENT];
		if (m != -INFINITY)
			L += pb[s * (DEC_LATENT + 2) + DEC_LATENT + 1] * exp2f(m - M);
	}
	for (uint32_t d = threadIdx.x; d < DEC_LATENT; d += blockDim.x) {
		float acc = 0.f;
		for (uint32_t s = 0; s < nsplit; s++) {
			const float m = pb[s * (DEC_LATENT + 2) + DEC_LATENT];
			if (m != -INFINITY)
				acc += pb[s * (DEC_LATENT + 2) + d] * exp2f(m - M);
		}
		out[bh * DEC_LATENT + d] = L > 0.f ? acc / L : 0.f;
	}
}

int dec_attn(const uint16_t *q, const uint8_t *rows, const int32_t *idx, uint64_t req_stride,
	     uint32_t batch, uint32_t k, float *out, void *work, cudaStream_t s)
{
	static bool attr_set;
	if (!q || !rows || !idx || !out || !work || !batch || batch > 65535 || !k || k > DEC_TOPK)
		return -EINVAL;
	/* rows are copied by 16-byte pieces; q is read by 16 bytes too */
	if (((uintptr_t)rows | (uintptr_t)q) & 15)
		return -EINVAL;
	if (!attr_set) {
		/* once, before any capture: a function attribute, not stream work */
		if (cudaFuncSetAttribute(attn_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
					 (int)sizeof(at_smem)) != cudaSuccess)
			return -EIO;
		attr_set = true;
	}
	const uint32_t nsplit = at_splits(batch);
	uint32_t rps = (k + nsplit - 1) / nsplit;
	rps = (rps + AT_TILE - 1) / AT_TILE * AT_TILE;
	float *part = static_cast<float *>(work);
	attn_kernel<<<dim3(batch, DEC_HEADS / AT_HEADS, nsplit), AT_THREADS, sizeof(at_smem), s>>>(
		q, rows, idx, req_stride, k, rps, part);
	if (cudaGetLastError() != cudaSuccess)
		return -EIO;
	attn_combine<<<batch * DEC_HEADS, 128, 0, s>>>(part, nsplit, out);
	return cudaGetLastError() == cudaSuccess ? 0 : -EIO;
}
