/* SPDX-License-Identifier: MIT */
/*
 * Device helpers of the management kernels (cuda/manage.cu, one block per
 * request; cuda/manage_cluster.cu, a cluster of blocks per request;
 * cuda/manage_order.cu, LRU from a kept order): the
 * row hash and its checks, the row prefetch, a slot's LRU bucket and hit
 * update, key ranges and the radix start, fetch-list entries, counters,
 * 16-byte asynchronous copies, the error word, warp-aggregated counters,
 * warp sorts and binary searches over sorted chunks, the (key, slot)
 * compare-exchange of the bitonic sorts, the token -> slot map's token
 * bound and old-token clear.
 */
#ifndef ESS_CUDA_MANAGE_UTIL_CUH
#define ESS_CUDA_MANAGE_UTIL_CUH

#include <stdint.h>

#include "ess/hotset.h"
#include "ess_cuda.h"

#define EMPTY_TOK INT32_MIN
#define NWARPS (ESS_MANAGE_THREADS / 32)

/* keys outside the LRU histogram's 256 buckets (base, base + 255] */
#define LF_STALE 1u	/* a key below base (in bucket 0 with base itself) */
#define LF_OVER 2u	/* a key above base + 255: histogram unusable */
#define LF_DUP 4u	/* map path: a slot hit by two row positions */
#define LRU_BUCKETS 256u

/*
 * ESS_MANAGE_PROF builds (ess-bench-fetch-prof only): block 0's thread t
 * records the SM clock as point i of arr, a __device__ array of 16 each
 * kernel file defines (no separate compilation: one per file), and
 * PROF_GETTER defines the host function that copies it out (0 or 1).
 */
#ifdef ESS_MANAGE_PROF
#define PROF_AT(arr, i, t)                                              \
	do {                                                            \
		if (blockIdx.x == 0 && threadIdx.x == (t))              \
			arr[i] = clock64();                             \
	} while (0)
#define PROF_GETTER(name, arr)                                          \
	extern "C" int name(unsigned long long *out)                    \
	{                                                               \
		return cudaMemcpyFromSymbol(out, arr, sizeof(arr)) != cudaSuccess; \
	}
#endif

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

/* Row entry tok at position i checked and put into the hash: -1 is an
 * unused entry; another value outside [0, ntok) is ESS_CUDA_ERANGE and a
 * token already there ESS_CUDA_EDUP (the first error of the row into
 * *bad).  True when it went in. */
static __device__ __forceinline__ bool row_insert(int32_t tok, uint32_t i, uint32_t ntok,
						  int32_t *htok, int16_t *hpos, uint32_t cap,
						  uint32_t *bad)
{
	if (tok == -1)
		return false;
	if (tok < 0 || (uint32_t)tok >= ntok) {
		atomicCAS(bad, 0u, (uint32_t)ESS_CUDA_ERANGE);
		return false;
	}
	for (uint32_t h = hash_tok(tok, cap);; h = (h + 1) & (cap - 1)) {
		const int32_t prev = atomicCAS(&htok[h], EMPTY_TOK, tok);
		if (prev == EMPTY_TOK) {
			hpos[h] = (int16_t)i;
			return true;
		}
		if (prev == tok) {
			atomicCAS(bad, 0u, (uint32_t)ESS_CUDA_EDUP);
			return false;
		}
	}
}

/* Key k of a slot the row did not hit: into the key range [lo, hi] and
 * the LF_* flags; returns its LRU histogram bucket (0 for base and
 * older, -1 above the 256 buckets). */
static __device__ __forceinline__ int lru_bucket(uint64_t k, uint64_t base, uint64_t &lo,
						 uint64_t &hi, uint32_t &lf)
{
	lo = k < lo ? k : lo;
	hi = k > hi ? k : hi;
	if (k < base)
		lf |= LF_STALE;
	else if (k - base >= LRU_BUCKETS)
		lf |= LF_OVER;
	return k <= base ? 0 : k - base < LRU_BUCKETS ? (int)(k - base) : -1;
}

/* A hit slot's key and use count after its use at step t. */
static __device__ __forceinline__ void hit_bump(uint64_t *skey, uint32_t *sfreq, uint32_t s,
						uint32_t policy, uint32_t t)
{
	const uint32_t f = sfreq[s];
	skey[s] = ess_policy_hit_key(policy, skey[s], f, t);
	sfreq[s] = f == UINT32_MAX ? f : f + 1;
}

/* lo / hi: the minimum / maximum over the warp, in every lane. */
static __device__ __forceinline__ void warp_range(uint64_t &lo, uint64_t &hi)
{
#pragma unroll
	for (int d = 16; d > 0; d >>= 1) {
		const uint64_t l2 = __shfl_xor_sync(0xffffffffu, lo, d);
		const uint64_t h2 = __shfl_xor_sync(0xffffffffu, hi, d);
		lo = l2 < lo ? l2 : lo;
		hi = h2 > hi ? h2 : hi;
	}
}

/* Inclusive prefix sum of v over the warp's lanes. */
static __device__ __forceinline__ uint32_t warp_scan_incl(uint32_t v)
{
	const uint32_t lane = threadIdx.x & 31;
#pragma unroll
	for (int d = 1; d < 32; d <<= 1) {
		const uint32_t y = __shfl_up_sync(0xffffffffu, v, d);
		if (lane >= (uint32_t)d)
			v += y;
	}
	return v;
}

/* hist[dig] += 1 for every active lane with dig >= 0, one shared atomic
 * per distinct bucket in the warp (keys often share buckets). */
static __device__ __forceinline__ void hist_add_match(uint32_t *hist, int dig)
{
	const uint32_t am = __activemask();
	const uint32_t peers = __match_any_sync(am, dig);
	if (dig >= 0 && (threadIdx.x & 31) == (uint32_t)(__ffs(peers) - 1))
		atomicAdd(&hist[dig], (uint32_t)__popc(peers));
}

/* Radix select's start from the candidates' key range [l, h]: the bits
 * above the highest differing one are common (mask, prefix), the rest
 * take a pass a byte. */
static __device__ __forceinline__ void radix_start(uint64_t l, uint64_t h, uint64_t *mask,
						   uint64_t *prefix, uint32_t *npass)
{
	const int hb = l >= h ? 0 : 64 - __clzll((long long)(l ^ h));
	*mask = hb >= 64 ? 0 : ~0ull << hb;
	*prefix = l & *mask;
	*npass = (uint32_t)((hb + 7) / 8);
}

/* Entry o of the fetch list: token tok of the layer's host extents ext
 * into layer-global slot gslot. */
static __device__ __forceinline__ void fetch_entry(const struct ess_manage_args &a, uint64_t o,
						   int32_t tok, int32_t gslot, const uint64_t *ext)
{
	const uint64_t e = (uint32_t)tok >> a.extent_shift;
	const uint64_t within = (uint32_t)tok & ((1u << a.extent_shift) - 1);
	a.miss_off[o] = ext[e] + within * a.entry_bytes;
	a.miss_slot[o] = gslot;
	a.miss_token[o] = tok;
}

/* One row's resolve into the layer's counters. */
static __device__ void add_counters(const struct ess_manage_args &a, uint32_t lookups,
				    uint32_t hits, uint32_t misses, uint32_t evictions)
{
	unsigned long long *c = (unsigned long long *)a.counters;
	atomicAdd(&c[ESS_CUDA_C_RESOLVES], 1ull);
	atomicAdd(&c[ESS_CUDA_C_LOOKUPS], (unsigned long long)lookups);
	atomicAdd(&c[ESS_CUDA_C_HITS], (unsigned long long)hits);
	atomicAdd(&c[ESS_CUDA_C_MISSES], (unsigned long long)misses);
	atomicAdd(&c[ESS_CUDA_C_EVICTIONS], (unsigned long long)evictions);
	atomicAdd(&c[ESS_CUDA_C_BYTES_H2D], (unsigned long long)misses * a.entry_bytes);
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
template <typename T>
static __device__ __forceinline__ uint32_t lower_bound_v(const T *a, uint32_t n, T x)
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

static __device__ __forceinline__ uint32_t lower_bound_tok(const int32_t *a, uint32_t n, int32_t x)
{
	return lower_bound_v(a, n, x);
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

/* One compare-exchange of a bitonic sort of (key, slot) pairs in shared
 * memory: entries lo < hi put in ascending order when up, else
 * descending. */
template <typename S>
static __device__ __forceinline__ void cswap_kv(uint64_t *k, S *s, uint32_t lo, uint32_t hi, bool up)
{
	const uint64_t ka = k[lo], kb = k[hi];
	const S sa = s[lo], sb = s[hi];
	const bool gt = ka > kb || (ka == kb && sa > sb);
	if (gt == up) {
		k[lo] = kb;
		k[hi] = ka;
		s[lo] = sb;
		s[hi] = sa;
	}
}

/* Row tokens are checked against the tokens held, ntok, and with a token
 * -> slot map also against its capacity. */
static __device__ __forceinline__ uint32_t map_lim(const uint16_t *tmap, uint32_t map_cap,
						   uint32_t ntok)
{
	return tmap && map_cap < ntok ? map_cap : ntok;
}

/* A filled slot's old token out of the map.  The old token is not in the
 * row (it was not hit), so no other thread writes its entry. */
static __device__ __forceinline__ void map_clear(uint16_t *tmap, uint32_t map_cap, int32_t old)
{
	if (old >= 0 && (uint32_t)old < map_cap)
		tmap[old] = (uint16_t)ESS_MAP_NONE;
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
