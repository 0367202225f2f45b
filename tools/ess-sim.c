// SPDX-License-Identifier: MIT
/*
 * ess-sim: the decode simulator (sim/).  All of its work is in the sim
 * library so the unit tests can drive the same code.
 */
#include <stdio.h>

#include "../sim/cli.h"

int main(int argc, char **argv)
{
	return sim_cli_main(argc, argv, stdout, stderr);
}
