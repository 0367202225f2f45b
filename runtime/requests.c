// SPDX-License-Identifier: MIT
/*
 * Requests: the table (in the pool header, so it survives a warm restart),
 * prefill ingest, decode append and warm-up.  Every entry point checks all
 * of its input before it changes anything.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "hooks.h"

int ess_request_add(ess_ctx *ctx, uint64_t tag, uint32_t *req)
{
	uint32_t r, freeid = UINT32_MAX;
	int ret;

	if (!ctx)
		return -EINVAL;
	if (!req)
		return ess_fail(ctx, -EINVAL, "ess_request_add: req is NULL");
	for (r = 0; r < ctx->cfg.max_requests; r++) {
		if (!ctx->pool.req[r].used) {
			if (freeid == UINT32_MAX)
				freeid = r;
		} else if (ctx->pool.req[r].tag == tag) {
			return ess_fail(ctx, -EEXIST,
					"ess_request_add: tag %llu already is request %u",
					(unsigned long long)tag, r);
		}
	}
	if (freeid == UINT32_MAX)
		return ess_fail(ctx, -ENOSPC,
				"ess_request_add: all %u request ids in use",
				ctx->cfg.max_requests);
	ret = ctx->be.ops->request_reset(&ctx->be, freeid);
	if (ret)
		return ret;
	ctx->pool.req[freeid].tag = tag;
	ctx->pool.req[freeid].used = 1;
	ctx->st.requests_added++;
	*req = freeid;
	ess_statshm_tick(ctx->statshm, &ctx->st);
	return 0;
}

int ess_request_remove(ess_ctx *ctx, uint32_t req)
{
	int ret;

	if (!ctx)
		return -EINVAL;
	ret = ess_check_req(ctx, "ess_request_remove", req);
	if (ret)
		return ret;
	ret = ctx->be.ops->request_reset(&ctx->be, req);
	if (ret)
		return ret;
	hook_tier_remove(ctx, req);	/* NVMe tier hook: drop its copies */
	for (uint32_t l = 0; l < ctx->cfg.layers; l++) {
		ess_pool_extents_free(&ctx->pool, req, l, 0);
		*ess_pool_ntokens(&ctx->pool, req, l) = 0;
		if (ctx->be.ops->map_changed)
			ctx->be.ops->map_changed(&ctx->be, req, l);
	}
	ctx->pool.req[req].used = 0;
	ctx->pool.req[req].tag = 0;
	ctx->st.requests_removed++;
	/* requests_active and hot_used_bytes fell: show it */
	ess_statshm_tick(ctx->statshm, &ctx->st);
	return 0;
}

int ess_request_find(const ess_ctx *ctx, uint64_t tag, uint32_t *req)
{
	if (!ctx)
		return -EINVAL;
	if (!req)
		return ess_fail(ctx, -EINVAL, "ess_request_find: req is NULL");
	for (uint32_t r = 0; r < ctx->cfg.max_requests; r++) {
		if (ctx->pool.req[r].used && ctx->pool.req[r].tag == tag) {
			*req = r;
			return 0;
		}
	}
	return ess_fail(ctx, -ENOENT, "ess_request_find: no request with tag %llu",
			(unsigned long long)tag);
}

int ess_request_tokens(const ess_ctx *ctx, uint32_t req, uint32_t layer,
		       uint32_t *ntokens)
{
	int ret;

	if (!ctx)
		return -EINVAL;
	if (!ntokens)
		return ess_fail(ctx, -EINVAL, "ess_request_tokens: ntokens is NULL");
	ret = ess_check_req(ctx, "ess_request_tokens", req);
	if (!ret)
		ret = ess_check_layer(ctx, "ess_request_tokens", layer);
	if (ret)
		return ret;
	*ntokens = *ess_pool_ntokens(&ctx->pool, req, layer);
	return 0;
}

const void *ess_host_row(const ess_ctx *ctx, uint32_t req, uint32_t layer,
			 uint32_t token)
{
	if (!ctx || req >= ctx->cfg.max_requests || layer >= ctx->cfg.layers ||
	    !ctx->pool.req[req].used ||
	    token >= *ess_pool_ntokens(&ctx->pool, req, layer))
		return NULL;
	/* NVMe tier hook: a demoted extent has no host copy. */
	if (ess_pool_extents(&ctx->pool, req, layer)
		[token / ctx->cfg.extent_tokens] == UINT64_MAX)
		return NULL;
	return ess_row(ctx, req, layer, token);
}

/*
 * Make sure extents cover tokens [held, end) of (req, layer).  On failure
 * the extents this call allocated are freed again: nothing changed.
 */
static int grow(ess_ctx *ctx, const char *fn, uint32_t req, uint32_t layer,
		uint32_t end)
{
	uint32_t et = ctx->cfg.extent_tokens;
	uint32_t held = *ess_pool_ntokens(&ctx->pool, req, layer);
	uint32_t first_new = (held + et - 1) / et;
	uint32_t need = (uint32_t)(((uint64_t)end + et - 1) / et);
	char msg[ESS_ERRMSG_MAX];
	int ret;

	for (uint32_t e = first_new; e < need; e++) {
		ret = ess_pool_extent_alloc(&ctx->pool, req, layer, e,
					    msg, sizeof(msg));
		if (ret) {
			ess_pool_extents_free(&ctx->pool, req, layer,
					      first_new);
			return ess_fail(ctx, ret, "%s: %s", fn, msg);
		}
	}
	return 0;
}

int ess_ingest(ess_ctx *ctx, uint32_t req, uint32_t layer,
	       uint32_t first_token, uint32_t ntokens, const void *rows)
{
	const char *fn = "ess_ingest";
	uint32_t *held;
	int ret;

	if (!ctx)
		return -EINVAL;
	ret = ess_check_req(ctx, fn, req);
	if (!ret)
		ret = ess_check_layer(ctx, fn, layer);
	if (!ret)	/* NVMe tier hook: not into a parked request */
		ret = hook_tier_write(ctx, fn, req);
	if (ret)
		return ret;
	if (!rows && ntokens)
		return ess_fail(ctx, -EINVAL, "%s: rows is NULL", fn);
	held = ess_pool_ntokens(&ctx->pool, req, layer);
	if (first_token != *held)
		return ess_fail(ctx, -EINVAL,
				"%s: request %u layer %u: first_token %u, expected %u (rows arrive in order)",
				fn, req, layer, first_token, *held);
	if ((uint64_t)first_token + ntokens > ctx->cfg.max_tokens)
		return ess_fail(ctx, -EINVAL,
				"%s: request %u layer %u: %u + %u tokens exceed max_tokens %u",
				fn, req, layer, first_token, ntokens,
				ctx->cfg.max_tokens);
	if (ntokens == 0)
		return 0;
	ret = grow(ctx, fn, req, layer, first_token + ntokens);
	if (ret)
		return ret;
	/* Copy extent by extent: rows are consecutive inside one. */
	for (uint32_t i = 0; i < ntokens;) {
		uint32_t t = first_token + i;
		uint32_t run = ctx->cfg.extent_tokens - t % ctx->cfg.extent_tokens;

		if (run > ntokens - i)
			run = ntokens - i;
		memcpy(ess_row(ctx, req, layer, t),
		       (const uint8_t *)rows + (size_t)i * ctx->cfg.entry_bytes,
		       (size_t)run * ctx->cfg.entry_bytes);
		i += run;
	}
	*held = first_token + ntokens;
	ctx->st.ingested += ntokens;
	if (ctx->be.ops->map_changed)
		return ctx->be.ops->map_changed(&ctx->be, req, layer);
	return 0;
}

int ess_warmup(ess_ctx *ctx, uint32_t req, uint32_t layer,
	       const int32_t *tokens, uint32_t n)
{
	const char *fn = "ess_warmup";
	int ret;

	if (!ctx)
		return -EINVAL;
	ret = ess_check_req(ctx, fn, req);
	if (!ret)
		ret = ess_check_layer(ctx, fn, layer);
	if (!ret)
		ret = ess_check_tokens(ctx, fn, req, layer, tokens, n,
				       ctx->cfg.slots);
	if (ret)
		return ret;
	if (n > ctx->cfg.slots)
		return ess_fail(ctx, -EINVAL, "%s: %u tokens > %u slots", fn, n,
				ctx->cfg.slots);
	if (n == 0)
		return 0;
	/* NVMe tier hook: the rows to load must be in host memory. */
	ret = hook_tier_warmup(ctx, req, layer, tokens, n);
	if (ret)
		return ret;
	return ctx->be.ops->warmup(&ctx->be, req, layer, tokens, n);
}

int ess_append(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
	       const uint32_t *reqs, const void *rows, void *stream)
{
	const char *fn = "ess_append";
	uint32_t i;
	int ret;

	if (!ctx)
		return -EINVAL;
	ret = ess_check_layer(ctx, fn, layer);
	if (!ret)
		ret = ess_check_batch(ctx, fn, nreq, reqs);
	if (ret)
		return ret;
	if (nreq && !rows)
		return ess_fail(ctx, -EINVAL, "%s: rows is NULL", fn);
	for (i = 0; i < nreq; i++) {	/* NVMe tier hook: none parked */
		ret = hook_tier_write(ctx, fn, reqs[i]);
		if (ret)
			return ret;
	}
	for (i = 0; i < nreq; i++) {
		ctx->pos[i] = *ess_pool_ntokens(&ctx->pool, reqs[i], layer);
		if (ctx->pos[i] >= ctx->cfg.max_tokens)
			return ess_fail(ctx, -EINVAL,
					"%s: request %u layer %u already holds max_tokens %u",
					fn, reqs[i], layer, ctx->cfg.max_tokens);
	}
	if (nreq == 0)
		return 0;
	for (i = 0; i < nreq; i++) {
		ret = grow(ctx, fn, reqs[i], layer, ctx->pos[i] + 1);
		if (ret)
			goto undo;
		if (ctx->be.ops->map_changed) {
			ret = ctx->be.ops->map_changed(&ctx->be, reqs[i], layer);
			if (ret)
				goto undo_this;
		}
	}
	ret = ctx->be.ops->append(&ctx->be, layer, nreq, reqs, ctx->pos, rows,
				  stream);
	if (ret) {
		i = nreq;
		goto undo;
	}
	for (i = 0; i < nreq; i++)
		(*ess_pool_ntokens(&ctx->pool, reqs[i], layer))++;
	ess_statshm_tick(ctx->statshm, &ctx->st);
	return 0;

undo_this:
	i++;
undo:
	/* Give back the extents made for this call (those past the held
	 * tokens), so that a failed append leaves the pool as it was. */
	while (i-- > 0) {
		uint32_t et = ctx->cfg.extent_tokens;

		ess_pool_extents_free(&ctx->pool, reqs[i], layer,
				      (ctx->pos[i] + et - 1) / et);
		if (ctx->be.ops->map_changed)
			ctx->be.ops->map_changed(&ctx->be, reqs[i], layer);
	}
	return ret;
}
