// SPDX-License-Identifier: MIT
/*
 * Argument checks shared by the entry points.  Each failure leaves a
 * message naming the function and the offending value.
 */
#include <errno.h>

#include "internal.h"

int ess_check_layer(const ess_ctx *ctx, const char *fn, uint32_t layer)
{
	if (layer >= ctx->cfg.layers)
		return ess_fail(ctx, -EINVAL, "%s: layer %u out of range 0..%u",
				fn, layer, ctx->cfg.layers - 1);
	return 0;
}

int ess_check_req(const ess_ctx *ctx, const char *fn, uint32_t req)
{
	if (req >= ctx->cfg.max_requests)
		return ess_fail(ctx, -EINVAL,
				"%s: request id %u out of range 0..%u", fn, req,
				ctx->cfg.max_requests - 1);
	if (!ctx->pool.req[req].used)
		return ess_fail(ctx, -ENOENT, "%s: request %u is not in use",
				fn, req);
	return 0;
}

int ess_check_batch(ess_ctx *ctx, const char *fn, uint32_t nreq,
		    const uint32_t *reqs)
{
	int ret = 0;

	if (nreq > ctx->cfg.max_requests)
		return ess_fail(ctx, -EINVAL, "%s: batch of %u requests > max_requests %u",
				fn, nreq, ctx->cfg.max_requests);
	if (nreq && !reqs)
		return ess_fail(ctx, -EINVAL, "%s: reqs is NULL", fn);
	for (uint32_t i = 0; i < nreq; i++) {
		ret = ess_check_req(ctx, fn, reqs[i]);
		if (ret)
			break;
		if (ctx->req_seen[reqs[i]]) {
			ret = ess_fail(ctx, -EINVAL,
				       "%s: request %u twice in the batch (entry %u)",
				       fn, reqs[i], i);
			break;
		}
		ctx->req_seen[reqs[i]] = 1;
	}
	for (uint32_t i = 0; i < nreq; i++) {
		if (reqs[i] < ctx->cfg.max_requests)
			ctx->req_seen[reqs[i]] = 0;
	}
	/* An unknown request inside a batch is a bad argument. */
	return ret == -ENOENT ? -EINVAL : ret;
}

int ess_check_tokens(ess_ctx *ctx, const char *fn, uint32_t req,
		     uint32_t layer, const int32_t *tok, uint32_t n,
		     uint32_t limit)
{
	uint32_t held = *ess_pool_ntokens(&ctx->pool, req, layer);
	uint32_t valid = 0;

	if (n && !tok)
		return ess_fail(ctx, -EINVAL, "%s: token list is NULL", fn);
	if (++ctx->stamp_gen == 0) {
		for (uint32_t i = 0; i < ctx->cfg.max_tokens; i++)
			ctx->stamp[i] = 0;
		ctx->stamp_gen = 1;
	}
	for (uint32_t i = 0; i < n; i++) {
		int32_t t = tok[i];

		if (t == -1)
			continue;
		if (t < 0 || (uint32_t)t >= held)
			return ess_fail(ctx, -EINVAL,
					"%s: request %u layer %u entry %u: token %d out of range (%u held)",
					fn, req, layer, i, t, held);
		if (ctx->stamp[t] == ctx->stamp_gen)
			return ess_fail(ctx, -EINVAL,
					"%s: request %u layer %u: token %d twice",
					fn, req, layer, t);
		ctx->stamp[t] = ctx->stamp_gen;
		if (++valid > limit)
			return ess_fail(ctx, -EINVAL,
					"%s: request %u layer %u: more than %u valid tokens",
					fn, req, layer, limit);
	}
	return 0;
}
