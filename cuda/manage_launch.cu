/* SPDX-License-Identifier: MIT */
/*
 * Host side of the management kernels: argument checks, the choice of one
 * block or a cluster of blocks per request, shared-memory sizing, and the
 * gather of the misses queued right behind it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <cuda_runtime.h>

#include "cluster_config.h"
#include "ess/hotset.h"
#include "kernels.cuh"

extern "C" int ess_cuda_fail(cudaError_t e, const char *what);
extern "C" int ess_cuda_inval(const char *what);

static uint32_t pow2_at_least(uint32_t x)
{
	uint32_t p = 1;
	while (p < x)
		p <<= 1;
	return p;
}

extern "C" const char *ess_cuda_err_name(int code)
{
	switch (code) {
	case ESS_CUDA_EOK: return "no error";
	case ESS_CUDA_ERANGE: return "top-k token out of range";
	case ESS_CUDA_EDUP: return "top-k token repeated in a row";
	case ESS_CUDA_ETOOMANY: return "more valid top-k tokens than slots";
	case ESS_CUDA_ENOEXTENT: return "top-k token has no host extent";
	case ESS_CUDA_EREQ: return "request id out of range";
	default: return "unknown error";
	}
}

/* Shapes of one launch: hash and sort capacities, slots per block and
 * dynamic shared memory for a cluster of cl blocks (1: ess_k_manage). */
struct manage_shape {
	uint32_t hash_cap, sort_cap, sc;
	size_t smem;
};

static struct manage_shape manage_shape(const struct ess_manage_args *a, uint32_t cl)
{
	struct manage_shape m;
	/* load factor at most 1/4: short probe chains for the 'slots' lookups */
	m.hash_cap = pow2_at_least(4 * a->topk < 8 ? 8 : 4 * a->topk);
	/* at least 4: keeps every shared array 16-byte aligned (cuda/manage.cu) */
	m.sort_cap = pow2_at_least(a->topk < 4 ? 4 : a->topk);
	/* slots per block: a multiple of 4 (16-byte copies, alignment) */
	m.sc = cl == 1 ? a->slots : ((a->slots + cl - 1) / cl + 3) & ~3u;
	/* the cluster kernel with a token -> slot map hashes nothing: its
	 * hash area holds a row position per own slot */
	if (cl > 1 && a->hs_map)
		m.hash_cap = m.sc;
	/* vkey, vslot, mtok, two ranks [sort_cap]; htok, hpos [hash_cap];
	 * key, token, freq copies and hit flags [slots of the block]; row
	 * copy and position -> slot [topk] (layout: cuda/manage.cu,
	 * cuda/manage_cluster.cu) */
	m.smem = (size_t)m.sort_cap * (8 + 4 + 4 + 4 + 4) + (size_t)m.hash_cap * (4 + 2) +
		 (size_t)m.sc * (8 + 4 + 4 + 1) + (size_t)a->topk * (4 + 4);
	/* the cluster kernel keeps hit bits per block [cl][topk / 32 words]
	 * instead of position -> slot [topk], and its own victims by place
	 * [sort_cap] */
	if (cl > 1)
		m.smem = m.smem - (size_t)a->topk * 4 + (size_t)cl * ((a->topk + 31) / 32) * 4 +
			 (size_t)m.sort_cap * 4;
	return m;
}

/* Dynamic shared memory of the order kernel (layout: cuda/manage_order.cu):
 * the misses (packed, by rank, host offsets), the victims' old tokens and
 * slots [sort_cap]; the order, tokens, freq, claims and marks per slot;
 * the missed-token bitmap and its word prefixes [bw_cap = map_cap / 32];
 * or, while it builds a stale order, (key, slot) pairs [nsort], whichever
 * is larger. */
static size_t order_smem(const struct ess_manage_args *a, uint32_t *sort_cap, uint32_t *nsort,
			 uint32_t *bw_cap)
{
	/* at least 8: keeps every shared array 16-byte aligned */
	*sort_cap = pow2_at_least(a->topk < 8 ? 8 : a->topk);
	*nsort = pow2_at_least(a->slots < 2 ? 2 : a->slots);
	const size_t s8 = (a->slots + 7) & ~7u;
	const uint64_t bw = ((uint64_t)a->map_cap + 31) / 32;
	*bw_cap = bw > UINT32_MAX ? UINT32_MAX : (uint32_t)bw;
	const size_t run = (size_t)*sort_cap * (8 + 8 + 8 + 4 + 2) + s8 * (2 + 4 + 4 + 2 + 1) +
			   (size_t)bw * (4 + 2);
	const size_t build = (size_t)*nsort * 10;
	return run > build ? run : build;
}

/* Flags that pick another kernel than the order kernel. */
#define ORDER_OTHER (ESS_MANAGE_ONE_BLOCK | ESS_MANAGE_CLUSTER2 | ESS_MANAGE_CLUSTER4 | \
		     ESS_MANAGE_RADIX_ONLY | ESS_MANAGE_HIST_MATCH | ESS_MANAGE_FILL_OWN)

/* Per thread and device: the attributes read once, the kernels' shared
 * memory limits raised once per size, the clusters that fit at once. */
struct manage_dev {
	int dev, optin, sms;
	size_t set_smem[3];	/* one block; cluster kernel; order kernel */
	int fit_cl[ESS_MANAGE_CLUSTER_MAX + 1];
	size_t fit_smem[ESS_MANAGE_CLUSTER_MAX + 1];
};
static __thread struct manage_dev md = {-1, 0, 0, {0, 0, 0}, {0}, {0}};

static int manage_dev_get(void)
{
	int dev = 0;
	cudaError_t e = cudaGetDevice(&dev);
	if (e == cudaSuccess && dev != md.dev) {
		md.dev = -1;
		e = cudaDeviceGetAttribute(&md.optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
		if (e == cudaSuccess)
			e = cudaDeviceGetAttribute(&md.sms, cudaDevAttrMultiProcessorCount, dev);
		if (e == cudaSuccess) {
			md.dev = dev;
			for (int i = 0; i < 3; i++)
				md.set_smem[i] = 0;
			for (int i = 0; i <= ESS_MANAGE_CLUSTER_MAX; i++) {
				md.fit_cl[i] = 0;
				md.fit_smem[i] = 0;
			}
		}
	}
	if (e != cudaSuccess)
		return ess_cuda_fail(e, "device attributes");
	return 0;
}

/* Static shared memory of the cluster kernel (its pushed histograms) and
 * of the one-block kernel, with room to spare. */
#define MANAGE_STATIC_ONE 4096
#define MANAGE_STATIC_CLUSTER 12288

static int manage_set_smem(int which, size_t smem)
{
	if (md.set_smem[which] >= smem)
		return 0;
	const void *k = which == 2   ? (const void *)ess_k_manage_order
			: which == 1 ? (const void *)ess_k_manage_cluster
				     : (const void *)ess_k_manage;
	cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
	if (e != cudaSuccess)
		return ess_cuda_fail(e, "cudaFuncSetAttribute");
	md.set_smem[which] = smem;
	return 0;
}

/* Clusters of cl blocks that can run at once with this much shared
 * memory (0: none), asked once per size. */
static int manage_fit(uint32_t cl, size_t smem)
{
	if (md.fit_smem[cl] == smem)
		return md.fit_cl[cl];
	if (smem + MANAGE_STATIC_CLUSTER > (size_t)md.optin || manage_set_smem(1, smem) != 0)
		return 0;
	cudaLaunchAttribute at;
	cudaLaunchConfig_t cfg = ess_cluster_config(&at, cl, cl, ESS_MANAGE_THREADS, smem, 0);
	int n = 0;
	if (cudaOccupancyMaxActiveClusters(&n, ess_k_manage_cluster, &cfg) != cudaSuccess) {
		cudaGetLastError();	/* not sticky: no cluster then */
		n = 0;
	}
	md.fit_cl[cl] = n;
	md.fit_smem[cl] = smem;
	return n;
}

/* The order kernel applies (see ess_cuda_manage_kernel in ess_cuda.h). */
static bool order_pick(const struct ess_manage_args *a)
{
	uint32_t sc, ns, bw;
	return a->hs_order && a->hs_order_tail && a->hs_map && a->policy == ESS_POLICY_LRU &&
	       !(a->flags & ORDER_OTHER) && a->topk <= 2 * ESS_MANAGE_THREADS &&
	       a->slots <= ESS_ORDER_MAX_SLOTS && a->slots < ESS_MAP_NONE &&
	       order_smem(a, &sc, &ns, &bw) + MANAGE_STATIC_ONE <= (size_t)md.optin;
}

/* Blocks per request: forced by a flag, else the largest cluster whose
 * blocks all fit the SMs at once for this batch (one block for the order
 * kernel). */
static int manage_pick(const struct ess_manage_args *a)
{
	const uint32_t f = a->flags & (ESS_MANAGE_ONE_BLOCK | ESS_MANAGE_CLUSTER2 | ESS_MANAGE_CLUSTER4);
	if (f & (f - 1))
		return ess_cuda_inval("more than one of ONE_BLOCK, CLUSTER2, CLUSTER4");
	if (f == ESS_MANAGE_ONE_BLOCK || order_pick(a))
		return 1;
	/* the cluster kernel sorts the misses in half a block, 4 a thread */
	const bool cl_ok = a->topk <= 2 * ESS_MANAGE_THREADS;
	if (f && !cl_ok)
		return ess_cuda_inval("a cluster per request takes top-k up to 2048");
	if (!cl_ok)
		return 1;
	if (f) {
		const uint32_t cl = f == ESS_MANAGE_CLUSTER2 ? 2 : 4;
		if (manage_fit(cl, manage_shape(a, cl).smem) < 1)
			return ess_cuda_inval("topk/slots need more shared memory than a cluster block has");
		return (int)cl;
	}
	for (uint32_t cl = ESS_MANAGE_CLUSTER_MAX; cl >= 2; cl /= 2)
		if ((uint64_t)a->nreq * cl <= (uint64_t)md.sms &&
		    (uint32_t)manage_fit(cl, manage_shape(a, cl).smem) >= a->nreq)
			return (int)cl;
	return 1;
}

static int manage_check(const struct ess_manage_args *a, uint32_t max_requests)
{
	if (!a->hs_token || !a->hs_key || !a->hs_freq || !a->hs_t || !a->reqs ||
	    !a->topk_rows || !a->slots_out || !a->extent_off || !a->ntokens ||
	    !a->miss_off || !a->miss_slot || !a->miss_token || !a->nmiss ||
	    !a->counters || !a->err)
		return ess_cuda_inval("NULL pointer in management arguments");
	if (a->topk == 0 || a->slots == 0 || a->topk > 32767 || a->slots > (1u << 24))
		return ess_cuda_inval("topk or slots out of range");
	if ((uint64_t)max_requests * a->slots > INT32_MAX)
		return ess_cuda_inval("slot ids do not fit int32");
	if (a->nreq > max_requests || a->nreq > 65535)
		return ess_cuda_inval("batch larger than max_requests");
	if (a->layer >= a->layers || a->max_extents == 0 || a->extent_shift > 31 ||
	    a->entry_bytes == 0)
		return ess_cuda_inval("host map geometry");
	if (a->hs_map && (a->slots >= ESS_MAP_NONE || a->map_cap == 0))
		return ess_cuda_inval("token -> slot map needs slots below 65535 and map_cap > 0");
	if (!a->hs_order != !a->hs_order_tail)
		return ess_cuda_inval("hs_order and hs_order_tail go together");
	if (a->hs_order && !a->hs_map)
		return ess_cuda_inval("the LRU order (hs_order) needs the token -> slot map");
	if (a->do_fetch && (!a->host_base || !a->hot_base))
		return ess_cuda_inval("fetch without host or hot base");
	return 0;
}

extern "C" int ess_cuda_manage_cluster(const struct ess_manage_args *a)
{
	if (!a)
		return ess_cuda_inval("NULL arguments");
	int rc = manage_dev_get();
	return rc ? rc : manage_pick(a);
}

extern "C" int ess_cuda_manage_kernel(const struct ess_manage_args *a)
{
	if (!a)
		return ess_cuda_inval("NULL arguments");
	int rc = manage_dev_get();
	if (rc)
		return rc;
	rc = manage_pick(a);
	if (rc < 0)
		return rc;
	return order_pick(a) ? ESS_MANAGE_KERNEL_ORDER
	       : rc > 1 ? ESS_MANAGE_KERNEL_CLUSTER : ESS_MANAGE_KERNEL_BLOCK;
}

/* The management kernel for these arguments, queued on st. */
static int manage_launch(const struct ess_manage_args *a, uint32_t max_requests, int cl,
			 cudaStream_t st)
{
	cudaError_t e;
	int rc;
	if (order_pick(a)) {
		uint32_t sort_cap, nsort, bw_cap;
		const size_t smem = order_smem(a, &sort_cap, &nsort, &bw_cap);
		rc = manage_set_smem(2, smem);
		if (rc)
			return rc;
		ess_k_manage_order<<<a->nreq, ESS_MANAGE_THREADS, smem, st>>>(*a, max_requests,
									     sort_cap, nsort, bw_cap);
		e = cudaGetLastError();
		return e == cudaSuccess ? 0 : ess_cuda_fail(e, "management kernel launch");
	}
	/* the other kernels do not keep the order: every request's goes stale */
	if (a->hs_order) {
		e = cudaMemsetAsync(a->hs_order_tail, 0xff, (size_t)max_requests * 2 * 4, st);
		if (e != cudaSuccess)
			return ess_cuda_fail(e, "marking the LRU order stale");
	}
	const struct manage_shape sh = manage_shape(a, (uint32_t)cl);
	if (cl == 1) {
		if (sh.smem + MANAGE_STATIC_ONE > (size_t)md.optin)
			return ess_cuda_inval("topk/slots need more shared memory than a block has");
		rc = manage_set_smem(0, sh.smem);
		if (rc)
			return rc;
		ess_k_manage<<<a->nreq, ESS_MANAGE_THREADS, sh.smem, st>>>(*a, max_requests,
									    sh.hash_cap, sh.sort_cap);
		e = cudaGetLastError();
	} else {
		cudaLaunchAttribute at;
		cudaLaunchConfig_t cfg = ess_cluster_config(&at, (unsigned)cl, a->nreq * (uint32_t)cl,
							     ESS_MANAGE_THREADS, sh.smem, st);
		e = cudaLaunchKernelEx(&cfg, ess_k_manage_cluster, *a, max_requests, sh.hash_cap,
				       sh.sort_cap, sh.sc);
	}
	return e == cudaSuccess ? 0 : ess_cuda_fail(e, "management kernel launch");
}

extern "C" int ess_cuda_manage(const struct ess_manage_args *a, uint32_t max_requests,
			       void *stream)
{
	if (!a)
		return ess_cuda_inval("NULL arguments");
	if (a->nreq == 0)
		return 0;
	int rc = manage_check(a, max_requests);
	if (rc)
		return rc;
	rc = manage_dev_get();
	if (rc)
		return rc;
	const int cl = manage_pick(a);
	if (cl < 0)
		return cl;
	rc = manage_launch(a, max_requests, cl, (cudaStream_t)stream);
	if (rc || !a->do_fetch)
		return rc;

	struct ess_fetch_list l;
	l.off = a->miss_off;
	l.slot = a->miss_slot;
	l.count = a->nmiss;
	l.nseg = a->nreq;
	l.seg_cap = a->topk;
	return ess_cuda_gather(a->host_base, a->hot_base, a->entry_bytes, &l, &a->tune, stream);
}
