// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl fuzz: several processes issue at least 100,000 ioctls on bound and
 * unbound files of /dev/ess: valid structs with random mutations (bit
 * flips, random fields, random sizes, bad pointers inside and outside),
 * random command numbers under our magic and near it, random 32-bit
 * commands; now and then a random mmap.  The kernel must survive (the
 * harness fails the run on any WARN/BUG in dmesg), every process must exit
 * normally, and afterwards the module must still work and account exactly.
 * Deterministic seeds: a failure reproduces.
 */
#include <signal.h>

#include "ess_test.h"

#define NPROC 4
#define ITERS 26000		/* per process: 104,000 in all */
#define NFD 6

static uint64_t s;		/* this process's PRNG state */
static uint8_t *argbuf;		/* where valid structs live */
static uint8_t *edge;		/* 8 bytes before an unmapped page */
static uint8_t *noaccess;	/* a PROT_NONE page */
static uint32_t *report_buf;	/* ESS_HEAT_BATCH_MAX indices, zero */
static struct ess_heat_entry *read_buf;	/* ESS_HEAT_BATCH_MAX entries */

static const char *const names[] = { "fuzz-shared", "fuzz-a", "fuzz-b" };

static uint64_t r64(void)
{
	return rnd64(&s);
}

static uint32_t pick(uint32_t n)
{
	return (uint32_t)(r64() % n);
}

/* A pointer that is usually bad. */
static uint64_t bad_ptr(void)
{
	switch (pick(7)) {
	case 0: return 0;
	case 1: return 1;
	case 2: return (uintptr_t)edge;
	case 3: return (uintptr_t)noaccess;
	case 4: return 0xffff888000000000ULL;
	case 5: return 0xffffffffff600000ULL;
	default: return r64();
	}
}

static uint32_t rand_nr(void)
{
	switch (pick(6)) {
	case 0: return 0;
	case 1: return 1 + pick(100);
	case 2: return ESS_HEAT_BATCH_MAX;
	case 3: return ESS_HEAT_BATCH_MAX + 1;
	case 4: return (uint32_t)r64();
	default: return 1 + pick(4096);
	}
}

/* Build a valid argument for cmd in argbuf; returns its size. */
static size_t build(unsigned long cmd)
{
	memset(argbuf, 0, 4096);
	switch (cmd) {
	case ESS_IOC_CREATE: {
		struct ess_create *c = (void *)argbuf;
		uint32_t f = pick(4) == 0 ? ESS_CREATE_NAMED : 0;

		ess_create_init(c, (1 + pick(4)) * 2 * MiB, f | (pick(2) ? ESS_CREATE_HEAT_MANUAL : 0),
				0, 12 + pick(10), f ? names[pick(3)] : NULL);
		return sizeof(*c);
	}
	case ESS_IOC_ATTACH: {
		struct ess_attach *a = (void *)argbuf;

		a->size = sizeof(*a);
		strcpy(a->name, names[pick(3)]);
		return sizeof(*a);
	}
	case ESS_IOC_DESTROY: {
		struct ess_destroy *d = (void *)argbuf;

		d->size = sizeof(*d);
		/* Rarely the shared one: others keep working on it. */
		strcpy(d->name, names[pick(20) == 0 ? 0 : 1 + pick(2)]);
		return sizeof(*d);
	}
	case ESS_IOC_INFO:
		((struct ess_info *)argbuf)->size = sizeof(struct ess_info);
		return sizeof(struct ess_info);
	case ESS_IOC_HEAT_REPORT: {
		struct ess_heat_report *r = (void *)argbuf;

		r->size = sizeof(*r);
		r->addr = (uintptr_t)report_buf;
		r->nr = 1 + pick(64);
		return sizeof(*r);
	}
	case ESS_IOC_HEAT_READ: {
		struct ess_heat_read *r = (void *)argbuf;

		r->size = sizeof(*r);
		r->flags = pick(2) ? ESS_HEAT_HOTTEST : ESS_HEAT_COLDEST;
		r->addr = (uintptr_t)read_buf;
		r->nr = 1 + pick(64);
		return sizeof(*r);
	}
	case ESS_IOC_HEAT_HIST:
		((struct ess_heat_hist *)argbuf)->size = sizeof(struct ess_heat_hist);
		return sizeof(struct ess_heat_hist);
	default:
		((struct ess_heat_tick *)argbuf)->size = sizeof(struct ess_heat_tick);
		return sizeof(struct ess_heat_tick);
	}
}

static void mutate(unsigned long cmd, size_t len)
{
	int n = 1 + (int)pick(3), i;

	while (n--) {
		switch (pick(6)) {
		case 0: /* flip a bit */
			argbuf[pick((uint32_t)len)] ^= (uint8_t)(1U << pick(8));
			break;
		case 1: /* a random byte */
			argbuf[pick((uint32_t)len)] = (uint8_t)r64();
			break;
		case 2: /* a random size field */
			*(uint32_t *)argbuf = pick(2) ? (uint32_t)r64() : (uint32_t)(len + pick(16) - 8);
			break;
		case 3: /* a random 32-bit word */
			i = (int)pick((uint32_t)len / 4);
			((uint32_t *)argbuf)[i] = (uint32_t)r64();
			break;
		case 4: /* a bad inner pointer or count */
			if (cmd == ESS_IOC_HEAT_REPORT || cmd == ESS_IOC_HEAT_READ) {
				uint64_t *addr = (uint64_t *)(argbuf + 8);
				uint32_t *nr = (uint32_t *)(argbuf + 16);

				if (pick(2))
					*addr = bad_ptr();
				else
					*nr = rand_nr();
			} else if (cmd == ESS_IOC_CREATE) {
				((struct ess_create *)argbuf)->bytes = pick(2) ? r64() : (uint64_t)pick(256) << 20;
			}
			break;
		default: /* fill the whole struct */
			for (i = 0; i < (int)len; i++)
				argbuf[i] = (uint8_t)r64();
			break;
		}
	}
}

static const unsigned long cmds[] = {
	ESS_IOC_CREATE, ESS_IOC_ATTACH, ESS_IOC_DESTROY, ESS_IOC_INFO,
	ESS_IOC_HEAT_REPORT, ESS_IOC_HEAT_READ, ESS_IOC_HEAT_HIST, ESS_IOC_HEAT_TICK,
};

static void random_mmap(int fd)
{
	size_t len = pick(4) ? (1 + pick(4)) * 2 * MiB : 4096 * (1 + pick(1024));
	off_t off = pick(2) ? 0 : (off_t)pick(8) * 4096 * (pick(2) ? 512 : 1);
	int prot = pick(2) ? PROT_READ : PROT_READ | PROT_WRITE;
	uint8_t *p = mmap(NULL, len, prot, pick(8) ? MAP_SHARED : MAP_PRIVATE, fd, off);

	if (p != MAP_FAILED) {
		volatile uint8_t x = p[0];

		(void)x;
		if (prot & PROT_WRITE)
			p[len - 1] = 1;
		munmap(p, len);
	}
}

/* Results by kind, to show the fuzz reaches past the first checks. */
enum { K_OK, K_EINVAL, K_ENOTTY, K_EFAULT, K_BINDING, K_OTHER, K_KINDS };
static const char *const kind_names[K_KINDS] = {
	"succeeded", "EINVAL", "ENOTTY", "EFAULT", "EBUSY/ENXIO", "other"
};

static int kind(long r)
{
	if (r >= 0)
		return K_OK;
	switch (errno) {
	case EINVAL: return K_EINVAL;
	case ENOTTY: return K_ENOTTY;
	case EFAULT: return K_EFAULT;
	case EBUSY: case ENXIO: return K_BINDING;
	default: return K_OTHER;
	}
}

static int fuzz_child(int id, uint64_t *count)
{
	int fds[NFD], i, it;
	uint64_t n = 0;

	s = 0x9E3779B97F4A7C15ULL * (uint64_t)(id + 1);
	argbuf = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	edge = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(edge + 4096, 4096);
	edge += 4096 - 8;
	noaccess = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	report_buf = mmap(NULL, ESS_HEAT_BATCH_MAX * 4, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	read_buf = mmap(NULL, ESS_HEAT_BATCH_MAX * sizeof(struct ess_heat_entry),
			PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (argbuf == MAP_FAILED || noaccess == MAP_FAILED || report_buf == MAP_FAILED ||
	    read_buf == MAP_FAILED)
		return 2;
	for (i = 0; i < NFD; i++) {
		fds[i] = ess_open();
		if (fds[i] < 0)
			return 3;
	}
	ess_create(fds[0], 2 * MiB, ESS_CREATE_HEAT_MANUAL, 0, 12, NULL, NULL);
	ess_create(fds[1], 4 * MiB, 0, 0, 16, NULL, NULL);
	ess_attach(fds[2], "fuzz-shared", NULL);

	for (it = 0; it < ITERS; it++) {
		int fi = (int)pick(NFD), fd = fds[fi];
		uint32_t what = pick(100);
		unsigned long cmd;
		void *arg = argbuf;

		if (what < 55) {
			cmd = cmds[pick(8)];
			size_t len = build(cmd);

			if (pick(10) >= 3)
				mutate(cmd, len);
			if (pick(20) == 0)
				arg = (void *)(uintptr_t)bad_ptr();
			else if (pick(20) == 0)
				arg = argbuf + 1;	/* misaligned */
		} else if (what < 75) {
			/* Our magic, any number, direction and size. */
			cmd = _IOC(pick(4), ESS_IOC_MAGIC, pick(4) ? pick(32) : pick(256), pick(512));
			for (i = 0; i < 512; i += 8)
				*(uint64_t *)(argbuf + i) = pick(2) ? 0 : r64();
			*(uint32_t *)argbuf = pick(512);
		} else if (what < 85) {
			/* Neighbouring magics with our numbers and sizes. */
			cmd = cmds[pick(8)];
			cmd = (cmd & ~(0xffUL << _IOC_TYPESHIFT)) |
			      ((unsigned long)(ESS_IOC_MAGIC - 2 + pick(5)) << _IOC_TYPESHIFT);
			build(cmds[pick(8)]);
		} else if (what < 99) {
			cmd = (uint32_t)r64();
			if (pick(4) == 0)
				arg = (void *)(uintptr_t)bad_ptr();
		} else {
			random_mmap(fd);
			continue;
		}
		count[1 + kind(ioctl(fd, cmd, arg))]++;
		n++;
		/* Keep a mix of bound and unbound files. */
		if (fi >= 3 && pick(50) == 0) {
			close(fd);
			fds[fi] = ess_open();
			if (fds[fi] < 0)
				return 4;
		}
	}
	count[0] = n;
	return 0;
}

/* Destroy every named region (the fuzzers may have made any name). */
static int destroy_all_named(void)
{
	char path[512], name[256];
	struct dirent *e;
	DIR *d = opendir(SYSFS_ESS "/regions");
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), SYSFS_ESS "/regions/%s/name", e->d_name);
		if (read_file(path, name, sizeof(name)) < 0)
			continue;
		name[strcspn(name, "\n")] = 0;
		if (name[0] && ess_destroy_name(name) == 0)
			n++;
	}
	closedir(d);
	return n;
}

int main(void)
{
	long long nr0 = ess_knob("nr_regions"), p0 = ess_knob("pinned_bytes");
	long long cap0 = ess_knob("pinned_cap_bytes");
	uint64_t total = 0, kinds[K_KINDS] = { 0 };
	int pipes[NPROC][2], i, bad = 0, fd;
	pid_t pids[NPROC];
	uint8_t *p;

	tap_start();
	/* Mutated sizes must not spend the run zeroing big regions. */
	tap_ok(ess_set_knob("pinned_cap_bytes", p0 + 64 * MiB) == 0,
	       "cap pinned memory at 64 MiB for the fuzz");
	fd = ess_open();
	tap_ok(ess_create(fd, 2 * MiB, ESS_CREATE_NAMED, 0, 12, "fuzz-shared", NULL) == 0,
	       "a named region the fuzzers race to attach (one holds it at a time)");
	close(fd);

	for (i = 0; i < NPROC; i++) {
		if (pipe(pipes[i]))
			return tap_done();
		pids[i] = test_fork();
		if (pids[i] == 0) {
			uint64_t n[1 + K_KINDS] = { 0 };
			int rc;

			close(pipes[i][0]);
			rc = fuzz_child(i, n);
			if (write(pipes[i][1], n, sizeof(n)) != sizeof(n))
				rc = 5;
			_exit(rc);
		}
		close(pipes[i][1]);
	}
	for (i = 0; i < NPROC; i++) {
		uint64_t n[1 + K_KINDS] = { 0 };
		int rc, k;

		if (read(pipes[i][0], n, sizeof(n)) != sizeof(n))
			memset(n, 0, sizeof(n));
		close(pipes[i][0]);
		for (k = 0; k < K_KINDS; k++)
			kinds[k] += n[1 + k];
		rc = test_wait(pids[i]);
		if (rc != 0) {
			tap_diag("fuzzer %d exited with %d", i, rc);
			bad++;
		}
		total += n[0];
	}
	for (i = 0; i < K_KINDS; i++)
		tap_diag("%-12s %llu", kind_names[i], (unsigned long long)kinds[i]);
	tap_ok(!bad, "all %d fuzz processes ran to their end", NPROC);
	tap_ok(total >= 100000, "%llu ioctls issued", (unsigned long long)total);

	tap_diag("fuzzers left %d named regions", destroy_all_named());
	tap_ok(ess_wait_nr_regions(nr0) == nr0, "every region freed once the fuzzers are gone");
	tap_ok(ess_knob("pinned_bytes") == p0, "pinned_bytes back to %lld (%lld)", p0,
	       ess_knob("pinned_bytes"));
	tap_ok(ess_region_dirs() == nr0, "no stray region directories");
	tap_ok(ess_set_knob("pinned_cap_bytes", cap0) == 0, "cap restored");

	/* The module still works. */
	fd = ess_open();
	tap_ok(ess_create(fd, 8 * MiB, ESS_CREATE_NAMED, 0, 16, "fuzz-after", NULL) == 0,
	       "create after the fuzz");
	p = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED) {
		fill_pattern(p, 8 * MiB, 3);
		munmap(p, 8 * MiB);
	}
	close(fd);
	fd = ess_open();
	tap_ok(ess_attach(fd, "fuzz-after", NULL) == 0, "attach after the fuzz");
	p = mmap(NULL, 8 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	tap_ok(p != MAP_FAILED && check_pattern(p, 8 * MiB, 3) < 0, "contents written and read back");
	if (p != MAP_FAILED)
		munmap(p, 8 * MiB);
	close(fd);
	tap_ok(ess_destroy_name("fuzz-after") == 0 && ess_wait_nr_regions(nr0) == nr0,
	       "destroy after the fuzz");
	return tap_done();
}
