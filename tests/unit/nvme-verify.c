// SPDX-License-Identifier: MIT
/*
 * NVMe extent store, deferred verification: ess_nvme_reap_raw hands back
 * reads before their CRC32C check and ess_nvme_verify performs it.  No
 * data is reported good before the check, a damaged extent still fails
 * -EBADMSG, a held read pins its slot and its record, bad completions are
 * refused, and a ring made with ESS_NVME_ONE_THREAD (DEFER_TASKRUN) still
 * delivers completions to a caller that polls without waiting.
 */
#include <pthread.h>
#include <stdlib.h>

#include "ess/nvme.h"
#include "nvme-tap.h"

#define EXT 8192
#define ODD 1000	/* a length O_DIRECT cannot take: bounced */

static char path[256];

static int reap_all_raw(ess_nvme *st, struct ess_nvme_cpl *c, int want)
{
	int got = 0, k;

	while (got < want && (k = ess_nvme_reap_raw(st, c + got,
						    (unsigned int)(want - got), 1)) > 0)
		got += k;
	return got;
}

static int other_thread_ret;

static void *submit_elsewhere(void *arg)
{
	other_thread_ret = ess_nvme_submit(arg);
	return NULL;
}

int main(void)
{
	struct ess_nvme_cpl c[4], w, forged;
	struct ess_nvme_stats s;
	ess_nvme *st;
	char why[512], odd_in[ODD], odd_out[ODD];
	unsigned char *data, *out;
	uint64_t slot[3];
	int ret, fd, k, polls;
	pthread_t th;

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(13);
	data = aligned_alloc(4096, 2 * EXT);
	out = aligned_alloc(4096, 2 * EXT);
	st = nvme_open_small(path, EXT, 0, 2);
	if (!tap_ok(st && data && out, "open a store of queue depth 2"))
		return 1;
	rng_fill(data, 2 * EXT);
	rng_fill(odd_in, ODD);
	ret = 0;
	for (int i = 0; i < 3; i++)
		ret |= ess_nvme_alloc(st, &slot[i]);
	ret |= ess_nvme_write(st, slot[0], data, EXT, 0) |
	       ess_nvme_write(st, slot[1], data + EXT, EXT, 1);
	ret |= reap_all_raw(st, c, 2) != 2 || c[0].status || c[1].status;
	ret |= ess_nvme_write(st, slot[2], odd_in, ODD, 2);
	ret |= reap_all_raw(st, c, 1) != 1 || c[0].status;
	tap_ok(!ret, "writes reaped raw come back final (status 0)");

	memset(out, 0, 2 * EXT);
	ret = ess_nvme_read(st, slot[0], out, EXT, 0, 10) |
	      ess_nvme_read(st, slot[1], out + EXT, EXT, 0, 11);
	k = reap_all_raw(st, c, 2);
	ess_nvme_stats_get(st, &s);
	tap_ok(!ret && k == 2 && c[0].status == ESS_NVME_UNVERIFIED &&
	       c[1].status == ESS_NVME_UNVERIFIED && s.reads == 0 &&
	       s.unverified == 2,
	       "reads reaped raw are ESS_NVME_UNVERIFIED and not counted as read (reads %llu, unverified %u)",
	       (unsigned long long)s.reads, s.unverified);
	tap_ok(ess_nvme_free(st, c[0].slot) == -EBUSY &&
	       ess_nvme_write(st, c[0].slot, data, EXT, 0) == -EBUSY,
	       "an unverified read pins its slot: free and write -EBUSY");
	tap_ok(ess_nvme_read(st, slot[2], odd_out, ODD, 0, 12) == -EBUSY,
	       "every record held for verification: read -EBUSY, no hang (%s)",
	       ess_nvme_errmsg(st));
	forged = c[0];
	forged.handle = 99;
	tap_ok(ess_nvme_verify(st, &forged) == -EINVAL,
	       "a completion with a handle the store does not hold: -EINVAL (%s)",
	       ess_nvme_errmsg(st));
	forged = c[0];
	ret = ess_nvme_verify(st, &c[0]) | ess_nvme_verify(st, &c[1]);
	ess_nvme_stats_get(st, &s);
	tap_ok(!ret && !c[0].status && !c[1].status && s.reads == 2 &&
	       s.unverified == 0 &&
	       !memcmp(out + (c[0].tag - 10) * EXT, data + (c[0].tag - 10) * EXT, EXT) &&
	       !memcmp(out + (c[1].tag - 10) * EXT, data + (c[1].tag - 10) * EXT, EXT),
	       "verify passes both, the data is exact, reads counted 2");
	tap_ok(ess_nvme_verify(st, &c[0]) == 0 &&
	       ess_nvme_verify(st, &forged) == -EINVAL,
	       "verify of a final completion returns its status; a stale copy of a verified one is -EINVAL");

	/* Bounced read: the caller's buffer is written only after the check. */
	memset(odd_out, 0, ODD);
	ret = ess_nvme_read(st, slot[2], odd_out, ODD, ESS_NVME_READ_CRITICAL, 13);
	k = reap_all_raw(st, c, 1);
	tap_ok(!ret && k == 1 && c[0].status == ESS_NVME_UNVERIFIED &&
	       !memcmp(odd_out, (char[ODD]){ 0 }, ODD) &&
	       ess_nvme_verify(st, &c[0]) == 0 && !memcmp(odd_out, odd_in, ODD),
	       "a bounced read leaves the caller's buffer alone until verified, then exact");

	/* Damaged extent: flip bytes behind the store. */
	fd = open(path, O_WRONLY);
	ret = fd >= 0 && pwrite(fd, "XYZ", 3, (off_t)(slot[1] * ess_nvme_slot_bytes(st) + 100)) == 3;
	if (fd >= 0)
		close(fd);
	ret = ret && ess_nvme_read(st, slot[1], out, EXT, 0, 14) == 0;
	k = reap_all_raw(st, c, 1);
	ret = ret && k == 1 && c[0].status == ESS_NVME_UNVERIFIED &&
	      ess_nvme_verify(st, &c[0]) == -EBADMSG;
	ess_nvme_stats_get(st, &s);
	tap_ok(ret && c[0].status == -EBADMSG && s.checksum_failures == 1 &&
	       s.unverified == 0,
	       "flipped bytes: reap_raw defers, verify says -EBADMSG (%s)",
	       ess_nvme_errmsg(st));
	/* An I/O error is final at once. */
	ret = ess_nvme_inject(st, ESS_NVME_OP_READ, 1, -EIO) |
	      ess_nvme_read(st, slot[0], out, EXT, 0, 15);
	k = reap_all_raw(st, c, 1);
	tap_ok(!ret && k == 1 && c[0].status == -EIO,
	       "an injected read error comes back final from reap_raw: -EIO");
	ess_nvme_close(st);

	/* ESS_NVME_ONE_THREAD: completions posted only when the owner
	 * enters the kernel; a poll (min_wait 0) must still see them. */
	st = nvme_open_small(path, EXT, ESS_NVME_ONE_THREAD, 4);
	ret = !st;
	if (st) {
		ret |= ess_nvme_alloc(st, &slot[0]) |
		       ess_nvme_write(st, slot[0], data, EXT, 0) |
		       (ess_nvme_submit(st) != 1);
		for (k = 0, polls = 0; !k && polls < 1000000; polls++)
			k = ess_nvme_reap(st, &w, 1, 0);
		ret |= k != 1 || w.status;
		ret |= ess_nvme_read(st, slot[0], out, EXT, 0, 1);
		ret |= pthread_create(&th, NULL, submit_elsewhere, st) != 0 ||
		       pthread_join(th, NULL) != 0;
		tap_ok(!ret && other_thread_ret == -EEXIST,
		       "ESS_NVME_ONE_THREAD: a poll sees the write; another thread's submit gets -EEXIST (%d: %s)",
		       other_thread_ret, ess_nvme_errmsg(st));
		ret = ess_nvme_reap(st, &w, 1, 1) != 1 || w.status ||
		      memcmp(out, data, EXT);
		tap_ok(!ret, "the owner's reap then delivers the read, exact");
		ess_nvme_close(st);
	} else {
		tap_ok(0, "open with ESS_NVME_ONE_THREAD");
		tap_ok(0, "no store");
	}
	unlink(path);
	free(data);
	free(out);
	return tap_done();
}
