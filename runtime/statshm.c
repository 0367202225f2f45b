// SPDX-License-Identifier: MIT
/*
 * The statistics segment (include/ess/stat.h): the writer the context uses
 * and the reader ess-stat uses, kept together so both follow one layout.
 * The writer copies with relaxed atomic stores inside a sequence lock; the
 * reader only loads, retrying while a copy is in progress.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ess/nvme.h"
#include "internal.h"
#include "statshm.h"

/* The NVMe tier's counters, when the program links the tier (weak, as in
 * runtime/hooks.h: core-only programs link without it). */
#pragma weak ess_tier_stats_get

_Static_assert(sizeof(struct ess_stat_header) == 256, "header is 256 bytes");
_Static_assert(offsetof(struct ess_stat_segment, seq) == 256, "seq follows");

#define F(id, n, k, u, h) [ESS_STAT_##id] = { n, ESS_STAT_##k, u, h }
const struct ess_stat_field ess_stat_fields[ESS_STAT_NR] = {
	F(RESOLVES, "resolves", COUNTER, "", "Request-layer top-k lists resolved."),
	F(LOOKUPS, "lookups", COUNTER, "", "Valid top-k entries resolved."),
	F(HITS, "hits", COUNTER, "", "Top-k entries found in the hot buffer."),
	F(MISSES, "misses", COUNTER, "", "Top-k entries fetched from the host pool."),
	F(EVICTIONS, "evictions", COUNTER, "", "Rows replaced in the hot buffer."),
	F(APPENDS, "appends", COUNTER, "", "Decode rows appended."),
	F(INGESTED, "ingested", COUNTER, "", "Prefill rows ingested into the host pool."),
	F(WARMUPS, "warmups", COUNTER, "", "Rows loaded into the hot buffer by warm-up."),
	F(BYTES_H2D, "h2d_bytes", COUNTER, "bytes", "Bytes copied from the host pool to the hot buffer."),
	F(BYTES_D2H, "d2h_bytes", COUNTER, "bytes", "Bytes copied from the hot buffer or device rows to the host pool."),
	F(FETCH_NS, "fetch_ns", COUNTER, "ns", "Time spent fetching misses, in nanoseconds (CUDA: GPU time of the management and fetch kernels)."),
	F(DATA_CHECKS, "data_checks", COUNTER, "", "Slots compared with the host pool in data-check mode."),
	F(DATA_CHECK_FAILURES, "data_check_failures", COUNTER, "", "Slots that differed from the host pool."),
	F(REQUESTS_ADDED, "requests_added", COUNTER, "", "Requests added."),
	F(REQUESTS_REMOVED, "requests_removed", COUNTER, "", "Requests removed."),
	F(HEAT_REPORTS, "heat_reports", COUNTER, "", "Heat block accesses reported to the ess module."),
	F(HEAT_REPORT_ERRORS, "heat_report_errors", COUNTER, "", "Heat report batches the module refused."),
	F(NVME_READS, "nvme_reads", COUNTER, "", "Extents read back from the NVMe tier."),
	F(NVME_WRITES, "nvme_writes", COUNTER, "", "Extents written to the NVMe tier."),
	F(NVME_READ_BYTES, "nvme_read_bytes", COUNTER, "bytes", "Bytes read from the NVMe tier."),
	F(NVME_WRITE_BYTES, "nvme_write_bytes", COUNTER, "bytes", "Bytes written to the NVMe tier."),
	F(PIN_FAILURES, "pin_failures", COUNTER, "", "Host memory that could not be pinned (one per failed pool lock)."),
	F(POOL_BYTES, "dram_bytes", LEVEL, "bytes", "DRAM tier (host pool) size."),
	F(POOL_USED_BYTES, "dram_used_bytes", LEVEL, "bytes", "DRAM tier bytes in use."),
	F(PINNED_BYTES, "pinned_bytes", LEVEL, "bytes", "Host pool bytes pinned."),
	F(HOT_BYTES, "gpu_bytes", LEVEL, "bytes", "GPU tier (hot buffer) size."),
	F(HOT_USED_BYTES, "gpu_used_bytes", LEVEL, "bytes", "GPU tier (hot buffer) bytes holding rows: occupied slots times the row size."),
	F(NVME_BYTES, "nvme_bytes", LEVEL, "bytes", "NVMe tier capacity, in extent bytes."),
	F(NVME_USED_BYTES, "nvme_used_bytes", LEVEL, "bytes", "NVMe tier extent bytes held only there."),
	F(REQUESTS_ACTIVE, "requests_active", LEVEL, "", "Requests resident now."),
};
#undef F

#define PERIOD_MS_DEFAULT 50

struct ess_statshm {
	struct ess_stat_segment *seg;
	size_t map_bytes;
	int fd;
	uint64_t seq;
	uint64_t period_ns;
	uint64_t last_ns;
	uint64_t own[ESS_STAT_NR];	/* values struct ess_stats lacks */
	uint32_t layers;
	uint64_t extent_bytes;		/* data bytes of one host extent */
	const struct ess_ctx *ctx;	/* for the tier's counters, or NULL */
	char path[4096];
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *ess_stat_dir(void)
{
	const char *d = getenv("ESS_STAT_DIR");

	return d && *d ? d : ESS_STAT_DIR_DEFAULT;
}

int ess_stat_name_parse(const char *name, int32_t *pid, uint32_t *ctx)
{
	const char *p = name;
	unsigned long long a, b;
	char *end;

	if (strncmp(p, ESS_STAT_PREFIX, strlen(ESS_STAT_PREFIX)))
		return 0;
	p += strlen(ESS_STAT_PREFIX);
	if (*p < '0' || *p > '9')
		return 0;
	a = strtoull(p, &end, 10);
	if (*end != '.' || a == 0 || a > INT32_MAX)
		return 0;
	p = end + 1;
	if (*p < '0' || *p > '9')
		return 0;
	b = strtoull(p, &end, 10);
	if (*end || b > UINT32_MAX)
		return 0;
	if (pid)
		*pid = (int32_t)a;
	if (ctx)
		*ctx = (uint32_t)b;
	return 1;
}

/* ---- writer ---- */

static void read_comm(char *comm, size_t len)
{
	FILE *f = fopen("/proc/self/comm", "r");
	size_t n = 0;

	comm[0] = 0;
	if (f) {
		if (fgets(comm, (int)len, f))
			n = strcspn(comm, "\n");
		comm[n] = 0;
		fclose(f);
	}
	if (!comm[0])
		snprintf(comm, len, "?");
}

static uint64_t env_period_ns(void)
{
	const char *e = getenv("ESS_STAT_PERIOD_MS");
	unsigned long ms;
	char *end;

	if (!e || !*e)
		return PERIOD_MS_DEFAULT * 1000000ull;
	errno = 0;
	ms = strtoul(e, &end, 10);
	if (errno || *end || ms > 3600000)
		return PERIOD_MS_DEFAULT * 1000000ull;
	return (uint64_t)ms * 1000000ull;
}

static void fill_header(struct ess_stat_header *h,
			const struct ess_statshm_info *info, uint32_t ctx_id)
{
	const struct ess_config *c = info->cfg;

	memset(h, 0, sizeof(*h));
	h->version = ESS_STAT_VERSION;
	h->header_bytes = sizeof(*h);
	h->segment_bytes = sizeof(struct ess_stat_segment);
	h->seq_off = offsetof(struct ess_stat_segment, seq);
	h->counters_off = offsetof(struct ess_stat_segment, counters);
	h->nr_counters = ESS_STAT_NR;
	h->layers_off = offsetof(struct ess_stat_segment, layer_misses);
	h->nr_layer_slots = ESS_MAX_LAYERS;
	h->pid = (int32_t)getpid();
	h->ctx_id = ctx_id;
	h->backend = c->backend;
	h->device = c->backend == ESS_BACKEND_CUDA ? c->device : -1;
	h->layers = c->layers;
	h->entry_bytes = c->entry_bytes;
	h->topk = c->topk;
	h->slots = c->slots;
	h->max_requests = c->max_requests;
	h->max_tokens = c->max_tokens;
	h->start_ns = clock_ns(CLOCK_REALTIME);
	read_comm(h->comm, sizeof(h->comm));
	snprintf(h->policy, sizeof(h->policy), "%s",
		 c->policy ? c->policy : "lru");
	snprintf(h->pool, sizeof(h->pool), "%s", info->pool ? info->pool : "");
	/* magic last: a header with magic is complete */
	h->magic = ESS_STAT_MAGIC;
}

int ess_statshm_open(struct ess_statshm **out,
		     const struct ess_statshm_info *info,
		     char *err, size_t errlen)
{
	static uint32_t next_ctx;	/* contexts of this process */
	const char *env = getenv("ESS_STAT");
	const char *dir = ess_stat_dir();
	struct ess_statshm *s;
	char tmp[4096 + 8];
	long page = sysconf(_SC_PAGESIZE);
	uint32_t id;
	int n;

	*out = NULL;
	if (env && !strcmp(env, "0"))
		return 0;
	if (!info || !info->cfg) {
		snprintf(err, errlen, "statistics segment: no configuration");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "statistics segment: out of memory");
		return -ENOMEM;
	}
	s->fd = -1;
	s->period_ns = env_period_ns();
	s->layers = info->cfg->layers < ESS_MAX_LAYERS ? info->cfg->layers :
			ESS_MAX_LAYERS;
	s->extent_bytes = (uint64_t)info->cfg->extent_tokens *
			  info->cfg->entry_bytes;
	id = __atomic_fetch_add(&next_ctx, 1, __ATOMIC_RELAXED);
	n = snprintf(s->path, sizeof(s->path), "%s/" ESS_STAT_PREFIX "%d.%u",
		     dir, (int)getpid(), id);
	if (n < 0 || (size_t)n + 8 >= sizeof(s->path)) {
		snprintf(err, errlen, "statistics segment: directory name too long");
		free(s);
		return -ENAMETOOLONG;
	}
	/* Build it under a temporary name, publish it by rename(). */
	snprintf(tmp, sizeof(tmp), "%s.XXXXXX", s->path);
	s->fd = mkostemp(tmp, O_CLOEXEC);
	if (s->fd < 0) {
		n = -errno;
		snprintf(err, errlen, "statistics segment: cannot create %s: %s",
			 tmp, strerror(-n));
		free(s);
		return n;
	}
	s->map_bytes = (sizeof(struct ess_stat_segment) + (size_t)page - 1) &
		       ~((size_t)page - 1);
	if (fchmod(s->fd, 0644) || ftruncate(s->fd, (off_t)s->map_bytes) ||
	    flock(s->fd, LOCK_SH)) {
		n = -errno;
		goto fail;
	}
	s->seg = mmap(NULL, s->map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
		      s->fd, 0);
	if (s->seg == MAP_FAILED) {
		s->seg = NULL;
		n = -errno;
		goto fail;
	}
	fill_header(&s->seg->hdr, info, id);
	if (rename(tmp, s->path)) {
		n = -errno;
		goto fail;
	}
	*out = s;
	return 0;

fail:
	snprintf(err, errlen, "statistics segment %s: %s", s->path,
		 strerror(-n));
	if (s->seg)
		munmap(s->seg, s->map_bytes);
	close(s->fd);
	unlink(tmp);
	free(s);
	return n;
}

static inline void put(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

void ess_statshm_bind(struct ess_statshm *s, const struct ess_ctx *ctx)
{
	if (s)
		s->ctx = ctx;
}

/* NVMe tier values from its own counters, when the context has a tier. */
static void tier_values(const struct ess_statshm *s, uint64_t *v)
{
	struct ess_tier_stats ts;

	if (!s->ctx || !ess_tier_stats_get || ess_tier_stats_get(s->ctx, &ts))
		return;
	v[ESS_STAT_NVME_READS] = ts.store.reads;
	v[ESS_STAT_NVME_WRITES] = ts.store.writes;
	v[ESS_STAT_NVME_READ_BYTES] = ts.store.read_bytes;
	v[ESS_STAT_NVME_WRITE_BYTES] = ts.store.write_bytes;
	v[ESS_STAT_NVME_BYTES] = ts.store.slots_total * s->extent_bytes;
	v[ESS_STAT_NVME_USED_BYTES] = ts.on_nvme * s->extent_bytes;
}

void ess_statshm_publish(struct ess_statshm *s, const struct ess_stats *st)
{
	struct ess_stat_segment *g;
	uint64_t v[ESS_STAT_NR];
	uint32_t i;

	if (!s || !st)
		return;
	g = s->seg;
	memcpy(v, s->own, sizeof(v));
	tier_values(s, v);
	v[ESS_STAT_RESOLVES] = st->resolves;
	v[ESS_STAT_LOOKUPS] = st->lookups;
	v[ESS_STAT_HITS] = st->hits;
	v[ESS_STAT_MISSES] = st->misses;
	v[ESS_STAT_EVICTIONS] = st->evictions;
	v[ESS_STAT_APPENDS] = st->appends;
	v[ESS_STAT_INGESTED] = st->ingested;
	v[ESS_STAT_WARMUPS] = st->warmups;
	v[ESS_STAT_BYTES_H2D] = st->bytes_h2d;
	v[ESS_STAT_BYTES_D2H] = st->bytes_d2h;
	v[ESS_STAT_FETCH_NS] = st->fetch_ns;
	v[ESS_STAT_DATA_CHECKS] = st->data_checks;
	v[ESS_STAT_DATA_CHECK_FAILURES] = st->data_check_failures;
	v[ESS_STAT_REQUESTS_ADDED] = st->requests_added;
	v[ESS_STAT_REQUESTS_REMOVED] = st->requests_removed;
	v[ESS_STAT_HEAT_REPORTS] = st->heat_reports;
	v[ESS_STAT_HEAT_REPORT_ERRORS] = st->heat_report_errors;
	v[ESS_STAT_PIN_FAILURES] += st->pool_unlocked ? 1 : 0;
	v[ESS_STAT_POOL_BYTES] = st->pool_bytes;
	v[ESS_STAT_POOL_USED_BYTES] = st->pool_used_bytes;
	/* st's pool level is only refreshed by ess_stats_get(): take it now,
	 * as that function does, when the context is known. */
	if (s->ctx && s->ctx->pool.hdr)
		v[ESS_STAT_POOL_USED_BYTES] = (uint64_t)s->ctx->pool.nused *
					      s->ctx->pool.hdr->extent_bytes;
	v[ESS_STAT_PINNED_BYTES] = st->pool_unlocked ? 0 : st->pool_bytes;
	v[ESS_STAT_HOT_BYTES] = (uint64_t)g->hdr.layers * g->hdr.max_requests *
				g->hdr.slots * g->hdr.entry_bytes;
	v[ESS_STAT_HOT_USED_BYTES] = st->hot_used_bytes;
	v[ESS_STAT_REQUESTS_ACTIVE] = st->requests_added - st->requests_removed;

	/* Odd while copying; the release fence orders the odd value before
	 * the copies, the release store the copies before the even value. */
	put(&g->seq, ++s->seq);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	put(&g->update_ns, clock_ns(CLOCK_REALTIME));
	for (i = 0; i < ESS_STAT_NR; i++)
		put(&g->counters[i], v[i]);
	for (i = 0; i < s->layers; i++)
		put(&g->layer_misses[i], st->layer_misses[i]);
	__atomic_store_n(&g->seq, ++s->seq, __ATOMIC_RELEASE);
	s->last_ns = clock_ns(CLOCK_MONOTONIC_COARSE);
}

void ess_statshm_tick(struct ess_statshm *s, const struct ess_stats *st)
{
	if (!s)
		return;
	if (s->period_ns &&
	    clock_ns(CLOCK_MONOTONIC_COARSE) - s->last_ns < s->period_ns)
		return;
	ess_statshm_publish(s, st);
}

void ess_statshm_add(struct ess_statshm *s, enum ess_stat_id id, uint64_t n)
{
	if (s && (unsigned int)id < ESS_STAT_NR)
		s->own[id] += n;
}

void ess_statshm_set(struct ess_statshm *s, enum ess_stat_id id, uint64_t v)
{
	if (s && (unsigned int)id < ESS_STAT_NR)
		s->own[id] = v;
}

const char *ess_statshm_path(const struct ess_statshm *s)
{
	return s ? s->path : "";
}

void ess_statshm_close(struct ess_statshm *s)
{
	if (!s)
		return;
	/* Unlink first: a reader that still finds the name finds it held. */
	unlink(s->path);
	munmap(s->seg, s->map_bytes);
	close(s->fd);
	free(s);
}

/* ---- reader ---- */

static inline uint64_t get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int check_header(const struct ess_stat_header *h, size_t file_bytes,
			char *err, size_t errlen)
{
	if (h->magic != ESS_STAT_MAGIC) {
		snprintf(err, errlen, "bad magic");
		return -EPROTO;
	}
	if (h->version != ESS_STAT_VERSION) {
		snprintf(err, errlen, "layout version %u, this reader knows %u",
			 h->version, ESS_STAT_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h->header_bytes < sizeof(*h) || h->segment_bytes > file_bytes ||
	    h->seq_off < h->header_bytes ||
	    (uint64_t)h->seq_off + 16 > h->segment_bytes ||
	    h->seq_off % 8 || h->counters_off % 8 || h->layers_off % 8 ||
	    (uint64_t)h->counters_off + 8ull * h->nr_counters > h->segment_bytes ||
	    (uint64_t)h->layers_off + 8ull * h->nr_layer_slots > h->segment_bytes ||
	    h->layers > h->nr_layer_slots) {
		snprintf(err, errlen, "inconsistent header (sizes or offsets)");
		return -EPROTO;
	}
	return 0;
}

/* Copy the values out; 0 consistent, -EAGAIN torn. */
static int copy_values(const uint8_t *base, const struct ess_stat_header *h,
		       struct ess_stat_snapshot *snap)
{
	const uint64_t *seq = (const uint64_t *)(const void *)(base + h->seq_off);
	const uint64_t *cnt = (const uint64_t *)(const void *)(base + h->counters_off);
	const uint64_t *lay = (const uint64_t *)(const void *)(base + h->layers_off);
	uint32_t nc = h->nr_counters < ESS_STAT_NR ? h->nr_counters : ESS_STAT_NR;
	uint32_t nl = h->nr_layer_slots < ESS_MAX_LAYERS ? h->nr_layer_slots :
		      ESS_MAX_LAYERS;
	uint64_t s1, s2;
	uint32_t i;
	int tries;

	for (tries = 0; tries < 10000; tries++) {
		s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			if (tries > 100)
				sched_yield();
			continue;
		}
		snap->update_ns = get(seq + 1);
		for (i = 0; i < nc; i++)
			snap->v[i] = get(&cnt[i]);
		for (i = 0; i < nl; i++)
			snap->layer_misses[i] = get(&lay[i]);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return 0;
	}
	/* A writer that died mid-copy leaves seq odd: take what is there. */
	snap->update_ns = get(seq + 1);
	for (i = 0; i < nc; i++)
		snap->v[i] = get(&cnt[i]);
	for (i = 0; i < nl; i++)
		snap->layer_misses[i] = get(&lay[i]);
	return -EAGAIN;
}

int ess_stat_read(const char *path, struct ess_stat_snapshot *snap,
		  char *err, size_t errlen)
{
	const char *base = strrchr(path, '/');
	struct ess_stat_header h;
	struct stat sb;
	void *map;
	int fd, ret;

	memset(snap, 0, sizeof(*snap));
	snprintf(snap->name, sizeof(snap->name), "%s", base ? base + 1 : path);
	/* No symlinks; O_NONBLOCK so a FIFO planted under a segment's name
	 * cannot hang the reader (it fails the regular-file check below). */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) ||
	    (size_t)sb.st_size < sizeof(h)) {
		snprintf(err, errlen, "%s: not a statistics segment (too short)",
			 path);
		close(fd);
		return -EPROTO;
	}
	map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	memcpy(&h, map, sizeof(h));
	ret = check_header(&h, (size_t)sb.st_size, err, errlen);
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "%s: not a usable statistics segment: %s",
			 path, why);
		goto out;
	}
	snap->hdr = h;
	snap->hdr.comm[sizeof(h.comm) - 1] = 0;
	snap->hdr.policy[sizeof(h.policy) - 1] = 0;
	snap->hdr.pool[sizeof(h.pool) - 1] = 0;
	snap->nr_values = h.nr_counters < ESS_STAT_NR ? h.nr_counters :
			  ESS_STAT_NR;
	snap->torn = copy_values(map, &h, snap) != 0;
	/* Live while some process holds the writer's shared lock. */
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		snap->state = ESS_STAT_STALE;
		flock(fd, LOCK_UN);
	} else {
		snap->state = ESS_STAT_LIVE;
	}
out:
	munmap(map, (size_t)sb.st_size);
	close(fd);
	return ret;
}

static int cmp_snap(const void *a, const void *b)
{
	const struct ess_stat_snapshot *x = a, *y = b;

	if (x->hdr.pid != y->hdr.pid)
		return x->hdr.pid < y->hdr.pid ? -1 : 1;
	if (x->hdr.ctx_id != y->hdr.ctx_id)
		return x->hdr.ctx_id < y->hdr.ctx_id ? -1 : 1;
	return 0;
}

int ess_stat_list(const char *dir, struct ess_stat_snapshot **out, size_t *n,
		  size_t *bad, char *err, size_t errlen)
{
	struct ess_stat_snapshot *v = NULL, *nv;
	size_t cap = 0, cnt = 0, nbad = 0;
	struct dirent *de;
	char path[4096], why[512];
	DIR *d;
	int ret;

	*out = NULL;
	*n = 0;
	if (bad)
		*bad = 0;
	d = opendir(dir);
	if (!d) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d))) {
		if (!ess_stat_name_parse(de->d_name, NULL, NULL))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				closedir(d);
				free(v);
				snprintf(err, errlen, "out of memory");
				return -ENOMEM;
			}
			v = nv;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     de->d_name) >= sizeof(path))
			continue;
		ret = ess_stat_read(path, &v[cnt], why, sizeof(why));
		if (ret == 0)
			cnt++;
		else if (ret != -ENOENT)
			nbad++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_snap);
	*out = v;
	*n = cnt;
	if (bad)
		*bad = nbad;
	return 0;
}

int ess_stat_gc(const char *dir, char *err, size_t errlen)
{
	struct dirent *de;
	struct stat a, b;
	char path[4096];
	int removed = 0, fd, ret;
	DIR *d;

	d = opendir(dir);
	if (!d) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-ret));
		return ret;
	}
	while ((de = readdir(d))) {
		if (!ess_stat_name_parse(de->d_name, NULL, NULL))
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     de->d_name) >= sizeof(path))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			continue;
		/* Unlink while holding the lock: a writer never re-locks, so
		 * a free lock means no writer, now or later.  Only the file
		 * probed: the name must still lead to the same inode. */
		if (fstat(fd, &a) == 0 && S_ISREG(a.st_mode) &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    lstat(path, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev && unlink(path) == 0)
			removed++;
		close(fd);
	}
	closedir(d);
	return removed;
}
