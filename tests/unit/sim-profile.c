// SPDX-License-Identifier: MIT
/*
 * ess-sim profile parser: units, ranges, line-numbered errors, overrides,
 * the dump round trip, and the built-in profile equal to its file copy.
 * Run from the repository root (make check-unit does).
 */
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../sim/profile.h"

static int n;

static void ok(int cond, const char *desc)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, desc);
}

/* Parse text over the defaults; returns rc, error text in err. */
static int parse(struct sim_params *p, const char *text, char *err, size_t len)
{
	sim_params_default(p);
	err[0] = '\0';
	return sim_profile_parse(p, text, "t", err, len);
}

/* The text fails with an error starting with want (file:line: ...). */
static void bad(const char *text, const char *want, const char *desc)
{
	struct sim_params p, before;
	char err[512];
	int rc = parse(&p, text, err, sizeof(err));

	sim_params_default(&before);
	ok(rc == -1 && !strncmp(err, want, strlen(want)) &&
	   !memcmp(&p, &before, sizeof(p)), desc);
	if (rc != -1 || strncmp(err, want, strlen(want)))
		printf("# got rc %d '%s', want '%s...'\n", rc, err, want);
}

int main(void)
{
	struct sim_params p, q;
	char err[512];
	glob_t g;
	int rc;

	printf("1..31\n");

	sim_params_default(&p);
	ok(p.hw.hbm_bytes == 140.0 * 1073741824.0 && p.model.layers == 61 &&
	   p.model.latent_entry == 656 && p.model.index_entry == 132 &&
	   p.model.topk == 2048 && !strcmp(p.ess.policy, "lru"),
	   "built-in profile parses with the model constants");

	memset(&q, 0, sizeof(q));
	rc = sim_profile_load(&q, "sim/profiles/paper-h200.profile", err, sizeof(err));
	ok(rc == 0 && !memcmp(&p, &q, sizeof(p)),
	   "sim/profiles/paper-h200.profile equals the built-in profile (make sim-defaults)");

	rc = glob("sim/profiles/*.profile", 0, NULL, &g);
	{
		int all = rc == 0 && g.gl_pathc >= 2;

		for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
			sim_params_default(&q);
			if (sim_profile_load(&q, g.gl_pathv[i], err, sizeof(err))) {
				printf("# %s\n", err);
				all = 0;
			}
		}
		ok(all, "every shipped profile in sim/profiles/ parses");
		if (rc == 0)
			globfree(&g);
	}

	rc = parse(&p, "# comment\n\n  hw.hbm_bytes = 80 GB   # trailing\n"
		   "hw.hbm_bw=3.35 TB/s\nhw.fp8_rate = 1 PFLOP/s\n"
		   "hw.fetch_latency = 7 us\r\nworkload.context = 48K\n"
		   "hw.hbm_eff = 75%\nmodel.latent_entry = 1.5 KiB\n"
		   "ess.policy = my-policy_2\n", err, sizeof(err));
	ok(rc == 0, "good file parses");
	ok(p.hw.hbm_bytes == 80e9 && p.hw.hbm_bw == 3.35e12 && p.hw.fp8_rate == 1e15,
	   "bytes, bandwidth and rate units scale");
	ok(fabs(p.hw.fetch_latency - 7e-6) < 1e-18 && p.work.context == 48 * 1024 &&
	   p.hw.hbm_eff == 0.75 && p.model.latent_entry == 1536,
	   "time, K suffix, percent and binary units scale");
	ok(!strcmp(p.ess.policy, "my-policy_2"), "name values are kept");
	ok(p.model.layers == 61, "keys not named keep their value");

	bad("hw.hbm_bytes = 1 GB\n\nfoo.bar = 3\n", "t:3: unknown key 'foo.bar'",
	    "unknown key: error names line 3, nothing changes");
	bad("hw.hbm_bw = 4.8 TB\n", "t:1: hw.hbm_bw: bad unit 'TB'",
	    "byte unit on a bandwidth key is refused");
	bad("\nhw.hbm_bytes = 80\n", "t:2: hw.hbm_bytes: missing unit",
	    "number without its unit is refused");
	bad("model.layers = 61 B\n", "t:1: model.layers: bad unit 'B'",
	    "unit on a count is refused");
	bad("hw.fetch_latency = 5 msec\n", "t:1: hw.fetch_latency: bad unit 'msec'",
	    "unknown time unit is refused");
	bad("hw.fp8_rate = 1979 TFLOPS\n", "t:1: hw.fp8_rate: bad unit 'TFLOPS'",
	    "rate without /s is refused");
	bad("model.layers = 61.5\n", "t:1: model.layers: '61.5' is not a whole number",
	    "fractional count is refused");
	bad("hw.hbm_eff = 1.5\n", "t:1: hw.hbm_eff: value 1.5 out of range",
	    "value above its range is refused");
	bad("hw.hbm_bytes = -1 GB\n", "t:1: hw.hbm_bytes: '-1 GB' is not a non-negative",
	    "negative value is refused");
	bad("hw.hbm_eff = inf\n", "t:1: hw.hbm_eff: 'inf' is not a non-negative",
	    "inf is refused");
	bad("model.layers = 0x3d\n", "t:1: model.layers: '0x3d' is not a usable number",
	    "hex is refused");
	bad("model.layers = 61\nmodel.layers = 62\n", "t:2: model.layers given twice",
	    "a key twice in one file is refused");
	bad("model.layers 61\n", "t:1: expected 'key = value'", "line without '=' is refused");
	bad("hw.hbm_bytes =\n", "t:1: hw.hbm_bytes: missing value", "empty value is refused");
	bad(" = 3\n", "t:1: missing key", "empty key is refused");
	bad("ess.policy = l r u\n", "t:1: ess.policy: bad name", "name with spaces is refused");
	bad("hw.hbm_bytes = 80 GB GB\n", "t:1: hw.hbm_bytes: bad unit", "two units are refused");

	{
		char big[700];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		bad(big, "t:1: line longer than", "overlong line is refused");
	}

	sim_params_default(&p);
	rc = sim_profile_parse(&p, "model.layers = 30\n", "a", err, sizeof(err)) ||
	     sim_profile_parse(&p, "model.layers = 40\nmodel.heads = 64\n", "b", err, sizeof(err));
	ok(rc == 0 && p.model.layers == 40 && p.model.heads == 64,
	   "a later profile overrides an earlier one key by key");

	sim_params_default(&p);
	rc = sim_profile_load(&p, "sim/profiles/does-not-exist.profile", err, sizeof(err));
	ok(rc == -1 && strstr(err, "does-not-exist.profile"), "missing file: error names it");

	{
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		sim_params_default(&p);
		p.hw.fetch_latency = 12.5e-6;
		p.ess.miss_rate = 0.0314159;
		p.hw.hbm_bw = 3.35e12;
		sim_profile_write(&p, f);
		fclose(f);
		memset(&q, 0, sizeof(q));
		rc = sim_profile_parse(&q, buf, "dump", err, sizeof(err));
		ok(rc == 0 && !memcmp(&p, &q, sizeof(p)), "dumped profile parses back to the same values");
		if (rc)
			printf("# %s\n", err);
		free(buf);
	}

	sim_params_default(&p);
	rc = sim_profile_set(&p, "ess.miss_rate = 2%", err, sizeof(err));
	ok(rc == 0 && p.ess.miss_rate == 0.02, "--set assignment applies");
	q = p;
	rc = sim_profile_set(&p, "ess.miss_rate = 2 GB", err, sizeof(err));
	ok(rc == -1 && strstr(err, "bad unit") && !memcmp(&p, &q, sizeof(p)),
	   "bad --set assignment is refused and changes nothing");
	return 0;
}
