/* SPDX-License-Identifier: MIT */
/*
 * The context and what the core's files share.  Not installed.
 */
#ifndef ESS_RUNTIME_INTERNAL_H
#define ESS_RUNTIME_INTERNAL_H

#include <stdint.h>

#include "ess/ess.h"
#include "backend.h"
#include "heat.h"
#include "pool.h"
#include "statshm.h"

#define ESS_ERRMSG_MAX 256
#define ESS_NAME_COPY  64

struct ess_ctx {
	struct ess_config cfg;		/* defaults filled in */
	char policy[ESS_NAME_COPY];	/* cfg.policy points here */
	char region[ESS_NAME_COPY];	/* cfg.region_name points here */
	uint32_t policy_id;
	uint32_t max_extents;		/* per (request, layer) */

	struct ess_pool pool;		/* tables live in the pool's header */
	struct ess_heat heat;
	struct ess_backend be;
	void *be_handle;		/* dlopen handle of libess-cuda.so */
	int be_ready;

	struct ess_stats st;
	struct ess_statshm *statshm;	/* published counters, NULL: off */

	/* scratch for checks, sized at create */
	uint32_t *stamp;		/* [max_tokens], duplicate detection */
	uint32_t stamp_gen;
	uint8_t *req_seen;		/* [max_requests] */
	uint32_t *pos;			/* [max_requests] append positions */
	int32_t *tokens;		/* [slots] data check */
	uint8_t *rowbuf;		/* [slots * entry_bytes] data check */

	char err[ESS_ERRMSG_MAX];
};

/* Record a failure's message; returns err so callers can `return`. */
int ess_fail(const ess_ctx *ctx, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Validation helpers shared by the entry points (set the message). */
int ess_check_layer(const ess_ctx *ctx, const char *fn, uint32_t layer);
int ess_check_req(const ess_ctx *ctx, const char *fn, uint32_t req);
/* reqs[0..nreq) valid and distinct, nreq <= max_requests. */
int ess_check_batch(ess_ctx *ctx, const char *fn, uint32_t nreq,
		    const uint32_t *reqs);
/* A token list for (req, layer): ids -1 or 0..held-1, distinct, at most
 * `limit` valid entries. */
int ess_check_tokens(ess_ctx *ctx, const char *fn, uint32_t req,
		     uint32_t layer, const int32_t *tok, uint32_t n,
		     uint32_t limit);

/* Validate cfg in place (defaults filled); message into err. */
int ess_config_check(struct ess_config *cfg, char *err, size_t errlen);

/* Data-check mode: compare every held slot of these requests in a layer
 * with the host rows; -EIO on a mismatch. */
int ess_data_check(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
		   const uint32_t *reqs);

/* Host address of token tok of (req, layer); the extent must exist. */
static inline uint8_t *ess_row(const ess_ctx *ctx, uint32_t req,
			       uint32_t layer, uint32_t tok)
{
	const uint64_t *tab = ess_pool_extents(&ctx->pool, req, layer);
	uint32_t et = ctx->cfg.extent_tokens;

	return (uint8_t *)ctx->pool.base + tab[tok / et] +
	       (uint64_t)(tok % et) * ctx->cfg.entry_bytes;
}

#endif /* ESS_RUNTIME_INTERNAL_H */
