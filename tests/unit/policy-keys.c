// SPDX-License-Identifier: MIT
/*
 * The policies' key rules (include/ess/hotset.h) against hand-computed
 * values, and one hot-set scenario where `ret` keeps a token that came
 * back while `lru` loses it.
 */
#include <stdint.h>
#include <string.h>

#include "../../runtime/hotset.h"
#include "tap.h"

/* Resolve a row; return the number of misses, or -1 on error. */
static int step(struct ess_hotset *hs, const int32_t *row, uint32_t n)
{
	int32_t out[8], mt[8];
	uint32_t ms[8];
	struct ess_hotset_result r;

	if (ess_hotset_resolve(hs, row, n, out, mt, ms, &r))
		return -1;
	return (int)r.nmiss;
}

static int scenario(uint32_t policy)
{
	static const int32_t rows[][1] = { { 1 }, { 2 }, { 1 }, { 3 }, { 4 }, { 5 } };
	const int32_t back[] = { 1 };
	struct ess_hotset hs;
	unsigned i;
	int m;

	if (ess_hotset_init(&hs, 3, policy))
		return -1;
	for (i = 0; i < 6; i++)
		if (step(&hs, rows[i], 1) < 0)
			return -1;
	m = step(&hs, back, 1);
	ess_hotset_fini(&hs);
	return m;
}

int main(void)
{
	uint64_t k;

	tap_plan(14);
	/* lru */
	tap_ok(ess_policy_fill_key(ESS_POLICY_LRU, 7) == 7 &&
	       ess_policy_hit_key(ESS_POLICY_LRU, 3, 9, 8) == 8, "lru: key = step");
	/* lfru: t + min(freq, 32) */
	tap_ok(ess_policy_fill_key(ESS_POLICY_LFRU, 3) == 3, "lfru: fill key = t");
	tap_ok(ess_policy_hit_key(ESS_POLICY_LFRU, 3, 1, 4) == 5, "lfru: first hit at 4 -> 5");
	tap_ok(ess_policy_hit_key(ESS_POLICY_LFRU, 5, 2, 6) == 8, "lfru: second hit at 6 -> 8");
	tap_ok(ess_policy_hit_key(ESS_POLICY_LFRU, 5, 100, 6) == 38 &&
	       ess_policy_hit_key(ESS_POLICY_LFRU, 5, UINT32_MAX, 6) == 38,
	       "lfru: bonus capped at 32");
	/* ret: (t_last + 16 r) << 8 | r */
	k = ess_policy_fill_key(ESS_POLICY_RET, 3);
	tap_ok(k == 768, "ret: fill at 3 -> 3 << 8");
	k = ess_policy_hit_key(ESS_POLICY_RET, k, 1, 4);
	tap_ok(k == 1024, "ret: hit in the next step is no return (4 << 8)");
	k = ess_policy_hit_key(ESS_POLICY_RET, k, 2, 7);
	tap_ok(k == (23u << 8 | 1), "ret: hit after absence at 7 -> (7+16) << 8 | 1");
	k = ess_policy_hit_key(ESS_POLICY_RET, k, 3, 8);
	tap_ok(k == (24u << 8 | 1), "ret: consecutive hit keeps r = 1");
	k = ess_policy_hit_key(ESS_POLICY_RET, k, 4, 20);
	tap_ok(k == (52u << 8 | 2), "ret: second return at 20 -> (20+32) << 8 | 2");
	k = ess_policy_hit_key(ESS_POLICY_RET, k, 5, 30);
	k = ess_policy_hit_key(ESS_POLICY_RET, k, 6, 40);
	k = ess_policy_hit_key(ESS_POLICY_RET, k, 7, 50);
	tap_ok(k == ((50u + 64) << 8 | 4), "ret: returns capped at 4");
	k = ess_policy_hit_key(ESS_POLICY_RET, 0, 1, 0);
	tap_ok(k == 0, "ret: hit at t = 0 of a key-0 slot stays 0");

	/* 3 slots: 1 2 1 3 4 5 then 1 again. */
	tap_ok(scenario(ESS_POLICY_LRU) == 1, "lru loses the returning token 1");
	tap_ok(scenario(ESS_POLICY_RET) == 0, "ret keeps the returning token 1");
	return tap_done();
}
