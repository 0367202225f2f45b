/* SPDX-License-Identifier: MIT */
/*
 * CPU implementation of the hot-set rule of include/ess/hotset.h: used by
 * the CPU backend, by the trace simulator (ess-trace) and as the reference
 * the GPU management kernel is tested against.
 */
#ifndef ESS_RUNTIME_HOTSET_H
#define ESS_RUNTIME_HOTSET_H

#include <stdint.h>

#include "ess/hotset.h"

struct ess_hotset {
	uint32_t nslots;
	uint32_t policy;	/* enum ess_policy_id */
	uint32_t t;		/* resolves so far */
	int32_t *token;		/* [nslots], -1 = empty */
	uint64_t *key;		/* [nslots] */
	uint32_t *freq;		/* [nslots] */
	void *priv;		/* implementation state (index, scratch) */
};

struct ess_hotset_result {
	uint32_t hits;
	uint32_t nmiss;		/* entries of miss_token/miss_slot written */
	uint32_t evictions;
};

int ess_hotset_init(struct ess_hotset *hs, uint32_t nslots, uint32_t policy);
void ess_hotset_fini(struct ess_hotset *hs);
/* Empty every slot and restart t at 0. */
void ess_hotset_reset(struct ess_hotset *hs);

/*
 * Resolve one top-k row of n entries (-1 = unused).  slot_out[i] receives
 * the slot index (0..nslots-1) of row[i], or -1 where row[i] is -1.
 * miss_token/miss_slot (nslots entries each at least) receive the fetch list
 * in ascending token order.  Returns 0, or -EINVAL (and changes nothing) if
 * a token is negative other than -1, repeats in the row, or the valid
 * entries outnumber the slots.
 */
int ess_hotset_resolve(struct ess_hotset *hs, const int32_t *row, uint32_t n,
		       int32_t *slot_out, int32_t *miss_token,
		       uint32_t *miss_slot, struct ess_hotset_result *res);

/*
 * Put one token in (decode append, no t increment).  *slot gets its slot;
 * res says whether it was a hit, a fill, and whether it evicted.
 */
int ess_hotset_insert(struct ess_hotset *hs, int32_t token, uint32_t *slot,
		      struct ess_hotset_result *res);

/* Slot holding token, or -1. */
int32_t ess_hotset_lookup(const struct ess_hotset *hs, int32_t token);

/* Policy id by name ("lru", ...), or -1. */
int ess_policy_by_name(const char *name);
const char *ess_policy_name(uint32_t policy);

#endif /* ESS_RUNTIME_HOTSET_H */
