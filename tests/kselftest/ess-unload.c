// SPDX-License-Identifier: GPL-2.0
/*
 * Module unload: refused while a file of /dev/ess is open or a region is
 * mapped (even with its file closed), clean otherwise; everything under
 * /sys/kernel/ess and /dev/ess goes with it; loading it again gives a fresh
 * module.  Runs last in the guest.
 */
#include "ess_test.h"

#define MODULE_PATH "/lib/modules/ess.ko"

static long rmmod(void)
{
	return syscall(SYS_delete_module, "ess", O_NONBLOCK) ? -errno : 0;
}

static long insmod(void)
{
	int fd = open(MODULE_PATH, O_RDONLY | O_CLOEXEC);
	long r;

	if (fd < 0)
		return -errno;
	r = syscall(SYS_finit_module, fd, "", 0) ? -errno : 0;
	close(fd);
	return r;
}

static int busy(long r)
{
	return r == -EBUSY || r == -EAGAIN;
}

int main(void)
{
	struct stat st;
	uint8_t *p;
	int fd;
	long r;

	tap_start();
	fd = ess_open();
	r = rmmod();
	tap_ok(busy(r), "rmmod refused while a file is open (%s)", strerror((int)-r));
	ess_create(fd, 4 * MiB, 0, 0, 16, NULL, NULL);
	p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	r = rmmod();
	tap_ok(p != MAP_FAILED && busy(r), "rmmod refused while a region is mapped (%s)",
	       strerror((int)-r));
	if (p != MAP_FAILED) {
		memset(p, 1, 4 * MiB);
		tap_ok(ess_knob("nr_regions") == 1, "the mapped region is alive");
		munmap(p, 4 * MiB);
	}
	ess_wait_nr_regions(0);

	/* A named region held through a mapping whose file is closed: the
	 * mapping keeps the file, so both the module and the region stay in
	 * use (attach is exclusive). */
	fd = ess_open();
	r = ess_create(fd, 2 * MiB, ESS_CREATE_NAMED, 0, 16, "unload-held", NULL);
	p = r == 0 ? mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
	close(fd);
	r = rmmod();
	tap_ok(p != MAP_FAILED && busy(r), "rmmod refused while a named region is held by a mapping (%s)",
	       strerror((int)-r));
	fd = ess_open();
	r = ess_attach(fd, "unload-held", NULL);
	close(fd);
	tap_ok(r == -EBUSY, "...which also keeps others from attaching it (%ld)", r);
	if (p != MAP_FAILED)
		munmap(p, 2 * MiB);
	fd = ess_open();
	r = ess_attach(fd, "unload-held", NULL);
	close(fd);
	tap_ok(r == 0, "after munmap it can be attached (%ld)", r);

	/* A named region holds no file: unload frees it (ess.md). */
	fd = ess_open();
	tap_ok(ess_create(fd, 2 * MiB, ESS_CREATE_NAMED, 0, 16, "unload-named", NULL) == 0,
	       "a named region with no users");
	close(fd);
	r = rmmod();
	tap_ok(r == 0, "rmmod with no files and no mappings (%s)", r ? strerror((int)-r) : "ok");
	tap_ok(stat(ESS_DEVICE_PATH, &st) && errno == ENOENT, "/dev/ess is gone");
	tap_ok(stat(SYSFS_ESS, &st) && errno == ENOENT, "/sys/kernel/ess is gone");

	r = insmod();
	tap_ok(r == 0, "insmod again (%s)", r ? strerror((int)-r) : "ok");
	tap_ok(ess_knob("nr_regions") == 0 && ess_knob("pinned_bytes") == 0 && ess_region_dirs() == 0,
	       "a fresh module: no regions");
	fd = ess_open();
	tap_ok(fd >= 0 && ess_attach(fd, "unload-named", NULL) == -ENOENT,
	       "the named region did not survive the unload");
	if (fd >= 0)
		close(fd);
	r = rmmod();
	tap_ok(r == 0, "final rmmod (%s)", r ? strerror((int)-r) : "ok");
	return tap_done();
}
