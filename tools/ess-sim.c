// SPDX-License-Identifier: MIT
/*
 * ess-sim: the decode simulator (sim/).  The model, the profile parser and
 * the command line are in the sim library so unit tests drive the same
 * code; this file adds what needs libess: miss rates from replaying a
 * top-k trace (a file, or the synthetic DSA generator) through the hot-set
 * policies and Belady's optimum.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ess/ess.h"
#include "ess/trace.h"
#include "../sim/cli.h"

/* The last trace used, kept so a slot sweep loads or generates it once. */
struct replay_cache {
	char key[512];
	struct ess_trace tr;
	int loaded;
};

static int get_trace(struct replay_cache *c, const char *trace, double context,
		     double topk, char *err, size_t errlen)
{
	char key[512];
	int rc;

	if (!strcmp(trace, "synthetic"))
		snprintf(key, sizeof(key), "synthetic:%.0f:%.0f", context, topk);
	else
		snprintf(key, sizeof(key), "file:%s", trace);
	if (c->loaded && !strcmp(key, c->key))
		return 0;
	if (c->loaded)
		ess_trace_free(&c->tr);
	c->loaded = 0;
	memset(&c->tr, 0, sizeof(c->tr));
	if (!strcmp(trace, "synthetic")) {
		struct ess_trace_gen g;

		ess_trace_gen_default(&g);
		if (context > 1e9 || topk > ESS_TRACE_MAX_TOPK) {
			snprintf(err, errlen, "synthetic trace: context or top-k too large");
			return -1;
		}
		g.prefill = (uint32_t)context;
		g.topk = (uint32_t)topk;
		rc = ess_trace_generate(&g, &c->tr, err, errlen);
	} else {
		rc = ess_trace_load(&c->tr, trace, err, errlen);
	}
	if (rc)
		return -1;
	snprintf(c->key, sizeof(c->key), "%s", key);
	c->loaded = 1;
	return 0;
}

static int replay_miss_rate(void *ctx, const char *trace, double context,
			    double topk, double slots, const char *policy,
			    double *rate, char *err, size_t errlen)
{
	struct replay_cache *c = ctx;
	struct ess_replay_result res;
	const char *const *names = ess_policy_names();
	int rc, id = -1;

	if (get_trace(c, trace, context, topk, err, errlen))
		return -1;
	if (slots < c->tr.info.topk || slots > 1e9) {
		snprintf(err, errlen, "%s: %.0f slots is fewer than the trace's top-k %u",
			 trace, slots, c->tr.info.topk);
		return -1;
	}
	memset(&res, 0, sizeof(res));
	if (!strcmp(policy, "opt")) {
		rc = ess_trace_opt(&c->tr, (uint32_t)slots, &res);
	} else {
		for (int i = 0; names[i]; i++)
			if (!strcmp(names[i], policy))
				id = i;
		if (id < 0) {
			snprintf(err, errlen, "unknown policy '%s'", policy);
			return -1;
		}
		rc = ess_trace_replay(&c->tr, (uint32_t)slots, (uint32_t)id, &res);
	}
	if (rc) {
		snprintf(err, errlen, "%s: replay failed: %s", trace, strerror(-rc));
		return -1;
	}
	*rate = res.lookups ? (double)res.misses / (double)res.lookups : 0;
	return 0;
}

static const char *const *replay_policies(void *ctx)
{
	(void)ctx;
	return ess_policy_names();
}

int main(int argc, char **argv)
{
	struct replay_cache cache = { .loaded = 0 };
	struct sim_replayer r = {
		.miss_rate = replay_miss_rate,
		.policies = replay_policies,
		.ctx = &cache,
	};
	int rc = sim_cli_main(argc, argv, stdout, stderr, &r);

	if (cache.loaded)
		ess_trace_free(&cache.tr);
	return rc;
}
