/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of the ess.ko selftests: TAP output, /dev/ess ioctl
 * wrappers and sysfs access.  Every test program is static and runs as
 * root in the QEMU guest (tests/qemu/), one program per feature.
 *
 * TAP goes to stdout, line-buffered, and is flushed before every fork so a
 * child never repeats its parent's output.  Children report to their parent
 * through exit codes or pipes, never by printing TAP.
 */
#ifndef ESS_TEST_H
#define ESS_TEST_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uapi/ess.h"

#define MiB (1ULL << 20)
#define SYSFS_ESS "/sys/kernel/ess"

static int tap_n, tap_failed, tap_planned;

static inline void tap_init(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* A plan up front; programs that call tap_start() instead get their plan
 * printed by tap_done() (a trailing plan: a program that dies midway has
 * none, and the harness counts that as a failure). */
static inline void tap_plan(int n)
{
	tap_init();
	printf("1..%d\n", n);
	tap_planned = 1;
}

static inline void tap_start(void)
{
	tap_init();
}

__attribute__((format(printf, 2, 3)))
static inline int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond)
		tap_failed++;
	fflush(stdout);
	return cond;
}

__attribute__((format(printf, 1, 2)))
static inline void tap_skip(const char *fmt, ...)
{
	va_list ap;

	printf("ok %d - ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" # SKIP\n");
	fflush(stdout);
}

__attribute__((format(printf, 1, 2)))
static inline void tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

__attribute__((format(printf, 1, 2), noreturn))
static inline void tap_skip_all(const char *fmt, ...)
{
	va_list ap;

	tap_init();
	printf("1..0 # SKIP ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(0);
}

/* Failures are reported as "not ok" lines; the exit status only says the
 * program ran to its end. */
static inline int tap_done(void)
{
	if (!tap_planned)
		printf("1..%d\n", tap_n);
	tap_planned = 1;
	fflush(stdout);
	return 0;
}

static inline pid_t test_fork(void)
{
	fflush(stdout);
	fflush(stderr);
	return fork();
}

/* Wait for a child; returns its exit code, or 128 + signal. */
static inline int test_wait(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* ---- /dev/ess ------------------------------------------------------- */

static inline int ess_open(void)
{
	return open(ESS_DEVICE_PATH, O_RDWR | O_CLOEXEC);
}

/* ioctl returning -errno on failure, 0 (or the ioctl's value) on success. */
static inline long ess_ioctl(int fd, unsigned long cmd, void *arg)
{
	long r = ioctl(fd, cmd, arg);

	return r < 0 ? -errno : r;
}

static inline void ess_create_init(struct ess_create *c, uint64_t bytes,
				   uint32_t flags, int node,
				   uint32_t heat_shift, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->flags = flags;
	c->bytes = bytes;
	c->node = node;
	c->heat_shift = heat_shift;
	if (name)
		snprintf(c->name, sizeof(c->name), "%s", name);
}

/* Create on fd; returns -errno.  *out (optional) receives the result. */
static inline long ess_create(int fd, uint64_t bytes, uint32_t flags, int node,
			      uint32_t heat_shift, const char *name,
			      struct ess_create *out)
{
	struct ess_create c;
	long r;

	ess_create_init(&c, bytes, flags, node, heat_shift, name);
	r = ess_ioctl(fd, ESS_IOC_CREATE, &c);
	if (out)
		*out = c;
	return r;
}

/* Open /dev/ess and create an anonymous region on it; -errno or the fd. */
static inline int ess_open_anon(uint64_t bytes, uint64_t *id)
{
	struct ess_create c;
	int fd = ess_open();
	long r;

	if (fd < 0)
		return -errno;
	r = ess_create(fd, bytes, 0, 0, 16, NULL, &c);
	if (r < 0) {
		close(fd);
		return (int)r;
	}
	if (id)
		*id = c.id;
	return fd;
}

static inline long ess_attach(int fd, const char *name, struct ess_attach *out)
{
	struct ess_attach a;
	long r;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	snprintf(a.name, sizeof(a.name), "%s", name);
	r = ess_ioctl(fd, ESS_IOC_ATTACH, &a);
	if (out)
		*out = a;
	return r;
}

static inline long ess_destroy(int fd, const char *name)
{
	struct ess_destroy d;

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	snprintf(d.name, sizeof(d.name), "%s", name);
	return ess_ioctl(fd, ESS_IOC_DESTROY, &d);
}

/* Destroy through a fresh file (destroy needs no bound region). */
static inline long ess_destroy_name(const char *name)
{
	int fd = ess_open();
	long r;

	if (fd < 0)
		return -errno;
	r = ess_destroy(fd, name);
	close(fd);
	return r;
}

static inline long ess_info(int fd, struct ess_info *info)
{
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	return ess_ioctl(fd, ESS_IOC_INFO, info);
}

static inline long ess_heat_tick(int fd)
{
	struct ess_heat_tick t;

	memset(&t, 0, sizeof(t));
	t.size = sizeof(t);
	return ess_ioctl(fd, ESS_IOC_HEAT_TICK, &t);
}

static inline long ess_heat_report(int fd, const uint32_t *blocks, uint32_t nr)
{
	struct ess_heat_report r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.addr = (uintptr_t)blocks;
	r.nr = nr;
	return ess_ioctl(fd, ESS_IOC_HEAT_REPORT, &r);
}

/* Reads up to nr entries; returns -errno or the number filled. */
static inline long ess_heat_read(int fd, uint32_t flags,
				 struct ess_heat_entry *e, uint32_t nr)
{
	struct ess_heat_read r;
	long ret;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.flags = flags;
	r.addr = (uintptr_t)e;
	r.nr = nr;
	ret = ess_ioctl(fd, ESS_IOC_HEAT_READ, &r);
	return ret < 0 ? ret : (long)r.nr;
}

static inline long ess_heat_hist(int fd, struct ess_heat_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->size = sizeof(*h);
	return ess_ioctl(fd, ESS_IOC_HEAT_HIST, h);
}

/* ---- sysfs ---------------------------------------------------------- */

/* Reads a whole file (up to len - 1 bytes) into buf, NUL-terminated;
 * -errno on failure.  Loops: proc files come a chunk per read(). */
static inline int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -errno;
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n < 0) {
			int e = -errno;

			close(fd);
			return e;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = 0;
	close(fd);
	return 0;
}

/* One decimal number (and a newline) from a file; -1 if anything else. */
static inline long long read_ll(const char *path)
{
	char buf[128], *end;
	long long v;

	if (read_file(path, buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || end == buf || (*end && strcmp(end, "\n")))
		return -1;
	return v;
}

/* Writes s in one write(); returns 0 or -errno. */
static inline int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0)
		e = -errno;
	else if ((size_t)n != strlen(s))
		e = -EIO;
	close(fd);
	return e;
}

static inline long long ess_knob(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), SYSFS_ESS "/%s", name);
	return read_ll(path);
}

static inline int ess_set_knob(const char *name, long long v)
{
	char path[256], val[32];

	snprintf(path, sizeof(path), SYSFS_ESS "/%s", name);
	snprintf(val, sizeof(val), "%lld\n", v);
	return write_file(path, val);
}

static inline long long ess_region_ll(uint64_t id, const char *file)
{
	char path[256];

	snprintf(path, sizeof(path), SYSFS_ESS "/regions/%llu/%s",
		 (unsigned long long)id, file);
	return read_ll(path);
}

static inline int ess_region_exists(uint64_t id)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), SYSFS_ESS "/regions/%llu",
		 (unsigned long long)id);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Number of region directories under /sys/kernel/ess/regions/. */
static inline int ess_region_dirs(void)
{
	DIR *d = opendir(SYSFS_ESS "/regions");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Wait (up to ~5 s) until nr_regions reads want.  A region is freed when
 * its last user goes; a killed process's files are closed before its parent
 * can reap it, but a module may finish the teardown from a work item.
 */
static inline long long ess_wait_nr_regions(long long want)
{
	long long v = -1;
	int i;

	for (i = 0; i < 500; i++) {
		v = ess_knob("nr_regions");
		if (v == want)
			break;
		usleep(10000);
	}
	return v;
}

/*
 * Free memory in kB: MemFree plus the pages sitting on per-cpu free lists
 * (/proc/zoneinfo "count:"), which MemFree leaves out.  Freed 2 MiB blocks
 * may wait there, so MemFree alone would look like a leak.
 */
static inline long long ess_free_kb(void)
{
	static char buf[1 << 17];
	long long kb = -1, pcp = 0;
	char *p;

	sync();
	write_file("/proc/sys/vm/drop_caches", "3\n");
	write_file("/proc/sys/vm/compact_memory", "1\n");
	if (read_file("/proc/meminfo", buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, "MemFree:");
	if (p)
		kb = strtoll(p + 8, NULL, 10);
	if (read_file("/proc/zoneinfo", buf, sizeof(buf)) == 0)
		for (p = buf; (p = strstr(p, "count:")); p += 6)
			pcp += strtoll(p + 6, NULL, 10);
	return kb + pcp * (sysconf(_SC_PAGESIZE) / 1024);
}

/* The device node's mode is the module's choice; the uid tests need other
 * users to reach the module's own checks, so they open it up. */
static inline void ess_dev_world_rw(void)
{
	chmod(ESS_DEVICE_PATH, 0666);
}

/* Small deterministic PRNG (xorshift64*), so failures reproduce. */
static inline uint64_t rnd64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t pattern_word(uint64_t seed, uint64_t i)
{
	uint64_t s = seed ^ (i * 0x9E3779B97F4A7C15ULL);

	return rnd64(&s) ^ i;
}

static inline void fill_pattern(void *p, size_t len, uint64_t seed)
{
	uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = pattern_word(seed, i);
}

/* Returns the index of the first differing word, or -1 if all match. */
static inline long check_pattern(const void *p, size_t len, uint64_t seed)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i] != pattern_word(seed, i))
			return (long)i;
	return -1;
}

static inline int is_zero(const void *p, size_t len)
{
	const uint64_t *w = p;
	size_t i;

	for (i = 0; i < len / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

#endif /* ESS_TEST_H */
