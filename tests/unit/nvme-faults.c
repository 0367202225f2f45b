// SPDX-License-Identifier: MIT
/*
 * NVMe extent store under faults.  Each fault is real where a real one can
 * be made on demand:
 * - truncated file: ftruncate() behind the store's back; the extents past
 *   the new end must fail as short reads (-ENODATA), the others still read.
 * - flipped bytes: pwrite() garbage into two extents; their reads must fail
 *   the CRC32C check (-EBADMSG) and, on the bounced path, leave the
 *   caller's buffer untouched; the other extents still read.
 * - ENOSPC: the store on a 64 KiB tmpfs mounted in a private mount
 *   namespace (tmpfs takes O_DIRECT since Linux 6.6); writes past the space
 *   must fail with -ENOSPC, leave their slots unreadable, and the extents
 *   that fit must read back.
 * - EFBIG: RLIMIT_FSIZE below the extents written (SIGXFSZ ignored); the
 *   writes past the limit fail, the ones under it read back.
 * - EIO: no device can be made to fail on demand here (no device-mapper
 *   error target without a block device), so the store's injection hook
 *   fails one write and one read; the slot of the failed write stays
 *   unreadable and a later read of the same slot succeeds.
 */
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ess/nvme.h"
#include "nvme-tap.h"

#define EXT 8192u		/* aligned extents: the direct path */
#define EXT_ODD 5000u		/* unaligned extents: the bounced path */

static char path[256];

/* Write n extents of len from host (stride len) into fresh slots; status
 * of each into status[] by index; returns completions seen. */
static uint32_t write_all(ess_nvme *st, const char *host, uint32_t len,
			  uint32_t n, uint64_t *slot, int *status)
{
	struct ess_nvme_cpl c[16];
	uint32_t i, got = 0;
	int k;

	for (i = 0; i < n; i++) {
		status[i] = 1;
		if (ess_nvme_alloc(st, &slot[i]) ||
		    ess_nvme_write(st, slot[i], host + (size_t)i * len, len, i))
			return 0;
	}
	while (got < n && (k = ess_nvme_reap(st, c, 16, 1)) > 0) {
		for (i = 0; i < (uint32_t)k; i++)
			if (c[i].tag < n)
				status[c[i].tag] = c[i].status;
		got += (uint32_t)k;
	}
	return got;
}

static uint32_t read_all(ess_nvme *st, char *host, uint32_t len, uint32_t n,
			 const uint64_t *slot, int *status)
{
	struct ess_nvme_cpl c[16];
	uint32_t i, got = 0, want = 0;
	int k;

	for (i = 0; i < n; i++) {
		status[i] = 1;
		if (ess_nvme_slot_valid(st, slot[i]) != 1)
			continue;
		if (ess_nvme_read(st, slot[i], host + (size_t)i * len, len, 0, i))
			return 0;
		want++;
	}
	while (got < want && (k = ess_nvme_reap(st, c, 16, 1)) > 0) {
		for (i = 0; i < (uint32_t)k; i++)
			if (c[i].tag < n)
				status[c[i].tag] = c[i].status;
		got += (uint32_t)k;
	}
	return got;
}

static void truncated(void)
{
	enum { N = 8 };
	static char src[N * EXT], dst[N * EXT];
	uint64_t slot[N];
	int ws[N], rs[N], ok = 1, i;
	struct ess_nvme_stats s;
	ess_nvme *st = nvme_open_cap(path, EXT, 0, 4, N * EXT);

	rng_fill(src, sizeof(src));
	if (st)
		write_all(st, src, EXT, N, slot, ws);
	for (i = 0; i < N; i++)
		ok &= st && ws[i] == 0;
	tap_ok(ok, "truncate: 8 extents written");
	/* Cut the file in the middle of the fourth extent. */
	ok &= truncate(path, 3 * EXT + EXT / 2) == 0;
	memset(dst, 0, sizeof(dst));
	ok &= st && read_all(st, dst, EXT, N, slot, rs) == N;
	for (i = 0; i < 3; i++)
		ok &= rs[i] == 0 && !memcmp(src + i * EXT, dst + i * EXT, EXT);
	tap_ok(ok, "truncate: the 3 extents before the cut read back exact");
	for (i = 3; i < N; i++)
		ok &= rs[i] == -ENODATA;
	tap_ok(ok, "truncate: the 5 extents at and past the cut fail with -ENODATA (%s)",
	       st ? ess_nvme_errmsg(st) : "");
	if (st)
		ess_nvme_stats_get(st, &s);
	tap_ok(st && s.short_reads == 5 && s.read_errors == 5 && s.reads == 3 &&
	       s.checksum_failures == 0,
	       "truncate: counters (5 short reads, 3 good reads)");
	ess_nvme_close(st);
	truncate(path, 0);
}

static void flipped(void)
{
	enum { N = 4 };
	static char src[N * EXT_ODD], dst[N * EXT_ODD];
	uint64_t slot[N];
	int ws[N], rs[N], ok = 1, fd, i;
	struct ess_nvme_stats s;
	ess_nvme *st = nvme_open_cap(path, EXT_ODD, 0, 4, N * 8192);
	uint32_t sb = st ? ess_nvme_slot_bytes(st) : 8192;
	char junk[16];

	rng_fill(src, sizeof(src));
	if (st)
		write_all(st, src, EXT_ODD, N, slot, ws);
	for (i = 0; i < N; i++)
		ok &= st && ws[i] == 0;
	tap_ok(ok, "flip: 4 extents written");
	/* Damage extents 1 and 2 behind the store, through the page cache. */
	fd = open(path, O_RDWR);
	memset(junk, 0x5a, sizeof(junk));
	ok &= fd >= 0 &&
	      pwrite(fd, junk, 1, (off_t)slot[1] * sb + 4999) == 1 &&
	      pwrite(fd, junk, sizeof(junk), (off_t)slot[2] * sb) == sizeof(junk) &&
	      fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	memset(dst, 0xaa, sizeof(dst));
	ok &= st && read_all(st, dst, EXT_ODD, N, slot, rs) == N;
	tap_ok(ok && rs[0] == 0 && rs[3] == 0 &&
	       !memcmp(src, dst, EXT_ODD) &&
	       !memcmp(src + 3 * EXT_ODD, dst + 3 * EXT_ODD, EXT_ODD),
	       "flip: the undamaged extents read back exact");
	ok = rs[1] == -EBADMSG && rs[2] == -EBADMSG;
	tap_ok(ok, "flip: both damaged extents fail with -EBADMSG (%s)",
	       st ? ess_nvme_errmsg(st) : "");
	for (i = 1; i <= 2; i++)
		for (uint32_t b = 0; b < EXT_ODD; b++)
			ok &= (unsigned char)dst[i * EXT_ODD + b] == 0xaa;
	if (st)
		ess_nvme_stats_get(st, &s);
	tap_ok(ok && st && s.checksum_failures == 2 && s.reads == 2,
	       "flip: damaged data never reaches the caller's buffer; 2 checksum failures counted");
	ess_nvme_close(st);
	truncate(path, 0);
}

/* Result of a fault run in a child process (rlimits, mount namespace). */
struct child_res {
	int skip;
	int written_ok, written_bad, bad_status_ok, bad_invalid, readback_ok;
	int stats_ok;
	char msg[200];
};

static void child_run(const char *file, int expect, struct child_res *r)
{
	enum { N = 16 };
	static char src[N * EXT], dst[N * EXT];
	uint64_t slot[N];
	int ws[N], rs[N], i;
	struct ess_nvme_stats s;
	ess_nvme *st = nvme_open_cap(file, EXT, 0, 4, N * EXT);

	if (!st) {
		r->skip = 1;
		snprintf(r->msg, sizeof(r->msg), "cannot open a store on %s", file);
		return;
	}
	rng_fill(src, sizeof(src));
	write_all(st, src, EXT, N, slot, ws);
	r->bad_status_ok = 1;
	r->bad_invalid = 1;
	for (i = 0; i < N; i++) {
		if (ws[i] == 0) {
			r->written_ok++;
			continue;
		}
		r->written_bad++;
		if (ws[i] != expect && !(expect == -EFBIG && ws[i] == -ENOSPC)) {
			r->bad_status_ok = 0;
			snprintf(r->msg, sizeof(r->msg), "status %d", ws[i]);
		}
		if (ess_nvme_slot_valid(st, slot[i]) != 0)
			r->bad_invalid = 0;
	}
	if (r->written_bad && !r->msg[0])
		snprintf(r->msg, sizeof(r->msg), "%s", ess_nvme_errmsg(st));
	read_all(st, dst, EXT, N, slot, rs);
	r->readback_ok = 1;
	for (i = 0; i < N; i++)
		if (ws[i] == 0 &&
		    (rs[i] != 0 || memcmp(src + i * EXT, dst + i * EXT, EXT)))
			r->readback_ok = 0;
	ess_nvme_stats_get(st, &s);
	r->stats_ok = s.write_errors == (uint64_t)r->written_bad &&
		      s.nospace_errors == (uint64_t)r->written_bad &&
		      s.writes == (uint64_t)r->written_ok &&
		      s.reads == (uint64_t)r->written_ok;
	ess_nvme_close(st);
}

static int setup_tmpfs(char *dir, size_t len, char *why, size_t whylen)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();
	int fd;

	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0) {
		/* Map ourselves to root inside, so tmpfs files can be made. */
		fd = open("/proc/self/setgroups", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "deny", 4) < 0)
				(void)0;
			close(fd);
		}
		snprintf(map, sizeof(map), "0 %u 1", (unsigned int)uid);
		fd = open("/proc/self/uid_map", O_WRONLY);
		if (fd < 0 || write(fd, map, strlen(map)) < 0) {
			snprintf(why, whylen, "cannot write uid_map: %s", strerror(errno));
			return -1;
		}
		close(fd);
		snprintf(map, sizeof(map), "0 %u 1", (unsigned int)gid);
		fd = open("/proc/self/gid_map", O_WRONLY);
		if (fd >= 0) {
			if (write(fd, map, strlen(map)) < 0)
				(void)0;
			close(fd);
		}
	} else if (unshare(CLONE_NEWNS) != 0) {
		snprintf(why, whylen, "no private mount namespace: %s",
			 strerror(errno));
		return -1;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		snprintf(why, whylen, "cannot make mounts private: %s",
			 strerror(errno));
		return -1;
	}
	/* Mount over a directory of our own under the scratch directory. */
	snprintf(dir, len, "%s.mnt", path);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, whylen, "mkdir of the mount point: %s", strerror(errno));
		return -1;
	}
	if (mount("ess-nvme-test", dir, "tmpfs", 0, "size=64k") != 0) {
		snprintf(why, whylen, "cannot mount a tmpfs: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int run_child(int kind, struct child_res *r)
{
	int pfd[2], status;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe(pfd))
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct child_res cr;
		char dir[300], file[400];

		memset(&cr, 0, sizeof(cr));
		close(pfd[0]);
		if (kind == 0) {
			if (setup_tmpfs(dir, sizeof(dir), cr.msg, sizeof(cr.msg))) {
				cr.skip = 1;
			} else {
				snprintf(file, sizeof(file), "%s/store", dir);
				child_run(file, -ENOSPC, &cr);
				if (cr.skip)
					snprintf(cr.msg, sizeof(cr.msg),
						 "tmpfs does not take O_DIRECT on this kernel (< 6.6?)");
				umount(dir);
			}
			rmdir(dir);
		} else {
			struct rlimit rl = { 4 * EXT, RLIM_INFINITY };

			signal(SIGXFSZ, SIG_IGN);
			if (truncate(path, 0) || setrlimit(RLIMIT_FSIZE, &rl)) {
				cr.skip = 1;
				snprintf(cr.msg, sizeof(cr.msg), "setrlimit: %s",
					 strerror(errno));
			} else {
				child_run(path, -EFBIG, &cr);
			}
		}
		if (write(pfd[1], &cr, sizeof(cr)) != sizeof(cr))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], r, sizeof(*r)) != sizeof(*r)) {
		r->skip = 1;
		snprintf(r->msg, sizeof(r->msg), "child died");
	}
	close(pfd[0]);
	waitpid(pid, &status, 0);
	if (kind == 0) {
		/* The mount point, made by the child; unmounted out here. */
		char dir[300];

		snprintf(dir, sizeof(dir), "%s.mnt", path);
		rmdir(dir);
	}
	return 0;
}

static void child_tests(int kind, const char *name, const char *err)
{
	struct child_res r;

	run_child(kind, &r);
	if (r.skip) {
		for (int i = 0; i < 4; i++)
			printf("ok %d - %s # SKIP %s\n", ++tap_n, name, r.msg);
		return;
	}
	tap_ok(r.written_ok > 0 && r.written_bad > 0 && r.bad_status_ok,
	       "%s: %d writes fit, %d fail with %s (%s)", name, r.written_ok,
	       r.written_bad, err, r.msg);
	tap_ok(r.bad_invalid, "%s: the slots of failed writes are unreadable", name);
	tap_ok(r.readback_ok, "%s: the extents that fit read back exact", name);
	tap_ok(r.stats_ok, "%s: counters (write errors, nospace errors)", name);
}

static void injected_eio(void)
{
	enum { N = 4 };
	static char src[N * EXT_ODD], dst[N * EXT_ODD];
	struct ess_nvme_cpl c;
	struct ess_nvme_stats s;
	uint64_t slot[N];
	int ws[N], nbad = 0, bad = -1, ok, i;
	ess_nvme *st = nvme_open_cap(path, EXT_ODD, 0, 4, N * 8192);

	rng_fill(src, sizeof(src));
	ok = st && ess_nvme_inject(st, ESS_NVME_OP_WRITE, 2, -EIO) == 0;
	if (ok)
		write_all(st, src, EXT_ODD, N, slot, ws);
	for (i = 0; ok && i < N; i++)
		if (ws[i]) {
			nbad++;
			bad = i;
		}
	tap_ok(ok && nbad == 1 && ws[bad] == -EIO &&
	       ess_nvme_slot_valid(st, slot[bad]) == 0,
	       "eio: the second write to complete fails with -EIO, its slot stays unreadable");
	/* The host copy is intact: write it again and it sticks. */
	ok = ok && bad >= 0 &&
	     ess_nvme_write(st, slot[bad], src + bad * EXT_ODD, EXT_ODD, 9) == 0 &&
	     ess_nvme_reap(st, &c, 1, 1) == 1 && c.status == 0 &&
	     ess_nvme_slot_valid(st, slot[bad]) == 1;
	tap_ok(ok, "eio: rewriting the kept host copy succeeds");
	memset(dst, 0xaa, sizeof(dst));
	ok = ok && ess_nvme_inject(st, ESS_NVME_OP_READ, 1, -EIO) == 0 &&
	     ess_nvme_read(st, slot[0], dst, EXT_ODD, 0, 0) == 0 &&
	     ess_nvme_reap(st, &c, 1, 1) == 1 && c.status == -EIO &&
	     (unsigned char)dst[0] == 0xaa;
	tap_ok(ok, "eio: an injected read error reaches the caller, buffer untouched");
	ok = ok && ess_nvme_read(st, slot[0], dst, EXT_ODD, 0, 0) == 0 &&
	     ess_nvme_reap(st, &c, 1, 1) == 1 && c.status == 0 &&
	     !memcmp(dst, src, EXT_ODD);
	if (st)
		ess_nvme_stats_get(st, &s);
	tap_ok(ok && s.io_errors == 2 && s.write_errors == 1 && s.read_errors == 1,
	       "eio: the next read of the slot succeeds; 2 EIO counted");
	ess_nvme_close(st);
}

int main(void)
{
	char why[512];

	if (nvme_scratch(path, sizeof(path), why, sizeof(why)))
		tap_skip_all(why);
	tap_plan(20);
	truncated();
	flipped();
	child_tests(0, "enospc (64 KiB tmpfs)", "-ENOSPC");
	child_tests(1, "efbig (RLIMIT_FSIZE 32 KiB)", "-EFBIG");
	injected_eio();
	unlink(path);
	return tap_failed;
}
