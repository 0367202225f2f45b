/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend of libess (build/libess-cuda.so, loaded with dlopen by
 * runtime/backend.c; interface: runtime/backend.h).
 *
 * Device memory: the hot buffer ([layer][req][slot] rows), the hot-set
 * state ([layer][req][slot] token/key/freq, [layer][req] t), mirrors of the
 * core's extent table and token counts, and per-call scratch (request ids,
 * fetch lists, counters, the error word).  A resolve is one management
 * kernel and one gather queued on the caller's stream; the host reads back
 * only at sync (error word, counters).  Table updates from map_changed go
 * out on the backend's own stream, and the next kernels wait on its event.
 *
 * Counters follow the CPU backend exactly (runtime/backend_cpu.c): resolve
 * counts resolves, lookups, hits, misses, evictions, bytes_h2d and per-layer
 * misses; warm-up counts warmups, evictions and bytes_h2d; append counts
 * appends, bytes_d2h and evictions.  The level hot_used_bytes moves by the
 * fills minus the evictions of every kind at each flush, and request_reset
 * (which syncs anyway) flushes, counts the request's held slots with a
 * small kernel and subtracts them: equal to the CPU backend's after every
 * flush.
 *
 * fetch_ns is GPU time: a pair of timing events brackets each resolve's
 * (and warm-up's) management and fetch kernels on the caller's stream, and
 * the elapsed times are added at the next flush, which synchronises the
 * device anyway (ess_sync, ess_stats_get): no synchronisation is added to
 * the resolve path.  It covers the hot-set management (hit detection,
 * victim choice) as well as the copy, which are one unit of GPU work here;
 * the CPU backend times the copy only.  An idle GPU starts the bracket
 * when the start event is recorded, so a launch gap can be included.  Not
 * timed: resolves queued while the stream is being captured into a graph
 * (such events cannot be timed), and resolves that find all FETCH_TIMERS
 * pairs still in flight (only when the host runs that far ahead of the GPU
 * without a flush).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

extern "C" {
#include "backend.h"
}
#include "ess/hotset.h"
#include "ess_cuda.h"

enum { CNT_RESOLVE = 0, CNT_WARMUP = 1, CNT_APPEND = 2, NCNT = 3 };

/* Timing event pairs in flight between flushes (a ring). */
#define FETCH_TIMERS 256

struct cuda_be {
	int dev;
	unsigned char *hot;	/* layers * max_requests * slots * entry_bytes */
	int32_t *tok;
	uint64_t *key;
	uint32_t *freq, *t;
	/* token -> slot maps, [layers][max_requests][map_cap] (see struct
	 * ess_manage_args); NULL where they do not apply or fit */
	uint16_t *smap;
	uint64_t map_cap;
	/* LRU orders [layers][max_requests][slots] and their tails
	 * [layers][max_requests][2] (see struct ess_manage_args); NULL where
	 * they do not apply or fit */
	uint16_t *sord;
	uint32_t *sord_tail;
	uint64_t *ext_d;	/* mirror of be->extent_off */
	uint32_t *ntok_d;	/* mirror of be->ntokens */
	const void *pool_d;	/* device address of the host pool */
	int registered;		/* we registered the pool */
	/* scratch, sized for max_requests * topk */
	uint32_t *reqs_d;
	int32_t *rows_d;	/* append/warm-up rows */
	int32_t *slots_d;	/* append/warm-up slot ids */
	uint64_t *moff_d;
	int32_t *mslot_d, *mtok_d;
	uint32_t *nmiss_d;
	int32_t *err_d;
	/* counters: [kind][layer][ESS_CUDA_NCOUNTERS] on the device, and
	 * what was already added to be->stats */
	uint64_t *cnt_d;
	uint64_t *cnt_seen;
	uint64_t *cnt_now;
	uint64_t *off_h;	/* append: host offsets */
	int32_t *idx_h;
	cudaStream_t up;	/* table uploads */
	cudaEvent_t up_done;
	int up_pending;
	unsigned long long *held_d;	/* request_reset: slots that held a row */
	/* fetch_ns: event pairs [2i] start, [2i+1] end, queued oldest first
	 * from ft_head, ft_n of them */
	cudaEvent_t ft[2 * FETCH_TIMERS];
	uint32_t ft_head, ft_n;
	/* ESS_CFG_FETCH_CE: the management kernel's miss list brought to the
	 * host (pinned), per batch row, compacted in place for the copy
	 * engine */
	uint32_t *ce_nmiss_h;
	uint64_t *ce_off_h;
	int32_t *ce_slot_h;
};

static int fail(struct ess_backend *be, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ess_backend *be, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(be->err, be->errlen, fmt, ap);
	va_end(ap);
	return err;
}

static int cfail(struct ess_backend *be, cudaError_t e, const char *what)
{
	(void)cudaGetLastError();
	return fail(be, -EIO, "cuda backend: %s: %s", what, cudaGetErrorString(e));
}

#define CK(be, call)                                                   \
	do {                                                           \
		cudaError_t e_ = (call);                               \
		if (e_ != cudaSuccess)                                 \
			return cfail(be, e_, #call);                   \
	} while (0)

static uint64_t nslots_total(const struct ess_backend_geom *g)
{
	return (uint64_t)g->layers * g->max_requests * g->slots;
}

static int cuda_probe(int32_t device, int32_t *numa_node, char *err, size_t errlen)
{
	int n = 0;
	*numa_node = -1;
	if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
		(void)cudaGetLastError();
		snprintf(err, errlen, "cuda backend: no CUDA device");
		return -ENODEV;
	}
	if (device < 0 || device >= n) {
		snprintf(err, errlen, "cuda backend: device %d out of range (%d devices)", device, n);
		return -ENODEV;
	}
	int node = -1;
	if (cudaDeviceGetAttribute(&node, cudaDevAttrHostNumaId, device) == cudaSuccess && node >= 0)
		*numa_node = node;
	(void)cudaGetLastError();
	return 0;
}

static void cuda_fini(struct ess_backend *be)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	if (!cb)
		return;
	cudaSetDevice(cb->dev);
	cudaDeviceSynchronize();
	void *d[] = {cb->hot, cb->tok, cb->key, cb->freq, cb->t, cb->ext_d, cb->ntok_d,
		     cb->reqs_d, cb->rows_d, cb->slots_d, cb->moff_d, cb->mslot_d, cb->mtok_d,
		     cb->nmiss_d, cb->err_d, cb->cnt_d, cb->held_d, cb->smap,
		     cb->sord, cb->sord_tail};
	for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
		if (d[i])
			cudaFree(d[i]);
	if (cb->registered)
		cudaHostUnregister(be->pool_base);
	if (cb->up_done)
		cudaEventDestroy(cb->up_done);
	for (int i = 0; i < 2 * FETCH_TIMERS; i++)
		if (cb->ft[i])
			cudaEventDestroy(cb->ft[i]);
	if (cb->up)
		cudaStreamDestroy(cb->up);
	void *ph[] = {cb->ce_nmiss_h, cb->ce_off_h, cb->ce_slot_h};
	for (size_t i = 0; i < sizeof(ph) / sizeof(ph[0]); i++)
		if (ph[i])
			cudaFreeHost(ph[i]);
	free(cb->cnt_seen);
	free(cb->cnt_now);
	free(cb->off_h);
	free(cb->idx_h);
	(void)cudaGetLastError();
	free(cb);
	be->priv = NULL;
}

static struct ess_manage_args manage_args(struct ess_backend *be, uint32_t layer, uint32_t kind);

static int cuda_init(struct ess_backend *be)
{
	const struct ess_backend_geom *g = &be->geom;
	struct cuda_be *cb = (struct cuda_be *)calloc(1, sizeof(*cb));
	if (!cb)
		return fail(be, -ENOMEM, "cuda backend: out of memory");
	be->priv = cb;
	cb->dev = g->device;
	int ret = 0;
#define TRY(call)                                                      \
	do {                                                           \
		cudaError_t e_ = (call);                               \
		if (e_ != cudaSuccess) {                               \
			ret = cfail(be, e_, #call);                    \
			goto out;                                      \
		}                                                      \
	} while (0)
	{
		TRY(cudaSetDevice(cb->dev));
		const uint64_t ns = nslots_total(g);
		const uint64_t nmap = (uint64_t)g->max_requests * g->layers;
		const uint64_t nk = (uint64_t)g->max_requests * g->topk;
		const uint64_t ncnt = (uint64_t)NCNT * g->layers * ESS_CUDA_NCOUNTERS;
		TRY(cudaMalloc(&cb->hot, ns * g->entry_bytes));
		TRY(cudaMalloc(&cb->tok, ns * 4));
		TRY(cudaMalloc(&cb->key, ns * 8));
		TRY(cudaMalloc(&cb->freq, ns * 4));
		TRY(cudaMalloc(&cb->t, nmap * 4));
		TRY(cudaMalloc(&cb->ext_d, nmap * g->max_extents * 8));
		TRY(cudaMalloc(&cb->ntok_d, nmap * 4));
		TRY(cudaMalloc(&cb->reqs_d, (uint64_t)g->max_requests * 4));
		TRY(cudaMalloc(&cb->rows_d, nk * 4 > (uint64_t)g->slots * 4 ? nk * 4 : (uint64_t)g->slots * 4));
		TRY(cudaMalloc(&cb->slots_d, nk * 4 > (uint64_t)g->slots * 4 ? nk * 4 : (uint64_t)g->slots * 4));
		TRY(cudaMalloc(&cb->moff_d, nk * 8 > (uint64_t)g->slots * 8 ? nk * 8 : (uint64_t)g->slots * 8));
		TRY(cudaMalloc(&cb->mslot_d, nk * 4 > (uint64_t)g->slots * 4 ? nk * 4 : (uint64_t)g->slots * 4));
		TRY(cudaMalloc(&cb->mtok_d, nk * 4 > (uint64_t)g->slots * 4 ? nk * 4 : (uint64_t)g->slots * 4));
		TRY(cudaMalloc(&cb->nmiss_d, (uint64_t)g->max_requests * 4));
		TRY(cudaMalloc(&cb->err_d, 8));
		TRY(cudaMalloc(&cb->cnt_d, ncnt * 8));
		TRY(cudaMalloc(&cb->held_d, 8));
		TRY(cudaMemset(cb->tok, 0xff, ns * 4));
		TRY(cudaMemset(cb->key, 0, ns * 8));
		TRY(cudaMemset(cb->freq, 0, ns * 4));
		TRY(cudaMemset(cb->t, 0, nmap * 4));
		TRY(cudaMemset(cb->err_d, 0, 8));
		TRY(cudaMemset(cb->cnt_d, 0, ncnt * 8));
		TRY(cudaMemcpy(cb->ext_d, be->extent_off, nmap * g->max_extents * 8,
			       cudaMemcpyHostToDevice));
		TRY(cudaMemcpy(cb->ntok_d, be->ntokens, nmap * 4, cudaMemcpyHostToDevice));
		/* The management kernels find hits through a token -> slot map
		 * (2 bytes a token a request can hold) when the slot ids fit
		 * its entries and it fits the GPU; else by hashing each row,
		 * which gives the same result more slowly. */
		cb->map_cap = (uint64_t)g->max_extents * g->extent_tokens;
		if (g->slots < ESS_MAP_NONE && cb->map_cap <= UINT32_MAX) {
			const uint64_t mb = (uint64_t)g->layers * g->max_requests * cb->map_cap * 2;
			if (cudaMalloc(&cb->smap, mb) == cudaSuccess) {
				TRY(cudaMemset(cb->smap, 0xff, mb));
			} else {
				(void)cudaGetLastError();
				cb->smap = NULL;
			}
		}
		/* Under LRU with the map, the slots kept in (key, slot) order
		 * make the victims the first entries of the order: no pass
		 * over every slot's key.  Tails start stale: the first resolve
		 * of each hot set builds its order. */
		if (cb->smap && g->policy == ESS_POLICY_LRU && g->slots <= ESS_ORDER_MAX_SLOTS) {
			const uint64_t nh = (uint64_t)g->layers * g->max_requests;
			if (cudaMalloc(&cb->sord, nh * g->slots * 2) == cudaSuccess &&
			    cudaMalloc(&cb->sord_tail, nh * 8) == cudaSuccess) {
				TRY(cudaMemset(cb->sord_tail, 0xff, nh * 8));
			} else {
				(void)cudaGetLastError();
			}
			/* kept only where the order kernel takes these shapes
			 * (its shared memory grows with the tokens a request
			 * can hold) */
			struct ess_manage_args a = manage_args(be, 0, CNT_RESOLVE);
			if (!cb->sord_tail || ess_cuda_manage_kernel(&a) != ESS_MANAGE_KERNEL_ORDER) {
				if (cb->sord)
					cudaFree(cb->sord);
				if (cb->sord_tail)
					cudaFree(cb->sord_tail);
				cb->sord = NULL;
				cb->sord_tail = NULL;
			}
		}
		cb->cnt_seen = (uint64_t *)calloc(ncnt, 8);
		cb->cnt_now = (uint64_t *)calloc(ncnt, 8);
		cb->off_h = (uint64_t *)calloc(g->max_requests, 8);
		cb->idx_h = (int32_t *)calloc(g->max_requests, 4);
		if (!cb->cnt_seen || !cb->cnt_now || !cb->off_h || !cb->idx_h) {
			ret = fail(be, -ENOMEM, "cuda backend: out of memory");
			goto out;
		}
		/* The pool for UVA reads and writes; a pool already pinned (by
		 * another context or the module's pages) is used as is. */
		cudaError_t e = cudaHostRegister(be->pool_base, be->pool_bytes,
						 cudaHostRegisterMapped | cudaHostRegisterPortable);
		if (e == cudaSuccess) {
			cb->registered = 1;
		} else if (e == cudaErrorHostMemoryAlreadyRegistered) {
			(void)cudaGetLastError();
		} else {
			ret = cfail(be, e, "cudaHostRegister of the host pool");
			goto out;
		}
		void *pd = NULL;
		TRY(cudaHostGetDevicePointer(&pd, be->pool_base, 0));
		cb->pool_d = pd;
		if (g->flags & ESS_CFG_FETCH_CE) {
			TRY(cudaMallocHost((void **)&cb->ce_nmiss_h, (uint64_t)g->max_requests * 4));
			TRY(cudaMallocHost((void **)&cb->ce_off_h, nk * 8));
			TRY(cudaMallocHost((void **)&cb->ce_slot_h, nk * 4));
		}
		TRY(cudaStreamCreateWithFlags(&cb->up, cudaStreamNonBlocking));
		TRY(cudaEventCreateWithFlags(&cb->up_done, cudaEventDisableTiming));
		for (int i = 0; i < 2 * FETCH_TIMERS; i++)
			TRY(cudaEventCreate(&cb->ft[i]));
		TRY(cudaDeviceSynchronize());
	}
#undef TRY
	return 0;
out:
	cuda_fini(be);
	return ret;
}

static void *cuda_hot_layer(struct ess_backend *be, uint32_t layer)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	return cb->hot + (uint64_t)layer * g->max_requests * g->slots * g->entry_bytes;
}

static int cuda_map_changed(struct ess_backend *be, uint32_t req, uint32_t layer)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	const uint64_t m = (uint64_t)req * g->layers + layer;
	CK(be, cudaSetDevice(cb->dev));
	/* the tables live in the (registered) pool: asynchronous copies */
	CK(be, cudaMemcpyAsync(cb->ext_d + m * g->max_extents, be->extent_off + m * g->max_extents,
			       (size_t)g->max_extents * 8, cudaMemcpyHostToDevice, cb->up));
	CK(be, cudaMemcpyAsync(cb->ntok_d + m, be->ntokens + m, 4, cudaMemcpyHostToDevice, cb->up));
	CK(be, cudaEventRecord(cb->up_done, cb->up));
	cb->up_pending = 1;
	return 0;
}

/* Order the caller's stream after the table uploads. */
static int wait_tables(struct ess_backend *be, cudaStream_t s)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	if (cb->up_pending)
		CK(be, cudaStreamWaitEvent(s, cb->up_done, 0));
	return 0;
}

static int cuda_stats_flush(struct ess_backend *be);

/* Slots of one request that hold a row, over the layers (blockIdx.y):
 * tok points at the request's first slot of layer 0. */
__global__ void count_held_k(const int32_t *tok, uint32_t slots, uint64_t layer_stride,
			     unsigned long long *held)
{
	const int32_t *t = tok + (uint64_t)blockIdx.y * layer_stride;
	unsigned long long n = 0;
	for (uint32_t s = blockIdx.x * blockDim.x + threadIdx.x; s < slots; s += gridDim.x * blockDim.x)
		n += t[s] >= 0;
	for (int o = 16; o > 0; o >>= 1)
		n += __shfl_down_sync(0xffffffffu, n, o);
	if ((threadIdx.x & 31) == 0 && n)
		atomicAdd(held, n);
}

static int cuda_request_reset(struct ess_backend *be, uint32_t req)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	CK(be, cudaSetDevice(cb->dev));
	CK(be, cudaDeviceSynchronize());
	/* The fills of the work just finished reach hot_used_bytes before
	 * the rows this request held leave it. */
	int ret = cuda_stats_flush(be);
	if (ret)
		return ret;
	unsigned long long held = 0;
	const uint32_t gx = g->slots / 256 + 1 < 64 ? g->slots / 256 + 1 : 64;
	CK(be, cudaMemset(cb->held_d, 0, 8));
	count_held_k<<<dim3(gx, g->layers), 256>>>(cb->tok + (uint64_t)req * g->slots, g->slots,
						   (uint64_t)g->max_requests * g->slots, cb->held_d);
	CK(be, cudaGetLastError());
	CK(be, cudaMemcpy(&held, cb->held_d, 8, cudaMemcpyDeviceToHost));
	for (uint32_t l = 0; l < g->layers; l++) {
		const uint64_t base = ((uint64_t)l * g->max_requests + req) * g->slots;
		CK(be, cudaMemset(cb->tok + base, 0xff, (size_t)g->slots * 4));
		CK(be, cudaMemset(cb->key + base, 0, (size_t)g->slots * 8));
		CK(be, cudaMemset(cb->freq + base, 0, (size_t)g->slots * 4));
		CK(be, cudaMemset(cb->t + (uint64_t)l * g->max_requests + req, 0, 4));
		if (cb->smap)
			CK(be, cudaMemset(cb->smap + ((uint64_t)l * g->max_requests + req) * cb->map_cap,
					  0xff, cb->map_cap * 2));
		if (cb->sord_tail)	/* stale: rebuilt from the cleared keys */
			CK(be, cudaMemset(cb->sord_tail + ((uint64_t)l * g->max_requests + req) * 2,
					  0xff, 8));
	}
	CK(be, cudaDeviceSynchronize());
	be->stats->hot_used_bytes -= (uint64_t)held * g->entry_bytes;
	return 0;
}

/*
 * fetch_ns.  ft_begin records the start event of a free pair on the
 * stream (or returns -1: not timed), ft_end the end event, which queues
 * the pair.  ft_take_oldest never waits: it adds the oldest pair's time
 * if its end has been reached and returns 1 when the pair left the queue.
 */
static int ft_take_oldest(struct ess_backend *be)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	if (!cb->ft_n)
		return 0;
	const uint32_t i = cb->ft_head;
	cudaError_t e = cudaEventQuery(cb->ft[2 * i + 1]);
	if (e == cudaErrorNotReady) {
		(void)cudaGetLastError();
		return 0;
	}
	float ms = 0;
	if (e == cudaSuccess &&
	    cudaEventElapsedTime(&ms, cb->ft[2 * i], cb->ft[2 * i + 1]) == cudaSuccess && ms > 0)
		be->stats->fetch_ns += (uint64_t)((double)ms * 1e6 + 0.5);
	else
		(void)cudaGetLastError();	/* pair dropped, not timed */
	cb->ft_head = (cb->ft_head + 1) % FETCH_TIMERS;
	cb->ft_n--;
	return 1;
}

static int ft_begin(struct ess_backend *be, cudaStream_t s)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
	if (cudaStreamIsCapturing(s, &cs) != cudaSuccess) {
		(void)cudaGetLastError();
		return -1;
	}
	if (cs != cudaStreamCaptureStatusNone)
		return -1;
	if (cb->ft_n == FETCH_TIMERS && !ft_take_oldest(be))
		return -1;
	const int i = (int)((cb->ft_head + cb->ft_n) % FETCH_TIMERS);
	if (cudaEventRecord(cb->ft[2 * i], s) != cudaSuccess) {
		(void)cudaGetLastError();
		return -1;
	}
	return i;
}

static void ft_end(struct ess_backend *be, int i, cudaStream_t s)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	if (i < 0)
		return;
	if (cudaEventRecord(cb->ft[2 * i + 1], s) != cudaSuccess) {
		(void)cudaGetLastError();
		return;
	}
	cb->ft_n++;
}

static struct ess_manage_args manage_args(struct ess_backend *be, uint32_t layer, uint32_t kind)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	const uint64_t lb = (uint64_t)layer * g->max_requests * g->slots;
	struct ess_manage_args a;
	memset(&a, 0, sizeof(a));
	a.hs_token = cb->tok + lb;
	a.hs_key = cb->key + lb;
	a.hs_freq = cb->freq + lb;
	a.hs_t = cb->t + (uint64_t)layer * g->max_requests;
	if (cb->smap) {
		a.hs_map = cb->smap + (uint64_t)layer * g->max_requests * cb->map_cap;
		a.map_cap = (uint32_t)cb->map_cap;
	}
	if (cb->sord) {
		a.hs_order = cb->sord + (uint64_t)layer * g->max_requests * g->slots;
		a.hs_order_tail = cb->sord_tail + (uint64_t)layer * g->max_requests * 2;
	}
	a.slots = g->slots;
	a.topk = g->topk;
	a.policy = g->policy;
	a.reqs = cb->reqs_d;
	a.extent_off = cb->ext_d;
	a.ntokens = cb->ntok_d;
	a.layers = g->layers;
	a.layer = layer;
	a.max_extents = g->max_extents;
	a.extent_shift = (uint32_t)__builtin_ctz(g->extent_tokens);
	a.entry_bytes = g->entry_bytes;
	a.miss_off = cb->moff_d;
	a.miss_slot = cb->mslot_d;
	a.miss_token = cb->mtok_d;
	a.nmiss = cb->nmiss_d;
	a.counters = cb->cnt_d + ((uint64_t)kind * g->layers + layer) * ESS_CUDA_NCOUNTERS;
	a.err = cb->err_d;
	a.host_base = cb->pool_d;
	a.hot_base = cuda_hot_layer(be, layer);
	a.do_fetch = 1;
	return a;
}

static int manage_fail(struct ess_backend *be, int rc, const char *what)
{
	return fail(be, rc, "cuda backend: %s: %s", what, ess_cuda_last_error());
}

static int cuda_warmup(struct ess_backend *be, uint32_t req, uint32_t layer,
		       const int32_t *tokens, uint32_t n)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	if (n == 0)
		return 0;
	if (n > (uint64_t)g->max_requests * g->topk && n > g->slots)
		return fail(be, -EINVAL, "cuda backend: warm-up of %u tokens is longer than its scratch", n);
	CK(be, cudaSetDevice(cb->dev));
	CK(be, wait_tables(be, 0) ? cudaErrorUnknown : cudaSuccess);
	CK(be, cudaMemcpy(cb->reqs_d, &req, 4, cudaMemcpyHostToDevice));
	CK(be, cudaMemcpy(cb->rows_d, tokens, (size_t)n * 4, cudaMemcpyHostToDevice));
	struct ess_manage_args a = manage_args(be, layer, CNT_WARMUP);
	a.nreq = 1;
	a.topk = n;
	a.topk_rows = cb->rows_d;
	a.slots_out = cb->slots_d;
	const int ft = ft_begin(be, 0);
	int rc = ess_cuda_manage(&a, g->max_requests, 0);
	if (rc)
		return manage_fail(be, rc, "warm-up");
	ft_end(be, ft, 0);
	CK(be, cudaDeviceSynchronize());
	int32_t err[2];
	CK(be, cudaMemcpy(err, cb->err_d, 8, cudaMemcpyDeviceToHost));
	if (err[0]) {
		CK(be, cudaMemset(cb->err_d, 0, 8));
		return fail(be, -EINVAL, "cuda backend: warm-up of request %u layer %u: %s", req, layer,
			    ess_cuda_err_name(err[0]));
	}
	return 0;
}

/* Row i of the appended rows into the slot the hot set gave it. */
__global__ void append_rows_k(const unsigned char *rows, unsigned char *hot, const int32_t *slots,
			      uint32_t n, uint32_t eb)
{
	for (uint32_t i = blockIdx.x; i < n; i += gridDim.x) {
		const int32_t s = slots[i];
		if (s < 0)
			continue;
		for (uint32_t b = threadIdx.x; b < eb; b += blockDim.x)
			hot[(uint64_t)s * eb + b] = rows[(uint64_t)i * eb + b];
	}
}

/* The appended token is one more held by each (req, layer). */
__global__ void bump_ntok_k(uint32_t *ntok, const uint32_t *reqs, uint32_t n, uint32_t layers,
			    uint32_t layer)
{
	const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
	if (i < n)
		ntok[(uint64_t)reqs[i] * layers + layer] += 1;
}

static int cuda_append(struct ess_backend *be, uint32_t layer, uint32_t nreq,
		       const uint32_t *reqs, const uint32_t *pos, const void *rows, void *stream)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	cudaStream_t s = (cudaStream_t)stream;
	if (nreq == 0)
		return 0;
	CK(be, cudaSetDevice(cb->dev));
	if (wait_tables(be, s))
		return -EIO;
	/* 1. write-through: device rows -> host pool */
	for (uint32_t i = 0; i < nreq; i++) {
		const uint64_t *tab = be->extent_off +
				      ((uint64_t)reqs[i] * g->layers + layer) * g->max_extents;
		cb->off_h[i] = tab[pos[i] / g->extent_tokens] +
			       (uint64_t)(pos[i] % g->extent_tokens) * g->entry_bytes;
		cb->idx_h[i] = (int32_t)i;
	}
	/* pageable sources: staged before the calls return */
	CK(be, cudaMemcpyAsync(cb->moff_d, cb->off_h, (size_t)nreq * 8, cudaMemcpyHostToDevice, s));
	CK(be, cudaMemcpyAsync(cb->mslot_d, cb->idx_h, (size_t)nreq * 4, cudaMemcpyHostToDevice, s));
	CK(be, cudaMemcpyAsync(cb->nmiss_d, &nreq, 4, cudaMemcpyHostToDevice, s));
	CK(be, cudaMemcpyAsync(cb->reqs_d, reqs, (size_t)nreq * 4, cudaMemcpyHostToDevice, s));
	CK(be, cudaMemcpyAsync(cb->rows_d, pos, (size_t)nreq * 4, cudaMemcpyHostToDevice, s));
	struct ess_fetch_list l = {cb->moff_d, cb->mslot_d, cb->nmiss_d, 1, nreq};
	int rc = ess_cuda_scatter((void *)cb->pool_d, rows, g->entry_bytes, &l, NULL, stream);
	if (rc)
		return manage_fail(be, rc, "append write-through");
	/* 2. the token count the core will publish after this call */
	bump_ntok_k<<<(nreq + 255) / 256, 256, 0, s>>>(cb->ntok_d, cb->reqs_d, nreq, g->layers, layer);
	CK(be, cudaGetLastError());
	/* 3. insert at the current t (one-entry rows, no tick), then the row
	 * into its slot */
	struct ess_manage_args a = manage_args(be, layer, CNT_APPEND);
	a.nreq = nreq;
	a.topk = 1;
	a.topk_rows = cb->rows_d;
	a.slots_out = cb->slots_d;
	a.do_fetch = 0;
	a.flags = ESS_MANAGE_NO_TICK;
	/* the fetch list scratch is still read by the scatter above: the
	 * management kernel writes the same arrays, but stream order keeps
	 * them apart */
	rc = ess_cuda_manage(&a, g->max_requests, stream);
	if (rc)
		return manage_fail(be, rc, "append insert");
	append_rows_k<<<nreq < 1024 ? nreq : 1024, 128, 0, s>>>((const unsigned char *)rows,
								(unsigned char *)cuda_hot_layer(be, layer),
								cb->slots_d, nreq, g->entry_bytes);
	CK(be, cudaGetLastError());
	return 0;
}

/*
 * ESS_CFG_FETCH_CE: the misses of a resolve whose management kernel ran
 * without its gather.  The miss list (per batch row, sorted by host
 * offset) comes to the host, rows rejected by the kernel have none, and
 * the copy engine copies them, runs adjacent on both sides merged into one
 * copy (ess_cuda_copy_ce).
 */
static int fetch_ce(struct ess_backend *be, uint32_t layer, uint32_t nreq, cudaStream_t s)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	const uint64_t nk = (uint64_t)nreq * g->topk;
	CK(be, cudaMemcpyAsync(cb->ce_nmiss_h, cb->nmiss_d, (size_t)nreq * 4, cudaMemcpyDeviceToHost, s));
	CK(be, cudaMemcpyAsync(cb->ce_off_h, cb->moff_d, nk * 8, cudaMemcpyDeviceToHost, s));
	CK(be, cudaMemcpyAsync(cb->ce_slot_h, cb->mslot_d, nk * 4, cudaMemcpyDeviceToHost, s));
	CK(be, cudaStreamSynchronize(s));
	uint32_t n = 0;
	for (uint32_t b = 0; b < nreq; b++) {
		const uint32_t m = cb->ce_nmiss_h[b];
		if (m > g->topk)
			return fail(be, -EIO, "cuda backend: batch row %u has %u misses, more than top-k %u",
				    b, m, g->topk);
		/* compacted in place: n <= b * topk + j */
		for (uint32_t j = 0; j < m; j++, n++) {
			cb->ce_off_h[n] = cb->ce_off_h[(uint64_t)b * g->topk + j];
			cb->ce_slot_h[n] = cb->ce_slot_h[(uint64_t)b * g->topk + j];
		}
	}
	if (n == 0)
		return 0;
	int rc = ess_cuda_copy_ce(be->pool_base, cuda_hot_layer(be, layer), g->entry_bytes,
				  cb->ce_off_h, cb->ce_slot_h, n, 0, NULL, s);
	return rc ? manage_fail(be, rc, "copy-engine fetch") : 0;
}

static int cuda_resolve(struct ess_backend *be, uint32_t layer, uint32_t nreq,
			const uint32_t *reqs, const int32_t *topk, int32_t *slots_out, void *stream)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	cudaStream_t s = (cudaStream_t)stream;
	const int ce = (g->flags & ESS_CFG_FETCH_CE) != 0;
	if (nreq == 0)
		return 0;
	CK(be, cudaSetDevice(cb->dev));
	if (ce) {
		cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
		CK(be, cudaStreamIsCapturing(s, &cs));
		if (cs != cudaStreamCaptureStatusNone)
			return fail(be, -EINVAL, "cuda backend: ESS_CFG_FETCH_CE: a resolve brings its "
				    "miss list to the host and cannot be captured in a CUDA graph");
	}
	if (wait_tables(be, s))
		return -EIO;
	CK(be, cudaMemcpyAsync(cb->reqs_d, reqs, (size_t)nreq * 4, cudaMemcpyHostToDevice, s));
	struct ess_manage_args a = manage_args(be, layer, CNT_RESOLVE);
	a.nreq = nreq;
	a.topk_rows = topk;
	a.slots_out = slots_out;
	a.do_fetch = !ce;
	const int ft = ft_begin(be, s);
	int rc = ess_cuda_manage(&a, g->max_requests, stream);
	if (rc)
		return manage_fail(be, rc, "resolve");
	ft_end(be, ft, s);
	return ce ? fetch_ce(be, layer, nreq, s) : 0;
}

static int cuda_stats_flush(struct ess_backend *be)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	const uint64_t ncnt = (uint64_t)NCNT * g->layers * ESS_CUDA_NCOUNTERS;
	CK(be, cudaSetDevice(cb->dev));
	CK(be, cudaDeviceSynchronize());
	CK(be, cudaMemcpy(cb->cnt_now, cb->cnt_d, ncnt * 8, cudaMemcpyDeviceToHost));
	/* the device is idle: every queued timing pair is complete */
	while (ft_take_oldest(be))
		;
	struct ess_stats *st = be->stats;
	for (uint32_t k = 0; k < NCNT; k++)
		for (uint32_t l = 0; l < g->layers; l++) {
			const uint64_t o = ((uint64_t)k * g->layers + l) * ESS_CUDA_NCOUNTERS;
			uint64_t d[ESS_CUDA_NCOUNTERS];
			for (int c = 0; c < ESS_CUDA_NCOUNTERS; c++) {
				d[c] = cb->cnt_now[o + c] - cb->cnt_seen[o + c];
				cb->cnt_seen[o + c] = cb->cnt_now[o + c];
			}
			/* every kind's misses are fills; those that evicted
			 * nothing took a free slot */
			st->hot_used_bytes += (d[ESS_CUDA_C_MISSES] - d[ESS_CUDA_C_EVICTIONS]) *
					      g->entry_bytes;
			if (k == CNT_RESOLVE) {
				st->resolves += d[ESS_CUDA_C_RESOLVES];
				st->lookups += d[ESS_CUDA_C_LOOKUPS];
				st->hits += d[ESS_CUDA_C_HITS];
				st->misses += d[ESS_CUDA_C_MISSES];
				st->evictions += d[ESS_CUDA_C_EVICTIONS];
				st->bytes_h2d += d[ESS_CUDA_C_BYTES_H2D];
				st->layer_misses[l] += d[ESS_CUDA_C_MISSES];
			} else if (k == CNT_WARMUP) {
				st->warmups += d[ESS_CUDA_C_MISSES];
				st->evictions += d[ESS_CUDA_C_EVICTIONS];
				st->bytes_h2d += d[ESS_CUDA_C_BYTES_H2D];
			} else {
				st->appends += d[ESS_CUDA_C_RESOLVES];
				st->bytes_d2h += d[ESS_CUDA_C_RESOLVES] * g->entry_bytes;
				st->evictions += d[ESS_CUDA_C_EVICTIONS];
			}
		}
	return 0;
}

static int cuda_sync(struct ess_backend *be, void *stream)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	CK(be, cudaSetDevice(cb->dev));
	CK(be, cudaStreamSynchronize((cudaStream_t)stream));
	int32_t err[2];
	CK(be, cudaMemcpy(err, cb->err_d, 8, cudaMemcpyDeviceToHost));
	int ret = cuda_stats_flush(be);
	if (err[0]) {
		CK(be, cudaMemset(cb->err_d, 0, 8));
		return fail(be, -EINVAL, "ess_resolve: request %d: %s (its slot ids are -1, its hot set unchanged)",
			    err[1], ess_cuda_err_name(err[0]));
	}
	return ret;
}

static int cuda_read_tokens(struct ess_backend *be, uint32_t req, uint32_t layer, int32_t *tokens)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	CK(be, cudaSetDevice(cb->dev));
	CK(be, cudaDeviceSynchronize());
	CK(be, cudaMemcpy(tokens, cb->tok + ((uint64_t)layer * g->max_requests + req) * g->slots,
			  (size_t)g->slots * 4, cudaMemcpyDeviceToHost));
	return 0;
}

static int cuda_read_hot(struct ess_backend *be, uint32_t layer, uint64_t first_slot, uint32_t n,
			 void *dst)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	const struct ess_backend_geom *g = &be->geom;
	CK(be, cudaSetDevice(cb->dev));
	CK(be, cudaDeviceSynchronize());
	CK(be, cudaMemcpy(dst, (unsigned char *)cuda_hot_layer(be, layer) + first_slot * g->entry_bytes,
			  (size_t)n * g->entry_bytes, cudaMemcpyDeviceToHost));
	return 0;
}

static void *cuda_mem_alloc(struct ess_backend *be, size_t bytes)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	void *p = NULL;
	cudaError_t e = cudaSetDevice(cb->dev);
	if (e == cudaSuccess)
		e = cudaMalloc(&p, bytes);
	if (e != cudaSuccess) {
		cfail(be, e, "cudaMalloc");
		return NULL;
	}
	return p;
}

static void cuda_mem_free(struct ess_backend *be, void *ptr)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	cudaSetDevice(cb->dev);
	cudaFree(ptr);
	(void)cudaGetLastError();
}

static int cuda_mem_copy(struct ess_backend *be, void *dst, const void *src, size_t bytes,
			 int to_backend, void *stream)
{
	struct cuda_be *cb = (struct cuda_be *)be->priv;
	CK(be, cudaSetDevice(cb->dev));
	CK(be, cudaMemcpyAsync(dst, src, bytes,
			       to_backend ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost,
			       (cudaStream_t)stream));
	return 0;
}

static struct ess_backend_ops cuda_ops;

extern "C" __attribute__((visibility("default"))) const struct ess_backend_ops *ess_backend_cuda_ops(void)
{
	struct ess_backend_ops *o = &cuda_ops;
	if (!o->abi) {
		o->size = sizeof(*o);
		o->name = "cuda";
		o->probe = cuda_probe;
		o->init = cuda_init;
		o->fini = cuda_fini;
		o->hot_layer = cuda_hot_layer;
		o->map_changed = cuda_map_changed;
		o->request_reset = cuda_request_reset;
		o->warmup = cuda_warmup;
		o->append = cuda_append;
		o->resolve = cuda_resolve;
		o->sync = cuda_sync;
		o->read_tokens = cuda_read_tokens;
		o->read_hot = cuda_read_hot;
		o->stats_flush = cuda_stats_flush;
		o->heat_drain = NULL;	/* GPU-side heat is not collected yet */
		o->mem_alloc = cuda_mem_alloc;
		o->mem_free = cuda_mem_free;
		o->mem_copy = cuda_mem_copy;
		o->abi = ESS_BACKEND_ABI;
	}
	return o;
}
