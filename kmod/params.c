// SPDX-License-Identifier: GPL-2.0
/*
 * Module parameters: the load-time values of the sysfs knobs, so that a
 * modprobe.d file can set them before the first region exists.  They are
 * checked with the same ranges as the sysfs files; a bad one fails the
 * load with -EINVAL and a message naming it.  After the load, the sysfs
 * files are the only interface (the parameters are read-only).
 */
#include <linux/kernel.h>
#include <linux/moduleparam.h>

#include "ess.h"

static unsigned int pinned_cap_pct = 50;
module_param(pinned_cap_pct, uint, 0444);
MODULE_PARM_DESC(pinned_cap_pct,
		 "Initial pinned_cap_bytes as a percentage of RAM (0..100, default 50)");

static unsigned int aggregation_interval_ms = 100;
module_param(aggregation_interval_ms, uint, 0444);
MODULE_PARM_DESC(aggregation_interval_ms,
		 "Initial heat aggregation period in ms (10..60000, default 100)");

static unsigned int heat_decay_pct = 25;
module_param(heat_decay_pct, uint, 0444);
MODULE_PARM_DESC(heat_decay_pct,
		 "Initial heat lost per aggregation in percent (0..100, default 25)");

static unsigned int hot_threshold = 64;
module_param(hot_threshold, uint, 0444);
MODULE_PARM_DESC(hot_threshold,
		 "Initial heat at or above which a block is hot (> cold_threshold, default 64)");

static unsigned int cold_threshold;
module_param(cold_threshold, uint, 0444);
MODULE_PARM_DESC(cold_threshold,
		 "Initial heat at or below which a block is cold (< hot_threshold, default 0)");

int ess_params_apply(void)
{
	if (pinned_cap_pct > 100) {
		pr_err("ess: pinned_cap_pct=%u is not in 0..100\n", pinned_cap_pct);
		return -EINVAL;
	}
	if (aggregation_interval_ms < ESS_INTERVAL_MIN_MS ||
	    aggregation_interval_ms > ESS_INTERVAL_MAX_MS) {
		pr_err("ess: aggregation_interval_ms=%u is not in %u..%u\n",
		       aggregation_interval_ms, ESS_INTERVAL_MIN_MS,
		       ESS_INTERVAL_MAX_MS);
		return -EINVAL;
	}
	if (heat_decay_pct > 100) {
		pr_err("ess: heat_decay_pct=%u is not in 0..100\n", heat_decay_pct);
		return -EINVAL;
	}
	if (cold_threshold >= hot_threshold) {
		pr_err("ess: cold_threshold=%u must be below hot_threshold=%u\n",
		       cold_threshold, hot_threshold);
		return -EINVAL;
	}
	ess_pinned_cap = div_u64(ess_total_ram_bytes() * pinned_cap_pct, 100);
	ess_interval_ms = aggregation_interval_ms;
	ess_decay_pct = heat_decay_pct;
	ess_hot_threshold = hot_threshold;
	ess_cold_threshold = cold_threshold;
	return 0;
}
