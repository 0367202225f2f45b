// SPDX-License-Identifier: GPL-2.0
/*
 * Pinnability: O_DIRECT I/O pins the user pages it transfers to or from
 * (pin_user_pages, the same path cudaHostRegister takes), so a read from
 * the test disk (ESS_TEST_DISK, /dev/vda in the guest) straight into a
 * mapped region, and a write straight from one, prove the region's pages
 * are ordinary pinnable pages.
 */
#include "ess_test.h"

#define SZ (8 * MiB)

int main(void)
{
	const char *disk = getenv("ESS_TEST_DISK");
	long long nr0 = ess_knob("nr_regions");
	uint8_t *p, *buf, *abuf;
	int dfd, bfd, fd;
	ssize_t n;

	if (!disk)
		disk = "/dev/vda";
	dfd = open(disk, O_RDWR | O_DIRECT);
	if (dfd < 0)
		tap_skip_all("cannot open %s with O_DIRECT: %s", disk, strerror(errno));
	bfd = open(disk, O_RDONLY);
	tap_start();

	fd = ess_open();
	tap_ok(ess_create(fd, SZ, 0, 0, 16, NULL, NULL) == 0, "create an 8 MiB region");
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!tap_ok(p != MAP_FAILED, "map it"))
		return tap_done();
	buf = malloc(SZ);
	if (posix_memalign((void **)&abuf, 4096, SZ))
		return tap_done();

	n = pread(dfd, p, 4 * MiB, 0);
	tap_ok(n == (ssize_t)(4 * MiB), "O_DIRECT read of 4 MiB into the region (%zd, %s)", n,
	       n < 0 ? strerror(errno) : "ok");
	tap_ok(pread(bfd, buf, 4 * MiB, 0) == (ssize_t)(4 * MiB), "buffered read of the same range");
	tap_ok(!memcmp(p, buf, 4 * MiB) && !is_zero(buf, 4 * MiB),
	       "the region holds exactly what is on the disk");

	/* Straddle the boundary between the region's two 2 MiB blocks. */
	n = pread(dfd, p + 2 * MiB - 512 * 1024, 1 * MiB, 5 * MiB);
	tap_ok(n == (ssize_t)MiB, "O_DIRECT read of 1 MiB across a block boundary (%zd)", n);
	pread(bfd, buf, MiB, 5 * MiB);
	tap_ok(!memcmp(p + 2 * MiB - 512 * 1024, buf, MiB), "across the boundary it matches too");

	/* Write from the region, read back into ordinary memory. */
	fill_pattern(p + 4 * MiB, 4 * MiB, 77);
	n = pwrite(dfd, p + 4 * MiB, 4 * MiB, 16 * MiB);
	tap_ok(n == (ssize_t)(4 * MiB), "O_DIRECT write of 4 MiB from the region (%zd, %s)", n,
	       n < 0 ? strerror(errno) : "ok");
	memset(abuf, 0, 4 * MiB);
	n = pread(dfd, abuf, 4 * MiB, 16 * MiB);
	tap_ok(n == (ssize_t)(4 * MiB) && check_pattern(abuf, 4 * MiB, 77) < 0,
	       "the disk holds the region's pattern");

	/* The mapping alone (file closed) still pins. */
	close(fd);
	n = pread(dfd, p, 2 * MiB, 16 * MiB);
	tap_ok(n == (ssize_t)(2 * MiB) && check_pattern(p, 2 * MiB, 77) < 0,
	       "O_DIRECT into the region after its file was closed");
	munmap(p, SZ);
	tap_ok(ess_wait_nr_regions(nr0) == nr0, "region freed after the I/O");
	free(buf);
	free(abuf);
	close(bfd);
	close(dfd);
	return tap_done();
}
