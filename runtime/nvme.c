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
 *   vt        with ESS_NVME_VERIFY_THREAD: a ring of op records handed to
 *             the verifier thread, which claims and checks them in order;
 *             the calling thread walks the ring behind it, checks the
 *             oldest itself when it needs it and nobody took it, and does
 *             all the bookkeeping
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/futex.h>
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
	/* Verifier thread.  The calling thread sets these before it makes
	 * vstate VS_QUEUED; whoever claims the record (VS_THREAD or
	 * VS_CALLER, by compare-and-swap) computes crc_read. */
	bool verifying;		/* handed over, result not walked yet */
	bool raw;		/* handed over by reap_raw: verify() finishes it */
	uint32_t crc_want;	/* the slot's recorded CRC, copied for the thread */
	uint32_t crc_read;
	_Atomic uint32_t vstate;	/* enum vstate */
};

/* A handed-over record: queued, claimed by the verifier thread, done by
 * it, or claimed (and computed) by the calling thread. */
enum vstate { VS_IDLE = 0, VS_QUEUED, VS_THREAD, VS_DONE, VS_CALLER };

/*
 * The verifier thread and its hand-over ring.  One producer (the thread
 * that reaps): ring[pos % size] for pos in [walked, tail) are records
 * handed over, in order.  Either side claims a record by moving its vstate
 * from VS_QUEUED (compare-and-swap), so each CRC is computed once: the
 * verifier works forward from where it is, and the calling thread, when it
 * needs the oldest record (walked) and finds it unclaimed, verifies it
 * itself rather than wait for a thread that may be asleep.  Only the
 * calling thread walks the ring and does bookkeeping; a record is released
 * only after it was walked, so fewer than size entries are outstanding.
 * The verifier may read a ring entry that has been reused: the
 * compare-and-swap then fails, or finds a record that does need a check.
 */
struct verifier {
	pthread_t thread;
	bool started;
	_Atomic uint32_t *ring;
	uint32_t size;			/* queue_depth */
	uint32_t walked;		/* calling thread only */
	_Atomic uint32_t tail;		/* written by the calling thread */
	_Atomic uint32_t done_seq;	/* bumped per record the thread did; futex */
	_Atomic uint32_t kick;		/* futex the verifier sleeps on */
	_Atomic int v_sleeping;
	_Atomic int r_sleeping;
	_Atomic int stop;
	_Atomic uint64_t verified;	/* records the thread checked */
	struct op *ops;
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
	struct verifier *vt;	/* ESS_NVME_VERIFY_THREAD */
	unsigned int verifying;	/* handed over by reap, not walked yet */
	unsigned int verifying_raw; /* handed over by reap_raw, not walked */
	bool vt_pushed;		/* handed over since the last vt_flush */

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

/*
 * The verifier thread (ESS_NVME_VERIFY_THREAD).
 *
 * Spinning before sleeping: a CRC of one extent takes microseconds, and
 * waking a sleeping thread costs a futex call on one side and a wake-up
 * (on a virtual machine, an interrupt to an idle virtual CPU) on the
 * other, so each side first watches the other's counter for a while.
 * The verifier gives up after VT_IDLE_SPIN_NS without work (it must not
 * keep a CPU busy between reads); the calling thread waits up to
 * VT_RESULT_SPIN_NS for a result it needs, longer than one CRC.
 */
#define VT_IDLE_SPIN_NS   20000u
#define VT_RESULT_SPIN_NS 50000u

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
	syscall(SYS_futex, (void *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
	syscall(SYS_futex, (void *)w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Watch *w until it is no longer old or about ns passed; returns what it
 * holds then. */
static uint32_t spin_while(_Atomic uint32_t *w, uint32_t old, uint64_t ns)
{
	uint64_t end = 0, t;
	unsigned int i = 0;
	uint32_t v;

	while ((v = atomic_load_explicit(w, memory_order_acquire)) == old) {
		cpu_relax();
		if (++i % 64)
			continue;
		t = mono_ns();
		if (!end)
			end = t + ns;
		else if (t >= end)
			break;
	}
	return v;
}

/* Compute a claimed record's CRC; a bounced read reaches the caller's
 * buffer only once it is known good, as on the inline path. */
static void vt_check(struct op *op)
{
	op->crc_read = ess_nvme_crc32c(op->iobuf, op->len);
	if (op->crc_read == op->crc_want && op->bounced)
		memcpy(op->buf, op->iobuf, op->len);
}

static void *verifier_main(void *arg)
{
	struct verifier *v = arg;
	uint32_t pos = 0, tail, k, idx, want;
	struct op *op;

	for (;;) {
		tail = atomic_load_explicit(&v->tail, memory_order_acquire);
		if (pos == tail) {
			/* stop is set only after the last hand-over, so
			 * everything handed over is claimed first. */
			if (atomic_load(&v->stop))
				break;
			if (spin_while(&v->tail, tail, VT_IDLE_SPIN_NS) != tail)
				continue;
			k = atomic_load(&v->kick);
			atomic_store(&v->v_sleeping, 1);
			if (atomic_load(&v->tail) == tail && !atomic_load(&v->stop))
				futex_wait(&v->kick, k);
			atomic_store(&v->v_sleeping, 0);
			continue;
		}
		/* Entries older than the ring's size were walked long ago. */
		if (tail - pos > v->size)
			pos = tail - v->size;
		while (pos != tail) {
			idx = atomic_load_explicit(&v->ring[pos++ % v->size],
						   memory_order_relaxed);
			op = &v->ops[idx];
			want = VS_QUEUED;
			if (!atomic_compare_exchange_strong_explicit(
				    &op->vstate, &want, VS_THREAD,
				    memory_order_acquire, memory_order_relaxed))
				continue;	/* the caller took it */
			vt_check(op);
			atomic_fetch_add_explicit(&v->verified, 1,
						  memory_order_relaxed);
			atomic_store(&op->vstate, VS_DONE);
			atomic_fetch_add(&v->done_seq, 1);
			if (atomic_load(&v->r_sleeping))
				futex_wake(&v->done_seq);
		}
	}
	return NULL;
}

static int vt_start(struct ess_nvme *st)
{
	struct verifier *v = calloc(1, sizeof(*v));
	int cpu = st->cfg.verify_cpu, ret;
	pthread_attr_t attr;
	cpu_set_t set;

	if (!v || !(v->ring = calloc(st->cfg.queue_depth, sizeof(*v->ring)))) {
		free(v);
		return fail(st, -ENOMEM, "out of memory");
	}
	v->size = st->cfg.queue_depth;
	v->ops = st->ops;
	st->vt = v;
	ret = pthread_attr_init(&attr);
	if (!ret && cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		ret = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	if (!ret)
		ret = pthread_create(&v->thread, &attr, verifier_main, v);
	pthread_attr_destroy(&attr);
	if (ret) {
		char where[32] = "";

		if (cpu >= 0)
			snprintf(where, sizeof(where), " on CPU %d", cpu);
		return fail(st, -ret, "cannot start the verifier thread%s: %s",
			    where, strerror(ret));
	}
	v->started = true;
	(void)pthread_setname_np(v->thread, "ess-nvme-verify");
	return 0;
}

/* After the last hand-over: let the thread finish what it has, and end. */
static void vt_stop(struct ess_nvme *st)
{
	struct verifier *v = st->vt;

	if (!v)
		return;
	if (v->started) {
		atomic_store(&v->stop, 1);
		atomic_fetch_add(&v->kick, 1);
		futex_wake(&v->kick);
		pthread_join(v->thread, NULL);
	}
	free(v->ring);
	free(v);
	st->vt = NULL;
}

/* Hand a read whose bytes all arrived to the verifier (no wake-up here:
 * vt_flush does that after the next submission). */
static void vt_push(struct ess_nvme *st, unsigned int idx)
{
	struct verifier *v = st->vt;
	uint32_t t = atomic_load_explicit(&v->tail, memory_order_relaxed);

	atomic_store_explicit(&st->ops[idx].vstate, VS_QUEUED,
			      memory_order_release);
	atomic_store_explicit(&v->ring[t % v->size], idx, memory_order_relaxed);
	atomic_store(&v->tail, t + 1);
	st->vt_pushed = true;
}

/*
 * Wake a sleeping verifier, called after a submission so that the futex
 * call and the interrupt to an idle CPU come after the next reads are on
 * the device.  Only for two records or more: one the calling thread
 * verifies as fast as a woken thread could (it never waits for a record
 * nobody claimed), so a store with one read at a time works inline.
 */
#define VT_WAKE_BACKLOG 2u

static void vt_flush(struct ess_nvme *st)
{
	struct verifier *v = st->vt;

	if (!v || !st->vt_pushed)
		return;
	st->vt_pushed = false;
	if (atomic_load(&v->tail) - v->walked >= VT_WAKE_BACKLOG &&
	    atomic_load(&v->v_sleeping)) {
		atomic_fetch_add(&v->kick, 1);
		futex_wake(&v->kick);
		st->st.verifier_wakeups++;
	}
}

/*
 * Make the oldest handed-over record finished: verify it here if nobody
 * claimed it, else wait for the verifier, which is computing it (spin for
 * about a CRC's time, then sleep).  Only while one is outstanding.
 */
static void vt_finish_head(struct ess_nvme *st)
{
	struct verifier *v = st->vt;
	struct op *op = &st->ops[atomic_load_explicit(&v->ring[v->walked % v->size],
						       memory_order_relaxed)];
	uint32_t want = VS_QUEUED, seq;

	if (atomic_compare_exchange_strong_explicit(&op->vstate, &want,
						    VS_CALLER,
						    memory_order_acquire,
						    memory_order_acquire)) {
		vt_check(op);
		return;
	}
	if (want != VS_THREAD)
		return;		/* done already */
	st->st.verifier_waits++;
	if (spin_while(&op->vstate, VS_THREAD, VT_RESULT_SPIN_NS) != VS_THREAD)
		return;
	while (atomic_load_explicit(&op->vstate, memory_order_acquire) == VS_THREAD) {
		/* Preempted mid-CRC, most likely: sleep until it is done. */
		seq = atomic_load(&v->done_seq);
		atomic_store(&v->r_sleeping, 1);
		if (atomic_load(&op->vstate) == VS_THREAD)
			futex_wait(&v->done_seq, seq);
		atomic_store(&v->r_sleeping, 0);
	}
}

void ess_nvme_config_default(struct ess_nvme_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->size = sizeof(*cfg);
	cfg->flags = ESS_NVME_CREATE;
	cfg->extent_bytes = 64u << 10;
	cfg->queue_depth = 32;
	cfg->verify_cpu = -1;
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
	if (cfg->verify_cpu < -1 || cfg->verify_cpu >= CPU_SETSIZE) {
		ret = fail(st, -EINVAL, "verify_cpu %d outside -1..%d",
			   cfg->verify_cpu, CPU_SETSIZE - 1);
		goto err;
	}
	if (cfg->verify_cpu != -1 && !(cfg->flags & ESS_NVME_VERIFY_THREAD)) {
		ret = fail(st, -EINVAL, "verify_cpu %d given without ESS_NVME_VERIFY_THREAD",
			   cfg->verify_cpu);
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
	if (cfg->flags & ESS_NVME_VERIFY_THREAD) {
		ret = vt_start(st);
		if (ret)
			goto err;
	}
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

/*
 * The verdict on a read whose bytes all arrived and hash to crc; want is
 * the slot's recorded CRC.  copy: move a bounced read out here (the
 * verifier thread has done it already when it checked).
 */
static void read_checked(struct ess_nvme *st, struct op *op, uint32_t crc,
			 uint32_t want, bool copy, struct ess_nvme_cpl *c)
{
	if (crc != want) {
		c->status = fail(st, -EBADMSG,
				 "read of slot %llu: CRC32C mismatch (recorded %08x, read %08x), data damaged on the device",
				 (unsigned long long)op->slot, want, crc);
		st->st.checksum_failures++;
		st->st.read_errors++;
		return;
	}
	if (copy && op->bounced)
		memcpy(op->buf, op->iobuf, op->len);
	st->st.reads++;
	st->st.read_bytes += op->len;
	if (op->flags & ESS_NVME_READ_CRITICAL)
		st->st.critical_reads++;
	c->status = 0;
}

/* Returns false when the completion is not the caller's yet: the read is
 * with the verifier thread and comes back when it has been walked. */
static bool finish_read(struct ess_nvme *st, unsigned int idx, int res,
			struct ess_nvme_cpl *c)
{
	struct op *op = &st->ops[idx];
	const struct slot_meta *m = &st->slots[op->slot];

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
	if (st->vt) {
		/* The thread must not look at slots[] (alloc may move it):
		 * it gets the recorded CRC in the record. */
		op->crc_want = m->crc;
		op->raw = st->defer_verify;
		op->verifying = true;
		vt_push(st, idx);
		if (!op->raw) {
			st->verifying++;
			return false;
		}
		st->verifying_raw++;
	}
	if (st->defer_verify) {
		/* ess_nvme_reap_raw: the CRC waits for ess_nvme_verify, which
		 * needs this record (buffer, length) and the slot's CRC, so
		 * both stay held until then. */
		op->held = true;
		c->status = ESS_NVME_UNVERIFIED;
		return true;
	}
	read_checked(st, op, ess_nvme_crc32c(op->iobuf, op->len), m->crc, true, c);
	return true;
bad:
	st->st.read_errors++;
	c->status = res;
	return true;
}

static void release_op(struct ess_nvme *st, unsigned int idx)
{
	struct op *op = &st->ops[idx];

	st->slots[op->slot].busy--;
	op->kind = 0;
	op->held = false;
	op->verifying = false;
	op->raw = false;
	atomic_store_explicit(&op->vstate, VS_IDLE, memory_order_relaxed);
	op->next_free = st->op_free;
	st->op_free = (int32_t)idx;
}

static void push_cpl(struct ess_nvme *st, const struct ess_nvme_cpl *c)
{
	if (done_push(st, c) < 0) {
		/* Cannot happen short of malloc failing; the status is lost,
		 * so say so loudly rather than silently. */
		fail(st, -ENOMEM, "completion of slot %llu dropped: out of memory",
		     (unsigned long long)c->slot);
	}
}

/* The completion record of operation idx, before its status is known. */
static struct ess_nvme_cpl cpl_of(const struct ess_nvme *st, unsigned int idx)
{
	const struct op *op = &st->ops[idx];
	struct ess_nvme_cpl c = { .tag = op->tag, .slot = op->slot,
				  .op = op->kind, .handle = idx + 1 };

	return c;
}

static void complete_op(struct ess_nvme *st, unsigned int idx, int res)
{
	struct op *op = &st->ops[idx];
	struct ess_nvme_cpl c = cpl_of(st, idx);
	bool deliver = true;

	if (st->inject_nth && st->inject_op == op->kind &&
	    --st->inject_nth == 0)
		res = st->inject_err;
	if (op->kind == ESS_NVME_OP_WRITE)
		finish_write(st, op, res, &c);
	else
		deliver = finish_read(st, idx, res, &c);
	st->inflight--;
	if (op->held)
		st->held++;
	else if (!op->verifying)
		release_op(st, idx);
	if (deliver)
		push_cpl(st, &c);
}

/*
 * Take finished records off the ring, oldest first, up to the first one
 * still unfinished; with head, make the oldest finished first
 * (vt_finish_head).  One handed over by reap becomes a final completion
 * for the caller here; one handed over by reap_raw is only marked, and
 * ess_nvme_verify finishes it.
 */
static void vt_walk(struct ess_nvme *st, bool head)
{
	struct verifier *v = st->vt;
	uint32_t tail, s;

	if (!v)
		return;
	tail = atomic_load_explicit(&v->tail, memory_order_relaxed);
	if (head && v->walked != tail) {
		/* Let a sleeping thread take the ones behind the head. */
		vt_flush(st);
		vt_finish_head(st);
	}
	while (v->walked != tail) {
		unsigned int idx = atomic_load_explicit(&v->ring[v->walked % v->size],
							memory_order_relaxed);
		struct op *op = &st->ops[idx];
		struct ess_nvme_cpl c = cpl_of(st, idx);

		s = atomic_load_explicit(&op->vstate, memory_order_acquire);
		if (s != VS_DONE && s != VS_CALLER)
			break;
		v->walked++;
		op->verifying = false;
		if (op->raw) {
			st->verifying_raw--;
			continue;
		}
		st->verifying--;
		read_checked(st, op, op->crc_read, op->crc_want, false, &c);
		release_op(st, idx);
		push_cpl(st, &c);
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
	if (!st->queued && !wait) {
		vt_flush(st);	/* reads handed over still get their thread */
		return 0;
	}
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
	vt_flush(st);
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
		if (!st->queued && !st->inflight && !st->verifying)
			return fail(st, -EBUSY,
				    "all %u operation records hold reads waiting for ess_nvme_verify",
				    st->cfg.queue_depth);
		if (st->verifying) {
			/* A record comes back within a CRC's time. */
			vt_walk(st, true);
			continue;
		}
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
	vt_walk(st, false);
	/* Submit and wait in one system call when both are needed (reads
	 * with the verifier count as coming: they need no device wait). */
	ret = do_submit(st, st->done_count + st->verifying < min_wait ? 1 : 0);
	if (ret < 0)
		return ret;
	drain_cq(st, room(st, max));
	vt_walk(st, false);
	/* With DEFER_TASKRUN finished I/O is posted only when we enter the
	 * kernel to wait: a poll that found nothing enters once to look.
	 * Only then: a reap that has completions makes no extra call. */
	if (!min_wait && !st->done_count && st->defer_taskrun && st->inflight &&
	    max) {
		st->st.enter_calls++;
		io_uring_get_events(&st->ring);
		drain_cq(st, room(st, max));
	}
	/* A poll with nothing to return finishes the oldest read with the
	 * thread (about one CRC): one read alone never wakes the thread,
	 * and a caller that only polls must still get it. */
	if (!min_wait && !st->done_count && st->verifying && max)
		vt_walk(st, true);
	while (st->done_count < min_wait && (st->inflight || st->verifying)) {
		if (st->verifying) {
			/* Microseconds, against a device read's far longer:
			 * the oldest handed-over read first (verified here
			 * if the thread has not taken it), then what the
			 * device posted meanwhile (no system call). */
			vt_walk(st, true);
			drain_cq(st, room(st, max));
			continue;
		}
		ret = wait_one(st, room(st, max));
		if (ret < 0)
			return ret;
		vt_walk(st, false);
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
	if (st->vt) {
		while (op->verifying)
			vt_walk(st, true);
		read_checked(st, op, op->crc_read, op->crc_want, false, c);
	} else {
		read_checked(st, op, ess_nvme_crc32c(op->iobuf, op->len),
			     st->slots[op->slot].crc, true, c);
	}
	st->held--;
	release_op(st, idx);
	return c->status;
}

unsigned int ess_nvme_pending(const ess_nvme *st)
{
	return st ? st->queued + st->inflight + st->verifying +
		    (unsigned int)st->done_count : 0;
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
	out->verifying = st->verifying + st->verifying_raw;
	if (st->vt)
		out->thread_verified = atomic_load_explicit(&st->vt->verified,
							    memory_order_relaxed);
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
	/* Reads still with the verifier are finished by it before it ends;
	 * their completions are dropped, as the ring's are. */
	vt_stop(st);
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
