// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters: the load-time values of the sysfs knobs.  Good values
 * show up in sysfs and in /sys/module/ess/parameters; a bad one fails the
 * load with EINVAL and leaves no module behind.  Runs after ess-unload,
 * with the module unloaded, and leaves it unloaded.
 */
#include "ess_test.h"

#define MODULE_PATH "/lib/modules/ess.ko"

static long insmod(const char *args)
{
	int fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	long r;

	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, args, 0) ? -errno : 0;
	close(fd);
	return r;
}

static long rmmod(void)
{
	return syscall(SYS_delete_module, "ess", O_NONBLOCK) ? -errno : 0;
}

static long long param(const char *name)
{
	char path[128], buf[64];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/ess/parameters/%s", name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtoll(buf, NULL, 10);
}

static int loaded(void)
{
	struct stat st;

	return stat("/sys/module/ess", &st) == 0;
}

int main(void)
{
	static const char *const bad[] = {
		"pinned_cap_pct=101",
		"aggregation_interval_ms=9",
		"aggregation_interval_ms=60001",
		"heat_decay_pct=101",
		"hot_threshold=5 cold_threshold=5",
		"hot_threshold=5 cold_threshold=9",
		"heat_decay_pct=abc",
	};
	long long cap, ram;
	unsigned int i;
	long r;

	tap_start();
	if (loaded())
		rmmod();
	tap_ok(!loaded(), "the module is not loaded to begin with");

	r = insmod("pinned_cap_pct=25 aggregation_interval_ms=250 heat_decay_pct=10 hot_threshold=500 cold_threshold=3");
	tap_ok(r == 0, "insmod with every parameter (%s)", r ? strerror((int)-r) : "ok");
	tap_ok(ess_knob("aggregation_interval_ms") == 250, "aggregation_interval_ms from its parameter");
	tap_ok(ess_knob("heat_decay_pct") == 10, "heat_decay_pct from its parameter");
	tap_ok(ess_knob("hot_threshold") == 500, "hot_threshold from its parameter");
	tap_ok(ess_knob("cold_threshold") == 3, "cold_threshold from its parameter");
	cap = ess_knob("pinned_cap_bytes");
	ram = (long long)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);
	/* The module counts RAM its own way: allow 2% of slack. */
	tap_ok(cap > ram / 4 - ram / 50 && cap < ram / 4 + ram / 50,
	       "pinned_cap_bytes is 25%% of RAM (%lld of %lld)", cap, ram);
	tap_ok(param("heat_decay_pct") == 10 && param("pinned_cap_pct") == 25,
	       "/sys/module/ess/parameters shows them");
	tap_ok(ess_set_knob("heat_decay_pct", 40) == 0 && ess_knob("heat_decay_pct") == 40,
	       "sysfs still tunes after a parameterised load");
	r = rmmod();
	tap_ok(r == 0, "rmmod (%s)", r ? strerror((int)-r) : "ok");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = insmod(bad[i]);
		tap_ok(r != 0 && !loaded(), "'%s' refused (%s), no module left",
		       bad[i], r ? strerror((int)-r) : "loaded!");
		if (!r)
			rmmod();
	}
	r = insmod("");
	tap_ok(r == 0 && ess_knob("aggregation_interval_ms") == 100 &&
	       ess_knob("heat_decay_pct") == 25 && ess_knob("hot_threshold") == 64 &&
	       ess_knob("cold_threshold") == 0, "without parameters: the documented defaults");
	r = rmmod();
	tap_ok(r == 0, "final rmmod (%s)", r ? strerror((int)-r) : "ok");
	return tap_done();
}
