// SPDX-License-Identifier: MIT
/*
 * NVMe extent store, ESS_NVME_VERIFY_THREAD: reads verified on the store's
 * verifier thread (or by the calling thread when it needs one the thread
 * has not taken) must come out exactly as on the inline path.  The same
 * faults are injected into a store without the thread and one with it, the
 * way tests/unit/nvme-faults does (flipped bytes written behind the store,
 * a truncated file, the EIO hook), through ess_nvme_reap and through
 * ess_nvme_reap_raw + ess_nvme_verify, and the per-extent statuses, data
 * and counters must match: damaged data never reaches a bounced buffer,
 * every read comes back exactly once, nothing stays pending.  One batch is
 * left to the thread alone (the test does not touch it until the thread
 * reports it checked all of it), so the thread's own path is proven, not
 * only the calling thread's.  Bad verify_cpu values are refused with a
 * message.  Nothing here depends on timing: the one wait is for the
 * thread to make progress at all, with a 10 s bound.
 */
#include <sched.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "ess/nvme.h"
#include "nvme-tap.h"

#define EXT 8192
#define N 32		/* extents in the store */
#define QD 8
#define CUT 28		/* the file is cut inside extent CUT */
#define PAD 64		/* bounced buffers: EXT + PAD apart, 1 byte off */
/* Their area, a multiple of 4 KiB as aligned_alloc wants. */
#define BOUNCED_BYTES (((size_t)N * (EXT + PAD) + 4095) / 4096 * 4096)

static char path[256];
static unsigned char src[N * EXT];

/* Even extents are read into aligned buffers (direct I/O), odd ones into
 * buffers one byte off (bounced through the store's own buffer). */
static unsigned char *dst_of(unsigned char *direct, unsigned char *bounced,
			     uint32_t i)
{
	return i % 2 ? bounced + (size_t)i * (EXT + PAD) + 1 :
		       direct + (size_t)i * EXT;
}

static ess_nvme *open_store(uint32_t flags, int32_t cpu, char *err,
			    size_t errlen)
{
	struct ess_nvme_config cfg;
	ess_nvme *st = NULL;

	ess_nvme_config_default(&cfg);
	cfg.path = path;
	cfg.flags |= flags;
	cfg.extent_bytes = EXT;
	cfg.queue_depth = QD;
	cfg.capacity_bytes = N * (uint64_t)EXT;
	cfg.verify_cpu = cpu;
	err[0] = 0;
	ess_nvme_open(&cfg, &st, err, errlen);
	return st;
}

/* Fill the store with src (the same bytes for every run), in slots 0..N-1. */
static int fill(ess_nvme *st)
{
	struct ess_nvme_cpl c[QD];
	uint64_t slot;
	int got = 0, k, bad = 0;

	for (uint32_t i = 0; i < N; i++) {
		if (ess_nvme_alloc(st, &slot) || slot != i ||
		    ess_nvme_write(st, slot, src + (size_t)i * EXT, EXT, i))
			return -1;
	}
	while (got < N && (k = ess_nvme_reap(st, c, QD, 1)) > 0) {
		for (int j = 0; j < k; j++)
			bad |= c[j].status != 0;
		got += k;
	}
	return got == N && !bad ? 0 : -1;
}

/* Damage behind the store: one byte of extent 5, 16 bytes of extent 17,
 * and the file cut in the middle of extent CUT. */
static int damage(void)
{
	unsigned char b[16];
	int fd = open(path, O_RDWR), ok;

	memset(b, 0x5a, sizeof(b));
	b[0] = src[5 * EXT + 4321] ^ 0xff;
	ok = fd >= 0 && pwrite(fd, b, 1, 5 * EXT + 4321) == 1;
	memset(b, 0x5a, sizeof(b));
	ok = ok && pwrite(fd, b, sizeof(b), 17 * EXT) == sizeof(b) &&
	     fsync(fd) == 0 && ftruncate(fd, CUT * EXT + EXT / 2) == 0;
	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

struct outcome {
	int status[N];
	int seen[N];		/* completions per extent */
	int lost;		/* extents not seen exactly once */
	int data_bad;		/* good reads that differ from src */
	int leaked;		/* failed bounced reads that wrote the buffer */
	int msg_bad;		/* failures whose message lacks the slot */
	int reap_calls;
	unsigned int pending;
	struct ess_nvme_stats s;
};

/*
 * Read every extent back with QD in flight, reaping 1, 3 or 7 at a time
 * (raw: reap_raw, then ess_nvme_verify on each); fill o.
 */
static int read_back(ess_nvme *st, bool raw, struct outcome *o,
		     unsigned char *direct, unsigned char *bounced)
{
	static const unsigned int maxes[] = { 1, 3, 7 };
	struct ess_nvme_cpl c[QD];
	uint32_t next = 0, got = 0;
	char want[32];
	int k;

	memset(o, 0, sizeof(*o));
	memset(direct, 0, (size_t)N * EXT);
	memset(bounced, 0xaa, (size_t)N * (EXT + PAD));
	while (got < N) {
		while (next < N && next - got < QD) {
			if (ess_nvme_read(st, next, dst_of(direct, bounced, next),
					  EXT, 0, next))
				return -1;
			next++;
		}
		k = (raw ? ess_nvme_reap_raw : ess_nvme_reap)(
			st, c, maxes[o->reap_calls++ % 3], 1);
		if (k <= 0)
			return -1;
		for (int j = 0; j < k; j++) {
			uint32_t t = (uint32_t)c[j].tag;

			if (t >= N)
				return -1;
			if (raw && c[j].status != ESS_NVME_UNVERIFIED &&
			    c[j].status >= 0)
				return -1;	/* a full read came back final */
			if (raw)
				ess_nvme_verify(st, &c[j]);
			o->status[t] = c[j].status;
			o->seen[t]++;
			snprintf(want, sizeof(want), "slot %u", t);
			/* A CRC failure is reported by the verify call, so its
			 * message is the current one. */
			if (c[j].status && (c[j].slot != t ||
			    (raw && c[j].status == -EBADMSG &&
			     !strstr(ess_nvme_errmsg(st), want))))
				o->msg_bad++;
		}
		got += (uint32_t)k;
	}
	for (uint32_t i = 0; i < N; i++) {
		const unsigned char *d = dst_of(direct, bounced, i);

		o->lost += o->seen[i] != 1;
		if (o->status[i] == 0 && memcmp(d, src + (size_t)i * EXT, EXT))
			o->data_bad++;
		if (o->status[i] && i % 2)
			for (uint32_t b = 0; b < EXT; b++)
				o->leaked += d[b] != 0xaa;
	}
	o->pending = ess_nvme_pending(st);
	ess_nvme_stats_get(st, &o->s);
	return 0;
}

static int expected(const struct outcome *o)
{
	for (uint32_t i = 0; i < N; i++) {
		int want = i == 5 || i == 17 ? -EBADMSG : i >= CUT ? -ENODATA : 0;

		if (o->status[i] != want)
			return 0;
	}
	return !o->lost && !o->data_bad && !o->leaked && !o->msg_bad &&
	       !o->pending && !o->s.unverified && !o->s.verifying &&
	       o->s.reads == N - 2 - (N - CUT) && o->s.checksum_failures == 2 &&
	       o->s.short_reads == N - CUT && o->s.read_errors == 2 + N - CUT;
}

static int same(const struct outcome *a, const struct outcome *b)
{
	return !memcmp(a->status, b->status, sizeof(a->status)) &&
	       a->s.reads == b->s.reads && a->s.read_bytes == b->s.read_bytes &&
	       a->s.checksum_failures == b->s.checksum_failures &&
	       a->s.short_reads == b->s.short_reads &&
	       a->s.read_errors == b->s.read_errors &&
	       a->s.io_errors == b->s.io_errors;
}

/* One store: fill, damage, read back; the same for every flag set. */
static int run(uint32_t flags, bool raw, struct outcome *o,
	       unsigned char *direct, unsigned char *bounced)
{
	char err[256];
	ess_nvme *st;
	int ret;

	if (truncate(path, 0))
		return -1;
	st = open_store(flags, -1, err, sizeof(err));
	if (!st) {
		tap_diag("open: %s", err);
		return -1;
	}
	ret = fill(st) || damage() || read_back(st, raw, o, direct, bounced);
	ess_nvme_close(st);
	return ret ? -1 : 0;
}

/* An injected EIO on the next read, then a retry: status and data. */
static int eio_retry(uint32_t flags, bool raw, int *first, int *second)
{
	struct ess_nvme_cpl c;
	unsigned char *buf = aligned_alloc(4096, EXT);
	char err[256];
	ess_nvme *st;
	int ok = 0;

	*first = *second = 1;
	if (truncate(path, 0) || !buf)
		goto out;
	st = open_store(flags, -1, err, sizeof(err));
	if (!st)
		goto out;
	if (!fill(st) && !ess_nvme_inject(st, ESS_NVME_OP_READ, 1, -EIO)) {
		for (int r = 0; r < 2; r++) {
			int *res = r ? second : first;

			memset(buf, 0, EXT);
			if (ess_nvme_read(st, 3, buf, EXT, 0, 3) ||
			    (raw ? ess_nvme_reap_raw : ess_nvme_reap)(st, &c, 1, 1) != 1)
				break;
			*res = raw ? ess_nvme_verify(st, &c) : c.status;
		}
		ok = *first == -EIO && *second == 0 &&
		     !memcmp(buf, src + 3 * EXT, EXT) && !ess_nvme_pending(st);
	}
	ess_nvme_close(st);
out:
	free(buf);
	return ok;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Hand QD reads (among them the damaged extent 5, bounced, and extent 17,
 * direct) to the thread and leave them to it: ess_nvme_submit wakes it,
 * and the test waits until the thread's counter says it checked all QD
 * before asking for any result.
 */
static void thread_alone(unsigned char *direct, unsigned char *bounced)
{
	static const uint32_t ext[QD] = { 0, 5, 17, 2, 3, 9, 12, 20 };
	struct ess_nvme_cpl c[QD];
	struct ess_nvme_stats s0, s;
	char err[256];
	ess_nvme *st;
	int got = 0, k, ok, data_ok = 1, untouched = 1, st_ok = 1;
	double t0;

	st = truncate(path, 0) ? NULL : open_store(ESS_NVME_VERIFY_THREAD, -1,
						  err, sizeof(err));
	ok = st && !fill(st) && !damage();
	memset(bounced, 0xaa, (size_t)N * (EXT + PAD));
	for (int i = 0; ok && i < QD; i++)
		ok = !ess_nvme_read(st, ext[i], dst_of(direct, bounced, ext[i]),
				    EXT, 0, ext[i]);
	while (ok && got < QD && (k = ess_nvme_reap_raw(st, c + got,
							 (unsigned int)(QD - got),
							 1)) > 0)
		got += k;
	ok = ok && got == QD;
	for (int i = 0; ok && i < QD; i++)
		ok = c[i].status == ESS_NVME_UNVERIFIED;
	if (st)
		ess_nvme_stats_get(st, &s0);
	tap_ok(ok && s0.unverified == QD && s0.verifying == QD && s0.reads == 0,
	       "thread alone: %d reads handed to the thread, none reported yet (unverified %u, with the thread %u)",
	       QD, s0.unverified, s0.verifying);
	ok = ok && ess_nvme_submit(st) == 0;
	t0 = now_s();
	do {
		ess_nvme_stats_get(st, &s);
		if (s.thread_verified - s0.thread_verified >= QD)
			break;
		usleep(1000);
	} while (ok && now_s() - t0 < 10);
	tap_ok(ok && s.thread_verified - s0.thread_verified == QD && s.reads == 0,
	       "thread alone: the thread checked all %d by itself (%llu); still none reported before ess_nvme_verify",
	       QD, (unsigned long long)(s.thread_verified - s0.thread_verified));
	for (int i = 0; ok && i < QD; i++) {
		uint32_t e = (uint32_t)c[i].tag;
		const unsigned char *d = dst_of(direct, bounced, e);
		int want = e == 5 || e == 17 ? -EBADMSG : 0;

		st_ok &= ess_nvme_verify(st, &c[i]) == want && c[i].status == want;
		if (!want)
			data_ok &= !memcmp(d, src + (size_t)e * EXT, EXT);
		else if (e % 2)
			for (uint32_t b = 0; b < EXT; b++)
				untouched &= d[b] == 0xaa;
	}
	if (st)
		ess_nvme_stats_get(st, &s);
	tap_ok(ok && st_ok && data_ok && untouched,
	       "thread alone: extents 5 and 17 fail -EBADMSG, the bounced damaged one leaves the buffer untouched, 6 read back exact");
	tap_ok(ok && s.reads == QD - 2 && s.checksum_failures == 2 &&
	       s.verifier_waits == 0 && !s.unverified && !s.verifying &&
	       !ess_nvme_pending(st),
	       "thread alone: counters (6 reads, 2 checksum failures, no wait for the thread, nothing left)");
	ess_nvme_close(st);
}

/* Many reads through a small queue, reaped in odd batches: each comes back
 * once and exact, and the counters add up.  Then close with reads still in
 * flight and with the thread (ASan checks that nothing leaks or hangs). */
static void volume(unsigned char *direct, unsigned char *bounced)
{
	enum { READS = 1024 };
	struct ess_nvme_cpl c[QD];
	static int seen[READS];
	struct ess_nvme_stats s;
	char err[256];
	ess_nvme *st;
	uint32_t next = 0, got = 0;
	int ok, k, dup = 0, bad = 0, calls = 0;

	memset(seen, 0, sizeof(seen));
	st = truncate(path, 0) ? NULL : open_store(ESS_NVME_VERIFY_THREAD, -1,
						  err, sizeof(err));
	ok = st && !fill(st);
	/* One read per extent buffer in flight at a time: extent i % N. */
	while (ok && got < READS) {
		while (next < READS && next - got < QD) {
			uint32_t e = next % N;

			ok = !ess_nvme_read(st, e, dst_of(direct, bounced, e),
					    EXT, 0, next);
			if (!ok)
				break;
			next++;
		}
		k = ess_nvme_reap(st, c, 1 + (unsigned int)(calls++ % QD), 1);
		if (k <= 0) {
			ok = 0;
			break;
		}
		for (int j = 0; j < k; j++) {
			uint32_t t = (uint32_t)c[j].tag;

			if (t >= READS || seen[t]++) {
				dup++;
				continue;
			}
			bad += c[j].status != 0 ||
			       memcmp(dst_of(direct, bounced, t % N),
				      src + (size_t)(t % N) * EXT, EXT);
		}
		got += (uint32_t)k;
	}
	if (st)
		ess_nvme_stats_get(st, &s);
	tap_ok(ok && got == READS && !dup && !bad && s.reads == READS &&
	       !ess_nvme_pending(st) && !s.verifying,
	       "volume: %d reads through a queue of %d come back once each and exact (thread checked %llu, %llu waits, %llu wake-ups)",
	       READS, QD, (unsigned long long)s.thread_verified,
	       (unsigned long long)s.verifier_waits,
	       (unsigned long long)s.verifier_wakeups);
	/* One read alone is never worth waking the thread for: a caller that
	 * only polls (min_wait 0) must still get it. */
	{
		double t0 = now_s();
		int polls = 0;

		ok = ok && !ess_nvme_read(st, 1, dst_of(direct, bounced, 1), EXT,
					  0, 1);
		k = 0;
		while (ok && !k && now_s() - t0 < 10) {
			k = ess_nvme_reap(st, c, QD, 0);
			polls++;
		}
		tap_ok(ok && k == 1 && c[0].status == 0 && c[0].tag == 1 &&
		       !ess_nvme_pending(st) &&
		       !memcmp(dst_of(direct, bounced, 1), src + EXT, EXT),
		       "poll: a single read comes back verified to a caller that only polls (%d polls)",
		       polls);
	}
	/* Leave work everywhere, then close. */
	for (uint32_t e = 0; ok && e < QD; e++)
		ok = !ess_nvme_read(st, e, dst_of(direct, bounced, e), EXT, 0, e);
	ok = ok && ess_nvme_reap_raw(st, c, 3, 3) == 3;
	for (uint32_t e = QD; ok && e < QD + 3; e++)
		ok = !ess_nvme_read(st, e, dst_of(direct, bounced, e), EXT, 0, e);
	ok = ok && ess_nvme_reap(st, c, 1, 0) >= 0;
	ess_nvme_close(st);
	tap_ok(ok, "volume: close with reads in flight, with the thread and held unverified returns");
}

static void bad_cpu(void)
{
	char err[256];
	ess_nvme *st;
	cpu_set_t set;
	int outside = -1, inside = -1;

	st = open_store(0, 0, err, sizeof(err));
	tap_ok(!st && strstr(err, "without ESS_NVME_VERIFY_THREAD"),
	       "verify_cpu without the flag is refused (%s)", err);
	ess_nvme_close(st);
	st = open_store(ESS_NVME_VERIFY_THREAD, -2, err, sizeof(err));
	tap_ok(!st && strstr(err, "verify_cpu -2 outside"),
	       "verify_cpu -2 is refused (%s)", err);
	ess_nvme_close(st);
	st = open_store(ESS_NVME_VERIFY_THREAD, CPU_SETSIZE, err, sizeof(err));
	tap_ok(!st && strstr(err, "outside"), "verify_cpu %d is refused (%s)",
	       CPU_SETSIZE, err);
	ess_nvme_close(st);
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		for (int i = 0; i < CPU_SETSIZE; i++) {
			if (CPU_ISSET(i, &set) && inside < 0)
				inside = i;
			if (!CPU_ISSET(i, &set))
				outside = i;
		}
	st = outside < 0 ? NULL : open_store(ESS_NVME_VERIFY_THREAD, outside,
					     err, sizeof(err));
	tap_ok(outside >= 0 && !st && strstr(err, "cannot start the verifier thread on CPU"),
	       "a CPU this process may not use (%d) fails the open (%s)",
	       outside, err);
	ess_nvme_close(st);
	st = inside < 0 ? NULL : open_store(ESS_NVME_VERIFY_THREAD, inside,
					    err, sizeof(err));
	tap_ok(st != NULL, "the verifier pinned to CPU %d opens (%s)", inside,
	       err);
	ess_nvme_close(st);
}

int main(void)
{
	struct outcome inl, thr;
	unsigned char *direct, *bounced;
	char why[512];
	int a, b, ra, rb;

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(20);
	direct = aligned_alloc(4096, (size_t)N * EXT);
	bounced = aligned_alloc(4096, BOUNCED_BYTES);
	if (!direct || !bounced)
		return 1;
	rng_fill(src, sizeof(src));

	for (int raw = 0; raw < 2; raw++) {
		const char *how = raw ? "reap_raw + verify" : "reap";

		a = run(0, raw, &inl, direct, bounced);
		b = run(ESS_NVME_VERIFY_THREAD, raw, &thr, direct, bounced);
		tap_ok(!a && expected(&inl),
		       "%s, inline: 2 flipped extents -EBADMSG, %d past the cut -ENODATA, %d exact, bounced buffers untouched, nothing lost",
		       how, N - CUT, N - 2 - (N - CUT));
		tap_ok(!b && expected(&thr),
		       "%s, verifier thread: the same (thread checked %llu of %d, %llu waits, %llu wake-ups)",
		       how, (unsigned long long)thr.s.thread_verified, CUT,
		       (unsigned long long)thr.s.verifier_waits,
		       (unsigned long long)thr.s.verifier_wakeups);
		tap_ok(!a && !b && same(&inl, &thr),
		       "%s: statuses and counters identical with and without the thread",
		       how);
		ra = eio_retry(0, raw, &a, &b);
		rb = eio_retry(ESS_NVME_VERIFY_THREAD, raw, &a, &b);
		tap_ok(ra && rb,
		       "%s: an injected EIO comes back -EIO with and without the thread, and the retry reads exact (%d then %d)",
		       how, a, b);
	}
	thread_alone(direct, bounced);
	volume(direct, bounced);
	bad_cpu();
	free(direct);
	free(bounced);
	unlink(path);
	return tap_done();
}
