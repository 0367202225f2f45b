// SPDX-License-Identifier: MIT
/*
 * NUMA placement of the host pool: for every node of the machine, a
 * context asked for that node has its rows on that node (move_pages query),
 * with the fallback pool and, where /dev/ess exists, the module pool.  On a
 * one-node host it checks node 0; in the QEMU guest (two nodes) both.
 */
#include <numa.h>
#include <numaif.h>

#include "runtime-tap.h"

#define EB 512
#define NT 4096		/* 2 MiB of rows per layer */

static int rows_on(ess_ctx *ctx, uint32_t req, int node, int *seen)
{
	void *pages[64];
	int status[64];
	uint32_t n = 0;

	for (uint32_t t = 0; t < NT && n < 64; t += NT / 64)
		pages[n++] = (void *)((uintptr_t)ess_host_row(ctx, req, 0, t) &
				      ~(uintptr_t)4095);
	if (move_pages(0, n, pages, NULL, status, 0))
		return 0;
	for (uint32_t i = 0; i < n; i++) {
		*seen = status[i];
		if (status[i] != node)
			return 0;
	}
	return 1;
}

static void place(int kind, const char *kname, int node)
{
	struct ess_config c;
	uint8_t *rows = malloc((size_t)NT * EB);
	char err[256];
	ess_ctx *ctx;
	uint32_t r;
	int seen = -1, ret;

	small_cfg(&c);
	c.layers = 1;
	c.entry_bytes = EB;
	c.max_tokens = NT;
	c.extent_tokens = 256;
	c.pool_bytes = (uint64_t)NT * EB;
	c.pool = (uint32_t)kind;
	c.numa_node = node;
	ret = ess_create(&c, &ctx, err, sizeof(err));
	if (!ok(ret == 0, "%s pool on node %d created (%s)", kname, node, err)) {
		free(rows);
		return;
	}
	fill_random(rows, (size_t)NT * EB);
	MUST(ess_request_add(ctx, 1, &r));
	MUST(ess_ingest(ctx, r, 0, 0, NT, rows));
	ret = rows_on(ctx, r, node, &seen);
	ok(ret, "%s pool: rows on node %d (saw %d)", kname, node, seen);
	ess_destroy(ctx);
	free(rows);
}

int main(void)
{
	if (numa_available() < 0) {
		printf("1..0 # SKIP NUMA not available\n");
		return 0;
	}
	seed_rng();
	for (int n = 0; n <= numa_max_node(); n++) {
		if (!numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned)n))
			continue;
		place(ESS_POOL_FALLBACK, "fallback", n);
		if (!access("/dev/ess", F_OK))
			place(ESS_POOL_MODULE, "module", n);
	}
	return done();
}
