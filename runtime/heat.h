/* SPDX-License-Identifier: MIT */
/*
 * Heat reporting to /dev/ess: the rows a resolve touched (hits and misses)
 * become heat-block indices of the module region, queued and sent with
 * ESS_IOC_HEAT_REPORT when the queue fills or at sync.  The module cannot
 * see GPU reads over PCIe, so the runtime tells it.
 */
#ifndef ESS_RUNTIME_HEAT_H
#define ESS_RUNTIME_HEAT_H

#include <stdint.h>

#include "ess/ess.h"

#define ESS_HEAT_QUEUE 4096

struct ess_heat {
	int fd;			/* the pool's /dev/ess file, -1: off */
	uint32_t shift;
	uint64_t nr_blocks;
	uint32_t n;
	uint32_t last;		/* block of the previous row (coalescing) */
	struct ess_stats *stats;
	uint32_t q[ESS_HEAT_QUEUE];
};

void ess_heat_init(struct ess_heat *h, int fd, uint32_t shift,
		   uint64_t nr_blocks, struct ess_stats *stats);
/* Queue the rows at these pool offsets (the backend's heat hook). */
void ess_heat_touch(void *h, const uint64_t *pool_off, uint32_t n);
/* Send what is queued; 0 or the ioctl's -errno (the batch is dropped and
 * counted in heat_report_errors either way). */
int ess_heat_flush(struct ess_heat *h);

#endif /* ESS_RUNTIME_HEAT_H */
