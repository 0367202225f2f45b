/* SPDX-License-Identifier: MIT */
/*
 * The hot-set replacement rule, shared by the CPU backend (runtime/), the
 * GPU management kernel (cuda/) and the trace simulator, so that all of them
 * give the same slot for the same input, bit for bit.
 *
 * A hot set is the `slots` rows one request keeps in one layer.  Per slot:
 *   token[s]  int32, the token id held, -1 = empty
 *   key[s]    uint64, the policy's priority (lower = evicted first)
 *   freq[s]   uint32, hits since the slot was filled, plus one
 * and per hot set a step counter t (uint32), incremented once per resolve
 * of that hot set, before the resolve runs (the first resolve sees t = 1).
 *
 * Resolve of one top-k row (valid entries: those != -1; they are distinct
 * and < the tokens held, which the caller has checked):
 *  1. Hits: every valid entry whose token is held in slot s gets s;
 *     then key[s] = ess_policy_hit_key(p, key[s], freq[s], t) and freq[s]++
 *     (freq saturates at UINT32_MAX).
 *  2. Misses: the valid entries not held, taken in ascending token order.
 *  3. Victims: the slots not hit in step 1, in ascending (key, slot index)
 *     order; empty slots have key 0 and so go first, lowest index first.
 *     (A slot filled at t = 0, by an append before the hot set's first
 *     resolve, also has key 0 under every policy and ties with the empty
 *     slots by index.)
 *     The i-th miss (ascending token) takes the i-th victim; the slot gets
 *     token, key = ess_policy_fill_key(p, t), freq = 1.  A victim that held
 *     a token is an eviction.
 *  4. The fetch list is the misses as (token, slot) in ascending token
 *     order, i.e. ascending host address.
 * Append of a new token (decode write-through) is a resolve of a one-entry
 * row without the t increment: it is a fill (or, if already held, a hit) at
 * the hot set's current t.
 * Warm-up loads its tokens as one resolve.
 */
#ifndef ESS_HOTSET_H
#define ESS_HOTSET_H

#include <stdint.h>

#ifdef __CUDACC__
#define ESS_HD static __host__ __device__ __forceinline__
#else
#define ESS_HD static inline
#endif

enum ess_policy_id {
	ESS_POLICY_LRU = 0,	/* "lru": least recently used */
	ESS_POLICY_LFRU = 1,	/* "lfru": LRU plus a bonus per hit */
	ESS_POLICY_RET = 2,	/* "ret": LRU plus a bonus per return */
	ESS_POLICY_COUNT
};

/*
 * The policies (Documentation/dev/policies.md has the reasoning and the
 * measured miss rates).  Keys are in units of steps, so a bonus of B keeps
 * a slot as if it had been used B steps later.  Integer arithmetic only,
 * no state beyond (key, freq, t): the GPU kernel runs these same lines.
 *
 * lru   fill: t                hit: t
 * lfru  fill: t                hit: t + LFRU_W * min(freq, LFRU_F)
 *       (freq before the hit = 1 + earlier hits: tokens selected often,
 *       over consecutive steps or not, are kept longer)
 * ret   key = (t_last + RET_W * r) << 8 | r, r = returns, 0..RET_R
 *       fill: t << 8 (r = 0)
 *       hit:  t_last = (key >> 8) - RET_W * r; if the slot was not used in
 *             the previous step (t > t_last + 1) the token came back after
 *             leaving the top-k: r = min(r + 1, RET_R); key from t and r.
 *       (a token re-selected after an absence is likely to come back again,
 *       like the second queue of 2Q/ARC; a token that stays selected
 *       gets no bonus for it)
 * Step counters are 32-bit: `ret` uses bits 8..40 of the key, so nothing
 * overflows for t < 2^32.
 */
#define ESS_LFRU_W 1u
#define ESS_LFRU_F 32u
#define ESS_RET_W 16u
#define ESS_RET_R 4u

/* Key of a slot just filled at step t. */
ESS_HD uint64_t ess_policy_fill_key(uint32_t policy, uint32_t t)
{
	switch (policy) {
	case ESS_POLICY_RET:
		return (uint64_t)t << 8;
	case ESS_POLICY_LFRU:
	case ESS_POLICY_LRU:
	default:
		return (uint64_t)t;
	}
}

/* Key of a slot hit at step t, given its key and freq before the hit. */
ESS_HD uint64_t ess_policy_hit_key(uint32_t policy, uint64_t key,
				   uint32_t freq, uint32_t t)
{
	switch (policy) {
	case ESS_POLICY_LFRU: {
		uint64_t f = freq < ESS_LFRU_F ? freq : ESS_LFRU_F;

		return (uint64_t)t + ESS_LFRU_W * f;
	}
	case ESS_POLICY_RET: {
		uint32_t r = (uint32_t)(key & 0xff);
		uint64_t last = (key >> 8) - (uint64_t)ESS_RET_W * r;

		if ((uint64_t)t > last + 1 && r < ESS_RET_R)
			r++;
		return (((uint64_t)t + (uint64_t)ESS_RET_W * r) << 8) | r;
	}
	case ESS_POLICY_LRU:
	default:
		return (uint64_t)t;
	}
}

#endif /* ESS_HOTSET_H */
