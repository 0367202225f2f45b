// SPDX-License-Identifier: GPL-2.0
/*
 * Heat aging arithmetic: report known accesses, aggregate with
 * ESS_IOC_HEAT_TICK under several heat_decay_pct values, and compare every
 * heat block's heat, age and pending with the rule in include/uapi/ess.h
 * computed here.  Then the hottest/coldest orders, the histogram (ioctl and
 * sysfs), hot/cold counts, and that the periodic worker aggregates regions
 * that are not ESS_CREATE_HEAT_MANUAL.
 */
#include "ess_test.h"

#define NB 64			/* heat blocks: 2 MiB / 32 KiB */
#define SHIFT 15

struct model {
	uint32_t heat, age, pending;
};

static struct model m[NB];
static uint64_t seed = 12345;
static int mismatches;

static void model_tick(unsigned int decay)
{
	int i;

	for (i = 0; i < NB; i++) {
		uint64_t h = m[i].heat;

		h = h - (h * decay + 99) / 100 + m[i].pending;
		m[i].heat = h > UINT32_MAX ? UINT32_MAX : (uint32_t)h;
		m[i].age = m[i].pending ? 0 : (m[i].age == UINT32_MAX ? UINT32_MAX : m[i].age + 1);
		m[i].pending = 0;
	}
}

/* Compare the module's view of every block with the model. */
static int compare(int fd, const char *when)
{
	struct ess_heat_entry e[NB + 8];
	int seen[NB] = { 0 };
	long n = ess_heat_read(fd, ESS_HEAT_HOTTEST, e, NB + 8);
	int i, bad = 0;

	if (n != NB) {
		tap_diag("%s: HEAT_READ returned %ld", when, n);
		return 0;
	}
	for (i = 0; i < NB; i++) {
		uint32_t b = e[i].block;

		if (b >= NB || seen[b]++) {
			tap_diag("%s: bad or repeated block %u", when, b);
			return 0;
		}
		if (e[i].heat != m[b].heat || e[i].age != m[b].age || e[i].pending != m[b].pending) {
			if (bad++ < 3)
				tap_diag("%s: block %u heat %u age %u pending %u, expected %u %u %u",
					 when, b, e[i].heat, e[i].age, e[i].pending,
					 m[b].heat, m[b].age, m[b].pending);
		}
	}
	if (bad)
		mismatches++;
	return !bad;
}

/* Report count[i] accesses of block i, shuffled, in batches. */
static long report(int fd, const uint32_t *count)
{
	static uint32_t idx[NB * 1024];
	uint32_t n = 0, i, j, done;
	long r = 0;

	for (i = 0; i < NB; i++)
		for (j = 0; j < count[i]; j++)
			idx[n++] = i;
	for (i = n; i > 1; i--) {
		uint32_t k = rnd64(&seed) % i, t = idx[i - 1];

		idx[i - 1] = idx[k];
		idx[k] = t;
	}
	for (done = 0; done < n && r == 0; done += 1000) {
		uint32_t len = n - done < 1000 ? n - done : 1000;

		r = ess_heat_report(fd, idx + done, len);
	}
	if (r == 0)
		for (i = 0; i < NB; i++)
			m[i].pending += count[i];
	return r;
}

static int cmp_hot(const void *a, const void *b)
{
	const struct ess_heat_entry *x = a, *y = b;

	if (x->heat != y->heat)
		return x->heat > y->heat ? -1 : 1;
	return x->block < y->block ? -1 : x->block > y->block;
}

static int cmp_cold(const void *a, const void *b)
{
	const struct ess_heat_entry *x = a, *y = b;

	if (x->heat != y->heat)
		return x->heat < y->heat ? -1 : 1;
	if (x->age != y->age)
		return x->age > y->age ? -1 : 1;
	return x->block < y->block ? -1 : x->block > y->block;
}

static int order_ok(int fd, uint32_t flag, uint32_t nr)
{
	struct ess_heat_entry want[NB], got[NB];
	long n;
	int i;

	for (i = 0; i < NB; i++) {
		want[i].block = i;
		want[i].heat = m[i].heat;
		want[i].age = m[i].age;
		want[i].pending = m[i].pending;
	}
	qsort(want, NB, sizeof(want[0]), flag == ESS_HEAT_HOTTEST ? cmp_hot : cmp_cold);
	n = ess_heat_read(fd, flag, got, nr);
	if (n != (long)(nr < NB ? nr : NB))
		return 0;
	for (i = 0; i < n; i++)
		if (got[i].block != want[i].block || got[i].heat != want[i].heat) {
			tap_diag("position %d: block %u heat %u, expected block %u heat %u", i,
				 got[i].block, got[i].heat, want[i].block, want[i].heat);
			return 0;
		}
	return 1;
}

static unsigned int bucket(uint32_t heat)
{
	unsigned int b = 0;

	while (heat) {
		b++;
		heat >>= 1;
	}
	return b < ESS_HEAT_BUCKETS ? b : ESS_HEAT_BUCKETS - 1;
}

static int hist_ok(int fd, uint64_t ticks, uint32_t hot_t, uint32_t cold_t, uint64_t id)
{
	struct ess_heat_hist h;
	uint32_t want[ESS_HEAT_BUCKETS] = { 0 }, hot = 0, cold = 0;
	char buf[1024], path[256], *s;
	int i, ok = 1;

	for (i = 0; i < NB; i++) {
		want[bucket(m[i].heat)]++;
		hot += m[i].heat >= hot_t;
		cold += m[i].heat <= cold_t;
	}
	if (ess_heat_hist(fd, &h) < 0)
		return 0;
	if (h.interval != ticks || h.hot != hot || h.cold != cold) {
		tap_diag("hist: interval %llu hot %u cold %u, expected %llu %u %u",
			 (unsigned long long)h.interval, h.hot, h.cold,
			 (unsigned long long)ticks, hot, cold);
		ok = 0;
	}
	for (i = 0; i < ESS_HEAT_BUCKETS; i++)
		if (h.buckets[i] != want[i]) {
			tap_diag("hist bucket %d: %u, expected %u", i, h.buckets[i], want[i]);
			ok = 0;
		}
	snprintf(path, sizeof(path), SYSFS_ESS "/regions/%llu/heat_histogram",
		 (unsigned long long)id);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return 0;
	s = buf;
	for (i = 0; i < ESS_HEAT_BUCKETS; i++) {
		char *end;
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v != want[i]) {
			tap_diag("sysfs heat_histogram field %d: \"%.12s\"", i, s);
			return 0;
		}
		s = end;
	}
	return ok && !strcmp(s, "\n");
}

int main(void)
{
	static const unsigned int decays[] = { 25, 0, 50, 100, 33, 7, 99, 25 };
	long long nr0 = ess_knob("nr_regions");
	uint32_t count[NB];
	uint64_t ticks = 0;
	struct ess_create c;
	struct ess_heat_hist h;
	int fd, fd2, d, t, i, all_ok = 1;
	long r;

	tap_start();
	fd = ess_open();
	r = ess_create(fd, 2 * MiB, ESS_CREATE_HEAT_MANUAL, 0, SHIFT, NULL, &c);
	if (!tap_ok(r == 0, "create a 2 MiB region, 64 heat blocks, manual aggregation (%ld)", r))
		return tap_done();
	tap_ok(compare(fd, "fresh"), "a fresh region: heat, age, pending all 0");

	for (d = 0; d < (int)(sizeof(decays) / sizeof(decays[0])); d++) {
		int ok = 1;

		ess_set_knob("heat_decay_pct", decays[d]);
		for (t = 0; t < 4; t++) {
			for (i = 0; i < NB; i++) {
				uint64_t x = rnd64(&seed);

				/* Some blocks idle, some busy, some very busy. */
				count[i] = x % 3 == 0 ? 0 : (x >> 8) % (x % 5 == 0 ? 1000 : 40);
			}
			if (report(fd, count) < 0) {
				tap_diag("report failed: %s", strerror(errno));
				ok = 0;
			}
			ok &= compare(fd, "after report");	/* pending, heat unchanged */
			if (ess_heat_tick(fd) < 0)
				ok = 0;
			model_tick(decays[d]);
			ticks++;
			ok &= compare(fd, "after tick");
		}
		/* Two idle ticks: age grows. */
		for (t = 0; t < 2; t++) {
			ess_heat_tick(fd);
			model_tick(decays[d]);
			ticks++;
		}
		ok &= compare(fd, "after idle ticks");
		tap_ok(ok, "heat_decay_pct %u: heat, age, pending follow the rule over 6 ticks",
		       decays[d]);
		all_ok &= ok;
	}
	tap_ok(all_ok && !mismatches, "aging arithmetic exact throughout");

	/* The loss is rounded up, so idle heat reaches 0 (3 -> 2 -> 1 -> 0 at
	 * 25%) and a block that stopped being read becomes cold. */
	ess_set_knob("heat_decay_pct", 25);
	for (t = 0; t < 64; t++) {
		ess_heat_tick(fd);
		model_tick(25);
		ticks++;
	}
	{
		struct ess_heat_entry top;
		long rr = ess_heat_read(fd, ESS_HEAT_HOTTEST, &top, 1);

		tap_ok(rr == 1 && top.heat == 0 && compare(fd, "idle"),
		       "64 idle ticks at 25%%: every block's heat is 0 (hottest %u)",
		       rr == 1 ? top.heat : 0);
	}

	/* A heavy block: one full batch, folded with no decay loss yet. */
	ess_set_knob("heat_decay_pct", 25);
	{
		static uint32_t heavy[ESS_HEAT_BATCH_MAX];

		for (i = 0; i < (int)ESS_HEAT_BATCH_MAX; i++)
			heavy[i] = 7;
		r = ess_heat_report(fd, heavy, ESS_HEAT_BATCH_MAX);
		if (r == 0)
			m[7].pending += ESS_HEAT_BATCH_MAX;
		ess_heat_tick(fd);
		model_tick(25);
		ticks++;
		tap_ok(r == 0 && compare(fd, "heavy"), "a batch of ESS_HEAT_BATCH_MAX accesses (%ld)", r);
	}

	tap_ok(order_ok(fd, ESS_HEAT_HOTTEST, NB), "HOTTEST: heat descending, then block");
	tap_ok(order_ok(fd, ESS_HEAT_COLDEST, NB), "COLDEST: heat ascending, then age descending, then block");
	tap_ok(order_ok(fd, ESS_HEAT_HOTTEST, 5), "HOTTEST with nr 5: the top 5");
	tap_ok(order_ok(fd, ESS_HEAT_COLDEST, 1), "COLDEST with nr 1: the coldest");
	/* Ties: every block at the same heat and age. */
	for (t = 0; t < 40; t++) {
		ess_heat_tick(fd);
		model_tick(25);
		ticks++;
	}
	ess_set_knob("heat_decay_pct", 100);
	ess_heat_tick(fd);
	model_tick(100);
	ticks++;
	tap_ok(compare(fd, "decay 100") && order_ok(fd, ESS_HEAT_COLDEST, NB) &&
	       order_ok(fd, ESS_HEAT_HOTTEST, NB), "decay 100 clears all heat; ties ordered by age, block");
	ess_set_knob("heat_decay_pct", 25);
	for (i = 0; i < NB; i++)
		count[i] = (uint32_t)(i * 3);
	report(fd, count);
	ess_heat_tick(fd);
	model_tick(25);
	ticks++;

	tap_ok(hist_ok(fd, ticks, 64, 0, c.id), "histogram, interval, hot/cold (64/0), sysfs heat_histogram");
	ess_set_knob("hot_threshold", 100);
	ess_set_knob("cold_threshold", 30);
	tap_ok(hist_ok(fd, ticks, 100, 30, c.id), "hot/cold counts follow the thresholds (100/30)");
	ess_set_knob("cold_threshold", 0);
	ess_set_knob("hot_threshold", 64);

	/* Reports are pending, not heat, until aggregated. */
	for (i = 0; i < NB; i++)
		count[i] = 1;
	report(fd, count);
	tap_ok(hist_ok(fd, ticks, 64, 0, c.id), "the histogram ignores pending reports");
	ess_heat_tick(fd);
	model_tick(25);
	ticks++;

	/* Heat belongs to the region: it stays with a named region from one
	 * holder to the next (attach is exclusive, so one after the other). */
	{
		struct ess_heat_entry e1[NB], e2[NB];
		uint32_t b[2] = { 9, 9 };
		long n1 = 0, n2 = 0;
		int f1 = ess_open(), f2 = ess_open(), same = 1;

		ess_create(f1, 2 * MiB, ESS_CREATE_NAMED | ESS_CREATE_HEAT_MANUAL, 0, SHIFT,
			   "heat-shared", NULL);
		ess_heat_report(f1, b, 2);
		close(f1);
		if (ess_attach(f2, "heat-shared", NULL) == 0) {
			ess_heat_tick(f2);
			n1 = ess_heat_read(f2, ESS_HEAT_HOTTEST, e1, NB);
			close(f2);
			f2 = ess_open();
			ess_attach(f2, "heat-shared", NULL);
			n2 = ess_heat_read(f2, ESS_HEAT_HOTTEST, e2, NB);
		}
		for (i = 0; i < NB && n1 == NB && n2 == NB; i++)
			same &= e1[i].block == e2[i].block && e1[i].heat == e2[i].heat;
		tap_ok(n1 == NB && n2 == NB && same && e1[0].block == 9 && e1[0].heat == 2,
		       "a report by one holder, a tick by the next: heat 2 on block 9, kept for the third");
		ess_destroy(f2, "heat-shared");
		close(f2);
	}

	/* A tick is per region; a rejected batch counts nothing. */
	fd2 = ess_open();
	ess_create(fd2, 2 * MiB, ESS_CREATE_HEAT_MANUAL, 0, SHIFT, NULL, NULL);
	ess_heat_tick(fd);
	model_tick(25);
	ticks++;
	ess_heat_hist(fd2, &h);
	tap_ok(h.interval == 0, "a tick on one region does not age another (%llu)",
	       (unsigned long long)h.interval);
	{
		uint32_t b[3] = { 1, NB, 2 };

		r = ess_heat_report(fd, b, 3);
		tap_ok(r == -EINVAL && compare(fd, "rejected batch"),
		       "a batch with one bad index is rejected whole (%ld)", r);
	}
	close(fd2);

	/* The periodic worker folds reports of a normal region on its own. */
	{
		struct ess_heat_entry e[NB];
		uint32_t b[4] = { 3, 3, 3, 5 };
		int k, folded = 0;
		uint64_t mticks;

		ess_heat_hist(fd, &h);
		mticks = h.interval;
		ess_set_knob("aggregation_interval_ms", 10);
		fd2 = ess_open();
		ess_create(fd2, 2 * MiB, 0, 0, SHIFT, NULL, NULL);
		ess_heat_report(fd2, b, 4);
		for (k = 0; k < 500 && !folded; k++) {
			long n = ess_heat_read(fd2, ESS_HEAT_HOTTEST, e, 1);

			folded = n == 1 && e[0].block == 3 && e[0].pending == 0 && e[0].heat > 0;
			usleep(10000);
		}
		tap_ok(folded, "the worker aggregated a normal region's report");
		ess_heat_hist(fd2, &h);
		tap_ok(h.interval >= 1, "its interval counter moved (%llu)", (unsigned long long)h.interval);
		ess_heat_hist(fd, &h);
		tap_ok(h.interval == mticks, "the worker left the manual region alone");
		ess_set_knob("aggregation_interval_ms", 100);
		close(fd2);
	}
	close(fd);
	tap_ok(ess_knob("heat_decay_pct") == 25 && ess_knob("aggregation_interval_ms") == 100,
	       "knobs restored");
	tap_ok(ess_wait_nr_regions(nr0) == nr0, "regions freed");
	return tap_done();
}
