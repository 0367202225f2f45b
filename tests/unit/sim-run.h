/* SPDX-License-Identifier: MIT */
/*
 * Running ess-sim's command line in-process from a unit test: argv built
 * from a NULL-terminated list, output and errors kept in out_buf and
 * err_buf (memory streams), the replayer the test chooses (SIM_RUN_REPLAYER,
 * NULL when the test defines none).  Shared by sim-cli.c and sim-replay.c.
 */
#ifndef ESS_TESTS_SIM_RUN_H
#define ESS_TESTS_SIM_RUN_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../sim/cli.h"

#ifndef SIM_RUN_REPLAYER
#define SIM_RUN_REPLAYER NULL
#endif

static char *out_buf, *err_buf;

/* Run ess-sim with a NULL-terminated argument list; keeps its output. */
static int run(const char *first, ...)
{
	char *argv[32];
	int argc = 0, rc;
	size_t ol, el;
	FILE *o, *e;
	va_list ap;

	free(out_buf);
	free(err_buf);
	o = open_memstream(&out_buf, &ol);
	e = open_memstream(&err_buf, &el);
	argv[argc++] = "ess-sim";
	va_start(ap, first);
	for (const char *a = first; a && argc < 31; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	rc = sim_cli_main(argc, argv, o, e, SIM_RUN_REPLAYER);
	fclose(o);
	fclose(e);
	return rc;
}

#endif /* ESS_TESTS_SIM_RUN_H */
