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
	ESS_POLICY_LRU = 0,	/* least recently used: key = last step used */
	ESS_POLICY_COUNT
};

/* Key of a slot just filled at step t. */
ESS_HD uint64_t ess_policy_fill_key(uint32_t policy, uint32_t t)
{
	switch (policy) {
	case ESS_POLICY_LRU:
	default:
		return (uint64_t)t;
	}
}

/* Key of a slot hit at step t, given its key and freq before the hit. */
ESS_HD uint64_t ess_policy_hit_key(uint32_t policy, uint64_t key,
				   uint32_t freq, uint32_t t)
{
	(void)key;
	(void)freq;
	switch (policy) {
	case ESS_POLICY_LRU:
	default:
		return (uint64_t)t;
	}
}

#endif /* ESS_HOTSET_H */
