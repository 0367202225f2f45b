/* SPDX-License-Identifier: MIT */
/*
 * Host side of the management kernel: argument checks, shared-memory
 * sizing, and the gather of the misses queued right behind it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>

#include <cuda_runtime.h>

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

extern "C" int ess_cuda_manage(const struct ess_manage_args *a, uint32_t max_requests,
			       void *stream)
{
	if (!a)
		return ess_cuda_inval("NULL arguments");
	if (a->nreq == 0)
		return 0;
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
	if (a->do_fetch && (!a->host_base || !a->hot_base))
		return ess_cuda_inval("fetch without host or hot base");

	/* load factor at most 1/4: short probe chains for the 'slots' lookups */
	const uint32_t hash_cap = pow2_at_least(4 * a->topk < 8 ? 8 : 4 * a->topk);
	/* at least 4: keeps every shared array 16-byte aligned (cuda/manage.cu) */
	const uint32_t sort_cap = pow2_at_least(a->topk < 4 ? 4 : a->topk);
	/* vkey, vslot, mtok, two ranks [sort_cap]; htok, hpos [hash_cap];
	 * key, token, freq copies and hit flags [slots]; row copy and
	 * position -> slot [topk] (layout: cuda/manage.cu) */
	size_t smem = (size_t)sort_cap * (8 + 4 + 4 + 4 + 4) + (size_t)hash_cap * (4 + 2) +
		      (size_t)a->slots * (8 + 4 + 4 + 1) + (size_t)a->topk * (4 + 4);
	int dev = 0;
	static __thread int optin_dev = -1, optin;
	cudaError_t e = cudaGetDevice(&dev);
	if (e == cudaSuccess && dev != optin_dev) {
		e = cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
		optin_dev = e == cudaSuccess ? dev : -1;
	}
	if (e != cudaSuccess)
		return ess_cuda_fail(e, "device attributes");
	if (smem + 4096 > (size_t)optin)
		return ess_cuda_inval("topk/slots need more shared memory than a block has");
	/* raise the kernel's shared-memory limit once per device and size */
	static __thread int set_dev = -1;
	static __thread size_t set_smem;
	if (set_dev != dev || set_smem < smem) {
		e = cudaFuncSetAttribute(ess_k_manage, cudaFuncAttributeMaxDynamicSharedMemorySize,
					 (int)smem);
		if (e != cudaSuccess)
			return ess_cuda_fail(e, "cudaFuncSetAttribute");
		set_dev = dev;
		set_smem = smem;
	}

	cudaStream_t st = (cudaStream_t)stream;
	ess_k_manage<<<a->nreq, ESS_MANAGE_THREADS, smem, st>>>(*a, max_requests,
								 hash_cap, sort_cap);
	e = cudaGetLastError();
	if (e != cudaSuccess)
		return ess_cuda_fail(e, "management kernel launch");
	if (!a->do_fetch)
		return 0;

	struct ess_fetch_list l;
	l.off = a->miss_off;
	l.slot = a->miss_slot;
	l.count = a->nmiss;
	l.nseg = a->nreq;
	l.seg_cap = a->topk;
	return ess_cuda_gather(a->host_base, a->hot_base, a->entry_bytes, &l, &a->tune, stream);
}
