// SPDX-License-Identifier: MIT
/*
 * ess-sim miss rates from trace replay: tools/ess-sim.c's replayer (built
 * in here, its main renamed) against libess's replay called directly, the
 * --miss-curve CSV, and bad traces, policies and slot counts.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define main ess_sim_main
#include "../../tools/ess-sim.c"
#undef main

static int n;
static struct replay_cache cache;
static struct sim_replayer rp = {
	.miss_rate = replay_miss_rate,
	.policies = replay_policies,
	.ctx = &cache,
};

#define SIM_RUN_REPLAYER (&rp)
#include "sim-run.h"

/* Both data rows of a 2-row CSV carry miss rate m (13th column). */
static int count_occurrences_ok(const char *csv, double m)
{
	const char *l = strchr(csv, '\n');
	int rows = 0;

	while (l && l[1]) {
		const char *f = l + 1;

		for (int i = 0; f && i < 12; i++)
			f = strchr(f + 1, ',');
		if (!f || atof(f + 1) - m > 1e-6 || m - atof(f + 1) > 1e-6)
			return 0;
		rows++;
		l = strchr(l + 1, '\n');
	}
	return rows == 2;
}

static void ok(int cond, const char *desc)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, desc);
}

int main(void)
{
	struct ess_trace_gen g;
	struct ess_trace tr;
	struct ess_replay_result res;
	char err[512], path[] = "/tmp/sim-replay-XXXXXX";
	double direct = -1, lru[3], opt[3];
	int rc, fd;

	printf("1..8\n");

	/* the replayed rate at 32K equals libess's replay of the same trace */
	ess_trace_gen_default(&g);
	g.prefill = 32768;
	g.topk = 2048;
	memset(&tr, 0, sizeof(tr));
	rc = ess_trace_generate(&g, &tr, err, sizeof(err));
	if (!rc && !ess_trace_replay(&tr, 4096, 0, &res) && res.lookups)
		direct = (double)res.misses / (double)res.lookups;
	rc = run("--trace", "synthetic", "--csv", "-c", "32K", NULL);
	{
		double m = -1;
		const char *l = rc == 0 ? strchr(out_buf, '\n') : NULL;

		/* the miss_rate column is the 13th */
		for (int f = 0; l && f < 12; f++)
			l = strchr(l + 1, ',');
		if (l)
			m = atof(l + 1);
		ok(direct > 0 && direct < 1 && m > 0 && m - direct < 1e-6 && direct - m < 1e-6,
		   "--trace synthetic: the table's miss rate is libess's LRU replay at 4096 slots");
	}

	rc = run("--trace", "synthetic", "-c", "32K", "--miss-curve", "2048,4096,8192", NULL);
	{
		int good = rc == 0 && !strncmp(out_buf, "policy,slots,miss_rate\n", 23);
		const char *const *names = ess_policy_names();
		const char *l = out_buf;
		int rows = 0, npol = 0, seen = 0;

		while (names[npol])
			npol++;
		while (good && (l = strchr(l, '\n')) && l[1]) {
			char pol[32];
			long s;
			double m;
			int k;

			l++;
			if (sscanf(l, "%31[a-z0-9_-],%ld,%lf", pol, &s, &m) != 3) {
				good = 0;
				break;
			}
			k = s == 2048 ? 0 : s == 4096 ? 1 : s == 8192 ? 2 : -1;
			if (k < 0)
				good = 0;
			else if (!strcmp(pol, "lru"))
				lru[k] = m, seen |= 1 << k;
			else if (!strcmp(pol, "opt"))
				opt[k] = m, seen |= 8 << k;
			rows++;
		}
		good = good && rows == 3 * (npol + 1) && seen == 63;
		ok(good, "--miss-curve: one row per policy (and opt) and slot count");
		ok(good && opt[0] <= lru[0] && opt[1] <= lru[1] && opt[2] <= lru[2],
		   "OPT never misses more than LRU");
		ok(good && lru[0] >= lru[1] && lru[1] >= lru[2] && opt[0] >= opt[1] &&
		   opt[1] >= opt[2], "more slots never miss more");
	}

	fd = mkstemp(path);
	if (fd >= 0)
		close(fd);
	rc = fd >= 0 ? ess_trace_save(&tr, path, err, sizeof(err)) : -1;
	if (!rc)
		rc = run("--trace", path, "--set", "ess.slots = 4096", "--csv", "-c", "32K,64K", NULL);
	ok(rc == 0 && strstr(out_buf, ",4096,") &&
	   count_occurrences_ok(out_buf, direct), "--trace FILE: same rate as the replay, every row");
	unlink(path);

	rc = run("--trace", "/nonexistent/t.trace", NULL);
	ok(rc == 1 && strstr(err_buf, "/nonexistent/t.trace"), "missing trace file: exit 1");
	rc = run("--trace", "synthetic", "-c", "32K", "--set", "ess.slots = 1000", NULL);
	ok(rc == 1 && strstr(err_buf, "fewer than the trace's top-k"), "slots below top-k: exit 1");
	rc = run("--trace", "synthetic", "-c", "32K", "--set", "ess.policy = nosuch", NULL);
	ok(rc == 1 && strstr(err_buf, "unknown policy 'nosuch'"), "unknown policy: exit 1");

	ess_trace_free(&tr);
	if (cache.loaded)
		ess_trace_free(&cache.tr);
	free(out_buf);
	free(err_buf);
	return 0;
}
