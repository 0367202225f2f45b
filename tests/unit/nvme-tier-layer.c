// SPDX-License-Identifier: MIT
/*
 * Whole-layer read-back and the tier's own access counts.  A device
 * backend's resolve cannot show the host its top-k, so the core's hook
 * reads back every demoted extent of the batch's requests in the layer;
 * ess_tier_prepare() with no top-k does the same, and stands in for that
 * hook here (CPU backend, fallback pool).  Such a read-back must count the
 * request's extents as used: balance then demotes the extents of requests
 * nobody resolves, not those of the request in use (which its next step
 * would read straight back).  Counts halve after a pass, so the roles can
 * swap.
 */
#include <sys/stat.h>

#include "tier-tap.h"

static char path[256];

/* Every layer of req read back without a top-k, as a device backend's
 * resolve does. */
static int use_whole(ess_ctx *ctx, uint32_t req)
{
	for (uint32_t l = 0; l < LAYERS; l++)
		if (ess_tier_prepare(ctx, l, 1, &req, NULL)) {
			tap_diag("prepare: %s", ess_errmsg(ctx));
			return -1;
		}
	return 0;
}

int main(void)
{
	struct ess_tier_config tc;
	struct ess_tier_stats s;
	uint32_t req[NREQ];
	char why[512];
	ess_ctx *ctx;
	int ret;

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(6);
	rng_fill(tier_rows, sizeof(tier_rows));
	ctx = tier_make_ctx(0, req);
	ess_tier_config_default(&tc);
	tc.path = path;
	tc.capacity_bytes = 1 << 20;
	tc.queue_depth = 8;
	/* 32 of 64 extents used; down to 30%: 13 go */
	tc.high_pct = 40;
	tc.low_pct = 30;
	ret = ess_tier_attach(ctx, &tc);
	tap_ok(ret == 0, "attach a tier (%s)", ret ? ess_errmsg(ctx) : "ok");

	/* Request 0 (the lower index, first in a tie) is in use, 1 is idle. */
	ret = use_whole(ctx, req[0]) || use_whole(ctx, req[0]);
	ret = ret || ess_tier_balance(ctx) != 13;
	tap_ok(!ret && tier_demoted_extents(ctx, req[0]) == 0 &&
	       tier_demoted_extents(ctx, req[1]) == 13,
	       "balance takes all 13 victims from the idle request (%u of request 0, %u of 1)",
	       tier_demoted_extents(ctx, req[0]), tier_demoted_extents(ctx, req[1]));
	ess_tier_stats_get(ctx, &s);
	tap_ok(s.count_picks == 13 && s.demoted == 13, "chosen by the access counts (%llu picks)",
	       (unsigned long long)s.count_picks);

	/* The idle request comes back: read back whole, every row exact. */
	ret = use_whole(ctx, req[1]);
	ess_tier_stats_get(ctx, &s);
	tap_ok(!ret && tier_demoted_extents(ctx, req[1]) == 0 && s.critical_reads == 13 &&
	       tier_host_matches(ctx, req[1], 1),
	       "a whole-layer read-back brings its 13 extents back, rows exact");

	/* The roles swap: request 0's counts were halved by the pass (2 ->
	 * 1); request 1 has one use from its read-back and two more now
	 * (3): the next pass takes request 0's extents. */
	ret = use_whole(ctx, req[1]) || use_whole(ctx, req[1]);
	ret = ret || ess_tier_balance(ctx) != 13;
	tap_ok(!ret && tier_demoted_extents(ctx, req[1]) == 0 && tier_demoted_extents(ctx, req[0]) == 13,
	       "after the roles swap, the victims are the idle request's (%u of 0, %u of 1)",
	       tier_demoted_extents(ctx, req[0]), tier_demoted_extents(ctx, req[1]));
	ret = ess_tier_detach(ctx);
	tap_ok(ret == 0 && tier_host_matches(ctx, req[0], 0) && tier_host_matches(ctx, req[1], 1),
	       "detach reads everything back, both requests exact");
	ess_destroy(ctx);
	unlink(path);
	return tap_failed;
}
