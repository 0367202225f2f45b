/* SPDX-License-Identifier: MIT */
/*
 * The ess-sim command line, as a function so that tests can run it with
 * their own arguments and streams.  Exit codes: 0 done, 1 bad profile or
 * input file, 2 usage error.
 */
#ifndef ESS_SIM_CLI_H
#define ESS_SIM_CLI_H

#include <stdio.h>

#include "replay.h"

/* replay may be NULL: then --trace and --miss-curve are refused. */
int sim_cli_main(int argc, char **argv, FILE *out, FILE *err,
		 const struct sim_replayer *replay);

#endif /* ESS_SIM_CLI_H */
