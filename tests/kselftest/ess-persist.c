// SPDX-License-Identifier: GPL-2.0
/*
 * Named regions outlive their creator (warm restart): a child creates a
 * region, writes a pattern and exits; the parent attaches by name and finds
 * the pattern.  Also: name collisions, destroy semantics (name gone at once,
 * memory at the last user), several generations of restarts, and that an
 * anonymous region dies with its process.  (Exclusive attach has its own
 * program, ess-exclusive.)
 */
#include "ess_test.h"

#define SZ (6 * MiB)

/* Child: create (or attach to) NAME, check the previous seed if any, write
 * a new one, report the id through the pipe, exit without cleaning up. */
static int child_gen(int wfd, const char *name, int create, uint64_t old_seed,
		     uint64_t new_seed)
{
	struct ess_create c;
	struct ess_attach a;
	uint64_t id;
	uint8_t *p;
	int fd = ess_open();

	if (fd < 0)
		return 10;
	if (create) {
		if (ess_create(fd, SZ, ESS_CREATE_NAMED, 0, 16, name, &c) < 0)
			return 11;
		id = c.id;
	} else {
		if (ess_attach(fd, name, &a) < 0 || a.bytes != SZ)
			return 12;
		id = a.id;
	}
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return 13;
	if (old_seed && check_pattern(p, SZ, old_seed) >= 0)
		return 14;
	if (!old_seed && !is_zero(p, SZ))
		return 15;
	fill_pattern(p, SZ, new_seed);
	if (write(wfd, &id, sizeof(id)) != sizeof(id))
		return 16;
	return 0;	/* exit with the file open and the region mapped */
}

static int run_gen(const char *name, int create, uint64_t old_seed,
		   uint64_t new_seed, uint64_t *id)
{
	int pfd[2], rc;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = test_fork();
	if (pid == 0) {
		close(pfd[0]);
		_exit(child_gen(pfd[1], name, create, old_seed, new_seed));
	}
	close(pfd[1]);
	rc = test_wait(pid);
	if (read(pfd[0], id, sizeof(*id)) != sizeof(*id))
		*id = ~0ULL;
	close(pfd[0]);
	return rc;
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions"), pinned0 = ess_knob("pinned_bytes");
	struct ess_attach a, a2;
	struct ess_info info;
	char buf[128], path[256];
	uint64_t id = 0, id2 = 0;
	uint8_t *p, *q;
	int fd, fd2, fd3, rc, g;
	long r;

	tap_start();
	ess_destroy_name("persist-a");	/* a leftover of an earlier run */

	rc = run_gen("persist-a", 1, 0, 11, &id);
	tap_ok(rc == 0, "child created \"persist-a\", wrote a pattern and exited (%d)", rc);
	tap_ok(ess_wait_nr_regions(nr0 + 1) == nr0 + 1, "the region outlives its creator");
	tap_ok(ess_region_ll(id, "users") == 0 && ess_region_ll(id, "mappings") == 0,
	       "sysfs: no users, no mappings left");
	snprintf(path, sizeof(path), SYSFS_ESS "/regions/%llu/name", (unsigned long long)id);
	tap_ok(read_file(path, buf, sizeof(buf)) == 0 && !strcmp(buf, "persist-a\n"),
	       "sysfs name reads \"persist-a\"");
	tap_ok(ess_knob("pinned_bytes") == pinned0 + (long long)SZ, "still pinned");

	fd = ess_open();
	r = ess_attach(fd, "persist-a", &a);
	tap_ok(r == 0 && a.id == id && a.bytes == SZ, "attach by name: id %llu bytes %llu (%ld)",
	       (unsigned long long)a.id, (unsigned long long)a.bytes, r);
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	tap_ok(p != MAP_FAILED && check_pattern(p, SZ, 11) < 0,
	       "the creator's pattern is intact");
	r = ess_info(fd, &info);
	tap_ok(r == 0 && info.flags == ESS_INFO_NAMED && info.users == 1 &&
	       !strcmp(info.name, "persist-a") && info.owner_uid == 0,
	       "info: named, one user, name and owner (flags %#x users %u)", info.flags, info.users);

	fd2 = ess_open();
	r = ess_attach(fd2, "persist-a", &a2);
	tap_ok(r == -EBUSY, "a second file cannot attach it while the first holds it (%ld)", r);
	/* Two mappings through the holder's file share the memory. */
	q = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ess_info(fd, &info);
	tap_ok(q != MAP_FAILED && info.users == 1 && info.mappings == 2,
	       "a second mapping of the holder's file: users 1, mappings 2 (%u, %u)",
	       info.users, info.mappings);
	if (p != MAP_FAILED && q != MAP_FAILED) {
		p[12345] = 0x5a;
		tap_ok(q[12345] == 0x5a, "both mappings share the memory");
		fill_pattern(p, SZ, 11);
	} else {
		tap_ok(0, "both mappings share the memory");
	}

	fd3 = ess_open();
	r = ess_create(fd3, SZ, ESS_CREATE_NAMED, 0, 16, "persist-a", NULL);
	tap_ok(r == -EEXIST, "creating an existing name fails with EEXIST (%ld)", r);
	tap_ok(ess_knob("nr_regions") == nr0 + 1, "...and creates nothing");

	/* Destroy while in use: name gone now, memory at the last user. */
	r = ess_destroy(fd3, "persist-a");
	tap_ok(r == 0, "destroy while attached and mapped (%ld)", r);
	ess_info(fd, &info);
	tap_ok(info.flags == (ESS_INFO_NAMED | ESS_INFO_DESTROYED), "info flags say destroyed (%#x)",
	       info.flags);
	tap_ok(ess_attach(fd3, "persist-a", NULL) == -ENOENT, "a destroyed name cannot be attached");
	tap_ok(ess_knob("nr_regions") == nr0 + 1 && ess_region_exists(id),
	       "the destroyed region lives on while used");
	tap_ok(p != MAP_FAILED && check_pattern(p, SZ, 11) < 0, "its memory is still intact");
	r = ess_create(fd3, 2 * MiB, ESS_CREATE_NAMED, 0, 16, "persist-a", NULL);
	tap_ok(r == 0, "the name can be reused at once (%ld)", r);
	tap_ok(ess_destroy(fd2, "persist-a") == 0, "destroy the new one");
	close(fd3);
	tap_ok(ess_wait_nr_regions(nr0 + 1) == nr0 + 1, "the new one is freed with its last file");
	if (p != MAP_FAILED)
		munmap(p, SZ);
	close(fd);
	tap_ok(ess_region_exists(id), "still alive with its file closed and one mapping left");
	if (q != MAP_FAILED)
		munmap(q, SZ);
	close(fd2);
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && !ess_region_exists(id),
	       "freed when its last user goes");
	tap_ok(ess_knob("pinned_bytes") == pinned0, "pinned_bytes back");

	/* Destroy with no users frees at once. */
	rc = run_gen("persist-b", 1, 0, 21, &id2);
	tap_ok(rc == 0 && ess_knob("nr_regions") == nr0 + 1, "child created \"persist-b\" (%d)", rc);
	tap_ok(ess_destroy_name("persist-b") == 0, "destroy an unused named region");
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && !ess_region_exists(id2),
	       "it is freed at once");

	/* Generations of warm restarts. */
	rc = run_gen("persist-c", 1, 0, 100, &id);
	for (g = 1; g <= 4 && rc == 0; g++)
		rc = run_gen("persist-c", 0, 100 + g - 1, 100 + g, &id2);
	tap_ok(rc == 0 && id2 == id, "4 restarts each found the previous pattern (%d)", rc);
	fd = ess_open();
	r = ess_attach(fd, "persist-c", &a);
	p = r == 0 ? mmap(NULL, SZ, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	tap_ok(p != MAP_FAILED && check_pattern(p, SZ, 104) < 0, "the last generation's pattern");
	if (p != MAP_FAILED)
		munmap(p, SZ);
	close(fd);
	tap_ok(ess_destroy_name("persist-c") == 0 && ess_wait_nr_regions(nr0) == nr0,
	       "destroyed and freed");

	/* Anonymous regions die with their process. */
	{
		pid_t pid = test_fork();

		if (pid == 0) {
			int f = ess_open();
			void *m;

			if (f < 0 || ess_create(f, 4 * MiB, 0, 0, 16, NULL, NULL) < 0)
				_exit(1);
			m = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
			_exit(m == MAP_FAILED ? 2 : 0);
		}
		rc = test_wait(pid);
	}
	tap_ok(rc == 0 && ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == pinned0,
	       "an anonymous region is freed when its process exits (%d)", rc);
	return tap_done();
}
