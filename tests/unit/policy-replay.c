// SPDX-License-Identifier: MIT
/*
 * Trace replay (runtime/trace_sim.c) and OPT on a hand-computed trace with
 * appends: appended tokens go in before each step's resolve, the first
 * step is the warm-up, counters as worked out below.
 */
#include <stdint.h>

#include "ess/trace.h"
#include "../../runtime/hotset.h"
#include "tap.h"

/*
 * 3 slots, top-2, prefill 4, one token appended per step:
 *   step 0 len 5 append 4, row [0 1]   (warm-up)
 *   step 1 len 6 append 5, row [1 5]
 *   step 2 len 7 append 6, row [0 6]
 *   step 3 len 8 append 7, row [1 5]
 * LRU: 4 goes to slot 0 with key 0 (t = 0, ties with the empty slots, lowest
 * index first), so the warm-up's misses 0, 1 take slots 0 (evicting 4) and 1.
 * Step 1: 5 fills slot 2; 1, 5 hit.  Step 2: 6 evicts 0 (key 1); 6 hits, 0
 * misses and evicts 1 (key 2, slot 1 before slot 2).  Step 3: 7 evicts 5;
 * 1 and 5 both miss.  Lookups 6, misses 3, warm-up 2, evictions 6.
 * OPT: warm-up {4 0 1}; 5 evicts 4 (never used); 6 evicts 1 or 5 (both used
 * at step 3); 7 evicts 0 or 6 (never used again); step 3 misses one.
 */
static const int32_t rows[4][2] = { { 0, 1 }, { 1, 5 }, { 0, 6 }, { 1, 5 } };

int main(void)
{
	struct ess_trace_info in = { 1, 2, 1, 4, 0, 0 };
	struct ess_replay_result r, o;
	struct ess_trace tr;
	char err[256];
	uint32_t s;
	int rc;

	tap_plan(7);
	ess_trace_alloc(&tr, &in);
	tr.prefill[0] = 4;
	for (s = 0; s < 4; s++) {
		tr.seq_len[s] = 5 + s;
		tr.tokens[2 * s] = rows[s][0];
		tr.tokens[2 * s + 1] = rows[s][1];
	}
	tap_ok(ess_trace_validate(&tr, err, sizeof(err)) == 0, "hand trace is valid");
	rc = ess_trace_replay(&tr, 3, ESS_POLICY_LRU, &r);
	tap_ok(rc == 0 &&
	       r.lookups == 6 && r.misses == 3 && r.warmup == 2,
	       "lru: 3 misses in 6 lookups after a warm-up of 2 (got %llu/%llu/%llu)",
	       (unsigned long long)r.misses, (unsigned long long)r.lookups,
	       (unsigned long long)r.warmup);
	tap_ok(r.appends == 4 && r.evictions == 6, "lru: 4 appends, 6 evictions (got %llu, %llu)",
	       (unsigned long long)r.appends, (unsigned long long)r.evictions);
	rc = ess_trace_opt(&tr, 3, &o);
	tap_ok(rc == 0 && o.lookups == 6 && o.misses == 1 &&
	       o.warmup == 2 && o.appends == 4,
	       "opt: 1 miss in 6 lookups (got %llu)", (unsigned long long)o.misses);
	rc = ess_trace_replay(&tr, 4, ESS_POLICY_LRU, &r);
	tap_ok(rc == 0 && r.misses == 1,
	       "lru with 4 slots: one miss, token 1 at step 3 (got %llu)",
	       (unsigned long long)r.misses);
	/* An inactive step in between changes nothing for the stream. */
	{
		struct ess_trace_info in2 = { 1, 2, 1, 5, 0, 0 };
		struct ess_trace t2;
		uint32_t d;

		ess_trace_alloc(&t2, &in2);
		t2.prefill[0] = 4;
		for (s = 0, d = 0; d < 5; d++) {
			if (d == 2)
				continue;	/* seq_len 0, row -1 */
			t2.seq_len[d] = 5 + s;
			t2.tokens[2 * d] = rows[s][0];
			t2.tokens[2 * d + 1] = rows[s][1];
			s++;
		}
		tap_ok(ess_trace_replay(&t2, 3, ESS_POLICY_LRU, &r) == 0 && r.misses == 3 &&
		       ess_trace_opt(&t2, 3, &o) == 0 && o.misses == 1,
		       "an inactive step leaves the counts alone");
		ess_trace_free(&t2);
	}
	tap_ok(ess_trace_replay(&tr, 3, ESS_POLICY_RET, &r) == 0 && r.misses >= o.misses,
	       "ret is replayable and no better than OPT");
	ess_trace_free(&tr);
	return tap_done();
}
