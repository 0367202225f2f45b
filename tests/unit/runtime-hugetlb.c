// SPDX-License-Identifier: MIT
/*
 * The fallback pool's hugetlb path: with enough free 2 MiB huge pages the
 * pool is a hugetlb memfd (locked), rows round-trip byte for byte, and
 * without them it falls back to THP memory.  Needs to reserve huge pages,
 * which changes the machine: it runs only in the QEMU guest (where
 * /dev/ess exists) as root, and skips elsewhere.
 */
#include <fcntl.h>

#include "runtime-tap.h"

#define NRPATH "/proc/sys/vm/nr_hugepages"

static long get_nr(void)
{
	long v = -1;
	FILE *f = fopen(NRPATH, "r");

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int set_nr(long v)
{
	FILE *f = fopen(NRPATH, "w");
	int ret;

	if (!f)
		return -1;
	ret = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	return fclose(f) || ret ? -1 : 0;
}

static void one(const char *want)
{
	struct ess_config c;
	struct ess_stats st;
	uint8_t rows[200 * 40];
	int32_t topk[8] = { 0, 5, 9, 100, 150, 199, -1, 42 }, out[8];
	ess_ctx *ctx;
	uint32_t r;
	int good = 1;

	small_cfg(&c);
	c.flags = ESS_CFG_DATA_CHECK;
	ctx = make_ctx(&c);
	ok(!strcmp(ess_pool_provider(ctx), want), "provider %s (want %s)",
	   ess_pool_provider(ctx), want);
	fill_random(rows, sizeof(rows));
	MUST(ess_request_add(ctx, 1, &r));
	MUST(ess_ingest(ctx, r, 0, 0, 200, rows));
	for (uint32_t t = 0; t < 200; t++)
		good &= !memcmp(ess_host_row(ctx, r, 0, t), rows + t * 40, 40);
	ok(good, "%s: rows round-trip", want);
	ok(ess_resolve(ctx, 0, 1, &r, topk, out, NULL) == 0,
	   "%s: resolve, data-checked", want);
	ess_stats_get(ctx, &st);
	ok(st.pool_unlocked == 0, "%s: pool locked", want);
	ess_destroy(ctx);
}

int main(void)
{
	long old;

	old = get_nr();
	if (access("/dev/ess", F_OK) || geteuid() != 0 || old < 0) {
		printf("1..0 # SKIP reserves huge pages: runs only in the QEMU guest as root\n");
		return 0;
	}
	seed_rng();
	if (!ok(set_nr(old + 8) == 0 && get_nr() >= old + 8,
		"reserve 8 huge pages (had %ld)", old)) {
		set_nr(old);
		return done();
	}
	one("hugetlb");
	ok(set_nr(old) == 0, "give the huge pages back");
	if (old == 0)
		one("thp");
	return done();
}
