/* SPDX-License-Identifier: MIT */
/*
 * What the runtime core calls into the NVMe tier (runtime/tier.c).
 */
#ifndef ESS_RUNTIME_TIER_H
#define ESS_RUNTIME_TIER_H

#include "ess/ess.h"

/* Drop the context's tier, if any: called by ess_destroy() so that no tier
 * outlives its context.  Demoted extents are read back first only when the
 * pool is a named region (it persists, and a region with holes in its
 * extent tables cannot be adopted again); otherwise they are dropped. */
void ess_tier_release(ess_ctx *ctx);

/*
 * Hooks of the core's entry points; each returns 0 at once when the
 * context has no tier.
 *   resolve: bring back the demoted extents the top-k touches (topk is
 *            read only when it is host memory, i.e. the CPU backend; else
 *            every extent of each (request, layer) comes back)
 *   warmup:  the same for a warm-up token list
 *   write:   ingest/append into a parked request: -EBUSY (its tail extent
 *            may be on NVMe only)
 *   remove:  drop the request's NVMe copies
 */
int ess_tier_hook_resolve(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
			  const uint32_t *reqs, const int32_t *topk);
int ess_tier_hook_warmup(ess_ctx *ctx, uint32_t req, uint32_t layer,
			 const int32_t *tokens, uint32_t n);
int ess_tier_hook_write(ess_ctx *ctx, const char *fn, uint32_t req);
void ess_tier_hook_remove(ess_ctx *ctx, uint32_t req);

#endif /* ESS_RUNTIME_TIER_H */
