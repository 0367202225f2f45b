/* SPDX-License-Identifier: MIT */
/*
 * What the runtime core calls into the NVMe tier (runtime/tier.c).
 */
#ifndef ESS_RUNTIME_TIER_H
#define ESS_RUNTIME_TIER_H

#include "ess/ess.h"

/* Drop the context's tier, if any, without reading anything back (the
 * context is going away): called by ess_destroy() so that no tier outlives
 * its context. */
void ess_tier_release(ess_ctx *ctx);

#endif /* ESS_RUNTIME_TIER_H */
