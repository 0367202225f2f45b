// SPDX-License-Identifier: MIT
/*
 * ess-stat with a runtime on the module (runs in the QEMU guest with
 * ess.ko loaded; skips where /dev/ess is absent, e.g. on the host): a
 * context whose host pool is a named /dev/ess region does some work; then
 * ess-stat --json shows its counters exactly as ess_stats_get() returns
 * them (heat reports included), its pool as "module", all of it pinned,
 * and, in the module section, the region by its name with the sizes sysfs
 * gives; the module's pinned bytes equal sysfs's.
 */
#include <sys/stat.h>

#include "stat-tap.h"
#include "ess/ess.h"

#define EB 656
#define NT 256
#define REGION "stat-modpool"

static long long sysfs_num(const char *path)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	long long v = -1;

	if (f && fgets(buf, sizeof(buf), f))
		v = strtoll(buf, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

int main(void)
{
	static uint8_t rows[NT * EB];
	int32_t topk[8], slots[8];
	char pid_s[16], err[256], want[128], path[256];
	struct ess_config c;
	struct ess_stats st;
	struct run_out ro;
	const char *cnt, *reg;
	ess_ctx *ctx = NULL;
	uint32_t req, l;
	long long id;
	int i, j;

	if (access("/dev/ess", F_OK)) {
		printf("1..0 # SKIP no /dev/ess (the module is loaded in the QEMU guest)\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	setenv("ESS_STAT_DIR", "/tmp", 1);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
	ess_config_default(&c);
	c.layers = 2;
	c.entry_bytes = EB;
	c.topk = 8;
	c.slots = 16;
	c.max_requests = 2;
	c.max_tokens = 512;
	c.extent_tokens = 64;
	c.pool_bytes = 4u << 20;
	c.heat_shift = 16;
	c.pool = ESS_POOL_MODULE;
	c.region_name = REGION;
	if (ess_create(&c, &ctx, err, sizeof(err))) {
		printf("Bail out! ess_create: %s\n", err);
		return 1;
	}
	MUST(ess_request_add(ctx, 1, &req));
	for (l = 0; l < 2; l++)
		MUST(ess_ingest(ctx, req, l, 0, NT, rows));
	for (i = 0; i < 20; i++)
		for (l = 0; l < 2; l++) {
			for (j = 0; j < 8; j++)
				topk[j] = (i * 5 + j * 31) % NT;
			MUST(ess_resolve(ctx, l, 1, &req, topk, slots, NULL));
		}
	MUST(ess_sync(ctx, NULL));
	MUST(ess_stats_get(ctx, &st));

	run_stat(&ro, (char *const[]){ "ess-stat", "--json", "--pid", pid_s, NULL });
	cnt = strstr(ro.out, "\"counters\"");
	ok(ro.status == 0 && strstr(ro.out, "\"pool\":\"module\""),
	   "--json: the context's pool is \"module\"");
	ok(json_num(cnt, "lookups") == (long long)st.lookups &&
	   json_num(cnt, "hits") == (long long)st.hits &&
	   json_num(cnt, "misses") == (long long)st.misses &&
	   json_num(cnt, "heat_reports") == (long long)st.heat_reports &&
	   json_num(cnt, "heat_report_errors") == 0 && st.heat_reports > 0,
	   "--json: lookups, hits, misses, %llu heat reports equal ess_stats_get",
	   (unsigned long long)st.heat_reports);
	ok(json_num(cnt, "dram_bytes") == (long long)st.pool_bytes &&
	   json_num(cnt, "pinned_bytes") == (long long)st.pool_bytes &&
	   json_num(cnt, "pin_failures") == 0 && st.pool_unlocked == 0,
	   "--json: the whole pool (%llu bytes) pinned, no pin failure",
	   (unsigned long long)st.pool_bytes);
	snprintf(want, sizeof(want), "\"name\":\"%s\"", REGION);
	reg = strstr(ro.out, want);
	id = -1;
	if (reg) {
		const char *p = reg;

		while (p > ro.out && strncmp(p, "{\"id\":", 6))
			p--;
		id = json_num(p, "id");
	}
	snprintf(path, sizeof(path), "/sys/kernel/ess/regions/%lld/bytes", id);
	ok(reg && id >= 0 && json_num(reg, "bytes") == sysfs_num(path) &&
	   json_num(reg, "bytes") >= (long long)st.pool_bytes &&
	   json_num(reg, "users") == 1,
	   "--json: region %lld \"" REGION "\" with sysfs's bytes, >= the pool, 1 user", id);
	ok(json_num(strstr(ro.out, "\"module\":{"), "pinned_bytes") ==
	   sysfs_num("/sys/kernel/ess/pinned_bytes"),
	   "--json: module pinned bytes equal sysfs");
	run_free(&ro);

	run_stat(&ro, (char *const[]){ "ess-stat", "-p", NULL });
	ok(ro.status == 0 && strstr(ro.out, pid_s) && strstr(ro.out, "module") &&
	   strstr(ro.out, "live"), "-p: our process on the module pool, live");
	run_free(&ro);

	ess_destroy(ctx);
	MUST(ess_region_destroy(REGION));
	run_stat(&ro, (char *const[]){ "ess-stat", "--json", NULL });
	ok(ro.status == 0 && json_num(ro.out, "live") == 0 && !strstr(ro.out, want),
	   "after destroy: no process, the region is gone");
	run_free(&ro);
	return done();
}
