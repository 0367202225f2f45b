/* SPDX-License-Identifier: MIT */
/*
 * Writer side of the statistics segment (layout in include/ess/stat.h).
 * The context opens one at creation, copies its counters into it from time
 * to time and at every ess_stats_get(), and closes (removes) it at destroy.
 * Every function accepts NULL (publishing disabled) and does nothing then.
 */
#ifndef ESS_RUNTIME_STATSHM_H
#define ESS_RUNTIME_STATSHM_H

#include <stddef.h>
#include <stdint.h>

#include "ess/ess.h"
#include "ess/stat.h"

struct ess_statshm;

/* What the header says about the context besides its configuration. */
struct ess_statshm_info {
	const struct ess_config *cfg;
	const char *pool;	/* ess_pool_provider() */
};

/*
 * Create and publish the segment.  Returns 0 with *out set, 0 with *out
 * NULL when publishing is off ($ESS_STAT=0), or a negative errno with a
 * message (the caller may go on without a segment: monitoring never stops
 * the engine).
 */
int ess_statshm_open(struct ess_statshm **out,
		     const struct ess_statshm_info *info,
		     char *err, size_t errlen);

/* Tie the segment to its context so that publishing also takes the NVMe
 * tier's counters (ess_tier_stats_get) when the context has a tier. */
void ess_statshm_bind(struct ess_statshm *s, const struct ess_ctx *ctx);

/* Copy st (and the values kept here) into the segment now. */
void ess_statshm_publish(struct ess_statshm *s, const struct ess_stats *st);

/* Publish if the period ($ESS_STAT_PERIOD_MS, default 50 ms; 0 = every
 * call) has passed since the last copy.  Cheap otherwise: one coarse clock
 * read.  For the hot entry points. */
void ess_statshm_tick(struct ess_statshm *s, const struct ess_stats *st);

/* Values struct ess_stats has no field for: add to a counter, set a
 * level.  Seen at the next publish. */
void ess_statshm_add(struct ess_statshm *s, enum ess_stat_id id, uint64_t n);
void ess_statshm_set(struct ess_statshm *s, enum ess_stat_id id, uint64_t v);

/* The file's path ("" for NULL), for tests and messages. */
const char *ess_statshm_path(const struct ess_statshm *s);

/* Unmap, unlock and remove the segment; frees s. */
void ess_statshm_close(struct ess_statshm *s);

#endif /* ESS_RUNTIME_STATSHM_H */
