/* SPDX-License-Identifier: MIT */
/*
 * ESS NVMe extent store: fixed-size extents on a file or block device,
 * read and written with O_DIRECT through io_uring, every extent checked by
 * CRC32C.  Usable on its own; the tiering layer (ess_tier_*) puts it under
 * a context's host pool.
 *
 * Model
 * - The device is cut into slots of slot_bytes (the configured extent size
 *   rounded up to the logical block size and to 4 KiB).  Slot s lives at
 *   byte offset s * slot_bytes; there is no header on the device: the slot
 *   table (which slots hold data, their length and CRC) lives in memory, as
 *   the tier is a cache that does not outlive the process.
 * - ess_nvme_alloc() reserves a slot, ess_nvme_write() queues a write of up
 *   to extent_bytes from host memory into it, ess_nvme_read() queues a read
 *   back; ess_nvme_submit() hands the queued operations to the kernel in one
 *   system call and ess_nvme_reap() returns finished operations.
 * - A write is complete only when its completion is reaped with status 0:
 *   only then is its CRC recorded and the slot readable, and only then may
 *   the caller release its host copy.  A failed write leaves the slot empty
 *   (allocated, unreadable) and the host copy is the only one: keep it.
 * - Every read is verified against the recorded CRC before its completion
 *   reports status 0.  When the caller's buffer can take the I/O directly
 *   (aligned, length a multiple of the logical block size) the data lands
 *   there before the check, so on a failed read the buffer content is
 *   undefined; otherwise it goes through an internal buffer and the caller's
 *   buffer is written only when the check passed.
 *
 * Completion status values (struct ess_nvme_cpl.status)
 *   0          success
 *   -EBADMSG   read: CRC32C mismatch (the data on the device is damaged)
 *   -ENODATA   read: short read (the file shrank under the store)
 *   -EIO       device error (or the injected fault, see ess_nvme_inject)
 *   -ENOSPC    write: the device or file system is full
 *   -EFBIG     write: file size limit (RLIMIT_FSIZE) reached
 *   other      any error the kernel returned for the operation
 * ess_nvme_errmsg() describes the last failure in words.
 *
 * Not thread-safe: one thread drives a store.  Calls return 0 (or a count)
 * or a negative errno value.  With ESS_NVME_VERIFY_THREAD the store runs
 * one helper thread of its own that only computes CRCs (and copies bounced
 * reads out); every bookkeeping step stays on the calling thread.
 */
#ifndef ESS_NVME_H
#define ESS_NVME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ess_nvme_config.flags */
#define ESS_NVME_CREATE    (1u << 0) /* create the file if it is missing */
#define ESS_NVME_PREALLOC  (1u << 1) /* fallocate the whole capacity at open */
#define ESS_NVME_NO_FIXED  (1u << 2) /* no registered buffers or files */
/* Every call comes from the thread that opened the store: the ring is made
 * with IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN (as fio
 * does), so completions are processed only when this thread waits, not by
 * interrupting it.  A call from another thread fails -EEXIST. */
#define ESS_NVME_ONE_THREAD (1u << 3)
/* Reads are verified on a verifier thread the store starts at open: a read
 * whose bytes all arrived is handed to it, and the calling thread goes back
 * to reaping and submitting while the CRC32C runs on another CPU.  A read
 * is still reported (status 0 or an error) only after its check: reap
 * returns it once checked, reap_raw returns it ESS_NVME_UNVERIFIED and
 * ess_nvme_verify gives the result.  When the calling thread needs a read
 * the thread has not taken (it sleeps between bursts), it checks that one
 * itself.  verify_cpu pins the thread.  Off by default: on the CI machine
 * it gained nothing (Documentation/dev/nvme.md, "Verifier thread"). */
#define ESS_NVME_VERIFY_THREAD (1u << 4)
#define ESS_NVME_FLAGS     (ESS_NVME_CREATE | ESS_NVME_PREALLOC | \
			    ESS_NVME_NO_FIXED | ESS_NVME_ONE_THREAD | \
			    ESS_NVME_VERIFY_THREAD)

#define ESS_NVME_QD_MAX        4096u
#define ESS_NVME_EXTENT_MAX    (64u << 20)	/* largest extent_bytes */

struct ess_nvme_config {
	uint32_t size;		/* sizeof(struct ess_nvme_config) */
	uint32_t flags;		/* ESS_NVME_* */
	const char *path;	/* regular file or block device */
	/* Bytes of the device to use from offset 0.  0: the whole block
	 * device; required for a regular file (which grows as slots are
	 * written unless ESS_NVME_PREALLOC). */
	uint64_t capacity_bytes;
	uint32_t extent_bytes;	/* largest extent, 1 .. ESS_NVME_EXTENT_MAX */
	uint32_t queue_depth;	/* operations in flight, 1 .. ESS_NVME_QD_MAX */
	/* ESS_NVME_VERIFY_THREAD: the CPU the verifier thread runs on, or
	 * -1 (the default) for the CPUs the opening thread may use then. */
	int32_t verify_cpu;
};

void ess_nvme_config_default(struct ess_nvme_config *cfg);

typedef struct ess_nvme ess_nvme;

/* Open the store.  On failure *out is NULL and, when errmsg is not NULL,
 * a message is copied there (errmsg_len bytes at most, NUL-terminated). */
int ess_nvme_open(const struct ess_nvme_config *cfg, ess_nvme **out,
		  char *errmsg, size_t errmsg_len);
/* Waits for operations still in flight, then closes.  Their completions
 * are dropped: reap before closing to learn their status. */
void ess_nvme_close(ess_nvme *st);
const char *ess_nvme_errmsg(const ess_nvme *st);

/* Geometry: bytes per slot, logical block size, slots on the device. */
uint32_t ess_nvme_slot_bytes(const ess_nvme *st);
uint32_t ess_nvme_block_bytes(const ess_nvme *st);
uint64_t ess_nvme_capacity_slots(const ess_nvme *st);

/*
 * Register host memory (e.g. the host pool) so that operations on buffers
 * inside it use io_uring's registered-buffer path.  At most 15 ranges; only
 * while nothing is in flight (-EBUSY).  When the kernel refuses (memlock
 * limit) the range is still accepted for I/O, without registration, and
 * the call returns 1 instead of 0.  Memory must stay mapped until close.
 */
int ess_nvme_register_memory(ess_nvme *st, void *base, size_t len);

/* Slots.  alloc: -ENOSPC when every slot is taken.  free: -EBUSY while an
 * operation on the slot is in flight, -EINVAL for a slot not allocated. */
int ess_nvme_alloc(ess_nvme *st, uint64_t *slot);
int ess_nvme_free(ess_nvme *st, uint64_t slot);
/* 1 if the slot holds a verified-written extent, 0 if not, <0 if invalid. */
int ess_nvme_slot_valid(const ess_nvme *st, uint64_t slot);

/* ess_nvme_read flags */
#define ESS_NVME_READ_CRITICAL (1u << 0) /* counted as a critical-path read */

/*
 * Queue a write of len bytes (1 .. extent_bytes) from buf into an allocated
 * slot, or a read of the slot's extent (len must equal the length written)
 * into buf.  tag comes back in the completion.  If the queue is full, the
 * store first submits and waits for one operation to finish (its completion
 * is kept for ess_nvme_reap()).  buf must stay untouched until the
 * operation's completion is reaped.
 */
int ess_nvme_write(ess_nvme *st, uint64_t slot, const void *buf,
		   uint32_t len, uint64_t tag);
int ess_nvme_read(ess_nvme *st, uint64_t slot, void *buf, uint32_t len,
		  uint32_t flags, uint64_t tag);

/* Hand queued operations to the kernel; returns how many were submitted.
 * With ESS_NVME_VERIFY_THREAD it also wakes the verifier for reads handed
 * to it (two or more waiting), even when nothing is queued. */
int ess_nvme_submit(ess_nvme *st);

enum ess_nvme_op { ESS_NVME_OP_WRITE = 1, ESS_NVME_OP_READ = 2 };

struct ess_nvme_cpl {
	uint64_t tag;
	uint64_t slot;
	uint32_t op;		/* enum ess_nvme_op */
	int32_t status;		/* 0 or a negative errno, see above, or
				 * ESS_NVME_UNVERIFIED (ess_nvme_reap_raw) */
	uint64_t handle;	/* the store's reference, for ess_nvme_verify */
};

/* cpl.status of a read that ess_nvme_reap_raw returned before its check:
 * the bytes arrived in full, but they are not known good yet. */
#define ESS_NVME_UNVERIFIED 1

/*
 * Return up to max finished operations into cpl, submitting anything
 * queued first.  Waits until at least min_wait have finished (clamped to
 * what is in flight and queued); min_wait 0 never blocks.  Returns the
 * count.  Reads are verified as they are reaped, and no more are processed
 * than max: a caller that keeps a queue full does best with a small max
 * (1), reissuing each read as soon as it is verified.
 */
int ess_nvme_reap(ess_nvme *st, struct ess_nvme_cpl *cpl, unsigned int max,
		  unsigned int min_wait);
/*
 * Like ess_nvme_reap, except that a read whose I/O completed in full comes
 * back with status ESS_NVME_UNVERIFIED instead of being checked: the caller
 * can put its next reads in flight (ess_nvme_read + ess_nvme_submit) before
 * paying for the CRCs, and then must pass every such completion to
 * ess_nvme_verify before using the data.  Writes, failed and short reads
 * come back final, as from ess_nvme_reap.  Until verified, a read keeps its
 * operation record (one of queue_depth) and its slot busy (free and write
 * fail -EBUSY); when every record is held, ess_nvme_read and ess_nvme_write
 * fail -EBUSY rather than wait.
 */
int ess_nvme_reap_raw(ess_nvme *st, struct ess_nvme_cpl *cpl,
		      unsigned int max, unsigned int min_wait);
/*
 * Check a completion from ess_nvme_reap_raw against the slot's recorded
 * CRC32C (and copy a bounced read into the caller's buffer), exactly as
 * ess_nvme_reap would have: sets and returns c->status (0, -EBADMSG).  A
 * completion that is final already (including one just verified) returns
 * its status unchanged; an ESS_NVME_UNVERIFIED one the store is not
 * holding (a stale copy of a verified completion, a forged handle) gets
 * -EINVAL.
 */
int ess_nvme_verify(ess_nvme *st, struct ess_nvme_cpl *c);
/* Operations queued or in flight, and finished but not reaped. */
unsigned int ess_nvme_pending(const ess_nvme *st);

/*
 * Fault injection for tests: the nth operation of kind op (1 = the next one)
 * to complete from now on reports err (e.g. -EIO) instead of its real
 * result; for a write, nothing is recorded, as for a real failure.  nth 0
 * cancels.  Only for faults no real file can produce on demand.
 */
int ess_nvme_inject(ess_nvme *st, uint32_t op, uint64_t nth, int err);

/* CRC32C (Castagnoli, as iSCSI and NVMe use it) of buf, via ISA-L: the
 * check value, CRC32C("123456789"), is 0xe3069283. */
uint32_t ess_nvme_crc32c(const void *buf, size_t len);

struct ess_nvme_stats {
	uint64_t writes;		/* extents written (verified complete) */
	uint64_t write_bytes;		/* extent bytes of those */
	uint64_t reads;			/* extents read and verified */
	uint64_t read_bytes;
	uint64_t critical_reads;	/* reads with ESS_NVME_READ_CRITICAL */
	uint64_t checksum_failures;	/* reads failing the CRC32C check */
	uint64_t short_reads;		/* reads that came back short */
	uint64_t write_errors;		/* failed writes (any cause) */
	uint64_t read_errors;		/* failed reads (any cause) */
	uint64_t nospace_errors;	/* writes failing with ENOSPC/EFBIG */
	uint64_t io_errors;		/* operations failing with EIO */
	uint64_t submit_calls;		/* io_uring_submit system calls */
	uint64_t fixed_ops;		/* operations on registered buffers */
	uint64_t bounced_ops;		/* operations through internal buffers */
	uint64_t slots_used;		/* level: slots allocated */
	uint64_t slots_total;		/* level: capacity in slots */
	uint32_t in_flight;		/* level: operations queued or in flight */
	uint32_t fixed_files;		/* level: 1 if the file is registered */
	uint32_t unverified;		/* level: raw-reaped reads not verified */
	uint32_t verifying;		/* level: reads with the verifier thread */
	/* io_uring_enter system calls of every kind: submit, submit and
	 * wait, wait, and the DEFER_TASKRUN poll (submit_calls counts only
	 * those that handed over entries). */
	uint64_t enter_calls;
	/* ESS_NVME_VERIFY_THREAD: reads the verifier thread has checked so
	 * far (the calling thread checks the others itself: those it needed
	 * before the thread took them), times the calling thread had to
	 * wait for the thread's result, and times it woke the thread from
	 * sleep (one futex call each). */
	uint64_t thread_verified;
	uint64_t verifier_waits;
	uint64_t verifier_wakeups;
};
int ess_nvme_stats_get(const ess_nvme *st, struct ess_nvme_stats *out);

/*
 * Tiering: an extent store under a context's host pool.
 *
 * Extents of (request, layer) move between the host pool and the store:
 * - ess_tier_balance(): when host-pool use is above high_pct, demote cold
 *   full extents until it is below low_pct.  Cold means: the module's
 *   coldest heat blocks (ESS_IOC_HEAT_READ, ESS_HEAT_COLDEST) when the pool
 *   is a /dev/ess region and the context reports its resolves' heat to it
 *   (not ESS_CFG_NO_HEAT, and a backend that hands over the rows it
 *   resolved: the CPU backend), else the tier's own per-extent access counts
 *   (counted by ess_tier_prepare and the resolve hook, halved after every
 *   balance pass; a read-back without a top-k counts every extent of the
 *   (request, layer) once).  The
 *   last, partly filled extent of a (request, layer) is never demoted by
 *   balance: appends write into it.
 * - ess_tier_park(): demote every extent of a request (paused or
 *   preempted); the request must not be resolved or appended to until
 *   ess_tier_resume(), which allocates host extents and starts reading
 *   them all back (prefetch, not waited for).
 * - ess_tier_prepare(): before ess_resolve() of a layer, read back every
 *   demoted extent the top-k touches (critical-path reads, all issued
 *   before the first is waited for) and wait for prefetches it needs;
 *   topk NULL: every demoted extent of the requests in that layer (what
 *   ess_resolve() does itself with a device backend, whose top-k is in
 *   device memory).
 * A host extent is released only after its write completed and its CRC
 * was recorded; every read back is verified.  A failed read leaves the
 * extent demoted (its NVMe copy is kept) and fails the call.
 *
 * The core calls into the tier itself (Documentation/dev/nvme.md, "Runtime
 * hooks"): ess_resolve() and ess_warmup() bring back what they need first,
 * ess_ingest()/ess_append() refuse a parked request (-EBUSY),
 * ess_request_remove() drops the request's NVMe copies, ess_host_row() is
 * NULL for a row not in host memory, ess_destroy() releases the tier.
 * ess_tier_prepare() is there to read a layer back ahead of its resolve.
 * Errors: negative errno with the message in ess_errmsg(ctx).
 */
struct ess_ctx;

struct ess_tier_config {
	uint32_t size;		/* sizeof(struct ess_tier_config) */
	uint32_t store_flags;	/* ESS_NVME_* for the store */
	const char *path;	/* file or block device */
	uint64_t capacity_bytes; /* as ess_nvme_config.capacity_bytes */
	uint32_t queue_depth;	/* 1 .. ESS_NVME_QD_MAX */
	uint32_t high_pct;	/* balance starts above this pool use, 1..100 */
	uint32_t low_pct;	/* and stops below this one, < high_pct */
	int32_t verify_cpu;	/* as ess_nvme_config.verify_cpu (-1) */
};

void ess_tier_config_default(struct ess_tier_config *cfg);
int ess_tier_attach(struct ess_ctx *ctx, const struct ess_tier_config *cfg);
/* Read every demoted extent back, then close the store; on failure (pool
 * full, a bad read) the tier stays attached and nothing is lost. */
int ess_tier_detach(struct ess_ctx *ctx);

/* Returns extents demoted (>= 0) or -errno. */
int ess_tier_balance(struct ess_ctx *ctx);
/* topk: host memory, nreq rows of the context's topk ids (-1 unused), or
 * NULL to bring back every extent of each (request, layer). */
int ess_tier_prepare(struct ess_ctx *ctx, uint32_t layer, uint32_t nreq,
		     const uint32_t *reqs, const int32_t *topk);
int ess_tier_park(struct ess_ctx *ctx, uint32_t req);
int ess_tier_resume(struct ess_ctx *ctx, uint32_t req);
/* Finish what is in flight (wait != 0: all of it). */
int ess_tier_poll(struct ess_ctx *ctx, int wait);
/* Drop a request's NVMe copies (before ess_request_remove). */
int ess_tier_forget(struct ess_ctx *ctx, uint32_t req);
/* 1 if the extent holding token tok of (req, layer) is on NVMe only. */
int ess_tier_demoted(const struct ess_ctx *ctx, uint32_t req, uint32_t layer,
		     uint32_t tok);

struct ess_tier_stats {
	uint64_t demoted;		/* extents written and released */
	uint64_t demoted_bytes;
	uint64_t promoted;		/* extents read back and verified */
	uint64_t promoted_bytes;
	uint64_t critical_reads;	/* read back for a step's top-k */
	uint64_t prefetch_reads;	/* read back by resume */
	uint64_t parks;
	uint64_t resumes;
	uint64_t balance_passes;
	uint64_t heat_picks;		/* victims chosen from module heat */
	uint64_t count_picks;		/* victims chosen from own counts */
	uint64_t write_failures;	/* demotions kept in host memory */
	uint64_t read_failures;		/* read-backs that failed */
	uint64_t on_nvme;		/* level: extents held only on NVMe */
	uint64_t pool_extents;		/* level: host-pool extents */
	uint64_t pool_used;		/* level: of those, in use */
	struct ess_nvme_stats store;
};
int ess_tier_stats_get(const struct ess_ctx *ctx, struct ess_tier_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* ESS_NVME_H */
