// SPDX-License-Identifier: MIT
/*
 * ess-bench: front end of the benchmarks.
 *
 *   ess-bench fetch [pool_GiB] [reps] [manage|bulk|locality|wc]
 *                          GPU fetch/management table, or one part of it
 *   ess-bench fetch-multi  the multi-GPU fetch check
 *   ess-bench decode [...] the emulated decode loop, baseline against ESS
 *                          (ess-bench-decode; options in its man page)
 *
 * The GPU benchmarks are CUDA programs built by cuda/build.mk next to this
 * one (build/bin/ess-bench-fetch, ess-bench-fetch-multi, ess-bench-decode); libess itself
 * never links CUDA, so this tool runs them rather than linking them.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f, "usage: ess-bench fetch [pool_GiB] [reps] [manage|bulk|locality|wc]\n"
		   "       ess-bench fetch-multi\n"
		   "       ess-bench decode [options]   (ess-bench-decode --help)\n");
}

int main(int argc, char **argv)
{
	char exe[PATH_MAX], prog[PATH_MAX + 64];
	const char *name;
	ssize_t n;
	char *slash;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "fetch"))
		name = "ess-bench-fetch";
	else if (!strcmp(argv[1], "fetch-multi"))
		name = "ess-bench-fetch-multi";
	else if (!strcmp(argv[1], "decode"))
		name = "ess-bench-decode";
	else if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	} else {
		fprintf(stderr, "ess-bench: unknown benchmark '%s'\n", argv[1]);
		usage(stderr);
		return 2;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		perror("ess-bench: /proc/self/exe");
		return 1;
	}
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (slash)
		*slash = 0;
	snprintf(prog, sizeof(prog), "%s/%s", exe, name);
	argv[1] = (char *)name;
	execv(prog, argv + 1);
	fprintf(stderr, "ess-bench: cannot run %s: %s (build it with 'make cuda'; it needs nvcc)\n",
		prog, strerror(errno));
	return 1;
}
