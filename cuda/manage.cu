/* SPDX-License-Identifier: MIT */
/*
 * Hot-set management kernel: the rule of include/ess/hotset.h for one layer
 * of a batch, one thread block per (request, layer) hot set.
 *
 *  1. The top-k row goes into a shared-memory hash (token -> position);
 *     the same pass checks every entry (range, duplicates, extent) so an
 *     invalid row is rejected before any state changes.
 *  2. One pass over the slots finds the hits (hash lookups) and updates
 *     their key and freq.
 *  3. The misses are collected and sorted by token (bitonic, shared).
 *  4. The m victims, the m smallest (key, slot) among the slots not hit,
 *     are found by a radix select on the key (8-bit digits, only over the
 *     bits where the candidates' keys differ: one or two passes for LRU),
 *     ties at the threshold key broken by a block scan in slot order; the
 *     m victims are then sorted by (key, slot).
 *  5. The i-th miss takes the i-th victim; the fetch list (host offset,
 *     layer-global slot) is written in ascending token order.
 * Fixed shapes, no host round trip: safe to capture in a CUDA graph.
 */
#include <stdint.h>

#include "ess/hotset.h"
#include "kernels.cuh"

/* ESS_MANAGE_PROF builds (ess-bench-fetch-prof only): block 0 records the
 * SM clock after each phase. */
#ifdef ESS_MANAGE_PROF
__device__ unsigned long long ess_manage_prof[16];
#define PROF(i)                                                         \
	do {                                                            \
		if (blockIdx.x == 0 && threadIdx.x == 0)                \
			ess_manage_prof[i] = clock64();                 \
	} while (0)
extern "C" int ess_cuda_manage_prof(unsigned long long *out)
{
	return cudaMemcpyFromSymbol(out, ess_manage_prof, sizeof(ess_manage_prof)) != cudaSuccess;
}
#else
#define PROF(i) do { } while (0)
#endif

#define EMPTY_TOK INT32_MIN
#define NWARPS (ESS_MANAGE_THREADS / 32)

static __device__ __forceinline__ uint32_t hash_tok(int32_t tok, uint32_t cap)
{
	return ((uint32_t)tok * 0x9E3779B1u) & (cap - 1);
}

static __device__ __forceinline__ int32_t hash_find(const int32_t *htok,
						    const int32_t *hpos,
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

static __device__ void set_error(int32_t *err, int code, uint32_t req)
{
	if (atomicCAS(err, 0, code) == 0)
		atomicExch(err + 1, (int32_t)req);
}

/* Exclusive block scan of one value per thread; *total gets the sum. */
static __device__ uint32_t block_scan(uint32_t v, uint32_t *wsum, uint32_t *total)
{
	const uint32_t lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	uint32_t x = v;
#pragma unroll
	for (int d = 1; d < 32; d <<= 1) {
		uint32_t y = __shfl_up_sync(0xffffffffu, x, d);
		if (lane >= (uint32_t)d)
			x += y;
	}
	if (lane == 31)
		wsum[w] = x;
	__syncthreads();
	if (w == 0) {
		uint32_t s = lane < NWARPS ? wsum[lane] : 0;
#pragma unroll
		for (int d = 1; d < 32; d <<= 1) {
			uint32_t y = __shfl_up_sync(0xffffffffu, s, d);
			if (lane >= (uint32_t)d)
				s += y;
		}
		if (lane < NWARPS)
			wsum[lane] = s;	/* inclusive */
	}
	__syncthreads();
	uint32_t before = (w ? wsum[w - 1] : 0) + x - v;
	*total = wsum[NWARPS - 1];
	__syncthreads();
	return before;
}

struct manage_smem {
	uint64_t prefix, mask;
	uint32_t npass, remaining, nvalid, nhit, nmiss, nsel, nevict, bad, t;
	uint32_t hist[256];
	uint32_t wsum[NWARPS];
	uint64_t wmin[NWARPS], wmax[NWARPS];
};

__global__ void __launch_bounds__(ESS_MANAGE_THREADS)
ess_k_manage(struct ess_manage_args a, uint32_t max_requests,
	     uint32_t hash_cap, uint32_t sort_cap)
{
	extern __shared__ __align__(16) unsigned char dyn[];
	__shared__ struct manage_smem sm;
	const uint32_t tid = threadIdx.x, nth = blockDim.x;
	const uint32_t b = blockIdx.x;
	const uint32_t K = a.topk, S = a.slots;

	uint64_t *vkey = (uint64_t *)dyn;
	uint64_t *skey = vkey + sort_cap;	/* copy of key_s */
	int32_t *vslot = (int32_t *)(skey + S);
	int32_t *mtok = vslot + sort_cap;
	int32_t *htok = mtok + sort_cap;
	int32_t *hpos = htok + hash_cap;
	int32_t *stok = hpos + hash_cap;	/* copy of tok_s */
	uint32_t *sfreq = (uint32_t *)(stok + S);	/* copy of freq_s */
	int32_t *srow = (int32_t *)(sfreq + S);	/* copy of the top-k row */
	unsigned char *slot_hit = (unsigned char *)(srow + K);
	unsigned char *pos_hit = slot_hit + S;

	const int32_t *row = a.topk_rows + (uint64_t)b * K;
	int32_t *out = a.slots_out + (uint64_t)b * K;
	const uint32_t req = a.reqs[b];
	if (req >= max_requests) {
		if (tid == 0) {
			set_error(a.err, ESS_CUDA_EREQ, req);
			a.nmiss[b] = 0;
		}
		for (uint32_t i = tid; i < K; i += nth)
			out[i] = -1;
		return;
	}
	int32_t *tok_s = a.hs_token + (uint64_t)req * S;
	uint64_t *key_s = a.hs_key + (uint64_t)req * S;
	uint32_t *freq_s = a.hs_freq + (uint64_t)req * S;
	const uint64_t map = (uint64_t)req * a.layers + a.layer;
	const uint32_t ntok = a.ntokens[map];
	const uint64_t *ext = a.extent_off + map * a.max_extents;

	PROF(0);
	/* 0. clear, and copy the row and the slot state to shared memory
	 * (every later pass reads them there: one round trip to HBM) */
	for (uint32_t i = tid; i < hash_cap; i += nth)
		htok[i] = EMPTY_TOK;
	for (uint32_t i = tid; i < S; i += nth) {
		slot_hit[i] = 0;
		stok[i] = tok_s[i];
		skey[i] = key_s[i];
		sfreq[i] = freq_s[i];
	}
	for (uint32_t i = tid; i < K; i += nth) {
		pos_hit[i] = 0;
		srow[i] = row[i];
	}
	if (tid == 0) {
		sm.nvalid = sm.nhit = sm.nmiss = sm.nsel = sm.nevict = sm.bad = 0;
		sm.t = a.hs_t[req] + 1;
	}
	__syncthreads();
	PROF(1);

	/* 1. check and hash the row */
	for (uint32_t i = tid; i < K; i += nth) {
		const int32_t tok = srow[i];
		if (tok == -1)
			continue;
		if (tok < 0 || (uint32_t)tok >= ntok) {
			atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_ERANGE);
			continue;
		}
		const uint32_t e = (uint32_t)tok >> a.extent_shift;
		if (e >= a.max_extents || ext[e] == UINT64_MAX) {
			atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_ENOEXTENT);
			continue;
		}
		for (uint32_t h = hash_tok(tok, hash_cap);; h = (h + 1) & (hash_cap - 1)) {
			const int32_t prev = atomicCAS(&htok[h], EMPTY_TOK, tok);
			if (prev == EMPTY_TOK) {
				hpos[h] = (int32_t)i;
				atomicAdd(&sm.nvalid, 1u);
				break;
			}
			if (prev == tok) {
				atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_EDUP);
				break;
			}
		}
	}
	__syncthreads();
	const uint32_t bad = sm.bad ? sm.bad : sm.nvalid > S ? (uint32_t)ESS_CUDA_ETOOMANY : 0;
	if (bad) {
		if (tid == 0) {
			set_error(a.err, (int)bad, req);
			a.nmiss[b] = 0;
		}
		for (uint32_t i = tid; i < K; i += nth)
			out[i] = -1;
		return;
	}
	const uint32_t t = sm.t;
	PROF(2);

	/* 2. hits */
	uint32_t myhits = 0;
	for (uint32_t s = tid; s < S; s += nth) {
		const int32_t tok = stok[s];
		if (tok < 0)
			continue;
		const int32_t pos = hash_find(htok, hpos, hash_cap, tok);
		if (pos < 0)
			continue;
		slot_hit[s] = 1;
		pos_hit[pos] = 1;
		out[pos] = (int32_t)(req * S + s);
		const uint32_t f = sfreq[s];
		const uint64_t k = ess_policy_hit_key(a.policy, skey[s], f, t);
		key_s[s] = k;
		freq_s[s] = f == UINT32_MAX ? f : f + 1;
		skey[s] = k;
		myhits++;
	}
	if (myhits)
		atomicAdd(&sm.nhit, myhits);
	__syncthreads();
	PROF(3);

	/* 3. misses, and -1 for unused entries */
	for (uint32_t i = tid; i < K; i += nth) {
		const int32_t tok = srow[i];
		if (tok == -1)
			out[i] = -1;
		else if (!pos_hit[i])
			mtok[atomicAdd(&sm.nmiss, 1u)] = tok;
	}
	__syncthreads();
	const uint32_t m = sm.nmiss;
	PROF(4);

	if (m > 0) {
		/* 4a. key range of the candidates (slots not hit) */
		uint64_t lo = UINT64_MAX, hi = 0;
		for (uint32_t s = tid; s < S; s += nth) {
			if (slot_hit[s])
				continue;
			const uint64_t k = skey[s];
			lo = k < lo ? k : lo;
			hi = k > hi ? k : hi;
		}
#pragma unroll
		for (int d = 16; d > 0; d >>= 1) {
			uint64_t l2 = __shfl_xor_sync(0xffffffffu, lo, d);
			uint64_t h2 = __shfl_xor_sync(0xffffffffu, hi, d);
			lo = l2 < lo ? l2 : lo;
			hi = h2 > hi ? h2 : hi;
		}
		if ((tid & 31) == 0) {
			sm.wmin[tid >> 5] = lo;
			sm.wmax[tid >> 5] = hi;
		}
		__syncthreads();
		if (tid == 0) {
			uint64_t l = UINT64_MAX, h = 0;
			for (int w = 0; w < NWARPS; w++) {
				l = sm.wmin[w] < l ? sm.wmin[w] : l;
				h = sm.wmax[w] > h ? sm.wmax[w] : h;
			}
			const int hb = l == h ? 0 : 64 - __clzll((long long)(l ^ h));
			sm.mask = hb >= 64 ? 0 : ~0ull << hb;
			sm.prefix = l & sm.mask;
			sm.remaining = m;
			sm.npass = (uint32_t)((hb + 7) / 8);	/* digit passes */
		}
		__syncthreads();

		PROF(5);
		/* 4b. radix select of the m-th smallest key */
		for (int pass = (int)sm.npass - 1; pass >= 0; pass--) {
			const int shift = pass * 8;
			for (uint32_t i = tid; i < 256; i += nth)
				sm.hist[i] = 0;
			__syncthreads();
			const uint64_t mask = sm.mask, prefix = sm.prefix;
			for (uint32_t s = tid; s < S; s += nth) {
				if (slot_hit[s])
					continue;
				const uint64_t k = skey[s];
				if ((k & mask) == prefix)
					atomicAdd(&sm.hist[(k >> shift) & 255], 1u);
			}
			__syncthreads();
			if (tid < 32) {
				const uint32_t lane = tid;
				uint32_t sum = 0;
				for (int j = 0; j < 8; j++)
					sum += sm.hist[lane * 8 + j];
				uint32_t incl = sum;
#pragma unroll
				for (int d = 1; d < 32; d <<= 1) {
					uint32_t y = __shfl_up_sync(0xffffffffu, incl, d);
					if (lane >= (uint32_t)d)
						incl += y;
				}
				const uint32_t rem = sm.remaining;
				const uint32_t ball = __ballot_sync(0xffffffffu, incl >= rem);
				const uint32_t first = __ffs(ball) - 1;
				__syncwarp();	/* every lane has read remaining */
				if (lane == first) {
					uint32_t cum = incl - sum;
					uint32_t d = lane * 8;
					for (;; d++) {
						if (cum + sm.hist[d] >= rem)
							break;
						cum += sm.hist[d];
					}
					sm.remaining = rem - cum;
					sm.prefix = prefix | ((uint64_t)d << shift);
					sm.mask = mask | (255ull << shift);
				}
			}
			__syncthreads();
		}

		PROF(6);
		/* 4c. take every candidate under the threshold key and the lowest
		 * `remaining` slots at it */
		const uint64_t thr = sm.prefix;
		const uint32_t need = sm.remaining;
		const uint32_t per = (S + nth - 1) / nth;
		const uint32_t s0 = tid * per, s1 = min(S, s0 + per);
		uint32_t eq = 0;
		for (uint32_t s = s0; s < s1; s++)
			eq += !slot_hit[s] && skey[s] == thr;
		uint32_t total;
		uint32_t rank = block_scan(eq, sm.wsum, &total);
		for (uint32_t s = s0; s < s1; s++) {
			if (slot_hit[s])
				continue;
			const uint64_t k = skey[s];
			bool take = k < thr;
			if (k == thr)
				take = rank++ < need;
			if (take) {
				const uint32_t j = atomicAdd(&sm.nsel, 1u);
				vkey[j] = k;
				vslot[j] = (int32_t)s;
			}
		}
		__syncthreads();

		PROF(7);
		/* 4d. sort misses by token and victims by (key, slot): by rank
		 * (each element counts those below it; reads are broadcasts) up
		 * to two elements a thread, else bitonic */
		if (m <= 2 * nth) {
			int32_t mt[2];
			uint64_t vk[2];
			int32_t vs[2];
			uint32_t rt[2] = {0, 0}, rv[2] = {0, 0};
#pragma unroll
			for (int q = 0; q < 2; q++) {
				const uint32_t j = tid + q * nth;
				mt[q] = j < m ? mtok[j] : 0;
				vk[q] = j < m ? vkey[j] : 0;
				vs[q] = j < m ? vslot[j] : 0;
			}
			const bool two = tid + nth < m;
			if (tid < m) {
				for (uint32_t i = 0; i < m; i++) {
					const int32_t ti = mtok[i];
					const uint64_t ki = vkey[i];
					const int32_t si = vslot[i];
					rt[0] += ti < mt[0];
					rv[0] += ki < vk[0] || (ki == vk[0] && si < vs[0]);
					if (two) {
						rt[1] += ti < mt[1];
						rv[1] += ki < vk[1] || (ki == vk[1] && si < vs[1]);
					}
				}
			}
			__syncthreads();
#pragma unroll
			for (int q = 0; q < 2; q++) {
				if (tid + q * nth < m) {
					mtok[rt[q]] = mt[q];
					vkey[rv[q]] = vk[q];
					vslot[rv[q]] = vs[q];
				}
			}
			__syncthreads();
		} else {
		uint32_t P = 1;
		while (P < m)
			P <<= 1;
		for (uint32_t i = m + tid; i < P; i += nth) {
			mtok[i] = INT32_MAX;
			vkey[i] = UINT64_MAX;
			vslot[i] = INT32_MAX;
		}
		__syncthreads();
		for (uint32_t k = 2; k <= P; k <<= 1) {
			for (uint32_t j = k >> 1; j > 0; j >>= 1) {
				for (uint32_t i = tid; i < P; i += nth) {
					const uint32_t x = i ^ j;
					if (x <= i)
						continue;
					const bool up = (i & k) == 0;
					const int32_t ti = mtok[i], tx = mtok[x];
					if ((ti > tx) == up) {
						mtok[i] = tx;
						mtok[x] = ti;
					}
					const uint64_t ki = vkey[i], kx = vkey[x];
					const int32_t si = vslot[i], sx = vslot[x];
					const bool gt = ki > kx || (ki == kx && si > sx);
					if (gt == up) {
						vkey[i] = kx;
						vkey[x] = ki;
						vslot[i] = sx;
						vslot[x] = si;
					}
				}
				__syncthreads();
			}
		}
		}

		PROF(8);
		/* 5. fills and the fetch list */
		uint32_t myevict = 0;
		const uint64_t fill = ess_policy_fill_key(a.policy, t);
		for (uint32_t j = tid; j < m; j += nth) {
			const int32_t tok = mtok[j];
			const int32_t v = vslot[j];
			const int32_t pos = hash_find(htok, hpos, hash_cap, tok);
			const int32_t gslot = (int32_t)(req * S + (uint32_t)v);
			out[pos] = gslot;
			myevict += stok[v] >= 0;
			tok_s[v] = tok;
			key_s[v] = fill;
			freq_s[v] = 1;
			const uint64_t e = (uint32_t)tok >> a.extent_shift;
			const uint64_t within = (uint32_t)tok & ((1u << a.extent_shift) - 1);
			const uint64_t o = (uint64_t)b * K + j;
			a.miss_off[o] = ext[e] + within * a.entry_bytes;
			a.miss_slot[o] = gslot;
			a.miss_token[o] = tok;
		}
		if (myevict)
			atomicAdd(&sm.nevict, myevict);
		__syncthreads();
	}

	PROF(9);
	if (tid == 0) {
		a.nmiss[b] = m;
		a.hs_t[req] = t;
		unsigned long long *c = (unsigned long long *)a.counters;
		atomicAdd(&c[ESS_CUDA_C_RESOLVES], 1ull);
		atomicAdd(&c[ESS_CUDA_C_LOOKUPS], (unsigned long long)sm.nvalid);
		atomicAdd(&c[ESS_CUDA_C_HITS], (unsigned long long)sm.nhit);
		atomicAdd(&c[ESS_CUDA_C_MISSES], (unsigned long long)m);
		atomicAdd(&c[ESS_CUDA_C_EVICTIONS], (unsigned long long)sm.nevict);
		atomicAdd(&c[ESS_CUDA_C_BYTES_H2D], (unsigned long long)m * a.entry_bytes);
	}
}
