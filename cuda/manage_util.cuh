/* SPDX-License-Identifier: MIT */
/*
 * Device helpers of the management kernels (cuda/manage.cu, one block per
 * request; cuda/manage_cluster.cu, a cluster of blocks per request): the
 * row hash, 16-byte asynchronous copies, the error word, warp-aggregated
 * counters, warp sorts and binary searches over sorted chunks.
 */
#ifndef ESS_CUDA_MANAGE_UTIL_CUH
#define ESS_CUDA_MANAGE_UTIL_CUH

#include <stdint.h>

#define EMPTY_TOK INT32_MIN
#define NWARPS (ESS_MANAGE_THREADS / 32)

/* keys outside the LRU histogram's 256 buckets (base, base + 255] */
#define LF_STALE 1u	/* a key below base (in bucket 0 with base itself) */
#define LF_OVER 2u	/* a key above base + 255: histogram unusable */
#define LRU_BUCKETS 256u

#define POS_UNUSED (-1)
#define POS_PENDING (-2)

static __device__ __forceinline__ uint32_t hash_tok(int32_t tok, uint32_t cap)
{
	/* Fibonacci hashing: the product's high bits, which depend on all of
	 * the token's bits (cap is a power of two, at least 2) */
	return ((uint32_t)tok * 0x9E3779B1u) >> (32 - __ffs(cap) + 1);
}

static __device__ __forceinline__ int32_t hash_find(const int32_t *htok,
						    const int16_t *hpos,
						    uint32_t cap, int32_t tok)
{
	for (uint32_t h = hash_tok(tok, cap);; h = (h + 1) & (cap - 1)) {
		int32_t v = htok[h];
		if (v == tok)
			return hpos[h];
		if (v == EMPTY_TOK)
			return -1;
	}
}

/*
 * A thread's first ROW_PF entries of its top-k row (entry n at tid + n *
 * nth), loaded as the kernel's first instructions.  Each entry was a
 * dependent global load inside the hashing loop, one round trip per loop
 * turn; issued here together they are in flight while the request id,
 * its token count and the hot-set state are read.  Entries past K read as
 * -1 (unused), which nothing reads for them.  ROW_PF x ESS_MANAGE_THREADS
 * covers top-k 2048.
 */
#define ROW_PF 2
static __device__ __forceinline__ void row_prefetch(int32_t (&rt)[ROW_PF], const int32_t *row,
						    uint32_t K, uint32_t tid, uint32_t nth)
{
#pragma unroll
	for (int n = 0; n < ROW_PF; n++) {
		const uint32_t i = tid + n * nth;
		rt[n] = i < K ? row[i] : -1;
	}
}

/* Entry i (this thread's n-th): from the prefetch, or loaded now past it.
 * Selects, not an indexed array, keep rt in registers. */
static __device__ __forceinline__ int32_t row_entry(const int32_t (&rt)[ROW_PF], const int32_t *row,
						    uint32_t i, uint32_t n)
{
	return n == 0 ? rt[0] : n == 1 ? rt[1] : row[i];
}

/* 16-byte asynchronous copy global -> shared (both 16-byte aligned);
 * complete after cp.async.wait_all in the issuing thread. */
static __device__ __forceinline__ void cp_async16(void *dst_shared, const void *src)
{
	const uint32_t d = (uint32_t)__cvta_generic_to_shared(dst_shared);
	asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" :: "r"(d), "l"(src) : "memory");
}

static __device__ void set_error(int32_t *err, int code, uint32_t req)
{
	if (atomicCAS(err, 0, code) == 0)
		atomicExch(err + 1, (int32_t)req);
}

/* Count flag over the warp's active lanes into *p with one atomic; returns
 * the value *p had plus the number of flagged lanes below this one (the
 * lane's output position when it is flagged). */
static __device__ __forceinline__ uint32_t warp_add(uint32_t *p, bool flag)
{
	const uint32_t mask = __activemask();
	const uint32_t lane = threadIdx.x & 31;
	const uint32_t bal = __ballot_sync(mask, flag);
	const uint32_t leader = __ffs(mask) - 1;
	uint32_t base = 0;
	if (lane == leader && bal)
		base = atomicAdd(p, (uint32_t)__popc(bal));
	base = __shfl_sync(mask, base, leader);
	return base + __popc(bal & ((1u << lane) - 1));
}

/* Bitonic sort across the 32 lanes of a warp, in registers: tokens
 * ascending, and (key, slot) pairs ascending. */
static __device__ __forceinline__ void warp_sort(int32_t &tv, uint64_t &kv, int32_t &sv)
{
	const uint32_t lane = threadIdx.x & 31;
#pragma unroll
	for (uint32_t k = 2; k <= 32; k <<= 1) {
#pragma unroll
		for (uint32_t j = k >> 1; j > 0; j >>= 1) {
			const bool up = (lane & k) == 0;
			const bool low = (lane & j) == 0;	/* keeps the smaller if up */
			const int32_t to = __shfl_xor_sync(0xffffffffu, tv, j);
			const uint64_t ko = __shfl_xor_sync(0xffffffffu, kv, j);
			const int32_t so = __shfl_xor_sync(0xffffffffu, sv, j);
			const bool want_min = low == up;
			if ((to < tv) == want_min && to != tv)
				tv = to;
			const bool other_less = ko < kv || (ko == kv && so < sv);
			const bool differ = ko != kv || so != sv;
			if (differ && other_less == want_min) {
				kv = ko;
				sv = so;
			}
		}
	}
}

/* Entries of sorted a[0..n) below x. */
static __device__ __forceinline__ uint32_t lower_bound_tok(const int32_t *a, uint32_t n, int32_t x)
{
	uint32_t lo = 0;
	while (n > 0) {
		const uint32_t half = n >> 1;
		if (a[lo + half] < x) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	return lo;
}

static __device__ __forceinline__ uint32_t lower_bound_kv(const uint64_t *k, const int32_t *sl,
							  uint32_t n, uint64_t x, int32_t xs)
{
	uint32_t lo = 0;
	while (n > 0) {
		const uint32_t half = n >> 1;
		const uint64_t km = k[lo + half];
		if (km < x || (km == x && sl[lo + half] < xs)) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	return lo;
}

/* Bitonic sort of one int32 across the 32 lanes of a warp, ascending. */
static __device__ __forceinline__ void warp_sort_tok(int32_t &tv)
{
	const uint32_t lane = threadIdx.x & 31;
#pragma unroll
	for (uint32_t k = 2; k <= 32; k <<= 1) {
#pragma unroll
		for (uint32_t j = k >> 1; j > 0; j >>= 1) {
			const bool want_min = ((lane & j) == 0) == ((lane & k) == 0);
			const int32_t to = __shfl_xor_sync(0xffffffffu, tv, j);
			if ((to < tv) == want_min && to != tv)
				tv = to;
		}
	}
}

/* The same for (key, slot) pairs, ascending by key then slot. */
static __device__ __forceinline__ void warp_sort_kv(uint64_t &kv, int32_t &sv)
{
	const uint32_t lane = threadIdx.x & 31;
#pragma unroll
	for (uint32_t k = 2; k <= 32; k <<= 1) {
#pragma unroll
		for (uint32_t j = k >> 1; j > 0; j >>= 1) {
			const bool want_min = ((lane & j) == 0) == ((lane & k) == 0);
			const uint64_t ko = __shfl_xor_sync(0xffffffffu, kv, j);
			const int32_t so = __shfl_xor_sync(0xffffffffu, sv, j);
			const bool other_less = ko < kv || (ko == kv && so < sv);
			const bool differ = ko != kv || so != sv;
			if (differ && other_less == want_min) {
				kv = ko;
				sv = so;
			}
		}
	}
}

#endif /* ESS_CUDA_MANAGE_UTIL_CUH */
