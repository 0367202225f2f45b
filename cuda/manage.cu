/* SPDX-License-Identifier: MIT */
/*
 * Hot-set management kernel: the rule of include/ess/hotset.h for one layer
 * of a batch, one thread block per (request, layer) hot set.
 *
 * The slot state (token, key, freq) and the row are copied to shared memory
 * first; all work happens there and global state is written only at the
 * end, so a row found invalid at any point changes nothing.
 *
 *  B. The top-k row goes into a shared hash (token -> position), checking
 *     range and duplicates.
 *  C. One pass over the slots finds the hits (hash lookups), updates their
 *     key and freq, and takes the key range of the other slots; under LRU
 *     also a histogram of their keys over the last 256 steps.
 *  D. The misses are collected (their host extents checked); under LRU the
 *     histogram gives the threshold key (the m-th smallest) at once.
 *  E. The m victims, the m smallest (key, slot) among the slots not hit:
 *     where the histogram did not give the threshold, a radix select on
 *     the key (8-bit digits, only over the bits where the candidates' keys
 *     differ); ties at the threshold key broken by a block scan in slot
 *     order.
 *  F. Misses are sorted by token and victims by (key, slot), by counting
 *     ranks (all threads, broadcast reads), bitonic beyond 4 per thread.
 *  G. The i-th miss takes the i-th victim; the fetch list (host offset,
 *     layer-global slot) is written in ascending token order, then the slot
 *     ids of the whole row and the hits' new keys.
 * Counters shared by the block are bumped once per warp (warp-aggregated),
 * not once per thread.  Fixed shapes, no host round trip: safe to capture
 * in a CUDA graph.
 */
#include <stdint.h>

#include "ess/hotset.h"
#include "kernels.cuh"
#include "manage_util.cuh"

/* ESS_MANAGE_PROF builds (ess-bench-fetch-prof only): block 0 records the
 * SM clock after each phase. */
#ifdef ESS_MANAGE_PROF
__device__ unsigned long long ess_manage_prof[16];
#define PROF(i) PROF_AT(ess_manage_prof, i, 0)
PROF_GETTER(ess_cuda_manage_prof, ess_manage_prof)
#else
#define PROF(i) do { } while (0)
#endif

struct manage_smem {
	uint64_t prefix, mask;
	uint64_t fthr;		/* LRU histogram: threshold key, */
	uint32_t fneed, fast;	/* slots to take at it, and whether it holds */
	uint32_t lflags;	/* LRU histogram: LF_* seen in the hits pass */
	uint32_t npass, remaining, nvalid, nhit, nmiss, nsel, nevict, bad, t;
	uint32_t hist[256];
	uint32_t wsum[NWARPS];
	uint64_t wmin[NWARPS], wmax[NWARPS];
};

__global__ void __launch_bounds__(ESS_MANAGE_THREADS, 1)
ess_k_manage(struct ess_manage_args a, uint32_t max_requests,
	     uint32_t hash_cap, uint32_t sort_cap)
{
	extern __shared__ __align__(16) unsigned char dyn[];
	__shared__ struct manage_smem sm;
	const uint32_t tid = threadIdx.x, nth = blockDim.x;
	const uint32_t lane = tid & 31;
	const uint32_t b = blockIdx.x;
	const uint32_t K = a.topk, S = a.slots;

	uint64_t *vkey = (uint64_t *)dyn;		/* [sort_cap] */
	uint64_t *skey = vkey + sort_cap;		/* [S] */
	int32_t *vslot = (int32_t *)(skey + S);		/* [sort_cap] */
	int32_t *mtok = vslot + sort_cap;		/* [sort_cap] */
	uint32_t *rank_t = (uint32_t *)(mtok + sort_cap); /* [sort_cap] */
	uint32_t *rank_v = rank_t + sort_cap;		/* [sort_cap] */
	int32_t *htok = (int32_t *)(rank_v + sort_cap);	/* [hash_cap] */
	int32_t *stok = htok + hash_cap;		/* [S] */
	uint32_t *sfreq = (uint32_t *)(stok + S);	/* [S] */
	int32_t *srow = (int32_t *)(sfreq + S);		/* [K] */
	int32_t *posslot = srow + K;			/* [K] slot, or POS_* */
	int16_t *hpos = (int16_t *)(posslot + K);	/* [hash_cap] row positions */
	unsigned char *slot_hit = (unsigned char *)(hpos + hash_cap); /* [S] */

	const int32_t *row = a.topk_rows + (uint64_t)b * K;
	int32_t rt[ROW_PF];
	row_prefetch(rt, row, K, tid, nth);
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
	/* with a token -> slot map, kept up to date here (the cluster kernel
	 * looks hits up in it), a token must also fit the map */
	uint16_t *tmap = a.hs_map ? a.hs_map + (uint64_t)req * a.map_cap : NULL;
	const uint32_t lim = map_lim(tmap, a.map_cap, ntok);
	const uint64_t *ext = a.extent_off + map * a.max_extents;

	PROF(0);
	/* B0. the slot state is copied to shared memory by asynchronous
	 * 16-byte copies (cp.async), issued first so that they are in flight
	 * while the hash is cleared and the row is loaded and hashed */
	const bool vec = (S & 3) == 0 &&
			 !(((uintptr_t)tok_s | (uintptr_t)key_s | (uintptr_t)freq_s |
			    (uintptr_t)stok | (uintptr_t)skey | (uintptr_t)sfreq) & 15);
	if (vec) {
		for (uint32_t i = tid; i < S / 4; i += nth) {
			cp_async16(stok + 4 * i, tok_s + 4 * i);
			cp_async16(sfreq + 4 * i, freq_s + 4 * i);
			cp_async16(skey + 4 * i, key_s + 4 * i);
			cp_async16(skey + 4 * i + 2, key_s + 4 * i + 2);
		}
		asm volatile("cp.async.commit_group;\n" ::: "memory");
	}
	/* A. clear */
	for (uint32_t i = tid; i < hash_cap; i += nth)
		htok[i] = EMPTY_TOK;
	for (uint32_t i = tid; i < S; i += nth)
		slot_hit[i] = 0;
	for (uint32_t i = tid; i < 256; i += nth)
		sm.hist[i] = 0;
	if (tid == 0) {
		sm.nvalid = sm.nhit = sm.nmiss = sm.nsel = sm.nevict = sm.bad = 0;
		sm.fast = sm.lflags = 0;
		sm.t = a.hs_t[req] + ((a.flags & ESS_MANAGE_NO_TICK) ? 0 : 1);
	}
	__syncthreads();
	PROF(1);

	/* B. the slot state when the shapes do not allow 16-byte copies;
	 * check and hash the row */
	if (!vec) {
		for (uint32_t i = tid; i < S; i += nth) {
			stok[i] = tok_s[i];
			skey[i] = key_s[i];
			sfreq[i] = freq_s[i];
		}
	}
	for (uint32_t i = tid, n = 0; i < K; i += nth, n++) {
		const int32_t tok = row_entry(rt, row, i, n);
		srow[i] = tok;
		posslot[i] = tok == -1 ? POS_UNUSED : POS_PENDING;
		warp_add(&sm.nvalid, row_insert(tok, i, lim, htok, hpos, hash_cap, &sm.bad));
	}
	if (vec)
		asm volatile("cp.async.wait_all;\n" ::: "memory");
	__syncthreads();
	PROF(2);
	uint32_t bad = sm.bad ? sm.bad : sm.nvalid > S ? (uint32_t)ESS_CUDA_ETOOMANY : 0;
	const uint32_t t = sm.t;

	/* C. hits (in shared memory only), and the key range of the rest.
	 * Under LRU a key is the step of the slot's last use, at most t, and
	 * the victims are the oldest: the other slots' keys also go into a
	 * histogram of 256 buckets, key - base for keys above base = t - 255
	 * and bucket 0 for the rest, which gives the threshold key in D
	 * without the radix passes whenever it lies above bucket 0 (or
	 * bucket 0 holds one key). */
	const bool lru_hist = a.policy == ESS_POLICY_LRU && !(a.flags & ESS_MANAGE_RADIX_ONLY);
	const uint64_t base = t >= LRU_BUCKETS - 1 ? (uint64_t)t - (LRU_BUCKETS - 1) : 0;
	uint64_t lo = UINT64_MAX, hi = 0;
	if (!bad) {
		uint32_t myhits = 0, lf = 0;
		for (uint32_t s = tid; s < S; s += nth) {
			const int32_t tok = stok[s];
			const int32_t pos = tok < 0 ? -1 : hash_find(htok, hpos, hash_cap, tok);
			int dig = -1;
			if (pos < 0) {
				dig = lru_bucket(skey[s], base, lo, hi, lf);
			} else {
				slot_hit[s] = 1;
				posslot[pos] = (int32_t)s;
				hit_bump(skey, sfreq, (uint32_t)s, a.policy, t);
				myhits++;
			}
			if (lru_hist) {
				/* one atomic per distinct bucket per warp */
				hist_add_match(sm.hist, dig);
			}
		}
		lf = __reduce_or_sync(0xffffffffu, lf);
		if (lane == 0 && lf)
			atomicOr(&sm.lflags, lf);
		warp_range(lo, hi);
		myhits = __reduce_add_sync(0xffffffffu, myhits);
		if (lane == 0) {
			sm.wmin[tid >> 5] = lo;
			sm.wmax[tid >> 5] = hi;
			atomicAdd(&sm.nhit, myhits);
		}
	}
	__syncthreads();
	PROF(3);

	/* D. misses (their extents checked), and the radix start */
	if (!bad) {
		for (uint32_t i = tid; i < K; i += nth) {
			const bool miss = posslot[i] == POS_PENDING;
			int32_t tok = 0;
			if (miss) {
				tok = srow[i];
				const uint32_t e = (uint32_t)tok >> a.extent_shift;
				if (e >= a.max_extents || ext[e] == UINT64_MAX)
					atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_ENOEXTENT);
			}
			const uint32_t j = warp_add(&sm.nmiss, miss);
			if (miss) {
				mtok[j] = tok;
				rank_t[j] = 0;
				rank_v[j] = 0;
			}
		}
		if (tid < 32) {
			/* warp 0: the key range of the slots not hit */
			uint64_t l = UINT64_MAX, h = 0;
			for (uint32_t w = lane; w < NWARPS; w += 32) {
				l = sm.wmin[w] < l ? sm.wmin[w] : l;
				h = sm.wmax[w] > h ? sm.wmax[w] : h;
			}
			warp_range(l, h);
			if (lane == 0)
				radix_start(l, h, &sm.mask, &sm.prefix, &sm.npass);
		} else if (tid < 64 && lru_hist) {
			/* warp 1: the m-th smallest key from the LRU histogram
			 * (m = valid entries - hits), then the histogram cleared
			 * for the radix passes in case it does not hold */
			const uint32_t mm = sm.nvalid - sm.nhit;
			uint32_t sum = 0;
			for (int j = 0; j < 8; j++)
				sum += sm.hist[lane * 8 + j];
			const uint32_t incl = warp_scan_incl(sum);
			const uint32_t ball = __ballot_sync(0xffffffffu, incl >= mm);
			const uint32_t first = ball ? __ffs(ball) - 1 : 32;
			if (mm > 0 && lane == first) {
				uint32_t d = lane * 8, cum = incl - sum;
				for (;; d++) {
					if (cum + sm.hist[d] >= mm)
						break;
					cum += sm.hist[d];
				}
				const uint32_t lf = sm.lflags;
				if (!(lf & LF_OVER) && (d > 0 || !(lf & LF_STALE))) {
					sm.fthr = base + d;
					sm.fneed = mm - cum;
					sm.fast = 1;
				}
			}
			__syncwarp();	/* every lane has read the histogram */
			for (int j = 0; j < 8; j++)
				sm.hist[lane * 8 + j] = 0;
		}
	}
	__syncthreads();
	PROF(4);
	if (!bad)
		bad = sm.bad;
	if (bad) {
		/* nothing global was written: reject the row */
		if (tid == 0) {
			set_error(a.err, (int)bad, req);
			a.nmiss[b] = 0;
		}
		for (uint32_t i = tid; i < K; i += nth)
			out[i] = -1;
		return;
	}
	const uint32_t m = sm.nmiss;
	/* (m equals valid - hits in any consistent hot set; checked anyway) */
	const bool fast = sm.fast && m == sm.nvalid - sm.nhit;
	if (tid == 0 && sm.npass && !fast)	/* read after the first pass's barrier */
		sm.remaining = m;

	if (m > 0) {
		/* E1. radix select of the m-th smallest key (unless the LRU
		 * histogram gave it) */
		for (int pass = fast ? -1 : (int)sm.npass - 1; pass >= 0; pass--) {
			const int shift = pass * 8;
			const uint64_t mask = sm.mask, prefix = sm.prefix;
			for (uint32_t s = tid; s < S; s += nth) {
				int dig = -1;
				if (!slot_hit[s]) {
					const uint64_t k = skey[s];
					if ((k & mask) == prefix)
						dig = (int)((k >> shift) & 255);
				}
				/* LRU keys take few values: one atomic per value per
				 * warp, not per lane */
				hist_add_match(sm.hist, dig);
			}
			__syncthreads();
			if (tid < 32) {
				uint32_t sum = 0;
				for (int j = 0; j < 8; j++)
					sum += sm.hist[lane * 8 + j];
				const uint32_t incl = warp_scan_incl(sum);
				const uint32_t rem = sm.remaining;
				const uint32_t ball = __ballot_sync(0xffffffffu, incl >= rem);
				const uint32_t first = __ffs(ball) - 1;
				uint32_t d = lane * 8, cum = incl - sum;
				if (lane == first)
					for (;; d++) {
						if (cum + sm.hist[d] >= rem)
							break;
						cum += sm.hist[d];
					}
				__syncwarp();	/* every lane has read hist and remaining */
				if (lane == first) {
					sm.remaining = rem - cum;
					sm.prefix = prefix | ((uint64_t)d << shift);
					sm.mask = mask | (255ull << shift);
				}
				for (int j = 0; j < 8; j++)
					sm.hist[lane * 8 + j] = 0;	/* for the next pass */
			}
			__syncthreads();
		}
		PROF(5);

		/* E2. take every candidate under the threshold key and the lowest
		 * `remaining` slots at it */
		const uint64_t thr = fast ? sm.fthr : sm.prefix;
		const uint32_t need = fast ? sm.fneed : sm.npass ? sm.remaining : m;
		/* each warp takes a contiguous run of slots, 32 at a time:
		 * coalesced, conflict-free, ranks by ballot */
		const uint32_t w = tid >> 5;
		const uint32_t per_w = (((S + NWARPS - 1) / NWARPS) + 31) & ~31u;
		const uint32_t w0 = min(S, w * per_w), w1 = min(S, w0 + per_w);
		uint32_t eqw = 0;
		for (uint32_t s0 = w0; s0 < w1; s0 += 32) {
			const uint32_t s = s0 + lane;
			const bool eq = s < w1 && !slot_hit[s] && skey[s] == thr;
			eqw += __popc(__ballot_sync(0xffffffffu, eq));
		}
		if (lane == 0)
			sm.wsum[w] = eqw;
		__syncthreads();
		/* ties in the warps before this one */
		uint32_t rank = 0;
		for (uint32_t v0 = 0; v0 < w; v0 += 32) {
			const uint32_t v = v0 + lane;
			rank += __reduce_add_sync(0xffffffffu, v < w ? sm.wsum[v] : 0u);
		}
		const uint32_t lt = (1u << lane) - 1;
		for (uint32_t s0 = w0; s0 < w1; s0 += 32) {
			const uint32_t s = s0 + lane;
			bool take = false;
			uint64_t k = 0;
			const bool cand = s < w1 && !slot_hit[s];
			if (cand)
				k = skey[s];
			const bool eq = cand && k == thr;
			const uint32_t be = __ballot_sync(0xffffffffu, eq);
			if (cand)
				take = k < thr || (eq && rank + __popc(be & lt) < need);
			rank += __popc(be);
			const uint32_t bt = __ballot_sync(0xffffffffu, take);
			uint32_t base = 0;
			if (lane == 0 && bt)
				base = atomicAdd(&sm.nsel, (uint32_t)__popc(bt));
			base = __shfl_sync(0xffffffffu, base, 0);
			if (take) {
				const uint32_t j = base + __popc(bt & lt);
				vkey[j] = k;
				vslot[j] = (int32_t)s;
			}
		}
		__syncthreads();
		PROF(6);

		/* F. sort misses by token, victims by (key, slot) */
		if (m <= 4 * nth) {
			/* F1. each warp sorts chunks of 32 in registers */
			const uint32_t nchunk = (m + 31) / 32;
			for (uint32_t c = tid >> 5; c < nchunk; c += NWARPS) {
				const uint32_t j = c * 32 + lane;
				int32_t tv = j < m ? mtok[j] : INT32_MAX;
				uint64_t kv = j < m ? vkey[j] : UINT64_MAX;
				int32_t sv = j < m ? vslot[j] : INT32_MAX;
				warp_sort(tv, kv, sv);
				if (j < m) {
					mtok[j] = tv;
					vkey[j] = kv;
					vslot[j] = sv;
				}
			}
			__syncthreads();
			/* F2. rank = elements below, counted by binary search in
			 * every sorted chunk; several threads per element when
			 * there are few */
			const uint32_t parts = m >= nth ? 1 : min(nchunk, nth / m);
			for (uint32_t w = tid; w < m * parts; w += nth) {
				const uint32_t j = w % m, part = w / m;
				const uint32_t c0 = part * nchunk / parts, c1 = (part + 1) * nchunk / parts;
				const int32_t tj = mtok[j];
				const uint64_t kj = vkey[j];
				const int32_t sj = vslot[j];
				uint32_t ct = 0, cv = 0;
				for (uint32_t c = c0; c < c1; c++) {
					const uint32_t base = c * 32, len = min(32u, m - base);
					ct += lower_bound_tok(mtok + base, len, tj);
					cv += lower_bound_kv(vkey + base, vslot + base, len, kj, sj);
				}
				if (parts > 1) {
					atomicAdd(&rank_t[j], ct);
					atomicAdd(&rank_v[j], cv);
				} else {
					rank_t[j] = ct;
					rank_v[j] = cv;
				}
			}
			__syncthreads();
			int32_t mt[4], vs[4];
			uint64_t vk[4];
			uint32_t rt[4], rv[4];
#pragma unroll
			for (int q = 0; q < 4; q++) {
				const uint32_t j = tid + q * nth;
				if (j < m) {
					mt[q] = mtok[j];
					vk[q] = vkey[j];
					vs[q] = vslot[j];
					rt[q] = rank_t[j];
					rv[q] = rank_v[j];
				}
			}
			__syncthreads();
#pragma unroll
			for (int q = 0; q < 4; q++) {
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
						cswap_kv(vkey, vslot, i, x, up);
					}
					__syncthreads();
				}
			}
		}
		PROF(7);

		/* G1. fills and the fetch list */
		uint32_t myevict = 0;
		const uint64_t fill = ess_policy_fill_key(a.policy, t);
		for (uint32_t j = tid; j < m; j += nth) {
			const int32_t tok = mtok[j];
			const int32_t v = vslot[j];
			const int32_t pos = hash_find(htok, hpos, hash_cap, tok);
			posslot[pos] = v;
			myevict += stok[v] >= 0;
			if (tmap) {
				map_clear(tmap, a.map_cap, stok[v]);
				tmap[tok] = (uint16_t)v;
			}
			tok_s[v] = tok;
			key_s[v] = fill;
			freq_s[v] = 1;
			fetch_entry(a, (uint64_t)b * K + j, tok, (int32_t)(req * S + (uint32_t)v), ext);
		}
		myevict = __reduce_add_sync(0xffffffffu, myevict);
		if (lane == 0 && myevict)
			atomicAdd(&sm.nevict, myevict);
		__syncthreads();
	}
	PROF(8);

	/* G2. slot ids of the row; the hits' new key and freq */
	for (uint32_t i = tid; i < K; i += nth) {
		const int32_t ps = posslot[i];
		out[i] = ps < 0 ? -1 : (int32_t)(req * S + (uint32_t)ps);
	}
	for (uint32_t s = tid; s < S; s += nth)
		if (slot_hit[s]) {
			key_s[s] = skey[s];
			freq_s[s] = sfreq[s];
		}
	PROF(9);
	if (tid == 0) {
		a.nmiss[b] = m;
		a.hs_t[req] = t;
		add_counters(a, sm.nvalid, sm.nhit, m, sm.nevict);
	}
}
