// SPDX-License-Identifier: MIT
/*
 * Context life cycle: create (config, backend, host pool, tables), destroy,
 * error messages.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "hooks.h"
#include "hotset.h"

int ess_fail(const ess_ctx *cctx, int err, const char *fmt, ...)
{
	/* The message buffer is the context's mutable part even for the
	 * const (query) entry points: contexts are always heap objects. */
	ess_ctx *ctx = (ess_ctx *)cctx;
	va_list ap;

	if (ctx) {
		va_start(ap, fmt);
		vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
		va_end(ap);
	}
	return err;
}

const char *ess_errmsg(const ess_ctx *ctx)
{
	if (!ctx)
		return "no context";
	return ctx->err;
}

const char *ess_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case -EINVAL: return "invalid argument";
	case -ENOENT: return "no such request or region";
	case -ENOSPC: return "host pool or request table full";
	case -ENOMEM: return "out of memory";
	case -EIO: return "data check failed or pool corrupt";
	case -ENODEV: return "backend or device not available";
	case -EEXIST: return "already exists";
	case -EPERM: return "not permitted";
	case -EBUSY: return "busy";
	default: return "unknown error";
	}
}

const struct ess_config *ess_get_config(const ess_ctx *ctx)
{
	return ctx ? &ctx->cfg : NULL;
}

/* ess_policy_names() lives with the policies, in runtime/policy.c. */

const char *ess_pool_provider(const ess_ctx *ctx)
{
	if (!ctx)
		return NULL;
	switch (ctx->pool.src) {
	case ESS_POOL_SRC_MODULE: return "module";
	case ESS_POOL_SRC_HUGETLB: return "hugetlb";
	default: return "thp";
	}
}

static int open_backend(ess_ctx *ctx, int32_t *node)
{
	const struct ess_backend_ops *ops;
	int ret;

	*node = -1;
	if (ctx->cfg.backend == ESS_BACKEND_CUDA) {
		ret = ess_backend_load_cuda(&ops, &ctx->be_handle, ctx->err,
					    sizeof(ctx->err));
		if (ret)
			return ret;
	} else {
		ops = ess_backend_cpu_ops();
	}
	ctx->be.ops = ops;
	if (ops->probe) {
		ret = ops->probe(ctx->cfg.device, node, ctx->err,
				 sizeof(ctx->err));
		if (ret)
			return ret;
	}
	return 0;
}

static int open_pool(ess_ctx *ctx, int32_t be_node)
{
	const struct ess_config *c = &ctx->cfg;
	struct ess_pool_params rp;
	struct ess_pool_geom g;
	int use_module, ret;

	memset(&g, 0, sizeof(g));
	g.layers = c->layers;
	g.entry_bytes = c->entry_bytes;
	g.extent_tokens = c->extent_tokens;
	g.max_requests = c->max_requests;
	g.max_extents = ctx->max_extents;

	memset(&rp, 0, sizeof(rp));
	rp.bytes = c->pool_bytes;
	rp.node = c->numa_node >= 0 ? c->numa_node : be_node;
	rp.name = c->region_name;
	rp.heat_shift = c->heat_shift;
	rp.require_lock = !!(c->flags & ESS_CFG_POOL_LOCKED);

	use_module = c->pool == ESS_POOL_MODULE ||
		     (c->pool == ESS_POOL_AUTO && ess_pool_module_present());
	if (c->region_name && !use_module)
		return ess_fail(ctx, -ENODEV,
				"region \"%s\": named regions need the ess module (%s is absent)",
				c->region_name, "/dev/ess");
	/* The tables sit in front of the rows: ask for both. */
	rp.bytes += ess_pool_header_bytes(&g);
	if (use_module)
		ret = ess_pool_module_open(&ctx->pool, &rp, ctx->err,
					   sizeof(ctx->err));
	else
		ret = ess_pool_fallback_open(&ctx->pool, &rp, ctx->err,
					     sizeof(ctx->err));
	if (ret)
		return ret;
	if (ctx->pool.attached)
		ret = ess_pool_adopt(&ctx->pool, &g, c->pool_bytes, ctx->err,
				     sizeof(ctx->err));
	else
		ret = ess_pool_format(&ctx->pool, &g, c->pool_bytes, ctx->err,
				      sizeof(ctx->err));
	return ret;
}

static int alloc_scratch(ess_ctx *ctx)
{
	const struct ess_config *c = &ctx->cfg;

	ctx->stamp = calloc(c->max_tokens, sizeof(*ctx->stamp));
	ctx->req_seen = calloc(c->max_requests, 1);
	ctx->pos = calloc(c->max_requests, sizeof(*ctx->pos));
	ctx->tokens = calloc(c->slots, sizeof(*ctx->tokens));
	ctx->rowbuf = malloc((size_t)c->slots * c->entry_bytes);
	if (!ctx->stamp || !ctx->req_seen || !ctx->pos || !ctx->tokens ||
	    !ctx->rowbuf)
		return ess_fail(ctx, -ENOMEM, "out of memory for scratch");
	return 0;
}

static int start_backend(ess_ctx *ctx)
{
	struct ess_backend *be = &ctx->be;
	const struct ess_config *c = &ctx->cfg;
	int ret;

	be->geom.layers = c->layers;
	be->geom.entry_bytes = c->entry_bytes;
	be->geom.topk = c->topk;
	be->geom.slots = c->slots;
	be->geom.max_requests = c->max_requests;
	be->geom.policy = ctx->policy_id;
	be->geom.flags = c->flags;
	be->geom.extent_tokens = c->extent_tokens;
	be->geom.max_extents = ctx->max_extents;
	be->geom.max_tokens = c->max_tokens;
	be->geom.device = c->device;
	be->geom.numa_node = ctx->pool.node;
	be->pool_base = ctx->pool.base;
	be->pool_bytes = ctx->pool.bytes;
	be->extent_off = ctx->pool.extent_off;
	be->ntokens = ctx->pool.ntokens;
	be->stats = &ctx->st;
	if (ctx->heat.fd >= 0) {
		be->heat = ess_heat_touch;
		be->heat_arg = &ctx->heat;
	}
	be->err = ctx->err;
	be->errlen = sizeof(ctx->err);
	ret = be->ops->init(be);
	if (ret)
		return ret;
	ctx->be_ready = 1;
	return 0;
}

int ess_create(const struct ess_config *cfg, ess_ctx **out,
	       char *errmsg, size_t errlen)
{
	char err[ESS_ERRMSG_MAX] = "";
	ess_ctx *ctx = NULL;
	int32_t node = -1;
	int ret;

	if (out)
		*out = NULL;
	if (!cfg || !out) {
		snprintf(err, sizeof(err), "ess_create: %s is NULL",
			 cfg ? "out" : "cfg");
		ret = -EINVAL;
		goto fail;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		snprintf(err, sizeof(err), "out of memory for the context");
		ret = -ENOMEM;
		goto fail;
	}
	ctx->pool.fd = -1;
	ctx->heat.fd = -1;
	ctx->cfg = *cfg;
	ret = ess_config_check(&ctx->cfg, ctx->err, sizeof(ctx->err));
	if (ret)
		goto fail_ctx;
	snprintf(ctx->policy, sizeof(ctx->policy), "%s",
		 cfg->policy ? cfg->policy : "lru");
	ctx->cfg.policy = ctx->policy;
	ctx->policy_id = (uint32_t)ess_policy_by_name(ctx->policy);
	if (cfg->region_name) {
		snprintf(ctx->region, sizeof(ctx->region), "%s",
			 cfg->region_name);
		ctx->cfg.region_name = ctx->region;
	}
	ctx->max_extents = (ctx->cfg.max_tokens + ctx->cfg.extent_tokens - 1) /
			   ctx->cfg.extent_tokens;

	ret = open_backend(ctx, &node);
	if (ret)
		goto fail_ctx;
	ret = open_pool(ctx, node);
	if (ret)
		goto fail_ctx;
	ess_heat_init(&ctx->heat,
		      ctx->pool.src == ESS_POOL_SRC_MODULE &&
		      !(ctx->cfg.flags & ESS_CFG_NO_HEAT) ? ctx->pool.fd : -1,
		      ctx->pool.heat_shift, ctx->pool.nr_heat_blocks, &ctx->st);
	ret = alloc_scratch(ctx);
	if (ret)
		goto fail_ctx;
	ret = start_backend(ctx);
	if (ret)
		goto fail_ctx;
	ctx->st.pool_bytes = ctx->pool.hdr->nextents * ctx->pool.hdr->extent_bytes;
	ctx->st.pool_unlocked = !ctx->pool.locked;
	if (!(ctx->cfg.flags & ESS_CFG_NO_STAT)) {
		/* Monitoring (ess-stat) never stops the engine: without a
		 * segment the context runs unpublished, as it does when the
		 * caller asked for none (ESS_CFG_NO_STAT; every statshm call
		 * takes the NULL and does nothing). */
		struct ess_statshm_info info = { &ctx->cfg,
						 ess_pool_provider(ctx) };
		char msg[ESS_ERRMSG_MAX];

		if (ess_statshm_open(&ctx->statshm, &info, msg, sizeof(msg)))
			ctx->statshm = NULL;
		/* Publishing then also takes the pool level and the NVMe
		 * tier's counters from the context. */
		ess_statshm_bind(ctx->statshm, ctx);
		ess_statshm_publish(ctx->statshm, &ctx->st);
	}
	ctx->err[0] = 0;
	*out = ctx;
	return 0;

fail_ctx:
	snprintf(err, sizeof(err), "%s", ctx->err);
	ess_destroy(ctx);
fail:
	if (errmsg && errlen)
		snprintf(errmsg, errlen, "%s", err);
	return ret;
}

void ess_destroy(ess_ctx *ctx)
{
	if (!ctx)
		return;
	hook_tier_release(ctx);	/* NVMe tier hook (runtime/hooks.h) */
	if (ctx->be_ready) {
		/* Finish queued work and send its heat before the pool goes. */
		ess_sync(ctx, NULL);
		if (ctx->be.ops->stats_flush)
			ctx->be.ops->stats_flush(&ctx->be);
		ctx->be.ops->fini(&ctx->be);
	}
	ess_statshm_close(ctx->statshm);
	ess_backend_unload(ctx->be_handle);
	ess_pool_fini(&ctx->pool);
	ess_pool_close(&ctx->pool);
	free(ctx->stamp);
	free(ctx->req_seen);
	free(ctx->pos);
	free(ctx->tokens);
	free(ctx->rowbuf);
	free(ctx);
}
