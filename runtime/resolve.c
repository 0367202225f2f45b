// SPDX-License-Identifier: MIT
/*
 * The per-layer entry points: resolve, sync, the hot buffer's address, and
 * data-check mode.  The core checks what the host can see (layer, batch,
 * pointers); the backend checks the top-k rows and runs the hot-set rule.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"
#include "hooks.h"

int ess_resolve(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
		const uint32_t *reqs, const int32_t *topk, int32_t *slots_out,
		void *stream)
{
	const char *fn = "ess_resolve";
	int ret;

	if (!ctx)
		return -EINVAL;
	ret = ess_check_layer(ctx, fn, layer);
	if (!ret)
		ret = ess_check_batch(ctx, fn, nreq, reqs);
	if (ret)
		return ret;
	if (nreq == 0)
		return 0;
	if (!topk || !slots_out)
		return ess_fail(ctx, -EINVAL, "%s: %s is NULL", fn,
				topk ? "slots_out" : "topk");
	/* NVMe tier hook: demoted extents the top-k needs come back first. */
	ret = hook_tier_resolve(ctx, layer, nreq, reqs, topk);
	if (ret)
		return ret;
	ret = ctx->be.ops->resolve(&ctx->be, layer, nreq, reqs, topk,
				   slots_out, stream);
	if (ret)
		return ret;
	if (ctx->cfg.flags & ESS_CFG_DATA_CHECK)
		ret = ess_data_check(ctx, layer, nreq, reqs);
	ess_statshm_tick(ctx->statshm, &ctx->st);
	return ret;
}

static void drain_heat(ess_ctx *ctx)
{
	uint64_t off[256];
	int n;

	if (!ctx->be.ops->heat_drain)
		return;
	while ((n = ctx->be.ops->heat_drain(&ctx->be, off, 256)) > 0) {
		if (ctx->heat.fd >= 0)
			ess_heat_touch(&ctx->heat, off, (uint32_t)n);
	}
}

int ess_sync(ess_ctx *ctx, void *stream)
{
	int ret, hret;

	if (!ctx)
		return -EINVAL;
	ret = ctx->be.ops->sync(&ctx->be, stream);
	drain_heat(ctx);
	hret = ess_heat_flush(&ctx->heat);
	(void)hret;	/* counted in heat_report_errors; never fails a step */
	ess_statshm_tick(ctx->statshm, &ctx->st);
	return ret;
}

void *ess_hot_layer(ess_ctx *ctx, uint32_t layer)
{
	if (!ctx || ess_check_layer(ctx, "ess_hot_layer", layer))
		return NULL;
	return ctx->be.ops->hot_layer(&ctx->be, layer);
}

int ess_data_check(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
		   const uint32_t *reqs)
{
	const struct ess_config *c = &ctx->cfg;
	uint32_t bad = 0;
	int first = 1, ret = 0;

	for (uint32_t i = 0; i < nreq; i++) {
		uint32_t r = reqs[i];
		uint32_t held = *ess_pool_ntokens(&ctx->pool, r, layer);

		ret = ctx->be.ops->read_tokens(&ctx->be, r, layer, ctx->tokens);
		if (!ret)
			ret = ctx->be.ops->read_hot(&ctx->be, layer,
						    (uint64_t)r * c->slots,
						    c->slots, ctx->rowbuf);
		if (ret)
			return ret;
		for (uint32_t s = 0; s < c->slots; s++) {
			int32_t t = ctx->tokens[s];
			const uint8_t *hot = ctx->rowbuf +
					     (size_t)s * c->entry_bytes;

			if (t < 0)
				continue;
			/* NVMe tier hook: a demoted row has no host copy. */
			if ((uint32_t)t < held &&
			    ess_pool_extents(&ctx->pool, r, layer)
				[(uint32_t)t / c->extent_tokens] == UINT64_MAX)
				continue;
			ctx->st.data_checks++;
			if ((uint32_t)t < held &&
			    !memcmp(hot, ess_row(ctx, r, layer, (uint32_t)t),
				    c->entry_bytes))
				continue;
			ctx->st.data_check_failures++;
			bad++;
			if (first) {
				ess_fail(ctx, -EIO,
					 "data check: layer %u request %u slot %u (token %d) differs from the host row",
					 layer, r, s, t);
				first = 0;
			}
		}
	}
	return bad ? -EIO : 0;
}

int ess_stats_get(const ess_ctx *cctx, struct ess_stats *st)
{
	ess_ctx *ctx = (ess_ctx *)cctx;
	int ret;

	if (!ctx)
		return -EINVAL;
	if (!st)
		return ess_fail(ctx, -EINVAL, "ess_stats_get: st is NULL");
	if (ctx->be.ops->stats_flush) {
		ret = ctx->be.ops->stats_flush(&ctx->be);
		if (ret)
			return ret;
	}
	/* Levels are taken now; counters are what the calls added. */
	ctx->st.pool_used_bytes = (uint64_t)ctx->pool.nused *
				  ctx->pool.hdr->extent_bytes;
	*st = ctx->st;
	ess_statshm_publish(ctx->statshm, &ctx->st);
	return 0;
}
