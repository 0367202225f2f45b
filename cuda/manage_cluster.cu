/* SPDX-License-Identifier: MIT */
/*
 * Hot-set management kernel on a thread-block cluster: the rule of
 * include/ess/hotset.h for one layer of a batch, one cluster of CL = 2 or
 * 4 blocks per (request, layer) hot set, so that a request gets CL SMs
 * instead of one (cuda/manage.cu is the one-block kernel; the launcher
 * picks, cuda/manage_launch.cu).
 *
 * The slots are split: block r holds slots [r * sc, (r + 1) * sc) in its
 * shared memory and does the slot passes (hits, histogram, ties) for them;
 * every block hashes the whole row.  What a block learns that others need
 * is pushed into their shared memory (distributed shared memory) before a
 * cluster barrier, so that after the barrier every read is local:
 *
 *  A. every block arrives on the cluster barrier at once (relaxed), and
 *     waits on it only before its first remote store: by then every block
 *     has started.
 *  B. state copy (own slots, cp.async), row hash and checks (all blocks,
 *     whole row).
 *  C. hits of own slots (their slot ids written out at once, a bit per
 *     row position set); own hit bits, key range, hit count, flags and
 *     LRU histogram (one shared atomic per slot) pushed to every block;
 *     cluster barrier 1.
 *  D. every block: misses (row positions no block hit) counted and their
 *     extents checked (block 0 keeps the list), threshold from the merged
 *     histogram (or radix start from the merged key range).  A bad row is
 *     seen by every block alike.
 *  E. radix passes where the histogram does not give the threshold: per
 *     pass own histogram, pushed (two buffers by pass parity), cluster
 *     barrier, digit taken by each block alike.  Victims: under the LRU
 *     histogram, when the victims' keys span at most PLACE_BUCKETS
 *     buckets, each victim's place in (key, slot) order is counted
 *     directly (the victims below its key from the merged histogram, the
 *     same key in lower blocks from theirs, in lower warps and lanes by
 *     ballots), so the victims need no sort; else they are appended and
 *     sorted after.  Ties at the threshold go lowest slot first across
 *     blocks.  Victims go to block 0's list (remote stores); meanwhile
 *     warps 0-15 of block 0 sort the misses.  Cluster barrier 2.
 * The launcher uses this kernel for top-k up to 2 x ESS_MANAGE_THREADS
 * (each half of block 0 sorts up to 4 entries a thread).
 *  F/G. block 0 sorts the victims if they were appended, fills and writes
 *     the fetch list and the misses' slot ids; each block writes its own
 *     hits' key and freq.
 * Global state is written only after D, so a bad row changes nothing.
 * No host round trip, fixed shapes: capturable in a CUDA graph.
 */
#include <stdint.h>

#include <cooperative_groups.h>

#include "ess/hotset.h"
#include "kernels.cuh"
#include "manage_util.cuh"

namespace cg = cooperative_groups;

/* ESS_MANAGE_PROF builds (ess-bench-fetch-prof only): block 0 records the
 * SM clock after each phase. */
#ifdef ESS_MANAGE_PROF
__device__ unsigned long long ess_manage_prof_cl[16];
#define PROF_T(i, t) PROF_AT(ess_manage_prof_cl, i, t)
#define PROF(i) PROF_T(i, 0)
PROF_GETTER(ess_cuda_manage_prof_cluster, ess_manage_prof_cl)
#else
#define PROF_T(i, t) do { } while (0)
#define PROF(i) do { } while (0)
#endif

/* most LRU buckets the victims' keys may span for counted places */
#define PLACE_BUCKETS 8

struct cl_smem {
	uint64_t prefix, mask;
	uint64_t fthr;		/* LRU histogram: threshold key */
	uint32_t fneed, fast, fdig;	/* slots to take at it, whether it holds, its bucket */
	uint32_t fdmin, place;	/* lowest non-empty bucket; victims placed by counts */
	uint32_t lastdig;	/* radix: digit of the last pass */
	uint32_t npass, remaining, nvalid, nmiss, bad, t;
	uint32_t lhits, lflags;	/* this block's hits and LF_* flags */
	uint32_t nsel, nevict;	/* block 0: victims taken, evictions (every block adds) */
	uint32_t dupm;		/* map path: block 0 found a missed token twice */
	uint32_t hist[256];	/* this block's histogram */
	uint32_t wsum[NWARPS];
	uint32_t wcnt[NWARPS][PLACE_BUCKETS];
	uint64_t wmin[NWARPS], wmax[NWARPS];
	/* pushed by every block of the cluster, indexed by its rank */
	uint32_t phist[2][ESS_MANAGE_CLUSTER_MAX][256];
	uint64_t plo[ESS_MANAGE_CLUSTER_MAX], phi[ESS_MANAGE_CLUSTER_MAX];
	uint32_t phits[ESS_MANAGE_CLUSTER_MAX], pflags[ESS_MANAGE_CLUSTER_MAX];
};

/* Named barrier of n threads (a multiple of 32); 0 is __syncthreads'. */
static __device__ __forceinline__ void bar_named(uint32_t id, uint32_t n)
{
	asm volatile("bar.sync %0, %1;\n" :: "r"(id), "r"(n) : "memory");
}

/* Sort of mtok[0..m) by the gn threads of a group (gt: index in it),
 * m <= 4 gn: chunks of 32 sorted in registers, each element's rank
 * counted by binary search in every chunk (several threads per element
 * when there are few), then moved.  rank[0..m) must be zero.  With dup
 * non-NULL, a token present twice sets *dup (then the order is not a
 * sort: equal tokens get one rank); found beside each other in a chunk,
 * or by an equal entry where the search ends in another chunk. */
static __device__ void sort_tok_group(int32_t *mtok, uint32_t *rank, uint32_t m,
				      uint32_t gt, uint32_t gn, uint32_t bar, uint32_t *dup)
{
	const uint32_t lane = threadIdx.x & 31, gnw = gn / 32;
	const uint32_t nchunk = (m + 31) / 32;
	for (uint32_t c = gt >> 5; c < nchunk; c += gnw) {
		const uint32_t j = c * 32 + lane;
		int32_t tv = j < m ? mtok[j] : INT32_MAX;
		warp_sort_tok(tv);
		if (j < m)
			mtok[j] = tv;
		if (dup) {
			const int32_t nx = __shfl_down_sync(0xffffffffu, tv, 1);
			if (lane < 31 && j + 1 < m && nx == tv)
				atomicOr(dup, 1u);
		}
	}
	bar_named(bar, gn);
	const uint32_t parts = m >= gn ? 1 : min(nchunk, gn / m);
	for (uint32_t w = gt; w < m * parts; w += gn) {
		const uint32_t j = w % m, part = w / m;
		const uint32_t c0 = part * nchunk / parts, c1 = (part + 1) * nchunk / parts;
		const int32_t tj = mtok[j];
		uint32_t cnt = 0;
		for (uint32_t c = c0; c < c1; c++) {
			const uint32_t cb = c * 32, len = min(32u, m - cb);
			const uint32_t lb = lower_bound_tok(mtok + cb, len, tj);
			cnt += lb;
			if (dup && c != j / 32 && lb < len && mtok[cb + lb] == tj)
				atomicOr(dup, 1u);
		}
		if (parts > 1)
			atomicAdd(&rank[j], cnt);
		else
			rank[j] = cnt;
	}
	bar_named(bar, gn);
	int32_t v[4];
	uint32_t r[4];
#pragma unroll
	for (int q = 0; q < 4; q++) {
		const uint32_t j = gt + q * gn;
		if (j < m) {
			v[q] = mtok[j];
			r[q] = rank[j];
		}
	}
	bar_named(bar, gn);
#pragma unroll
	for (int q = 0; q < 4; q++)
		if (gt + q * gn < m)
			mtok[r[q]] = v[q];
}

/* The same for (key, slot) pairs, ascending by key then slot. */
static __device__ void sort_kv_group(uint64_t *vkey, int32_t *vslot, uint32_t *rank, uint32_t m,
				     uint32_t gt, uint32_t gn, uint32_t bar)
{
	const uint32_t lane = threadIdx.x & 31, gnw = gn / 32;
	const uint32_t nchunk = (m + 31) / 32;
	for (uint32_t c = gt >> 5; c < nchunk; c += gnw) {
		const uint32_t j = c * 32 + lane;
		uint64_t kv = j < m ? vkey[j] : UINT64_MAX;
		int32_t sv = j < m ? vslot[j] : INT32_MAX;
		warp_sort_kv(kv, sv);
		if (j < m) {
			vkey[j] = kv;
			vslot[j] = sv;
		}
	}
	bar_named(bar, gn);
	const uint32_t parts = m >= gn ? 1 : min(nchunk, gn / m);
	for (uint32_t w = gt; w < m * parts; w += gn) {
		const uint32_t j = w % m, part = w / m;
		const uint32_t c0 = part * nchunk / parts, c1 = (part + 1) * nchunk / parts;
		const uint64_t kj = vkey[j];
		const int32_t sj = vslot[j];
		uint32_t cnt = 0;
		for (uint32_t c = c0; c < c1; c++) {
			const uint32_t cb = c * 32, len = min(32u, m - cb);
			cnt += lower_bound_kv(vkey + cb, vslot + cb, len, kj, sj);
		}
		if (parts > 1)
			atomicAdd(&rank[j], cnt);
		else
			rank[j] = cnt;
	}
	bar_named(bar, gn);
	uint64_t k[4];
	int32_t v[4];
	uint32_t r[4];
#pragma unroll
	for (int q = 0; q < 4; q++) {
		const uint32_t j = gt + q * gn;
		if (j < m) {
			k[q] = vkey[j];
			v[q] = vslot[j];
			r[q] = rank[j];
		}
	}
	bar_named(bar, gn);
#pragma unroll
	for (int q = 0; q < 4; q++)
		if (gt + q * gn < m) {
			vkey[r[q]] = k[q];
			vslot[r[q]] = v[q];
		}
}

__global__ void __launch_bounds__(ESS_MANAGE_THREADS, 1)
ess_k_manage_cluster(struct ess_manage_args a, uint32_t max_requests,
		     uint32_t hash_cap, uint32_t sort_cap, uint32_t sc)
{
	extern __shared__ __align__(16) unsigned char dyn[];
	__shared__ struct cl_smem sm;
	cg::cluster_group cluster = cg::this_cluster();
	const uint32_t CL = cluster.num_blocks();
	const uint32_t rank = cluster.block_rank();
	const uint32_t tid = threadIdx.x, nth = blockDim.x;
	const uint32_t lane = tid & 31, warp = tid >> 5;
	const uint32_t b = blockIdx.x / CL;
	const uint32_t K = a.topk, S = a.slots;
	const uint32_t kw = (K + 31) / 32;	/* words of a row's hit bits */
	const uint32_t s0 = min(S, rank * sc), ns = min(S, s0 + sc) - s0;

	uint64_t *vkey = (uint64_t *)dyn;		/* [sort_cap] */
	uint64_t *skey = vkey + sort_cap;		/* [sc] */
	int32_t *vslot = (int32_t *)(skey + sc);	/* [sort_cap] */
	int32_t *mtok = vslot + sort_cap;		/* [sort_cap] */
	uint32_t *rank_t = (uint32_t *)(mtok + sort_cap); /* [sort_cap] */
	uint32_t *rank_v = rank_t + sort_cap;		/* [sort_cap] */
	/* [sort_cap]: counted places, the own victim at place j, else -1 */
	int32_t *lvs = (int32_t *)(rank_v + sort_cap);
	int32_t *htok = lvs + sort_cap;			/* [hash_cap] */
	int32_t *stok = htok + hash_cap;		/* [sc] */
	uint32_t *sfreq = (uint32_t *)(stok + sc);	/* [sc] */
	int32_t *srow = (int32_t *)(sfreq + sc);	/* [K] */
	uint32_t *phit = (uint32_t *)(srow + K);	/* [CL][kw] hit bits per block */
	int16_t *hpos = (int16_t *)(phit + CL * kw);	/* [hash_cap] row positions */
	/* [sc]: 1 hit, 2 taken as a victim (map path), else 0 */
	unsigned char *slot_hit = (unsigned char *)(hpos + hash_cap);
	uint32_t *myhit = phit + rank * kw;
	/* map path: htok holds the row position that hit each own slot (-1:
	 * none), hash_cap = sc (the launcher); no hash, no hit bits pushed */
	const bool use_map = a.hs_map != NULL;
	int32_t *spos = htok;

	const int32_t *row = a.topk_rows + (uint64_t)b * K;
	int32_t rt[ROW_PF];
	row_prefetch(rt, row, K, tid, nth);
	int32_t *out = a.slots_out + (uint64_t)b * K;
	const uint32_t req = a.reqs[b];
	uint32_t bad = 0;
	if (req >= max_requests) {
		/* the same in every block: none touches another's memory */
		if (rank == 0) {
			if (tid == 0) {
				set_error(a.err, ESS_CUDA_EREQ, req);
				a.nmiss[b] = 0;
			}
			for (uint32_t i = tid; i < K; i += nth)
				out[i] = -1;
		}
		return;
	}
	/* A0. "started": waited on before the first remote store */
	asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory");
	int32_t *tok_s = a.hs_token + (uint64_t)req * S;
	uint64_t *key_s = a.hs_key + (uint64_t)req * S;
	uint32_t *freq_s = a.hs_freq + (uint64_t)req * S;
	const uint64_t map = (uint64_t)req * a.layers + a.layer;
	const uint32_t ntok = a.ntokens[map];
	const uint64_t *ext = a.extent_off + map * a.max_extents;
	uint16_t *tmap = use_map ? a.hs_map + (uint64_t)req * a.map_cap : NULL;
	/* tokens the map can hold bound the row's as the count held does */
	const uint32_t lim = map_lim(tmap, a.map_cap, ntok);
	/* issued now, used after the copies are issued and the clears done */
	const uint32_t t_prev = tid == 0 ? a.hs_t[req] : 0;

	PROF(0);
	/* B0. own slots' state by 16-byte asynchronous copies, in flight
	 * while the hash is cleared and the row hashed (s0 and ns are
	 * multiples of 4 when S is) */
	const bool vec = (S & 3) == 0 &&
			 !(((uintptr_t)tok_s | (uintptr_t)key_s | (uintptr_t)freq_s) & 15);
	if (vec) {
		for (uint32_t i = tid; i < ns / 4; i += nth) {
			cp_async16(stok + 4 * i, tok_s + s0 + 4 * i);
			cp_async16(sfreq + 4 * i, freq_s + s0 + 4 * i);
			cp_async16(skey + 4 * i, key_s + s0 + 4 * i);
			cp_async16(skey + 4 * i + 2, key_s + s0 + 4 * i + 2);
		}
		asm volatile("cp.async.commit_group;\n" ::: "memory");
	}
	/* A. clear */
	if (use_map) {
		for (uint32_t i = tid; i < ns; i += nth)
			spos[i] = -1;
	} else {
		for (uint32_t i = tid; i < hash_cap; i += nth)
			htok[i] = EMPTY_TOK;
		for (uint32_t i = tid; i < kw; i += nth)
			myhit[i] = 0;
	}
	for (uint32_t i = tid; i < ns; i += nth)
		slot_hit[i] = 0;
	for (uint32_t i = tid; i < 256; i += nth)
		sm.hist[i] = 0;
	if (tid == 0) {
		sm.nvalid = sm.nmiss = sm.nsel = sm.nevict = sm.bad = sm.dupm = 0;
		sm.fast = sm.place = sm.lflags = sm.lhits = 0;
		sm.t = t_prev + ((a.flags & ESS_MANAGE_NO_TICK) ? 0 : 1);
	}
	__syncthreads();
	PROF(1);

	/* B. state when 16-byte copies do not apply; row checked and hashed */
	if (!vec) {
		for (uint32_t i = tid; i < ns; i += nth) {
			stok[i] = tok_s[s0 + i];
			skey[i] = key_s[s0 + i];
			sfreq[i] = freq_s[s0 + i];
		}
	}
	/* bit n: the n-th row entry of this thread (the same ones in D) has
	 * no host extent; checked here, where the load hides behind the
	 * hashing, and counted in D only for misses */
	uint32_t noext = 0;
	/* map path, bit n: the n-th row entry of this thread is held (every
	 * block looks up the whole row, so all know every position) */
	uint32_t hitm = 0;
	uint16_t mv[ROW_PF];
	{
		/* the prefetched entries' extents and map entries: all loads
		 * issued before any is waited on */
		uint64_t ev[ROW_PF];
#pragma unroll
		for (int n = 0; n < ROW_PF; n++) {
			const uint32_t e = (uint32_t)rt[n] >> a.extent_shift;
			ev[n] = rt[n] >= 0 && e < a.max_extents ? ext[e] : UINT64_MAX;
			mv[n] = use_map && rt[n] >= 0 && (uint32_t)rt[n] < lim ? tmap[rt[n]]
									       : (uint16_t)ESS_MAP_NONE;
		}
#pragma unroll
		for (int n = 0; n < ROW_PF; n++)
			if (rt[n] >= 0 && ev[n] == UINT64_MAX)
				noext |= 1u << n;
	}
	if (use_map) {
		/* B'. row checked; each hit claims its slot in the block
		 * holding it (a slot claimed twice: the token is in the row
		 * twice, LF_DUP, pushed and seen by every block in D; a
		 * missed token twice is found by block 0's sort in E2) */
		uint32_t lf = 0;
		for (uint32_t i = tid, n = 0; i < K; i += nth, n++) {
			const int32_t tok = row_entry(rt, row, i, n);
			srow[i] = tok;
			bool valid = false;
			if (tok != -1 && (tok < 0 || (uint32_t)tok >= lim)) {
				atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_ERANGE);
			} else if (tok >= 0) {
				valid = true;
				uint32_t v = n == 0 ? mv[0] : n == 1 ? mv[1] : tmap[tok];
				if (n >= ROW_PF) {
					const uint32_t e = (uint32_t)tok >> a.extent_shift;
					if (e >= a.max_extents || ext[e] == UINT64_MAX)
						noext |= 1u << n;
				}
				if (v < S) {
					hitm |= 1u << n;
					if (v - s0 < ns && atomicExch(&spos[v - s0], (int32_t)i) >= 0)
						lf |= LF_DUP;
				}
			}
			warp_add(&sm.nvalid, valid);
		}
		if (lf)
			atomicOr(&sm.lflags, lf);
	}
	for (uint32_t i = tid, n = 0; !use_map && i < K; i += nth, n++) {
		const int32_t tok = row_entry(rt, row, i, n);
		srow[i] = tok;
		if (tok >= 0 && n >= ROW_PF) {
			const uint32_t e = (uint32_t)tok >> a.extent_shift;
			if (e >= a.max_extents || ext[e] == UINT64_MAX)
				noext |= 1u << n;
		}
		warp_add(&sm.nvalid, row_insert(tok, i, ntok, htok, hpos, hash_cap, &sm.bad));
	}
	if (vec)
		asm volatile("cp.async.wait_all;\n" ::: "memory");
	__syncthreads();
	PROF(2);
	bad = sm.bad ? sm.bad : sm.nvalid > S ? (uint32_t)ESS_CUDA_ETOOMANY : 0;
	if (bad)
		goto reject;	/* every block saw the same row */

	{
		const uint32_t t = sm.t;
		/* C. hits of own slots: slot id out, hit bit set; the key
		 * range, and under LRU the histogram (cuda/manage.cu, C), of
		 * the others.  A row found bad later gets -1 over these ids
		 * (after cluster barrier 1). */
		const bool lru_hist = a.policy == ESS_POLICY_LRU && !(a.flags & ESS_MANAGE_RADIX_ONLY);
		/* one shared atomic per slot (measured faster than one per
		 * bucket and warp after match_any, kept as a flag) */
		const bool hist_plain = lru_hist && !(a.flags & ESS_MANAGE_HIST_MATCH);
		const uint64_t base = t >= LRU_BUCKETS - 1 ? (uint64_t)t - (LRU_BUCKETS - 1) : 0;
		uint64_t lo = UINT64_MAX, hi = 0;
		uint32_t myhits = 0, lf = 0;
		for (uint32_t ls = tid; ls < ns; ls += nth) {
			const int32_t tok = stok[ls];
			const int32_t pos = use_map ? spos[ls]
					  : tok < 0 ? -1 : hash_find(htok, hpos, hash_cap, tok);
			int dig = -1;
			if (pos < 0) {
				dig = lru_bucket(skey[ls], base, lo, hi, lf);
			} else {
				slot_hit[ls] = 1;
				if (!use_map)
					atomicOr(&myhit[pos >> 5], 1u << (pos & 31));
				out[pos] = (int32_t)(req * S + s0 + ls);
				hit_bump(skey, sfreq, ls, a.policy, t);
				myhits++;
			}
			if (hist_plain) {
				if (dig >= 0)
					atomicAdd(&sm.hist[dig], 1u);
			} else if (lru_hist) {
				hist_add_match(sm.hist, dig);
			}
		}
		lf = __reduce_or_sync(0xffffffffu, lf);
		myhits = __reduce_add_sync(0xffffffffu, myhits);
		warp_range(lo, hi);
		if (lane == 0) {
			sm.wmin[warp] = lo;
			sm.wmax[warp] = hi;
			if (myhits)
				atomicAdd(&sm.lhits, myhits);
			if (lf)
				atomicOr(&sm.lflags, lf);
		}
		__syncthreads();
		PROF(10);
		/* every block has started (A0): push this block's results to
		 * every block (itself included) */
		asm volatile("barrier.cluster.wait.aligned;\n" ::: "memory");
		PROF(11);
		if (tid < 32) {
			uint64_t l = UINT64_MAX, h = 0;
			for (uint32_t w = lane; w < NWARPS; w += 32) {
				l = sm.wmin[w] < l ? sm.wmin[w] : l;
				h = sm.wmax[w] > h ? sm.wmax[w] : h;
			}
			warp_range(l, h);
			if (lane < CL) {
				struct cl_smem *dst = lane == rank ? &sm : cluster.map_shared_rank(&sm, lane);
				dst->plo[rank] = l;
				dst->phi[rank] = h;
				dst->phits[rank] = sm.lhits;
				dst->pflags[rank] = sm.lflags;
			}
		} else if (tid < 32 + 256 && lru_hist) {
			const uint32_t i = tid - 32, v = sm.hist[i];
			for (uint32_t r = 0; r < CL; r++) {
				struct cl_smem *dst = r == rank ? &sm : cluster.map_shared_rank(&sm, r);
				dst->phist[0][rank][i] = v;
			}
		}
		for (uint32_t i = tid; !use_map && i < kw; i += nth) {
			const uint32_t v = myhit[i];
			for (uint32_t r = 0; r < CL; r++)
				if (r != rank)
					cluster.map_shared_rank(myhit, r)[i] = v;
		}
		cluster.sync();
		PROF(3);

		/* D. misses: valid row entries no block hit (extents checked;
		 * block 0 keeps the list); from the merged values the radix
		 * start or the threshold */
		uint32_t nhit = 0, lfa = 0;
		for (uint32_t r = 0; r < CL; r++) {
			nhit += sm.phits[r];
			lfa |= sm.pflags[r];
		}
		uint32_t missm = 0;	/* bit n: this thread's n-th entry missed */
		for (uint32_t i = tid, n = 0; i < K; i += nth, n++) {
			const int32_t tok = srow[i];
			bool miss = false;
			if (tok != -1 && use_map) {
				miss = !((hitm >> n) & 1);
			} else if (tok != -1) {
				uint32_t hw = 0;
				for (uint32_t r = 0; r < CL; r++)
					hw |= phit[r * kw + (i >> 5)];
				miss = !((hw >> (i & 31)) & 1);
			} else if (rank == CL - 1) {
				out[i] = -1;
			}
			missm |= (uint32_t)miss << n;
			if (miss && ((noext >> n) & 1))
				atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_ENOEXTENT);
			const uint32_t j = warp_add(&sm.nmiss, miss);
			/* block 0 sorts the misses and fills, unless each
			 * block fills its own victims (then each sorts them) */
			if (miss && (rank == 0 || (a.flags & ESS_MANAGE_FILL_OWN))) {
				mtok[j] = tok;
				rank_t[j] = 0;
				rank_v[j] = 0;
				lvs[j] = -1;
			}
		}
		if (tid < 32) {
			if (lane == 0) {
				uint64_t l = UINT64_MAX, h = 0;
				for (uint32_t r = 0; r < CL; r++) {
					l = sm.plo[r] < l ? sm.plo[r] : l;
					h = sm.phi[r] > h ? sm.phi[r] : h;
				}
				radix_start(l, h, &sm.mask, &sm.prefix, &sm.npass);
			}
		} else if (tid < 64 && lru_hist) {
			/* the m-th smallest key from the merged histogram, and
			 * whether the victims' buckets allow counted places */
			const uint32_t mm = sm.nvalid - nhit;
			uint32_t lfm = 0;
			for (uint32_t r = 0; r < CL; r++)
				lfm |= sm.pflags[r];
			uint32_t hv[8], sum = 0;
#pragma unroll
			for (int j = 0; j < 8; j++) {
				hv[j] = 0;
				for (uint32_t r = 0; r < CL; r++)
					hv[j] += sm.phist[0][r][lane * 8 + j];
				sum += hv[j];
			}
			/* lowest non-empty bucket */
			const uint32_t nz = __ballot_sync(0xffffffffu, sum > 0);
			uint32_t jz = 7;
#pragma unroll
			for (int q = 7; q >= 0; q--)
				if (hv[q])
					jz = q;
			const uint32_t dmin = nz ? __shfl_sync(0xffffffffu, lane * 8 + jz, __ffs(nz) - 1) : 0;
			const uint32_t incl = warp_scan_incl(sum);
			const uint32_t ball = __ballot_sync(0xffffffffu, incl >= mm);
			const uint32_t first = ball ? __ffs(ball) - 1 : 32;
			if (mm > 0 && lane == first) {
				uint32_t j = 7, cum = incl - sum;
				bool found = false;
#pragma unroll
				for (int q = 0; q < 8; q++) {
					if (found)
						continue;
					if (cum + hv[q] >= mm) {
						j = q;
						found = true;
					} else {
						cum += hv[q];
					}
				}
				const uint32_t d = lane * 8 + j;
				if (!(lfm & LF_OVER) && (d > 0 || !(lfm & LF_STALE))) {
					sm.fthr = base + d;
					sm.fneed = mm - cum;
					sm.fdig = d;
					sm.fdmin = dmin;
					/* bucket 0 holds one key only without stale keys */
					sm.place = !(lfm & LF_STALE) && d - dmin < PLACE_BUCKETS;
					sm.fast = 1;
				}
			}
		} else if (tid >= 64 && tid < 64 + 256) {
			sm.hist[tid - 64] = 0;	/* for the radix passes */
		}
		__syncthreads();
		PROF(4);
		bad = lfa & LF_DUP ? (uint32_t)ESS_CUDA_EDUP : sm.bad;
		if (bad)
			goto reject;	/* every block checked every miss */

		const uint32_t m = sm.nmiss;
		const bool fast = sm.fast && m == sm.nvalid - nhit;
		const bool place = fast && sm.place;
		if (tid == 0 && sm.npass && !fast)
			sm.remaining = m;
		uint32_t par = 0;	/* phist buffer of the last push */
		/* E1. radix select of the m-th smallest key (unless the
		 * histogram gave it), the digit histograms merged by pushes */
		for (int pass = m == 0 || fast ? -1 : (int)sm.npass - 1; pass >= 0; pass--) {
			const int shift = pass * 8;
			const uint64_t mask = sm.mask, prefix = sm.prefix;
			for (uint32_t ls = tid; ls < ns; ls += nth) {
				int dig = -1;
				if (!slot_hit[ls]) {
					const uint64_t k = skey[ls];
					if ((k & mask) == prefix)
						dig = (int)((k >> shift) & 255);
				}
				hist_add_match(sm.hist, dig);
			}
			__syncthreads();
			/* buffers alternate: a block still reading the last
			 * pass's buffer has not passed this pass's barrier */
			par ^= 1;
			if (tid < 256) {
				const uint32_t v = sm.hist[tid];
				sm.hist[tid] = 0;	/* for the next pass */
				for (uint32_t r = 0; r < CL; r++) {
					struct cl_smem *dst = r == rank ? &sm : cluster.map_shared_rank(&sm, r);
					dst->phist[par][rank][tid] = v;
				}
			}
			cluster.sync();
			if (tid < 32) {
				uint32_t hv[8], sum = 0;
#pragma unroll
				for (int j = 0; j < 8; j++) {
					hv[j] = 0;
					for (uint32_t r = 0; r < CL; r++)
						hv[j] += sm.phist[par][r][lane * 8 + j];
					sum += hv[j];
				}
				const uint32_t incl = warp_scan_incl(sum);
				const uint32_t rem = sm.remaining;
				const uint32_t ball = __ballot_sync(0xffffffffu, incl >= rem);
				const uint32_t first = __ffs(ball) - 1;
				__syncwarp();	/* every lane has read remaining */
				if (lane == first) {
					uint32_t j = 7, cum = incl - sum;
					bool found = false;
#pragma unroll
					for (int q = 0; q < 8; q++) {
						if (found)
							continue;
						if (cum + hv[q] >= rem) {
							j = q;
							found = true;
						} else {
							cum += hv[q];
						}
					}
					const uint32_t d = lane * 8 + j;
					sm.remaining = rem - cum;
					sm.prefix = prefix | ((uint64_t)d << shift);
					sm.mask = mask | (255ull << shift);
					sm.lastdig = d;
				}
			}
			__syncthreads();
		}
		PROF(5);

		/* E2. victims: every candidate under the threshold key and the
		 * lowest `need` slots at it, in slot order across the blocks.
		 * The victims go to block 0, which sorts the misses on warps
		 * 0-15 meanwhile and fills after cluster barrier 2.  With
		 * ESS_MANAGE_FILL_OWN and counted places every block keeps its
		 * own victims (lvs), then sorts the misses with the whole
		 * block, and fills its victims itself: nothing remote, no
		 * cluster barrier (measured slower, note 28). */
		const uint32_t half = nth / 2;
		/* m <= topk <= 4 * half: the launcher's bound */
		const bool place_own = place && (a.flags & ESS_MANAGE_FILL_OWN);
		const bool split = rank == 0 && m > 0 && !place_own;
		uint32_t *dup = use_map ? &sm.dupm : NULL;
		if (split && warp < NWARPS / 2) {
			sort_tok_group(mtok, rank_t, m, tid, half, 1, dup);
			/* map path: a missed token twice rejects the row in
			 * every block, told before cluster barrier 2 (dupm is
			 * read only after it) */
			if (use_map && tid == 0 && sm.dupm)
				for (uint32_t r = 1; r < CL; r++)
					cluster.map_shared_rank(&sm, r)->dupm = 1;
			PROF(12);
		} else if (m > 0) {
			const uint32_t gw0 = split ? NWARPS / 2 : 0, gnw = NWARPS - gw0, gn = gnw * 32;
			const uint32_t gw = warp - gw0;
			const uint64_t thr = fast ? sm.fthr : sm.prefix;
			const uint32_t need = fast ? sm.fneed : sm.npass ? sm.remaining : m;
			const uint32_t per_w = (((ns + gnw - 1) / gnw) + 31) & ~31u;
			const uint32_t w0 = min(ns, gw * per_w), w1 = min(ns, w0 + per_w);
			struct cl_smem *sm0 = rank == 0 ? &sm : cluster.map_shared_rank(&sm, 0);
			uint64_t *vkey0 = rank == 0 ? vkey : cluster.map_shared_rank(vkey, 0);
			int32_t *vslot0 = rank == 0 ? vslot : cluster.map_shared_rank(vslot, 0);
			const uint32_t lt = (1u << lane) - 1;
			uint32_t myevict = 0;
			if (place) {
				/* places counted: bucket q = key - base - dmin;
				 * a victim's place = victims in lower buckets +
				 * same bucket in lower blocks, warps, lanes */
				const uint32_t dmin = sm.fdmin, nb = sm.fdig - dmin + 1;
				uint32_t c[PLACE_BUCKETS];
#pragma unroll
				for (int q = 0; q < PLACE_BUCKETS; q++)
					c[q] = 0;
				for (uint32_t q0 = w0; q0 < w1; q0 += 32) {
					const uint32_t ls = q0 + lane;
					int bq = -1;
					if (ls < w1 && !slot_hit[ls]) {
						const uint64_t k = skey[ls];
						bq = (int)((k <= base ? 0 : (uint32_t)(k - base)) - dmin);
					}
#pragma unroll
					for (int q = 0; q < PLACE_BUCKETS; q++)
						c[q] += __popc(__ballot_sync(0xffffffffu, bq == q));
				}
#pragma unroll
				for (int q = 0; q < PLACE_BUCKETS; q++)
					if (lane == (uint32_t)q)
						sm.wcnt[gw][q] = c[q];
				if (split)
					bar_named(2, gn);
				else
					__syncthreads();
				/* lane q: bucket q's first place for this warp */
				uint32_t cntq = 0, below = 0;
				if (lane < nb)
					for (uint32_t r = 0; r < CL; r++) {
						const uint32_t v = sm.phist[0][r][dmin + lane];
						cntq += v;
						below += r < rank ? v : 0;
					}
				const uint32_t incl = warp_scan_incl(cntq);
				const uint32_t lowq = incl - cntq;	/* victims in lower buckets */
				uint32_t wb = 0;
#pragma unroll
				for (int q = 0; q < PLACE_BUCKETS; q++) {
					const uint32_t s = __reduce_add_sync(0xffffffffu,
									    lane < gw ? sm.wcnt[lane][q] : 0u);
					if (lane == (uint32_t)q)
						wb = s;
				}
				const uint32_t first = lowq + below + wb;
				const uint32_t pthr = __shfl_sync(0xffffffffu, lowq, nb - 1);
				uint32_t bse[PLACE_BUCKETS];
#pragma unroll
				for (int q = 0; q < PLACE_BUCKETS; q++)
					bse[q] = __shfl_sync(0xffffffffu, first, q);
				for (uint32_t q0 = w0; q0 < w1; q0 += 32) {
					const uint32_t ls = q0 + lane;
					int bq = -1;
					uint64_t k = 0;
					if (ls < w1 && !slot_hit[ls]) {
						k = skey[ls];
						bq = (int)((k <= base ? 0 : (uint32_t)(k - base)) - dmin);
					}
					uint32_t pos = 0;
#pragma unroll
					for (int q = 0; q < PLACE_BUCKETS; q++) {
						const uint32_t bb = __ballot_sync(0xffffffffu, bq == q);
						if (bq == q)
							pos = bse[q] + __popc(bb & lt);
						bse[q] += __popc(bb);
					}
					const bool take = bq >= 0 && bq < (int)nb &&
							  (bq < (int)nb - 1 || pos - pthr < need);
					if (take && place_own) {
						lvs[pos] = (int32_t)(s0 + ls);
					} else if (take) {
						vkey0[pos] = k;
						vslot0[pos] = (int32_t)(s0 + ls);
					}
					if (take) {
						myevict += stok[ls] >= 0;
						slot_hit[ls] = 2;
					}
				}
			} else {
				/* appended in any order, sorted after: ties
				 * counted per warp first */
				uint32_t ties_below = 0;
				for (uint32_t r = 0; r < rank; r++) {
					if (fast)
						ties_below += sm.phist[0][r][sm.fdig];
					else if (sm.npass)
						ties_below += sm.phist[par][r][sm.lastdig];
					else
						ties_below += (min(S, (r + 1) * sc) - min(S, r * sc)) - sm.phits[r];
				}
				uint32_t eqw = 0;
				for (uint32_t q0 = w0; q0 < w1; q0 += 32) {
					const uint32_t ls = q0 + lane;
					const bool eq = ls < w1 && !slot_hit[ls] && skey[ls] == thr;
					eqw += __popc(__ballot_sync(0xffffffffu, eq));
				}
				if (lane == 0)
					sm.wsum[gw] = eqw;
				if (split)
					bar_named(2, gn);
				else
					__syncthreads();
				uint32_t rk = ties_below;
				for (uint32_t v0 = 0; v0 < gw; v0 += 32) {
					const uint32_t v = v0 + lane;
					rk += __reduce_add_sync(0xffffffffu, v < gw ? sm.wsum[v] : 0u);
				}
				for (uint32_t q0 = w0; q0 < w1; q0 += 32) {
					const uint32_t ls = q0 + lane;
					bool take = false;
					uint64_t k = 0;
					const bool cand = ls < w1 && !slot_hit[ls];
					if (cand)
						k = skey[ls];
					const bool eq = cand && k == thr;
					const uint32_t be = __ballot_sync(0xffffffffu, eq);
					if (cand)
						take = k < thr || (eq && rk + __popc(be & lt) < need);
					rk += __popc(be);
					const uint32_t bt = __ballot_sync(0xffffffffu, take);
					uint32_t at = 0;
					if (lane == 0 && bt)
						at = atomicAdd(&sm0->nsel, (uint32_t)__popc(bt));
					at = __shfl_sync(0xffffffffu, at, 0);
					if (take) {
						const uint32_t j = at + __popc(bt & lt);
						vkey0[j] = k;
						vslot0[j] = (int32_t)(s0 + ls);
						myevict += stok[ls] >= 0;
						slot_hit[ls] = 2;
					}
				}
			}
			myevict = __reduce_add_sync(0xffffffffu, myevict);
			if (lane == 0 && myevict)
				atomicAdd(place_own ? &sm.nevict : &sm0->nevict, myevict);
			PROF_T(13, ESS_MANAGE_THREADS / 2);
		}
		/* counted places: the misses sorted by the whole block (a
		 * missed token twice found alike by every block's sort) */
		if (place_own && m > 0) {
			sort_tok_group(mtok, rank_t, m, tid, nth, 0, dup);
			PROF(12);
		}
		/* with counted places nothing was remote since cluster
		 * barrier 1 and nothing is after it: a block barrier will do;
		 * else block 0 has every victim, nothing remote after this */
		if (place_own)
			__syncthreads();
		else
			cluster.sync();
		PROF(6);
		if (sm.dupm) {
			bad = ESS_CUDA_EDUP;
			goto reject;	/* every block knows (see E2) */
		}

		if ((rank == 0 || place_own) && m > 0) {
			/* F. victims sorted if they were appended (the whole
			 * block: the misses are sorted already) */
			if (!place) {
				sort_kv_group(vkey, vslot, rank_v, m, tid, nth, 0);
				__syncthreads();
			}
			PROF(7);

			/* G1. fills, slot ids of the misses, the fetch list:
			 * each missed row position's thread finds its token's
			 * place j in the sorted misses and fills the j-th
			 * victim if this block holds it (every victim in block
			 * 0 unless places were counted) */
			const uint64_t fill = ess_policy_fill_key(a.policy, t);
			const int32_t *vs = place_own ? lvs : vslot;
			for (uint32_t i = tid, n = 0; i < K; i += nth, n++) {
				if (!((missm >> n) & 1))
					continue;
				const int32_t tok = srow[i];
				const uint32_t j = lower_bound_tok(mtok, m, tok);
				const int32_t v = vs[j];
				if (v < 0)
					continue;
				out[i] = (int32_t)(req * S + (uint32_t)v);
				tok_s[v] = tok;
				key_s[v] = fill;
				freq_s[v] = 1;
				if (use_map)
					tmap[tok] = (uint16_t)v;
				fetch_entry(a, (uint64_t)b * K + j, tok, (int32_t)(req * S + (uint32_t)v), ext);
			}
		}
		PROF(8);

		/* G2. own hits' new key and freq; own victims' old tokens
		 * out of the map (none of them is in the row, so no fill of
		 * G1 writes the same entry) */
		for (uint32_t ls = tid; ls < ns; ls += nth)
			if (slot_hit[ls] == 1) {
				key_s[s0 + ls] = skey[ls];
				freq_s[s0 + ls] = sfreq[ls];
			} else if (slot_hit[ls] == 2 && use_map) {
				map_clear(tmap, a.map_cap, stok[ls]);
			}
		PROF(9);
		if (rank == 0 && tid == 0) {
			a.nmiss[b] = m;
			a.hs_t[req] = t;
			add_counters(a, sm.nvalid, nhit, m, sm.nevict);
		} else if (tid == 0 && sm.nevict) {
			/* counted places: each block's own evictions */
			atomicAdd((unsigned long long *)&a.counters[ESS_CUDA_C_EVICTIONS],
				  (unsigned long long)sm.nevict);
		}
		return;
	}
reject:
	/* nothing global but hit slot ids was written: block 0 rejects the
	 * row (after cluster barrier 1 when those were written) */
	if (rank == 0) {
		if (tid == 0) {
			set_error(a.err, (int)bad, req);
			a.nmiss[b] = 0;
		}
		for (uint32_t i = tid; i < K; i += nth)
			out[i] = -1;
	}
}
