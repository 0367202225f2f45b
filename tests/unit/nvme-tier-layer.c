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

#include "ess/ess.h"
#include "ess/nvme.h"
#include "nvme-tap.h"

#define LAYERS 2
#define EB 64		/* entry bytes */
#define ET 64		/* extent tokens: 4 KiB extents */
#define TOK 512		/* tokens per (request, layer): 8 extents */
#define NREQ 2

static char path[256];
static uint8_t rows[NREQ][LAYERS][TOK * EB];

static ess_ctx *make_ctx(uint32_t *req)
{
	struct ess_config c;
	ess_ctx *ctx = NULL;
	char err[256];

	ess_config_default(&c);
	c.layers = LAYERS;
	c.entry_bytes = EB;
	c.topk = 8;
	c.slots = 16;
	c.max_requests = 4;
	c.max_tokens = 1024;
	c.extent_tokens = ET;
	c.pool_bytes = 64 * ET * EB;	/* 64 extents; the requests hold 32 */
	c.pool = ESS_POOL_FALLBACK;
	if (ess_create(&c, &ctx, err, sizeof(err))) {
		printf("Bail out! ess_create: %s\n", err);
		exit(1);
	}
	for (uint32_t r = 0; r < NREQ; r++) {
		if (ess_request_add(ctx, 100 + r, &req[r]))
			exit(1);
		for (uint32_t l = 0; l < LAYERS; l++)
			if (ess_ingest(ctx, req[r], l, 0, TOK, rows[r][l]))
				exit(1);
	}
	return ctx;
}

static uint32_t demoted_extents(ess_ctx *ctx, uint32_t req)
{
	uint32_t n = 0;

	for (uint32_t l = 0; l < LAYERS; l++)
		for (uint32_t e = 0; e < TOK / ET; e++)
			n += ess_tier_demoted(ctx, req, l, e * ET) == 1;
	return n;
}

static int host_matches(ess_ctx *ctx, uint32_t req, uint32_t r)
{
	for (uint32_t l = 0; l < LAYERS; l++)
		for (uint32_t t = 0; t < TOK; t++) {
			const void *h = ess_host_row(ctx, req, l, t);

			if (!h || memcmp(h, rows[r][l] + (size_t)t * EB, EB))
				return 0;
		}
	return 1;
}

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
	rng_fill(rows, sizeof(rows));
	ctx = make_ctx(req);
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
	tap_ok(!ret && demoted_extents(ctx, req[0]) == 0 &&
	       demoted_extents(ctx, req[1]) == 13,
	       "balance takes all 13 victims from the idle request (%u of request 0, %u of 1)",
	       demoted_extents(ctx, req[0]), demoted_extents(ctx, req[1]));
	ess_tier_stats_get(ctx, &s);
	tap_ok(s.count_picks == 13 && s.demoted == 13, "chosen by the access counts (%llu picks)",
	       (unsigned long long)s.count_picks);

	/* The idle request comes back: read back whole, every row exact. */
	ret = use_whole(ctx, req[1]);
	ess_tier_stats_get(ctx, &s);
	tap_ok(!ret && demoted_extents(ctx, req[1]) == 0 && s.critical_reads == 13 &&
	       host_matches(ctx, req[1], 1),
	       "a whole-layer read-back brings its 13 extents back, rows exact");

	/* The roles swap: request 0's counts were halved by the pass (2 ->
	 * 1); request 1 has one use from its read-back and two more now
	 * (3): the next pass takes request 0's extents. */
	ret = use_whole(ctx, req[1]) || use_whole(ctx, req[1]);
	ret = ret || ess_tier_balance(ctx) != 13;
	tap_ok(!ret && demoted_extents(ctx, req[1]) == 0 && demoted_extents(ctx, req[0]) == 13,
	       "after the roles swap, the victims are the idle request's (%u of 0, %u of 1)",
	       demoted_extents(ctx, req[0]), demoted_extents(ctx, req[1]));
	ret = ess_tier_detach(ctx);
	tap_ok(ret == 0 && host_matches(ctx, req[0], 0) && host_matches(ctx, req[1], 1),
	       "detach reads everything back, both requests exact");
	ess_destroy(ctx);
	unlink(path);
	return tap_failed;
}
