// SPDX-License-Identifier: MIT
/*
 * NVMe extent store input validation: every bad argument gets a clear
 * error and changes nothing (a written extent still reads back after all
 * the refused calls).
 */
#include <sys/stat.h>

#include "ess/nvme.h"
#include "nvme-tap.h"

static char path[256];

static int open_with(void (*edit)(struct ess_nvme_config *), char *err,
		     size_t errlen)
{
	struct ess_nvme_config cfg;
	ess_nvme *st = (ess_nvme *)&cfg;	/* must come back NULL */
	int ret;

	ess_nvme_config_default(&cfg);
	cfg.path = path;
	cfg.capacity_bytes = 1 << 20;
	edit(&cfg);
	ret = ess_nvme_open(&cfg, &st, err, errlen);
	if (ret == 0)
		ess_nvme_close(st);
	else if (st != NULL)
		return -99999;
	return ret;
}

static void bad_size(struct ess_nvme_config *c) { c->size = 4; }
static void bad_flags(struct ess_nvme_config *c) { c->flags |= 1u << 30; }
static void no_path(struct ess_nvme_config *c) { c->path = NULL; }
static void empty_path(struct ess_nvme_config *c) { c->path = ""; }
static void ext0(struct ess_nvme_config *c) { c->extent_bytes = 0; }
static void ext_big(struct ess_nvme_config *c) { c->extent_bytes = ESS_NVME_EXTENT_MAX + 1; }
static void qd0(struct ess_nvme_config *c) { c->queue_depth = 0; }
static void qd_big(struct ess_nvme_config *c) { c->queue_depth = ESS_NVME_QD_MAX + 1; }
static void cap0(struct ess_nvme_config *c) { c->capacity_bytes = 0; }
static void cap_small(struct ess_nvme_config *c) { c->capacity_bytes = 4096; c->extent_bytes = 8192; }
static void missing(struct ess_nvme_config *c) { c->path = "/nonexistent-dir/x"; }
static void not_file(struct ess_nvme_config *c) { c->path = "/dev/null"; }
static void no_create(struct ess_nvme_config *c) { c->flags = 0; c->path = "/var/tmp/ess-nvme-no-such-file"; }

static const struct {
	const char *what;
	void (*edit)(struct ess_nvme_config *);
	int err;
} bad_cfg[] = {
	{ "config size", bad_size, -EINVAL },
	{ "unknown flag", bad_flags, -EINVAL },
	{ "NULL path", no_path, -EINVAL },
	{ "empty path", empty_path, -EINVAL },
	{ "extent_bytes 0", ext0, -EINVAL },
	{ "extent_bytes over the maximum", ext_big, -EINVAL },
	{ "queue_depth 0", qd0, -EINVAL },
	{ "queue_depth over the maximum", qd_big, -EINVAL },
	{ "regular file without capacity", cap0, -EINVAL },
	{ "capacity below one slot", cap_small, -EINVAL },
	{ "missing directory", missing, -ENOENT },
	{ "character device", not_file, -EINVAL },
	{ "missing file without ESS_NVME_CREATE", no_create, -ENOENT },
};

#define NBAD (sizeof(bad_cfg) / sizeof(bad_cfg[0]))

int main(void)
{
	struct ess_nvme_config cfg;
	struct ess_nvme_cpl c;
	struct ess_nvme_stats s0, s1;
	ess_nvme *st = NULL;
	char why[512], err[256], data[4096], out[4096], big[8192];
	uint64_t slot, other, unalloc = 5;
	size_t i;
	int ret;

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan((int)NBAD + 16);
	for (i = 0; i < NBAD; i++) {
		err[0] = 0;
		ret = open_with(bad_cfg[i].edit, err, sizeof(err));
		tap_ok(ret == bad_cfg[i].err && err[0],
		       "open refuses %s: %d (%s)", bad_cfg[i].what, ret, err);
	}

	ess_nvme_config_default(&cfg);
	cfg.path = path;
	cfg.extent_bytes = sizeof(data);
	cfg.queue_depth = 2;
	cfg.capacity_bytes = 2 * 4096;
	ret = ess_nvme_open(&cfg, &st, err, sizeof(err));
	if (!tap_ok(ret == 0, "open a 2-slot store (%s)", ret ? err : "ok"))
		return 1;
	rng_fill(data, sizeof(data));
	ret = ess_nvme_alloc(st, &slot) || ess_nvme_alloc(st, &other) ||
	      ess_nvme_write(st, slot, data, sizeof(data), 0) ||
	      ess_nvme_reap(st, &c, 1, 1) != 1 || c.status;
	tap_ok(!ret, "write one extent");
	ess_nvme_stats_get(st, &s0);

	tap_ok(ess_nvme_alloc(st, &unalloc) == -ENOSPC && unalloc == 5,
	       "alloc past capacity: -ENOSPC, output untouched (%s)",
	       ess_nvme_errmsg(st));
	tap_ok(ess_nvme_write(st, 7, data, sizeof(data), 0) == -EINVAL,
	       "write to a slot never allocated: -EINVAL");
	tap_ok(ess_nvme_write(st, other, data, 0, 0) == -EINVAL &&
	       ess_nvme_write(st, other, big, sizeof(big), 0) == -EINVAL &&
	       ess_nvme_write(st, other, NULL, 1, 0) == -EINVAL,
	       "write of length 0, over extent_bytes, or from NULL: -EINVAL");
	tap_ok(ess_nvme_read(st, other, out, sizeof(out), 0, 0) == -ENODATA,
	       "read of a slot never written: -ENODATA (%s)", ess_nvme_errmsg(st));
	tap_ok(ess_nvme_read(st, slot, out, 100, 0, 0) == -EINVAL,
	       "read with a length other than the one written: -EINVAL (%s)",
	       ess_nvme_errmsg(st));
	tap_ok(ess_nvme_read(st, slot, out, sizeof(out), 1u << 7, 0) == -EINVAL,
	       "read with an unknown flag: -EINVAL");
	tap_ok(ess_nvme_inject(st, 3, 1, -EIO) == -EINVAL &&
	       ess_nvme_inject(st, ESS_NVME_OP_READ, 1, 5) == -EINVAL,
	       "inject with a bad op or a non-errno: -EINVAL");
	tap_ok(ess_nvme_reap(st, NULL, 1, 0) == -EINVAL &&
	       ess_nvme_register_memory(st, NULL, 10) == -EINVAL,
	       "reap into NULL, register NULL: -EINVAL");
	/* A read in flight pins its slot. */
	ret = ess_nvme_read(st, slot, out, sizeof(out), 0, 1);
	tap_ok(ret == 0 && ess_nvme_free(st, slot) == -EBUSY &&
	       ess_nvme_write(st, slot, data, sizeof(data), 0) == -EBUSY &&
	       ess_nvme_register_memory(st, big, sizeof(big)) == -EBUSY,
	       "free, write, register while a read is in flight: -EBUSY");
	tap_ok(ess_nvme_reap(st, &c, 1, 1) == 1 && c.status == 0 &&
	       !memcmp(out, data, sizeof(data)),
	       "the extent still reads back after the refused calls");
	ess_nvme_stats_get(st, &s1);
	tap_ok(s1.writes == s0.writes && s1.write_errors == 0 &&
	       s1.read_errors == 0 && s1.reads == 1 && s1.slots_used == 2,
	       "refused calls count nothing");
	tap_ok(ess_nvme_free(st, other) == 0 && ess_nvme_free(st, other) == -EINVAL,
	       "double free: -EINVAL");
	ess_nvme_close(st);

	/* ESS_NVME_PREALLOC reserves the whole capacity at open;
	 * ESS_NVME_NO_FIXED works without registered file or buffers. */
	{
		struct stat sb;
		int good;

		truncate(path, 0);
		cfg.flags = ESS_NVME_CREATE | ESS_NVME_PREALLOC | ESS_NVME_NO_FIXED;
		cfg.capacity_bytes = 64 * 4096;
		good = ess_nvme_open(&cfg, &st, err, sizeof(err)) == 0;
		tap_ok(good && stat(path, &sb) == 0 && sb.st_size == 64 * 4096 &&
		       sb.st_blocks * 512 >= 64 * 4096,
		       "PREALLOC: the file holds its 256 KiB at open (%s)",
		       good ? "ok" : err);
		good = good && ess_nvme_register_memory(st, data, sizeof(data)) == 1 &&
		       ess_nvme_alloc(st, &slot) == 0 &&
		       ess_nvme_write(st, slot, data, sizeof(data), 0) == 0 &&
		       ess_nvme_reap(st, &c, 1, 1) == 1 && c.status == 0 &&
		       ess_nvme_read(st, slot, out, sizeof(out), 0, 0) == 0 &&
		       ess_nvme_reap(st, &c, 1, 1) == 1 && c.status == 0 &&
		       !memcmp(out, data, sizeof(data));
		if (good)
			ess_nvme_stats_get(st, &s1);
		tap_ok(good && s1.fixed_ops == 0 && s1.fixed_files == 0,
		       "NO_FIXED: round trip without registered file or buffers");
		ess_nvme_close(st);
	}
	unlink(path);
	return tap_failed;
}
