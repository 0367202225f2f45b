/* SPDX-License-Identifier: MIT */
/*
 * The statistics segment: what a libess context publishes about itself so
 * that another process (ess-stat, an exporter, a debugger) can read it
 * without disturbing the engine.  Documentation/admin-guide/monitoring.md
 * describes it for operators.
 *
 * One file per context, "ess.<pid>.<ctx>" in the segment directory
 * ($ESS_STAT_DIR, default /dev/shm), mode 0644, at least segment_bytes long.
 * It is created under a temporary name and renamed into place once its
 * header is complete, so a reader that finds the name finds a full header.
 * It is removed when the context is destroyed.
 *
 * Liveness: the writing process holds a shared flock() on the file for the
 * context's life.  A reader that can take LOCK_EX | LOCK_NB on it knows the
 * writer is gone (the segment is stale); the probe fails at once while the
 * writer lives and never blocks it.  This survives pid reuse and works
 * across pid namespaces.
 *
 * Consistency: the writer keeps its counters in private memory and copies
 * them into the segment from time to time (at most every
 * $ESS_STAT_PERIOD_MS milliseconds, default 50, and at every
 * ess_stats_get()), with relaxed atomic 64-bit stores inside a sequence
 * lock: `seq` is odd while a copy is in progress.  A reader loads seq
 * (acquire), copies with relaxed 64-bit loads, fences (acquire) and loads
 * seq again; equal and even means a consistent snapshot (so, e.g.,
 * hits + misses == lookups holds in it).  Readers never write.
 *
 * Compatibility: fields are only ever appended.  A reader checks magic,
 * version (the same major layout), then uses counters_off/nr_counters and
 * layers_off/nr_layer_slots from the header, so an older reader reads a
 * newer segment's known prefix and a newer reader sees missing counters
 * as absent.
 */
#ifndef ESS_STAT_H
#define ESS_STAT_H

#include <stddef.h>
#include <stdint.h>

#include "ess/ess.h"

#ifdef __cplusplus
extern "C" {
#endif

/* "ESS-STAT" read as a little-endian 64-bit number. */
#define ESS_STAT_MAGIC		0x544154532d535345ULL
#define ESS_STAT_VERSION	1
#define ESS_STAT_DIR_DEFAULT	"/dev/shm"
#define ESS_STAT_PREFIX		"ess."
#define ESS_STAT_COMM_MAX	16
#define ESS_STAT_NAME_MAX	32

/*
 * Values in the segment, by index.  Counters only grow from context
 * creation; levels ("L") go up and down.  NVMe values come from the
 * context's tier (ess_tier_stats_get) and are 0 without one.
 */
enum ess_stat_id {
	ESS_STAT_RESOLVES,		/* (request, layer) top-k lists resolved */
	ESS_STAT_LOOKUPS,		/* valid top-k entries resolved */
	ESS_STAT_HITS,			/* entries found in the hot buffer */
	ESS_STAT_MISSES,		/* entries fetched from the host pool */
	ESS_STAT_EVICTIONS,		/* rows replaced in the hot buffer */
	ESS_STAT_APPENDS,		/* decode rows appended */
	ESS_STAT_INGESTED,		/* prefill rows ingested */
	ESS_STAT_WARMUPS,		/* rows loaded by warm-up */
	ESS_STAT_BYTES_H2D,		/* host pool -> hot buffer */
	ESS_STAT_BYTES_D2H,		/* hot buffer / device -> host pool */
	ESS_STAT_FETCH_NS,		/* time spent fetching misses (CUDA:
					 * GPU time of the management and
					 * fetch kernels) */
	ESS_STAT_DATA_CHECKS,		/* slots compared in data-check mode */
	ESS_STAT_DATA_CHECK_FAILURES,
	ESS_STAT_REQUESTS_ADDED,
	ESS_STAT_REQUESTS_REMOVED,
	ESS_STAT_HEAT_REPORTS,		/* heat block accesses sent to /dev/ess */
	ESS_STAT_HEAT_REPORT_ERRORS,	/* heat batches the module refused */
	ESS_STAT_NVME_READS,		/* extents read back from the NVMe tier
					 * (0 without a tier, as the next 3) */
	ESS_STAT_NVME_WRITES,		/* extents written to the NVMe tier */
	ESS_STAT_NVME_READ_BYTES,
	ESS_STAT_NVME_WRITE_BYTES,
	ESS_STAT_PIN_FAILURES,		/* host memory that could not be pinned
					 * (locked); 1 per failed pool lock */
	ESS_STAT_POOL_BYTES,		/* L: DRAM tier (host pool) size */
	ESS_STAT_POOL_USED_BYTES,	/* L: DRAM tier extents in use */
	ESS_STAT_PINNED_BYTES,		/* L: host pool bytes pinned (locked) */
	ESS_STAT_HOT_BYTES,		/* L: GPU tier (hot buffer) size */
	ESS_STAT_HOT_USED_BYTES,	/* L: hot-buffer slots holding a row
					 * x entry_bytes (ess_stats
					 * .hot_used_bytes) */
	ESS_STAT_NVME_BYTES,		/* L: NVMe tier capacity (extent bytes) */
	ESS_STAT_NVME_USED_BYTES,	/* L: extent bytes only on NVMe */
	ESS_STAT_REQUESTS_ACTIVE,	/* L: requests resident now */
	ESS_STAT_NR
};

enum ess_stat_kind {
	ESS_STAT_COUNTER = 0,
	ESS_STAT_LEVEL = 1,
};

/* Name (lower case, [a-z0-9_]), kind, unit and one line of help for each
 * value, indexed by enum ess_stat_id. */
struct ess_stat_field {
	const char *name;
	enum ess_stat_kind kind;
	const char *unit;	/* "", "bytes", "ns" */
	const char *help;
};
extern const struct ess_stat_field ess_stat_fields[ESS_STAT_NR];

/* Header, written once before the segment is published; 256 bytes. */
struct ess_stat_header {
	uint64_t magic;			/* ESS_STAT_MAGIC */
	uint32_t version;		/* ESS_STAT_VERSION */
	uint32_t header_bytes;		/* sizeof(struct ess_stat_header) */
	uint64_t segment_bytes;		/* bytes of the layout (file may be
					 * longer: page-rounded) */
	uint32_t seq_off;		/* offset of uint64 seq, update_ns */
	uint32_t counters_off;		/* offset of uint64 counters[] */
	uint32_t nr_counters;		/* entries of counters[] */
	uint32_t layers_off;		/* offset of uint64 layer_misses[] */
	uint32_t nr_layer_slots;	/* entries of layer_misses[] */
	int32_t pid;			/* writing process */
	uint32_t ctx_id;		/* context number in that process */
	uint32_t backend;		/* enum ess_backend_kind */
	int32_t device;			/* CUDA device ordinal (CPU: -1) */
	uint32_t layers;		/* layers in use (<= nr_layer_slots) */
	uint32_t entry_bytes;
	uint32_t topk;
	uint32_t slots;
	uint32_t max_requests;
	uint32_t max_tokens;
	uint32_t reserved0;
	uint64_t start_ns;		/* CLOCK_REALTIME at creation */
	char comm[ESS_STAT_COMM_MAX];	/* process name, NUL-terminated */
	char policy[ESS_STAT_NAME_MAX];	/* replacement policy */
	char pool[ESS_STAT_NAME_MAX];	/* host pool provider */
	uint64_t reserved[10];		/* 0 */
};

/* The whole layout of version 1. */
struct ess_stat_segment {
	struct ess_stat_header hdr;
	uint64_t seq;			/* sequence lock, odd while writing */
	uint64_t update_ns;		/* CLOCK_REALTIME of the last copy */
	uint64_t counters[ESS_STAT_NR];
	uint64_t layer_misses[ESS_MAX_LAYERS];
};

/* ---- reading (ess-stat and other readers; never disturbs the writer) ---- */

enum ess_stat_state {
	ESS_STAT_LIVE = 0,	/* the writer holds the segment */
	ESS_STAT_STALE = 1,	/* the writer is gone without removing it */
};

/* One consistent copy of a segment. */
struct ess_stat_snapshot {
	struct ess_stat_header hdr;
	uint64_t update_ns;
	uint64_t v[ESS_STAT_NR];	/* absent values read as 0 */
	uint32_t nr_values;		/* values the writer provided */
	uint64_t layer_misses[ESS_MAX_LAYERS];
	enum ess_stat_state state;
	int torn;			/* no consistent copy after retries */
	char name[64];			/* file name in the directory */
};

/* The segment directory: $ESS_STAT_DIR if set and not empty, else
 * ESS_STAT_DIR_DEFAULT. */
const char *ess_stat_dir(void);

/* Is this a segment file name ("ess.<pid>.<ctx>")?  Fills pid and ctx. */
int ess_stat_name_parse(const char *name, int32_t *pid, uint32_t *ctx);

/*
 * Read one segment (path of the file).  0, or a negative errno with a
 * message in err: -ENOENT gone, -EPROTO not a segment (bad magic, size,
 * offsets), -EPROTONOSUPPORT another major version.
 */
int ess_stat_read(const char *path, struct ess_stat_snapshot *snap,
		  char *err, size_t errlen);

/*
 * Read every segment of dir, sorted by pid then ctx.  *out is malloc'ed
 * (free() it), *n the count.  Files that vanish or are not valid segments
 * are skipped; *bad (if not NULL) counts the invalid ones.  -errno with a
 * message when dir cannot be read (-ENOENT: it does not exist).
 */
int ess_stat_list(const char *dir, struct ess_stat_snapshot **out, size_t *n,
		  size_t *bad, char *err, size_t errlen);

/* Remove the stale segments of dir (those no writer holds).  Returns the
 * number removed, or a negative errno with a message. */
int ess_stat_gc(const char *dir, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* ESS_STAT_H */
