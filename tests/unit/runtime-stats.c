// SPDX-License-Identifier: MIT
/*
 * Counters: a hand-worked LRU case (slots = topk = 4) checked counter by
 * counter and slot by slot, and every counter non-decreasing across a
 * random run (levels excepted).
 */
#include <stddef.h>

#include "runtime-tap.h"

#define EB 24

static struct ess_stats prev;
static int mono = 1;

static int is_level(size_t off)
{
	return off == offsetof(struct ess_stats, pool_bytes) ||
	       off == offsetof(struct ess_stats, pool_used_bytes) ||
	       off == offsetof(struct ess_stats, pool_unlocked) ||
	       off == offsetof(struct ess_stats, hot_used_bytes);
}

static void snap(ess_ctx *ctx, struct ess_stats *st)
{
	const uint64_t *a, *b;

	MUST(ess_stats_get(ctx, st));
	a = (const uint64_t *)(const void *)&prev;
	b = (const uint64_t *)(const void *)st;
	for (size_t i = 0; i < sizeof(*st) / 8; i++)
		if (!is_level(i * 8) && b[i] < a[i])
			mono = 0;
	prev = *st;
}

int main(void)
{
	struct ess_config c;
	struct ess_stats st;
	uint8_t rows[10 * EB], one[EB];
	int32_t w[2] = { 0, 1 }, t1[4] = { 0, 1, 2, -1 }, t2[4] = { -1, 3, 4, -1 };
	int32_t t3[4] = { 5, -1, -1, -1 }, o[4];
	uint32_t r, n;
	ess_ctx *ctx;

	seed_rng();
	small_cfg(&c);
	c.layers = 2;
	c.entry_bytes = EB;
	c.topk = 4;
	c.slots = 4;
	c.max_requests = 2;
	ctx = make_ctx(&c);
	snap(ctx, &st);
	ok(st.resolves == 0 && st.lookups == 0 && st.requests_added == 0,
	   "all counters start at 0");

	fill_random(rows, sizeof(rows));
	MUST(ess_request_add(ctx, 5, &r));
	MUST(ess_ingest(ctx, r, 0, 0, 10, rows));
	MUST(ess_ingest(ctx, r, 1, 0, 10, rows));
	snap(ctx, &st);
	ok(st.requests_added == 1 && st.ingested == 20, "1 request, 20 rows ingested");

	/* warm-up at t=1: tokens 0, 1 into slots 0, 1 */
	MUST(ess_warmup(ctx, r, 0, w, 2));
	snap(ctx, &st);
	ok(st.warmups == 2 && st.bytes_h2d == 2 * EB && st.resolves == 0 &&
	   st.lookups == 0, "warm-up: 2 rows loaded, no lookups counted");

	/* t=2: 0, 1 hit; 2 misses into the empty slot 2 */
	MUST(ess_resolve(ctx, 0, 1, &r, t1, o, NULL));
	snap(ctx, &st);
	ok(o[0] == 0 && o[1] == 1 && o[2] == 2 && o[3] == -1, "t=2 slots 0 1 2 -1");
	ok(st.resolves == 1 && st.lookups == 3 && st.hits == 2 && st.misses == 1 &&
	   st.evictions == 0, "t=2: 3 lookups, 2 hits, 1 miss, no eviction");

	/* t=3: 3 takes empty slot 3, 4 takes slot 0 (key 2, lowest index) */
	MUST(ess_resolve(ctx, 0, 1, &r, t2, o, NULL));
	snap(ctx, &st);
	ok(o[0] == -1 && o[1] == 3 && o[2] == 0 && o[3] == -1, "t=3 slots -1 3 0 -1");
	ok(st.resolves == 2 && st.lookups == 5 && st.hits == 2 && st.misses == 3 &&
	   st.evictions == 1 && st.bytes_h2d == 5 * EB,
	   "t=3: 2 more misses, token 0 evicted, 5 rows fetched in all");
	ok(st.layer_misses[0] == 3 && st.layer_misses[1] == 0, "layer 0: 3 misses");

	MUST(ess_resolve(ctx, 1, 1, &r, t3, o, NULL));
	snap(ctx, &st);
	ok(o[0] == 0 && st.layer_misses[1] == 1 && st.misses == 4,
	   "layer 1 has its own hot set and miss counter");

	/* append at t=3: token 10 evicts slot 1 (token 1, key 2) */
	fill_random(one, sizeof(one));
	MUST(ess_append(ctx, 0, 1, &r, one, NULL));
	snap(ctx, &st);
	ok(st.appends == 1 && st.bytes_d2h == EB && st.evictions == 2,
	   "append: 1 row written through, evicting token 1");
	{
		int32_t t4[4] = { 10, 1, -1, -1 };

		MUST(ess_resolve(ctx, 0, 1, &r, t4, o, NULL));
		snap(ctx, &st);
		ok(o[0] == 1 && st.hits == 3 && st.misses == 5,
		   "t=4: appended token 10 hits in slot 1, token 1 misses");
	}
	MUST(ess_request_tokens(ctx, r, 0, &n));
	ok(n == 11, "11 tokens held in layer 0");

	/* A random run: nothing ever goes down. */
	for (int s = 0; s < 200; s++) {
		int32_t t[4] = { -1, -1, -1, -1 };
		uint32_t l = (uint32_t)(rnd() % 2), k = 0;

		MUST(ess_request_tokens(ctx, r, l, &n));
		while (k < 4) {
			int32_t v = (int32_t)(rnd() % n), dup = 0;

			for (uint32_t j = 0; j < k; j++)
				dup |= t[j] == v;
			if (!dup)
				t[k++] = v;
		}
		MUST(ess_resolve(ctx, l, 1, &r, t, o, NULL));
		if (s % 7 == 0)
			MUST(ess_append(ctx, l, 1, &r, one, NULL));
		if (s % 50 == 49) {
			MUST(ess_request_remove(ctx, r));
			MUST(ess_request_add(ctx, 6 + s, &r));
			MUST(ess_ingest(ctx, r, 0, 0, 10, rows));
			MUST(ess_ingest(ctx, r, 1, 0, 10, rows));
		}
		snap(ctx, &st);
	}
	ok(mono, "every counter non-decreasing over 200 random steps");
	ok(st.hits + st.misses == st.lookups, "hits + misses = lookups");
	ok(st.requests_added == 5 && st.requests_removed == 4,
	   "request add/remove counts");
	ess_destroy(ctx);
	return done();
}
