// SPDX-License-Identifier: GPL-2.0
/*
 * Leak check, run after every other guest test: region count, pinned bytes
 * and free memory back where /init recorded them right after loading the
 * module (/run/ess-baseline), no region directories, no module references;
 * then a tight loop of create/map/destroy cycles that must not lose memory.
 */
#include "ess_test.h"

static long long baseline(const char *key)
{
	char buf[512], *p;

	if (read_file("/run/ess-baseline", buf, sizeof(buf)) < 0)
		return -2;
	p = strstr(buf, key);
	return p ? strtoll(p + strlen(key) + 1, NULL, 10) : -2;
}

static int cycle(int i)
{
	char name[32];
	uint8_t *p;
	int fd = ess_open(), ok = 1;

	snprintf(name, sizeof(name), "leak-%d", i);
	if (ess_create(fd, 8 * MiB, i % 2 ? ESS_CREATE_NAMED : 0, 0, 12,
		       i % 2 ? name : NULL, NULL))
		ok = 0;
	p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		ok = 0;
	else {
		memset(p, i, 8 * MiB);
		munmap(p, 8 * MiB);
	}
	close(fd);
	if (i % 2 && ess_destroy_name(name))
		ok = 0;
	return ok;
}

static void show_meminfo(const char *when)
{
	static const char *const keys[] = { "MemFree:", "Slab:", "PageTables:", "Percpu:",
		"AnonPages:", "Unevictable:", "Mlocked:", "Shmem:", "Cached:", "KernelStack:" };
	char buf[4096], line[512], *p;
	size_t i, len = 0;

	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return;
	line[0] = 0;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		p = strstr(buf, keys[i]);
		if (p)
			len += snprintf(line + len, sizeof(line) - len, " %s%lld", keys[i],
					strtoll(p + strlen(keys[i]), NULL, 10));
	}
	tap_diag("%s:%s", when, line);
}

int main(void)
{
	long long nr_b = baseline("nr_regions"), pinned_b = baseline("pinned_bytes");
	long long free_b = baseline("memfree_kb"), free0, free1, now;
	int i, ok = 1;

	tap_start();
	tap_ok(nr_b >= 0 && ess_wait_nr_regions(nr_b) == nr_b,
	       "nr_regions back to its value after insmod (%lld)", nr_b);
	tap_ok(ess_knob("pinned_bytes") == pinned_b, "pinned_bytes back to %lld (%lld)", pinned_b,
	       ess_knob("pinned_bytes"));
	tap_ok(ess_region_dirs() == 0, "no region directories (%d)", ess_region_dirs());
	tap_ok(read_ll("/sys/module/ess/refcnt") == 0, "no references to the module (%lld)",
	       read_ll("/sys/module/ess/refcnt"));
	now = ess_free_kb();
	/* Slabs and page tables grown by the tests stay; a leaked region of
	 * any test would be megabytes of 2 MiB blocks. */
	tap_ok(now > free_b - 8 * 1024, "free memory %lld kB vs %lld kB after insmod (%+lld kB)",
	       now, free_b, now - free_b);

	/* A first round lets per-cpu lists and caches settle. */
	for (i = 0; i < 8; i++)
		ok &= cycle(i);
	free0 = ess_free_kb();
	show_meminfo("before cycles");
	for (i = 0; i < 24; i++)
		ok &= cycle(i);
	free1 = ess_free_kb();
	show_meminfo("after 24 cycles");
	/* Losing even one 2 MiB block per cycle would be 48 MiB. */
	tap_ok(ok, "24 create/map/write/destroy cycles of 8 MiB");
	tap_ok(free1 > free0 - 4 * 1024, "they leave free memory where it was (%lld -> %lld kB)",
	       free0, free1);
	tap_ok(ess_wait_nr_regions(nr_b) == nr_b && ess_knob("pinned_bytes") == pinned_b,
	       "and nothing counted");
	return tap_done();
}
