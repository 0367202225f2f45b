/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ESS kernel <-> user ABI for /dev/ess.
 *
 * One open file of /dev/ess is bound to at most one region: ESS_IOC_CREATE
 * or ESS_IOC_ATTACH binds it, mmap() of the file maps the bound region
 * (MAP_SHARED, offset 0 .. region size), and the binding ends when the file
 * is released.  A process that wants several regions opens /dev/ess once per
 * region.
 *
 * A region is bound to at most one open file at a time.  ESS_IOC_ATTACH of
 * a named region that another open file holds (its creator's, or one that
 * attached it) fails with -EBUSY: two holders would overwrite each other's
 * rows.  The holder is the open file, shared by dup(), fork() and fd
 * passing like any open file; it lets go when the file is released: after
 * its last close() and the munmap() of its last mapping (a mapping keeps
 * the file), or when its process exits or is killed.
 *
 * Every argument struct begins with its own size (callers set it to
 * sizeof(struct ...)); the kernel rejects a size it does not know with
 * -EINVAL, unknown flags with -EINVAL, and non-zero reserved fields with
 * -EINVAL.  Unknown commands return -ENOTTY.  Pointers travel as __u64.
 */
#ifndef _UAPI_LINUX_ESS_H
#define _UAPI_LINUX_ESS_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define ESS_ABI_VERSION		1
#define ESS_DEVICE_PATH		"/dev/ess"

/* Regions are made of physically contiguous blocks of this size. */
#define ESS_BLOCK_SHIFT		21
#define ESS_BLOCK_SIZE		(1ULL << ESS_BLOCK_SHIFT)

/* Heat blocks: power of two, from 4 KiB up to one region block. */
#define ESS_HEAT_SHIFT_MIN	12
#define ESS_HEAT_SHIFT_MAX	ESS_BLOCK_SHIFT

/* Names: printable ASCII except '/', NUL-terminated, at most 63 chars. */
#define ESS_NAME_MAX		64

/* Heat histogram: bucket 0 holds heat 0, bucket i (i >= 1) holds
 * heat in [2^(i-1), 2^i), the last bucket also holds everything above.
 */
#define ESS_HEAT_BUCKETS	32

/* Largest batch accepted by one ESS_IOC_HEAT_REPORT or ESS_IOC_HEAT_READ. */
#define ESS_HEAT_BATCH_MAX	(1U << 20)

/* ess_create.flags */
#define ESS_CREATE_NAMED	(1U << 0) /* persistent, attachable by name */
#define ESS_CREATE_NODE		(1U << 1) /* place on .node (else caller's) */
/*
 * Heat of this region is aggregated only by ESS_IOC_HEAT_TICK, never by the
 * periodic worker: for tests and tools that need exact, timing-independent
 * heat arithmetic.
 */
#define ESS_CREATE_HEAT_MANUAL	(1U << 2)
#define ESS_CREATE_FLAGS	(ESS_CREATE_NAMED | ESS_CREATE_NODE | \
				 ESS_CREATE_HEAT_MANUAL)

struct ess_create {
	__u32 size;		/* in: sizeof(struct ess_create) */
	__u32 flags;		/* in: ESS_CREATE_* */
	__u64 bytes;		/* in: region size, multiple of ESS_BLOCK_SIZE */
	__s32 node;		/* in: NUMA node with ESS_CREATE_NODE, else 0 */
	__u32 heat_shift;	/* in: log2 heat block size, 12..21 */
	char name[ESS_NAME_MAX]; /* in: with ESS_CREATE_NAMED, else all 0 */
	__u64 id;		/* out: region id (also its sysfs dir name) */
	__s32 node_out;		/* out: node the blocks were placed on */
	__u32 reserved0;	/* must be 0 */
	__u64 reserved[4];	/* must be 0 */
};

/*
 * Attach the file to an existing named region, exclusively: -EBUSY while
 * another open file holds it (see the top of this file).
 */
struct ess_attach {
	__u32 size;		/* in: sizeof(struct ess_attach) */
	__u32 flags;		/* in: must be 0 */
	char name[ESS_NAME_MAX]; /* in: region name */
	__u64 id;		/* out: region id */
	__u64 bytes;		/* out: region size */
	__u64 reserved[4];	/* must be 0 */
};

/*
 * Destroy a named region: its name is removed at once (so it can no longer
 * be attached and the name can be reused) and its memory is freed when its
 * last user goes, which is at once if it has none.  Only the owner or
 * CAP_SYS_ADMIN may destroy it.
 */
struct ess_destroy {
	__u32 size;		/* in: sizeof(struct ess_destroy) */
	__u32 flags;		/* in: must be 0 */
	char name[ESS_NAME_MAX]; /* in: region name */
	__u64 reserved[4];	/* must be 0 */
};

/* ess_info.flags (out) */
#define ESS_INFO_NAMED		(1U << 0)
#define ESS_INFO_DESTROYED	(1U << 1) /* destroyed, freed at last user */

/* Query the region bound to this file. */
struct ess_info {
	__u32 size;		/* in: sizeof(struct ess_info) */
	__u32 flags;		/* out: ESS_INFO_* */
	__u64 id;		/* out */
	__u64 bytes;		/* out */
	__s32 node;		/* out */
	__u32 nr_blocks;	/* out: ESS_BLOCK_SIZE blocks */
	__u32 heat_shift;	/* out */
	__u32 nr_heat_blocks;	/* out */
	__u32 owner_uid;	/* out: uid in the caller's user namespace */
	__u32 users;		/* out: files bound to the region (0 or 1) */
	__u32 mappings;		/* out: live VMAs of the region */
	__u32 reserved0;	/* out: 0 */
	char name[ESS_NAME_MAX]; /* out: "" for an anonymous region */
	__u64 reserved[4];	/* in: must be 0 */
};

/*
 * Report accesses: .addr points to .nr __u32 heat block indices, each one
 * access (repeats count repeatedly).  Any index >= nr_heat_blocks fails the
 * whole batch with -EINVAL and counts nothing.
 */
struct ess_heat_report {
	__u32 size;		/* in: sizeof(struct ess_heat_report) */
	__u32 flags;		/* in: must be 0 */
	__u64 addr;		/* in: user pointer to __u32[nr] */
	__u32 nr;		/* in: 1 .. ESS_HEAT_BATCH_MAX */
	__u32 reserved0;	/* must be 0 */
	__u64 reserved[2];	/* must be 0 */
};

/*
 * Aggregation rule, applied to every heat block of every region once per
 * aggregation interval (sysfs aggregation_interval_ms; regions created with
 * ESS_CREATE_HEAT_MANUAL excepted) and by ESS_IOC_HEAT_TICK:
 *
 *	heat    = heat - ceil(heat * heat_decay_pct / 100) + pending
 *		  (64-bit arithmetic, the loss rounded up so that the heat
 *		  of an idle block reaches 0 for any decay > 0; saturating
 *		  at U32_MAX)
 *	age     = pending ? 0 : age + 1	(saturating at U32_MAX)
 *	pending = 0
 *
 * A pass folds the blocks in ascending order, a batch at a time, while
 * reports keep arriving: an access is taken by exactly one pass (the
 * first to fold its block after the report), so none is lost or counted
 * twice; a reader during a pass may see the lower blocks aged already.
 */
struct ess_heat_entry {
	__u32 block;		/* heat block index */
	__u32 heat;		/* aged heat (see aggregation rule in docs) */
	__u32 age;		/* aggregation intervals without an access */
	__u32 pending;		/* accesses reported since the last aggregation */
};

/* ess_heat_read.flags: exactly one of these */
#define ESS_HEAT_HOTTEST	(1U << 0) /* descending heat, then block index */
#define ESS_HEAT_COLDEST	(1U << 1) /* ascending heat, then age desc, block */

/* Read the hottest or coldest blocks into .addr (struct ess_heat_entry[nr]). */
struct ess_heat_read {
	__u32 size;		/* in: sizeof(struct ess_heat_read) */
	__u32 flags;		/* in: ESS_HEAT_HOTTEST or ESS_HEAT_COLDEST */
	__u64 addr;		/* in: user pointer to struct ess_heat_entry[nr] */
	__u32 nr;		/* in: capacity 1 .. ESS_HEAT_BATCH_MAX; out: filled */
	__u32 reserved0;	/* must be 0 */
	__u64 reserved[2];	/* must be 0 */
};

/* Heat histogram of the bound region, as of the last aggregation. */
struct ess_heat_hist {
	__u32 size;		/* in: sizeof(struct ess_heat_hist) */
	__u32 flags;		/* in: must be 0 */
	__u64 interval;		/* out: aggregations done on this region */
	__u32 hot;		/* out: blocks with heat >= hot_threshold */
	__u32 cold;		/* out: blocks with heat <= cold_threshold */
	__u32 buckets[ESS_HEAT_BUCKETS]; /* out */
	__u64 reserved[2];	/* must be 0 */
};

/*
 * Run one aggregation pass on the bound region now, synchronously (the
 * periodic worker keeps running too).  For tests and for callers that want
 * the heat of their last report folded in before they read it.
 */
struct ess_heat_tick {
	__u32 size;		/* in: sizeof(struct ess_heat_tick) */
	__u32 flags;		/* in: must be 0 */
	__u64 reserved[2];	/* must be 0 */
};

/*
 * Errors (Documentation/admin-guide/ioctl.md has the full list per ioctl).
 * Argument checks come first, in this order: EFAULT (argument not
 * readable), EINVAL (size, flags, reserved fields, ranges, names); then:
 *   EBUSY	CREATE/ATTACH on a file already bound to a region; ATTACH
 *		of a named region another open file holds (after EPERM)
 *   ENXIO	INFO, HEAT_* or mmap() on a file bound to no region
 *   EEXIST	CREATE of a name a live, not destroyed region has
 *   ENOENT	ATTACH/DESTROY of a name no live region has
 *   EPERM	ATTACH/DESTROY of another user's region without CAP_SYS_ADMIN
 *   ENOSPC	CREATE over the global cap (sysfs pinned_cap_bytes)
 *   ENOMEM	CREATE over RLIMIT_MEMLOCK (without CAP_IPC_LOCK), or out of
 *		memory (no free 2 MiB blocks on the node)
 *   EINTR	CREATE interrupted by a fatal signal; nothing is left behind
 *   ENOTTY	unknown command
 */
#define ESS_IOC_MAGIC		0xE5
#define ESS_IOC_CREATE		_IOWR(ESS_IOC_MAGIC, 0x01, struct ess_create)
#define ESS_IOC_ATTACH		_IOWR(ESS_IOC_MAGIC, 0x02, struct ess_attach)
#define ESS_IOC_DESTROY		_IOW(ESS_IOC_MAGIC, 0x03, struct ess_destroy)
#define ESS_IOC_INFO		_IOWR(ESS_IOC_MAGIC, 0x04, struct ess_info)
#define ESS_IOC_HEAT_REPORT	_IOW(ESS_IOC_MAGIC, 0x10, struct ess_heat_report)
#define ESS_IOC_HEAT_READ	_IOWR(ESS_IOC_MAGIC, 0x11, struct ess_heat_read)
#define ESS_IOC_HEAT_HIST	_IOWR(ESS_IOC_MAGIC, 0x12, struct ess_heat_hist)
#define ESS_IOC_HEAT_TICK	_IOW(ESS_IOC_MAGIC, 0x13, struct ess_heat_tick)

#endif /* _UAPI_LINUX_ESS_H */
