/* SPDX-License-Identifier: MIT */
/*
 * Running one of the built command-line tools from a unit test, as a user
 * would: find build/bin/<name> next to the test's build directory (else
 * from the working directory), run it with an argument list, and keep its
 * exit status, standard output (tool_out) and standard error (tool_err).
 * Output goes through two files in a private temporary directory.
 */
#ifndef ESS_TESTS_TOOL_RUN_H
#define ESS_TESTS_TOOL_RUN_H

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tool[PATH_MAX], tool_dir[64], tool_out_path[128], tool_err_path[128];
static char tool_out[65536], tool_err[65536];

static void tool_slurp(const char *p, char *buf, size_t len)
{
	FILE *f = fopen(p, "r");
	size_t n = 0;

	if (f) {
		n = fread(buf, 1, len - 1, f);
		fclose(f);
	}
	buf[n] = 0;
}

/* Find build/bin/<name>; 0 if it is there and executable. */
static int tool_find(const char *name)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n > 0) {
		char *p;
		int up;

		self[n] = 0;
		/* <build>/tests/unit/<test> -> <build>/bin/<name> */
		for (up = 0; up < 3 && (p = strrchr(self, '/')); up++)
			*p = 0;
		if (strlen(self) + strlen(name) + 6 < sizeof(tool)) {
			snprintf(tool, sizeof(tool), "%s/bin/%s", self, name);
			if (access(tool, X_OK) == 0)
				return 0;
		}
	}
	snprintf(tool, sizeof(tool), "build/bin/%s", name);
	return access(tool, X_OK);
}

/* The temporary directory for the output files (and the test's own). */
static int tool_setup(const char *tag)
{
	snprintf(tool_dir, sizeof(tool_dir), "/tmp/ess-%s.XXXXXX", tag);
	if (!mkdtemp(tool_dir))
		return -1;
	snprintf(tool_out_path, sizeof(tool_out_path), "%s/out", tool_dir);
	snprintf(tool_err_path, sizeof(tool_err_path), "%s/err", tool_dir);
	return 0;
}

static void tool_cleanup(void)
{
	unlink(tool_out_path);
	unlink(tool_err_path);
	rmdir(tool_dir);
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
		int o = open(tool_out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(tool_err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(o, 1);
		dup2(e, 2);
		execv(tool, (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	tool_slurp(tool_out_path, tool_out, sizeof(tool_out));
	tool_slurp(tool_err_path, tool_err, sizeof(tool_err));
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#endif /* ESS_TESTS_TOOL_RUN_H */
