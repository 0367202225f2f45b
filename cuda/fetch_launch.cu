/* SPDX-License-Identifier: MIT */
/*
 * Host side of the row copies: argument checks, choice of the kernel
 * variant and grid, and the copy-engine path.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "kernels.cuh"

static __thread char last_err[256];

extern "C" const char *ess_cuda_last_error(void)
{
	return last_err;
}

/* Record a CUDA failure; returns -EIO (0 for cudaSuccess). */
extern "C" int ess_cuda_fail(cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return 0;
	snprintf(last_err, sizeof(last_err), "%s: %s", what, cudaGetErrorString(e));
	return -EIO;
}

extern "C" int ess_cuda_inval(const char *what)
{
	snprintf(last_err, sizeof(last_err), "invalid argument: %s", what);
	return -EINVAL;
}

static int sm_count(void)
{
	static __thread int cached_dev = -1, cached_n;
	int dev = 0;
	if (cudaGetDevice(&dev) != cudaSuccess)
		return 1;
	if (dev != cached_dev) {
		int n = 1;
		cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev);
		cached_n = n > 0 ? n : 1;
		cached_dev = dev;
	}
	return cached_n;
}

extern "C" int ess_cuda_copy_launch(const void *src, void *dst, uint32_t row_bytes,
				    const struct ess_fetch_list *l,
				    const struct ess_fetch_tune *tune, int dir,
				    void *stream)
{
	if (!src || !dst || !l || !l->off || !l->slot || !l->count)
		return ess_cuda_inval("NULL pointer in fetch list");
	if (row_bytes == 0)
		return ess_cuda_inval("row_bytes is 0");
	if (l->nseg == 0 || l->seg_cap == 0)
		return 0;

	struct ess_kcopy p;
	p.src = (const char *)src;
	p.dst = (char *)dst;
	p.off = l->off;
	p.slot = l->slot;
	p.count = l->count;
	p.nseg = l->nseg;
	p.seg_cap = l->seg_cap;
	p.row_bytes = row_bytes;
	p.dir = dir;

	/* The widest access every row start allows. */
	uintptr_t align = (uintptr_t)src | (uintptr_t)dst | row_bytes;
	uint32_t unroll = tune && tune->unroll ? tune->unroll : 8;
	void (*k)(struct ess_kcopy);
	const uint32_t hint = tune && !dir ? tune->hint : 0;
	static void (*const k16[3][3])(struct ess_kcopy) = {
		{ess_k_copy16_u4, ess_k_copy16_u8, ess_k_copy16_u16},
		{ess_k_copy16_u4_h1, ess_k_copy16_u8_h1, ess_k_copy16_u16_h1},
		{ess_k_copy16_u4_h2, ess_k_copy16_u8_h2, ess_k_copy16_u16_h2},
	};
	static void (*const k16l[2][3])(struct ess_kcopy) = {
		{ess_k_copy16_u4_a, ess_k_copy16_u8_a, ess_k_copy16_u16_a},
		{ess_k_copy16_u4_w, ess_k_copy16_u8_w, ess_k_copy16_u16_w},
	};
	uint32_t layout = tune ? tune->layout : (uint32_t)ESS_FETCH_LAYOUT_DEFAULT;
	if (hint > 2)
		return ess_cuda_inval("load hint");
	if (layout > (uint32_t)ESS_FETCH_LAYOUT_WHOLE)
		return ess_cuda_inval("fetch layout");
	if (hint && layout >= (uint32_t)ESS_FETCH_LAYOUT_LINES)
		return ess_cuda_inval("load hint with a line layout");
	if (layout == ESS_FETCH_LAYOUT_DEFAULT)
		layout = hint ? ESS_FETCH_LAYOUT_FLAT : ESS_FETCH_LAYOUT_LINES;
	const uint32_t ui = unroll <= 4 ? 0 : unroll <= 8 ? 1 : 2;
	if ((align & 15) == 0 && layout == ESS_FETCH_LAYOUT_FLAT)
		k = k16[hint][ui];
	else if ((align & 15) == 0)
		k = k16l[layout == ESS_FETCH_LAYOUT_WHOLE && !dir][ui];
	else if ((align & 3) == 0)
		k = ess_k_copy4_u8;
	else
		k = ess_k_copy1_u8;

	const uint32_t threads = 256;
	/* Half the SMs fill the link (bench/fetch-*.md); leave the rest to the
	 * model's kernels. */
	uint64_t blocks = tune && tune->blocks ? tune->blocks : (uint32_t)(sm_count() + 1) / 2;
	/* No more warps than rows. */
	uint64_t rows = (uint64_t)l->nseg * l->seg_cap;
	uint64_t need = (rows + threads / 32 - 1) / (threads / 32);
	if (blocks > need)
		blocks = need;
	if (blocks > 65535)
		blocks = 65535;
	(void)cudaGetLastError();	/* drop a stale error of an earlier call */
	k<<<(unsigned)blocks, threads, 0, (cudaStream_t)stream>>>(p);
	return ess_cuda_fail(cudaGetLastError(), "row copy launch");
}

extern "C" int ess_cuda_gather(const void *host_base, void *dev_base, uint32_t row_bytes,
			       const struct ess_fetch_list *l,
			       const struct ess_fetch_tune *tune, void *stream)
{
	return ess_cuda_copy_launch(host_base, dev_base, row_bytes, l, tune, 0, stream);
}

extern "C" int ess_cuda_scatter(void *host_base, const void *dev_base, uint32_t row_bytes,
				const struct ess_fetch_list *l,
				const struct ess_fetch_tune *tune, void *stream)
{
	return ess_cuda_copy_launch(dev_base, host_base, row_bytes, l, tune, 1, stream);
}

/*
 * Copy engine: coalesce runs adjacent on both sides, then one batched call.
 * cudaMemcpyBatchAsync wants host arrays of pointers and sizes; they are
 * only read during the call (srcAccessOrder Stream refers to the data).
 */
extern "C" int ess_cuda_copy_ce(void *host_base, void *dev_base, uint32_t row_bytes,
				const uint64_t *off, const int32_t *slot, uint32_t n,
				int dir, uint32_t *ncopies, void *stream)
{
	if (ncopies)
		*ncopies = 0;
	if (!host_base || !dev_base || (n && (!off || !slot)))
		return ess_cuda_inval("NULL pointer");
	if (row_bytes == 0 || (dir != 0 && dir != 1))
		return ess_cuda_inval("row_bytes 0 or bad direction");
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (slot[i] < 0)
			return ess_cuda_inval("negative slot");

	void **dsts = (void **)malloc(sizeof(void *) * n);
	const void **srcs = (const void **)malloc(sizeof(void *) * n);
	size_t *sizes = (size_t *)malloc(sizeof(size_t) * n);
	if (!dsts || !srcs || !sizes) {
		free(dsts);
		free(srcs);
		free(sizes);
		snprintf(last_err, sizeof(last_err), "out of memory");
		return -ENOMEM;
	}
	size_t nc = 0;
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i + 1;
		while (j < n && off[j] == off[j - 1] + row_bytes && slot[j] == slot[j - 1] + 1)
			j++;
		char *h = (char *)host_base + off[i];
		char *d = (char *)dev_base + (uint64_t)slot[i] * row_bytes;
		dsts[nc] = dir ? (void *)h : (void *)d;
		srcs[nc] = dir ? (const void *)d : (const void *)h;
		sizes[nc] = (size_t)(j - i) * row_bytes;
		nc++;
		i = j;
	}
	cudaError_t e = cudaSuccess;
	if (stream == NULL || stream == (void *)cudaStreamLegacy) {
		/* cudaMemcpyBatchAsync refuses the legacy default stream: one
		 * cudaMemcpyAsync per run there */
		for (size_t i = 0; i < nc && e == cudaSuccess; i++)
			e = cudaMemcpyAsync(dsts[i], srcs[i], sizes[i], cudaMemcpyDefault,
					    (cudaStream_t)stream);
		free(dsts);
		free(srcs);
		free(sizes);
		if (ncopies)
			*ncopies = (uint32_t)nc;
		if (e != cudaSuccess)
			(void)cudaGetLastError();
		return ess_cuda_fail(e, "cudaMemcpyAsync");
	}
	struct cudaMemcpyAttributes attr;
	memset(&attr, 0, sizeof(attr));
	attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
	size_t idx = 0;
	e = cudaMemcpyBatchAsync(dsts, srcs, sizes, nc, &attr, &idx, 1,
					     (cudaStream_t)stream);
	free(dsts);
	free(srcs);
	free(sizes);
	if (ncopies)
		*ncopies = (uint32_t)nc;
	if (e != cudaSuccess)
		(void)cudaGetLastError();
	return ess_cuda_fail(e, "cudaMemcpyBatchAsync");
}
