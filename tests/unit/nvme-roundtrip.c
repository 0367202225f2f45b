// SPDX-License-Identifier: MIT
/*
 * NVMe extent store round trips: random extents written and read back at
 * several queue depths, through every buffer path (bounced: unaligned
 * length or address; direct: aligned, registered or not), with many more
 * extents than queue depth in flight, and with slots freed and reused.
 * Data must come back bit-exact and the counters must match what was done.
 */
#include <sys/mman.h>

#include "ess/nvme.h"
#include "nvme-tap.h"

struct rt_case {
	const char *name;
	uint32_t qd;
	uint32_t extent;	/* extent_bytes and the length of each write */
	uint32_t stride;	/* host distance between extents */
	uint32_t misalign;	/* added to the host base address */
	uint32_t n;		/* extents */
	int registered;		/* host memory registered with the store */
	int expect_bounce;	/* -1: if the length is not a block multiple */
};

static const struct rt_case cases[] = {
	{ "qd1 unaligned length (bounced)", 1, 41000, 41000, 0, 64, 0, 1 },
	{ "qd2 DSA extent 64 x 656 bytes", 2, 41984, 41984, 0, 64, 1, -1 },
	{ "qd4 aligned, unregistered", 4, 65536, 65536, 0, 64, 0, 0 },
	{ "qd32 aligned, registered", 32, 65536, 65536, 0, 128, 1, 0 },
	{ "qd8 misaligned address (bounced)", 8, 8192, 8192, 8, 64, 1, 1 },
	{ "qd128 2048 extents in flight", 128, 8192, 8192, 0, 2048, 1, 0 },
	/* 64 x 45,056-byte slots: a bounce area past 2 MiB, on huge pages */
	{ "qd64 unaligned length, 2.75 MiB bounce area (bounced)", 64, 41000, 41000, 0, 256, 1, 1 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))
#define TESTS_PER_CASE 6

static char path[256];

static void shuffle(uint64_t *v, uint32_t n)
{
	uint32_t i;

	for (i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng_next() % (i + 1));
		uint64_t t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

/* Reap everything; check each tag < n completes once with status 0. */
static int reap_all(ess_nvme *st, uint32_t n, uint32_t op, int *bad_status)
{
	struct ess_nvme_cpl cpl[64];
	unsigned char *seen = calloc(n, 1);
	uint32_t got = 0;
	int ok = 1, k, i;

	*bad_status = 0;
	while (got < n) {
		/* Alternate single and batch reaps: both must see all. */
		k = ess_nvme_reap(st, cpl, (got & 1) ? 1 : 64, 1);
		if (k > 1 && (got & 1))
			ok = 0;
		if (k <= 0) {
			ok = 0;
			break;
		}
		for (i = 0; i < k; i++) {
			if (cpl[i].tag >= n || seen[cpl[i].tag] ||
			    cpl[i].op != op)
				ok = 0;
			else
				seen[cpl[i].tag] = 1;
			if (cpl[i].status && !*bad_status) {
				*bad_status = cpl[i].status;
				tap_diag("%s", ess_nvme_errmsg(st));
			}
		}
		got += (uint32_t)k;
	}
	free(seen);
	return ok && got == n && ess_nvme_pending(st) == 0;
}

static void run_case(const struct rt_case *c)
{
	struct ess_nvme_config cfg;
	struct ess_nvme_stats s;
	ess_nvme *st = NULL;
	char err[256];
	size_t host_len = (size_t)c->stride * c->n + c->misalign + 4096;
	char *src_map, *dst_map, *src, *dst;
	uint64_t *slot, *order;
	uint32_t i;
	int ret, bad = 0, ok = 1, bounce;

	ess_nvme_config_default(&cfg);
	cfg.path = path;
	cfg.extent_bytes = c->extent;
	cfg.queue_depth = c->qd;
	cfg.capacity_bytes = (uint64_t)c->n * ((c->extent + 4095) / 4096 * 4096);
	ret = ess_nvme_open(&cfg, &st, err, sizeof(err));
	if (!tap_ok(ret == 0, "%s: open (%s)", c->name, ret ? err : "ok")) {
		for (i = 1; i < TESTS_PER_CASE; i++)
			tap_ok(0, "%s: skipped after failed open", c->name);
		return;
	}
	bounce = c->expect_bounce >= 0 ? c->expect_bounce :
		 c->extent % ess_nvme_block_bytes(st) != 0;
	src_map = mmap(NULL, host_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	dst_map = mmap(NULL, host_len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	src = src_map + c->misalign;
	dst = dst_map + c->misalign;
	rng_fill(src, (size_t)c->stride * c->n);
	if (c->registered) {
		ret = ess_nvme_register_memory(st, src_map, host_len);
		ok &= ret >= 0;
		ret = ess_nvme_register_memory(st, dst_map, host_len);
		ok &= ret >= 0;
	}
	slot = calloc(c->n, sizeof(*slot));
	order = calloc(c->n, sizeof(*order));
	for (i = 0; i < c->n; i++) {
		ok &= ess_nvme_alloc(st, &slot[i]) == 0;
		order[i] = i;
	}
	shuffle(order, c->n);
	for (i = 0; ok && i < c->n; i++) {
		uint64_t e = order[i];

		ret = ess_nvme_write(st, slot[e], src + e * c->stride,
				     c->extent, e);
		if (ret) {
			tap_diag("write: %s", ess_nvme_errmsg(st));
			ok = 0;
		}
		/* Submit in batches of a quarter queue, as a caller would. */
		if (i % (c->qd / 4 + 1) == 0)
			ess_nvme_submit(st);
	}
	ok &= reap_all(st, c->n, ESS_NVME_OP_WRITE, &bad);
	tap_ok(ok && !bad, "%s: %u writes complete with status 0", c->name, c->n);
	for (i = 0; i < c->n; i++)
		ok &= ess_nvme_slot_valid(st, slot[i]) == 1;
	tap_ok(ok, "%s: every written slot is valid", c->name);

	shuffle(order, c->n);
	for (i = 0; ok && i < c->n; i++) {
		uint64_t e = order[i];

		ret = ess_nvme_read(st, slot[e], dst + e * c->stride, c->extent,
				    (e & 1) ? ESS_NVME_READ_CRITICAL : 0, e);
		if (ret) {
			tap_diag("read: %s", ess_nvme_errmsg(st));
			ok = 0;
		}
	}
	ess_nvme_submit(st);
	ok &= reap_all(st, c->n, ESS_NVME_OP_READ, &bad);
	tap_ok(ok && !bad, "%s: %u reads complete with status 0", c->name, c->n);
	{
		int same = 1;

		for (i = 0; i < c->n; i++)
			same &= memcmp(src + (size_t)i * c->stride,
				       dst + (size_t)i * c->stride,
				       c->extent) == 0;
		tap_ok(same, "%s: data read back bit-exact", c->name);
	}
	ess_nvme_stats_get(st, &s);
	tap_ok(s.writes == c->n && s.reads == c->n &&
	       s.write_bytes == (uint64_t)c->n * c->extent &&
	       s.read_bytes == (uint64_t)c->n * c->extent &&
	       s.critical_reads == c->n / 2 && s.checksum_failures == 0 &&
	       s.read_errors == 0 && s.write_errors == 0 &&
	       s.slots_used == c->n && s.in_flight == 0 &&
	       (bounce ? s.bounced_ops == 2ull * c->n :
				   s.bounced_ops == 0) &&
	       (!c->registered || bounce || s.fixed_ops == 2ull * c->n),
	       "%s: counters (w %llu r %llu crit %llu fixed %llu bounced %llu submits %llu)",
	       c->name, (unsigned long long)s.writes,
	       (unsigned long long)s.reads, (unsigned long long)s.critical_reads,
	       (unsigned long long)s.fixed_ops,
	       (unsigned long long)s.bounced_ops,
	       (unsigned long long)s.submit_calls);
	ess_nvme_close(st);
	munmap(src_map, host_len);
	munmap(dst_map, host_len);
	free(slot);
	free(order);
}

/* Free a slot, take it again, overwrite it: the new extent comes back. */
static void reuse(void)
{
	struct ess_nvme_config cfg;
	struct ess_nvme_cpl cpl;
	ess_nvme *st = NULL;
	char a[5000], b[5000], out[5000];
	uint64_t s0, s1, s2;
	int ok;

	ess_nvme_config_default(&cfg);
	cfg.path = path;
	cfg.extent_bytes = sizeof(a);
	cfg.queue_depth = 2;
	cfg.capacity_bytes = 2 * 8192;
	ok = ess_nvme_open(&cfg, &st, NULL, 0) == 0;
	rng_fill(a, sizeof(a));
	rng_fill(b, sizeof(b));
	ok = ok && ess_nvme_alloc(st, &s0) == 0 && ess_nvme_alloc(st, &s1) == 0;
	ok = ok && ess_nvme_alloc(st, &s2) == -ENOSPC;
	ok = ok && ess_nvme_write(st, s0, a, sizeof(a), 0) == 0 &&
	     ess_nvme_reap(st, &cpl, 1, 1) == 1 && cpl.status == 0;
	ok = ok && ess_nvme_free(st, s0) == 0 && ess_nvme_slot_valid(st, s0) < 0;
	ok = ok && ess_nvme_alloc(st, &s2) == 0 && s2 == s0 &&
	     ess_nvme_slot_valid(st, s2) == 0;
	ok = ok && ess_nvme_write(st, s2, b, sizeof(b), 1) == 0 &&
	     ess_nvme_reap(st, &cpl, 1, 1) == 1 && cpl.status == 0;
	ok = ok && ess_nvme_read(st, s2, out, sizeof(out), 0, 2) == 0 &&
	     ess_nvme_reap(st, &cpl, 1, 1) == 1 && cpl.status == 0 &&
	     memcmp(out, b, sizeof(b)) == 0;
	tap_ok(ok, "a freed slot is reused and returns its new extent");
	ess_nvme_close(st);
}

int main(void)
{
	char why[512];
	size_t i;

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(2 + (int)NCASES * TESTS_PER_CASE);
	tap_ok(ess_nvme_crc32c("123456789", 9) == 0xe3069283u,
	       "CRC32C check value of \"123456789\" is e3069283");
	for (i = 0; i < NCASES; i++)
		run_case(&cases[i]);
	reuse();
	unlink(path);
	return tap_failed;
}
