// SPDX-License-Identifier: MIT
/*
 * ess-trace as a user meets it: usage errors exit 2 with a message, bad
 * files exit 1 naming the problem, and gen/info/replay work end to end.
 * Runs build/bin/ess-trace (next to this test's build directory, else
 * from the working directory); skips if the tool is not built.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tool-run.h"

int main(void)
{
	char trace[128], bad[128];
	int rc;

	if (tool_find("ess-trace")) {
		printf("1..0 # SKIP build/bin/ess-trace not built (make tools)\n");
		return 0;
	}
	if (tool_setup("trace-tool")) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	snprintf(trace, sizeof(trace), "%s/t.trace", tool_dir);
	snprintf(bad, sizeof(bad), "%s/bad.trace", tool_dir);
	tap_plan(23);
	tap_diag("tool %s", tool);

	tap_ok(run(NULL) == 2 && strstr(tool_err, "usage"), "no arguments: usage, exit 2");
	tap_ok(run("--help", NULL) == 0 && strstr(tool_out, "replay FILE --slots"),
	       "--help: usage on stdout, exit 0");
	tap_ok(run("frobnicate", NULL) == 2 && strstr(tool_err, "unknown command 'frobnicate'"),
	       "unknown command: exit 2");
	tap_ok(run("gen", "--steps", "4", NULL) == 2 && strstr(tool_err, "-o FILE"),
	       "gen without -o: exit 2");
	tap_ok(run("gen", "--overlap", "1.5", "-o", trace, NULL) == 2 &&
	       strstr(tool_err, "--overlap: '1.5'"), "gen --overlap 1.5: exit 2");
	tap_ok(run("gen", "--layers", "abc", "-o", trace, NULL) == 2 &&
	       strstr(tool_err, "--layers: 'abc'"), "gen --layers abc: exit 2");
	tap_ok(run("gen", "--topk", "-5", "-o", trace, NULL) == 2, "gen --topk -5: exit 2");
	tap_ok(run("gen", "--seed", "12x", "-o", trace, NULL) == 2, "gen --seed 12x: exit 2");
	tap_ok(run("gen", "--bogus", "1", "-o", trace, NULL) == 2 &&
	       strstr(tool_err, "--bogus"), "gen --bogus: exit 2 naming it");
	tap_ok(run("gen", "--reuse", "0.6", "--heavy", "0.6", "-o", trace, NULL) == 2 &&
	       strstr(tool_err, "sum at most 1"), "gen shares over 1: exit 2");
	tap_ok(access(trace, F_OK) != 0, "no file left by failed gens");
	tap_ok(run("gen", "--steps", "2", "-o", "/nonexistent/dir/t.trace", NULL) == 1 &&
	       strstr(tool_err, "cannot create"), "gen to an unwritable path: exit 1");

	rc = run("gen", "--layers", "2", "--topk", "32", "--requests", "2", "--steps",
		 "30", "--prefill", "2000", "--heavy-tokens", "16", "-o", trace, NULL);
	tap_ok(rc == 0 && access(trace, R_OK) == 0, "gen writes a trace");
	rc = run("info", trace, NULL);
	tap_ok(rc == 0 && strstr(tool_out, "adjacent-step overlap") &&
	       strstr(tool_out, "30 steps x 2 layers x 2 requests, top-32"), "info summarises");
	tap_ok(run("info", NULL) == 2 && run("info", trace, trace, NULL) == 2,
	       "info wants exactly one file");
	tap_ok(run("info", "/nonexistent/t.trace", NULL) == 1 && strstr(tool_err, "cannot open"),
	       "info on a missing file: exit 1");
	{
		FILE *f = fopen(trace, "rb"), *g = fopen(bad, "wb");
		int c, i = 0;

		while ((c = fgetc(f)) != EOF)
			fputc(i++ == 500 ? c ^ 1 : c, g);
		fclose(f);
		fclose(g);
	}
	tap_ok(run("info", bad, NULL) == 1 && strstr(tool_err, "checksum mismatch") &&
	       strstr(tool_err, "offset"), "info on a corrupted file: exit 1, names offset");
	tap_ok(run("replay", trace, NULL) == 2 && strstr(tool_err, "--slots"),
	       "replay without --slots: exit 2");
	tap_ok(run("replay", trace, "--slots", "0", NULL) == 2 &&
	       run("replay", trace, "--slots", "40,,64", NULL) == 2 &&
	       run("replay", trace, "--slots", "40,", NULL) == 2 &&
	       run("replay", trace, "--slots", "x", NULL) == 2 &&
	       run("replay", trace, "--slots", "99999999999", NULL) == 2 &&
	       run("replay", trace, "--slots", "20000000", NULL) == 2,
	       "replay bad --slots: exit 2");
	tap_ok(run("replay", trace, "--slots", "16", NULL) == 2 &&
	       strstr(tool_err, "below the trace's top-32"), "replay slots < top-k: exit 2");
	tap_ok(run("replay", trace, "--slots", "64", "--policy", "nope", NULL) == 2 &&
	       strstr(tool_err, "unknown policy 'nope'"), "replay unknown policy: exit 2");
	rc = run("replay", trace, "--slots", "32,48,64", NULL);
	tap_ok(rc == 0 && strstr(tool_out, "lru") && strstr(tool_out, "opt") && strstr(tool_out, "\n48 "),
	       "replay prints a row per capacity with every policy and OPT");
	rc = run("replay", "--policy", "lru", "--slots", "64", trace, NULL);
	tap_ok(rc == 0 && strstr(tool_out, "lru") && !strstr(tool_out, " ret"),
	       "replay --policy lru: options in any order, one policy");

	unlink(trace);
	unlink(bad);
	tool_cleanup();
	return tap_done();
}
