// SPDX-License-Identifier: GPL-2.0
/*
 * Every /sys/kernel/ess knob (Documentation/ABI/testing/sysfs-kernel-ess):
 * defaults, good values accepted and read back, bad values rejected with
 * EINVAL leaving the old value, read-only files refusing writes.  Runs
 * first, so the defaults are still in place; restores every knob.
 */
#include "ess_test.h"

static long long memtotal_bytes(void)
{
	char buf[4096], *p;

	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "MemTotal:");
	return p ? strtoll(p + 9, NULL, 10) * 1024 : -1;
}

static char path_buf[256];

static const char *knob_path(const char *knob)
{
	snprintf(path_buf, sizeof(path_buf), SYSFS_ESS "/%s", knob);
	return path_buf;
}

/* A good value: accepted, and reads back as expect. */
static void good(const char *knob, const char *val, long long expect)
{
	int r = write_file(knob_path(knob), val);
	long long now = ess_knob(knob);

	tap_ok(r == 0 && now == expect, "%s: \"%.*s\" accepted, reads %lld (%d)", knob,
	       (int)strcspn(val, "\n"), val, now, r);
}

/* A bad value: EINVAL, and the old value stays. */
static void bad(const char *knob, const char *val)
{
	long long before = ess_knob(knob);
	int r = write_file(knob_path(knob), val);
	long long now = ess_knob(knob);

	tap_ok(r == -EINVAL && now == before, "%s: \"%.*s\" rejected with EINVAL (%s), stays %lld",
	       knob, (int)strcspn(val, "\n"), val, r ? strerror(-r) : "accepted", now);
}

static void read_only(const char *file)
{
	long long before = ess_knob(file);
	int r = write_file(knob_path(file), "1\n");

	tap_ok(r < 0 && ess_knob(file) == before, "%s is read-only (%s)", file,
	       r ? strerror(-r) : "write accepted");
}

int main(void)
{
	long long ram = memtotal_bytes(), cap0;
	char val[64];
	int fd;
	uint64_t id = 0;

	tap_start();
	if (access(SYSFS_ESS, F_OK))
		tap_diag("no %s", SYSFS_ESS);

	/* Defaults (the guest just loaded the module). */
	cap0 = ess_knob("pinned_cap_bytes");
	tap_ok(ess_knob("abi_version") == ESS_ABI_VERSION, "abi_version is %d", ESS_ABI_VERSION);
	tap_ok(cap0 == ram / 2, "pinned_cap_bytes defaults to half of RAM (%lld of %lld)", cap0, ram);
	tap_ok(ess_knob("aggregation_interval_ms") == 100, "aggregation_interval_ms defaults to 100");
	tap_ok(ess_knob("heat_decay_pct") == 25, "heat_decay_pct defaults to 25");
	tap_ok(ess_knob("hot_threshold") == 64, "hot_threshold defaults to 64");
	tap_ok(ess_knob("cold_threshold") == 0, "cold_threshold defaults to 0");
	tap_ok(ess_knob("nr_regions") == 0 && ess_knob("pinned_bytes") == 0,
	       "no regions, nothing pinned");
	tap_ok(ess_region_dirs() == 0, "regions/ exists and is empty");

	read_only("abi_version");
	read_only("pinned_bytes");
	read_only("nr_regions");

	/* pinned_cap_bytes: 0 .. total RAM. */
	good("pinned_cap_bytes", "0\n", 0);
	good("pinned_cap_bytes", "12345", 12345);
	snprintf(val, sizeof(val), "%lld\n", ram);
	good("pinned_cap_bytes", val, ram);
	bad("pinned_cap_bytes", "abc\n");
	bad("pinned_cap_bytes", "-1\n");
	bad("pinned_cap_bytes", "\n");
	bad("pinned_cap_bytes", "12abc\n");
	bad("pinned_cap_bytes", "0x10\n");
	snprintf(val, sizeof(val), "%lld\n", ram + 1);
	bad("pinned_cap_bytes", val);
	bad("pinned_cap_bytes", "18446744073709551616\n");
	snprintf(val, sizeof(val), "%lld\n", cap0);
	good("pinned_cap_bytes", val, cap0);

	/* aggregation_interval_ms: 10 .. 60000. */
	good("aggregation_interval_ms", "10\n", 10);
	good("aggregation_interval_ms", "60000\n", 60000);
	bad("aggregation_interval_ms", "9\n");
	bad("aggregation_interval_ms", "0\n");
	bad("aggregation_interval_ms", "60001\n");
	bad("aggregation_interval_ms", "-100\n");
	bad("aggregation_interval_ms", "4294967396\n"); /* 100 + 2^32 */
	bad("aggregation_interval_ms", "fast\n");
	good("aggregation_interval_ms", "100", 100);

	/* heat_decay_pct: 0 .. 100. */
	good("heat_decay_pct", "0\n", 0);
	good("heat_decay_pct", "100\n", 100);
	good("heat_decay_pct", "33\n", 33);
	bad("heat_decay_pct", "101\n");
	bad("heat_decay_pct", "-1\n");
	bad("heat_decay_pct", "4294967321\n"); /* 25 + 2^32 */
	bad("heat_decay_pct", "25%\n");
	good("heat_decay_pct", "25\n", 25);

	/* Thresholds: u32, cold < hot. */
	good("hot_threshold", "1000\n", 1000);
	good("cold_threshold", "999\n", 999);
	bad("cold_threshold", "1000\n");
	bad("cold_threshold", "2000\n");
	bad("hot_threshold", "999\n");
	bad("hot_threshold", "5\n");
	good("hot_threshold", "4294967295\n", 4294967295LL);
	bad("hot_threshold", "4294967296\n");
	bad("cold_threshold", "-1\n");
	bad("cold_threshold", "4294967296\n");
	bad("hot_threshold", "hot\n");
	good("cold_threshold", "0\n", 0);
	good("hot_threshold", "64\n", 64);
	bad("hot_threshold", "0\n");

	/* Region files are read-only. */
	fd = ess_open_anon(2 * MiB, &id);
	tap_ok(fd >= 0, "create a region to look at (%d)", fd);
	snprintf(val, sizeof(val), "regions/%llu/bytes", (unsigned long long)id);
	read_only(val);
	snprintf(val, sizeof(val), "regions/%llu/node", (unsigned long long)id);
	read_only(val);
	if (fd >= 0)
		close(fd);

	tap_ok(ess_knob("pinned_cap_bytes") == cap0 && ess_knob("aggregation_interval_ms") == 100 &&
	       ess_knob("heat_decay_pct") == 25 && ess_knob("hot_threshold") == 64 &&
	       ess_knob("cold_threshold") == 0, "every knob restored");
	return tap_done();
}
