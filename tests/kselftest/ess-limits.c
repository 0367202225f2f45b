// SPDX-License-Identifier: GPL-2.0
/*
 * Limits on pinned memory: RLIMIT_MEMLOCK for a caller without
 * CAP_IPC_LOCK (a uid other than root), the global cap
 * (sysfs pinned_cap_bytes, ENOSPC), and an allocation that fails midway
 * undoing everything it did.
 */
#include <sys/resource.h>

#include "ess_test.h"

static int over_limit(long r)
{
	/* include/uapi/ess.h: over RLIMIT_MEMLOCK is ENOMEM. */
	return r == -ENOMEM;
}

/* In a child with RLIMIT_MEMLOCK = limit bytes as uid (0 keeps root):
 * create each size in sizes[] on its own file, keeping the files open.
 * Exit code: 0 when every create's success matched want[], else 1 + index
 * of the first mismatch.  close_at >= 0 closes that file first and retries
 * its size once more at the end (want: success). */
static int charge_run(uid_t uid, rlim_t limit, const uint64_t *sizes,
		      const int *want, int n, int close_at)
{
	pid_t pid = test_fork();

	if (pid == 0) {
		struct rlimit rl = { limit, limit };
		int fds[16], i;

		if (setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(90);
		if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(91);
		for (i = 0; i < n; i++) {
			long r;

			fds[i] = ess_open();
			r = ess_create(fds[i], sizes[i], 0, 0, 16, NULL, NULL);
			if ((r == 0) != want[i] || (r < 0 && !over_limit(r))) {
				printf("#   create %d (%llu bytes): %s\n", i,
				       (unsigned long long)sizes[i], r ? strerror((int)-r) : "ok");
				_exit(1 + i);
			}
		}
		if (close_at >= 0) {
			close(fds[close_at]);
			fds[close_at] = ess_open();
			if (ess_create(fds[close_at], sizes[close_at], 0, 0, 16, NULL, NULL) < 0)
				_exit(50);
		}
		_exit(0);
	}
	return test_wait(pid);
}

/* In a child as uid with RLIMIT_MEMLOCK = limit: create one region (named
 * if name is given, and then left behind) and exit; returns the errno. */
static int create_as(uid_t uid, rlim_t limit, uint64_t bytes, const char *name)
{
	pid_t pid = test_fork();

	if (pid == 0) {
		struct rlimit rl = { limit, limit };
		int fd;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) || setresgid(uid, uid, uid) ||
		    setresuid(uid, uid, uid))
			_exit(90);
		fd = ess_open();
		_exit((int)-ess_create(fd, bytes, name ? ESS_CREATE_NAMED : 0, 0, 16, name, NULL));
	}
	return test_wait(pid);
}

static int nr_nodes(void)
{
	int n = 0;
	char path[64];

	while (n < 64) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK))
			break;
		n++;
	}
	return n;
}

static long long meminfo_kb(const char *key)
{
	char buf[4096], *p;

	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions"), p0 = ess_knob("pinned_bytes");
	long long cap0 = ess_knob("pinned_cap_bytes");
	uint64_t sz[4];
	int want[4], rc, fd1, fd2, fd3, fd4;
	uint8_t *m;
	long r;

	tap_start();
	ess_dev_world_rw();

	/* RLIMIT_MEMLOCK, uid 1000. */
	sz[0] = sz[1] = sz[2] = 2 * MiB;
	want[0] = want[1] = 1; want[2] = 0;
	rc = charge_run(1000, 5 * MiB, sz, want, 3, -1);
	tap_ok(rc == 0, "uid 1000, RLIMIT_MEMLOCK 5 MiB: 2 + 2 MiB fit, a third 2 MiB does not (%d)", rc);
	sz[0] = 6 * MiB; want[0] = 0;
	rc = charge_run(1000, 5 * MiB, sz, want, 1, -1);
	tap_ok(rc == 0, "uid 1000, RLIMIT_MEMLOCK 5 MiB: one 6 MiB region does not fit (%d)", rc);
	sz[0] = 2 * MiB; want[0] = 0;
	rc = charge_run(1000, 0, sz, want, 1, -1);
	tap_ok(rc == 0, "uid 1000, RLIMIT_MEMLOCK 0: nothing fits (%d)", rc);
	sz[0] = 4 * MiB; sz[1] = 4 * MiB; want[0] = 1; want[1] = 0;
	rc = charge_run(1000, 8 * MiB - 1, sz, want, 2, 0);
	tap_ok(rc == 0, "uid 1000: closing a region returns its charge (%d)", rc);
	sz[0] = sz[1] = 4 * MiB; want[0] = want[1] = 1;
	rc = charge_run(1000, RLIM_INFINITY, sz, want, 2, -1);
	tap_ok(rc == 0, "uid 1000, RLIMIT_MEMLOCK unlimited: 8 MiB fits (%d)", rc);
	sz[0] = sz[1] = 4 * MiB; want[0] = want[1] = 1;
	rc = charge_run(0, 2 * MiB, sz, want, 2, -1);
	tap_ok(rc == 0, "root (CAP_IPC_LOCK) is not held to RLIMIT_MEMLOCK 2 MiB (%d)", rc);
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == p0,
	       "everything the children made is gone");

	/* The charge follows a named region after its creator exits. */
	ess_destroy_name("limits-user");
	rc = create_as(1000, 5 * MiB, 4 * MiB, "limits-user");
	tap_ok(rc == 0, "uid 1000 leaves a named 4 MiB region behind (%d)", rc);
	rc = create_as(1000, 5 * MiB, 2 * MiB, NULL);
	tap_ok(rc == ENOMEM, "a later uid 1000 process is still charged for it: ENOMEM (%d)", rc);
	rc = create_as(1001, 5 * MiB, 4 * MiB, NULL);
	tap_ok(rc == 0, "uid 1001 is charged separately (%d)", rc);
	tap_ok(ess_destroy_name("limits-user") == 0 && ess_wait_nr_regions(nr0) == nr0,
	       "root destroys the named region");
	rc = create_as(1000, 5 * MiB, 4 * MiB, NULL);
	tap_ok(rc == 0, "its charge is returned to uid 1000 (%d)", rc);

	/* Global cap. */
	tap_ok(ess_set_knob("pinned_cap_bytes", p0 + 6 * MiB) == 0, "cap = pinned + 6 MiB");
	fd1 = ess_open();
	r = ess_create(fd1, 4 * MiB, 0, 0, 16, NULL, NULL);
	tap_ok(r == 0, "4 MiB fits under the cap (%ld)", r);
	fd2 = ess_open();
	r = ess_create(fd2, 4 * MiB, 0, 0, 16, NULL, NULL);
	tap_ok(r == -ENOSPC, "another 4 MiB does not: ENOSPC (%ld)", r);
	r = ess_create(fd2, 2 * MiB, ESS_CREATE_NAMED, 0, 16, "limits-cap", NULL);
	tap_ok(r == 0, "2 MiB more fills the cap exactly (%ld)", r);
	fd3 = ess_open();
	r = ess_create(fd3, 2 * MiB, 0, 0, 16, NULL, NULL);
	tap_ok(r == -ENOSPC, "nothing more: ENOSPC (%ld)", r);
	tap_ok(ess_knob("pinned_bytes") == p0 + 6 * (long long)MiB &&
	       ess_knob("nr_regions") == nr0 + 2, "failed creates charged nothing");
	tap_ok(ess_set_knob("pinned_cap_bytes", p0) == 0 && ess_knob("pinned_cap_bytes") == p0,
	       "lowering the cap below pinned_bytes is allowed");
	m = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, 0);
	tap_ok(m != MAP_FAILED && is_zero(m, 4 * MiB), "existing regions stay usable");
	if (m != MAP_FAILED)
		munmap(m, 4 * MiB);
	close(fd1);
	tap_ok(ess_wait_nr_regions(nr0 + 1) == nr0 + 1, "a region freed under a lowered cap");
	r = ess_create(fd3, 2 * MiB, 0, 0, 16, NULL, NULL);
	tap_ok(r == -ENOSPC, "still over the lowered cap: ENOSPC (%ld)", r);
	tap_ok(ess_set_knob("pinned_cap_bytes", cap0) == 0, "cap restored");
	r = ess_create(fd3, 2 * MiB, 0, 0, 16, NULL, NULL);
	tap_ok(r == 0, "creates work again (%ld)", r);
	close(fd3);
	close(fd2);
	tap_ok(ess_destroy_name("limits-cap") == 0, "destroy the named one");
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == p0,
	       "nr_regions and pinned_bytes back");

	/* Allocation failure midway: ask for more than a node (or the machine)
	 * has free, with the cap out of the way; nothing may be left behind.
	 * Orders above PAGE_ALLOC_COSTLY_ORDER never call the OOM killer. */
	{
		long long ram = meminfo_kb("MemTotal:") * 1024;
		uint64_t ask = (uint64_t)ram & ~(ESS_BLOCK_SIZE - 1);
		uint32_t flags = 0;
		int node = 0;
		long long free0, free1;

		if (nr_nodes() >= 2) {
			flags = ESS_CREATE_NODE;
			node = 1;
		}
		ess_set_knob("pinned_cap_bytes", ram);
		free0 = ess_free_kb();
		fd4 = ess_open();
		r = ess_create(fd4, ask, flags, node, 16, NULL, NULL);
		tap_ok(r == -ENOMEM, "%llu MiB (all of RAM) on node %d fails with ENOMEM (%ld)",
		       (unsigned long long)(ask >> 20), node, r);
		close(fd4);
		tap_ok(ess_knob("pinned_bytes") == p0 && ess_wait_nr_regions(nr0) == nr0,
		       "a failed allocation leaves no charge and no region");
		free1 = ess_free_kb();
		/* A leak of a failed all-of-node allocation would be hundreds
		 * of MiB. */
		tap_ok(free1 > free0 - 16 * 1024, "its blocks went back (free memory %lld -> %lld kB)",
		       free0, free1);
		ess_set_knob("pinned_cap_bytes", cap0);
		fd4 = ess_open();
		r = ess_create(fd4, 8 * MiB, flags, node, 16, NULL, NULL);
		tap_ok(r == 0, "and creating works afterwards (%ld)", r);
		close(fd4);
	}
	tap_ok(ess_knob("pinned_cap_bytes") == cap0, "cap restored to %lld", cap0);
	return tap_done();
}
