// SPDX-License-Identifier: MIT
/*
 * ess-bench, the front end of the GPU benchmarks, as a user meets it:
 * usage errors exit 2 with the usage text, --help exits 0, and `decode`
 * and `fetch` reach ess-bench-decode and ess-bench-fetch (their --help and
 * their own usage errors, which need no GPU) when the CUDA programs are
 * built beside it.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tap.h"
#include "tool-run.h"

int main(void)
{
	char decode[PATH_MAX + 32], fetch[PATH_MAX + 32];
	const char *slash;

	if (tool_find("ess-bench")) {
		printf("1..0 # SKIP build/bin/ess-bench not built (make tools)\n");
		return 0;
	}
	if (tool_setup("bench-cli")) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	tap_plan(11);
	tap_diag("tool %s", tool);
	tap_ok(run(NULL) == 2 && strstr(tool_err, "usage: ess-bench fetch"),
	       "no arguments: usage on stderr, exit 2");
	tap_ok(run("--help", NULL) == 0 && strstr(tool_out, "ess-bench decode"),
	       "--help: usage on stdout naming decode, exit 0");
	tap_ok(run("frobnicate", NULL) == 2 && strstr(tool_err, "unknown benchmark 'frobnicate'"),
	       "unknown benchmark: named, exit 2");
	/* the CUDA programs exist where nvcc built them */
	slash = strrchr(tool, '/');
	snprintf(decode, sizeof(decode), "%.*s/ess-bench-decode", (int)(slash - tool), tool);
	if (access(decode, X_OK)) {
		for (int i = 4; i <= 8; i++)
			tap_ok(1, "# SKIP %s not built (no nvcc)", decode);
	} else {
		tap_ok(run("decode", "--help", NULL) == 0 &&
		       strstr(tool_out, "usage: ess-bench-decode") && strstr(tool_out, "--small"),
		       "decode --help: ess-bench-decode's usage, exit 0");
		tap_ok(run("decode", "--bogus", NULL) == 2 && strstr(tool_err, "--bogus"),
		       "decode --bogus: named, exit 2");
		tap_ok(run("decode", "-c", "1000", NULL) == 2 && strstr(tool_err, "bad context '1000'"),
		       "decode -c 1000 (below top-k): refused, exit 2");
		tap_ok(run("decode", "--warm", "30", NULL) == 2 && strstr(tool_err, "warm < steps"),
		       "decode --warm >= --steps: refused, exit 2");
		tap_ok(run("decode", "-l", "x", NULL) == 2, "decode -l x: refused, exit 2");
	}
	snprintf(fetch, sizeof(fetch), "%.*s/ess-bench-fetch", (int)(slash - tool), tool);
	if (access(fetch, X_OK)) {
		for (int i = 9; i <= 11; i++)
			tap_ok(1, "# SKIP %s not built (no nvcc)", fetch);
	} else {
		tap_ok(run("fetch", "4", "9", "bogus", NULL) == 2 &&
		       strstr(tool_err, "usage: ess-bench-fetch"),
		       "fetch with an unknown experiment: usage, exit 2");
		tap_ok(run("fetch", "1", "3", "wc", NULL) == 2 &&
		       strstr(tool_err, "pool_GiB must be 3 to 1024 for wc"),
		       "fetch wc on a 1 GiB pool (too small for its copies): refused, exit 2");
		tap_ok(run("fetch", "4", "0", NULL) == 2 && strstr(tool_err, "reps 1 to 1000"),
		       "fetch with 0 repetitions: refused, exit 2");
	}
	tool_cleanup();
	return tap_done();
}
