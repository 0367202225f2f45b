// SPDX-License-Identifier: MIT
/*
 * NVMe extent store, system calls per read: a caller that keeps one read
 * in flight (queue depth 1, the latency-bound case) pays at most two
 * io_uring_enter calls per read, one submit and one wait, as fio does, on
 * both ring kinds and with verification inline or deferred.  A batch goes
 * to the kernel in one call, and a reap with nothing to wait for makes
 * none.  Counted by the store itself (stats.enter_calls), so an extra
 * call per read (a poll, a second wait) fails here.  No timing involved:
 * the bounds hold however fast the device is.
 */
#include <stdlib.h>

#include "ess/nvme.h"
#include "nvme-tap.h"

#define EXT 8192
#define NREAD 64

static char path[256];

static uint64_t enters(const ess_nvme *st)
{
	struct ess_nvme_stats s;

	return ess_nvme_stats_get(st, &s) ? UINT64_MAX : s.enter_calls;
}

/* Write slots 0..nslot-1 from data, one extent each; 0 on success. */
static int fill(ess_nvme *st, const unsigned char *data, int nslot)
{
	struct ess_nvme_cpl c;
	uint64_t slot;

	for (int i = 0; i < nslot; i++) {
		if (ess_nvme_alloc(st, &slot) ||
		    ess_nvme_write(st, slot, data + (size_t)i * EXT, EXT, 0) ||
		    ess_nvme_reap(st, &c, 1, 1) != 1 || c.status)
			return -1;
	}
	return 0;
}

/*
 * The benchmark's loop at queue depth 1: take the finished read raw,
 * queue and submit the next one into the other buffer, then verify.
 * Returns the enter calls of NREAD reads, or UINT64_MAX on any failure
 * (including a read that does not match what was written).
 */
static uint64_t loop_refill_first(ess_nvme *st, unsigned char *bufs,
				  const unsigned char *data)
{
	struct ess_nvme_cpl c;
	uint64_t e0 = enters(st);
	int b = 0;

	if (ess_nvme_read(st, 0, bufs, EXT, 0, 0) || ess_nvme_submit(st) != 1)
		return UINT64_MAX;
	for (int i = 0; i < NREAD; i++) {
		if (ess_nvme_reap_raw(st, &c, 1, 1) != 1 ||
		    c.status != ESS_NVME_UNVERIFIED)
			return UINT64_MAX;
		if (i + 1 < NREAD) {
			b ^= 1;
			if (ess_nvme_read(st, (uint64_t)(i + 1) % 2,
					  bufs + (size_t)b * EXT, EXT, 0,
					  (uint64_t)b) ||
			    ess_nvme_submit(st) != 1)
				return UINT64_MAX;
		}
		if (ess_nvme_verify(st, &c) ||
		    memcmp(bufs + (size_t)c.tag * EXT,
			   data + (size_t)c.slot * EXT, EXT))
			return UINT64_MAX;
	}
	return enters(st) - e0;
}

/* One read at a time, verified inside ess_nvme_reap. */
static uint64_t loop_inline(ess_nvme *st, unsigned char *buf,
			    const unsigned char *data)
{
	struct ess_nvme_cpl c;
	uint64_t e0 = enters(st);

	for (int i = 0; i < NREAD; i++) {
		if (ess_nvme_read(st, (uint64_t)i % 2, buf, EXT, 0, 0) ||
		    ess_nvme_submit(st) != 1 ||
		    ess_nvme_reap(st, &c, 1, 1) != 1 || c.status ||
		    memcmp(buf, data + (size_t)(i % 2) * EXT, EXT))
			return UINT64_MAX;
	}
	return enters(st) - e0;
}

int main(void)
{
	static const struct {
		uint32_t flags;
		const char *name;
	} rings[] = {
		{ ESS_NVME_ONE_THREAD, "DEFER_TASKRUN ring" },
		{ 0, "COOP_TASKRUN ring" },
	};
	struct ess_nvme_cpl c[4];
	struct ess_nvme_stats s;
	unsigned char *data, *bufs;
	char why[512];
	uint64_t n, e0;
	ess_nvme *st;

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(9);
	data = aligned_alloc(4096, 4 * EXT);
	bufs = aligned_alloc(4096, 4 * EXT);
	if (!data || !bufs)
		return 1;
	rng_fill(data, 4 * EXT);

	for (size_t r = 0; r < 2; r++) {
		st = nvme_open_small(path, EXT, rings[r].flags, 2);
		if (!st || fill(st, data, 2)) {
			tap_ok(0, "%s: open and fill", rings[r].name);
			tap_ok(0, "%s: inline loop", rings[r].name);
			ess_nvme_close(st);
			continue;
		}
		n = loop_refill_first(st, bufs, data);
		tap_ok(n >= NREAD && n <= 2 * NREAD,
		       "%s: %d reads, refill before verify, verified, %llu enter calls (at most 2 per read)",
		       rings[r].name, NREAD, (unsigned long long)n);
		n = loop_inline(st, bufs, data);
		tap_ok(n >= NREAD && n <= 2 * NREAD,
		       "%s: %d reads, verified in the reap, %llu enter calls (at most 2 per read)",
		       rings[r].name, NREAD, (unsigned long long)n);
		ess_nvme_close(st);
	}

	st = nvme_open_small(path, EXT, ESS_NVME_ONE_THREAD, 4);
	if (!tap_ok(st && fill(st, data, 4) == 0, "store of queue depth 4 filled"))
		return 1;
	e0 = enters(st);
	tap_ok(ess_nvme_reap(st, c, 4, 1) == 0 && ess_nvme_reap(st, c, 4, 0) == 0 &&
	       enters(st) == e0,
	       "a reap with nothing queued or in flight enters the kernel 0 times");
	for (int i = 0; i < 4; i++)
		ess_nvme_read(st, (uint64_t)i, bufs + (size_t)i * EXT, EXT, 0,
			      (uint64_t)i);
	tap_ok(ess_nvme_submit(st) == 4 && enters(st) == e0 + 1,
	       "4 queued reads go to the kernel in 1 call");
	{
		int got = 0, k;

		while (got < 4 && (k = ess_nvme_reap(st, c + got,
						     (unsigned int)(4 - got), 1)) > 0)
			got += k;
		tap_ok(got == 4 && !c[0].status && !c[1].status &&
		       !c[2].status && !c[3].status &&
		       !memcmp(bufs, data, 4 * EXT) &&
		       enters(st) - e0 <= 1 + 4,
		       "their 4 completions reaped verified, %llu enter calls in all",
		       (unsigned long long)(enters(st) - e0));
	}
	ess_nvme_stats_get(st, &s);
	tap_ok(s.enter_calls >= s.submit_calls && s.submit_calls >= 1,
	       "enter_calls (%llu) counts every submit_calls one (%llu) and more",
	       (unsigned long long)s.enter_calls,
	       (unsigned long long)s.submit_calls);
	ess_nvme_close(st);
	unlink(path);
	free(data);
	free(bufs);
	return tap_done();
}
