/* SPDX-License-Identifier: MIT */
/*
 * Miss rates from a top-k trace replay, supplied by the caller of
 * sim_cli_main.  The sim library stays independent of libess (it is linked
 * after it); tools/ess-sim.c implements this with libess's trace reader,
 * synthetic generator, policy replay and Belady optimum.
 */
#ifndef ESS_SIM_REPLAY_H
#define ESS_SIM_REPLAY_H

#include <stddef.h>

struct sim_replayer {
	/*
	 * Misses per looked-up top-k entry (after warm-up) when `trace` is
	 * replayed with `slots` slots per request and layer under `policy`
	 * ("opt" = Belady's optimum).  trace "synthetic" means the default
	 * synthetic DSA trace with the given context and top-k.  0, or -1 with
	 * a message in err.
	 */
	int (*miss_rate)(void *ctx, const char *trace, double context, double topk,
			 double slots, const char *policy, double *rate,
			 char *err, size_t errlen);
	/* Policy names the replay knows, NULL-terminated. */
	const char *const *(*policies)(void *ctx);
	void *ctx;
};

#endif /* ESS_SIM_REPLAY_H */
