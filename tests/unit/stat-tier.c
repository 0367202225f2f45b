// SPDX-License-Identifier: MIT
/*
 * The NVMe tier's traffic in the statistics segment: a context with a tier
 * parks a request (every extent written to the store) and resumes it
 * (every extent read back); ess-stat --json then shows exactly the store's
 * reads, writes and bytes, and the tier's capacity and use, as
 * ess_tier_stats_get() reports them.  Skips where no directory takes
 * O_DIRECT (the store needs it).
 */
#include <fcntl.h>

#include "stat-tap.h"
#include "ess/ess.h"
#include "ess/nvme.h"

#define EB 64		/* entry bytes */
#define ET 64		/* extent tokens: 4 KiB extents */
#define TOK 512		/* 8 extents per (request, layer) */

static char dir[] = "/tmp/ess-stat-tier.XXXXXX";
static char store[256];

static int scratch(void)
{
	const char *dirs[] = { getenv("ESS_TEST_DIR"), "/var/tmp", "/tmp" };

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		int fd;

		if (!dirs[i] || !*dirs[i])
			continue;
		snprintf(store, sizeof(store), "%s/ess-stat-tier.XXXXXX", dirs[i]);
		fd = mkstemp(store);
		if (fd < 0)
			continue;
		close(fd);
		fd = open(store, O_RDWR | O_DIRECT);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		unlink(store);
	}
	return -1;
}

int main(void)
{
	static uint8_t rows[TOK * EB];
	struct ess_tier_config tc;
	struct ess_tier_stats ts;
	struct ess_config c;
	struct ess_stats st;
	struct run_out ro;
	char pid_s[16], err[256];
	const char *cnt;
	ess_ctx *ctx = NULL;
	uint32_t req, l;
	int good;

	if (scratch()) {
		printf("1..0 # SKIP no directory takes O_DIRECT for the store\n");
		return 0;
	}
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", dir, 1);
	unsetenv("ESS_STAT");
	snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());

	ess_config_default(&c);
	c.layers = 2;
	c.entry_bytes = EB;
	c.topk = 8;
	c.slots = 16;
	c.max_requests = 2;
	c.max_tokens = 1024;
	c.extent_tokens = ET;
	c.pool_bytes = 64 * ET * EB;
	c.pool = ESS_POOL_FALLBACK;
	if (ess_create(&c, &ctx, err, sizeof(err))) {
		printf("Bail out! ess_create: %s\n", err);
		return 1;
	}
	MUST(ess_request_add(ctx, 7, &req));
	for (l = 0; l < 2; l++)
		MUST(ess_ingest(ctx, req, l, 0, TOK, rows));
	ess_tier_config_default(&tc);
	tc.path = store;
	tc.capacity_bytes = 1 << 20;
	tc.queue_depth = 8;
	MUST(ess_tier_attach(ctx, &tc));

	MUST(ess_tier_park(ctx, req));
	MUST(ess_tier_poll(ctx, 1));
	MUST(ess_stats_get(ctx, &st));
	MUST(ess_tier_stats_get(ctx, &ts));
	run_stat(&ro, (char *const[]){ "ess-stat", "--json", "--pid", pid_s, NULL });
	cnt = strstr(ro.out, "\"counters\"");
	ok(ro.status == 0 && ts.store.writes == 16 &&
	   json_num(cnt, "nvme_writes") == 16 &&
	   json_num(cnt, "nvme_write_bytes") == (long long)ts.store.write_bytes &&
	   json_num(cnt, "nvme_used_bytes") == (long long)(ts.on_nvme * ET * EB) &&
	   ts.on_nvme == 16,
	   "park: 16 extents written, %llu bytes, all 16 only on NVMe",
	   (unsigned long long)ts.store.write_bytes);
	ok(json_num(cnt, "nvme_bytes") == (long long)(ts.store.slots_total * ET * EB) &&
	   ts.store.slots_total > 0, "tier capacity: %llu slots of 4 KiB",
	   (unsigned long long)ts.store.slots_total);
	run_free(&ro);

	MUST(ess_tier_resume(ctx, req));
	MUST(ess_tier_poll(ctx, 1));
	MUST(ess_stats_get(ctx, &st));
	MUST(ess_tier_stats_get(ctx, &ts));
	run_stat(&ro, (char *const[]){ "ess-stat", "--json", "--pid", pid_s, NULL });
	cnt = strstr(ro.out, "\"counters\"");
	good = ro.status == 0 && ts.store.reads == 16 &&
	       json_num(cnt, "nvme_reads") == 16 &&
	       json_num(cnt, "nvme_read_bytes") == (long long)ts.store.read_bytes &&
	       json_num(cnt, "nvme_writes") == 16 &&
	       json_num(cnt, "nvme_used_bytes") == 0 &&
	       json_num(cnt, "ingested") == (long long)st.ingested;
	ok(good, "resume: 16 extents read back, %llu bytes, none left only on NVMe",
	   (unsigned long long)ts.store.read_bytes);
	run_free(&ro);

	run_stat(&ro, (char *const[]){ "ess-stat", "--prometheus", NULL });
	{
		char series[256];

		snprintf(series, sizeof(series),
			 "ess_nvme_reads_total{pid=\"%s\",ctx=\"0\",comm=\"stat-tier\",backend=\"cpu\",device=\"-1\"}",
			 pid_s);
		ok(prom_value(ro.out, series) == 16, "--prometheus: %s 16", series);
	}
	run_free(&ro);

	ess_destroy(ctx);
	unlink(store);
	ok(rmdir(dir) == 0, "segment removed at destroy");
	return done();
}
