// SPDX-License-Identifier: MIT
/*
 * The CPU hot set under LRU against hand-computed cases: slot choice,
 * fetch list order, keys/freq, appends, and refusal of bad rows with the
 * state left untouched.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../runtime/hotset.h"
#include "tap.h"

#define NS 4

static int same_i32(const int32_t *a, const int32_t *b, unsigned n)
{
	return memcmp(a, b, n * sizeof(*a)) == 0;
}

struct snap {
	int32_t token[NS];
	uint64_t key[NS];
	uint32_t freq[NS];
	uint32_t t;
};

static void take(const struct ess_hotset *hs, struct snap *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->token, hs->token, sizeof(s->token));
	memcpy(s->key, hs->key, sizeof(s->key));
	memcpy(s->freq, hs->freq, sizeof(s->freq));
	s->t = hs->t;
}

static int unchanged(const struct ess_hotset *hs, const struct snap *s)
{
	struct snap now;
	uint32_t i;

	take(hs, &now);
	for (i = 0; i < NS; i++)
		if (ess_hotset_lookup(hs, s->token[i]) != (s->token[i] < 0 ? -1 : (int32_t)i))
			return 0;
	return memcmp(&now, s, sizeof(now)) == 0;
}

int main(void)
{
	struct ess_hotset hs;
	struct ess_hotset_result r;
	int32_t out[8], mt[NS];
	uint32_t ms[NS], slot;
	struct snap sn;
	int rc;

	tap_plan(28);
	rc = ess_hotset_init(&hs, NS, ESS_POLICY_LRU);
	tap_ok(rc == 0 && hs.t == 0, "init 4 slots");

	/* t=1: all miss, ascending tokens take empty slots 0,1,2. */
	{
		const int32_t row[] = { 5, 2, -1, 9 };
		const int32_t want[] = { 1, 0, -1, 2 };
		const int32_t wmt[] = { 2, 5, 9 };

		rc = ess_hotset_resolve(&hs, row, 4, out, mt, ms, &r);
		tap_ok(rc == 0 && r.hits == 0 && r.nmiss == 3 &&
		       r.evictions == 0 && same_i32(out, want, 4),
		       "cold row: slots by ascending token");
		tap_ok(same_i32(mt, wmt, 3) && ms[0] == 0 && ms[1] == 1 &&
		       ms[2] == 2, "fetch list ascending (2,0) (5,1) (9,2)");
		tap_ok(hs.t == 1 && hs.key[0] == 1 && hs.key[2] == 1 &&
		       hs.key[3] == 0 && hs.freq[0] == 1 && hs.token[3] == -1,
		       "keys = fill step, empty slot keeps key 0");
	}
	/* t=2: 9 hits; misses 3,7 take (0,3) then (1,0): 2 is evicted. */
	{
		const int32_t row[] = { 9, 7, 3 };
		const int32_t want[] = { 2, 0, 3 };

		rc = ess_hotset_resolve(&hs, row, 3, out, mt, ms, &r);
		tap_ok(rc == 0 && r.hits == 1 && r.nmiss == 2 &&
		       r.evictions == 1 && same_i32(out, want, 3),
		       "hit + misses: empty slot first, then lowest (key, slot)");
		tap_ok(mt[0] == 3 && ms[0] == 3 && mt[1] == 7 && ms[1] == 0,
		       "fetch list (3,3) (7,0)");
		tap_ok(hs.key[2] == 2 && hs.freq[2] == 2 && hs.key[1] == 1 &&
		       ess_hotset_lookup(&hs, 2) == -1 &&
		       ess_hotset_lookup(&hs, 7) == 0,
		       "hit bumps key and freq; evicted token gone from the index");
	}
	/* Append 11 at t=2: victim is slot 1 (token 5, key 1). */
	rc = ess_hotset_insert(&hs, 11, &slot, &r);
	tap_ok(rc == 0 && slot == 1 && r.nmiss == 1 && r.evictions == 1 &&
	       hs.key[1] == 2 && hs.t == 2, "append fills the LRU slot at the current t");
	rc = ess_hotset_insert(&hs, 11, &slot, &r);
	tap_ok(rc == 0 && slot == 1 && r.hits == 1 && r.nmiss == 0 &&
	       hs.freq[1] == 2 && hs.t == 2, "append of a held token is a hit");
	/* t=3: 11 hits, 5 misses and takes slot 0 (key 2, lowest index). */
	{
		const int32_t row[] = { 5, 11 };

		rc = ess_hotset_resolve(&hs, row, 2, out, mt, ms, &r);
		tap_ok(rc == 0 && out[0] == 0 && out[1] == 1 && r.evictions == 1 &&
		       ess_hotset_lookup(&hs, 7) == -1 && hs.key[1] == 3,
		       "ties in key broken by slot index");
	}
	/* Full top-k = slots: every slot is hit or replaced. */
	{
		const int32_t row[] = { 40, 11, 30, 5 };

		rc = ess_hotset_resolve(&hs, row, 4, out, mt, ms, &r);
		tap_ok(rc == 0 && r.hits == 2 && r.nmiss == 2 &&
		       out[1] == 1 && out[3] == 0 && out[0] == 3 && out[2] == 2,
		       "row as long as the slots: misses 30,40 take slots 2,3");
	}
	/* Empty row: still a resolve (t moves), nothing else changes. */
	{
		const int32_t row[] = { -1, -1 };

		rc = ess_hotset_resolve(&hs, row, 2, out, mt, ms, &r);
		tap_ok(rc == 0 && hs.t == 5 && r.hits == 0 && r.nmiss == 0 &&
		       out[0] == -1 && out[1] == -1, "all -1 row: t increments only");
	}

	/* Bad rows: -EINVAL, nothing changed. */
	take(&hs, &sn);
	{
		const int32_t dup_hit[] = { 11, 5, 11 };
		const int32_t dup_miss[] = { 100, 1, 100 };
		const int32_t neg[] = { 11, -2 };
		const int32_t big[] = { 1, 2, 3, 4, 5 };
		const int32_t minint[] = { INT32_MIN };

		rc = ess_hotset_resolve(&hs, dup_hit, 3, out, mt, ms, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "duplicate held token refused");
		rc = ess_hotset_resolve(&hs, dup_miss, 3, out, mt, ms, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "duplicate missing token refused");
		rc = ess_hotset_resolve(&hs, neg, 2, out, mt, ms, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "token -2 refused");
		rc = ess_hotset_resolve(&hs, minint, 1, out, mt, ms, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "token INT32_MIN refused");
		rc = ess_hotset_resolve(&hs, big, 5, out, mt, ms, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "more valid entries than slots refused");
		rc = ess_hotset_resolve(&hs, big, 3, NULL, mt, ms, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "NULL slot_out refused");
		rc = ess_hotset_resolve(&hs, big, 3, out, NULL, ms, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "NULL fetch list refused");
		rc = ess_hotset_insert(&hs, -1, &slot, &r);
		tap_ok(rc == -EINVAL && unchanged(&hs, &sn), "append of token -1 refused");
		rc = ess_hotset_resolve(NULL, big, 3, out, mt, ms, &r);
		tap_ok(rc == -EINVAL, "NULL hot set refused");
	}
	/* A valid row after refused ones still behaves. */
	{
		const int32_t row[] = { 11, 12 };

		rc = ess_hotset_resolve(&hs, row, 2, out, mt, ms, &r);
		tap_ok(rc == 0 && r.hits == 1 && r.nmiss == 1 && hs.t == 6,
		       "resolve after refusals works");
	}
	ess_hotset_reset(&hs);
	tap_ok(hs.t == 0 && hs.token[0] == -1 && hs.key[2] == 0 &&
	       ess_hotset_lookup(&hs, 11) == -1, "reset empties");

	tap_ok(ess_policy_by_name("lru") == ESS_POLICY_LRU &&
	       ess_policy_by_name("nope") == -1 && ess_policy_by_name(NULL) == -1,
	       "policy by name");
	tap_ok(strcmp(ess_policy_name(ESS_POLICY_LRU), "lru") == 0 &&
	       ess_policy_name(ESS_POLICY_COUNT) == NULL, "policy name by id");
	ess_hotset_fini(&hs);
	tap_ok(ess_hotset_init(&hs, 0, ESS_POLICY_LRU) == -EINVAL, "0 slots refused");
	tap_ok(ess_hotset_init(&hs, 4, ESS_POLICY_COUNT) == -EINVAL, "unknown policy refused");
	tap_ok(ess_hotset_init(NULL, 4, ESS_POLICY_LRU) == -EINVAL, "NULL refused");
	return tap_done();
}
