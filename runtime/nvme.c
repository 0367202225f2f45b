// SPDX-License-Identifier: MIT
/*
 * NVMe extent store: fixed-size slots on a file or block device, O_DIRECT
 * I/O through io_uring, CRC32C (ISA-L) per extent.  See include/ess/nvme.h
 * for the contract and Documentation/dev/nvme.md for the design.
 *
 * Bookkeeping in one picture:
 *   slots[]   one entry per slot ever handed out (grows by doubling):
 *             state FREE / EMPTY (allocated, nothing readable) / VALID
 *             (a verified write completed: len and crc recorded)
 *   ops[]     queue_depth operation records; user_data of an SQE is the
 *             index of its record, so a CQE finds its buffer, slot and CRC
 *   done[]    finished operations the caller has not reaped yet
 *   bounce    queue_depth buffers of slot_bytes (registered), one per op
 *             record, for buffers O_DIRECT cannot take directly
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <isa-l/crc.h>

#include "ess/nvme.h"

#define MAX_RANGES 15	/* caller ranges; registered index 0 is the bounce area */
#define ERRMSG_LEN 256

enum slot_state { SLOT_FREE = 0, SLOT_EMPTY = 1, SLOT_VALID = 2 };

struct slot_meta {
	uint32_t crc;
	uint32_t len;
	uint8_t state;
	uint8_t busy;	/* operations in flight on this slot */
};

struct op {
	uint64_t slot;
	uint64_t tag;
	void *buf;		/* the caller's buffer */
	void *iobuf;		/* what the kernel reads or writes */
	uint32_t len;		/* extent bytes */
	uint32_t iolen;		/* len rounded up to the block size */
	uint32_t kind;		/* enum ess_nvme_op, 0 = record free */
	uint32_t flags;
	uint32_t crc;		/* write: CRC of the data at submission */
	int32_t next_free;
	bool bounced;
	bool held;		/* read done, record kept for ess_nvme_verify */
};

struct range {
	char *base;
	size_t len;
	int buf_index;		/* registered index, -1 if not registered */
};

struct ess_nvme {
	struct ess_nvme_config cfg;
	char *path;
	int fd;
	bool is_blkdev;
	bool fixed_file;
	bool fixed_bufs;	/* the bounce area (index 0) is registered */
	uint32_t block_bytes;	/* logical block: offset and length unit */
	uint32_t mem_align;	/* O_DIRECT buffer address alignment */
	uint32_t slot_bytes;
	uint64_t nslots;	/* capacity */

	struct io_uring ring;
	bool ring_ok;
	bool defer_taskrun;	/* completions post only when we enter */

	struct slot_meta *slots;
	uint64_t slots_high;	/* slots[0..high) have been handed out once */
	uint64_t slots_cap;
	uint64_t *free_ids;	/* freed slots below high, a stack */
	uint64_t nfree_ids;
	uint64_t free_cap;

	struct op *ops;
	int32_t op_free;	/* head of the free list of op records */
	unsigned int queued;	/* SQEs prepared, not submitted */
	unsigned int inflight;	/* submitted, CQE not seen */
	unsigned int held;	/* reads reaped raw, awaiting ess_nvme_verify */
	bool defer_verify;	/* inside ess_nvme_reap_raw */

	struct ess_nvme_cpl *done;
	size_t done_head, done_count, done_cap;	/* ring buffer */

	char *bounce;
	size_t bounce_len;
	void *bounce_map;	/* the mapping bounce lies in, for munmap */
	size_t bounce_map_len;
	struct range ranges[MAX_RANGES];
	int nranges;

	uint32_t inject_op;
	uint64_t inject_nth;
	int inject_err;

	struct ess_nvme_stats st;
	char errmsg[ERRMSG_LEN];
};

static int fail(struct ess_nvme *st, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ess_nvme *st, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->errmsg, sizeof(st->errmsg), fmt, ap);
	va_end(ap);
	return err;
}

uint32_t ess_nvme_crc32c(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t crc = 0xffffffffu;

	/* crc32_iscsi takes an int length: feed it in bounded pieces. */
	while (len) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		crc = crc32_iscsi((unsigned char *)p, (int)n, crc);
		p += n;
		len -= n;
	}
	return ~crc;
}

void ess_nvme_config_default(struct ess_nvme_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->flags = ESS_NVME_CREATE;
	cfg->extent_bytes = 64u << 10;
	cfg->queue_depth = 32;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

/* Logical block size and memory alignment O_DIRECT needs on this fd. */
static int probe_geometry(struct ess_nvme *st, const struct stat *sb)
{
	if (S_ISBLK(sb->st_mode)) {
		int lbs = 0;
		uint64_t bytes = 0;

		if (ioctl(st->fd, BLKSSZGET, &lbs) < 0 || lbs <= 0)
			return fail(st, -errno ? -errno : -EIO,
				    "%s: cannot read the logical block size: %s",
				    st->path, strerror(errno));
		if (ioctl(st->fd, BLKGETSIZE64, &bytes) < 0)
			return fail(st, -errno, "%s: cannot read the device size: %s",
				    st->path, strerror(errno));
		st->is_blkdev = true;
		st->block_bytes = (uint32_t)lbs;
		st->mem_align = (uint32_t)lbs;
		if (!st->cfg.capacity_bytes)
			st->cfg.capacity_bytes = bytes;
		if (st->cfg.capacity_bytes > bytes)
			return fail(st, -EINVAL,
				    "%s: capacity %llu exceeds the device's %llu bytes",
				    st->path,
				    (unsigned long long)st->cfg.capacity_bytes,
				    (unsigned long long)bytes);
		return 0;
	}
	if (!S_ISREG(sb->st_mode))
		return fail(st, -EINVAL, "%s: neither a regular file nor a block device",
			    st->path);
	if (!st->cfg.capacity_bytes)
		return fail(st, -EINVAL, "%s: a regular file needs capacity_bytes",
			    st->path);
	st->block_bytes = 4096;
	st->mem_align = 4096;
#ifdef STATX_DIOALIGN
	{
		struct statx sx;

		if (statx(st->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
		    (sx.stx_mask & STATX_DIOALIGN)) {
			if (!sx.stx_dio_offset_align)
				return fail(st, -EOPNOTSUPP,
					    "%s: the file system does not support O_DIRECT",
					    st->path);
			st->block_bytes = sx.stx_dio_offset_align;
			st->mem_align = sx.stx_dio_mem_align ?
					sx.stx_dio_mem_align : 1;
		}
	}
#endif
	return 0;
}

/* (Re)register the bounce area and the caller ranges as fixed buffers. */
static int register_buffers(struct ess_nvme *st)
{
	struct iovec iov[MAX_RANGES + 1];
	int n = 0, i, ret;

	if (st->cfg.flags & ESS_NVME_NO_FIXED)
		return 1;
	if (st->fixed_bufs)
		io_uring_unregister_buffers(&st->ring);
	st->fixed_bufs = false;
	for (i = 0; i < st->nranges; i++)
		st->ranges[i].buf_index = -1;

	iov[n].iov_base = st->bounce;
	iov[n++].iov_len = st->bounce_len;
	for (i = 0; i < st->nranges; i++) {
		iov[n].iov_base = st->ranges[i].base;
		iov[n++].iov_len = st->ranges[i].len;
	}
	ret = io_uring_register_buffers(&st->ring, iov, (unsigned int)n);
	if (ret == 0) {
		st->fixed_bufs = true;
		for (i = 0; i < st->nranges; i++)
			st->ranges[i].buf_index = i + 1;
		return 0;
	}
	/* Over the memlock limit most likely: try the bounce area alone. */
	if (st->nranges &&
	    io_uring_register_buffers(&st->ring, iov, 1) == 0)
		st->fixed_bufs = true;
	return 1;
}

#define HUGE_BYTES (2u << 20)

/*
 * The bounce area.  From 2 MiB up it sits on 2 MiB boundaries and is
 * advised MADV_HUGEPAGE, so that each buffer in it is physically
 * contiguous and an I/O through it is one segment: on a virtual disk every
 * extra segment of a request costs the host time (Documentation/dev/nvme.md,
 * "Queue depth 1, second look").  A smaller area is not worth a huge page.
 */
static int map_bounce(struct ess_nvme *st)
{
	size_t span = (st->bounce_len + HUGE_BYTES - 1) / HUGE_BYTES * HUGE_BYTES;
	bool huge = st->bounce_len >= HUGE_BYTES;
	char *m;

	st->bounce_map_len = huge ? span + HUGE_BYTES : st->bounce_len;
	m = mmap(NULL, st->bounce_map_len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return fail(st, -ENOMEM, "cannot map %zu bytes of I/O buffers",
			    st->bounce_len);
	st->bounce_map = m;
	st->bounce = m;
	if (huge) {
		st->bounce = (char *)(((uintptr_t)m + HUGE_BYTES - 1) &
				      ~(uintptr_t)(HUGE_BYTES - 1));
		/* A hint: without THP the area is plain pages and works. */
		(void)madvise(st->bounce, span, MADV_HUGEPAGE);
	}
	return 0;
}

/*
 * Completions run their task work when the store next enters the kernel
 * (COOP_TASKRUN) instead of interrupting the thread at each one; older
 * kernels refuse the flag, then the ring is made without it.
 */
static int ring_init(struct ess_nvme *st, unsigned int entries)
{
	/* DEFER_TASKRUN (Linux 6.1) only with ESS_NVME_ONE_THREAD: the ring
	 * then belongs to the opening thread. */
	static const unsigned int tries[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		0,
	};
	struct io_uring_params p;
	int ret = -EINVAL;
	size_t i = (st->cfg.flags & ESS_NVME_ONE_THREAD) ? 0 : 1;

	for (; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i];
		ret = io_uring_queue_init_params(entries, &st->ring, &p);
		if (ret != -EINVAL)
			break;
	}
	if (ret == 0)
		st->defer_taskrun = !!(p.flags & IORING_SETUP_DEFER_TASKRUN);
	return ret;
}

int ess_nvme_open(const struct ess_nvme_config *cfg, ess_nvme **out,
		  char *errmsg, size_t errmsg_len)
{
	struct ess_nvme *st;
	struct stat sb;
	int oflags = O_RDWR | O_DIRECT | O_CLOEXEC;
	int ret = 0, i;

	if (out)
		*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st) {
		if (errmsg && errmsg_len)
			snprintf(errmsg, errmsg_len, "out of memory");
		return -ENOMEM;
	}
	st->fd = -1;
	st->op_free = -1;

	if (!out || !cfg) {
		ret = fail(st, -EINVAL, "NULL argument");
		goto err;
	}
	if (cfg->size != sizeof(*cfg)) {
		ret = fail(st, -EINVAL, "config size %u, expected %zu",
			   cfg->size, sizeof(*cfg));
		goto err;
	}
	if (cfg->flags & ~ESS_NVME_FLAGS) {
		ret = fail(st, -EINVAL, "unknown flags 0x%x",
			   cfg->flags & ~ESS_NVME_FLAGS);
		goto err;
	}
	if (!cfg->path || !cfg->path[0]) {
		ret = fail(st, -EINVAL, "no path given");
		goto err;
	}
	if (!cfg->extent_bytes || cfg->extent_bytes > ESS_NVME_EXTENT_MAX) {
		ret = fail(st, -EINVAL, "extent_bytes %u outside 1..%u",
			   cfg->extent_bytes, ESS_NVME_EXTENT_MAX);
		goto err;
	}
	if (!cfg->queue_depth || cfg->queue_depth > ESS_NVME_QD_MAX) {
		ret = fail(st, -EINVAL, "queue_depth %u outside 1..%u",
			   cfg->queue_depth, ESS_NVME_QD_MAX);
		goto err;
	}
	st->cfg = *cfg;
	st->path = strdup(cfg->path);
	if (!st->path) {
		ret = fail(st, -ENOMEM, "out of memory");
		goto err;
	}
	st->cfg.path = st->path;

	if (cfg->flags & ESS_NVME_CREATE)
		oflags |= O_CREAT;
	st->fd = open(st->path, oflags, 0600);
	if (st->fd < 0) {
		ret = -errno;
		if (errno == EINVAL)
			fail(st, ret, "%s: cannot open with O_DIRECT (the file system does not support it?)",
			     st->path);
		else
			fail(st, ret, "%s: open: %s", st->path, strerror(errno));
		goto err;
	}
	if (fstat(st->fd, &sb) < 0) {
		ret = fail(st, -errno, "%s: fstat: %s", st->path, strerror(errno));
		goto err;
	}
	ret = probe_geometry(st, &sb);
	if (ret)
		goto err;
	st->slot_bytes = (uint32_t)round_up(cfg->extent_bytes,
					    st->block_bytes > 4096 ?
					    st->block_bytes : 4096);
	st->nslots = st->cfg.capacity_bytes / st->slot_bytes;
	if (!st->nslots) {
		ret = fail(st, -EINVAL, "%s: capacity %llu holds no slot of %u bytes",
			   st->path, (unsigned long long)st->cfg.capacity_bytes,
			   st->slot_bytes);
		goto err;
	}
	if ((cfg->flags & ESS_NVME_PREALLOC) && !st->is_blkdev &&
	    fallocate(st->fd, 0, 0, (off_t)(st->nslots * st->slot_bytes)) < 0) {
		ret = fail(st, -errno, "%s: fallocate %llu bytes: %s", st->path,
			   (unsigned long long)(st->nslots * st->slot_bytes),
			   strerror(errno));
		goto err;
	}

	ret = ring_init(st, cfg->queue_depth);
	if (ret < 0) {
		fail(st, ret, "io_uring_queue_init(%u): %s", cfg->queue_depth,
		     strerror(-ret));
		goto err;
	}
	st->ring_ok = true;
	if (!(cfg->flags & ESS_NVME_NO_FIXED) &&
	    io_uring_register_files(&st->ring, &st->fd, 1) == 0)
		st->fixed_file = true;

	st->ops = calloc(cfg->queue_depth, sizeof(*st->ops));
	st->done_cap = cfg->queue_depth;
	st->done = calloc(st->done_cap, sizeof(*st->done));
	if (!st->ops || !st->done) {
		ret = fail(st, -ENOMEM, "out of memory");
		goto err;
	}
	for (i = (int)cfg->queue_depth - 1; i >= 0; i--) {
		st->ops[i].next_free = st->op_free;
		st->op_free = i;
	}
	st->bounce_len = (size_t)cfg->queue_depth * st->slot_bytes;
	ret = map_bounce(st);
	if (ret)
		goto err;
	register_buffers(st);
	st->st.slots_total = st->nslots;
	st->st.fixed_files = st->fixed_file;
	*out = st;
	return 0;
err:
	if (errmsg && errmsg_len)
		snprintf(errmsg, errmsg_len, "%s", st->errmsg);
	ess_nvme_close(st);
	return ret;
}

const char *ess_nvme_errmsg(const ess_nvme *st)
{
	return st ? st->errmsg : "no store";
}

uint32_t ess_nvme_slot_bytes(const ess_nvme *st)
{
	return st->slot_bytes;
}

uint32_t ess_nvme_block_bytes(const ess_nvme *st)
{
	return st->block_bytes;
}

uint64_t ess_nvme_capacity_slots(const ess_nvme *st)
{
	return st->nslots;
}

int ess_nvme_register_memory(ess_nvme *st, void *base, size_t len)
{
	if (!st || !base || !len)
		return -EINVAL;
	if (st->queued || st->inflight)
		return fail(st, -EBUSY, "register_memory: operations in flight");
	if (st->nranges == MAX_RANGES)
		return fail(st, -ENOSPC, "register_memory: %d ranges already",
			    MAX_RANGES);
	if ((uintptr_t)base + len < (uintptr_t)base)
		return fail(st, -EINVAL, "register_memory: range wraps");
	st->ranges[st->nranges].base = base;
	st->ranges[st->nranges].len = len;
	st->ranges[st->nranges].buf_index = -1;
	st->nranges++;
	return register_buffers(st);
}

/* Slot table. */

static int slot_check(const struct ess_nvme *st, uint64_t slot)
{
	if (slot >= st->slots_high || st->slots[slot].state == SLOT_FREE)
		return -EINVAL;
	return 0;
}

int ess_nvme_alloc(ess_nvme *st, uint64_t *slot)
{
	uint64_t s;

	if (!st || !slot)
		return -EINVAL;
	if (st->nfree_ids) {
		s = st->free_ids[--st->nfree_ids];
	} else {
		if (st->slots_high == st->nslots)
			return fail(st, -ENOSPC, "all %llu slots in use",
				    (unsigned long long)st->nslots);
		if (st->slots_high == st->slots_cap) {
			uint64_t cap = st->slots_cap ? st->slots_cap * 2 : 1024;
			struct slot_meta *n;

			if (cap > st->nslots)
				cap = st->nslots;
			n = realloc(st->slots, cap * sizeof(*n));
			if (!n)
				return fail(st, -ENOMEM, "out of memory");
			st->slots = n;
			st->slots_cap = cap;
		}
		s = st->slots_high++;
	}
	memset(&st->slots[s], 0, sizeof(st->slots[s]));
	st->slots[s].state = SLOT_EMPTY;
	st->st.slots_used++;
	*slot = s;
	return 0;
}

int ess_nvme_free(ess_nvme *st, uint64_t slot)
{
	if (!st)
		return -EINVAL;
	if (slot_check(st, slot))
		return fail(st, -EINVAL, "free: slot %llu is not allocated",
			    (unsigned long long)slot);
	if (st->slots[slot].busy)
		return fail(st, -EBUSY, "free: slot %llu has I/O in flight",
			    (unsigned long long)slot);
	if (st->nfree_ids == st->free_cap) {
		uint64_t cap = st->free_cap ? st->free_cap * 2 : 1024;
		uint64_t *n = realloc(st->free_ids, cap * sizeof(*n));

		if (!n)
			return fail(st, -ENOMEM, "out of memory");
		st->free_ids = n;
		st->free_cap = cap;
	}
	st->slots[slot].state = SLOT_FREE;
	st->free_ids[st->nfree_ids++] = slot;
	st->st.slots_used--;
	return 0;
}

int ess_nvme_slot_valid(const ess_nvme *st, uint64_t slot)
{
	if (!st || slot_check(st, slot))
		return -EINVAL;
	return st->slots[slot].state == SLOT_VALID;
}

/* Completions. */

static int done_push(struct ess_nvme *st, const struct ess_nvme_cpl *c)
{
	if (st->done_count == st->done_cap) {
		size_t cap = st->done_cap * 2, i;
		struct ess_nvme_cpl *n = malloc(cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		for (i = 0; i < st->done_count; i++)
			n[i] = st->done[(st->done_head + i) % st->done_cap];
		free(st->done);
		st->done = n;
		st->done_head = 0;
		st->done_cap = cap;
	}
	st->done[(st->done_head + st->done_count) % st->done_cap] = *c;
	st->done_count++;
	return 0;
}

static void count_error(struct ess_nvme *st, int err)
{
	if (err == -EIO)
		st->st.io_errors++;
}

static void finish_write(struct ess_nvme *st, struct op *op, int res,
			 struct ess_nvme_cpl *c)
{
	struct slot_meta *m = &st->slots[op->slot];

	if (res >= 0 && (uint32_t)res < op->iolen) {
		fail(st, -ENOSPC, "write of slot %llu: short write (%d of %u bytes), device full",
		     (unsigned long long)op->slot, res, op->iolen);
		res = -ENOSPC;
	} else if (res < 0) {
		fail(st, res, "write of slot %llu (%u bytes at offset %llu): %s",
		     (unsigned long long)op->slot, op->iolen,
		     (unsigned long long)(op->slot * st->slot_bytes),
		     strerror(-res));
	}
	if (res < 0) {
		/* Nothing recorded: the slot stays unreadable and the
		 * caller's host copy remains the only good one. */
		m->state = SLOT_EMPTY;
		st->st.write_errors++;
		if (res == -ENOSPC || res == -EFBIG)
			st->st.nospace_errors++;
		count_error(st, res);
		c->status = res;
		return;
	}
	m->crc = op->crc;
	m->len = op->len;
	m->state = SLOT_VALID;
	st->st.writes++;
	st->st.write_bytes += op->len;
	c->status = 0;
}

static void finish_read(struct ess_nvme *st, struct op *op, int res,
			struct ess_nvme_cpl *c)
{
	const struct slot_meta *m = &st->slots[op->slot];
	uint32_t crc;

	if (res < 0) {
		fail(st, res, "read of slot %llu (%u bytes at offset %llu): %s",
		     (unsigned long long)op->slot, op->iolen,
		     (unsigned long long)(op->slot * st->slot_bytes),
		     strerror(-res));
		count_error(st, res);
		goto bad;
	}
	if ((uint32_t)res < op->iolen) {
		res = fail(st, -ENODATA,
			   "read of slot %llu: short read (%d of %u bytes), the file shrank",
			   (unsigned long long)op->slot, res, op->iolen);
		st->st.short_reads++;
		goto bad;
	}
	if (st->defer_verify) {
		/* ess_nvme_reap_raw: the CRC waits for ess_nvme_verify, which
		 * needs this record (buffer, length) and the slot's CRC, so
		 * both stay held until then. */
		op->held = true;
		c->status = ESS_NVME_UNVERIFIED;
		return;
	}
	crc = ess_nvme_crc32c(op->iobuf, op->len);
	if (crc != m->crc) {
		res = fail(st, -EBADMSG,
			   "read of slot %llu: CRC32C mismatch (recorded %08x, read %08x), data damaged on the device",
			   (unsigned long long)op->slot, m->crc, crc);
		st->st.checksum_failures++;
		goto bad;
	}
	if (op->bounced)
		memcpy(op->buf, op->iobuf, op->len);
	st->st.reads++;
	st->st.read_bytes += op->len;
	if (op->flags & ESS_NVME_READ_CRITICAL)
		st->st.critical_reads++;
	c->status = 0;
	return;
bad:
	st->st.read_errors++;
	c->status = res;
}

static void release_op(struct ess_nvme *st, unsigned int idx)
{
	struct op *op = &st->ops[idx];

	st->slots[op->slot].busy--;
	op->kind = 0;
	op->held = false;
	op->next_free = st->op_free;
	st->op_free = (int32_t)idx;
}

static void complete_op(struct ess_nvme *st, unsigned int idx, int res)
{
	struct op *op = &st->ops[idx];
	struct ess_nvme_cpl c = { .tag = op->tag, .slot = op->slot,
				  .op = op->kind, .handle = idx + 1 };

	if (st->inject_nth && st->inject_op == op->kind &&
	    --st->inject_nth == 0)
		res = st->inject_err;
	if (op->kind == ESS_NVME_OP_WRITE)
		finish_write(st, op, res, &c);
	else
		finish_read(st, op, res, &c);
	st->inflight--;
	if (op->held)
		st->held++;
	else
		release_op(st, idx);
	if (done_push(st, &c) < 0) {
		/* Cannot happen short of malloc failing; the status is lost,
		 * so say so loudly rather than silently. */
		fail(st, -ENOMEM, "completion of slot %llu dropped: out of memory",
		     (unsigned long long)c.slot);
	}
}

/*
 * Process up to limit CQEs available now; returns how many.  A limit lets
 * reap() hand back a completion (and the caller reissue I/O) before the
 * store spends time verifying the reads that finished behind it.
 */
static unsigned int drain_cq(struct ess_nvme *st, unsigned int limit)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&st->ring, head, cqe) {
		if (n == limit)
			break;
		complete_op(st, (unsigned int)cqe->user_data, cqe->res);
		n++;
	}
	io_uring_cq_advance(&st->ring, n);
	return n;
}

static int do_submit(struct ess_nvme *st, unsigned int wait)
{
	int ret;

	if (!st->queued && !st->inflight)
		wait = 0;	/* nothing could ever complete */
	if (!st->queued && !wait)
		return 0;
	/* liburing enters the kernel for both: entries are queued, or a
	 * wait is asked for. */
	do {
		st->st.enter_calls++;
		ret = wait ? io_uring_submit_and_wait(&st->ring, wait) :
			     io_uring_submit(&st->ring);
	} while (ret == -EINTR);
	if (ret == -EEXIST && st->defer_taskrun)
		return fail(st, ret, "io_uring_submit: the store belongs to the thread that opened it (ESS_NVME_ONE_THREAD)");
	if (ret < 0)
		return fail(st, ret, "io_uring_submit: %s", strerror(-ret));
	if (st->queued)
		st->st.submit_calls++;
	st->inflight += (unsigned int)ret;
	st->queued -= (unsigned int)ret;
	return ret;
}

/*
 * Wait until at least one CQE has been processed (at most limit): one
 * system call that submits whatever is queued and waits.  The CQ was just
 * found empty, so the call cannot be saved.
 */
static int wait_one(struct ess_nvme *st, unsigned int limit)
{
	int ret;

	if (drain_cq(st, limit))
		return 0;
	ret = do_submit(st, 1);
	if (ret < 0)
		return ret;
	drain_cq(st, limit);
	return 0;
}

static const struct range *find_range(const struct ess_nvme *st,
				      const void *p, size_t len)
{
	const char *c = p;
	int i;

	for (i = 0; i < st->nranges; i++) {
		const struct range *r = &st->ranges[i];

		if (c >= r->base && (size_t)(c - r->base) <= r->len &&
		    len <= r->len - (size_t)(c - r->base))
			return r;
	}
	return NULL;
}

static int queue_op(struct ess_nvme *st, uint32_t kind, uint64_t slot,
		    void *buf, uint32_t len, uint32_t flags, uint64_t tag)
{
	struct io_uring_sqe *sqe;
	struct op *op;
	int buf_index = -1, idx, ret;
	uint64_t off = slot * st->slot_bytes;

	while (st->op_free < 0) {
		if (!st->queued && !st->inflight)
			return fail(st, -EBUSY,
				    "all %u operation records hold reads waiting for ess_nvme_verify",
				    st->cfg.queue_depth);
		ret = wait_one(st, UINT_MAX);
		if (ret < 0)
			return ret;
	}
	sqe = io_uring_get_sqe(&st->ring);
	if (!sqe) {
		/* SQ holds queue_depth entries and at most that many records
		 * exist, so this means the ring was left full: flush it. */
		ret = do_submit(st, 0);
		if (ret < 0)
			return ret;
		sqe = io_uring_get_sqe(&st->ring);
		if (!sqe)
			return fail(st, -EAGAIN, "submission queue full");
	}
	idx = st->op_free;
	op = &st->ops[idx];
	st->op_free = op->next_free;
	op->slot = slot;
	op->tag = tag;
	op->buf = buf;
	op->len = len;
	op->kind = kind;
	op->flags = flags;
	op->iolen = (uint32_t)round_up(len, st->block_bytes);
	op->bounced = len % st->block_bytes ||
		      (uintptr_t)buf % st->mem_align;
	if (op->bounced) {
		op->iobuf = st->bounce + (size_t)idx * st->slot_bytes;
		if (st->fixed_bufs)
			buf_index = 0;
		if (kind == ESS_NVME_OP_WRITE) {
			memcpy(op->iobuf, buf, len);
			memset((char *)op->iobuf + len, 0, op->iolen - len);
		}
		st->st.bounced_ops++;
	} else {
		const struct range *r = find_range(st, buf, op->iolen);

		op->iobuf = buf;
		if (r && r->buf_index >= 0)
			buf_index = r->buf_index;
	}
	if (kind == ESS_NVME_OP_WRITE)
		op->crc = ess_nvme_crc32c(buf, len);

	if (kind == ESS_NVME_OP_WRITE && buf_index >= 0)
		io_uring_prep_write_fixed(sqe, st->fixed_file ? 0 : st->fd,
					  op->iobuf, op->iolen, off, buf_index);
	else if (kind == ESS_NVME_OP_WRITE)
		io_uring_prep_write(sqe, st->fixed_file ? 0 : st->fd,
				    op->iobuf, op->iolen, off);
	else if (buf_index >= 0)
		io_uring_prep_read_fixed(sqe, st->fixed_file ? 0 : st->fd,
					 op->iobuf, op->iolen, off, buf_index);
	else
		io_uring_prep_read(sqe, st->fixed_file ? 0 : st->fd,
				   op->iobuf, op->iolen, off);
	if (st->fixed_file)
		sqe->flags |= IOSQE_FIXED_FILE;
	if (buf_index >= 0)
		st->st.fixed_ops++;
	io_uring_sqe_set_data64(sqe, (uint64_t)idx);
	st->slots[slot].busy++;
	st->queued++;
	return 0;
}

int ess_nvme_write(ess_nvme *st, uint64_t slot, const void *buf,
		   uint32_t len, uint64_t tag)
{
	if (!st || !buf)
		return -EINVAL;
	if (slot_check(st, slot))
		return fail(st, -EINVAL, "write: slot %llu is not allocated",
			    (unsigned long long)slot);
	if (!len || len > st->cfg.extent_bytes)
		return fail(st, -EINVAL, "write: length %u outside 1..%u", len,
			    st->cfg.extent_bytes);
	if (st->slots[slot].busy)
		return fail(st, -EBUSY, "write: slot %llu has I/O in flight",
			    (unsigned long long)slot);
	/* From here until the completion the slot holds nothing readable. */
	st->slots[slot].state = SLOT_EMPTY;
	return queue_op(st, ESS_NVME_OP_WRITE, slot, (void *)buf, len, 0, tag);
}

int ess_nvme_read(ess_nvme *st, uint64_t slot, void *buf, uint32_t len,
		  uint32_t flags, uint64_t tag)
{
	const struct slot_meta *m;

	if (!st || !buf)
		return -EINVAL;
	if (flags & ~ESS_NVME_READ_CRITICAL)
		return fail(st, -EINVAL, "read: unknown flags 0x%x", flags);
	if (slot_check(st, slot))
		return fail(st, -EINVAL, "read: slot %llu is not allocated",
			    (unsigned long long)slot);
	m = &st->slots[slot];
	if (m->state != SLOT_VALID)
		return fail(st, -ENODATA, "read: slot %llu holds no completed write",
			    (unsigned long long)slot);
	if (len != m->len)
		return fail(st, -EINVAL, "read: length %u, slot %llu holds %u bytes",
			    len, (unsigned long long)slot, m->len);
	return queue_op(st, ESS_NVME_OP_READ, slot, buf, len, flags, tag);
}

int ess_nvme_submit(ess_nvme *st)
{
	if (!st)
		return -EINVAL;
	return do_submit(st, 0);
}

/* CQEs reap() may still process for a caller taking max completions. */
static unsigned int room(const struct ess_nvme *st, unsigned int max)
{
	return st->done_count < max ? max - (unsigned int)st->done_count : 0;
}

static int reap(ess_nvme *st, struct ess_nvme_cpl *cpl, unsigned int max,
		unsigned int min_wait)
{
	unsigned int n = 0;
	int ret;

	if (!st || (max && !cpl))
		return -EINVAL;
	if (min_wait > max)
		min_wait = max;
	drain_cq(st, room(st, max));
	/* Submit and wait in one system call when both are needed. */
	ret = do_submit(st, st->done_count < min_wait ? 1 : 0);
	if (ret < 0)
		return ret;
	drain_cq(st, room(st, max));
	/* With DEFER_TASKRUN finished I/O is posted only when we enter the
	 * kernel to wait: a poll that found nothing enters once to look.
	 * Only then: a reap that has completions makes no extra call. */
	if (!min_wait && !st->done_count && st->defer_taskrun && st->inflight &&
	    max) {
		st->st.enter_calls++;
		io_uring_get_events(&st->ring);
		drain_cq(st, room(st, max));
	}
	while (st->done_count < min_wait && st->inflight) {
		ret = wait_one(st, room(st, max));
		if (ret < 0)
			return ret;
	}
	while (n < max && st->done_count) {
		cpl[n++] = st->done[st->done_head];
		st->done_head = (st->done_head + 1) % st->done_cap;
		st->done_count--;
	}
	return (int)n;
}

int ess_nvme_reap(ess_nvme *st, struct ess_nvme_cpl *cpl, unsigned int max,
		  unsigned int min_wait)
{
	return reap(st, cpl, max, min_wait);
}

int ess_nvme_reap_raw(ess_nvme *st, struct ess_nvme_cpl *cpl,
		      unsigned int max, unsigned int min_wait)
{
	int ret;

	if (!st)
		return -EINVAL;
	/* Only completions taken in this call are left unverified: reap()
	 * returns every one it processes (room()), so none of them can
	 * reach a later ess_nvme_reap() unchecked. */
	st->defer_verify = true;
	ret = reap(st, cpl, max, min_wait);
	st->defer_verify = false;
	return ret;
}

int ess_nvme_verify(ess_nvme *st, struct ess_nvme_cpl *c)
{
	unsigned int idx;
	struct op *op;

	if (!st || !c)
		return -EINVAL;
	if (c->status != ESS_NVME_UNVERIFIED)
		return c->status;	/* final already: nothing to check */
	idx = (unsigned int)(c->handle - 1);
	if (!c->handle || c->handle > st->cfg.queue_depth ||
	    !st->ops[idx].held || st->ops[idx].slot != c->slot ||
	    st->ops[idx].tag != c->tag)
		return fail(st, -EINVAL,
			    "verify: completion of slot %llu (handle %llu) is not awaiting verification",
			    (unsigned long long)c->slot,
			    (unsigned long long)c->handle);
	op = &st->ops[idx];
	st->defer_verify = false;
	finish_read(st, op, (int)op->iolen, c);
	st->held--;
	release_op(st, idx);
	return c->status;
}

unsigned int ess_nvme_pending(const ess_nvme *st)
{
	return st ? st->queued + st->inflight + (unsigned int)st->done_count : 0;
}

int ess_nvme_inject(ess_nvme *st, uint32_t op, uint64_t nth, int err)
{
	if (!st || (op != ESS_NVME_OP_WRITE && op != ESS_NVME_OP_READ))
		return -EINVAL;
	if (nth && (err >= 0 || err < -4095))
		return fail(st, -EINVAL, "inject: error %d is not a negative errno",
			    err);
	st->inject_op = op;
	st->inject_nth = nth;
	st->inject_err = err;
	return 0;
}

int ess_nvme_stats_get(const ess_nvme *st, struct ess_nvme_stats *out)
{
	if (!st || !out)
		return -EINVAL;
	*out = st->st;
	out->in_flight = st->queued + st->inflight;
	out->unverified = st->held;
	return 0;
}

void ess_nvme_close(ess_nvme *st)
{
	if (!st)
		return;
	if (st->ring_ok) {
		/* The kernel may still be writing into our buffers: wait. */
		if (st->queued)
			do_submit(st, 0);
		while (st->inflight) {
			if (wait_one(st, UINT_MAX) < 0)
				break;
		}
		io_uring_queue_exit(&st->ring);
	}
	if (st->fd >= 0)
		close(st->fd);
	if (st->bounce_map)
		munmap(st->bounce_map, st->bounce_map_len);
	free(st->slots);
	free(st->free_ids);
	free(st->ops);
	free(st->done);
	free(st->path);
	free(st);
}
