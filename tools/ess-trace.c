// SPDX-License-Identifier: MIT
/*
 * ess-trace: generate, summarise and replay top-k traces.
 *
 *   ess-trace gen [knobs] -o FILE
 *   ess-trace info FILE [--recent-window W]
 *   ess-trace replay FILE --slots N[,N...] [--policy P|all]
 *
 * Exit status: 0 success, 1 a file could not be read, written or is not a
 * valid trace, 2 a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ess/ess.h"
#include "ess/trace.h"

/* The hot-set ids and names (runtime/hotset.h, not a public header). */
int ess_policy_by_name(const char *name);

#define EXIT_USAGE 2

static const char *prog = "ess-trace";

static void usage(FILE *f)
{
	fprintf(f,
"usage: %s gen [knobs] -o FILE      write a synthetic DSA trace\n"
"       %s info FILE [--recent-window W]\n"
"                                        counts and measured locality\n"
"       %s replay FILE --slots N[,N...] [--policy P|all]\n"
"                                        miss rates of policies and OPT\n"
"       %s --help\n"
"\n"
"gen knobs (defaults in brackets):\n"
"  --layers N          layers per step [4]\n"
"  --topk N            entries per top-k row [2048]\n"
"  --requests N        requests decoded together [2]\n"
"  --steps N           decode steps [256]\n"
"  --prefill N         context length before decode [32768]\n"
"  --growth N          tokens appended per step [1]\n"
"  --overlap F         share of a row kept from the previous step [0.95]\n"
"  --layer-sim F       share of a row taken from the previous layer [0.5]\n"
"  --reuse F           share of new entries re-selected from tokens dropped\n"
"                      within --reuse-window steps [0.3]\n"
"  --reuse-window N    steps [64]\n"
"  --heavy F           share of new entries that are heavy hitters [0.2]\n"
"  --heavy-tokens N    heavy hitters per request (first 4 tokens + random) [256]\n"
"  --recent F          share of new entries from the newest tokens [0.2]\n"
"  --recent-window N   how many newest tokens [1024]\n"
"  --seed N            random seed [1]\n"
"Shares are in [0, 1]; reuse + heavy + recent <= 1, the rest is uniform\n"
"over the whole sequence.  See Documentation/dev/policies.md.\n"
"\n"
"replay: each (request, layer) is a hot set of N slots (N >= topk); the\n"
"first step of each is the warm-up and is not counted.  Policies: all (the\n"
"default) or one of:",
		prog, prog, prog, prog);
	{
		const char *const *n;

		for (n = ess_policy_names(); *n; n++)
			fprintf(f, " %s", *n);
	}
	fprintf(f, "\n");
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return EXIT_USAGE;
}

static int parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_share(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= 0.0 && v <= 1.0))
		return -1;
	*out = v;
	return 0;
}

enum {
	O_LAYERS = 256, O_TOPK, O_REQUESTS, O_STEPS, O_PREFILL, O_GROWTH,
	O_OVERLAP, O_LAYER_SIM, O_REUSE, O_REUSE_WINDOW, O_HEAVY,
	O_HEAVY_TOKENS, O_RECENT, O_RECENT_WINDOW, O_SEED, O_SLOTS, O_POLICY,
	O_HELP,
};

static const struct option gen_opts[] = {
	{ "layers", required_argument, NULL, O_LAYERS },
	{ "topk", required_argument, NULL, O_TOPK },
	{ "requests", required_argument, NULL, O_REQUESTS },
	{ "steps", required_argument, NULL, O_STEPS },
	{ "prefill", required_argument, NULL, O_PREFILL },
	{ "growth", required_argument, NULL, O_GROWTH },
	{ "overlap", required_argument, NULL, O_OVERLAP },
	{ "layer-sim", required_argument, NULL, O_LAYER_SIM },
	{ "reuse", required_argument, NULL, O_REUSE },
	{ "reuse-window", required_argument, NULL, O_REUSE_WINDOW },
	{ "heavy", required_argument, NULL, O_HEAVY },
	{ "heavy-tokens", required_argument, NULL, O_HEAVY_TOKENS },
	{ "recent", required_argument, NULL, O_RECENT },
	{ "recent-window", required_argument, NULL, O_RECENT_WINDOW },
	{ "seed", required_argument, NULL, O_SEED },
	{ "output", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static int cmd_gen(int argc, char **argv)
{
	struct ess_trace_gen g;
	struct ess_trace tr;
	const char *out = NULL;
	char err[256];
	int c, rc;

	ess_trace_gen_default(&g);
	while ((c = getopt_long(argc, argv, "o:", gen_opts, NULL)) != -1) {
		uint32_t *u = NULL, min = 1;
		double *d = NULL;

		switch (c) {
		case 'o': out = optarg; continue;
		case O_HELP: usage(stdout); exit(0);
		case O_LAYERS: u = &g.layers; break;
		case O_TOPK: u = &g.topk; break;
		case O_REQUESTS: u = &g.requests; break;
		case O_STEPS: u = &g.steps; break;
		case O_PREFILL: u = &g.prefill; break;
		case O_GROWTH: u = &g.growth; break;
		case O_REUSE_WINDOW: u = &g.reuse_window; min = 0; break;
		case O_HEAVY_TOKENS: u = &g.heavy_tokens; min = 0; break;
		case O_RECENT_WINDOW: u = &g.recent_window; break;
		case O_OVERLAP: d = &g.overlap; break;
		case O_LAYER_SIM: d = &g.layer_sim; break;
		case O_REUSE: d = &g.reuse_share; break;
		case O_HEAVY: d = &g.heavy_share; break;
		case O_RECENT: d = &g.recent_share; break;
		case O_SEED:
			if (parse_u64(optarg, &g.seed))
				return usage_error("--seed: '%s' is not an unsigned integer",
						   optarg);
			continue;
		default:
			return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
		if (u && parse_u32(optarg, min, INT32_MAX, u)) {
			fprintf(stderr, "%s: --%s: '%s' is not an integer in %u..%d\n"
				"Try '%s --help'.\n", prog, gen_opts[c - O_LAYERS].name,
				optarg, min, INT32_MAX, prog);
			return EXIT_USAGE;
		}
		if (d && parse_share(optarg, d)) {
			fprintf(stderr, "%s: --%s: '%s' is not a number in [0, 1]\n"
				"Try '%s --help'.\n", prog, gen_opts[c - O_LAYERS].name,
				optarg, prog);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return usage_error("gen: unexpected argument '%s'", argv[optind]);
	if (!out)
		return usage_error("gen: no output file (-o FILE)%s", "");
	if (ess_trace_gen_check(&g, err, sizeof(err)))
		return usage_error("gen: %s", err);
	rc = ess_trace_generate(&g, &tr, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "%s: gen: %s\n", prog, err);
		return 1;
	}
	rc = ess_trace_save(&tr, out, err, sizeof(err));
	ess_trace_free(&tr);
	if (rc) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	return 0;
}

static int load(const char *path, struct ess_trace *tr)
{
	char err[512];

	if (ess_trace_load(tr, path, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	return 0;
}

static const struct option info_opts[] = {
	{ "recent-window", required_argument, NULL, O_RECENT_WINDOW },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static int cmd_info(int argc, char **argv)
{
	struct ess_trace_summary sm;
	struct ess_trace tr;
	uint32_t window = 1024;
	int c;

	while ((c = getopt_long(argc, argv, "", info_opts, NULL)) != -1) {
		switch (c) {
		case O_RECENT_WINDOW:
			if (parse_u32(optarg, 1, INT32_MAX, &window))
				return usage_error("--recent-window: '%s' is not a "
						   "positive integer", optarg);
			break;
		case O_HELP: usage(stdout); exit(0);
		default: return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return usage_error("info: want exactly one FILE%s", "");
	if (load(argv[optind], &tr))
		return 1;
	if (ess_trace_summarize(&tr, window, &sm)) {
		fprintf(stderr, "%s: out of memory\n", prog);
		ess_trace_free(&tr);
		return 1;
	}
	printf("file               %s\n", argv[optind]);
	printf("shape              %u steps x %u layers x %u requests, top-%u\n",
	       tr.info.steps, tr.info.layers, tr.info.requests, tr.info.topk);
	printf("origin             %s", tr.info.flags & ESS_TRACE_F_SYNTHETIC ?
	       "synthetic" : "recorded");
	if (tr.info.flags & ESS_TRACE_F_SYNTHETIC)
		printf(" (seed %llu)", (unsigned long long)tr.info.seed);
	printf("\nactive rows        %llu\n", (unsigned long long)sm.rows);
	printf("valid entries      %llu\n", (unsigned long long)sm.entries);
	printf("sequence length    %u .. %u\n", sm.min_len, sm.max_len);
	printf("adjacent-step overlap  %.4f\n", sm.step_overlap);
	printf("adjacent-layer sim     %.4f\n", sm.layer_sim);
	printf("recent share (W=%u)  %.4f of new entries\n", window, sm.recent_share);
	printf("distinct tokens per (request, layer)  %.1f\n", sm.distinct_per_stream);
	ess_trace_free(&tr);
	return 0;
}

static const struct option replay_opts[] = {
	{ "slots", required_argument, NULL, O_SLOTS },
	{ "policy", required_argument, NULL, O_POLICY },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

#define MAX_CAPS 64

static double pct(uint64_t a, uint64_t b)
{
	return b ? 100.0 * (double)a / (double)b : 0.0;
}

static int cmd_replay(int argc, char **argv)
{
	const char *const *names = ess_policy_names();
	uint32_t caps[MAX_CAPS], ncaps = 0, npol = 0, pols[64], i, j;
	const char *polarg = "all";
	struct ess_trace tr;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "", replay_opts, NULL)) != -1) {
		switch (c) {
		case O_SLOTS: {
			char *dup = strdup(optarg), *tok, *save = NULL;

			if (!dup)
				return 1;
			ncaps = 0;
			for (tok = strtok_r(dup, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (ncaps == MAX_CAPS ||
				    parse_u32(tok, 1, 1u << 24, &caps[ncaps])) {
					free(dup);
					return usage_error("--slots: '%s' is not a list of "
							   "up to 64 integers in 1..16777216",
							   optarg);
				}
				ncaps++;
			}
			free(dup);
			if (!ncaps || optarg[strlen(optarg) - 1] == ',' ||
			    optarg[0] == ',' || strstr(optarg, ",,"))
				return usage_error("--slots: '%s' is not a list of "
						   "positive integers", optarg);
			break;
		}
		case O_POLICY: polarg = optarg; break;
		case O_HELP: usage(stdout); exit(0);
		default: return usage_error("unknown option or missing value: %s", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return usage_error("replay: want exactly one FILE%s", "");
	if (!ncaps)
		return usage_error("replay: --slots N[,N...] is required%s", "");
	if (strcmp(polarg, "all") == 0) {
		for (i = 0; names[i] && npol < 64; i++)
			pols[npol++] = i;
	} else {
		int p = ess_policy_by_name(polarg);

		if (p < 0)
			return usage_error("--policy: unknown policy '%s'", polarg);
		pols[npol++] = (uint32_t)p;
	}
	if (load(argv[optind], &tr))
		return 1;
	for (i = 0; i < ncaps; i++)
		if (caps[i] < tr.info.topk) {
			fprintf(stderr, "%s: --slots %u is below the trace's top-%u\n",
				prog, caps[i], tr.info.topk);
			ess_trace_free(&tr);
			return EXIT_USAGE;
		}
	printf("# %s: %u steps x %u layers x %u requests, top-%u; miss rate = "
	       "misses / lookups after warm-up, %%\n", argv[optind], tr.info.steps,
	       tr.info.layers, tr.info.requests, tr.info.topk);
	printf("%-8s", "slots");
	for (j = 0; j < npol; j++)
		printf(" %10s", names[pols[j]]);
	printf(" %10s %12s\n", "opt", "lookups");
	for (i = 0; i < ncaps && !rc; i++) {
		struct ess_replay_result r, o;

		printf("%-8u", caps[i]);
		for (j = 0; j < npol && !rc; j++) {
			rc = ess_trace_replay(&tr, caps[i], pols[j], &r);
			if (!rc)
				printf(" %10.3f", pct(r.misses, r.lookups));
		}
		if (!rc)
			rc = ess_trace_opt(&tr, caps[i], &o);
		if (!rc)
			printf(" %10.3f %12llu\n", pct(o.misses, o.lookups),
			       (unsigned long long)o.lookups);
		fflush(stdout);
	}
	ess_trace_free(&tr);
	if (rc) {
		fprintf(stderr, "%s: replay failed: %s\n", prog, strerror(-rc));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		usage(stdout);
		return 0;
	}
	/* Sub-command options start after the sub-command. */
	argc--;
	argv++;
	optind = 1;
	opterr = 0;
	if (!strcmp(cmd, "gen"))
		return cmd_gen(argc, argv);
	if (!strcmp(cmd, "info"))
		return cmd_info(argc, argv);
	if (!strcmp(cmd, "replay"))
		return cmd_replay(argc, argv);
	return usage_error("unknown command '%s'", cmd);
}
