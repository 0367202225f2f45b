// SPDX-License-Identifier: MIT
/*
 * ess-stat's command line: every bad argument exits 2 with a message that
 * names it and prints nothing on stdout; --help exits 0; with no runtime
 * and no module it says so and exits 0 in every view; --pid of a process
 * without a segment exits 1.
 */
#include <sys/stat.h>

#include "stat-tap.h"

static char dir[] = "/tmp/ess-stat-cli.XXXXXX";

static void bad(const char *why, const char *expect, char *const *argv)
{
	struct run_out ro;

	run_stat(&ro, argv);
	ok(ro.status == 2 && !ro.out[0] && strstr(ro.err, expect) &&
	   strstr(ro.err, "--help"),
	   "%s: exit 2, stderr names '%s'", why, expect);
	if (ro.status != 2 || !strstr(ro.err, expect))
		diag("status %d stderr: %s", ro.status, ro.err);
	run_free(&ro);
}

#define ARGV(...) ((char *const[]){ "ess-stat", __VA_ARGS__, NULL })

int main(void)
{
	struct run_out ro;
	char missing[64];

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	setenv("ESS_STAT_DIR", dir, 1);
	diag("ess-stat: %s", stat_bin());

	bad("unknown option", "--bogus", ARGV("--bogus"));
	bad("unknown short option", "-z", ARGV("-z"));
	bad("interval 0", "interval '0'", ARGV("0"));
	bad("negative interval", "interval '-1'", ARGV("--", "-1"));
	bad("interval with junk", "interval '1s'", ARGV("1s"));
	bad("interval too long", "interval '1e9'", ARGV("1e9"));
	bad("count 0", "count '0'", ARGV("1", "0"));
	bad("count not a number", "count 'x'", ARGV("1", "x"));
	bad("third argument", "unexpected argument '3'", ARGV("1", "2", "3"));
	bad("--listen without port", "needs an argument", ARGV("--listen"));
	bad("--listen port too big", "65536", ARGV("--listen", "65536"));
	bad("--listen port junk", "'8x'", ARGV("--listen", "8x"));
	bad("--listen with an interval", "interval", ARGV("--listen", "0", "1"));
	bad("--json with --prometheus", "exclude", ARGV("--json", "--prometheus"));
	bad("--json with -p", "do not mix", ARGV("--json", "-p"));
	bad("--prometheus with -L", "do not mix", ARGV("--prometheus", "-L"));
	bad("--max-requests without --listen", "needs --listen",
	    ARGV("--max-requests", "3"));
	bad("--max-requests 0", "'0'", ARGV("--listen", "0", "--max-requests", "0"));
	bad("--pid 0", "--pid: '0'", ARGV("--pid", "0"));
	bad("--pid junk", "--pid: 'abc'", ARGV("--pid", "abc"));
	bad("--pid too big", "--pid: '4294967296'", ARGV("--pid", "4294967296"));
	bad("--gc with a view", "--gc", ARGV("--gc", "-p"));
	bad("empty --dir", "--dir", ARGV("--dir", ""));

	run_stat(&ro, ARGV("--help"));
	ok(ro.status == 0 && strstr(ro.out, "usage: ess-stat") &&
	   strstr(ro.out, "--prometheus") && strstr(ro.out, "Exit status") &&
	   !ro.err[0], "--help: usage on stdout, exit 0");
	run_free(&ro);

	run_stat(&ro, ARGV("--sysfs", "/nonexistent/ess"));
	ok(ro.status == 0 && strstr(ro.out, "no ESS runtime running"),
	   "no runtime: says so, exit 0");
	run_free(&ro);

	run_stat(&ro, ARGV("-p", "-m", "-H", "--sysfs", "/nonexistent/ess"));
	ok(ro.status == 0 && strstr(ro.out, "no ESS runtime running") &&
	   strstr(ro.out, "ess module not loaded (/nonexistent/ess absent)") &&
	   strstr(ro.out, "no heat"),
	   "-p -m -H without runtime or module: both said, exit 0");
	run_free(&ro);

	run_stat(&ro, ARGV("--json", "--sysfs", "/nonexistent/ess"));
	ok(ro.status == 0 && json_num(ro.out, "live") == 0 &&
	   strstr(ro.out, "\"processes\":[]") &&
	   strstr(ro.out, "\"module\":{\"loaded\":false"),
	   "--json without runtime or module: empty, loaded false, exit 0");
	run_free(&ro);

	run_stat(&ro, ARGV("--prometheus", "--sysfs", "/nonexistent/ess"));
	ok(ro.status == 0 && prom_value(ro.out, "ess_processes{state=\"live\"}") == 0 &&
	   prom_value(ro.out, "ess_module_loaded") == 0,
	   "--prometheus without runtime or module: 0 processes, module_loaded 0");
	run_free(&ro);

	run_stat(&ro, ARGV("0.01", "3", "--sysfs", "/nonexistent/ess"));
	ok(ro.status == 0 && strstr(ro.out, "resolve/s") &&
	   !strstr(ro.out, "no ESS runtime"),
	   "interval mode without runtime: header and lines of 0 processes");
	run_free(&ro);

	snprintf(missing, sizeof(missing), "%s/none", dir);
	run_stat(&ro, ARGV("--dir", missing));
	ok(ro.status == 0 && strstr(ro.out, "no ESS runtime running"),
	   "missing segment directory: no runtime, exit 0");
	run_free(&ro);

	run_stat(&ro, ARGV("--gc", "--dir", missing));
	ok(ro.status == 0 && strstr(ro.out, "nothing to remove"),
	   "--gc of a missing directory: nothing to remove, exit 0");
	run_free(&ro);

	run_stat(&ro, ARGV("--json", "--pid", "2147483647"));
	ok(ro.status == 1 && strstr(ro.err, "no statistics segment of pid 2147483647"),
	   "--pid without a segment: exit 1 with a message");
	run_free(&ro);

	if (chmod(dir, 0) == 0 && access(dir, R_OK) != 0) {
		run_stat(&ro, ARGV("-p"));
		ok(ro.status == 1 && strstr(ro.err, dir),
		   "unreadable segment directory: exit 1 naming it");
		run_free(&ro);
	} else {
		ok(1, "# SKIP unreadable directory: running as root");
	}
	chmod(dir, 0700);
	ok(rmdir(dir) == 0, "nothing left in the segment directory");
	return done();
}
