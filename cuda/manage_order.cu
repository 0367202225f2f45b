/* SPDX-License-Identifier: MIT */
/*
 * Hot-set management under LRU from a kept order: the rule of
 * include/ess/hotset.h for one layer of a batch, one block per (request,
 * layer) hot set, with the token -> slot map (hs_map) and the hot set's
 * slots kept in ascending (key, slot) order (hs_order, hs_order_tail; see
 * struct ess_manage_args).
 *
 * Under LRU a resolve at step t gives every slot it touches (hits and
 * fills) key t, and every other key is below t.  So with the slots kept
 * in (key, slot) order the victims are simply the first m entries of the
 * order that the row did not hit, and the next order is the untouched
 * entries in their old order followed by the touched slots in slot order.
 * No key is read: the work per row is one map load per row entry, two
 * block scans (over the order, then over the slots; S / 1024 entries a
 * thread) and a bitmap of the missed tokens, against the other kernels'
 * passes over every slot's key with a histogram or a radix select and
 * their sorts of the misses.  An append (ESS_MANAGE_NO_TICK) at the t of
 * the last resolve touches slots that already hold key t: the order's
 * tail, the last n entries, which hold key t, joins the touched slots and
 * is merged in slot order with them.
 *
 * What costs is memory traffic, not arithmetic (notes 30-33 of
 * Documentation/dev/cuda.md): the order, the tokens held and freq move
 * between global and shared memory by coalesced 16-byte copies, and the
 * slot state of hits and fills is written by slot, consecutive slots in
 * consecutive lanes, instead of a scattered store per slot.
 *
 *  A. Loads first: the thread's row entries, their map entries and host
 *     extents; the order, tokens and freq by cp.async.  A stale order
 *     (after a reset, or a launch of another kernel) is built here from
 *     hs_key by a bitonic sort of (key, slot) in shared memory.
 *  B. Row checks (range; duplicates: a hit claims its slot by CAS, a
 *     missed token sets its bit in the bitmap, and a second claim or a bit
 *     already set is a repeat), hits and misses; the order's tail marked
 *     when this step is at its t.
 *  C. Scan 1 over the order counts the entries not hit; the bitmap's
 *     words are counted alongside.
 *  D. The first m entries not hit are the victims, in order; each bitmap
 *     word gets the number of misses in the words before it.
 *  E. Scan 2 over the slots: the touched ones (hit, victim, old tail) in
 *     slot order; each miss put at its rank by token (misses in earlier
 *     words plus the bits below its own), so no sort.
 *  F. Only now, with the row known valid, global writes: fills (the r-th
 *     miss by token takes the r-th victim), the fetch list in token order,
 *     slot ids, the map; the new order staged in shared memory; then the
 *     slot state of hits and fills by slot, the order copied out, its tail.
 * A row found bad writes nothing but -1 slot ids and the error word.
 */
#include <stdint.h>

#include "ess/hotset.h"
#include "kernels.cuh"
#include "manage_util.cuh"

#ifdef ESS_MANAGE_PROF
__device__ unsigned long long ess_manage_prof_ord[16];
#define PROF(i) PROF_AT(ess_manage_prof_ord, i, 0)
PROF_GETTER(ess_cuda_manage_prof_order, ess_manage_prof_ord)
#else
#define PROF(i) do { } while (0)
#endif

#define CLAIM_NONE 0xffffu
#define MARK_VICTIM 1
#define MARK_TAIL 2

struct order_smem {
	uint32_t nvalid, nmiss, bad, nevict;
	uint64_t tail_t;	/* the order's tail key (rebuilt: the largest key) */
	uint32_t tail_n;
	uint32_t wsum[NWARPS];	/* scan 1 */
	uint32_t wsum2[NWARPS];	/* scan 2 */
	uint32_t wsumb[NWARPS];	/* the missed-token bitmap's scan */
};

/*
 * Exclusive prefix of cnt over the block (thread order), given its
 * inclusive prefix within the warp; wsum holds the warp totals, written
 * before the barrier that precedes this call.  *total gets the block's sum.
 */
static __device__ __forceinline__ uint32_t block_excl(uint32_t cnt, uint32_t incl,
						      const uint32_t *wsum, uint32_t *total)
{
	const uint32_t lane = threadIdx.x & 31, w = threadIdx.x >> 5;
	const uint32_t ws = wsum[lane];		/* NWARPS == 32 */
	const uint32_t wi = warp_scan_incl(ws);
	*total = __shfl_sync(0xffffffffu, wi, 31);
	return __shfl_sync(0xffffffffu, wi - ws, w) + incl - cnt;
}

/* A rejected row: its slot ids -1, no misses, the error word set. */
static __device__ void reject_row(const struct ess_manage_args &a, uint32_t b, uint32_t req,
				  uint32_t code, int32_t *out)
{
	if (threadIdx.x == 0) {
		set_error(a.err, (int)code, req);
		a.nmiss[b] = 0;
	}
	for (uint32_t i = threadIdx.x; i < a.topk; i += blockDim.x)
		out[i] = -1;
}

/* Entry k of a thread's packed run of the order. */
#define ORD_GET(ow, k) ((uint32_t)((ow)[(k) >> 1] >> (16 * ((k) & 1))) & 0xffffu)

/* Order entries a thread holds (in registers, packed two to a word):
 * ORD_E_MAX x ESS_MANAGE_THREADS = ESS_ORDER_MAX_SLOTS.  (16 spilled, and
 * the per-slot copies in shared memory would not fit past 8192 slots.) */
#define ORD_E_MAX 8

__global__ void __launch_bounds__(ESS_MANAGE_THREADS, 1)
ess_k_manage_order(struct ess_manage_args a, uint32_t max_requests, uint32_t sort_cap,
		   uint32_t nsort, uint32_t bw_cap)
{
	extern __shared__ __align__(16) unsigned char dyn[];
	__shared__ struct order_smem sm;
	const uint32_t tid = threadIdx.x, nth = blockDim.x;
	const uint32_t lane = tid & 31, w = tid >> 5;
	const uint32_t b = blockIdx.x;
	const uint32_t K = a.topk, S = a.slots;
	/* order entries per thread (even), the thread's run [e0, e0 + E) */
	const uint32_t E = 2 * ((S + 2 * nth - 1) / (2 * nth));
	const uint32_t e0 = tid * E;
	const uint32_t S8 = (S + 7) & ~7u;

	/* shared layout (sort_cap >= 8 keeps every array 16-byte aligned);
	 * the rebuild's (key, slot) arrays overlay it */
	uint64_t *mpk = (uint64_t *)dyn;		/* [sort_cap] misses: token << 32 | position */
	uint64_t *msorted = mpk + sort_cap;		/* [sort_cap] the same by rank */
	uint64_t *poff = msorted + sort_cap;		/* [sort_cap] a missed position's host offset */
	int32_t *vold = (int32_t *)(poff + sort_cap);	/* [sort_cap] victims' old tokens */
	uint16_t *vic = (uint16_t *)(vold + sort_cap);	/* [sort_cap] victims in order */
	uint16_t *sord = vic + sort_cap;		/* [S8] the order, old then new */
	int32_t *stok = (int32_t *)(sord + S8);		/* [S8] tokens held */
	uint32_t *sfreq = (uint32_t *)(stok + S8);	/* [S8] freq */
	uint16_t *claim = (uint16_t *)(sfreq + S8);	/* [S8] row position hitting slot */
	unsigned char *mark = (unsigned char *)(claim + S8); /* [S8] MARK_* */
	uint32_t *bits = (uint32_t *)(mark + S8);	/* [bw_cap] missed tokens */
	uint16_t *wpre = (uint16_t *)(bits + bw_cap);	/* [bw_cap] misses in earlier words */
	uint64_t *rkey = (uint64_t *)dyn;		/* [nsort] (rebuild) */
	uint16_t *rsl = (uint16_t *)(rkey + nsort);	/* [nsort] (rebuild) */

	/* A. loads: the row, its map entries and extents, the order */
	const int32_t *row = a.topk_rows + (uint64_t)b * K;
	int32_t rt[ROW_PF];
	row_prefetch(rt, row, K, tid, nth);
	int32_t *out = a.slots_out + (uint64_t)b * K;
	const uint32_t req = a.reqs[b];
	if (req >= max_requests) {
		reject_row(a, b, req, ESS_CUDA_EREQ, out);
		return;
	}
	PROF(0);
	int32_t *tok_s = a.hs_token + (uint64_t)req * S;
	uint64_t *key_s = a.hs_key + (uint64_t)req * S;
	uint32_t *freq_s = a.hs_freq + (uint64_t)req * S;
	uint16_t *tmap = a.hs_map + (uint64_t)req * a.map_cap;
	uint16_t *ord_g = a.hs_order + (uint64_t)req * S;
	uint32_t *tail_g = a.hs_order_tail + 2ull * req;
	const uint64_t hmap = (uint64_t)req * a.layers + a.layer;
	const uint32_t ntok = a.ntokens[hmap];
	/* a token must also fit the map */
	const uint32_t lim = map_lim(tmap, a.map_cap, ntok);
	const uint64_t *ext = a.extent_off + hmap * a.max_extents;
	const uint32_t t = a.hs_t[req] + ((a.flags & ESS_MANAGE_NO_TICK) ? 0 : 1);
	/* the bitmap's words in use, a run of BW per thread */
	const uint32_t bw = (lim + 31) / 32;
	const uint32_t BW = (bw + nth - 1) / nth, b0 = tid * BW;
	const uint32_t tail_t32 = tail_g[0], tail_n32 = tail_g[1];
	const bool stale = tail_n32 > S;	/* ESS_ORDER_STALE, or nonsense */
	/* The order, the tokens held and freq are copied to shared memory by
	 * 16-byte asynchronous copies (where aligned so), in flight while
	 * the row's map entries load: coalesced copies of the whole arrays
	 * cost less than a scattered load or store per victim and per hit. */
	const bool vec = (S & 7) == 0 &&
			 !(((uintptr_t)ord_g | (uintptr_t)tok_s | (uintptr_t)freq_s) & 15);
	/* (a stale order is built first, in an overlay of these arrays) */
	if (vec && !stale) {
		for (uint32_t i = tid; i < S / 8; i += nth)
			cp_async16(sord + 8 * i, ord_g + 8 * i);
		for (uint32_t i = tid; i < S / 4; i += nth) {
			cp_async16(stok + 4 * i, tok_s + 4 * i);
			cp_async16(sfreq + 4 * i, freq_s + 4 * i);
		}
		asm volatile("cp.async.commit_group;\n" ::: "memory");
	}

	uint32_t mv[ROW_PF];
	uint64_t ex[ROW_PF];
#pragma unroll
	for (int n = 0; n < ROW_PF; n++) {
		const int32_t tok = rt[n];
		const bool ok = tok >= 0 && (uint32_t)tok < lim;
		const uint32_t e = ok ? (uint32_t)tok >> a.extent_shift : 0;
		mv[n] = ok ? tmap[tok] : CLAIM_NONE;
		ex[n] = ok && e < a.max_extents ? ext[e] : UINT64_MAX;
	}
	uint32_t ow[ORD_E_MAX / 2];
#pragma unroll
	for (int k = 0; k < ORD_E_MAX / 2; k++)
		ow[k] = 0xffffffffu;
	if (stale) {
		/* build the order: (key, slot) pairs sorted in shared memory */
		for (uint32_t i = tid; i < nsort; i += nth) {
			rkey[i] = i < S ? key_s[i] : UINT64_MAX;
			rsl[i] = i < S ? (uint16_t)i : (uint16_t)0xffffu;
		}
		__syncthreads();
		for (uint32_t k = 2; k <= nsort; k <<= 1) {
			for (uint32_t j = k >> 1; j > 0; j >>= 1) {
				for (uint32_t i = tid; i < nsort / 2; i += nth) {
					const uint32_t lo = ((i & ~(j - 1)) << 1) | (i & (j - 1));
					const uint32_t hi = lo + j;
					cswap_kv(rkey, rsl, lo, hi, (lo & k) == 0);
				}
				__syncthreads();
			}
		}
#pragma unroll
		for (int k = 0; k < ORD_E_MAX; k++)
			if ((uint32_t)k < E && e0 + k < S)
				ow[k >> 1] = (ow[k >> 1] & ~(0xffffu << (16 * (k & 1)))) |
					     ((uint32_t)rsl[e0 + k] << (16 * (k & 1)));
		if (tid == 0) {
			const uint64_t kmax = rkey[S - 1];
			sm.tail_t = kmax;
			sm.tail_n = S - lower_bound_v(rkey, S, kmax);
		}
		__syncthreads();	/* the overlay is free again */
		if (vec) {
			for (uint32_t i = tid; i < S / 4; i += nth) {
				cp_async16(stok + 4 * i, tok_s + 4 * i);
				cp_async16(sfreq + 4 * i, freq_s + 4 * i);
			}
			asm volatile("cp.async.commit_group;\n" ::: "memory");
		}
	}
	if (!vec) {
		for (uint32_t i = tid; i < S; i += nth) {
			if (!stale)
				sord[i] = ord_g[i];
			stok[i] = tok_s[i];
			sfreq[i] = freq_s[i];
		}
	}

	/* clear the claims, marks and the bitmap */
	for (uint32_t i = tid; i < S8 / 2; i += nth)
		((uint32_t *)claim)[i] = 0xffffffffu;
	for (uint32_t i = tid; i < S8 / 4; i += nth)
		((uint32_t *)mark)[i] = 0;
	for (uint32_t i = tid; i < bw; i += nth)
		bits[i] = 0;
	if (tid == 0) {
		sm.nvalid = sm.nmiss = sm.bad = sm.nevict = 0;
		if (!stale) {
			sm.tail_t = tail_t32;
			sm.tail_n = tail_n32;
		}
	}
	if (vec)
		asm volatile("cp.async.wait_all;\n" ::: "memory");
	__syncthreads();
	PROF(1);
	if (!stale) {
#pragma unroll
		for (int k = 0; k < ORD_E_MAX; k++)
			if ((uint32_t)k < E && e0 + k < S)
				ow[k >> 1] = (ow[k >> 1] & ~(0xffffu << (16 * (k & 1)))) |
					     ((uint32_t)sord[e0 + k] << (16 * (k & 1)));
	}
	const uint64_t tail_t = sm.tail_t;
	const uint32_t tail_n = sm.tail_n;
	/* the step at the tail's t: the tail's slots keep key t and go with
	 * the touched ones; a key above t (only in a state no LRU run makes)
	 * leaves an order this step cannot keep */
	const bool at_tail = tail_t == t;
	const bool keep = tail_t <= t;
	const uint32_t tail0 = S - tail_n;

	/* B. row checks, hits (claimed by CAS), misses (a bit each in the
	 * bitmap of missed tokens: a bit already set is a repeat) */
	uint32_t hv[ROW_PF];
#pragma unroll
	for (int n = 0; n < ROW_PF; n++) {
		const uint32_t i = tid + n * nth;
		hv[n] = CLAIM_NONE;
		if (i >= K)
			continue;
		const int32_t tok = rt[n];
		bool valid = false;
		if (tok != -1) {
			if (tok < 0 || (uint32_t)tok >= lim) {
				atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_ERANGE);
			} else {
				valid = true;
			}
		}
		warp_add(&sm.nvalid, valid);
		const uint32_t v = mv[n];
		const bool hit = valid && v < S;
		if (hit) {
			const unsigned short prev = atomicCAS((unsigned short *)&claim[v],
							      (unsigned short)CLAIM_NONE,
							      (unsigned short)i);
			if (prev != CLAIM_NONE)
				atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_EDUP);
			hv[n] = v;
		}
		const bool miss = valid && !hit;
		if (miss && ex[n] == UINT64_MAX)
			atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_ENOEXTENT);
		if (miss) {
			const uint32_t bit = 1u << (tok & 31);
			if (atomicOr(&bits[(uint32_t)tok >> 5], bit) & bit)
				atomicCAS(&sm.bad, 0u, (uint32_t)ESS_CUDA_EDUP);
		}
		const uint32_t j = warp_add(&sm.nmiss, miss);
		if (miss) {
			mpk[j] = (uint64_t)(uint32_t)tok << 32 | i;
			poff[i] = ex[n] + (uint64_t)((uint32_t)tok & ((1u << a.extent_shift) - 1)) *
						 a.entry_bytes;
		}
	}
	if (at_tail) {
#pragma unroll
		for (int k = 0; k < ORD_E_MAX; k++)
			if ((uint32_t)k < E && e0 + k < S && e0 + k >= tail0)
				mark[ORD_GET(ow, k)] = MARK_TAIL;
	}
	__syncthreads();
	PROF(2);
	{
		const uint32_t bad = sm.bad ? sm.bad : sm.nvalid > S ? (uint32_t)ESS_CUDA_ETOOMANY : 0;
		if (bad) {
			reject_row(a, b, req, bad, out);
			return;
		}
	}
	const uint32_t m = sm.nmiss;

	/* C. scan 1: the order's entries not hit, counted */
	uint32_t nhm = 0, cnt = 0;
#pragma unroll
	for (int k = 0; k < ORD_E_MAX; k++)
		if ((uint32_t)k < E && e0 + k < S && claim[ORD_GET(ow, k)] == CLAIM_NONE) {
			nhm |= 1u << k;
			cnt++;
		}
	const uint32_t incl = warp_scan_incl(cnt);
	if (lane == 31)
		sm.wsum[w] = incl;
	/* the missed tokens, counted over this thread's bitmap words: a
	 * miss's rank by token is the misses in earlier words plus the bits
	 * below its own in its word (no sort) */
	uint32_t cntb = 0;
	for (uint32_t i = b0; i < b0 + BW && i < bw; i++)
		cntb += __popc(bits[i]);
	const uint32_t inclb = warp_scan_incl(cntb);
	if (lane == 31)
		sm.wsumb[w] = inclb;
	__syncthreads();
	PROF(3);
	uint32_t nnh;
	const uint32_t r0 = block_excl(cnt, incl, sm.wsum, &nnh);
	/* D. victims: the first m entries not hit, in order; the evictions
	 * among them */
	{
		uint32_t r = r0, ev = 0;
#pragma unroll
		for (int k = 0; k < ORD_E_MAX; k++)
			if (nhm & (1u << k)) {
				if (r < m) {
					const uint32_t s = ORD_GET(ow, k);
					vic[r] = (uint16_t)s;
					mark[s] = MARK_VICTIM;
					vold[r] = stok[s];
					ev += stok[s] >= 0;
				}
				r++;
			}
		ev = __reduce_add_sync(0xffffffffu, ev);
		if (lane == 0 && ev)
			atomicAdd(&sm.nevict, ev);
	}
	/* the misses in earlier bitmap words, per word */
	{
		uint32_t nb;
		uint32_t p = block_excl(cntb, inclb, sm.wsumb, &nb);
		for (uint32_t i = b0; i < b0 + BW && i < bw; i++) {
			wpre[i] = (uint16_t)p;
			p += __popc(bits[i]);
		}
	}
	__syncthreads();
	PROF(4);

	/* E. scan 2: the touched slots (hit, victim, old tail) in slot order;
	 * the misses put in rank order */
	uint32_t tm = 0, cnt2 = 0;
#pragma unroll
	for (int k = 0; k < ORD_E_MAX; k++)
		if ((uint32_t)k < E && e0 + k < S &&
		    (claim[e0 + k] != CLAIM_NONE || mark[e0 + k] != 0)) {
			tm |= 1u << k;
			cnt2++;
		}
	const uint32_t incl2 = warp_scan_incl(cnt2);
	if (lane == 31)
		sm.wsum2[w] = incl2;
	for (uint32_t j = tid; j < m; j += nth) {
		const uint64_t me = mpk[j];
		const uint32_t tok = (uint32_t)(me >> 32), wd = tok >> 5;
		msorted[wpre[wd] + __popc(bits[wd] & ((1u << (tok & 31)) - 1))] = me;
	}
	__syncthreads();
	PROF(5);
	uint32_t ntouch;
	const uint32_t q0 = block_excl(cnt2, incl2, sm.wsum2, &ntouch);

	/* F. global writes.  Fills in rank order: the r-th miss by token
	 * takes the r-th victim (the fetch list written in order). */
	const int32_t gbase = (int32_t)(req * S);
	const uint64_t fl = (uint64_t)b * K;
	for (uint32_t r = tid; r < m; r += nth) {
		const uint64_t me = msorted[r];
		const int32_t tok = (int32_t)(me >> 32);
		const uint32_t pos = (uint32_t)me & 0xffffu;
		const uint32_t v = vic[r];
		const int32_t old = vold[r];
		map_clear(tmap, a.map_cap, old);
		tmap[tok] = (uint16_t)v;
		stok[v] = tok;	/* written out with the hits below */
		a.miss_off[fl + r] = poff[pos];
		a.miss_slot[fl + r] = gbase + (int32_t)v;
		a.miss_token[fl + r] = tok;
		out[pos] = gbase + (int32_t)v;
	}
	/* hits and unused entries: slot ids by row position */
#pragma unroll
	for (int n = 0; n < ROW_PF; n++) {
		const uint32_t i = tid + n * nth;
		if (i >= K)
			continue;
		const uint32_t v = hv[n];
		if (v != CLAIM_NONE)
			out[i] = gbase + (int32_t)v;
		else if (rt[n] == -1)
			out[i] = -1;
	}
	/* the new order, in shared memory first: the untouched entries in
	 * their old order (their rank among the entries not hit, less the
	 * victims before them), then the touched slots in slot order */
	if (keep) {
		uint32_t r = r0;
#pragma unroll
		for (int k = 0; k < ORD_E_MAX; k++)
			if (nhm & (1u << k)) {
				if (r >= m && !(at_tail && e0 + k >= tail0))
					sord[r - m] = (uint16_t)ORD_GET(ow, k);
				r++;
			}
		uint32_t q = S - ntouch + q0;
#pragma unroll
		for (int k = 0; k < ORD_E_MAX; k++)
			if (tm & (1u << k))
				sord[q++] = (uint16_t)(e0 + k);
	}
	__syncthreads();
	PROF(6);
	/* the slot state of hits and fills by slot, consecutive slots in
	 * consecutive lanes, so that a warp's stores share lines */
	for (uint32_t s = tid; s < S; s += nth) {
		if (claim[s] != CLAIM_NONE) {
			const uint32_t f = sfreq[s];
			key_s[s] = ess_policy_hit_key(ESS_POLICY_LRU, 0, f, t);
			freq_s[s] = f == UINT32_MAX ? f : f + 1;
		} else if (mark[s] == MARK_VICTIM) {
			tok_s[s] = stok[s];
			key_s[s] = ess_policy_fill_key(ESS_POLICY_LRU, t);
			freq_s[s] = 1;
		}
	}
	if (keep) {
		if (vec) {
			for (uint32_t i = tid; i < S / 8; i += nth)
				((uint4 *)ord_g)[i] = ((const uint4 *)sord)[i];
		} else {
			for (uint32_t i = tid; i < S; i += nth)
				ord_g[i] = sord[i];
		}
	}
	PROF(7);
	if (tid == 0) {
		if (keep) {
			tail_g[0] = t;
			tail_g[1] = ntouch;
		} else {
			tail_g[1] = ESS_ORDER_STALE;
		}
		a.nmiss[b] = m;
		a.hs_t[req] = t;
		add_counters(a, sm.nvalid, sm.nvalid - m, m, sm.nevict);
	}
	(void)nnh;
}
