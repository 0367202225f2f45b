// SPDX-License-Identifier: MIT
/*
 * ess-stat's module views over a sysfs tree laid out as
 * Documentation/ABI/testing/sysfs-kernel-ess describes (built in a
 * temporary directory and passed with --sysfs; the real module only loads
 * in the QEMU guest, where stat-sysfs checks the same views against it):
 * knobs and regions in -m, --json and --prometheus; the histogram in -H;
 * malformed and missing files left out rather than shown wrong.
 */
#include <sys/stat.h>

#include "stat-tap.h"

static char root[] = "/tmp/ess-stat-sysfs.XXXXXX";
static char segdir[] = "/tmp/ess-stat-mod.XXXXXX";

static void put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	f = fopen(path, "w");
	if (!f || fputs(text, f) < 0) {
		printf("Bail out! cannot write %s\n", path);
		exit(1);
	}
	fclose(f);
}

static void dir(const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	MUST(mkdir(path, 0755));
}

#define ARGV(...) ((char *const[]){ "ess-stat", "--sysfs", root, __VA_ARGS__, NULL })

int main(void)
{
	struct run_out ro;
	const char *r3, *r9;
	char cmd[600];

	if (!mkdtemp(root) || !mkdtemp(segdir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", segdir, 1);
	put("abi_version", "1\n");
	put("pinned_bytes", "6291456\n");
	put("pinned_cap_bytes", "12884901888\n");
	put("nr_regions", "2\n");
	put("aggregation_interval_ms", "100\n");
	put("heat_decay_pct", "25\n");
	put("hot_threshold", "64\n");
	/* cold_threshold missing: shown as unknown, never as 0 */
	dir("regions");
	dir("regions/3");
	put("regions/3/bytes", "4194304\n");
	put("regions/3/pinned_bytes", "4194304\n");
	put("regions/3/node", "0\n");
	put("regions/3/name", "kv0\n");
	put("regions/3/owner", "1000\n");
	put("regions/3/users", "2\n");
	put("regions/3/mappings", "1\n");
	put("regions/3/heat_block_size", "65536\n");
	put("regions/3/heat_histogram",
	    "50 0 3 0 0 0 0 9 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2\n");
	dir("regions/9");
	put("regions/9/bytes", "abc\n");	/* malformed */
	put("regions/9/pinned_bytes", "2097152\n");
	put("regions/9/name", "\n");
	put("regions/9/heat_histogram", "1 2 3\n");	/* too short */
	dir("regions/junk");

	run_stat(&ro, ARGV("-m"));
	ok(ro.status == 0 && strstr(ro.out, "ess module loaded") &&
	   strstr(ro.out, "pinned_bytes") && strstr(ro.out, "6291456") &&
	   strstr(ro.out, "12884901888"), "-m: loaded, pinned bytes and cap");
	ok(ro.out && strstr(ro.out, "cold_threshold") &&
	   strstr(strstr(ro.out, "cold_threshold"), "?"),
	   "-m: a missing knob shows as ?");
	ok(ro.out && strstr(ro.out, "kv0") && strstr(ro.out, "\n9 ") &&
	   !strstr(ro.out, "junk"), "-m: regions 3 (kv0) and 9 listed, junk ignored");
	run_free(&ro);

	run_stat(&ro, ARGV("-H"));
	ok(ro.status == 0 && strstr(ro.out, "region 3 \"kv0\"") &&
	   strstr(ro.out, "64..127") && strstr(ro.out, ">=1073741824") &&
	   strstr(ro.out, "total                    64"),
	   "-H: buckets 7 as 64..127, 31 as >=2^30, total 64 blocks");
	ok(ro.out && strstr(ro.out, "region 9\n  no heat histogram"),
	   "-H: a malformed histogram is reported as missing");
	if (ro.status)
		diag("%s", ro.err);
	run_free(&ro);

	run_stat(&ro, ARGV("--json"));
	r3 = ro.out ? strstr(ro.out, "{\"id\":3,") : NULL;
	r9 = ro.out ? strstr(ro.out, "{\"id\":9,") : NULL;
	ok(ro.status == 0 && strstr(ro.out, "\"loaded\":true") &&
	   json_num(ro.out, "abi_version") == 1 &&
	   json_num(strstr(ro.out, "\"module\":{"), "pinned_bytes") == 6291456 &&
	   json_num(ro.out, "pinned_cap_bytes") == 12884901888ll &&
	   json_num(ro.out, "heat_decay_pct") == 25 &&
	   !strstr(ro.out, "cold_threshold"),
	   "--json: knobs as numbers, the missing one absent");
	ok(r3 && r9 && r3 < r9 && json_num(r3, "bytes") == 4194304 &&
	   json_num(r3, "users") == 2 && json_num(r3, "heat_block_size") == 65536 &&
	   strstr(r3, "\"heat_histogram\":[50,0,3,0,0,0,0,9,0") &&
	   strstr(r3, "\"name\":\"kv0\""),
	   "--json: region 3 numbers and histogram");
	ok(r9 && !strncmp(r9, "{\"id\":9,\"name\":\"\",\"pinned_bytes\":2097152}", 40),
	   "--json: region 9 keeps what parsed, drops malformed bytes and histogram");
	run_free(&ro);

	run_stat(&ro, ARGV("--prometheus"));
	ok(ro.status == 0 && prom_value(ro.out, "ess_module_loaded") == 1 &&
	   prom_value(ro.out, "ess_module_pinned_bytes") == 6291456 &&
	   prom_value(ro.out, "ess_module_nr_regions") == 2 &&
	   prom_value(ro.out, "ess_region_bytes{region=\"3\",name=\"kv0\"}") == 4194304 &&
	   prom_value(ro.out, "ess_region_heat_blocks{region=\"3\",name=\"kv0\",bucket=\"7\"}") == 9 &&
	   prom_value(ro.out, "ess_region_bytes{region=\"9\",name=\"\"}") == -1 &&
	   prom_value(ro.out, "ess_region_pinned_bytes{region=\"9\",name=\"\"}") == 2097152,
	   "--prometheus: module gauges, region bytes, heat bucket; malformed left out");
	run_free(&ro);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	ok(system(cmd) == 0 && rmdir(segdir) == 0, "cleaned up");
	return done();
}
