/* SPDX-License-Identifier: MIT */
/*
 * TAP helpers of the monitoring tests (tests/unit/stat-*.c): ok/diag with
 * the plan printed at the end, running build/bin/ess-stat as a child with
 * its output captured, and small lookups in its output.  Only libc, so
 * stat-sysfs.c also builds statically for the QEMU guest.
 */
#ifndef ESS_TESTS_STAT_TAP_H
#define ESS_TESTS_STAT_TAP_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"

/*
 * The ess-stat to test: $ESS_STAT_BIN, else ../../bin/ess-stat from this
 * program (build/tests/unit/x -> build/bin/ess-stat, and the same inside
 * build/asan), else /bin/ess-stat (the guest).
 */
static inline const char *stat_bin(void)
{
	static char path[PATH_MAX];
	const char *e = getenv("ESS_STAT_BIN");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (e && *e)
		return e;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			snprintf(path, sizeof(path), "%.*s/../../bin/ess-stat",
				 (int)(sizeof(path) - 32), self);
			if (access(path, X_OK) == 0)
				return path;
		}
	}
	return "/bin/ess-stat";
}

struct run_out {
	char *out;		/* stdout, NUL-terminated */
	char *err;		/* stderr */
	int status;		/* exit status, or 128 + signal */
};

static inline char *slurp_fd(int fd)
{
	size_t cap = 4096, len = 0;
	char *b = malloc(cap);
	ssize_t r;

	for (;;) {
		if (len + 1 >= cap)
			b = realloc(b, cap *= 2);
		r = read(fd, b + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	b[len] = 0;
	return b;
}

/* Run ess-stat with argv (NULL-terminated, argv[0] ignored); stdout to a
 * temporary file, stderr likewise, so neither pipe can fill up. */
static inline void run_stat(struct run_out *ro, char *const *argv)
{
	char fo[] = "/tmp/ess-stat-out.XXXXXX", fe[] = "/tmp/ess-stat-err.XXXXXX";
	int o = mkstemp(fo), e = mkstemp(fe), st;
	pid_t pid;

	if (o < 0 || e < 0) {
		printf("Bail out! mkstemp: %s\n", strerror(errno));
		exit(1);
	}
	unlink(fo);
	unlink(fe);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		const char *bin = stat_bin();

		dup2(o, 1);
		dup2(e, 2);
		execv(bin, argv);
		fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	ro->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	lseek(o, 0, SEEK_SET);
	lseek(e, 0, SEEK_SET);
	ro->out = slurp_fd(o);
	ro->err = slurp_fd(e);
	close(o);
	close(e);
}

static inline void run_free(struct run_out *ro)
{
	free(ro->out);
	free(ro->err);
}

/* The unsigned number after "\"key\":" at or after from; -1 if absent. */
static inline long long json_num(const char *from, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = from ? strstr(from, pat) : NULL;
	if (!p)
		return -1;
	p += strlen(pat);
	if (*p < '0' || *p > '9')
		return -1;
	return strtoll(p, NULL, 10);
}

/* The value of the Prometheus sample whose line begins with `series`
 * followed by a space; -1 if absent. */
static inline long long prom_value(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while (p && *p) {
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

#endif
