// SPDX-License-Identifier: GPL-2.0
/*
 * Region basics: create, query, mmap, write, read; what sysfs shows for a
 * region; that an anonymous region lives exactly as long as its last file
 * or mapping.
 */
#include <signal.h>

#include "ess_test.h"

#define SZ (4 * MiB)

int main(void)
{
	long long nr0, pinned0;
	struct ess_create c;
	struct ess_info info;
	char buf[128], path[256];
	uint8_t *p, *q, *h;
	int fd, fd2;
	long r;

	tap_start();
	nr0 = ess_knob("nr_regions");
	pinned0 = ess_knob("pinned_bytes");
	tap_diag("start: nr_regions %lld pinned_bytes %lld", nr0, pinned0);

	fd = ess_open();
	if (!tap_ok(fd >= 0, "open %s", ESS_DEVICE_PATH)) {
		tap_diag("open: %s", strerror(errno));
		return tap_done();
	}
	r = ess_create(fd, SZ, 0, 0, 16, NULL, &c);
	tap_ok(r == 0, "create an anonymous 4 MiB region (%ld)", r);
	tap_ok(r == 0 && c.node_out >= 0 && c.reserved0 == 0, "node_out %d is a node, reserved0 untouched", c.node_out);

	r = ess_info(fd, &info);
	tap_ok(r == 0, "ESS_IOC_INFO on the bound file (%ld)", r);
	tap_ok(info.id == c.id && info.bytes == SZ && info.nr_blocks == 2,
	       "info: id %llu bytes %llu nr_blocks %u",
	       (unsigned long long)info.id, (unsigned long long)info.bytes, info.nr_blocks);
	tap_ok(info.heat_shift == 16 && info.nr_heat_blocks == SZ >> 16,
	       "info: heat_shift %u nr_heat_blocks %u", info.heat_shift, info.nr_heat_blocks);
	tap_ok(info.node == c.node_out && info.owner_uid == 0 && info.users == 1 &&
	       info.mappings == 0 && info.flags == 0 && info.name[0] == 0 && info.reserved0 == 0,
	       "info: node %d owner %u users %u mappings %u flags %#x, no name",
	       info.node, info.owner_uid, info.users, info.mappings, info.flags);

	tap_ok(ess_region_exists(c.id), "sysfs regions/%llu exists", (unsigned long long)c.id);
	tap_ok(ess_region_ll(c.id, "bytes") == SZ && ess_region_ll(c.id, "pinned_bytes") == SZ,
	       "sysfs bytes and pinned_bytes are 4 MiB");
	tap_ok(ess_region_ll(c.id, "node") == c.node_out && ess_region_ll(c.id, "owner") == 0,
	       "sysfs node %lld and owner %lld", ess_region_ll(c.id, "node"),
	       ess_region_ll(c.id, "owner"));
	tap_ok(ess_region_ll(c.id, "users") == 1 && ess_region_ll(c.id, "mappings") == 0,
	       "sysfs users 1, mappings 0");
	tap_ok(ess_region_ll(c.id, "heat_block_size") == 65536, "sysfs heat_block_size 65536");
	snprintf(path, sizeof(path), SYSFS_ESS "/regions/%llu/name", (unsigned long long)c.id);
	tap_ok(read_file(path, buf, sizeof(buf)) == 0 && !strcmp(buf, "\n"),
	       "sysfs name of an anonymous region is an empty line");
	tap_ok(ess_knob("nr_regions") == nr0 + 1 && ess_knob("pinned_bytes") == pinned0 + (long long)SZ,
	       "nr_regions and pinned_bytes count the region");

	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!tap_ok(p != MAP_FAILED, "mmap the whole region")) {
		tap_diag("mmap: %s", strerror(errno));
		return tap_done();
	}
	tap_ok(is_zero(p, SZ), "a new region reads as zeroes");
	ess_info(fd, &info);
	tap_ok(info.mappings == 1 && ess_region_ll(c.id, "mappings") == 1,
	       "one mapping counted (info %u)", info.mappings);
	fill_pattern(p, SZ, 1);
	tap_ok(check_pattern(p, SZ, 1) < 0, "write and read back 4 MiB across both blocks");

	q = mmap(NULL, SZ, PROT_READ, MAP_SHARED, fd, 0);
	tap_ok(q != MAP_FAILED && check_pattern(q, SZ, 1) < 0,
	       "a second mapping of the file sees the same memory");
	h = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 2 * MiB);
	tap_ok(h != MAP_FAILED && h != NULL && !memcmp(h, p + 2 * MiB, 2 * MiB),
	       "mapping at offset 2 MiB shows the second block");
	ess_info(fd, &info);
	tap_ok(info.mappings == 3, "three mappings counted (%u)", info.mappings);
	if (q != MAP_FAILED)
		munmap(q, SZ);
	if (h != MAP_FAILED)
		munmap(h, 2 * MiB);

	q = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, SZ);
	tap_ok(q == MAP_FAILED, "mmap at offset == size fails (%s)", strerror(errno));
	if (q != MAP_FAILED)
		munmap(q, 2 * MiB);
	q = mmap(NULL, SZ + 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	tap_ok(q == MAP_FAILED, "mmap longer than the region fails (%s)", strerror(errno));
	if (q != MAP_FAILED)
		munmap(q, SZ + 2 * MiB);

	munmap(p, SZ);
	p = mmap(NULL, SZ, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	tap_ok(p != MAP_FAILED && check_pattern(p, SZ, 1) < 0,
	       "contents survive munmap while the file is open");
	if (p == MAP_FAILED)
		return tap_done();

	/* The mapping alone keeps an anonymous region alive. */
	close(fd);
	tap_ok(ess_region_exists(c.id) && ess_knob("nr_regions") == nr0 + 1,
	       "region stays while only a mapping holds it");
	/* The VMA holds the struct file, so the file stays bound too. */
	tap_ok(ess_region_ll(c.id, "users") == 1 && ess_region_ll(c.id, "mappings") == 1,
	       "sysfs users 1 (the mapping holds the file), mappings 1 after close (%lld, %lld)",
	       ess_region_ll(c.id, "users"), ess_region_ll(c.id, "mappings"));
	tap_ok(check_pattern(p, SZ, 1) < 0, "contents intact through the mapping after close");
	munmap(p, SZ);
	tap_ok(ess_wait_nr_regions(nr0) == nr0, "nr_regions back after the last mapping goes");
	tap_ok(!ess_region_exists(c.id), "region directory removed");
	tap_ok(ess_knob("pinned_bytes") == pinned0, "pinned_bytes back to %lld", pinned0);

	/* VMAs made by fork, split and move are each counted and released. */
	fd = ess_open();
	r = ess_create(fd, 6 * MiB, 0, 0, 16, NULL, &c);
	p = mmap(NULL, 6 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r == 0 && p != MAP_FAILED) {
		pid_t pid;
		int pfd[2], rc;
		char ch;

		fill_pattern(p, 6 * MiB, 9);
		if (pipe(pfd))
			return tap_done();
		pid = test_fork();
		if (pid == 0) {
			/* The child writes through its inherited mapping. */
			p[100] ^= 0xff;
			ch = 1;
			if (write(pfd[1], &ch, 1) != 1)
				_exit(1);
			pause();
			_exit(0);
		}
		if (read(pfd[0], &ch, 1) != 1)
			ch = 0;
		ess_info(fd, &info);
		tap_ok(ch == 1 && info.mappings == 2, "a forked child's inherited VMA is counted (%u)",
		       info.mappings);
		kill(pid, SIGKILL);
		rc = test_wait(pid);
		close(pfd[0]);
		close(pfd[1]);
		ess_info(fd, &info);
		tap_ok(rc == 128 + SIGKILL && info.mappings == 1 && (uint8_t)p[100] ==
		       (uint8_t)(pattern_word(9, 12) >> 32 ^ 0xff),
		       "the child's write is shared; its VMA is gone with it (%u)", info.mappings);
		p[100] ^= 0xff;

		r = munmap(p + 2 * MiB, 2 * MiB);
		ess_info(fd, &info);
		tap_ok(r == 0 && info.mappings == 2 && check_pattern(p, 2 * MiB, 9) < 0 &&
		       *(uint64_t *)(p + 4 * MiB) == pattern_word(9, (4 * MiB) / 8),
		       "unmapping the middle splits the VMA in two (%u)", info.mappings);
		{
			uint8_t *m = mremap(p + 4 * MiB, 2 * MiB, 2 * MiB, MREMAP_MAYMOVE | MREMAP_FIXED,
					    p + 2 * MiB);

			ess_info(fd, &info);
			tap_ok(m == p + 2 * MiB && info.mappings == 2 &&
			       check_pattern(p, 2 * MiB, 9) < 0,
			       "mremap moves a piece (%u mappings)", info.mappings);
			if (m != MAP_FAILED) {
				uint64_t want = pattern_word(9, (4 * MiB) / 8);

				tap_ok(*(uint64_t *)m == want, "the moved piece shows the third block");
			} else {
				tap_ok(0, "the moved piece shows the third block");
			}
		}
		munmap(p, 6 * MiB);
		ess_info(fd, &info);
		tap_ok(info.mappings == 0, "every piece unmapped: mappings 0 (%u)", info.mappings);
	} else {
		tap_ok(0, "create and map 6 MiB for the VMA tests (%ld)", r);
	}
	close(fd);
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == pinned0,
	       "region freed after fork, split and move");

	/* An unbound file has nothing to map. */
	fd = ess_open();
	p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	tap_ok(p == MAP_FAILED && errno == ENXIO, "mmap of an unbound file: ENXIO (%s)", strerror(errno));
	if (p != MAP_FAILED)
		munmap(p, 2 * MiB);

	/* Heat block bounds and a larger region written block by block. */
	r = ess_create(fd, 64 * MiB, 0, 0, 12, NULL, &c);
	tap_ok(r == 0, "create 64 MiB with 4 KiB heat blocks (%ld)", r);
	ess_info(fd, &info);
	tap_ok(info.nr_heat_blocks == (64 * MiB) >> 12 && info.nr_blocks == 32,
	       "64 MiB: %u heat blocks, %u blocks", info.nr_heat_blocks, info.nr_blocks);
	p = mmap(NULL, 64 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	tap_ok(p != MAP_FAILED, "mmap 64 MiB");
	if (p != MAP_FAILED) {
		tap_ok(is_zero(p, 64 * MiB), "64 MiB region reads as zeroes");
		fill_pattern(p, 64 * MiB, 7);
		munmap(p, 64 * MiB);
		p = mmap(NULL, 64 * MiB, PROT_READ, MAP_SHARED, fd, 0);
		tap_ok(p != MAP_FAILED && check_pattern(p, 64 * MiB, 7) < 0,
		       "64 MiB pattern reads back through a new mapping");
		if (p != MAP_FAILED)
			munmap(p, 64 * MiB);
	} else {
		tap_ok(0, "64 MiB region reads as zeroes");
		tap_ok(0, "64 MiB pattern reads back through a new mapping");
	}
	fd2 = ess_open();
	r = ess_create(fd2, 2 * MiB, 0, 0, 21, NULL, &c);
	ess_info(fd2, &info);
	tap_ok(r == 0 && info.nr_heat_blocks == 1 && ess_region_ll(c.id, "heat_block_size") == 2 * (long long)MiB,
	       "heat_shift 21: one 2 MiB heat block (%ld, %u)", r, info.nr_heat_blocks);
	close(fd2);
	close(fd);
	tap_ok(ess_wait_nr_regions(nr0) == nr0 && ess_knob("pinned_bytes") == pinned0,
	       "closing the files frees both regions");
	tap_ok(ess_region_dirs() == nr0, "no region directories left (%d)", ess_region_dirs());

	/* Ids are unique and increasing, never reused while loaded. */
	{
		uint64_t ids[4] = { 0 }, prev = 0;
		int k, inc = 1, fds[4];

		for (k = 0; k < 4; k++) {
			fds[k] = ess_open_anon(2 * MiB, &ids[k]);
			if (fds[k] < 0 || (k && ids[k] <= prev))
				inc = 0;
			prev = ids[k];
			if (fds[k] >= 0 && k % 2 == 0) {
				close(fds[k]);	/* free some in between */
				fds[k] = -1;
			}
		}
		for (k = 0; k < 4; k++)
			if (fds[k] >= 0)
				close(fds[k]);
		tap_ok(inc, "region ids increase and are not reused (%llu .. %llu)",
		       (unsigned long long)ids[0], (unsigned long long)ids[3]);
		tap_ok(ess_wait_nr_regions(nr0) == nr0, "all freed");
	}
	return tap_done();
}
