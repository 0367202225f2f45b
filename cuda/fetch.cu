/* SPDX-License-Identifier: MIT */
/*
 * Row copy kernels between pinned host memory (read or written directly
 * over UVA) and device memory: the gather of missed rows into hot-buffer
 * slots and the write-through scatter of new rows to the host pool.
 *
 * Why this shape: a PCIe read has microseconds of latency, so the link is
 * only full when many loads are in flight.  A warp takes a group of G
 * consecutive list entries and flattens their rows into one sequence of
 * V-byte chunks (41 x 16 B for a 656-B row); each lane issues U loads
 * before its first store, so one warp keeps U x 32 chunks in flight, and
 * rows adjacent in host memory (the list is sorted) are read as one run.
 * The group's offsets and slots are loaded once, one per lane, and passed
 * around by shuffles.  Warps walk the groups grid-stride, so a few SMs do
 * the whole copy (reference.md section 4: 8 SMs already reach the link).
 */
#include <stdint.h>

#include "kernels.cuh"

/* 16-byte load with an L2 prefetch-size hint: HINT 1 asks L2 for 256-byte
 * fills (so a host read may go out as fewer, larger PCIe requests), HINT 2
 * the same through the non-coherent read-only path. */
template <int HINT> __device__ __forceinline__ int4 load16(const void *p)
{
	int4 v;
	if (HINT == 1)
		asm volatile("ld.global.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4];"
			     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
	else if (HINT == 2)
		asm volatile("ld.global.nc.L2::256B.v4.s32 {%0,%1,%2,%3}, [%4];"
			     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
	else
		v = *(const int4 *)p;
	return v;
}

template <typename V, int HINT> __device__ __forceinline__ V load_v(const char *p)
{
	return *(const V *)p;
}
template <> __device__ __forceinline__ int4 load_v<int4, 1>(const char *p) { return load16<1>(p); }
template <> __device__ __forceinline__ int4 load_v<int4, 2>(const char *p) { return load16<2>(p); }

template <typename V, int U, int HINT = 0>
__device__ __forceinline__ void copy_rows(const struct ess_kcopy &p)
{
	const uint32_t cpr = p.row_bytes / sizeof(V);	/* chunks per row */
	uint32_t g_rows = (32u * U) / cpr;
	if (g_rows < 1)
		g_rows = 1;
	if (g_rows > 32)
		g_rows = 32;
	const uint32_t lane = threadIdx.x & 31;
	const uint64_t warp = ((uint64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	const uint64_t nwarps = ((uint64_t)gridDim.x * blockDim.x) >> 5;
	const uint32_t gps = (p.seg_cap + g_rows - 1) / g_rows;
	const uint64_t total = (uint64_t)p.nseg * gps;

	for (uint64_t g = warp; g < total; g += nwarps) {
		const uint32_t seg = (uint32_t)(g / gps);
		const uint32_t first = (uint32_t)(g - (uint64_t)seg * gps) * g_rows;
		uint32_t n = p.count[seg];
		if (n > p.seg_cap)
			n = p.seg_cap;
		if (first >= n)
			continue;
		const uint32_t rows = min(g_rows, n - first);
		const uint64_t e0 = (uint64_t)seg * p.seg_cap + first;
		uint64_t my_off = 0;
		int32_t my_slot = -1;
		if (lane < rows) {
			my_off = p.off[e0 + lane];
			my_slot = p.slot[e0 + lane];
		}
		const uint32_t nch = rows * cpr;
		for (uint32_t cb = 0; cb < nch; cb += 32u * U) {
			V buf[U];
			const char *sa[U];
			char *da[U];
#pragma unroll
			for (int k = 0; k < U; k++) {
				const uint32_t c = cb + k * 32 + lane;
				const uint32_t r = c < nch ? c / cpr : 0;
				const uint32_t w = c - r * cpr;
				const uint64_t o = __shfl_sync(0xffffffffu, my_off, r);
				const int32_t s = __shfl_sync(0xffffffffu, my_slot, r);
				sa[k] = nullptr;
				da[k] = nullptr;
				if (c < nch && s >= 0) {
					const uint64_t so = (uint64_t)s * p.row_bytes + (uint64_t)w * sizeof(V);
					const uint64_t ho = o + (uint64_t)w * sizeof(V);
					sa[k] = p.src + (p.dir ? so : ho);
					da[k] = p.dst + (p.dir ? ho : so);
				}
			}
#pragma unroll
			for (int k = 0; k < U; k++)
				if (sa[k])
					buf[k] = p.dir ? *(const V *)sa[k] : load_v<V, HINT>(sa[k]);
#pragma unroll
			for (int k = 0; k < U; k++)
				if (da[k])
					*(V *)da[k] = buf[k];
		}
	}
}

__global__ void ess_k_copy16_u4(struct ess_kcopy p) { copy_rows<int4, 4>(p); }
__global__ void ess_k_copy16_u8(struct ess_kcopy p) { copy_rows<int4, 8>(p); }
__global__ void ess_k_copy16_u16(struct ess_kcopy p) { copy_rows<int4, 16>(p); }
__global__ void ess_k_copy16_u4_h1(struct ess_kcopy p) { copy_rows<int4, 4, 1>(p); }
__global__ void ess_k_copy16_u8_h1(struct ess_kcopy p) { copy_rows<int4, 8, 1>(p); }
__global__ void ess_k_copy16_u16_h1(struct ess_kcopy p) { copy_rows<int4, 16, 1>(p); }
__global__ void ess_k_copy16_u4_h2(struct ess_kcopy p) { copy_rows<int4, 4, 2>(p); }
__global__ void ess_k_copy16_u8_h2(struct ess_kcopy p) { copy_rows<int4, 8, 2>(p); }
__global__ void ess_k_copy16_u16_h2(struct ess_kcopy p) { copy_rows<int4, 16, 2>(p); }
__global__ void ess_k_copy4_u8(struct ess_kcopy p) { copy_rows<int, 8>(p); }
__global__ void ess_k_copy1_u8(struct ess_kcopy p) { copy_rows<char, 8>(p); }
