// SPDX-License-Identifier: MIT
/*
 * Heat reporting: one access per touched row, in heat-block units.  Rows
 * that follow each other in the same heat block are one access: a resolve
 * that reads 40 adjacent rows of a 64 KiB block touched it once, which is
 * what the module's per-block heat means.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <uapi/ess.h>

#include "heat.h"

void ess_heat_init(struct ess_heat *h, int fd, uint32_t shift,
		   uint64_t nr_blocks, struct ess_stats *stats)
{
	h->fd = fd;
	h->shift = shift;
	h->nr_blocks = nr_blocks;
	h->n = 0;
	h->last = UINT32_MAX;
	h->stats = stats;
}

int ess_heat_flush(struct ess_heat *h)
{
	struct ess_heat_report r;
	int ret = 0;

	h->last = UINT32_MAX;
	if (h->fd < 0 || h->n == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.addr = (uint64_t)(uintptr_t)h->q;
	r.nr = h->n;
	if (ioctl(h->fd, ESS_IOC_HEAT_REPORT, &r) == 0) {
		h->stats->heat_reports += h->n;
	} else {
		ret = -errno;
		h->stats->heat_report_errors++;
	}
	h->n = 0;
	return ret;
}

void ess_heat_touch(void *arg, const uint64_t *pool_off, uint32_t n)
{
	struct ess_heat *h = arg;

	if (h->fd < 0)
		return;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t b = pool_off[i] >> h->shift;

		if (b >= h->nr_blocks || b == h->last)
			continue;
		h->last = (uint32_t)b;
		h->q[h->n++] = (uint32_t)b;
		if (h->n == ESS_HEAT_QUEUE)
			ess_heat_flush(h);
	}
}
