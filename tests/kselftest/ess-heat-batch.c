// SPDX-License-Identifier: GPL-2.0
/*
 * Batched aggregation: a pass folds ESS_HEAT_FOLD_BATCH (4096, kmod/ess.h)
 * heat blocks per hold of the heat lock.  With regions of several batches
 * (and a partial last one):
 *
 * 1. Serial: after every report and ESS_IOC_HEAT_TICK, every block's heat,
 *    age and pending equal the rule of include/uapi/ess.h computed here,
 *    under several decays, blocks at the batch boundaries included.
 * 2. Concurrent: a thread reports a known sequence S of accesses while the
 *    main thread ticks.  Heat and age change only in a tick, so between
 *    ticks they are stable; from heat before and after tick k the pending
 *    count p_k[b] that tick k folded into block b follows exactly (the rule
 *    is invertible: p = heat_k - (heat_{k-1} - ceil(heat_{k-1} * d / 100))).
 *    Then:
 *    - p_k[b] >= 0 and age follows p_k (else the arithmetic is wrong);
 *    - the folded counts are the serial rule applied to S cut in passes:
 *      a pass takes block b's pending at one instant, blocks in ascending
 *      order, passes one after the other, so there must be one
 *      nondecreasing sequence of cut points t (prefix lengths of S), one
 *      per (pass, block), where the heat block b has taken through pass k
 *      equals the number of b's in S[0, t);
 *    - after the reporter stopped and a last tick, the sum over all passes
 *      of p_k[b] equals the number of b's in S for every b.
 *    Lost heat fails the last check, heat counted twice fails it too, and
 *    a pass that folded a batch twice or skipped one fails the first two.
 * 3. The periodic worker, with decay 0 (heat = sum of everything folded),
 *    while two threads report and regions come and go: once every pending
 *    count is folded, each block's heat is exactly its reports.
 */
#include <pthread.h>

#include "ess_test.h"

#define SHIFT 12
#define FOLD_BATCH 4096
#define SERIAL_BYTES (66 * MiB)		/* 16896 blocks: 4 batches + 512 */
#define CONC_BYTES (130 * MiB)		/* 33280 blocks: 8 batches + 512 */
#define CONC_LEN (1U << 22)		/* accesses the reporter sends */
#define CONC_CHUNK 512			/* accesses per HEAT_REPORT */
#define CONC_PACE 256			/* chunks per tick, at most */
#define WORKER_BYTES (34 * MiB)		/* 8704 blocks: 2 batches + 512 */

static uint64_t seed = 777;

/* Every block's state, read with one HEAT_READ; 0 on a malformed answer. */
static int read_all(int fd, uint32_t nb, struct ess_heat_entry *buf, uint32_t *heat,
		    uint32_t *age, uint32_t *pending)
{
	static unsigned char *seen;
	long n = ess_heat_read(fd, ESS_HEAT_HOTTEST, buf, nb);
	uint32_t i;

	if (n != (long)nb) {
		tap_diag("HEAT_READ returned %ld of %u", n, nb);
		return 0;
	}
	seen = realloc(seen, nb);
	memset(seen, 0, nb);
	for (i = 0; i < nb; i++) {
		uint32_t b = buf[i].block;

		if (b >= nb || seen[b]++) {
			tap_diag("HEAT_READ: bad or repeated block %u", b);
			return 0;
		}
		heat[b] = buf[i].heat;
		age[b] = buf[i].age;
		if (pending)
			pending[b] = buf[i].pending;
	}
	return 1;
}

static uint32_t aged(uint32_t heat, unsigned int decay)
{
	return (uint32_t)(heat - ((uint64_t)heat * decay + 99) / 100);
}

/* ---- 1. serial ------------------------------------------------------ */

static int serial_test(void)
{
	static const unsigned int decays[] = { 25, 0, 50, 100, 33, 7 };
	const uint32_t nb = SERIAL_BYTES >> SHIFT;
	uint32_t *mh = calloc(nb, 4), *ma = calloc(nb, 4), *mp = calloc(nb, 4);
	uint32_t *h = calloc(nb, 4), *ag = calloc(nb, 4), *pd = calloc(nb, 4);
	uint32_t *idx = malloc(sizeof(uint32_t) * ESS_HEAT_BATCH_MAX);
	struct ess_heat_entry *buf = malloc(sizeof(*buf) * nb);
	struct ess_heat_hist hist;
	int fd = ess_open(), ok = 1, d, t, bad = 0;
	uint64_t ticks = 0;
	uint32_t i, b;
	long r;

	r = ess_create(fd, SERIAL_BYTES, ESS_CREATE_HEAT_MANUAL, 0, SHIFT, NULL, NULL);
	if (!tap_ok(r == 0, "create a %u-block region (%u batches of %u and %u) (%ld)", nb,
		    nb / FOLD_BATCH, FOLD_BATCH, nb % FOLD_BATCH, r))
		return 0;
	for (d = 0; d < (int)(sizeof(decays) / sizeof(decays[0])); d++) {
		ess_set_knob("heat_decay_pct", decays[d]);
		for (t = 0; t < 3; t++) {
			uint32_t n = 0;

			/* A quarter of the blocks get up to 60 accesses, the
			 * blocks around each batch boundary get many. */
			for (b = 0; b < nb; b++) {
				uint64_t x = rnd64(&seed);
				uint32_t cnt = x % 4 == 0 ? (uint32_t)(x >> 8) % 61 : 0;

				if (b % FOLD_BATCH == 0 || b % FOLD_BATCH == FOLD_BATCH - 1 ||
				    b == nb - 1)
					cnt = 500 + (uint32_t)(x >> 20) % 500;
				for (i = 0; i < cnt && n < ESS_HEAT_BATCH_MAX; i++)
					idx[n++] = b;
				mp[b] += i;
			}
			for (i = n; i > 1; i--) {
				uint32_t k = (uint32_t)(rnd64(&seed) % i), x = idx[i - 1];

				idx[i - 1] = idx[k];
				idx[k] = x;
			}
			r = ess_heat_report(fd, idx, n);
			ok &= r == 0;
			r = ess_heat_tick(fd);
			ok &= r == 0;
			ticks++;
			for (b = 0; b < nb; b++) {
				uint64_t v = (uint64_t)aged(mh[b], decays[d]) + mp[b];

				mh[b] = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
				ma[b] = mp[b] ? 0 : ma[b] + 1;
				mp[b] = 0;
			}
			if (!read_all(fd, nb, buf, h, ag, pd)) {
				ok = 0;
				continue;
			}
			for (b = 0; b < nb; b++) {
				if (h[b] == mh[b] && ag[b] == ma[b] && pd[b] == mp[b])
					continue;
				if (bad++ < 5)
					tap_diag("decay %u tick %d block %u: heat %u age %u pending %u, rule %u %u %u",
						 decays[d], t, b, h[b], ag[b], pd[b], mh[b], ma[b], mp[b]);
				ok = 0;
			}
		}
		/* An idle tick: every age grows. */
		ess_heat_tick(fd);
		ticks++;
		for (b = 0; b < nb; b++) {
			mh[b] = aged(mh[b], decays[d]);
			ma[b]++;
		}
	}
	ok &= read_all(fd, nb, buf, h, ag, pd);
	for (b = 0; b < nb; b++)
		if (h[b] != mh[b] || ag[b] != ma[b] || pd[b])
			ok = 0;
	tap_ok(ok && !bad, "serial: every block follows the rule over %llu ticks and 6 decays",
	       (unsigned long long)ticks);
	r = ess_heat_hist(fd, &hist);
	tap_ok(r == 0 && hist.interval == ticks, "serial: interval counts whole passes (%llu)",
	       (unsigned long long)hist.interval);
	ess_set_knob("heat_decay_pct", 25);
	close(fd);
	free(mh); free(ma); free(mp); free(h); free(ag); free(pd); free(idx); free(buf);
	return ok;
}

/* ---- 2. concurrent reports and ticks -------------------------------- */

struct reporter {
	int fd;
	const uint32_t *s;
	uint32_t len;
	uint32_t done;		/* accesses reported so far (atomic) */
	uint64_t ticks;		/* ticks the main thread started (atomic) */
	int failed;
};

/*
 * Sends S in chunks, never more than CONC_PACE chunks ahead of the ticks:
 * each tick releases the next CONC_PACE chunks as it starts, so however
 * fast either side runs, the passes are spread over the whole sequence and
 * reports go in while passes run.
 */
static void *report_all(void *arg)
{
	struct reporter *rp = arg;
	uint32_t off;

	for (off = 0; off < rp->len; off += CONC_CHUNK) {
		while (__atomic_load_n(&rp->ticks, __ATOMIC_SEQ_CST) <
		       off / CONC_CHUNK / CONC_PACE)
			usleep(100);
		if (ess_heat_report(rp->fd, rp->s + off, CONC_CHUNK)) {
			rp->failed = 1;
			break;
		}
		__atomic_store_n(&rp->done, off + CONC_CHUNK, __ATOMIC_SEQ_CST);
	}
	return NULL;
}

static int concurrent_test(void)
{
	static const unsigned int decays[] = { 25, 50, 0, 100, 10, 33 };
	const uint32_t nb = CONC_BYTES >> SHIFT, len = CONC_LEN;
	uint32_t *s = malloc(sizeof(uint32_t) * len), *pos = malloc(sizeof(uint32_t) * len);
	uint32_t *cnt = calloc(nb, 4), *off = calloc(nb + 1, 4), *fill = calloc(nb, 4);
	uint32_t *taken = calloc(nb, 4), *h0 = calloc(nb, 4), *a0 = calloc(nb, 4);
	uint32_t *h1 = calloc(nb, 4), *a1 = calloc(nb, 4);
	struct ess_heat_entry *buf = malloc(sizeof(*buf) * nb);
	struct reporter rp = { 0 };
	struct ess_heat_hist hist;
	int fd = ess_open(), arith = 1, cuts = 1, last, running;
	uint64_t cur = 0, ticks = 0, overlapped = 0;
	uint32_t i, b, before;
	pthread_t th;
	long r;

	r = ess_create(fd, CONC_BYTES, ESS_CREATE_HEAT_MANUAL, 0, SHIFT, NULL, NULL);
	if (!tap_ok(r == 0, "create a %u-block region (%ld)", nb, r))
		return 0;
	/* S: half uniform, half from 64 hot blocks around batch boundaries. */
	for (i = 0; i < len; i++) {
		uint64_t x = rnd64(&seed);

		if (x & 1) {
			b = (uint32_t)((x >> 8) % nb);
		} else {
			uint32_t k = (uint32_t)(x >> 8) % 64;

			b = (k / 2 + 1) * FOLD_BATCH - (k & 1);
			if (b >= nb)
				b = nb - 1 - (k & 1);
		}
		s[i] = b;
		cnt[b]++;
	}
	/* pos: each block's positions in S, ascending. */
	for (b = 0; b < nb; b++)
		off[b + 1] = off[b] + cnt[b];
	for (i = 0; i < len; i++)
		pos[off[s[i]] + fill[s[i]]++] = i;

	rp.fd = fd;
	rp.s = s;
	rp.len = len;
	pthread_create(&th, NULL, report_all, &rp);
	for (last = 0; !last; ticks++) {
		unsigned int d = decays[ticks % (sizeof(decays) / sizeof(decays[0]))];

		running = __atomic_load_n(&rp.done, __ATOMIC_SEQ_CST) < len && !rp.failed;
		if (!running) {
			/* The reporter is finished: one more pass takes the rest. */
			pthread_join(th, NULL);
			last = 1;
		}
		ess_set_knob("heat_decay_pct", d);
		before = __atomic_load_n(&rp.done, __ATOMIC_SEQ_CST);
		__atomic_store_n(&rp.ticks, ticks + 1, __ATOMIC_SEQ_CST);
		r = ess_heat_tick(fd);
		overlapped += !last && __atomic_load_n(&rp.done, __ATOMIC_SEQ_CST) != before;
		if (r || !read_all(fd, nb, buf, h1, a1, NULL)) {
			arith = 0;
			if (last)
				break;
			continue;
		}
		for (b = 0; b < nb; b++) {
			int64_t p = (int64_t)h1[b] - aged(h0[b], d);
			uint64_t tmin, tmax;

			if (p < 0 || a1[b] != (p ? 0 : a0[b] + 1)) {
				if (arith)
					tap_diag("tick %llu block %u: heat %u -> %u, age %u -> %u at decay %u",
						 (unsigned long long)ticks, b, h0[b], h1[b], a0[b],
						 a1[b], d);
				arith = 0;
				p = p < 0 ? 0 : p;
			}
			taken[b] += (uint32_t)p;
			if (taken[b] > cnt[b]) {
				if (cuts)
					tap_diag("block %u: %u taken, only %u reported", b, taken[b],
						 cnt[b]);
				cuts = 0;
				taken[b] = cnt[b];
			}
			/* Prefix lengths t of S with exactly taken[b] b's. */
			tmin = taken[b] ? (uint64_t)pos[off[b] + taken[b] - 1] + 1 : 0;
			tmax = taken[b] < cnt[b] ? pos[off[b] + taken[b]] : len;
			if (cur < tmin)
				cur = tmin;
			if (cur > tmax) {
				if (cuts)
					tap_diag("tick %llu block %u: its %u accesses cannot follow the cut at %llu",
						 (unsigned long long)ticks, b, taken[b],
						 (unsigned long long)cur);
				cuts = 0;
			}
		}
		memcpy(h0, h1, nb * 4);
		memcpy(a0, a1, nb * 4);
	}
	tap_diag("%llu ticks, %llu of them overlapped reports", (unsigned long long)ticks,
		 (unsigned long long)overlapped);
	tap_ok(!rp.failed, "the reporter sent %u accesses", len);
	tap_ok(arith, "concurrent: every tick's heat and age follow the rule for some pending >= 0");
	tap_ok(cuts, "concurrent: what each pass took is S cut at nondecreasing points, block order");
	for (i = 0, b = 0; b < nb; b++)
		i += taken[b] != cnt[b];
	tap_ok(i == 0 && !rp.failed, "concurrent: every access counted exactly once (%u blocks off)", i);
	r = ess_heat_hist(fd, &hist);
	tap_ok(r == 0 && hist.interval == ticks, "concurrent: interval %llu after %llu ticks",
	       (unsigned long long)hist.interval, (unsigned long long)ticks);
	ess_set_knob("heat_decay_pct", 25);
	close(fd);
	free(s); free(pos); free(cnt); free(off); free(fill); free(taken);
	free(h0); free(a0); free(h1); free(a1); free(buf);
	return 1;
}

/* ---- 3. the worker -------------------------------------------------- */

struct wreporter {
	int fd;
	uint32_t nb;
	uint64_t seed;
	uint32_t *count;	/* per block, this thread's */
	int failed;
};

static void *worker_report(void *arg)
{
	struct wreporter *w = arg;
	uint32_t idx[256];
	int k, i;

	for (k = 0; k < 1500; k++) {
		for (i = 0; i < 256; i++)
			idx[i] = (uint32_t)(rnd64(&w->seed) % w->nb);
		if (ess_heat_report(w->fd, idx, 256)) {
			w->failed = 1;
			return NULL;
		}
		for (i = 0; i < 256; i++)
			w->count[idx[i]]++;
	}
	return NULL;
}

/* Other regions appear and go while the worker walks the list. */
static volatile int churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!churn_stop) {
		int f = ess_open();

		ess_create(f, 2 * MiB, 0, 0, SHIFT, NULL, NULL);
		close(f);
	}
	return NULL;
}

static void worker_test(void)
{
	const uint32_t nb = WORKER_BYTES >> SHIFT;
	uint32_t *h = calloc(nb, 4), *ag = calloc(nb, 4), *pd = calloc(nb, 4);
	uint32_t *c0 = calloc(nb, 4), *c1 = calloc(nb, 4);
	struct ess_heat_entry *buf = malloc(sizeof(*buf) * nb);
	struct wreporter w[2];
	struct ess_heat_hist hist;
	pthread_t t[2], ct;
	int fd = ess_open(), k, folded = 0, bad = 0;
	uint32_t b;
	long r;

	r = ess_create(fd, WORKER_BYTES, 0, 0, SHIFT, NULL, NULL);
	if (!tap_ok(r == 0, "create a %u-block region the worker ages (%ld)", nb, r))
		return;
	ess_set_knob("heat_decay_pct", 0);
	ess_set_knob("aggregation_interval_ms", 10);
	churn_stop = 0;
	pthread_create(&ct, NULL, churn, NULL);
	for (k = 0; k < 2; k++) {
		w[k].fd = fd;
		w[k].nb = nb;
		w[k].seed = 4242 + (uint64_t)k;
		w[k].count = k ? c1 : c0;
		w[k].failed = 0;
		pthread_create(&t[k], NULL, worker_report, &w[k]);
	}
	for (k = 0; k < 2; k++)
		pthread_join(t[k], NULL);
	churn_stop = 1;
	pthread_join(ct, NULL);
	/* Wait (up to ~10 s) for the worker to fold every pending count. */
	for (k = 0; k < 1000 && !folded; k++) {
		folded = read_all(fd, nb, buf, h, ag, pd);
		for (b = 0; b < nb && folded; b++)
			folded = pd[b] == 0;
		if (!folded)
			usleep(10000);
	}
	tap_ok(folded && !w[0].failed && !w[1].failed,
	       "the worker folded every report of 2 threads (%d polls)", k);
	for (b = 0; b < nb; b++)
		if (h[b] != c0[b] + c1[b] && bad++ < 3)
			tap_diag("block %u: heat %u, %u reported", b, h[b], c0[b] + c1[b]);
	ess_heat_hist(fd, &hist);
	tap_ok(folded && !bad, "decay 0: each block's heat is exactly its reports, over %llu passes",
	       (unsigned long long)hist.interval);
	ess_set_knob("aggregation_interval_ms", 100);
	ess_set_knob("heat_decay_pct", 25);
	close(fd);
	free(h); free(ag); free(pd); free(c0); free(c1); free(buf);
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions"), p0 = ess_knob("pinned_bytes");

	tap_start();
	serial_test();
	concurrent_test();
	worker_test();
	tap_ok(ess_knob("heat_decay_pct") == 25 && ess_knob("aggregation_interval_ms") == 100,
	       "knobs restored");
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == p0, "regions freed");
	return tap_done();
}
