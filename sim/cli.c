// SPDX-License-Identifier: MIT
/*
 * ess-sim's options.  Parsed by hand (not getopt) so that the function can
 * run many times in one test process with no global state.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "profile.h"
#include "report.h"

#define MAX_CTX 64

static void usage(FILE *f)
{
	fprintf(f,
"usage: ess-sim [options]\n"
"Simulate DeepSeek-V3.2-Exp decode with and without ESS and print, per\n"
"context length, each side's largest batch, step time and tokens/s per GPU.\n"
"\n"
"  -p, --profile FILE     read a profile (key = value unit lines) over the\n"
"                         built-in one; repeatable, later wins per key\n"
"  -s, --set KEY=VALUE    set one key (same syntax as a profile line);\n"
"                         repeatable, applied in order with --profile\n"
"  -c, --contexts LIST    comma-separated contexts, e.g. 8K,32K,100000\n"
"                         (default 8K,16K,32K,64K,128K)\n"
"  -t, --trace FILE       take ESS's miss rate from a replay of this top-k\n"
"                         trace (ess.slots, ess.policy); FILE 'synthetic'\n"
"                         = the synthetic DSA trace at each row's context\n"
"      --miss-curve LIST  with --trace: print CSV policy,slots,miss_rate for\n"
"                         each slot count in LIST, every policy and OPT\n"
"      --csv              CSV instead of the table\n"
"      --breakdown        per-step time of each part, in ms\n"
"      --dump-profile     print the effective profile and exit\n"
"      --keys             list every profile key with its units and exit\n"
"  -h, --help             this text\n"
"\n"
"Exit status: 0 ok, 1 bad profile or file, 2 usage error.\n"
"Documentation/dev/simulator.md explains the model and every key.\n");
}

static int parse_contexts(const char *s, double *ctx, int *n)
{
	char buf[512], *rest = buf, *tok;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	*n = 0;
	/* strsep keeps empty fields, so "8K,,16K" and "8K," are refused */
	while ((tok = strsep(&rest, ","))) {
		char *end;
		unsigned long long v;

		if (*n >= MAX_CTX || tok[0] < '0' || tok[0] > '9')
			return -1;
		errno = 0;
		v = strtoull(tok, &end, 10);
		if (errno)
			return -1;
		if (*end == 'K' || *end == 'k') {
			v *= 1024;
			end++;
		}
		if (*end || v == 0 || v > 1000000000ULL)
			return -1;
		ctx[(*n)++] = (double)v;
	}
	return *n ? 0 : -1;
}

/* --miss-curve: every policy and Belady's optimum at each slot count. */
static int miss_curve(const struct sim_params *p, const struct sim_replayer *r,
		      const char *trace, const double *slots, int n, FILE *out,
		      FILE *err)
{
	const char *const *names = r->policies(r->ctx);
	char msg[512];

	fprintf(out, "policy,slots,miss_rate\n");
	for (int k = 0; ; k++) {
		const char *pol = names[k] ? names[k] : "opt";

		for (int i = 0; i < n; i++) {
			double rate;

			if (r->miss_rate(r->ctx, trace, p->work.context, p->model.topk,
					 slots[i], pol, &rate, msg, sizeof(msg))) {
				fprintf(err, "ess-sim: %s\n", msg);
				return 1;
			}
			fprintf(out, "%s,%ld,%.6f\n", pol, (long)slots[i], rate);
		}
		if (!names[k])
			break;
	}
	return ferror(out) ? 1 : 0;
}

int sim_cli_main(int argc, char **argv, FILE *out, FILE *err,
		 const struct sim_replayer *replay)
{
	const char *trace = NULL;
	double curve[MAX_CTX], miss[MAX_CTX];
	int ncurve = 0;
	static const double def_ctx[] = { 8192, 16384, 32768, 65536, 131072 };
	struct sim_params p;
	double ctx[MAX_CTX];
	int nctx = 5, csv = 0, breakdown = 0, dump = 0, keys = 0, nprof = 0;
	char msg[512], pname[256] = "built-in", msgsrc[300];

	memcpy(ctx, def_ctx, sizeof(def_ctx));
	sim_params_default(&p);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		int needs = !strcmp(a, "-p") || !strcmp(a, "--profile") ||
			    !strcmp(a, "-s") || !strcmp(a, "--set") ||
			    !strcmp(a, "-c") || !strcmp(a, "--contexts") ||
			    !strcmp(a, "-t") || !strcmp(a, "--trace") ||
			    !strcmp(a, "--miss-curve");

		if (needs) {
			if (i + 1 >= argc) {
				fprintf(err, "ess-sim: %s needs an argument\n", a);
				usage(err);
				return 2;
			}
			val = argv[++i];
		}
		if (!strcmp(a, "-p") || !strcmp(a, "--profile")) {
			if (sim_profile_load(&p, val, msg, sizeof(msg))) {
				fprintf(err, "ess-sim: %s\n", msg);
				return 1;
			}
			if (nprof++ == 0)
				snprintf(pname, sizeof(pname), "built-in + %s", val);
			else if (strlen(pname) + strlen(val) + 4 < sizeof(pname))
				strcat(strcat(pname, " + "), val);
		} else if (!strcmp(a, "-s") || !strcmp(a, "--set")) {
			if (sim_profile_set(&p, val, msg, sizeof(msg))) {
				fprintf(err, "ess-sim: %s\n", msg);
				return 2;
			}
		} else if (!strcmp(a, "-c") || !strcmp(a, "--contexts")) {
			if (parse_contexts(val, ctx, &nctx)) {
				fprintf(err, "ess-sim: bad context list '%s' (want e.g. 8K,32K; "
					"at most %d, each 1..1e9)\n", val, MAX_CTX);
				return 2;
			}
		} else if (!strcmp(a, "-t") || !strcmp(a, "--trace")) {
			trace = val;
		} else if (!strcmp(a, "--miss-curve")) {
			if (parse_contexts(val, curve, &ncurve)) {
				fprintf(err, "ess-sim: bad slot list '%s' (want e.g. 2048,4K)\n", val);
				return 2;
			}
		} else if (!strcmp(a, "--csv")) {
			csv = 1;
		} else if (!strcmp(a, "--breakdown")) {
			breakdown = 1;
		} else if (!strcmp(a, "--dump-profile")) {
			dump = 1;
		} else if (!strcmp(a, "--keys")) {
			keys = 1;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(out);
			return 0;
		} else {
			fprintf(err, "ess-sim: unknown argument '%s'\n", a);
			usage(err);
			return 2;
		}
	}
	if (keys) {
		sim_keys_write(out);
		return 0;
	}
	if (dump) {
		sim_profile_write(&p, out);
		return 0;
	}
	if (p.model.dense_layers > p.model.layers || p.model.active_experts > p.model.routed_experts ||
	    p.deploy.ep > p.model.routed_experts) {
		fprintf(err, "ess-sim: inconsistent profile: need dense_layers <= layers, "
			"active_experts <= routed_experts, ep <= routed_experts\n");
		return 1;
	}
	if ((trace || ncurve) && !replay) {
		fprintf(err, "ess-sim: this build has no trace replay\n");
		return 2;
	}
	if (ncurve && !trace) {
		fprintf(err, "ess-sim: --miss-curve needs --trace\n");
		return 2;
	}
	if (ncurve)
		return miss_curve(&p, replay, trace, curve, ncurve, out, err);
	if (trace) {
		for (int i = 0; i < nctx; i++) {
			/* a file trace has one miss rate; only synthetic varies */
			if (i > 0 && strcmp(trace, "synthetic")) {
				miss[i] = miss[0];
				continue;
			}
			if (replay->miss_rate(replay->ctx, trace, ctx[i], p.model.topk,
					      p.ess.slots, p.ess.policy, &miss[i],
					      msg, sizeof(msg))) {
				fprintf(err, "ess-sim: %s\n", msg);
				return 1;
			}
		}
		snprintf(msgsrc, sizeof(msgsrc), "from a replay of %s%s", trace,
			 strcmp(trace, "synthetic") ? "" : " traces at each context");
	} else {
		snprintf(msgsrc, sizeof(msgsrc), "%.4g (given, ess.miss_rate)",
			 p.ess.miss_rate);
	}
	if (csv)
		sim_csv_write(&p, ctx, trace ? miss : NULL, nctx, out);
	else
		sim_table_write(&p, ctx, trace ? miss : NULL, nctx, pname, msgsrc,
				breakdown, out);
	return ferror(out) ? 1 : 0;
}
