// SPDX-License-Identifier: MIT
/*
 * Tier victims from the module's heat (runs where /dev/ess exists, i.e. in
 * the QEMU guest with ess.ko; skips elsewhere).  The pool is a /dev/ess
 * region with 4 KiB heat blocks, one per 4 KiB extent.  The heat says
 * extents 3 and 4 of every (request, layer) are hot (reported straight to
 * the module), while the tier's own access counts say 0 and 7 are (counted
 * by ess_tier_prepare, which reports no heat): balance must follow the
 * heat.  The region is named: destroying the context with extents still
 * demoted must read them back, so a warm restart finds every row.  Then
 * the same on a context made with ESS_CFG_NO_HEAT: it reports no heat, so
 * the module's heat does not reflect its resolves, and balance must follow
 * the tier's counts (0 and 7 stay) even though the blocks of 3 and 4 were
 * reported hot.  The store is the block device in $ESS_TEST_DISK when set
 * (the guest's scratch disk), else a scratch file.
 */
#include <sys/ioctl.h>

#include "uapi/ess.h"
#include "../../runtime/internal.h"
#include "tier-tap.h"

/* Heat block of the extent holding token tok of (req, layer). */
static uint32_t block_of(ess_ctx *ctx, uint32_t req, uint32_t layer,
			 uint32_t tok)
{
	const uint64_t *tab = ess_pool_extents(&ctx->pool, req, layer);

	return (uint32_t)(tab[tok / ET] >> ctx->pool.heat_shift);
}

static int rows_exact(ess_ctx *ctx, const uint32_t *req)
{
	return tier_host_matches(ctx, req[0], 0) && tier_host_matches(ctx, req[1], 1);
}

static struct ess_config cfg;
static struct ess_tier_config tcfg;
static uint32_t req[NREQ];

/* A context on the named region `name` holding both requests' rows, and
 * its tier config (not attached); NULL after a Bail out. */
static ess_ctx *setup(const char *name, uint32_t flags, const char *path, const char *disk)
{
	ess_ctx *ctx = NULL;
	char err[256];
	int ret;

	tier_config(&cfg, flags);
	cfg.pool = ESS_POOL_MODULE;
	cfg.heat_shift = 12;	/* 4 KiB extents = one heat block each */
	cfg.region_name = name;
	ess_region_destroy(name);	/* left by an earlier run */
	ret = ess_create(&cfg, &ctx, err, sizeof(err));
	if (!tap_ok(ret == 0 && ctx->pool.src == ESS_POOL_SRC_MODULE,
		    "context on /dev/ess region %s (%s)", name, ret ? err : "ok"))
		return NULL;
	if (tier_add_requests(ctx, 10, req)) {
		printf("Bail out! ingest: %s\n", ess_errmsg(ctx));
		return NULL;
	}
	ess_tier_config_default(&tcfg);
	tcfg.path = path;
	tcfg.capacity_bytes = disk && disk[0] ? 0 : 1 << 20;
	tcfg.store_flags = disk && disk[0] ? 0 : ESS_NVME_CREATE;
	tcfg.high_pct = 40;
	tcfg.low_pct = 20;
	return ctx;
}

/* Counts say 0 and 7 are hot (prepare counts and reports no heat); the
 * module's heat says 3 and 4 (50 accesses each, reported straight to it).
 * Returns the ioctls' result. */
static int feed(ess_ctx *ctx)
{
	static uint32_t blocks[NREQ * LAYERS * 2 * 50];
	struct ess_heat_report rep;
	struct ess_heat_tick tick;
	int32_t topk[TOPK];
	uint32_t nb = 0;

	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++)
			for (int k = 0; k < 5; k++) {
				for (int j = 0; j < TOPK; j++)
					topk[j] = j < 4 ? j : TOK - 1 - j;
				ess_tier_prepare(ctx, l, 1, &req[r], topk);
			}
	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++)
			for (int k = 0; k < 50; k++) {
				blocks[nb++] = block_of(ctx, req[r], l, 3 * ET);
				blocks[nb++] = block_of(ctx, req[r], l, 4 * ET);
			}
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	rep.addr = (uint64_t)(uintptr_t)blocks;
	rep.nr = nb;
	memset(&tick, 0, sizeof(tick));
	tick.size = sizeof(tick);
	return ioctl(ctx->pool.fd, ESS_IOC_HEAT_REPORT, &rep) ||
	       ioctl(ctx->pool.fd, ESS_IOC_HEAT_TICK, &tick);
}

/* Extents e1 and e2 of every (request, layer) still in host memory. */
static int stayed(ess_ctx *ctx, uint32_t e1, uint32_t e2)
{
	int good = 1;

	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++)
			good &= ess_tier_demoted(ctx, req[r], l, e1 * ET) == 0 &&
				ess_tier_demoted(ctx, req[r], l, e2 * ET) == 0;
	return good;
}

int main(void)
{
	const char *disk = getenv("ESS_TEST_DISK");
	struct ess_tier_stats s;
	char path[256], why[512], err[256];
	ess_ctx *ctx = NULL;
	int ret, good;

	if (access(ESS_DEVICE_PATH, R_OK | W_OK))
		tap_skip_all("no /dev/ess (the module runs in the QEMU guest)");
	if (disk && disk[0])
		snprintf(path, sizeof(path), "%s", disk);
	else if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(13);
	rng_fill(tier_rows, sizeof(tier_rows));
	ctx = setup("ess-nvme-tier-heat", 0, path, disk);
	if (!ctx)
		return 1;
	ret = ess_tier_attach(ctx, &tcfg);
	tap_ok(ret == 0, "attach a tier on %s (%s)", path, ret ? ess_errmsg(ctx) : "ok");
	tap_ok(feed(ctx) == 0, "heat reported for extents 3 and 4, aggregated");

	ret = ess_tier_balance(ctx);
	ess_tier_stats_get(ctx, &s);
	tap_ok(ret == 20 && s.heat_picks == 20 && s.count_picks == 0 &&
	       s.pool_used == 12,
	       "balance demotes 20 extents chosen from module heat (ret %d, heat %llu, counts %llu)",
	       ret, (unsigned long long)s.heat_picks,
	       (unsigned long long)s.count_picks);
	tap_ok(stayed(ctx, 3, 4), "the extents hot by heat (3, 4) stayed in host memory");
	good = ess_tier_detach(ctx) == 0 && rows_exact(ctx, req);
	tap_ok(good, "detach reads everything back; every row exact");

	/* Named region: destroying the context with extents demoted reads
	 * them back, so the next process adopts whole tables. */
	ret = ess_tier_attach(ctx, &tcfg);
	ret = ret ? ret : ess_tier_balance(ctx);
	ess_destroy(ctx);
	ctx = NULL;
	ret = ret < 0 ? ret : ess_create(&cfg, &ctx, err, sizeof(err));
	good = ret == 0 && ctx->pool.attached;
	for (uint32_t r = 0; good && r < NREQ; r++)
		good = ess_request_find(ctx, 10 + r, &req[r]) == 0;
	tap_ok(good && rows_exact(ctx, req),
	       "warm restart after destroy with demoted extents: every row exact (%s)",
	       ret ? err : "ok");
	ess_destroy(ctx);
	ess_region_destroy(cfg.region_name);

	/* A context that reports no heat: the module's heat is not its own. */
	ctx = setup("ess-nvme-tier-noheat", ESS_CFG_NO_HEAT, path, disk);
	if (!ctx)
		return 1;
	ret = ess_tier_attach(ctx, &tcfg);
	tap_ok(ret == 0, "ESS_CFG_NO_HEAT: attach a tier (%s)", ret ? ess_errmsg(ctx) : "ok");
	tap_ok(feed(ctx) == 0, "ESS_CFG_NO_HEAT: the module still takes reports made to it");
	ret = ess_tier_balance(ctx);
	ess_tier_stats_get(ctx, &s);
	tap_ok(ret == 20 && s.heat_picks == 0 && s.count_picks == 20,
	       "ESS_CFG_NO_HEAT: the 20 victims come from the tier's counts (heat %llu, counts %llu)",
	       (unsigned long long)s.heat_picks, (unsigned long long)s.count_picks);
	tap_ok(stayed(ctx, 0, 7), "ESS_CFG_NO_HEAT: the extents hot by count (0, 7) stayed");
	good = ess_tier_detach(ctx) == 0 && rows_exact(ctx, req);
	tap_ok(good, "ESS_CFG_NO_HEAT: detach reads everything back; every row exact");
	ess_destroy(ctx);
	ess_region_destroy(cfg.region_name);
	if (!(disk && disk[0]))
		unlink(path);
	return tap_failed;
}
