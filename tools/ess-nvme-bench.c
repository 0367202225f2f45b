// SPDX-License-Identifier: MIT
/*
 * ess-nvme-bench: read-back throughput of the NVMe extent store against
 * fio on the same file, block size and queue depth, in the same run.
 *
 *   ess-nvme-bench [--file PATH] [--size-mib N] [--extent BYTES]
 *                  [--qd 1,4,16,32] [--seconds S] [--rounds R]
 *                  [--reap-batch N] [--verify-inline] [--no-defer-taskrun]
 *                  [--small-pages] [--verify-thread] [--verify-cpu N]
 *                  [--reaper-cpu N] [--fio PATH] [--no-fio]
 *
 * The file is filled once through the store (random data, slots 0..n-1,
 * so it is contiguous), flushed, and read once untimed.  Then, per queue depth, the store reads extents in
 * a shuffled order for S seconds, keeping qd reads in flight, each read
 * verified by CRC32C into registered buffers on huge pages (as the host
 * pool's; --small-pages: plain pages); fio then runs randread with
 * the io_uring engine, O_DIRECT, registered buffers and file, bs = the
 * store's slot size, the same iodepth, for S seconds.  Each side runs R
 * rounds (default 2), alternating which goes first; one table row per
 * queue depth with the mean of each side and the ratio store / fio.
 * --verify-thread opens the store with ESS_NVME_VERIFY_THREAD: the CRCs
 * run on the store's verifier thread, and a read still counts only once
 * ess_nvme_verify has its result.  --reaper-cpu pins the reading thread
 * and gives fio the same CPU (--cpus_allowed), so both sides submit and
 * reap from the same place.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ess/nvme.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
/* Completions taken per reap; 0: as many as are in flight. */
static unsigned int reap_max;
/* 1: the old path, each read verified inside ess_nvme_reap before its
 * buffer can be reissued; 0: reap raw, refill, submit, then verify. */
static int verify_inline;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void die(const char *what, ess_nvme *st, int err)
{
	fprintf(stderr, "ess-nvme-bench: %s: %s (%s)\n", what,
		st ? ess_nvme_errmsg(st) : "", strerror(-err));
	exit(1);
}

/* Fill every slot with random data through the store; a buffer is
 * reused only after its own write completed (completions come in any
 * order), tag = buffer index. */
static void fill(ess_nvme *st, uint64_t n, uint32_t ext, char *bufs,
		 uint32_t qd)
{
	struct ess_nvme_cpl cpl[64];
	uint32_t *freebuf = malloc(qd * sizeof(*freebuf)), nfree = 0;
	uint64_t i, slot;
	int k, j, ret;

	for (i = 0; i < qd; i++)
		freebuf[nfree++] = (uint32_t)i;
	for (i = 0; i < n || nfree < qd;) {
		if (i < n && nfree) {
			uint32_t bi = freebuf[--nfree];
			uint64_t *w = (uint64_t *)(bufs + (size_t)bi * ext);

			for (j = 0; j < (int)(ext / 8); j++)
				w[j] = rnd();
			ret = ess_nvme_alloc(st, &slot);
			if (!ret)
				ret = ess_nvme_write(st, slot, w, ext, bi);
			if (ret)
				die("write", st, ret);
			i++;
			continue;
		}
		k = ess_nvme_reap(st, cpl, 64, 1);
		if (k < 0)
			die("reap", st, k);
		for (j = 0; j < k; j++) {
			if (cpl[j].status)
				die("write", st, cpl[j].status);
			freebuf[nfree++] = (uint32_t)cpl[j].tag;
		}
	}
	free(freebuf);
}

/*
 * qd reads in flight over 2 x qd buffers: take every finished read raw,
 * put the next reads in flight into free buffers and submit them, and only
 * then verify the finished ones (ess_nvme_verify), whose buffers become
 * free when they pass.  The device never has more than qd reads; the CRCs
 * run while the next reads are on the device instead of before they are
 * issued.  Returns the reads verified; *t0 gets the start time.
 */
static uint64_t read_refill_first(ess_nvme *st, const uint64_t *order,
				  uint64_t n, uint32_t ext, char *bufs,
				  uint32_t qd, double secs, double *t0)
{
	struct ess_nvme_cpl cpl[ESS_NVME_QD_MAX];
	uint32_t freebuf[2 * ESS_NVME_QD_MAX], nfree = 0, i;
	uint64_t pos = 0, reads = 0;
	int k, j, ret, stop = 0;

	for (i = 2 * qd; i > qd; i--)
		freebuf[nfree++] = i - 1;
	*t0 = now_s();
	for (i = 0; i < qd; i++) {
		ret = ess_nvme_read(st, order[pos++ % n],
				    bufs + (size_t)i * ext, ext, 0, i);
		if (ret)
			die("read", st, ret);
	}
	while (ess_nvme_pending(st)) {
		k = ess_nvme_reap_raw(st, cpl,
				      reap_max && reap_max < qd ? reap_max : qd, 1);
		if (k < 0)
			die("reap", st, k);
		if (!stop && now_s() - *t0 >= secs)
			stop = 1;
		for (j = 0; j < k && !stop; j++) {
			uint32_t b = freebuf[--nfree];

			ret = ess_nvme_read(st, order[pos++ % n],
					    bufs + (size_t)b * ext, ext, 0, b);
			if (ret)
				die("read", st, ret);
		}
		ret = ess_nvme_submit(st);
		if (ret < 0)
			die("submit", st, ret);
		for (j = 0; j < k; j++) {
			ret = ess_nvme_verify(st, &cpl[j]);
			if (ret)
				die("read", st, ret);
			freebuf[nfree++] = (uint32_t)cpl[j].tag;
			reads++;
		}
	}
	return reads;
}

/* Read shuffled extents, qd in flight, for secs; returns bytes/s. */
static double store_read(ess_nvme *st, uint64_t n, uint32_t ext,
			 char *bufs, uint32_t qd, double secs,
			 uint64_t *nreads)
{
	struct ess_nvme_cpl cpl[ESS_NVME_QD_MAX];
	uint64_t *order = malloc(n * sizeof(*order)), pos = 0, reads = 0;
	double t0, t1;
	uint32_t i;
	int k, j, ret;
	int stop = 0;

	for (uint64_t a = 0; a < n; a++)
		order[a] = a;
	for (uint64_t a = n - 1; a > 0; a--) {
		uint64_t b = rnd() % (a + 1), t = order[a];

		order[a] = order[b];
		order[b] = t;
	}
	if (!verify_inline) {
		reads = read_refill_first(st, order, n, ext, bufs, qd, secs, &t0);
		goto out;
	}
	t0 = now_s();
	for (i = 0; i < qd; i++) {
		ret = ess_nvme_read(st, order[pos++ % n],
				    bufs + (size_t)i * ext, ext, 0, i);
		if (ret)
			die("read", st, ret);
	}
	while (ess_nvme_pending(st)) {
		/* Inline verification: one at a time unless told (see
		 * Documentation/dev/nvme.md). */
		k = ess_nvme_reap(st, cpl,
				  !reap_max ? 1 : reap_max < qd ? reap_max : qd, 1);
		if (k < 0)
			die("reap", st, k);
		if (!stop && now_s() - t0 >= secs)
			stop = 1;
		for (j = 0; j < k; j++) {
			if (cpl[j].status)
				die("read", st, cpl[j].status);
			reads++;
			if (stop)
				continue;
			ret = ess_nvme_read(st, order[pos++ % n],
					    bufs + (size_t)cpl[j].tag * ext,
					    ext, 0, cpl[j].tag);
			if (ret)
				die("read", st, ret);
		}
	}
out:
	t1 = now_s();
	free(order);
	*nreads = reads;
	return (double)reads * ext / (t1 - t0);
}

/* A number after "key" in fio's JSON, searching from `from`. */
static double json_num(const char *from, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = from ? strstr(from, pat) : NULL;
	if (!p || !(p = strchr(p, ':')))
		return -1;
	return strtod(p + 1, NULL);
}

/* Run fio; returns read bytes/s from its JSON output, or -1; *cpu_us gets
 * its CPU time (user + system) per read in microseconds. */
static double fio_read(const char *fio, const char *file, uint64_t size,
		       uint32_t bs, uint32_t qd, double secs, const char *mem,
		       int cpu, double *cpu_us)
{
	char cmd[2048], pin[48] = "";
	static char out[1 << 17];
	size_t len = 0;
	double bw, ios, usr, sys, rt;
	FILE *p;
	char *r;

	if (cpu >= 0)
		snprintf(pin, sizeof(pin), " --cpus_allowed=%d", cpu);
	snprintf(cmd, sizeof(cmd),
		 "%s --name=ess-nvme-bench --filename=%s --size=%llu --bs=%u "
		 "--iodepth=%u --ioengine=io_uring --direct=1 --rw=randread "
		 "--fixedbufs=1 --registerfiles=1 --time_based --runtime=%.0f "
		 "--ramp_time=0 --invalidate=1 --mem=%s%s --output-format=json 2>&1",
		 fio, file, (unsigned long long)size, bs, qd, secs, mem, pin);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (len < sizeof(out) - 1) {
		size_t k = fread(out + len, 1, sizeof(out) - 1 - len, p);

		if (!k)
			break;
		len += k;
	}
	out[len] = 0;
	if (pclose(p) != 0) {
		fprintf(stderr, "ess-nvme-bench: fio failed:\n%s\n", out);
		return -1;
	}
	r = strstr(out, "\"read\"");
	bw = json_num(r, "bw_bytes");
	ios = json_num(r, "total_ios");
	rt = json_num(out, "job_runtime");
	usr = json_num(out, "usr_cpu");
	sys = json_num(out, "sys_cpu");
	*cpu_us = ios > 0 && rt > 0 ? (usr + sys) / 100 * rt * 1e3 / ios : -1;
	return bw;
}

static double cpu_s(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

#define HUGE_BYTES (2u << 20)

/*
 * The store's read buffers.  By default they are 2 MiB-aligned and advised
 * MADV_HUGEPAGE, as the host pool is (runtime/pool_fallback.c), so every
 * extent buffer is physically contiguous: one segment per read.  Plain
 * anonymous memory on 4 KiB pages scatters a 64 KiB buffer over up to 16
 * physical pieces, and on a virtual disk every piece costs the host extra
 * work per request (Documentation/dev/nvme.md, Benchmark).  Returns the
 * aligned buffers; *map and *maplen get what to unmap.
 */
static char *alloc_bufs(size_t len, int huge, char **map, size_t *maplen)
{
	size_t span = (len + HUGE_BYTES - 1) / HUGE_BYTES * HUGE_BYTES;
	char *m, *p;

	*maplen = huge ? span + HUGE_BYTES : len;
	m = mmap(NULL, *maplen, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	*map = m;
	p = m;
	if (huge) {
		p = (char *)(((uintptr_t)m + HUGE_BYTES - 1) &
			     ~(uintptr_t)(HUGE_BYTES - 1));
		/* A hint: without THP the buffers are plain pages. */
		(void)madvise(p, span, MADV_HUGEPAGE);
	}
	memset(p, 0, len);	/* fault the pages in before registration */
	return p;
}

/* KiB on transparent huge pages of the mapping that starts at map (the
 * advised part is a mapping of its own), from smaps; -1 if unknown. */
static long huge_kib(const char *map)
{
	char line[256], want[32];
	long kib = -1;
	int in = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		return -1;
	snprintf(want, sizeof(want), "%lx-", (unsigned long)(uintptr_t)map);
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, want, strlen(want)))
			in = 1;
		else if (in && sscanf(line, "AnonHugePages: %ld kB", &kib) == 1)
			break;
	}
	fclose(f);
	return kib;
}

/*
 * fio's buffers on huge pages, like the store's: fio's --mem=mmaphuge maps
 * a file on hugetlbfs, so a mounted hugetlbfs with enough free huge pages
 * for `need` bytes gives "mmaphuge:<mount>/ess-nvme-bench-fio.<pid>" in
 * spec; 0 then, -1 if there is none (plain anonymous memory is all fio can
 * have: the store must then use plain pages too, or the comparison would
 * measure memory layout instead of the I/O path).
 */
static int fio_huge_mem(char *spec, size_t len, size_t need)
{
	char line[512], dev[128], dir[256], type[64];
	unsigned long free_pages = 0, kib = 0;
	int found = 0;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "HugePages_Free: %lu", &free_pages);
		sscanf(line, "Hugepagesize: %lu kB", &kib);
	}
	fclose(f);
	if (!kib || (unsigned long long)free_pages * kib * 1024 < need + (size_t)kib * 1024)
		return -1;
	f = fopen("/proc/mounts", "r");
	if (!f)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%127s %255s %63s", dev, dir, type) == 3 &&
			!strcmp(type, "hugetlbfs") && !access(dir, W_OK);
	fclose(f);
	if (!found)
		return -1;
	snprintf(spec, len, "mmaphuge:%s/ess-nvme-bench-fio.%d", dir, (int)getpid());
	return 0;
}

/* fio leaves its hugetlbfs file behind: remove it (and free its pages). */
static void fio_mem_cleanup(const char *mem)
{
	if (!strncmp(mem, "mmaphuge:", 9))
		unlink(mem + 9);
}

static void usage(FILE *f, int code)
{
	fprintf(f,
		"usage: ess-nvme-bench [--file PATH] [--size-mib N] [--extent BYTES]\n"
		"                      [--qd LIST] [--seconds S] [--rounds R] [--reap-batch N]\n"
		"                      [--verify-inline] [--no-defer-taskrun] [--small-pages]\n"
		"                      [--verify-thread] [--verify-cpu N] [--reaper-cpu N]\n"
		"                      [--fio PATH] [--no-fio]\n"
		"Read-back throughput of the NVMe extent store beside fio (io_uring,\n"
		"O_DIRECT, same file, block size and queue depth), one table.\n"
		"  --file PATH      file or block device to use [/var/tmp/ess-nvme-bench.dat]\n"
		"  --size-mib N     bytes of it to fill, in MiB [1024]\n"
		"  --extent BYTES   extent (read) size [65536]\n"
		"  --qd LIST        comma-separated queue depths [1,4,16,32]\n"
		"  --seconds S      seconds per round and side [3]\n"
		"  --rounds R       alternating rounds per queue depth [2]\n"
		"  --reap-batch N   completions reaped per wait [0: all in flight]\n"
		"  --verify-inline  verify each read inside the reap, before its buffer\n"
		"                   is reissued (the path before ess_nvme_reap_raw)\n"
		"  --no-defer-taskrun  ring without ESS_NVME_ONE_THREAD (DEFER_TASKRUN)\n"
		"  --small-pages    read buffers on plain 4 KiB pages, not advised\n"
		"                   MADV_HUGEPAGE (the default, as the host pool); also\n"
		"                   chosen when fio cannot have huge pages (it needs a\n"
		"                   mounted hugetlbfs with free pages), so both sides\n"
		"                   read into the same kind of memory\n"
		"  --verify-thread  CRCs on the store's verifier thread\n"
		"                   (ESS_NVME_VERIFY_THREAD); a read counts once verified\n"
		"  --verify-cpu N   pin that thread to CPU N\n"
		"  --reaper-cpu N   pin the reading thread to CPU N, and fio to it too\n"
		"                   (--cpus_allowed=N)\n"
		"  --fio PATH       fio binary [fio]; --no-fio: the store alone\n"
		"  -h, --help       this text\n");
	exit(code);
}

/* A whole decimal (or 0x) number, else a usage error naming the option. */
static uint64_t num(const char *opt, const char *s)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || *s == '-') {
		fprintf(stderr, "ess-nvme-bench: %s wants a number, not '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "size-mib", required_argument, NULL, 's' },
		{ "extent", required_argument, NULL, 'e' },
		{ "qd", required_argument, NULL, 'q' },
		{ "seconds", required_argument, NULL, 't' },
		{ "fio", required_argument, NULL, 'F' },
		{ "no-fio", no_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "reap-batch", required_argument, NULL, 'b' },
		{ "verify-inline", no_argument, NULL, 'V' },
		{ "no-defer-taskrun", no_argument, NULL, 'D' },
		{ "small-pages", no_argument, NULL, 'P' },
		{ "verify-thread", no_argument, NULL, 'T' },
		{ "verify-cpu", required_argument, NULL, 'C' },
		{ "reaper-cpu", required_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = "/var/tmp/ess-nvme-bench.dat", *fio = "fio";
	char qdlist[256] = "1,4,16,32", err[256], *tok, *save = NULL;
	uint64_t size_mib = 1024, n, nreads;
	uint32_t ext = 65536, qd, maxqd = 0, sb;
	double secs = 3;
	int use_fio = 1, rounds = 2, c, ret, one_thread = 1, huge = 1;
	int vthread = 0, verify_cpu = -1, reaper_cpu = -1;
	struct ess_nvme_config cfg;
	struct ess_nvme_stats s;
	ess_nvme *st = NULL;
	char *bufs, *bufmap = NULL, fio_mem[400] = "malloc";
	size_t buflen, maplen = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 's': size_mib = num("--size-mib", optarg); break;
		case 'e': ext = (uint32_t)num("--extent", optarg); break;
		case 'q': snprintf(qdlist, sizeof(qdlist), "%s", optarg); break;
		case 't': {
			char *end;

			secs = strtod(optarg, &end);
			if (end == optarg || *end)
				secs = -1;
			break;
		}
		case 'F': fio = optarg; break;
		case 'n': use_fio = 0; break;
		case 'r': rounds = (int)num("--rounds", optarg); break;
		case 'b': reap_max = (unsigned int)num("--reap-batch", optarg); break;
		case 'V': verify_inline = 1; break;
		case 'D': one_thread = 0; break;
		case 'P': huge = 0; break;
		case 'T': vthread = 1; break;
		case 'C': verify_cpu = (int)num("--verify-cpu", optarg); break;
		case 'R': reaper_cpu = (int)num("--reaper-cpu", optarg); break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "ess-nvme-bench: unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
	if (!size_mib || size_mib > (1ull << 30) || !ext || ext > (1u << 30) ||
	    !(secs > 0 && secs <= 3600) || rounds < 1 || rounds > 1000) {
		fprintf(stderr, "ess-nvme-bench: --size-mib, --extent, --seconds, --rounds and --reap-batch must be positive and sane\n");
		usage(stderr, 2);
	}
	{
		char tmp[256];

		snprintf(tmp, sizeof(tmp), "%s", qdlist);
		for (tok = strtok_r(tmp, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			qd = (uint32_t)num("--qd", tok);
			if (!qd || qd > ESS_NVME_QD_MAX / 2) {
				fprintf(stderr, "ess-nvme-bench: queue depth %s not in 1..%u\n",
					tok, ESS_NVME_QD_MAX / 2);
				exit(2);
			}
			if (qd > maxqd)
				maxqd = qd;
		}
	}
	if (!maxqd)
		usage(stderr, 2);
	if ((verify_cpu >= 0 && !vthread) || verify_cpu >= CPU_SETSIZE ||
	    reaper_cpu >= CPU_SETSIZE) {
		fprintf(stderr, "ess-nvme-bench: --verify-cpu needs --verify-thread; CPUs below %d\n",
			CPU_SETSIZE);
		exit(2);
	}

	ess_nvme_config_default(&cfg);
	cfg.path = file;
	cfg.capacity_bytes = size_mib << 20;
	cfg.extent_bytes = ext;
	/* Records for qd reads in flight plus qd awaiting verification; the
	 * bench itself keeps no more than qd on the device. */
	cfg.queue_depth = 2 * maxqd;
	if (one_thread)
		cfg.flags |= ESS_NVME_ONE_THREAD;
	if (vthread) {
		cfg.flags |= ESS_NVME_VERIFY_THREAD;
		cfg.verify_cpu = verify_cpu;
	}
	ret = ess_nvme_open(&cfg, &st, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "ess-nvme-bench: %s\n", err);
		return 1;
	}
	/* Pinned only now: the verifier thread, started at open, would
	 * otherwise inherit the reading thread's CPU. */
	if (reaper_cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(reaper_cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			fprintf(stderr, "ess-nvme-bench: cannot pin to CPU %d: %s\n",
				reaper_cpu, strerror(errno));
			return 1;
		}
	}
	{
		char rc[32] = "any CPU", vc[32] = "any CPU";

		if (reaper_cpu >= 0)
			snprintf(rc, sizeof(rc), "CPU %d (fio too)", reaper_cpu);
		if (verify_cpu >= 0)
			snprintf(vc, sizeof(vc), "CPU %d", verify_cpu);
		printf("# verification: %s; reading thread on %s%s%s\n",
		       vthread ? "on the store's verifier thread" :
		       verify_inline ? "inline, in the reap" :
		       "after the refill, on the reading thread",
		       rc, vthread ? "; verifier on " : "", vthread ? vc : "");
	}
	sb = ess_nvme_slot_bytes(st);
	n = ess_nvme_capacity_slots(st);
	buflen = (size_t)2 * maxqd * ext;
	/* like for like: fio's buffers on huge pages too, or both on plain */
	if (use_fio && huge && fio_huge_mem(fio_mem, sizeof(fio_mem), (size_t)maxqd * sb)) {
		printf("# fio cannot have huge-page buffers here (no writable hugetlbfs mount with\n"
		       "# free huge pages; e.g. echo 16 > /proc/sys/vm/nr_hugepages and mount -t\n"
		       "# hugetlbfs none /dev/hugepages): the store reads into plain pages too\n");
		huge = 0;
	}
	if (use_fio)
		printf("# fio buffers: --mem=%s\n", fio_mem);
	bufs = alloc_bufs(buflen, huge, &bufmap, &maplen);
	if (!bufs)
		return 1;
	printf("# read buffers: %zu KiB, %s, %ld KiB of them on huge pages\n",
	       buflen >> 10, huge ? "MADV_HUGEPAGE" : "plain pages",
	       huge_kib(bufs));
	if (ess_nvme_register_memory(st, bufs, buflen) < 0)
		die("register", st, -EINVAL);
	{
		double t0 = now_s(), t;

		fill(st, n, ext, bufs, maxqd);
		t = now_s() - t0;
		printf("# file %s: %llu extents of %u bytes (slot %u) written in %.2f s, %.0f MiB/s\n",
		       file, (unsigned long long)n, ext, sb, t,
		       (double)n * ext / t / (1 << 20));
	}
	/* Let the fill's writes settle (on a virtual disk the host may still
	 * be writing them back) before anything is timed: flush, then one
	 * untimed read pass. */
	{
		int fd = open(file, O_RDONLY);

		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		store_read(st, n, ext, bufs, maxqd, secs, &nreads);
	}
	printf("| qd | block (B) | ess MiB/s | ess IOPS | ess CPU us/read | ess enter/read | fio MiB/s | fio IOPS | fio CPU us/read | ratio |\n");
	printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	snprintf(err, sizeof(err), "%s", qdlist);
	save = NULL;
	for (tok = strtok_r(err, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		double ours = 0, theirs = 0, o, f, c0, fc;
		double our_cpu = 0, their_cpu = 0, reaper_cpu_s = 0, rc0;
		uint64_t our_ios = 0, our_enters = 0, e0, w0, k0, waits = 0, kicks = 0;
		int fio_ok = use_fio;

		qd = (uint32_t)strtoul(tok, NULL, 0);
		/* Rounds in the order store, fio, fio, store, ...: neither
		 * side always runs first on a disk (and host) that drifts. */
		for (int r = 0; r < rounds; r++) {
			int fio_first = r % 2;

			if (fio_first && fio_ok) {
				f = fio_read(fio, file, n * (uint64_t)sb, sb, qd,
					     secs, fio_mem, reaper_cpu, &fc);
				fio_ok = f > 0;
				theirs += f;
				their_cpu += fc;
				fio_mem_cleanup(fio_mem);
			}
			ess_nvme_stats_get(st, &s);
			e0 = s.enter_calls;
			w0 = s.verifier_waits;
			k0 = s.verifier_wakeups;
			c0 = cpu_s(RUSAGE_SELF);
			rc0 = cpu_s(RUSAGE_THREAD);
			o = store_read(st, n, ext, bufs, qd, secs, &nreads);
			our_cpu += cpu_s(RUSAGE_SELF) - c0;
			reaper_cpu_s += cpu_s(RUSAGE_THREAD) - rc0;
			ess_nvme_stats_get(st, &s);
			our_enters += s.enter_calls - e0;
			waits += s.verifier_waits - w0;
			kicks += s.verifier_wakeups - k0;
			our_ios += nreads;
			ours += o;
			if (!fio_first && fio_ok) {
				f = fio_read(fio, file, n * (uint64_t)sb, sb, qd,
					     secs, fio_mem, reaper_cpu, &fc);
				fio_ok = f > 0;
				theirs += f;
				their_cpu += fc;
				fio_mem_cleanup(fio_mem);
			}
		}
		ours /= rounds;
		theirs /= rounds;
		our_cpu = our_cpu * 1e6 / (double)(our_ios ? our_ios : 1);
		their_cpu /= rounds;
		if (fio_ok)
			printf("| %u | %u | %.0f | %.0f | %.1f | %.2f | %.0f | %.0f | %.1f | %.3f |\n",
			       qd, sb, ours / (1 << 20), ours / ext, our_cpu,
			       (double)our_enters / (double)(our_ios ? our_ios : 1),
			       theirs / (1 << 20), theirs / sb, their_cpu,
			       ours / theirs);
		else
			printf("| %u | %u | %.0f | %.0f | %.1f | %.2f | - | - | - | - |\n",
			       qd, sb, ours / (1 << 20), ours / ext, our_cpu,
			       (double)our_enters / (double)(our_ios ? our_ios : 1));
		if (vthread)
			printf("# qd %u: reading thread %.1f us CPU/read; per read %.2f waits for the verifier, %.2f wake-ups of it\n",
			       qd, reaper_cpu_s * 1e6 / (double)(our_ios ? our_ios : 1),
			       (double)waits / (double)(our_ios ? our_ios : 1),
			       (double)kicks / (double)(our_ios ? our_ios : 1));
		fflush(stdout);
	}
	ess_nvme_stats_get(st, &s);
	printf("# store: %llu reads verified (%llu on the verifier thread), %llu checksum failures, %llu read errors, %llu fixed-buffer ops, %llu bounced\n",
	       (unsigned long long)s.reads,
	       (unsigned long long)s.thread_verified,
	       (unsigned long long)s.checksum_failures,
	       (unsigned long long)s.read_errors,
	       (unsigned long long)s.fixed_ops,
	       (unsigned long long)s.bounced_ops);
	ess_nvme_close(st);
	munmap(bufmap, maplen);
	return 0;
}
