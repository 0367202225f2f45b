// SPDX-License-Identifier: GPL-2.0
/*
 * NUMA placement (needs the 2-node guest of tests/qemu/run.sh): a region
 * created with ESS_CREATE_NODE lands on that node, as node_out, INFO, sysfs
 * and move_pages(2) on its mapped pages all say; without the flag it lands
 * on the caller's node.
 */
#include <sched.h>

#include "ess_test.h"

#define SZ (8 * MiB)

static int nr_nodes(void)
{
	char path[64];
	int n = 0;

	while (n < 64) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK))
			break;
		n++;
	}
	return n;
}

/* move_pages(2) with nodes == NULL reports each page's node in status. */
static int pages_on_node(void *base, size_t len, int node, int *seen)
{
	size_t n = len / 4096, i;
	void **pages = calloc(n, sizeof(*pages));
	int *status = calloc(n, sizeof(*status));
	int ok = 1;

	*seen = -100;
	if (!pages || !status)
		return 0;
	for (i = 0; i < n; i++)
		pages[i] = (char *)base + i * 4096;
	if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0)) {
		*seen = -errno;
		ok = 0;
	} else {
		for (i = 0; i < n; i++) {
			if (status[i] != node) {
				*seen = status[i];
				ok = 0;
				break;
			}
		}
		if (ok)
			*seen = node;
	}
	free(pages);
	free(status);
	return ok;
}

/* Create on node (or, with node < 0, on the caller's), map, touch, check. */
static void place(int node, int expect)
{
	struct ess_create c;
	struct ess_info info;
	uint8_t *p;
	int fd = ess_open(), seen = -100;
	long r;

	r = ess_create(fd, SZ, node >= 0 ? ESS_CREATE_NODE : 0, node >= 0 ? node : 0,
		       16, NULL, &c);
	tap_ok(r == 0 && c.node_out == expect, "%s node %d: node_out %d (%ld)",
	       node >= 0 ? "ESS_CREATE_NODE" : "caller on", expect, c.node_out, r);
	ess_info(fd, &info);
	tap_ok(info.node == expect && ess_region_ll(c.id, "node") == expect,
	       "INFO node %d, sysfs node %lld", info.node, ess_region_ll(c.id, "node"));
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED) {
		fill_pattern(p, SZ, 5);
		tap_ok(pages_on_node(p, SZ, expect, &seen),
		       "move_pages: every mapped page is on node %d (saw %d)", expect, seen);
		munmap(p, SZ);
	} else {
		tap_ok(0, "move_pages: every mapped page is on node %d (mmap failed)", expect);
	}
	close(fd);
}

static void run_on_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions");
	int nodes = nr_nodes();

	if (nodes < 2)
		tap_skip_all("needs 2 NUMA nodes, guest has %d (run.sh without --no-numa)", nodes);
	tap_start();
	place(1, 1);
	place(0, 0);
	/* CPU i sits on node i in run.sh's guest. */
	run_on_cpu(1);
	place(-1, 1);
	run_on_cpu(0);
	place(-1, 0);
	tap_ok(ess_wait_nr_regions(nr0) == nr0, "all freed");
	return tap_done();
}
