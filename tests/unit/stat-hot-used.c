// SPDX-License-Identifier: MIT
/*
 * Hot-buffer occupancy (ess_stats.hot_used_bytes, published as the level
 * gpu_used_bytes) on the CPU backend with 4 slots per request and layer,
 * checked exactly after every call of a hand-worked sequence: warm-up,
 * misses and appends into free slots raise it, a full hot set stays flat
 * while evictions replace rows, a refused resolve changes nothing, and a
 * request's removal lowers it by exactly the rows it held.  The segment
 * carries the same number under its stable name, index and kind (also
 * through ess-stat --json and --prometheus), and a random run of adds,
 * resolves, appends and removals ends at exactly 0.
 */
#include <dirent.h>

#include "stat-tap.h"
#include "ess/ess.h"
#include "ess/stat.h"

#define EB 40
#define SLOTS 4

static char dir[] = "/tmp/ess-stat-hot.XXXXXX";
static int seg_mismatch;

/* The level now, from ess_stats_get(); the segment (published by that
 * call) must say the same, or seg_mismatch is set. */
static uint64_t used(ess_ctx *ctx)
{
	struct ess_stat_snapshot *v = NULL;
	struct ess_stats st;
	char err[256];
	size_t n = 0;

	MUST(ess_stats_get(ctx, &st));
	if (ess_stat_list(dir, &v, &n, NULL, err, sizeof(err)) || n != 1 ||
	    v[0].v[ESS_STAT_HOT_USED_BYTES] != st.hot_used_bytes) {
		diag("segment: %zu found, gpu_used_bytes %llu, ess_stats %llu",
		     n, n ? (unsigned long long)v[0].v[ESS_STAT_HOT_USED_BYTES] : 0ull,
		     (unsigned long long)st.hot_used_bytes);
		seg_mismatch = 1;
	}
	free(v);
	return st.hot_used_bytes;
}

/* A fixed sequence (deterministic test), upper bits of an LCG. */
static uint32_t rnd16(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

static uint32_t add(ess_ctx *ctx, uint64_t tag, const uint8_t *rows)
{
	uint32_t r;

	MUST(ess_request_add(ctx, tag, &r));
	MUST(ess_ingest(ctx, r, 0, 0, 20, rows));
	MUST(ess_ingest(ctx, r, 1, 0, 20, rows));
	return r;
}

int main(void)
{
	static uint8_t rows[20 * EB], one[2 * EB];
	struct ess_config c;
	struct ess_stats st;
	int32_t o[2 * SLOTS];
	uint32_t a, b, ab[2];
	char pid_s[16], series[256];
	struct run_out ro;
	ess_ctx *ctx;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", dir, 1);
	unsetenv("ESS_STAT");
	setenv("ESS_STAT_PERIOD_MS", "0", 1);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
	for (size_t i = 0; i < sizeof(rows); i++)
		rows[i] = (uint8_t)(i * 13 + 1);
	memset(one, 0x5a, sizeof(one));

	ok(!strcmp(ess_stat_fields[ESS_STAT_HOT_USED_BYTES].name, "gpu_used_bytes") &&
	   ess_stat_fields[ESS_STAT_HOT_USED_BYTES].kind == ESS_STAT_LEVEL &&
	   !strcmp(ess_stat_fields[ESS_STAT_HOT_USED_BYTES].unit, "bytes") &&
	   ESS_STAT_HOT_USED_BYTES == 26 &&
	   !strstr(ess_stat_fields[ESS_STAT_HOT_USED_BYTES].help, "not counted"),
	   "gpu_used_bytes: value 26, a level in bytes, counted");

	ess_config_default(&c);
	c.layers = 2;
	c.entry_bytes = EB;
	c.topk = SLOTS;
	c.slots = SLOTS;
	c.max_requests = 2;
	c.max_tokens = 1024;
	c.extent_tokens = 16;
	c.pool_bytes = 4u << 20;
	c.pool = ESS_POOL_FALLBACK;
	{
		char err[256] = "";

		ctx = NULL;
		MUST(ess_create(&c, &ctx, err, sizeof(err)));
	}
	ok(used(ctx) == 0, "new context: 0 bytes used");

	a = add(ctx, 1, rows);
	ok(used(ctx) == 0, "ingest fills the host pool only: 0");

	{
		int32_t w[2] = { 0, 1 };

		MUST(ess_warmup(ctx, a, 0, w, 2));
		ok(used(ctx) == 2 * EB, "warm-up of 2 rows: 2 slots");
	}
	{
		int32_t t[SLOTS] = { 0, 1, 2, -1 };

		MUST(ess_resolve(ctx, 0, 1, &a, t, o, NULL));
		ok(used(ctx) == 3 * EB, "2 hits, 1 miss into a free slot: 3 slots");
	}
	{
		int32_t t[SLOTS] = { 3, 4, -1, -1 };

		MUST(ess_resolve(ctx, 0, 1, &a, t, o, NULL));
		MUST(ess_stats_get(ctx, &st));
		ok(used(ctx) == 4 * EB && st.evictions == 1,
		   "2 misses: one fills the last free slot, one evicts: 4 slots (full)");
	}
	{
		int32_t t[SLOTS] = { 5, 6, 7, 8 };

		MUST(ess_resolve(ctx, 0, 1, &a, t, o, NULL));
		MUST(ess_stats_get(ctx, &st));
		ok(used(ctx) == 4 * EB && st.evictions == 5,
		   "full hot set: 4 misses evict 4 rows, level flat at 4 slots");
	}
	MUST(ess_append(ctx, 0, 1, &a, one, NULL));
	MUST(ess_stats_get(ctx, &st));
	ok(used(ctx) == 4 * EB && st.evictions == 6,
	   "append into the full layer 0 evicts: still 4 slots");
	MUST(ess_append(ctx, 1, 1, &a, one, NULL));
	ok(used(ctx) == 5 * EB, "append into empty layer 1 fills a free slot: 5");
	{
		int32_t t[SLOTS] = { 0, 1, 2, -1 };

		/* the row appended before layer 1's first resolve was filled
		 * at t = 0: key 0, like the free slots, and lowest index */
		MUST(ess_resolve(ctx, 1, 1, &a, t, o, NULL));
		MUST(ess_stats_get(ctx, &st));
		ok(used(ctx) == 7 * EB && st.evictions == 7,
		   "layer 1: 3 misses, the first evicts the t=0 append (slot 0), 2 fill free slots: 7");
	}

	b = add(ctx, 2, rows);
	{
		int32_t w[SLOTS] = { 0, 1, 2, 3 };

		MUST(ess_warmup(ctx, b, 1, w, SLOTS));
		ok(used(ctx) == 11 * EB, "second request, warm-up of 4 in layer 1: 11");
	}
	{
		int32_t t[2 * SLOTS] = { 5, 6, 7, 8, -1, 0, -1, -1 };

		ab[0] = a;
		ab[1] = b;
		MUST(ess_resolve(ctx, 0, 2, ab, t, o, NULL));
		ok(used(ctx) == 12 * EB,
		   "batch of two: 4 hits for the first, 1 fill for the second: 12");
	}
	{
		int32_t t[SLOTS] = { 9, 10, 20, -1 };	/* 20 >= 20 held */
		int r = ess_resolve(ctx, 0, 1, &b, t, o, NULL);

		ok(r == -EINVAL && used(ctx) == 12 * EB,
		   "refused resolve (token beyond the held ones): unchanged");
	}

	MUST(ess_request_remove(ctx, a));
	ok(used(ctx) == 5 * EB, "first request removed: its 7 rows leave, 5 stay");
	MUST(ess_request_add(ctx, 3, &a));
	ok(used(ctx) == 5 * EB, "its id reused: nothing held, still 5");

	/* the same number through ess-stat */
	run_stat(&ro, (char *const[]){ "ess-stat", "--json", "--pid", pid_s, NULL });
	ok(ro.status == 0 &&
	   json_num(strstr(ro.out, "\"counters\""), "gpu_used_bytes") == 5 * EB,
	   "ess-stat --json: gpu_used_bytes %lld",
	   json_num(strstr(ro.out ? ro.out : "", "\"counters\""), "gpu_used_bytes"));
	run_free(&ro);
	run_stat(&ro, (char *const[]){ "ess-stat", "--prometheus", NULL });
	snprintf(series, sizeof(series),
		 "ess_gpu_used_bytes{pid=\"%s\",ctx=\"0\",comm=\"stat-hot-used\",backend=\"cpu\",device=\"-1\"}",
		 pid_s);
	ok(ro.status == 0 && prom_value(ro.out, series) == 5 * EB &&
	   strstr(ro.out, "# TYPE ess_gpu_used_bytes gauge\n"),
	   "ess-stat --prometheus: gauge ess_gpu_used_bytes = %d", 5 * EB);
	run_free(&ro);

	MUST(ess_request_remove(ctx, b));
	MUST(ess_request_remove(ctx, a));
	ok(used(ctx) == 0, "every request removed: 0");

	/* random adds, resolves, appends and removals end at exactly 0 */
	{
		uint32_t live[2], nlive = 0, seed = 12345, peak = 0;
		int bounded = 1;

		for (int s = 0; s < 300; s++) {
			uint32_t l = (uint32_t)(s & 1), n, k;
			int32_t t[SLOTS];
			uint64_t u;

			if (nlive < 2 && (nlive == 0 || rnd16(&seed) % 5 == 0)) {
				live[nlive] = add(ctx, 100 + (uint64_t)s, rows);
				nlive++;
			}
			for (uint32_t i = 0; i < nlive; i++) {
				MUST(ess_request_tokens(ctx, live[i], l, &n));
				for (k = 0; k < SLOTS;) {
					int32_t v = (int32_t)(rnd16(&seed) % n);
					int dup = 0;

					for (uint32_t j = 0; j < k; j++)
						dup |= t[j] == v;
					if (!dup)	/* -1 may repeat */
						t[k++] = rnd16(&seed) % 7 ? v : -1;
				}
				MUST(ess_resolve(ctx, l, 1, &live[i], t, o, NULL));
			}
			if (s % 3 == 0)
				MUST(ess_append(ctx, l, nlive, live, one, NULL));
			u = used(ctx);
			bounded &= u <= 2ull * 2 * SLOTS * EB && u % EB == 0;
			if (u / EB > peak)
				peak = (uint32_t)(u / EB);
			if (nlive && rnd16(&seed) % 11 == 0) {
				MUST(ess_request_remove(ctx, live[0]));
				live[0] = live[--nlive];
			}
		}
		while (nlive)
			MUST(ess_request_remove(ctx, live[--nlive]));
		ok(bounded && peak == 2 * 2 * SLOTS && used(ctx) == 0,
		   "300 random steps: at most the %u slots, all of them reached, back to 0 (peak %u)",
		   2 * 2 * SLOTS, peak);
	}
	ok(!seg_mismatch, "the segment said what ess_stats_get said every time");

	ess_destroy(ctx);
	rmdir(dir);
	return done();
}
