/* SPDX-License-Identifier: MIT */
/*
 * ess-stat's pieces (the .c files of tools/stat/, linked into build/bin/ess-stat by
 * tools/stat.mk): what one look at the system holds, and the views that
 * print it.  Only libc and the segment reader (runtime/statshm.c) are used,
 * so the same files also build statically for the QEMU guest.
 */
#ifndef ESS_TOOLS_STAT_H
#define ESS_TOOLS_STAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ess/stat.h"
#include "uapi/ess.h"

#define STAT_SYSFS_DEFAULT "/sys/kernel/ess"

/* Top-level module files, in the order views print them. */
enum stat_knob {
	KNOB_ABI_VERSION,
	KNOB_PINNED_BYTES,
	KNOB_PINNED_CAP_BYTES,
	KNOB_NR_REGIONS,
	KNOB_AGGREGATION_INTERVAL_MS,
	KNOB_HEAT_DECAY_PCT,
	KNOB_HOT_THRESHOLD,
	KNOB_COLD_THRESHOLD,
	KNOB_NR
};
extern const char *const stat_knob_names[KNOB_NR];

/* Per-region files (numbers), in print order. */
enum stat_rfile {
	RF_BYTES,
	RF_PINNED_BYTES,
	RF_NODE,
	RF_OWNER,
	RF_USERS,
	RF_MAPPINGS,
	RF_HEAT_BLOCK_SIZE,
	RF_NR
};
extern const char *const stat_rfile_names[RF_NR];

struct stat_region {
	uint64_t id;
	char name[ESS_NAME_MAX];
	int64_t v[RF_NR];
	uint8_t have[RF_NR];		/* file present and parsed */
	uint64_t hist[ESS_HEAT_BUCKETS];
	int have_hist;
};

struct stat_module {
	int loaded;			/* the sysfs directory exists */
	char root[1024];
	int64_t knob[KNOB_NR];
	uint8_t have[KNOB_NR];
	struct stat_region *regions;	/* sorted by id */
	size_t nregions;
};

/* Read the module's sysfs tree at root.  0, or -errno with a message in
 * err for a failure other than "not loaded" (loaded = 0 then). */
int stat_module_read(const char *root, struct stat_module *m,
		     char *err, size_t errlen);
void stat_module_free(struct stat_module *m);

/* One look at everything. */
struct stat_sample {
	struct ess_stat_snapshot *procs;	/* live and stale */
	size_t nprocs;
	size_t nlive, nstale, nbad;
	uint64_t mono_ns;		/* CLOCK_MONOTONIC of the look */
	uint64_t real_ns;		/* CLOCK_REALTIME of the look */
	const char *dir;
	int dir_missing;		/* segment directory absent */
	struct stat_module mod;
};

struct stat_opts {
	const char *dir;		/* segment directory */
	const char *sysfs;		/* module sysfs root */
	int32_t pid;			/* 0: every process */
};

/* Take a sample; -errno with a message on a hard failure. */
int stat_sample_take(const struct stat_opts *o, struct stat_sample *s,
		     char *err, size_t errlen);
void stat_sample_free(struct stat_sample *s);

const char *stat_backend_name(uint32_t backend);
/* Scaled number: "950", "1.2k", "3.4M" (1000s), or with bytes set
 * "512B", "1.5K", "2.0G" (1024s). */
char *stat_human(char *buf, size_t len, double v, int bytes);

/* Views (view.c).  prev is the sample one interval before, or NULL for
 * the since-start line. */
void stat_vm_header(FILE *f);
void stat_vm_line(FILE *f, const struct stat_sample *cur,
		  const struct stat_sample *prev);
void stat_view_procs(FILE *f, const struct stat_sample *s);
void stat_view_module(FILE *f, const struct stat_sample *s);
void stat_view_heat(FILE *f, const struct stat_sample *s);
/* Misses per layer, summed over the live processes. */
void stat_view_layers(FILE *f, const struct stat_sample *s);

/* Machine formats (json.c, prom.c). */
void stat_json(FILE *f, const struct stat_sample *s);
void stat_prometheus(FILE *f, const struct stat_sample *s);

/* Serve /metrics on 127.0.0.1:port (http.c).  max_requests 0 = no bound.
 * Returns when a SIGINT/SIGTERM arrives or after max_requests; 0, or
 * -errno with a message. */
int stat_serve(const struct stat_opts *o, int port, unsigned long max_requests,
	       char *err, size_t errlen);
/* Set by the SIGINT/SIGTERM handler ess-stat installs. */
extern volatile int stat_stop;

#endif /* ESS_TOOLS_STAT_H */
