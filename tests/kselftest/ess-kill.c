// SPDX-License-Identifier: GPL-2.0
/*
 * A client killed with SIGKILL at each stage: after open, after create,
 * after mmap, in the middle of heat report batches, while attached to a
 * named region, in the middle of a create.  Afterwards the state must be
 * consistent: anonymous regions gone, named ones intact with their users
 * and mappings counted right, heat batches counted whole or not at all,
 * nothing left charged.
 */
#include <signal.h>

#include "ess_test.h"

#define BATCH 65536

enum stage { OPENED, CREATED, MAPPED, REPORTING, ATTACHED, CREATING, CREATING_NAMED };

static void child(enum stage st, int wfd)
{
	static uint32_t idx[BATCH];
	char one = 1;
	uint8_t *p;
	int fd = ess_open(), i;

	if (fd < 0)
		_exit(1);
	switch (st) {
	case OPENED:
		break;
	case CREATED:
		if (ess_create(fd, 4 * MiB, 0, 0, 16, NULL, NULL))
			_exit(2);
		break;
	case MAPPED:
		if (ess_create(fd, 4 * MiB, 0, 0, 16, NULL, NULL))
			_exit(2);
		p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			_exit(3);
		memset(p, 0xab, 4 * MiB);
		break;
	case REPORTING:
		if (ess_attach(fd, "kill-heat", NULL))
			_exit(2);
		for (i = 0; i < BATCH; i++)
			idx[i] = (uint32_t)i % 512;
		if (write(wfd, &one, 1) != 1)
			_exit(4);
		for (;;)
			ess_heat_report(fd, idx, BATCH);
	case ATTACHED:
		if (ess_attach(fd, "kill-named", NULL))
			_exit(2);
		p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED)
			_exit(3);
		fill_pattern(p, 4 * MiB, 99);
		break;
	case CREATING:
		if (write(wfd, &one, 1) != 1)
			_exit(4);
		for (;;) {
			ess_create(fd, 64 * MiB, 0, 0, 16, NULL, NULL);
			close(fd);
			fd = ess_open();
		}
	case CREATING_NAMED:
		if (write(wfd, &one, 1) != 1)
			_exit(4);
		for (;;) {
			ess_create(fd, 64 * MiB, ESS_CREATE_NAMED, 0, 16, "kill-creating", NULL);
			ess_destroy(fd, "kill-creating");
			close(fd);
			fd = ess_open();
		}
	}
	if (write(wfd, &one, 1) != 1)
		_exit(4);
	for (;;)
		pause();
}

/* Start a child, wait until it reached the stage, let it run delay_us,
 * SIGKILL it and reap it.  Returns 128 + SIGKILL when all went as meant. */
static int kill_at(enum stage st, unsigned int delay_us)
{
	int pfd[2], rc;
	char c;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = test_fork();
	if (pid == 0) {
		close(pfd[0]);
		child(st, pfd[1]);
	}
	close(pfd[1]);
	if (read(pfd[0], &c, 1) != 1) {
		close(pfd[0]);
		return test_wait(pid);	/* the child failed before the stage */
	}
	close(pfd[0]);
	if (delay_us)
		usleep(delay_us);
	kill(pid, SIGKILL);
	rc = test_wait(pid);
	return rc;
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions"), p0 = ess_knob("pinned_bytes");
	struct ess_heat_entry e[512];
	struct ess_info info;
	uint64_t sum;
	uint8_t *p;
	int rc, fd, i, k;
	long n;

	tap_start();
	ess_destroy_name("kill-heat");
	ess_destroy_name("kill-named");

	rc = kill_at(OPENED, 0);
	tap_ok(rc == 128 + SIGKILL && ess_knob("nr_regions") == nr0, "killed after open (%d)", rc);
	rc = kill_at(CREATED, 0);
	tap_ok(rc == 128 + SIGKILL && ess_wait_nr_regions(nr0) == nr0 &&
	       ess_knob("pinned_bytes") == p0, "killed after create: region freed (%d)", rc);
	rc = kill_at(MAPPED, 0);
	tap_ok(rc == 128 + SIGKILL && ess_wait_nr_regions(nr0) == nr0 &&
	       ess_knob("pinned_bytes") == p0, "killed after mmap: region freed (%d)", rc);

	/* Mid heat report: batches count whole or not at all.  The child
	 * holds the region (attach is exclusive); we attach once it is dead. */
	fd = ess_open();
	ess_create(fd, 32 * MiB, ESS_CREATE_NAMED | ESS_CREATE_HEAT_MANUAL, 0, 16, "kill-heat", NULL);
	close(fd);
	for (k = 0; k < 3; k++) {
		long r;

		rc = kill_at(REPORTING, 20000 + k * 15000);
		fd = ess_open();
		r = ess_attach(fd, "kill-heat", NULL);
		n = ess_heat_read(fd, ESS_HEAT_HOTTEST, e, 512);
		for (sum = 0, i = 0; i < n; i++)
			sum += e[i].pending;
		tap_ok(rc == 128 + SIGKILL && r == 0 && n == 512 && sum % BATCH == 0,
		       "killed mid heat reports: attach at once (%ld), %llu accesses pending, whole batches only (%d)",
		       r, (unsigned long long)sum, rc);
		if (k < 2)
			close(fd);
	}
	ess_info(fd, &info);
	tap_ok(info.users == 1 && info.mappings == 0, "the heat region has only our file left (%u, %u)",
	       info.users, info.mappings);
	close(fd);
	tap_ok(ess_destroy_name("kill-heat") == 0 && ess_wait_nr_regions(nr0) == nr0,
	       "destroyed and freed");

	/* Attached to a named region. */
	fd = ess_open();
	ess_create(fd, 4 * MiB, ESS_CREATE_NAMED, 0, 16, "kill-named", NULL);
	close(fd);
	rc = kill_at(ATTACHED, 0);
	tap_ok(rc == 128 + SIGKILL, "killed while attached and mapped (%d)", rc);
	fd = ess_open();
	{
		long r = ess_attach(fd, "kill-named", NULL);

		tap_ok(r == 0, "the killed holder let go: attach succeeds at once (%ld)", r);
	}
	ess_info(fd, &info);
	tap_ok(info.users == 1 && info.mappings == 0 && info.flags == ESS_INFO_NAMED,
	       "the named region survives with no stale users or mappings (%u, %u)",
	       info.users, info.mappings);
	p = mmap(NULL, 4 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	tap_ok(p != MAP_FAILED && check_pattern(p, 4 * MiB, 99) < 0,
	       "it holds what the killed client wrote");
	if (p != MAP_FAILED)
		munmap(p, 4 * MiB);
	close(fd);
	tap_ok(ess_destroy_name("kill-named") == 0 && ess_wait_nr_regions(nr0) == nr0,
	       "destroyed and freed");

	/* In the middle of creates (CREATE checks for fatal signals). */
	for (k = 0; k < 4; k++) {
		rc = kill_at(CREATING, 3000 + k * 7000);
		tap_ok(rc == 128 + SIGKILL && ess_wait_nr_regions(nr0) == nr0 &&
		       ess_knob("pinned_bytes") == p0,
		       "killed mid create (after %d us): nothing left (%d)", 3000 + k * 7000, rc);
	}
	/* Named: the region is either complete and destroyable, or absent. */
	for (k = 0; k < 4; k++) {
		struct ess_attach a;
		long r;

		rc = kill_at(CREATING_NAMED, 5000 + k * 9000);
		fd = ess_open();
		r = ess_attach(fd, "kill-creating", &a);
		close(fd);
		tap_ok(rc == 128 + SIGKILL && (r == -ENOENT || (r == 0 && a.bytes == 64 * MiB)),
		       "killed mid named create: name %s (%d)", r ? "absent" : "complete", rc);
		if (r == 0)
			ess_destroy_name("kill-creating");
		tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == p0,
		       "nothing left after destroying what exists");
	}
	tap_ok(ess_region_dirs() == nr0, "no stray region directories");
	return tap_done();
}
