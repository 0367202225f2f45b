// SPDX-License-Identifier: MIT
/*
 * ess-stat against the real module (runs in the QEMU guest; on a host
 * without /sys/kernel/ess it skips): make a region with a known heat
 * histogram, then check that every value ess-stat shows (--prometheus,
 * --json, -H) equals what sysfs says, and the histogram equals the
 * expected one.  Built statically for the guest by tools/stat.mk, which
 * also puts a static ess-stat in the guest's /bin.
 */
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "stat-tap.h"
#include "uapi/ess.h"

#define SYSFS "/sys/kernel/ess"

static long long sysfs_num(const char *dir, const char *file)
{
	char path[512], buf[64];
	FILE *f;
	long long v = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	if (f && fgets(buf, sizeof(buf), f))
		v = strtoll(buf, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

#define ARGV(...) ((char *const[]){ "ess-stat", __VA_ARGS__, NULL })

int main(void)
{
	static const char *const knobs[] = {
		"abi_version", "pinned_bytes", "pinned_cap_bytes", "nr_regions",
		"aggregation_interval_ms", "heat_decay_pct", "hot_threshold",
		"cold_threshold",
	};
	static const char *const rfiles[] = {
		"bytes", "pinned_bytes", "node", "owner", "users", "mappings",
		"heat_block_size",
	};
	struct ess_create cr;
	struct ess_heat_report rep;
	struct ess_heat_tick tick;
	uint32_t blocks[6] = { 0, 0, 0, 0, 0, 1 };
	char rdir[128], series[256], hist[512], want[512];
	struct run_out ro;
	const char *reg;
	struct stat sb;
	FILE *f;
	int fd, good, i;
	size_t k;

	if (stat(SYSFS, &sb) != 0) {
		printf("1..0 # SKIP ess module not loaded (no " SYSFS ")\n");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	diag("ess-stat: %s", stat_bin());

	fd = open(ESS_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	MUST(fd < 0);
	memset(&cr, 0, sizeof(cr));
	cr.size = sizeof(cr);
	cr.flags = ESS_CREATE_HEAT_MANUAL;
	cr.bytes = 2 * ESS_BLOCK_SIZE;
	cr.heat_shift = 16;		/* 64 heat blocks */
	MUST(ioctl(fd, ESS_IOC_CREATE, &cr));
	memset(&rep, 0, sizeof(rep));
	rep.size = sizeof(rep);
	rep.addr = (uint64_t)(uintptr_t)blocks;
	rep.nr = 6;
	MUST(ioctl(fd, ESS_IOC_HEAT_REPORT, &rep));
	memset(&tick, 0, sizeof(tick));
	tick.size = sizeof(tick);
	MUST(ioctl(fd, ESS_IOC_HEAT_TICK, &tick));
	snprintf(rdir, sizeof(rdir), SYSFS "/regions/%llu", (unsigned long long)cr.id);
	diag("region %llu", (unsigned long long)cr.id);

	run_stat(&ro, ARGV("--prometheus"));
	ok(ro.status == 0 && prom_value(ro.out, "ess_module_loaded") == 1,
	   "--prometheus: module loaded, exit 0");
	good = 1;
	for (k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
		snprintf(series, sizeof(series), "ess_module_%s", knobs[k]);
		if (prom_value(ro.out, series) != sysfs_num(SYSFS, knobs[k])) {
			diag("%s: ess-stat %lld, sysfs %lld", knobs[k],
			     prom_value(ro.out, series), sysfs_num(SYSFS, knobs[k]));
			good = 0;
		}
	}
	ok(good, "--prometheus: every module knob equals sysfs");
	good = 1;
	for (k = 0; k < sizeof(rfiles) / sizeof(rfiles[0]); k++) {
		snprintf(series, sizeof(series),
			 "ess_region_%s{region=\"%llu\",name=\"\"}", rfiles[k],
			 (unsigned long long)cr.id);
		if (prom_value(ro.out, series) != sysfs_num(rdir, rfiles[k])) {
			diag("%s: ess-stat %lld, sysfs %lld", rfiles[k],
			     prom_value(ro.out, series), sysfs_num(rdir, rfiles[k]));
			good = 0;
		}
	}
	ok(good, "--prometheus: every file of our region equals sysfs");
	ok(sysfs_num(rdir, "bytes") == (long long)(2 * ESS_BLOCK_SIZE) &&
	   sysfs_num(rdir, "users") == 1, "region is 4 MiB with 1 user");
	good = 1;
	for (i = 0; i < ESS_HEAT_BUCKETS; i++) {
		long long want_n = i == 0 ? 62 : i == 1 ? 1 : i == 3 ? 1 : 0;

		snprintf(series, sizeof(series),
			 "ess_region_heat_blocks{region=\"%llu\",name=\"\",bucket=\"%d\"}",
			 (unsigned long long)cr.id, i);
		if (prom_value(ro.out, series) != want_n) {
			diag("bucket %d: %lld, want %lld", i,
			     prom_value(ro.out, series), want_n);
			good = 0;
		}
	}
	ok(good, "--prometheus: histogram 62 cold, heat 1 in bucket 1, heat 5 in bucket 3");
	run_free(&ro);

	/* the histogram line in sysfs, and the same numbers in --json */
	snprintf(series, sizeof(series), "%s/heat_histogram", rdir);
	f = fopen(series, "r");
	MUST(!f || !fgets(hist, sizeof(hist), f));
	fclose(f);
	hist[strcspn(hist, "\n")] = 0;
	for (i = 0, k = 0; hist[i]; i++)
		want[k++] = hist[i] == ' ' ? ',' : hist[i];
	want[k] = 0;
	run_stat(&ro, ARGV("--json"));
	snprintf(series, sizeof(series), "{\"id\":%llu,", (unsigned long long)cr.id);
	reg = strstr(ro.out, series);
	ok(ro.status == 0 && reg && strstr(reg, want) &&
	   json_num(strstr(ro.out, "\"module\":{"), "pinned_bytes") ==
	   sysfs_num(SYSFS, "pinned_bytes") &&
	   json_num(reg, "bytes") == sysfs_num(rdir, "bytes"),
	   "--json: pinned bytes, region bytes and histogram [%s] equal sysfs", want);
	run_free(&ro);

	run_stat(&ro, ARGV("-H"));
	snprintf(series, sizeof(series), "region %llu\n", (unsigned long long)cr.id);
	reg = strstr(ro.out, series);
	ok(ro.status == 0 && reg && strstr(reg, "4..7") && strstr(reg, "total"),
	   "-H: our region's heat 5 block shown in 4..7");
	run_free(&ro);

	run_stat(&ro, ARGV("-m"));
	ok(ro.status == 0 && strstr(ro.out, "ess module loaded"), "-m: module loaded");
	run_free(&ro);

	close(fd);
	run_stat(&ro, ARGV("--prometheus"));
	snprintf(series, sizeof(series), "ess_region_bytes{region=\"%llu\",name=\"\"}",
		 (unsigned long long)cr.id);
	ok(ro.status == 0 && prom_value(ro.out, series) == -1 &&
	   prom_value(ro.out, "ess_module_pinned_bytes") == sysfs_num(SYSFS, "pinned_bytes"),
	   "after close: region gone from ess-stat, pinned bytes still equal sysfs");
	run_free(&ro);

	run_stat(&ro, ARGV("--dir", "/tmp"));
	ok(ro.status == 0 && strstr(ro.out, "no ESS runtime running"),
	   "module loaded, no runtime: says so, exit 0");
	run_free(&ro);
	return done();
}
