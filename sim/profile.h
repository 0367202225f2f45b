/* SPDX-License-Identifier: MIT */
/*
 * Profile files: the simulator's inputs as "key = value unit" lines.
 *
 *   # comment (also after a value)
 *   hw.hbm_bytes = 140 GiB
 *   workload.context = 32K
 *
 * Every key has a kind that fixes which units it takes (see
 * Documentation/dev/simulator.md); a number without its unit, a unit of
 * the wrong kind, an unknown key, a key given twice in one file or a value
 * out of range is an error naming the file and line.  Later files override
 * earlier ones key by key.
 */
#ifndef ESS_SIM_PROFILE_H
#define ESS_SIM_PROFILE_H

#include <stddef.h>
#include <stdio.h>

#include "params.h"

enum sim_kind {
	SIM_COUNT,	/* integer; optional K (x1024) or M (x1048576) suffix */
	SIM_REAL,	/* plain number, or with %: a fraction */
	SIM_BYTES,	/* B KB MB GB TB KiB MiB GiB TiB */
	SIM_BW,		/* the byte units followed by /s */
	SIM_FLOPS,	/* FLOP/s GFLOP/s TFLOP/s PFLOP/s */
	SIM_TIME,	/* ns us ms s */
	SIM_NAME,	/* [A-Za-z0-9_.-]+ */
};

struct sim_key {
	const char *name;
	enum sim_kind kind;
	size_t offset;		/* into struct sim_params */
	double min, max;	/* inclusive, in base units */
	const char *doc;
};

extern const struct sim_key sim_keys[];
extern const size_t sim_nkeys;

/* The built-in profile (the paper-like setting), as profile text. */
extern const char sim_default_profile[];

const struct sim_key *sim_key_find(const char *name);
const char *sim_kind_units(enum sim_kind kind);

/*
 * Parse profile text into *p (keys not named keep their value).  name is
 * used in messages.  On error returns -1, writes "name:line: reason" into
 * err (errlen bytes) and leaves *p unchanged.
 */
int sim_profile_parse(struct sim_params *p, const char *text,
		      const char *name, char *err, size_t errlen);
/* Same, reading a file. */
int sim_profile_load(struct sim_params *p, const char *path,
		     char *err, size_t errlen);
/* One "key = value" assignment, as on a --set option. */
int sim_profile_set(struct sim_params *p, const char *assign,
		    char *err, size_t errlen);
/* Fill *p with the built-in profile. */
void sim_params_default(struct sim_params *p);

/* Write *p as a profile that parses back to the same values. */
void sim_profile_write(const struct sim_params *p, FILE *out);
/* Write the key table: name, units, range, meaning. */
void sim_keys_write(FILE *out);

#endif /* ESS_SIM_PROFILE_H */
