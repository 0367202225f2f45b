// SPDX-License-Identifier: MIT
/*
 * ess-trace as a user meets it: usage errors exit 2 with a message, bad
 * files exit 1 naming the problem, and gen/info/replay work end to end.
 * Runs build/bin/ess-trace (next to this test's build directory, else
 * from the working directory); skips if the tool is not built.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

static char tool[PATH_MAX], dir[64], out_path[128], err_path[128];
static char out[65536], errs[65536];

static void slurp(const char *p, char *buf, size_t len)
{
	FILE *f = fopen(p, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = 0;
}

/* Run the tool with a NULL-terminated argument list; exit status or -1. */
static int run(const char *a0, ...)
{
	const char *argv[32];
	va_list ap;
	int n = 0, st;
	pid_t pid;

	argv[n++] = tool;
	va_start(ap, a0);
	for (const char *a = a0; a && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(o, 1);
		dup2(e, 2);
		execv(tool, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	slurp(out_path, out, sizeof(out));
	slurp(err_path, errs, sizeof(errs));
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int find_tool(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *p;
		int up;

		self[n] = 0;
		/* <build>/tests/unit/trace-tool -> <build>/bin/ess-trace */
		for (up = 0; up < 3 && (p = strrchr(self, '/')); up++)
			*p = 0;
		if (strlen(self) + 16 < sizeof(tool)) {
			strcpy(tool, self);
			strcat(tool, "/bin/ess-trace");
			if (access(tool, X_OK) == 0)
				return 0;
		}
	}
	snprintf(tool, sizeof(tool), "build/bin/ess-trace");
	return access(tool, X_OK);
}

int main(void)
{
	char trace[128], bad[128];
	int rc;

	if (find_tool()) {
		printf("1..0 # SKIP build/bin/ess-trace not built (make tools)\n");
		return 0;
	}
	strcpy(dir, "/tmp/ess-trace-tool.XXXXXX");
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	snprintf(out_path, sizeof(out_path), "%s/out", dir);
	snprintf(err_path, sizeof(err_path), "%s/err", dir);
	snprintf(trace, sizeof(trace), "%s/t.trace", dir);
	snprintf(bad, sizeof(bad), "%s/bad.trace", dir);
	tap_plan(23);
	tap_diag("tool %s", tool);

	tap_ok(run(NULL) == 2 && strstr(errs, "usage"), "no arguments: usage, exit 2");
	tap_ok(run("--help", NULL) == 0 && strstr(out, "replay FILE --slots"),
	       "--help: usage on stdout, exit 0");
	tap_ok(run("frobnicate", NULL) == 2 && strstr(errs, "unknown command 'frobnicate'"),
	       "unknown command: exit 2");
	tap_ok(run("gen", "--steps", "4", NULL) == 2 && strstr(errs, "-o FILE"),
	       "gen without -o: exit 2");
	tap_ok(run("gen", "--overlap", "1.5", "-o", trace, NULL) == 2 &&
	       strstr(errs, "--overlap: '1.5'"), "gen --overlap 1.5: exit 2");
	tap_ok(run("gen", "--layers", "abc", "-o", trace, NULL) == 2 &&
	       strstr(errs, "--layers: 'abc'"), "gen --layers abc: exit 2");
	tap_ok(run("gen", "--topk", "-5", "-o", trace, NULL) == 2, "gen --topk -5: exit 2");
	tap_ok(run("gen", "--seed", "12x", "-o", trace, NULL) == 2, "gen --seed 12x: exit 2");
	tap_ok(run("gen", "--bogus", "1", "-o", trace, NULL) == 2 &&
	       strstr(errs, "--bogus"), "gen --bogus: exit 2 naming it");
	tap_ok(run("gen", "--reuse", "0.6", "--heavy", "0.6", "-o", trace, NULL) == 2 &&
	       strstr(errs, "sum at most 1"), "gen shares over 1: exit 2");
	tap_ok(access(trace, F_OK) != 0, "no file left by failed gens");
	tap_ok(run("gen", "--steps", "2", "-o", "/nonexistent/dir/t.trace", NULL) == 1 &&
	       strstr(errs, "cannot create"), "gen to an unwritable path: exit 1");

	rc = run("gen", "--layers", "2", "--topk", "32", "--requests", "2", "--steps",
		 "30", "--prefill", "2000", "--heavy-tokens", "16", "-o", trace, NULL);
	tap_ok(rc == 0 && access(trace, R_OK) == 0, "gen writes a trace");
	rc = run("info", trace, NULL);
	tap_ok(rc == 0 && strstr(out, "adjacent-step overlap") &&
	       strstr(out, "30 steps x 2 layers x 2 requests, top-32"), "info summarises");
	tap_ok(run("info", NULL) == 2 && run("info", trace, trace, NULL) == 2,
	       "info wants exactly one file");
	tap_ok(run("info", "/nonexistent/t.trace", NULL) == 1 && strstr(errs, "cannot open"),
	       "info on a missing file: exit 1");
	{
		FILE *f = fopen(trace, "rb"), *g = fopen(bad, "wb");
		int c, i = 0;

		while ((c = fgetc(f)) != EOF)
			fputc(i++ == 500 ? c ^ 1 : c, g);
		fclose(f);
		fclose(g);
	}
	tap_ok(run("info", bad, NULL) == 1 && strstr(errs, "checksum mismatch") &&
	       strstr(errs, "offset"), "info on a corrupted file: exit 1, names offset");
	tap_ok(run("replay", trace, NULL) == 2 && strstr(errs, "--slots"),
	       "replay without --slots: exit 2");
	tap_ok(run("replay", trace, "--slots", "0", NULL) == 2 &&
	       run("replay", trace, "--slots", "40,,64", NULL) == 2 &&
	       run("replay", trace, "--slots", "40,", NULL) == 2 &&
	       run("replay", trace, "--slots", "x", NULL) == 2 &&
	       run("replay", trace, "--slots", "99999999999", NULL) == 2 &&
	       run("replay", trace, "--slots", "20000000", NULL) == 2,
	       "replay bad --slots: exit 2");
	tap_ok(run("replay", trace, "--slots", "16", NULL) == 2 &&
	       strstr(errs, "below the trace's top-32"), "replay slots < top-k: exit 2");
	tap_ok(run("replay", trace, "--slots", "64", "--policy", "nope", NULL) == 2 &&
	       strstr(errs, "unknown policy 'nope'"), "replay unknown policy: exit 2");
	rc = run("replay", trace, "--slots", "32,48,64", NULL);
	tap_ok(rc == 0 && strstr(out, "lru") && strstr(out, "opt") && strstr(out, "\n48 "),
	       "replay prints a row per capacity with every policy and OPT");
	rc = run("replay", "--policy", "lru", "--slots", "64", trace, NULL);
	tap_ok(rc == 0 && strstr(out, "lru") && !strstr(out, " ret"),
	       "replay --policy lru: options in any order, one policy");

	unlink(trace);
	unlink(bad);
	unlink(out_path);
	unlink(err_path);
	rmdir(dir);
	return tap_done();
}
