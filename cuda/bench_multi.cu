/* SPDX-License-Identifier: MIT */
/*
 * ess-bench-fetch-multi: the multi-GPU check.  One host thread and CUDA
 * context per GPU; each GPU's host pool is allocated on the GPU's NUMA
 * node (the thread runs there, libnuma, and touches its pinned pages
 * first); each GPU gathers a batch-64, 10%-miss
 * list (656-B rows, sorted, over its own 2 GiB pool), first alone, then
 * all GPUs at once.  Prints one table: GPU, NUMA node, bulk H2D, gather
 * alone, gather concurrent (GB/s).  Every gathered row is checked.
 */
#include <numa.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

#include "ess_cuda.h"

#define ROW 656u
#define POOL (2ull << 30)
#define BATCH 64u
#define MISS 205u	/* 10% of top-k 2048 */
#define SLOTS 6144u
#define REPS 15

#define CK(x)                                                                          \
	do {                                                                           \
		cudaError_t e_ = (x);                                                  \
		if (e_ != cudaSuccess) {                                               \
			fprintf(stderr, "gpu %d: %s: %s\n", g->dev, #x, cudaGetErrorString(e_)); \
			exit(1);                                                       \
		}                                                                      \
	} while (0)

struct gpu {
	int dev, node;
	unsigned char *pool;
	void *pool_d;
	unsigned char *hot;
	uint64_t *off_d;
	int32_t *slot_d;
	uint32_t *cnt_d;
	std::vector<uint64_t> off;
	std::vector<int32_t> slot;
	cudaStream_t s;
	double bulk, alone, together;
	int bad;
};

static pthread_barrier_t bar;

static double gather_ms(struct gpu *g)
{
	cudaEvent_t a, b;
	struct ess_fetch_list l = {g->off_d, g->slot_d, g->cnt_d, 1, (uint32_t)g->off.size()};
	CK(cudaEventCreate(&a));
	CK(cudaEventCreate(&b));
	std::vector<float> v;
	for (int i = 0; i < REPS; i++) {
		CK(cudaEventRecord(a, g->s));
		if (ess_cuda_gather(g->pool_d, g->hot, ROW, &l, NULL, g->s))
			exit(1);
		CK(cudaEventRecord(b, g->s));
		CK(cudaEventSynchronize(b));
		float ms;
		CK(cudaEventElapsedTime(&ms, a, b));
		v.push_back(ms);
	}
	std::sort(v.begin(), v.end());
	cudaEventDestroy(a);
	cudaEventDestroy(b);
	return v[v.size() / 2];
}

static void *run(void *arg)
{
	struct gpu *g = (struct gpu *)arg;
	CK(cudaSetDevice(g->dev));
	int node = -1;
	if (cudaDeviceGetAttribute(&node, cudaDevAttrHostNumaId, g->dev) != cudaSuccess || node < 0)
		node = 0;
	(void)cudaGetLastError();
	g->node = node;
	/* this thread and its allocations on the GPU's node: the pinned
	 * pages are placed where they are first touched (here) */
	if (numa_available() >= 0) {
		numa_run_on_node(node);
		numa_set_preferred(node);
	}
	CK(cudaHostAlloc((void **)&g->pool, POOL, cudaHostAllocMapped | cudaHostAllocPortable));
	for (uint64_t i = 0; i < POOL / 8; i++)
		((uint64_t *)g->pool)[i] = i * 0x9E3779B97F4A7C15ull + (uint64_t)g->dev;
	CK(cudaHostGetDevicePointer(&g->pool_d, g->pool, 0));
	CK(cudaStreamCreateWithFlags(&g->s, cudaStreamNonBlocking));
	CK(cudaMalloc(&g->hot, (uint64_t)BATCH * SLOTS * ROW));
	/* the list: per request MISS sorted rows in a 32K-row window of its
	 * slice, distinct slots */
	uint64_t rs = 0x1234567 + g->dev;
	auto rnd = [&]() { rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17; return rs; };
	const uint64_t rows = POOL / ROW, span = rows / BATCH;
	for (uint32_t b = 0; b < BATCH; b++) {
		std::vector<uint64_t> r;
		const uint64_t base = b * span + rnd() % (span - 32768);
		while (r.size() < MISS) {
			r.push_back(base + rnd() % 32768);
			if (r.size() == MISS) {
				std::sort(r.begin(), r.end());
				r.erase(std::unique(r.begin(), r.end()), r.end());
			}
		}
		for (uint32_t i = 0; i < MISS; i++) {
			g->off.push_back(r[i] * ROW);
			g->slot.push_back((int32_t)(b * SLOTS + i * 7 % SLOTS));
		}
	}
	const uint32_t n = (uint32_t)g->off.size();
	CK(cudaMalloc(&g->off_d, 8ull * n));
	CK(cudaMalloc(&g->slot_d, 4ull * n));
	CK(cudaMalloc(&g->cnt_d, 4));
	CK(cudaMemcpy(g->off_d, g->off.data(), 8ull * n, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(g->slot_d, g->slot.data(), 4ull * n, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(g->cnt_d, &n, 4, cudaMemcpyHostToDevice));
	/* bulk ceiling of this GPU from its own node */
	{
		cudaEvent_t a, b;
		CK(cudaEventCreate(&a));
		CK(cudaEventCreate(&b));
		std::vector<float> v;
		for (int i = 0; i < 5; i++) {
			CK(cudaEventRecord(a, g->s));
			CK(cudaMemcpyAsync(g->hot, g->pool_d, 128ull << 20, cudaMemcpyDefault, g->s));
			CK(cudaEventRecord(b, g->s));
			CK(cudaEventSynchronize(b));
			float ms;
			CK(cudaEventElapsedTime(&ms, a, b));
			v.push_back(ms);
		}
		std::sort(v.begin(), v.end());
		g->bulk = (128ull << 20) / (v[2] * 1e6);
	}
	const double bytes = (double)n * ROW;
	pthread_barrier_wait(&bar);	/* alone: one GPU at a time */
	for (int turn = 0; turn < 64; turn++) {
		if (turn == g->dev)
			g->alone = bytes / (gather_ms(g) * 1e6);
		pthread_barrier_wait(&bar);
	}
	g->together = bytes / (gather_ms(g) * 1e6);	/* all at once */
	pthread_barrier_wait(&bar);
	/* check every row */
	std::vector<unsigned char> h((size_t)BATCH * SLOTS * ROW);
	CK(cudaMemcpy(h.data(), g->hot, h.size(), cudaMemcpyDeviceToHost));
	for (uint32_t i = 0; i < n; i++)
		g->bad += memcmp(h.data() + (size_t)g->slot[i] * ROW, g->pool + g->off[i], ROW) != 0;
	cudaFreeHost(g->pool);
	return NULL;
}

int main(void)
{
	int n = 0;
	if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
		printf("ess-bench fetch multi: no CUDA device\n");
		return 0;
	}
	if (n > 64)
		n = 64;
	std::vector<struct gpu> g(n);
	std::vector<pthread_t> t(n);
	pthread_barrier_init(&bar, NULL, n);
	for (int i = 0; i < n; i++) {
		g[i].dev = i;
		g[i].bad = 0;
		pthread_create(&t[i], NULL, run, &g[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	printf("## Multi-GPU fetch (%d GPUs; batch %u, %u misses/request, %u-B rows, pool per GPU on its NUMA node)\n\n",
	       n, BATCH, MISS, ROW);
	printf("| GPU | NUMA node | bulk H2D GB/s | gather alone GB/s | gather, all GPUs at once GB/s | rows wrong |\n|---|---|---|---|---|---|\n");
	int bad = 0;
	for (int i = 0; i < n; i++) {
		printf("| %d | %d | %.1f | %.1f | %.1f | %d |\n", i, g[i].node, g[i].bulk, g[i].alone,
		       g[i].together, g[i].bad);
		bad += g[i].bad;
	}
	return bad ? 1 : 0;
}
