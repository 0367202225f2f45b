// SPDX-License-Identifier: MIT
/*
 * Backend memory for callers that have no allocator of their own: the
 * tools and the language bindings hand top-k rows and new rows to libess in
 * backend memory, and these calls let them do so without linking CUDA.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void *ess_mem_alloc(ess_ctx *ctx, size_t bytes)
{
	void *p;

	if (!ctx)
		return NULL;
	if (!bytes) {
		ess_fail(ctx, -EINVAL, "ess_mem_alloc: zero bytes");
		return NULL;
	}
	if (ctx->be.ops->mem_alloc)
		p = ctx->be.ops->mem_alloc(&ctx->be, bytes);
	else
		p = malloc(bytes);
	/* A backend writes its own message (be.err is the context's). */
	if (!p && !ctx->be.ops->mem_alloc)
		ess_fail(ctx, -ENOMEM, "ess_mem_alloc: no memory for %zu bytes",
			 bytes);
	return p;
}

void ess_mem_free(ess_ctx *ctx, void *ptr)
{
	if (!ctx || !ptr)
		return;
	if (ctx->be.ops->mem_free)
		ctx->be.ops->mem_free(&ctx->be, ptr);
	else
		free(ptr);
}

static int mem_copy(ess_ctx *ctx, const char *fn, void *dst, const void *src,
		    size_t bytes, int to_backend, void *stream)
{
	int ret;

	if (!ctx)
		return -EINVAL;
	if (!dst || !src)
		return ess_fail(ctx, -EINVAL, "%s: NULL pointer", fn);
	if (!bytes)
		return 0;
	if (!ctx->be.ops->mem_copy) {
		memcpy(dst, src, bytes);
		return 0;
	}
	ret = ctx->be.ops->mem_copy(&ctx->be, dst, src, bytes, to_backend,
				    stream);
	/* On failure the backend's message is already the context's. */
	return ret;
}

int ess_mem_to_backend(ess_ctx *ctx, void *dst, const void *src,
		       size_t bytes, void *stream)
{
	return mem_copy(ctx, "ess_mem_to_backend", dst, src, bytes, 1, stream);
}

int ess_mem_to_host(ess_ctx *ctx, void *dst, const void *src,
		    size_t bytes, void *stream)
{
	return mem_copy(ctx, "ess_mem_to_host", dst, src, bytes, 0, stream);
}
