// SPDX-License-Identifier: MIT
/*
 * ess-sim command line: the default table, CSV shape and values, context
 * lists, profile and --set handling, and every usage error's exit code.
 * Runs sim_cli_main (what tools/ess-sim.c calls) with memory streams.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../sim/profile.h"
#include "sim-run.h"

static int n;

static void ok(int cond, const char *desc)
{
	printf("%sok %d - %s\n", cond ? "" : "not ", ++n, desc);
}

static int count_lines(const char *s)
{
	int c = 0;

	for (; *s; s++)
		c += *s == '\n';
	return c;
}

static int fields(const char *line)
{
	int c = 1;

	for (; *line && *line != '\n'; line++)
		c += *line == ',';
	return c;
}

int main(void)
{
	char path[] = "/tmp/sim-cli-XXXXXX";
	struct sim_params p, q;
	char err[256];
	int rc, fd;

	printf("1..22\n");

	rc = run(NULL);
	ok(rc == 0 && strstr(out_buf, "32K") && strstr(out_buf, "128K") &&
	   strstr(out_buf, "+69.4%") && strstr(out_buf, "+123.0%") && !*err_buf,
	   "default run prints the 8K..128K table beside the paper's figures");
	ok(count_lines(out_buf) == 4 + 5 + 1, "table: 4 header lines, 5 contexts, 1 legend");

	rc = run("--csv", NULL);
	ok(rc == 0 && !strncmp(out_buf, "context,base_batch,base_limit,base_step_ms,base_tok_s,"
			       "ess_batch,ess_limit,ess_step_ms,ess_tok_s,ratio,", 70),
	   "--csv: header");
	{
		int good = count_lines(out_buf) == 6;
		const char *l = strchr(out_buf, '\n');
		long ctx[5] = { 8192, 16384, 32768, 65536, 131072 };

		for (int i = 0; good && i < 5; i++, l = strchr(l + 1, '\n')) {
			long c, bb, eb;
			double bs, bt, es, et, r;
			char bl[8], el[8];

			if (fields(l + 1) != 17 ||
			    sscanf(l + 1, "%ld,%ld,%7[a-z],%lf,%lf,%ld,%7[a-z],%lf,%lf,%lf",
				   &c, &bb, bl, &bs, &bt, &eb, el, &es, &et, &r) != 10 ||
			    c != ctx[i] || bb <= 0 || eb <= 0 || bs <= 0 || es <= 0 ||
			    r <= 0 || (r - et / bt) > 1e-3 || (et / bt - r) > 1e-3)
				good = 0;
		}
		ok(good, "--csv: 5 rows of 17 fields, ratio = ESS tok/s / baseline tok/s");
	}
	ok(strstr(out_buf, "\n32768,") && strstr(out_buf, ",1120,1900,1.6940\n") &&
	   strstr(out_buf, "\n8192,") && strstr(out_buf, ",,\n"),
	   "--csv: paper columns filled at 32K, empty at 8K");

	rc = run("--csv", "--contexts", "1K,100000", NULL);
	ok(rc == 0 && count_lines(out_buf) == 3 && strstr(out_buf, "\n1024,") &&
	   strstr(out_buf, "\n100000,"), "--contexts picks the rows");

	rc = run("-s", "deploy.max_batch = 7", "--csv", "-c", "128K", NULL);
	ok(rc == 0 && strstr(out_buf, "\n131072,7,cap,") && strstr(out_buf, ",7,cap,"),
	   "--set applies to both sides");

	rc = run("--bogus", NULL);
	ok(rc == 2 && strstr(err_buf, "unknown argument '--bogus'") && strstr(err_buf, "usage:"),
	   "unknown option: exit 2 with usage");
	rc = run("--profile", NULL);
	ok(rc == 2 && strstr(err_buf, "--profile needs an argument"), "--profile without file: exit 2");
	rc = run("-c", "8K,,16K", NULL);
	ok(rc == 2 && strstr(err_buf, "bad context list"), "empty context in list: exit 2");
	rc = run("-c", "0", NULL);
	ok(rc == 2, "zero context: exit 2");
	rc = run("-c", "32X", NULL);
	ok(rc == 2, "context with a bad suffix: exit 2");
	rc = run("-c", "8K,", NULL);
	ok(rc == 2, "context list ending in a comma: exit 2");
	rc = run("--set", "hw.hbm_bytes = 80", NULL);
	ok(rc == 2 && strstr(err_buf, "missing unit"), "bad --set: exit 2 with the reason");
	rc = run("--profile", "/nonexistent/x.profile", NULL);
	ok(rc == 1 && strstr(err_buf, "/nonexistent/x.profile"), "missing profile file: exit 1");

	fd = mkstemp(path);
	if (fd >= 0) {
		const char *text = "hw.hbm_bytes = 80 GB\nhw.hbm_bw = 3 GB\n";

		if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
			fd = -1;
		close(fd);
	}
	rc = run("-p", path, NULL);
	ok(fd >= 0 && rc == 1 && strstr(err_buf, ":2: hw.hbm_bw: bad unit 'GB'") && !*out_buf,
	   "bad profile line: exit 1, file:line in the message, no table");
	unlink(path);

	rc = run("--trace", "synthetic", NULL);
	ok(rc == 2 && strstr(err_buf, "no trace replay"), "--trace without a replayer: exit 2");
	rc = run("--miss-curve", "4K", NULL);
	ok(rc == 2, "--miss-curve without --trace: exit 2");

	rc = run("--help", NULL);
	ok(rc == 0 && strstr(out_buf, "usage: ess-sim") && strstr(out_buf, "--csv"), "--help: exit 0");

	rc = run("--dump-profile", NULL);
	sim_params_default(&p);
	memset(&q, 0, sizeof(q));
	ok(rc == 0 && sim_profile_parse(&q, out_buf, "dump", err, sizeof(err)) == 0 &&
	   !memcmp(&p, &q, sizeof(p)), "--dump-profile prints a profile equal to the built-in");

	rc = run("--keys", NULL);
	{
		int all = rc == 0;

		for (size_t i = 0; i < sim_nkeys; i++) {
			const char *k = sim_keys[i].name;
			char name[64];

			if (!strncmp(k, "work.", 5))
				snprintf(name, sizeof(name), "workload.%s", k + 5);
			else
				snprintf(name, sizeof(name), "%s", k);
			if (!strstr(out_buf, name))
				all = 0;
		}
		ok(all, "--keys lists every key");
	}

	rc = run("-p", "sim/profiles/h100.profile", "--csv", "-c", "32K", NULL);
	{
		long bb_h100 = 0, bb_h200 = 0;

		if (rc == 0)
			sscanf(strchr(out_buf, '\n') + 1, "%*d,%ld", &bb_h100);
		run("--csv", "-c", "32K", NULL);
		sscanf(strchr(out_buf, '\n') + 1, "%*d,%ld", &bb_h200);
		ok(rc == 0 && bb_h100 > 0 && bb_h100 < bb_h200,
		   "a profile overlay changes the result (H100 holds fewer requests)");
	}
	free(out_buf);
	free(err_buf);
	return 0;
}
