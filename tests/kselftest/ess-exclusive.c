// SPDX-License-Identifier: GPL-2.0
/*
 * Exclusive attach: a named region is held by one open file at a time (its
 * creator's, or the one that attached it).  A second ATTACH gets EBUSY,
 * from this process or another, and binds nothing.  The holder lets go
 * when its file is released: close() with no mapping left, munmap() of the
 * last mapping after close(), the holder's SIGKILL; then ATTACH succeeds
 * at once and finds the holder's data intact.  dup() and fork() share the
 * holder's file.  EPERM comes before EBUSY; argument errors before both;
 * racing attaches have exactly one winner; a destroyed, still held region
 * does not block its name.
 */
#include <pthread.h>
#include <signal.h>

#include "ess_test.h"

#define SZ (4 * MiB)
#define NAME "excl-a"
#define NRACE 6
#define ROUNDS 20

/* Attach NAME from a child process; returns 0 or the errno of the attach
 * (the child's exit code), 100+ for setup trouble. */
static int attach_in_child(const char *name, uid_t uid)
{
	pid_t pid = test_fork();

	if (pid == 0) {
		int fd;

		if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(100);
		fd = ess_open();
		if (fd < 0)
			_exit(101);
		_exit((int)-ess_attach(fd, name, NULL));
	}
	return test_wait(pid);
}

/* Attach on a fresh file, map it and check the pattern of seed; returns
 * the attach result, with *intact set; the file is closed again. */
static long attach_check(const char *name, uint64_t seed, int *intact)
{
	int fd = ess_open();
	long r = ess_attach(fd, name, NULL);
	uint8_t *p;

	*intact = 0;
	if (r == 0) {
		p = mmap(NULL, SZ, PROT_READ, MAP_SHARED, fd, 0);
		*intact = p != MAP_FAILED && check_pattern(p, SZ, seed) < 0;
		if (p != MAP_FAILED)
			munmap(p, SZ);
	}
	close(fd);
	return r;
}

struct racer {
	pthread_barrier_t *go;
	int fd;
	long r;
};

static void *race_attach(void *arg)
{
	struct racer *rc = arg;

	pthread_barrier_wait(rc->go);
	rc->r = ess_attach(rc->fd, NAME, NULL);
	return NULL;
}

/*
 * One round: NRACE threads, each on its own open of /dev/ess, attach NAME
 * at the same moment; every file is closed only after all have tried (a
 * winner holds the region until then).  Counts the winners and the EBUSY.
 */
static void race_round(int *wins, int *busy)
{
	pthread_barrier_t go;
	pthread_t t[NRACE];
	struct racer rr[NRACE];
	int i;

	*wins = *busy = 0;
	pthread_barrier_init(&go, NULL, NRACE);
	for (i = 0; i < NRACE; i++) {
		rr[i].go = &go;
		rr[i].fd = ess_open();
		pthread_create(&t[i], NULL, race_attach, &rr[i]);
	}
	for (i = 0; i < NRACE; i++) {
		pthread_join(t[i], NULL);
		*wins += rr[i].r == 0;
		*busy += rr[i].r == -EBUSY;
	}
	for (i = 0; i < NRACE; i++)
		close(rr[i].fd);
	pthread_barrier_destroy(&go);
}

/* The holder child: attach, map, write seed's pattern, tell the parent,
 * then keep rewriting the same pattern until it is killed. */
static void holder_child(int wfd, uint64_t seed)
{
	char one = 1;
	uint8_t *p;
	int fd = ess_open();

	if (fd < 0 || ess_attach(fd, NAME, NULL))
		_exit(2);
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		_exit(3);
	fill_pattern(p, SZ, seed);
	if (write(wfd, &one, 1) != 1)
		_exit(4);
	for (;;)
		fill_pattern(p, SZ, seed);
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions"), p0 = ess_knob("pinned_bytes");
	struct ess_attach a;
	struct ess_info info;
	struct ess_create c;
	uint8_t *p;
	int fd1, fd2, fd3, rc, intact, k, pfd[2];
	pid_t pid;
	long r;

	tap_start();
	ess_dev_world_rw();
	ess_destroy_name(NAME);

	/* The creator holds it. */
	fd1 = ess_open();
	r = ess_create(fd1, SZ, ESS_CREATE_NAMED, 0, 16, NAME, &c);
	p = r == 0 ? mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0) : MAP_FAILED;
	if (!tap_ok(r == 0 && p != MAP_FAILED, "create and map \"" NAME "\" (%ld)", r))
		return tap_done();
	fill_pattern(p, SZ, 1);

	fd2 = ess_open();
	r = ess_attach(fd2, NAME, &a);
	tap_ok(r == -EBUSY, "a second open file cannot attach it while the creator holds it (%ld)", r);
	tap_ok(ess_info(fd2, &info) == -ENXIO, "the refused file stays unbound");
	rc = attach_in_child(NAME, 0);
	tap_ok(rc == EBUSY, "another process gets EBUSY too (%d)", rc);
	rc = attach_in_child(NAME, 1000);
	tap_ok(rc == EPERM, "another user gets EPERM, not EBUSY (%d)", rc);
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.reserved[2] = 1;
	strcpy(a.name, NAME);
	r = ess_ioctl(fd2, ESS_IOC_ATTACH, &a);
	tap_ok(r == -EINVAL, "a bad argument is EINVAL before the holder is checked (%ld)", r);
	r = ess_info(fd1, &info);
	tap_ok(r == 0 && info.users == 1 && ess_region_ll(c.id, "users") == 1,
	       "INFO and sysfs: one user (%u)", info.users);

	/* Several threads on their own files, all refused. */
	{
		int wins, busy;

		race_round(&wins, &busy);
		tap_ok(busy == NRACE, "%d threads attaching at once while held: all EBUSY (%d)",
		       NRACE, busy);
	}

	/* close() with a mapping left: the mapping keeps the file, still held. */
	close(fd1);
	r = ess_attach(fd2, NAME, NULL);
	tap_ok(r == -EBUSY, "creator closed its fd but still maps it: still EBUSY (%ld)", r);
	munmap(p, SZ);
	r = ess_attach(fd2, NAME, &a);
	tap_ok(r == 0 && a.id == c.id, "after its munmap, attach succeeds (%ld)", r);
	p = r == 0 ? mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0) : MAP_FAILED;
	tap_ok(p != MAP_FAILED && check_pattern(p, SZ, 1) < 0, "the creator's data is intact");
	if (p != MAP_FAILED) {
		fill_pattern(p, SZ, 2);
		munmap(p, SZ);
	}
	r = attach_check(NAME, 2, &intact);
	tap_ok(r == -EBUSY, "the new holder holds it against others (%ld)", r);

	/* close() with no mapping: released at once. */
	close(fd2);
	r = attach_check(NAME, 2, &intact);
	tap_ok(r == 0 && intact, "after the holder's close, attach succeeds; its data is intact (%ld)", r);

	/* SIGKILL of a holder in the middle of writing. */
	if (pipe(pfd) == 0) {
		char ch;

		pid = test_fork();
		if (pid == 0) {
			close(pfd[0]);
			holder_child(pfd[1], 3);
		}
		close(pfd[1]);
		k = read(pfd[0], &ch, 1) == 1;
		close(pfd[0]);
		r = attach_check(NAME, 3, &intact);
		tap_ok(k && r == -EBUSY, "a child holds it and keeps writing: EBUSY (%ld)", r);
		kill(pid, SIGKILL);
		rc = test_wait(pid);
		r = attach_check(NAME, 3, &intact);
		tap_ok(rc == 128 + SIGKILL && r == 0,
		       "once the killed holder is reaped, attach succeeds at once (%ld, %d)", r, rc);
		tap_ok(intact, "the killed holder's data is intact");
	} else {
		tap_ok(0, "pipe");
	}

	/* dup(): one open file, one holder. */
	fd1 = ess_open();
	ess_attach(fd1, NAME, NULL);
	fd2 = dup(fd1);
	close(fd1);
	r = attach_check(NAME, 3, &intact);
	tap_ok(r == -EBUSY, "a dup()ed descriptor still holds it after the original's close (%ld)", r);
	r = ess_info(fd2, &info);
	tap_ok(r == 0 && info.id == c.id && info.users == 1, "the dup()ed descriptor works on it");
	close(fd2);
	r = attach_check(NAME, 3, &intact);
	tap_ok(r == 0, "released with the last descriptor (%ld)", r);

	/* fork(): the child shares the holder's file. */
	fd1 = ess_open();
	ess_attach(fd1, NAME, NULL);
	if (pipe(pfd) == 0) {
		char ch = 0;

		pid = test_fork();
		if (pid == 0) {
			close(pfd[1]);
			/* Wait for the parent, then use the inherited file. */
			if (read(pfd[0], &ch, 1) != 1)
				_exit(2);
			_exit(ess_info(fd1, &info) == 0 && info.id == c.id ? 0 : 3);
		}
		close(pfd[0]);
		close(fd1);
		r = attach_check(NAME, 3, &intact);
		tap_ok(r == -EBUSY, "a fork()ed child's inherited file holds it after the parent's close (%ld)",
		       r);
		if (write(pfd[1], &ch, 1) != 1)
			ch = 1;
		close(pfd[1]);
		rc = test_wait(pid);
		r = attach_check(NAME, 3, &intact);
		tap_ok(rc == 0 && r == 0 && intact,
		       "the child used it and exited: attach succeeds, data intact (%d, %ld)", rc, r);
	} else {
		tap_ok(0, "pipe");
	}

	/* Racing attaches on a free region: exactly one winner each round. */
	{
		int good = 0;

		for (k = 0; k < ROUNDS; k++) {
			int wins, busy;

			race_round(&wins, &busy);
			good += wins == 1 && busy == NRACE - 1;
		}
		tap_ok(good == ROUNDS, "%d rounds of %d racing attaches: one winner, EBUSY for the rest (%d)",
		       ROUNDS, NRACE, good);
	}

	/* Destroy while held: the name is free for a new region at once. */
	fd1 = ess_open();
	ess_attach(fd1, NAME, NULL);
	r = ess_destroy_name(NAME);
	tap_ok(r == 0, "the holder's region can be destroyed while held (%ld)", r);
	r = attach_check(NAME, 3, &intact);
	tap_ok(r == -ENOENT, "its name is gone: ENOENT, not EBUSY (%ld)", r);
	fd2 = ess_open();
	r = ess_create(fd2, 2 * MiB, ESS_CREATE_NAMED, 0, 16, NAME, NULL);
	fd3 = ess_open();
	tap_ok(r == 0 && ess_attach(fd3, NAME, NULL) == -EBUSY,
	       "a new region of that name is created, and held by its creator (%ld)", r);
	close(fd3);
	close(fd2);
	r = attach_check(NAME, 0, &intact);
	tap_ok(r == 0, "the new one is free once its creator closes (%ld)", r);
	r = ess_info(fd1, &info);
	tap_ok(r == 0 && info.id == c.id && (info.flags & ESS_INFO_DESTROYED),
	       "the old holder still has the destroyed region");
	close(fd1);
	tap_ok(ess_destroy_name(NAME) == 0 && ess_wait_nr_regions(nr0) == nr0 &&
	       ess_knob("pinned_bytes") == p0, "everything freed");
	return tap_done();
}
