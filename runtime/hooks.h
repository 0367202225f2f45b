/* SPDX-License-Identifier: MIT */
/*
 * The core's calls into the NVMe tier (runtime/tier.h), made through weak
 * references.  A program that never attaches a tier does not link tier.o,
 * and with it nvme.o, liburing and ISA-L (which has no static library
 * here, so the static guest tests could not link otherwise); without
 * tier.o no tier can exist, and every hook is "no tier: nothing to do".
 * A program that calls ess_tier_attach() links tier.o and the hooks
 * resolve to it.  Include only from the core's files, not from tier.c.
 */
#ifndef ESS_RUNTIME_HOOKS_H
#define ESS_RUNTIME_HOOKS_H

#include "tier.h"

#pragma weak ess_tier_release
#pragma weak ess_tier_hook_resolve
#pragma weak ess_tier_hook_warmup
#pragma weak ess_tier_hook_write
#pragma weak ess_tier_hook_remove

static inline void hook_tier_release(ess_ctx *ctx)
{
	if (ess_tier_release)
		ess_tier_release(ctx);
}

static inline int hook_tier_resolve(ess_ctx *ctx, uint32_t layer,
				    uint32_t nreq, const uint32_t *reqs,
				    const int32_t *topk)
{
	return ess_tier_hook_resolve ?
	       ess_tier_hook_resolve(ctx, layer, nreq, reqs, topk) : 0;
}

static inline int hook_tier_warmup(ess_ctx *ctx, uint32_t req, uint32_t layer,
				   const int32_t *tokens, uint32_t n)
{
	return ess_tier_hook_warmup ?
	       ess_tier_hook_warmup(ctx, req, layer, tokens, n) : 0;
}

static inline int hook_tier_write(ess_ctx *ctx, const char *fn, uint32_t req)
{
	return ess_tier_hook_write ? ess_tier_hook_write(ctx, fn, req) : 0;
}

static inline void hook_tier_remove(ess_ctx *ctx, uint32_t req)
{
	if (ess_tier_hook_remove)
		ess_tier_hook_remove(ctx, req);
}

#endif /* ESS_RUNTIME_HOOKS_H */
