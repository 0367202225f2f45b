// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency: threads of two processes race create, attach, map, info and
 * destroy on a handful of names, and bind one shared file from several
 * threads at once.  Every call must end with one of its documented results,
 * a region must never have two holders at once (attach is exclusive: a
 * count of holders per region id, shared by both processes, proves it),
 * and afterwards nothing may be left over.
 */
#include <pthread.h>

#include "ess_test.h"

#define NTHREADS 4
#define ITERS 150
#define NNAMES 3

static const char *const names[NNAMES] = { "race-0", "race-1", "race-2" };

/* Holders of each region id (mod HOLD_SLOTS), in memory both processes
 * share.  Raised after a successful CREATE or ATTACH, lowered before the
 * holder's close(): more than one at a time means two holders. */
#define HOLD_SLOTS 65536
static int *holders;

struct worker {
	uint64_t seed;
	int unexpected, double_holders;
	int ok_create, ok_attach, ok_destroy, busy;
};

static void hold(struct worker *w, uint64_t id)
{
	if (__atomic_fetch_add(&holders[id % HOLD_SLOTS], 1, __ATOMIC_SEQ_CST) != 0)
		w->double_holders++;
}

static void unhold(uint64_t id)
{
	__atomic_fetch_sub(&holders[id % HOLD_SLOTS], 1, __ATOMIC_SEQ_CST);
}

static void *work(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < ITERS; i++) {
		const char *name = names[rnd64(&w->seed) % NNAMES];
		int fd = ess_open(), op = (int)(rnd64(&w->seed) % 3);
		struct ess_info info;
		struct ess_create c;
		struct ess_attach a;
		uint64_t held = 0;
		long r;

		if (fd < 0) {
			w->unexpected++;
			continue;
		}
		if (op == 0) {
			r = ess_create(fd, 2 * MiB, ESS_CREATE_NAMED, 0, 16, name, &c);
			if (r == 0) {
				w->ok_create++;
				held = c.id;
				hold(w, held);
			} else if (r != -EEXIST)
				w->unexpected++;
		} else if (op == 1) {
			r = ess_attach(fd, name, &a);
			if (r == 0) {
				uint8_t *p;

				held = a.id;
				hold(w, held);
				p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
				w->ok_attach++;
				if (p == MAP_FAILED || ess_info(fd, &info) || info.bytes != 2 * MiB ||
				    !(info.flags & ESS_INFO_NAMED))
					w->unexpected++;
				if (p != MAP_FAILED) {
					p[rnd64(&w->seed) % (2 * MiB)]++;
					munmap(p, 2 * MiB);
				}
			} else if (r == -EBUSY) {
				w->busy++;	/* another file holds it */
			} else if (r != -ENOENT) {
				w->unexpected++;
			}
		} else {
			r = ess_destroy(fd, name);
			if (r == 0)
				w->ok_destroy++;
			else if (r != -ENOENT)
				w->unexpected++;
		}
		if (held)
			unhold(held);
		close(fd);
	}
	return NULL;
}

struct binder {
	int fd;
	long r;
};

static void *bind_one(void *arg)
{
	struct binder *b = arg;

	b->r = ess_create(b->fd, 2 * MiB, 0, 0, 16, NULL, NULL);
	return NULL;
}

static int run_workers(uint64_t seed, int *creates, int *busy)
{
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];
	int i, bad = 0;

	for (i = 0; i < NTHREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].seed = seed + (uint64_t)i * 7919;
		pthread_create(&t[i], NULL, work, &w[i]);
	}
	*creates = 0;
	*busy = 0;
	for (i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].unexpected + w[i].double_holders;
		if (w[i].double_holders)
			fprintf(stderr, "thread %d saw %d double holders\n", i, w[i].double_holders);
		*creates += w[i].ok_create;
		*busy += w[i].busy;
	}
	return bad;
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions"), p0 = ess_knob("pinned_bytes");
	struct binder b[NTHREADS];
	pthread_t t[NTHREADS];
	int bad, creates, i, wins = 0, busy = 0, attach_busy, rc;
	pid_t pid;

	tap_start();
	holders = mmap(NULL, HOLD_SLOTS * sizeof(*holders), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (holders == MAP_FAILED)
		tap_skip_all("no shared memory for the holder counts");
	for (i = 0; i < NNAMES; i++)
		ess_destroy_name(names[i]);

	pid = test_fork();
	if (pid == 0)
		_exit(run_workers(1000, &creates, &attach_busy) ? 1 : 0);
	bad = run_workers(2000, &creates, &attach_busy);
	rc = test_wait(pid);
	tap_ok(bad == 0 && rc == 0,
	       "%d threads in 2 processes: only documented results, never two holders (%d, child %d)",
	       2 * NTHREADS, bad, rc);
	tap_ok(creates > 0, "some creates won (%d in this process)", creates);
	tap_diag("attaches refused with EBUSY in this process: %d", attach_busy);
	for (i = 0; i < NNAMES; i++)
		ess_destroy_name(names[i]);
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == p0,
	       "all freed after destroying what is left");

	/* Several threads bind the same file at once: one wins, the rest EBUSY. */
	for (int round = 0; round < 10; round++) {
		int fd = ess_open();

		for (i = 0; i < NTHREADS; i++) {
			b[i].fd = fd;
			pthread_create(&t[i], NULL, bind_one, &b[i]);
		}
		for (i = 0; i < NTHREADS; i++) {
			pthread_join(t[i], NULL);
			wins += b[i].r == 0;
			busy += b[i].r == -EBUSY;
		}
		close(fd);
	}
	tap_ok(wins == 10 && busy == 10 * (NTHREADS - 1),
	       "racing creates on one file: one winner each time, EBUSY for the rest (%d, %d)",
	       wins, busy);
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == p0,
	       "the losers left nothing behind");
	return tap_done();
}
