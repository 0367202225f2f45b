// SPDX-License-Identifier: MIT
/*
 * The CUDA backend (build/libess-cuda.so, loaded by libess) against the CPU
 * backend on the same trace: two contexts with the same geometry get the
 * same ingest, warm-up, resolves and appends; every step's slot ids, the
 * hot-buffer rows behind them (and the host rows, in data-check mode) and
 * every counter but time must be equal, and so must the hot-buffer
 * occupancy (hot_used_bytes), also after a request's removal; the CUDA
 * backend's fetch time (GPU events) must be measured.  A bad row must fail
 * (CPU) or set the deferred error reported by ess_sync (CUDA) with -1 slot
 * ids.  All of it twice: the second time the CUDA context fetches its
 * misses with the copy engine (ESS_CFG_FETCH_CE) instead of SM loads.
 * Without a CUDA device (or libess-cuda.so) it prints a skip.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ess/ess.h"

#define LAYERS 3
#define EB 656u
#define TOPK 128u
#define SLOTS 384u
#define NREQ 3u
#define STEPS 30

static int n_tests, n_fail;
static const char *pass_name = "";	/* prefix of the second pass's lines */

static void ok(int cond, const char *what)
{
	n_tests++;
	if (!cond)
		n_fail++;
	printf("%sok %d - %s%s\n", cond ? "" : "not ", n_tests, pass_name, what);
	fflush(stdout);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rs;
static uint64_t rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs * 0x2545F4914F6CDD1Dull;
}

static void config(struct ess_config *c, uint32_t backend)
{
	ess_config_default(c);
	c->layers = LAYERS;
	c->entry_bytes = EB;
	c->topk = TOPK;
	c->slots = SLOTS;
	c->max_requests = 4;
	c->pool_bytes = 64ull << 20;
	c->extent_tokens = 256;
	c->max_tokens = 4096;
	c->pool = ESS_POOL_FALLBACK;
	c->flags = ESS_CFG_NO_HEAT | ESS_CFG_DATA_CHECK;
	c->backend = backend;
}

/* next top-k row: keep ~80% of prev, new distinct tokens, ~5% -1 */
static void next_row(int32_t *prev, int32_t *row, uint32_t held)
{
	static unsigned char used[4096];
	uint32_t n = 0, i;
	memset(used, 0, sizeof(used));
	for (i = 0; i < TOPK && n < TOPK - 6; i++)
		if (prev[i] >= 0 && (uint32_t)prev[i] < held && rnd() % 10 < 8 && !used[prev[i]]) {
			used[prev[i]] = 1;
			row[n++] = prev[i];
		}
	while (n < TOPK - 6) {
		uint32_t t = (uint32_t)(rnd() % held);
		if (used[t])
			continue;
		used[t] = 1;
		row[n++] = (int32_t)t;
	}
	for (; n < TOPK; n++)
		row[n] = -1;
	for (i = TOPK - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rnd() % (i + 1));
		int32_t t = row[i];
		row[i] = row[j];
		row[j] = t;
	}
	memcpy(prev, row, sizeof(int32_t) * TOPK);
}

/* The whole comparison, the CUDA context made with gflags added; returns
 * -ENODEV without a device, 1 when a context could not be made, else 0. */
static int compare(uint32_t gflags)
{
	struct ess_config cc, gc;
	ess_ctx *cpu = NULL, *gpu = NULL;
	char err[512];

	config(&gc, ESS_BACKEND_CUDA);
	gc.flags |= gflags;
	const uint64_t t_start = now_ns();
	int rc = ess_create(&gc, &gpu, err, sizeof(err));
	if (rc == -ENODEV) {
		printf("# %s\n", err);
		return -ENODEV;
	}
	ok(rc == 0, "CUDA context created");
	if (rc) {
		printf("# %s\n", err);
		return 1;
	}
	config(&cc, ESS_BACKEND_CPU);
	rc = ess_create(&cc, &cpu, err, sizeof(err));
	ok(rc == 0, "CPU context created");
	if (rc) {
		printf("# %s\n", err);
		return 1;
	}

	uint32_t reqs[NREQ], rq2[NREQ];
	int bad = 0;
	for (uint32_t r = 0; r < NREQ; r++) {
		bad |= ess_request_add(cpu, 100 + r, &reqs[r]);
		bad |= ess_request_add(gpu, 100 + r, &rq2[r]);
		bad |= reqs[r] != rq2[r];
	}
	ok(!bad, "requests added with the same ids");

	/* prefill: the same random rows in both pools */
	unsigned char *rows = malloc((size_t)2048 * EB);
	uint32_t held[NREQ][LAYERS];
	bad = 0;
	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++) {
			held[r][l] = 1500 + (uint32_t)(rnd() % 500);
			for (size_t i = 0; i < (size_t)held[r][l] * EB; i++)
				rows[i] = (unsigned char)rnd();
			bad |= ess_ingest(cpu, reqs[r], l, 0, held[r][l], rows);
			bad |= ess_ingest(gpu, reqs[r], l, 0, held[r][l], rows);
		}
	ok(!bad, "prefill rows ingested in both");

	/* warm-up with the same tokens */
	int32_t prev[NREQ][LAYERS][TOPK], row[TOPK];
	bad = 0;
	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++) {
			for (uint32_t i = 0; i < TOPK; i++)
				prev[r][l][i] = -1;
			next_row(prev[r][l], row, held[r][l]);
			bad |= ess_warmup(cpu, reqs[r], l, row, TOPK);
			bad |= ess_warmup(gpu, reqs[r], l, row, TOPK);
		}
	ok(!bad, "warm-up accepted by both");

	int32_t *topk_h = malloc(sizeof(int32_t) * NREQ * TOPK);
	int32_t *out_c = malloc(sizeof(int32_t) * NREQ * TOPK);
	int32_t *out_g = malloc(sizeof(int32_t) * NREQ * TOPK);
	int32_t *topk_d = ess_mem_alloc(gpu, sizeof(int32_t) * NREQ * TOPK);
	int32_t *out_d = ess_mem_alloc(gpu, sizeof(int32_t) * NREQ * TOPK);
	unsigned char *new_d = ess_mem_alloc(gpu, (size_t)NREQ * EB);
	unsigned char *hc = malloc(EB), *hg = malloc(EB);
	ok(topk_d && out_d && new_d, "backend memory allocated");

	uint32_t slot_bad = 0, row_bad = 0, call_bad = 0;
	for (int step = 0; step < STEPS; step++) {
		uint32_t batch[NREQ];
		memcpy(batch, reqs, sizeof(batch));
		for (uint32_t i = NREQ - 1; i > 0; i--) {
			uint32_t j = (uint32_t)(rnd() % (i + 1)), t = batch[i];
			batch[i] = batch[j];
			batch[j] = t;
		}
		for (uint32_t l = 0; l < LAYERS; l++) {
			for (uint32_t b = 0; b < NREQ; b++) {
				uint32_t r = batch[b] - reqs[0];
				next_row(prev[r][l], topk_h + b * TOPK, held[r][l]);
			}
			call_bad += ess_resolve(cpu, l, NREQ, batch, topk_h, out_c, NULL) != 0;
			call_bad += ess_mem_to_backend(gpu, topk_d, topk_h, sizeof(int32_t) * NREQ * TOPK, NULL) != 0;
			call_bad += ess_resolve(gpu, l, NREQ, batch, topk_d, out_d, NULL) != 0;
			call_bad += ess_mem_to_host(gpu, out_g, out_d, sizeof(int32_t) * NREQ * TOPK, NULL) != 0;
			call_bad += ess_sync(gpu, NULL) != 0;
			call_bad += ess_sync(cpu, NULL) != 0;
			for (uint32_t i = 0; i < NREQ * TOPK; i++) {
				slot_bad += out_c[i] != out_g[i];
				if (out_c[i] < 0 || out_c[i] != out_g[i])
					continue;
				/* the row behind the slot id, in both hot buffers and the pool */
				memcpy(hc, (unsigned char *)ess_hot_layer(cpu, l) + (size_t)out_c[i] * EB, EB);
				call_bad += ess_mem_to_host(gpu, hg, (unsigned char *)ess_hot_layer(gpu, l) +
							    (size_t)out_g[i] * EB, EB, NULL) != 0;
				ess_sync(gpu, NULL);
				const void *h = ess_host_row(cpu, batch[i / TOPK], l, (uint32_t)topk_h[i]);
				row_bad += !h || memcmp(hc, hg, EB) || memcmp(hc, h, EB);
			}
			/* decode append of a new token */
			for (size_t i = 0; i < (size_t)NREQ * EB; i++)
				rows[i] = (unsigned char)rnd();
			call_bad += ess_append(cpu, l, NREQ, batch, rows, NULL) != 0;
			call_bad += ess_mem_to_backend(gpu, new_d, rows, (size_t)NREQ * EB, NULL) != 0;
			call_bad += ess_append(gpu, l, NREQ, batch, new_d, NULL) != 0;
			call_bad += ess_sync(gpu, NULL) != 0;
			for (uint32_t b = 0; b < NREQ; b++)
				held[batch[b] - reqs[0]][l]++;
		}
	}
	printf("# %u call failures, %u slot ids differ, %u rows differ (%s)\n", call_bad, slot_bad,
	       row_bad, call_bad ? ess_errmsg(gpu) : "");
	ok(call_bad == 0, "every call succeeded on both backends");
	ok(slot_bad == 0, "slot ids identical on every step and layer");
	ok(row_bad == 0, "rows behind every slot id equal in both hot buffers and the host pool");

	/* appended rows made it to the host pool of the CUDA context */
	bad = 0;
	for (uint32_t r = 0; r < NREQ; r++)
		for (uint32_t l = 0; l < LAYERS; l++) {
			const void *a = ess_host_row(cpu, reqs[r], l, held[r][l] - 1);
			const void *g = ess_host_row(gpu, reqs[r], l, held[r][l] - 1);
			bad += !a || !g || memcmp(a, g, EB) != 0;
		}
	ok(bad == 0, "appended rows written through to the host pool");

	struct ess_stats sc, sg;
	ess_stats_get(cpu, &sc);
	ess_stats_get(gpu, &sg);
#define SAME(f) (sc.f == sg.f ? 0 : (printf("# %s: cpu %llu cuda %llu\n", #f, \
	(unsigned long long)sc.f, (unsigned long long)sg.f), 1))
	bad = SAME(resolves) + SAME(lookups) + SAME(hits) + SAME(misses) + SAME(evictions) +
	      SAME(appends) + SAME(ingested) + SAME(warmups) + SAME(bytes_h2d) + SAME(bytes_d2h) +
	      SAME(data_checks) + SAME(data_check_failures) + SAME(hot_used_bytes);
	for (uint32_t l = 0; l < LAYERS; l++)
		bad += SAME(layer_misses[l]);
	ok(bad == 0, "counters identical (all but time), hot_used_bytes too");
	ok(sc.data_check_failures == 0 && sg.data_check_failures == 0, "no data-check failure");
	/* every (request, layer) was warmed with TOPK - 6 rows and then saw
	 * more distinct tokens than it has slots: all full */
	printf("# hot_used_bytes: cpu %llu cuda %llu\n", (unsigned long long)sc.hot_used_bytes,
	       (unsigned long long)sg.hot_used_bytes);
	ok(sg.hot_used_bytes == (uint64_t)NREQ * LAYERS * SLOTS * EB,
	   "hot_used_bytes: every slot of every request and layer holds a row");
	printf("# fetch_ns: cpu %llu cuda %llu\n", (unsigned long long)sc.fetch_ns,
	       (unsigned long long)sg.fetch_ns);
	/* the timed kernels run one after another on one stream: their GPU
	 * time cannot exceed the wall time of the whole run */
	const uint64_t wall = now_ns() - t_start;
	printf("# wall %llu ns\n", (unsigned long long)wall);
	ok(sg.fetch_ns > 0 && sg.fetch_ns < wall,
	   "CUDA fetch time measured (GPU events), below the run's wall time");

	/* a bad row: token == held */
	uint32_t r0 = reqs[0];
	for (uint32_t b = 0; b < NREQ; b++)
		next_row(prev[b][0], topk_h + b * TOPK, held[b][0]);
	topk_h[5] = (int32_t)held[0][0];
	topk_h[6] = -1;
	rc = ess_resolve(cpu, 0, 1, &r0, topk_h, out_c, NULL);
	ok(rc == -EINVAL, "CPU: out-of-range token refused");
	ess_mem_to_backend(gpu, topk_d, topk_h, sizeof(int32_t) * TOPK, NULL);
	rc = ess_resolve(gpu, 0, 1, &r0, topk_d, out_d, NULL);
	int rs2 = ess_sync(gpu, NULL);
	ess_mem_to_host(gpu, out_g, out_d, sizeof(int32_t) * TOPK, NULL);
	ess_sync(gpu, NULL);
	bad = 0;
	for (uint32_t i = 0; i < TOPK; i++)
		bad += out_g[i] != -1;
	printf("# resolve %d, sync %d: %s\n", rc, rs2, ess_errmsg(gpu));
	ok(rc == 0 && rs2 == -EINVAL && bad == 0,
	   "CUDA: out-of-range token reported by ess_sync, slot ids -1");
	ess_stats_get(cpu, &sc);
	ess_stats_get(gpu, &sg);
	ok(sc.resolves == sg.resolves && sc.hits == sg.hits && sc.misses == sg.misses,
	   "the refused row moved no counter");

	/* a request's removal takes its rows out of hot_used_bytes */
	struct ess_stats before = sg;
	bad = ess_request_remove(cpu, reqs[1]) | ess_request_remove(gpu, reqs[1]);
	ess_stats_get(cpu, &sc);
	ess_stats_get(gpu, &sg);
	printf("# after removal: cpu %llu cuda %llu\n", (unsigned long long)sc.hot_used_bytes,
	       (unsigned long long)sg.hot_used_bytes);
	ok(!bad && sc.hot_used_bytes == sg.hot_used_bytes &&
	   sg.hot_used_bytes == before.hot_used_bytes - (uint64_t)LAYERS * SLOTS * EB,
	   "request removed: hot_used_bytes lower by its slots on both backends");

	ess_mem_free(gpu, topk_d);
	ess_mem_free(gpu, out_d);
	ess_mem_free(gpu, new_d);
	ess_destroy(gpu);
	ess_destroy(cpu);
	free(rows);
	free(topk_h);
	free(out_c);
	free(out_g);
	free(hc);
	free(hg);
	return 0;
}

int main(void)
{
	const char *seed = getenv("ESS_SEED");

	rs = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) | 1;
	/* build/tests/gpu/backend-cuda -> build/libess-cuda.so */
	if (!getenv("ESS_CUDA_LIB")) {
		char exe[4096], lib[4200];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = 0;
			char *slash = strrchr(exe, '/');
			if (slash)
				*slash = 0;
			snprintf(lib, sizeof(lib), "%s/../../libess-cuda.so", exe);
			setenv("ESS_CUDA_LIB", lib, 1);
		}
	}
	printf("# seed %llu\n", (unsigned long long)rs);
	int rc = compare(0);
	if (rc == -ENODEV) {
		printf("1..0 # SKIP no CUDA device\n");
		return 0;
	}
	if (rc == 0) {
		pass_name = "copy engine: ";
		printf("# the same with ESS_CFG_FETCH_CE: misses fetched by the copy engine\n");
		compare(ESS_CFG_FETCH_CE);
	}
	printf("1..%d\n", n_tests);
	return n_fail ? 1 : 0;
}
