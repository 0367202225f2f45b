/* SPDX-License-Identifier: MIT */
/*
 * Row copies between the pinned host pool and device slots: the SM gather
 * and scatter (every kernel variant) and the copy-engine path.  Fresh
 * random data each run, destinations poisoned first, every row compared
 * byte for byte, and every row outside the list checked untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ess_cuda.h"
#include "gpu-tap.h"

#define POOL_BYTES (192ull << 20)
#define NSLOTS 8192u
#define MAX_ROW 1152u
#define POISON_D 0xA5
#define POISON_H 0x5A

struct list {
	uint32_t nseg, seg_cap;
	uint32_t count[4];
	uint64_t *off;	/* [nseg * seg_cap] */
	int32_t *slot;
};

/* Random list: per segment distinct host rows in ascending order, taken in
 * runs of 1..8 adjacent rows (as misses of neighbouring tokens are), and
 * slots distinct over the whole list.  When adjacent_slots, a run also gets
 * consecutive slots (what the copy engine can coalesce). */
static void make_list(struct list *l, uint32_t row_bytes, int adjacent_slots)
{
	const uint64_t rows = POOL_BYTES / row_bytes;
	uint32_t total = 0, g, i;
	for (g = 0; g < l->nseg; g++)
		total += l->count[g];
	int32_t *perm = (int32_t *)malloc(sizeof(int32_t) * NSLOTS);
	for (i = 0; i < NSLOTS; i++)
		perm[i] = (int32_t)i;
	for (i = NSLOTS - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rng() % (i + 1));
		int32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	uint32_t used = 0;
	for (g = 0; g < l->nseg; g++) {
		/* ascending rows: stride through the pool, segment g in its own
		 * part of the pool so segments do not overlap */
		const uint64_t part = rows / l->nseg;
		const uint32_t n = l->count[g];
		const uint64_t step = n ? part / n : 0;	/* >= 9 rows here */
		for (i = 0; i < n;) {
			uint32_t run = 1 + (uint32_t)(rng() % 8), k;
			if (run > n - i)
				run = n - i;
			const uint64_t r = part * g + (uint64_t)i * step + rng() % (step - 8);
			for (k = 0; k < run; k++, i++) {
				uint64_t e = (uint64_t)g * l->seg_cap + i;
				l->off[e] = (r + k) * row_bytes;
				l->slot[e] = adjacent_slots ? (int32_t)used : perm[used];
				used++;
			}
		}
	}
	(void)total;
	free(perm);
}

/* slot -> list entry, -1 if the slot is not written */
static void slot_owner(const struct list *l, int32_t *owner)
{
	for (uint32_t s = 0; s < NSLOTS; s++)
		owner[s] = -1;
	for (uint32_t g = 0; g < l->nseg; g++)
		for (uint32_t i = 0; i < l->count[g]; i++) {
			uint32_t e = g * l->seg_cap + i;
			owner[l->slot[e]] = (int32_t)e;
		}
}

static int check_all_byte(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

static unsigned char *pool_h;	/* host pool (registered) */
static void *pool_d;		/* its device-side address */
static unsigned char *slots_d;	/* device slots */
static unsigned char *slots_h;	/* host copy of the slots */

/* Upload a list, returning device arrays. */
static void upload(const struct list *l, struct ess_fetch_list *fl, void **bufs)
{
	size_t n = (size_t)l->nseg * l->seg_cap;
	CK(cudaMalloc(&bufs[0], n * 8));
	CK(cudaMalloc(&bufs[1], n * 4));
	CK(cudaMalloc(&bufs[2], l->nseg * 4));
	CK(cudaMemcpy(bufs[0], l->off, n * 8, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(bufs[1], l->slot, n * 4, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(bufs[2], l->count, l->nseg * 4, cudaMemcpyHostToDevice));
	fl->off = (const uint64_t *)bufs[0];
	fl->slot = (const int32_t *)bufs[1];
	fl->count = (const uint32_t *)bufs[2];
	fl->nseg = l->nseg;
	fl->seg_cap = l->seg_cap;
}

static void flat_list(const struct list *l, uint64_t *off, int32_t *slot, uint32_t *n)
{
	*n = 0;
	for (uint32_t g = 0; g < l->nseg; g++)
		for (uint32_t i = 0; i < l->count[g]; i++) {
			off[*n] = l->off[g * l->seg_cap + i];
			slot[*n] = l->slot[g * l->seg_cap + i];
			(*n)++;
		}
}

/* gather: 0 SM kernel, 1 copy engine */
static cudaStream_t cs;
static uint32_t g_layout;	/* ESS_FETCH_LAYOUT_* of the SM tests */
static const char *const layout_name[] = {"default", "flat", "lines", "whole lines"};	/* a created stream (cudaMemcpyBatchAsync needs one) */

static void test_gather(uint32_t rb, uint32_t unroll, uint32_t blocks, int ce, int adjacent,
			uint32_t hint)
{
	struct list l;
	l.nseg = 3;
	l.seg_cap = 2048;
	l.count[0] = 2048;
	l.count[1] = 1 + (uint32_t)(rng() % 2000);
	l.count[2] = 0;
	l.off = (uint64_t *)malloc(8ull * l.nseg * l.seg_cap);
	l.slot = (int32_t *)malloc(4ull * l.nseg * l.seg_cap);
	make_list(&l, rb, adjacent);
	fill_random(pool_h, POOL_BYTES);
	CK(cudaMemset(slots_d, POISON_D, (size_t)NSLOTS * rb));
	CK(cudaDeviceSynchronize());

	int rc;
	uint32_t ncopies = 0, n = 0;
	void *bufs[3] = {0, 0, 0};
	if (ce) {
		uint64_t *off = (uint64_t *)malloc(8ull * l.nseg * l.seg_cap);
		int32_t *slot = (int32_t *)malloc(4ull * l.nseg * l.seg_cap);
		flat_list(&l, off, slot, &n);
		rc = ess_cuda_copy_ce(pool_h, slots_d, rb, off, slot, n, 0, &ncopies, ce == 2 ? NULL : cs);
		free(off);
		free(slot);
	} else {
		struct ess_fetch_list fl;
		struct ess_fetch_tune tu = {blocks, unroll, hint, g_layout};
		upload(&l, &fl, bufs);
		rc = ess_cuda_gather(pool_d, slots_d, rb, &fl, &tu, 0);
	}
	cudaError_t e = cudaDeviceSynchronize();
	CK(cudaMemcpy(slots_h, slots_d, (size_t)NSLOTS * rb, cudaMemcpyDeviceToHost));
	int32_t *owner = (int32_t *)malloc(4 * NSLOTS);
	slot_owner(&l, owner);
	uint32_t bad = 0, untouched_bad = 0;
	for (uint32_t s = 0; s < NSLOTS; s++) {
		const unsigned char *got = slots_h + (size_t)s * rb;
		if (owner[s] < 0)
			untouched_bad += !check_all_byte(got, rb, POISON_D);
		else
			bad += memcmp(got, pool_h + l.off[owner[s]], rb) != 0;
	}
	tap_ok(rc == 0 && e == cudaSuccess && bad == 0 && untouched_bad == 0,
	       "gather %s row %u B unroll %u blocks %u hint %u layout %s%s: %u+%u rows, %u wrong, %u outside the list changed%s",
	       ce == 2 ? "copy-engine (default stream)" : ce ? "copy-engine" : "SM", rb, unroll, blocks, hint,
	       layout_name[g_layout], adjacent ? " (adjacent slots)" : "",
	       l.count[0], l.count[1], bad, untouched_bad, rc ? ess_cuda_last_error() : "");
	if (ce && adjacent)
		tap_ok(ncopies > 0 && ncopies < n, "copy engine coalesced %u rows into %u copies", n, ncopies);
	for (int i = 0; i < 3; i++)
		cudaFree(bufs[i]);
	free(owner);
	free(l.off);
	free(l.slot);
}

static void test_scatter(uint32_t rb, uint32_t unroll, int ce)
{
	struct list l;
	l.nseg = 2;
	l.seg_cap = 1500;
	l.count[0] = 1 + (uint32_t)(rng() % 1500);
	l.count[1] = 1500;
	l.off = (uint64_t *)malloc(8ull * l.nseg * l.seg_cap);
	l.slot = (int32_t *)malloc(4ull * l.nseg * l.seg_cap);
	make_list(&l, rb, 0);
	fill_random(slots_h, (size_t)NSLOTS * rb);
	CK(cudaMemcpy(slots_d, slots_h, (size_t)NSLOTS * rb, cudaMemcpyHostToDevice));
	memset(pool_h, POISON_H, POOL_BYTES);

	int rc;
	void *bufs[3] = {0, 0, 0};
	if (ce) {
		uint64_t *off = (uint64_t *)malloc(8ull * l.nseg * l.seg_cap);
		int32_t *slot = (int32_t *)malloc(4ull * l.nseg * l.seg_cap);
		uint32_t n;
		flat_list(&l, off, slot, &n);
		rc = ess_cuda_copy_ce(pool_h, slots_d, rb, off, slot, n, 1, NULL, cs);
		free(off);
		free(slot);
	} else {
		struct ess_fetch_list fl;
		struct ess_fetch_tune tu = {0, unroll, 0, g_layout};
		upload(&l, &fl, bufs);
		rc = ess_cuda_scatter(pool_d, slots_d, rb, &fl, &tu, 0);
	}
	cudaError_t e = cudaDeviceSynchronize();
	/* every written row right; every other byte of the pool still poison */
	uint32_t bad = 0;
	unsigned char *mark = (unsigned char *)calloc(POOL_BYTES / rb + 1, 1);
	for (uint32_t g = 0; g < l.nseg; g++)
		for (uint32_t i = 0; i < l.count[g]; i++) {
			uint32_t en = g * l.seg_cap + i;
			bad += memcmp(pool_h + l.off[en], slots_h + (size_t)l.slot[en] * rb, rb) != 0;
			mark[l.off[en] / rb] = 1;
		}
	uint64_t outside = 0;
	for (uint64_t r = 0; r < POOL_BYTES / rb; r++)
		if (!mark[r])
			outside += !check_all_byte(pool_h + r * rb, rb, POISON_H);
	tap_ok(rc == 0 && e == cudaSuccess && bad == 0 && outside == 0,
	       "scatter %s row %u B unroll %u layout %s: %u+%u rows, %u wrong, %llu other rows changed",
	       ce ? "copy-engine" : "SM", rb, unroll, layout_name[g_layout], l.count[0], l.count[1], bad,
	       (unsigned long long)outside);
	for (int i = 0; i < 3; i++)
		cudaFree(bufs[i]);
	free(mark);
	free(l.off);
	free(l.slot);
}

static void test_bad_args(void)
{
	struct ess_fetch_list fl = {0, 0, 0, 1, 1};
	tap_ok(ess_cuda_gather(pool_d, slots_d, 656, &fl, NULL, 0) == -EINVAL,
	       "gather with NULL list arrays is -EINVAL");
	tap_ok(ess_cuda_gather(pool_d, slots_d, 656, NULL, NULL, 0) == -EINVAL,
	       "gather with NULL list is -EINVAL");
	{
		/* a valid one-row list, refused for its tuning alone */
		uint64_t *o;
		int32_t *sl;
		uint32_t *c, one = 1;
		const uint64_t off0 = 0;
		const int32_t slot0 = 0;
		CK(cudaMalloc(&o, 8));
		CK(cudaMalloc(&sl, 4));
		CK(cudaMalloc(&c, 4));
		CK(cudaMemcpy(o, &off0, 8, cudaMemcpyHostToDevice));
		CK(cudaMemcpy(sl, &slot0, 4, cudaMemcpyHostToDevice));
		CK(cudaMemcpy(c, &one, 4, cudaMemcpyHostToDevice));
		struct ess_fetch_list ok = {o, sl, c, 1, 1};
		struct ess_fetch_tune t1 = {0, 8, 0, 4};
		struct ess_fetch_tune t2 = {0, 8, 1, ESS_FETCH_LAYOUT_LINES};
		tap_ok(ess_cuda_gather(pool_d, slots_d, 656, &ok, &t1, 0) == -EINVAL,
		       "gather with an unknown layout is -EINVAL");
		tap_ok(ess_cuda_gather(pool_d, slots_d, 656, &ok, &t2, 0) == -EINVAL,
		       "gather with a load hint and the line layout is -EINVAL");
		CK(cudaDeviceSynchronize());
		cudaFree(o);
		cudaFree(sl);
		cudaFree(c);
	}
	uint64_t off = 0;
	int32_t slot = -3;
	tap_ok(ess_cuda_copy_ce(pool_h, slots_d, 656, &off, &slot, 1, 0, NULL, 0) == -EINVAL,
	       "copy engine with a negative slot is -EINVAL");
	slot = 0;
	tap_ok(ess_cuda_copy_ce(pool_h, slots_d, 0, &off, &slot, 1, 0, NULL, 0) == -EINVAL,
	       "copy engine with row_bytes 0 is -EINVAL");
	tap_ok(ess_cuda_copy_ce(pool_h, slots_d, 656, &off, &slot, 1, 7, NULL, 0) == -EINVAL,
	       "copy engine with a bad direction is -EINVAL");
}

int main(void)
{
	tap_need_device();
	rng_seed();
	pool_h = (unsigned char *)aligned_alloc(4096, POOL_BYTES);
	slots_h = (unsigned char *)malloc((size_t)NSLOTS * MAX_ROW);
	if (!pool_h || !slots_h) {
		printf("1..0 # SKIP out of host memory\n");
		return 0;
	}
	/* registered like the runtime's host pool */
	CK(cudaHostRegister(pool_h, POOL_BYTES, cudaHostRegisterMapped));
	CK(cudaHostGetDevicePointer(&pool_d, pool_h, 0));
	CK(cudaMalloc(&slots_d, (size_t)NSLOTS * MAX_ROW));
	CK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));

	test_gather(656, 4, 0, 0, 0, 0);
	test_gather(656, 8, 0, 0, 0, 0);
	test_gather(656, 16, 0, 0, 0, 0);
	test_gather(656, 8, 1, 0, 0, 0);	/* one block walks everything */
	test_gather(100, 8, 0, 0, 0, 0);	/* 4-byte path */
	test_gather(13, 8, 0, 0, 0, 0);	/* 1-byte path */
	test_gather(1152, 8, 0, 0, 0, 0);	/* bf16 latent row */
	test_gather(656, 8, 0, 0, 0, 1);	/* L2::256B hint */
	test_gather(656, 16, 0, 0, 0, 2);	/* nc + L2::256B hint */
	test_gather(656, 0, 0, 1, 0, 0);
	test_gather(656, 0, 0, 1, 1, 0);
	test_gather(656, 0, 0, 2, 1, 0);
	test_scatter(656, 8, 0);
	test_scatter(656, 16, 0);
	test_scatter(100, 8, 0);
	test_scatter(13, 8, 0);
	test_scatter(656, 0, 1);
	/* each lane layout explicitly (the default above is "lines") */
	for (g_layout = ESS_FETCH_LAYOUT_FLAT; g_layout <= ESS_FETCH_LAYOUT_WHOLE; g_layout++) {
		test_gather(656, 4, 0, 0, 0, 0);
		test_gather(656, 16, 0, 0, 0, 0);
		test_gather(1152, 8, 0, 0, 0, 0);
		test_scatter(656, 8, 0);
		test_scatter(1152, 16, 0);
	}
	g_layout = ESS_FETCH_LAYOUT_DEFAULT;
	test_bad_args();

	CK(cudaHostUnregister(pool_h));
	cudaFree(slots_d);
	free(pool_h);
	free(slots_h);
	printf("1..%d\n", tap_n);
	return tap_fail ? 1 : 0;
}
