/* SPDX-License-Identifier: MIT */
/*
 * Row copy kernels between pinned host memory (read or written directly
 * over UVA) and device memory: the gather of missed rows into hot-buffer
 * slots and the write-through scatter of new rows to the host pool.
 *
 * Why this shape: a PCIe read has microseconds of latency, so the link is
 * only full when many loads are in flight.  A warp takes a group of G
 * consecutive list entries and maps their rows onto one sequence of V-byte
 * chunks (LAYOUT below: rows back to back, or each row in a window of whole
 * host lines); each lane issues U loads before its first store, so one
 * warp keeps U x 32 chunks in flight.
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

/*
 * LAYOUT 0 (flat): a group's rows are one sequence of cpr chunks each, so a
 * warp instruction's 512 B start at a row offset, not at a 128-B line of
 * host memory; with 656-B rows (row starts 16 B apart mod 128) most lines
 * are split between two instructions and so travel as two PCIe requests.
 * LAYOUT 1 (line-aligned): each row gets a window of whole host lines (48
 * chunks = 6 lines for 656 B), starting at its first line; chunk j of the
 * window is host byte (off & ~127) + 16 j, used only where it lies inside
 * the row.  Windows are multiples of 8 chunks and instructions cover 32, so
 * every host line is touched by exactly one instruction of one warp.
 * LAYOUT 2 (whole lines, gather only): as 1, but the loads also read the
 * line bytes outside the row (never stored), so every host read is a full
 * 128-B line; a line never crosses a page, so these bytes are mapped.
 */
template <typename V, int U, int HINT = 0, int LAYOUT = 0>
__device__ __forceinline__ void copy_rows(const struct ess_kcopy &p)
{
	const uint32_t cpr = p.row_bytes / sizeof(V);	/* chunks per row */
	/* chunks per row window: flat, or whole host lines (V is 16 B there) */
	const uint32_t win = LAYOUT ? ((112u + p.row_bytes + 127u) / 128u) * 8u : cpr;
	uint32_t g_rows = (32u * U) / win;
	if (g_rows < 1)
		g_rows = 1;
	if (g_rows > 32)
		g_rows = 32;
	const uint32_t lane = threadIdx.x & 31;
	const uint64_t warp = ((uint64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
	const uint64_t nwarps = ((uint64_t)gridDim.x * blockDim.x) >> 5;
	const uint32_t gps = (p.seg_cap + g_rows - 1) / g_rows;
	const uint64_t total = (uint64_t)p.nseg * gps;
	const char *host = p.dir ? p.dst : p.src;

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
		const uint32_t nch = rows * win;
		for (uint32_t cb = 0; cb < nch; cb += 32u * U) {
			V buf[U];
			const char *sa[U];
			char *da[U];
#pragma unroll
			for (int k = 0; k < U; k++) {
				const uint32_t c = cb + k * 32 + lane;
				const uint32_t r = c < nch ? c / win : 0;
				const uint32_t j = c - r * win;
				const uint64_t o = __shfl_sync(0xffffffffu, my_off, r);
				const int32_t s = __shfl_sync(0xffffffffu, my_slot, r);
				/* chunk of the row this lane moves (may be outside it) */
				const uint32_t head = LAYOUT ? (uint32_t)(((uintptr_t)host + o) >> 4) & 7u : 0u;
				const int32_t w = (int32_t)j - (int32_t)head;
				const bool in_row = w >= 0 && (uint32_t)w < cpr;
				/* LAYOUT 2: every chunk of the lines the row touches */
				const bool do_load = LAYOUT == 2 && !p.dir ? j < ((head + cpr + 7u) & ~7u) : in_row;
				sa[k] = nullptr;
				da[k] = nullptr;
				if (c < nch && s >= 0 && do_load) {
					const int64_t so = (int64_t)s * p.row_bytes + (int64_t)w * (int64_t)sizeof(V);
					const int64_t ho = (int64_t)o + (int64_t)w * (int64_t)sizeof(V);
					sa[k] = p.src + (p.dir ? so : ho);
					if (in_row)
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
__global__ void ess_k_copy16_u4_a(struct ess_kcopy p) { copy_rows<int4, 4, 0, 1>(p); }
__global__ void ess_k_copy16_u8_a(struct ess_kcopy p) { copy_rows<int4, 8, 0, 1>(p); }
__global__ void ess_k_copy16_u16_a(struct ess_kcopy p) { copy_rows<int4, 16, 0, 1>(p); }
__global__ void ess_k_copy16_u4_w(struct ess_kcopy p) { copy_rows<int4, 4, 0, 2>(p); }
__global__ void ess_k_copy16_u8_w(struct ess_kcopy p) { copy_rows<int4, 8, 0, 2>(p); }
__global__ void ess_k_copy16_u16_w(struct ess_kcopy p) { copy_rows<int4, 16, 0, 2>(p); }
