// SPDX-License-Identifier: GPL-2.0
/*
 * Ownership of named regions: another uid can neither attach nor destroy a
 * region (EPERM or EACCES), the owner can, and so can CAP_SYS_ADMIN (root).
 * Unprivileged users cannot write the sysfs knobs either.
 */
#include <sys/resource.h>

#include "ess_test.h"

#define SZ (2 * MiB)

/* Documentation/admin-guide/ioctl.md: another user's region is EPERM. */
static int refused(long r)
{
	return r == -EPERM;
}

/* Become uid (all capabilities go with the switch away from root). */
static int become(uid_t uid)
{
	struct rlimit rl = { 64 * MiB, 64 * MiB };

	setrlimit(RLIMIT_MEMLOCK, &rl);
	return setresgid(uid, uid, uid) || setresuid(uid, uid, uid);
}

enum op { ATTACH, DESTROY, CREATE_FILL, ATTACH_CHECK, WRITE_KNOB };

/* Runs op as uid in a child; returns the child's exit code: 0 on success,
 * else the errno of the failing call (or 100+ for setup trouble). */
static int as_user(uid_t uid, enum op op, const char *name)
{
	pid_t pid = test_fork();
	long r;

	if (pid == 0) {
		int fd;
		uint8_t *p;

		if (become(uid))
			_exit(100);
		if (op == WRITE_KNOB)
			_exit(-write_file(SYSFS_ESS "/heat_decay_pct", "50\n"));
		fd = ess_open();
		if (fd < 0)
			_exit(101);
		switch (op) {
		case ATTACH:
			_exit(-ess_attach(fd, name, NULL));
		case DESTROY:
			_exit(-ess_destroy(fd, name));
		case CREATE_FILL:
			r = ess_create(fd, SZ, ESS_CREATE_NAMED, 0, 16, name, NULL);
			if (r < 0)
				_exit(-r);
			p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED)
				_exit(102);
			fill_pattern(p, SZ, uid);
			_exit(0);
		case ATTACH_CHECK:
			r = ess_attach(fd, name, NULL);
			if (r < 0)
				_exit(-r);
			p = mmap(NULL, SZ, PROT_READ, MAP_SHARED, fd, 0);
			if (p == MAP_FAILED)
				_exit(102);
			_exit(check_pattern(p, SZ, uid) < 0 ? 0 : 103);
		default:
			_exit(104);
		}
	}
	return test_wait(pid);
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions");
	struct ess_info info;
	int fd, rc;
	long r;

	tap_start();
	ess_dev_world_rw();
	ess_destroy_name("perm-root");
	ess_destroy_name("perm-user");

	fd = ess_open();
	r = ess_create(fd, SZ, ESS_CREATE_NAMED, 0, 16, "perm-root", NULL);
	tap_ok(r == 0, "root creates \"perm-root\" (%ld)", r);
	close(fd);

	rc = as_user(1000, ATTACH, "perm-root");
	tap_ok(refused(-rc), "uid 1000 cannot attach root's region (%s)", strerror(rc));
	rc = as_user(1000, DESTROY, "perm-root");
	tap_ok(refused(-rc), "uid 1000 cannot destroy root's region (%s)", strerror(rc));
	fd = ess_open();
	r = ess_attach(fd, "perm-root", NULL);
	tap_ok(r == 0 && ess_knob("nr_regions") == nr0 + 1, "root's region is untouched (%ld)", r);
	close(fd);

	rc = as_user(1000, CREATE_FILL, "perm-user");
	tap_ok(rc == 0, "uid 1000 creates and fills \"perm-user\" (%d)", rc);
	fd = ess_open();
	r = ess_attach(fd, "perm-user", NULL);
	ess_info(fd, &info);
	close(fd);
	tap_ok(r == 0 && info.owner_uid == 1000 && ess_region_ll(info.id, "owner") == 1000,
	       "root (CAP_SYS_ADMIN) attaches it; owner is 1000 (%u)", info.owner_uid);
	rc = as_user(1001, ATTACH, "perm-user");
	tap_ok(refused(-rc), "uid 1001 cannot attach uid 1000's region (%s)", strerror(rc));
	rc = as_user(1001, DESTROY, "perm-user");
	tap_ok(refused(-rc), "uid 1001 cannot destroy uid 1000's region (%s)", strerror(rc));
	rc = as_user(1000, ATTACH_CHECK, "perm-user");
	tap_ok(rc == 0, "uid 1000 attaches its own region, contents intact (%d)", rc);
	rc = as_user(1000, DESTROY, "no-such-name");
	tap_ok(rc == ENOENT, "uid 1000 destroying a missing name: ENOENT (%d)", rc);
	rc = as_user(1000, DESTROY, "perm-user");
	tap_ok(rc == 0, "uid 1000 destroys its own region (%d)", rc);

	rc = as_user(1000, WRITE_KNOB, NULL);
	tap_ok(rc == EACCES || rc == EPERM, "uid 1000 cannot write heat_decay_pct (%s)",
	       strerror(rc));
	tap_ok(ess_knob("heat_decay_pct") == 25, "heat_decay_pct unchanged");

	r = ess_destroy_name("perm-root");
	tap_ok(r == 0, "root destroys its region (%ld)", r);
	tap_ok(ess_wait_nr_regions(nr0) == nr0, "nr_regions back to %lld", nr0);
	return tap_done();
}
