// SPDX-License-Identifier: MIT
/*
 * Tiering between a context's host pool and the NVMe extent store, on the
 * CPU backend and the fallback pool: balance demotes the coldest extents
 * (the tier's own access counts) down to the low watermark; a top-k that
 * touches demoted extents reads them back before resolve, which then
 * returns the original rows; park/resume moves a whole request out and
 * back; flipped bytes in the tier file fail the read-back with -EBADMSG and
 * lose nothing else; a full store keeps the extents it cannot take in host
 * memory.  All of it runs twice: the second time the tier's store verifies
 * on its verifier thread (store_flags ESS_NVME_VERIFY_THREAD).
 */
#include <sys/stat.h>

#include "tier-tap.h"

static char path[256];
static uint32_t cfg_flags;
static uint32_t store_flags;	/* added to the tier's store_flags */

static ess_ctx *make_ctx(uint32_t *req)
{
	return tier_make_ctx(cfg_flags, req);
}

static int attach(ess_ctx *ctx, uint64_t cap, uint32_t high, uint32_t low)
{
	struct ess_tier_config tc;

	ess_tier_config_default(&tc);
	tc.path = path;
	tc.capacity_bytes = cap;
	tc.queue_depth = 8;
	tc.store_flags |= store_flags;
	tc.high_pct = high;
	tc.low_pct = low;
	truncate(path, 0);
	return ess_tier_attach(ctx, &tc);
}

/* Resolve a top-k and compare every returned slot with the original row. */
static int resolve_matches(ess_ctx *ctx, uint32_t req, uint32_t r,
			   uint32_t layer, const int32_t *topk)
{
	int32_t out[TOPK];
	const uint8_t *hot;
	int ret;

	ret = ess_tier_prepare(ctx, layer, 1, &req, topk);
	if (ret) {
		tap_diag("prepare: %s", ess_errmsg(ctx));
		return 0;
	}
	if (ess_resolve(ctx, layer, 1, &req, topk, out, NULL))
		return 0;
	hot = ess_hot_layer(ctx, layer);
	for (int j = 0; j < TOPK; j++) {
		if (topk[j] < 0)
			continue;
		if (out[j] < 0 || memcmp(hot + (size_t)out[j] * EB,
					 tier_rows[r][layer] + (size_t)topk[j] * EB, EB))
			return 0;
	}
	return 1;
}

static void scenario(void)
{
	struct ess_tier_stats s;
	struct ess_tier_config tc;
	uint32_t req[NREQ], hot_ok = 1;
	int32_t topk[TOPK];
	ess_ctx *ctx;
	int ret, fd;

	rng_fill(tier_rows, sizeof(tier_rows));
	ctx = make_ctx(req);

	/* Input checks. */
	ess_tier_config_default(&tc);
	tc.path = path;
	tc.capacity_bytes = 1 << 20;
	tc.low_pct = 95;
	tap_ok(ess_tier_attach(ctx, &tc) == -EINVAL &&
	       strstr(ess_errmsg(ctx), "watermarks"),
	       "attach refuses low >= high: %s", ess_errmsg(ctx));
	tap_ok(ess_tier_balance(ctx) == -ENODEV && ess_tier_park(ctx, req[0]) == -ENODEV,
	       "calls without a tier: -ENODEV");
	ret = attach(ctx, 1 << 20, 40, 20);
	tap_ok(ret == 0, "attach a tier: high 40%% low 20%% (%s)",
	       ret ? ess_errmsg(ctx) : "ok");
	tap_ok(attach(ctx, 1 << 20, 40, 20) == -EBUSY, "second attach: -EBUSY");

	/* Make extents 0 and 7 of every (request, layer) hot. */
	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++) {
			for (int j = 0; j < TOPK; j++)
				topk[j] = j < 4 ? j * 3 : TOK - 1 - j;
			hot_ok &= resolve_matches(ctx, req[r], r, l, topk);
		}
	tap_ok(hot_ok, "resolve before any demotion returns the rows");
	ess_tier_stats_get(ctx, &s);
	tap_ok(s.pool_used == 32 && s.pool_extents == 64,
	       "pool: 32 of 64 extents used (%llu of %llu)",
	       (unsigned long long)s.pool_used, (unsigned long long)s.pool_extents);

	ret = ess_tier_balance(ctx);
	ess_tier_stats_get(ctx, &s);
	tap_ok(ret == 20 && s.pool_used == 12 && s.demoted == 20 && s.on_nvme == 20,
	       "balance demotes 20 extents down to 12 of 64 (ret %d, used %llu)",
	       ret, (unsigned long long)s.pool_used);
	hot_ok = 1;
	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++)
			hot_ok &= ess_tier_demoted(ctx, req[r], l, 0) == 0 &&
				  ess_tier_demoted(ctx, req[r], l, TOK - 1) == 0;
	tap_ok(hot_ok && s.count_picks == 20,
	       "the accessed extents stayed in host memory (chosen by access counts)");
	tap_ok(ess_tier_balance(ctx) == 0, "balance under the high watermark does nothing");

	/* A top-k over demoted extents: read back first, then resolve. */
	for (int j = 0; j < TOPK; j++)
		topk[j] = j == 5 ? -1 : (int32_t)(64 * j + 10);
	ret = resolve_matches(ctx, req[0], 0, 1, topk);
	ess_tier_stats_get(ctx, &s);
	tap_ok(ret, "resolve of a top-k over demoted extents returns the original rows");
	tap_ok(s.critical_reads == 5 && s.store.critical_reads == 5 &&
	       s.promoted == 5 && s.on_nvme == 15,
	       "5 demoted extents read back on the critical path (%llu)",
	       (unsigned long long)s.critical_reads);

	/* Park and resume a whole request. */
	ret = ess_tier_park(ctx, req[0]);
	ess_tier_stats_get(ctx, &s);
	tap_ok(ret == 0 && tier_demoted_extents(ctx, req[0]) == 16,
	       "park demotes all 16 extents of request 0");
	topk[0] = 1;
	tap_ok(ess_tier_prepare(ctx, 0, 1, &req[0], topk) == -EBUSY,
	       "prepare of a parked request: -EBUSY");
	ret = ess_tier_resume(ctx, req[0]);
	tap_ok(ret == 0 && ess_tier_poll(ctx, 1) == 0 && tier_host_matches(ctx, req[0], 0),
	       "resume prefetches every extent back, all rows exact");
	ess_tier_stats_get(ctx, &s);
	tap_ok(s.prefetch_reads == 16 && s.parks == 1 && s.resumes == 1,
	       "16 prefetch reads counted");

	/* Flipped bytes: bring request 1 home, park request 0, damage the
	 * whole tier file. */
	ret = ess_tier_prepare(ctx, 0, 1, &req[1], NULL) ||
	      ess_tier_prepare(ctx, 1, 1, &req[1], NULL) ||
	      ess_tier_park(ctx, req[0]);
	fd = open(path, O_RDWR);
	if (fd >= 0) {
		struct stat sb;
		uint8_t byte;

		/* Invert one byte per 4 KiB extent: a constant could
		 * equal what is there already. */
		fstat(fd, &sb);
		for (off_t o = 100; o < sb.st_size; o += 4096) {
			ret |= pread(fd, &byte, 1, o) != 1;
			byte ^= 0xff;
			ret |= pwrite(fd, &byte, 1, o) != 1;
		}
		fsync(fd);
		close(fd);
	}
	ret = ret || ess_tier_resume(ctx, req[0]) != 0;
	ret = ret || ess_tier_poll(ctx, 1) != -EBADMSG;
	tap_ok(!ret && strstr(ess_errmsg(ctx), "CRC32C"),
	       "damaged tier file: read-back fails with -EBADMSG (%s)", ess_errmsg(ctx));
	ess_tier_stats_get(ctx, &s);
	tap_ok(tier_demoted_extents(ctx, req[0]) == 16 && s.read_failures == 16 &&
	       s.store.checksum_failures == 16,
	       "every damaged extent stays demoted, none returned as good");
	tap_ok(ess_tier_prepare(ctx, 0, 1, &req[1], NULL) == 0 &&
	       tier_host_matches(ctx, req[1], 1),
	       "request 1 is unaffected by request 0's damage");
	tap_ok(ess_tier_detach(ctx) == -EBADMSG,
	       "detach refuses while a damaged extent cannot be read back");
	tap_ok(ess_tier_forget(ctx, req[0]) == 0 && ess_tier_detach(ctx) == 0 &&
	       tier_host_matches(ctx, req[1], 1),
	       "after forgetting request 0, detach reads everything back, request 1 exact");
	ess_request_remove(ctx, req[0]);
	ess_destroy(ctx);

	/* The core's hooks: resolve without an explicit prepare, appends to a
	 * parked request, host-row lookups, removal, data-check mode. */
	cfg_flags = ESS_CFG_DATA_CHECK;
	ctx = make_ctx(req);
	cfg_flags = 0;
	ret = attach(ctx, 1 << 20, 40, 20);
	ret = ret ? ret : ess_tier_park(ctx, req[1]);
	tap_ok(ret == 0 && ess_host_row(ctx, req[1], 0, 3) == NULL,
	       "a demoted row has no host address (ess_host_row NULL)");
	{
		uint8_t arow[EB];

		memset(arow, 7, sizeof(arow));
		tap_ok(ess_append(ctx, 0, 1, &req[1], arow, NULL) == -EBUSY &&
		       ess_ingest(ctx, req[1], 0, TOK, 1, arow) == -EBUSY,
		       "append and ingest into a parked request: -EBUSY (%s)",
		       ess_errmsg(ctx));
	}
	ret = ess_tier_resume(ctx, req[1]);
	for (int j = 0; j < TOPK; j++)
		topk[j] = (int32_t)(64 * j + 7);
	ret = ret || ess_tier_poll(ctx, 0) < 0;
	{
		int32_t out[TOPK];
		const uint8_t *hot;
		int good = !ret &&
			   ess_resolve(ctx, 1, 1, &req[1], topk, out, NULL) == 0;

		hot = ess_hot_layer(ctx, 1);
		for (int j = 0; good && j < TOPK; j++)
			good = !memcmp(hot + (size_t)out[j] * EB,
				       tier_rows[1][1] + (size_t)topk[j] * EB, EB);
		tap_ok(good, "ess_resolve alone waits for the resumed extents it needs");
	}
	ess_tier_poll(ctx, 1);
	/* Hot slots now hold rows of every extent of req 1 layer 1; demote
	 * the cold ones and resolve again: the data check skips the rows
	 * without a host copy instead of reading a freed extent. */
	{
		int32_t out[TOPK];

		ret = ess_tier_balance(ctx);
		for (int j = 0; j < TOPK; j++)
			topk[j] = (int32_t)(64 * j + 7);
		tap_ok(ret > 0 && ess_resolve(ctx, 1, 1, &req[1], topk, out, NULL) == 0,
		       "data-check mode resolves with %d extents demoted", ret);
	}
	ess_tier_park(ctx, req[0]);
	ess_tier_stats_get(ctx, &s);
	ret = (int)s.on_nvme;
	ess_request_remove(ctx, req[0]);
	ess_tier_stats_get(ctx, &s);
	tap_ok(ret >= 16 && s.on_nvme == (uint64_t)ret - 16 &&
	       s.store.slots_used == s.on_nvme &&
	       tier_demoted_extents(ctx, req[0]) == 0,
	       "removing a parked request drops its 16 NVMe copies");
	ess_destroy(ctx);

	/* A store of 4 slots: the rest stays in host memory. */
	ctx = make_ctx(req);
	ret = attach(ctx, 4 * 4096, 40, 20);
	ret = ret ? ret : ess_tier_balance(ctx);
	ess_tier_stats_get(ctx, &s);
	tap_ok(ret == -ENOSPC && s.demoted == 4 && s.pool_used == 28,
	       "full store: balance fails with -ENOSPC after 4 demotions (%s)",
	       ess_errmsg(ctx));
	tap_ok(ess_tier_detach(ctx) == 0 && tier_host_matches(ctx, req[0], 0) &&
	       tier_host_matches(ctx, req[1], 1),
	       "nothing lost: every row exact after detach");
	ess_destroy(ctx);
}

int main(void)
{
	char why[512];

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(2 * 27);
	scenario();
	tap_diag("the same with the store's verifier thread (ESS_NVME_VERIFY_THREAD)");
	store_flags = ESS_NVME_VERIFY_THREAD;
	scenario();
	unlink(path);
	return tap_failed;
}
