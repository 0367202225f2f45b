/* SPDX-License-Identifier: MIT */
/*
 * Shared set-up of the tier tests (nvme-tier, nvme-tier-layer on the
 * fallback pool; nvme-tier-heat on a /dev/ess region): two requests of two
 * layers, 512 tokens each in 8 full 4 KiB extents, in a 64-extent pool
 * (half used); their random rows kept in tier_rows to compare with.
 */
#ifndef ESS_TESTS_TIER_TAP_H
#define ESS_TESTS_TIER_TAP_H

#include "ess/ess.h"
#include "ess/nvme.h"
#include "nvme-tap.h"

#define LAYERS 2
#define EB 64		/* entry bytes */
#define ET 64		/* extent tokens: 4 KiB extents */
#define TOK 512		/* tokens per (request, layer): 8 extents */
#define NREQ 2
#define TOPK 8

static uint8_t tier_rows[NREQ][LAYERS][TOK * EB];

/* The tests' geometry, on the fallback pool, with flags. */
static inline void tier_config(struct ess_config *c, uint32_t flags)
{
	ess_config_default(c);
	c->layers = LAYERS;
	c->entry_bytes = EB;
	c->topk = TOPK;
	c->slots = 16;
	c->max_requests = 4;
	c->max_tokens = 1024;
	c->extent_tokens = ET;
	c->pool_bytes = 64 * ET * EB;	/* 64 extents */
	c->pool = ESS_POOL_FALLBACK;
	c->flags |= flags;
}

/* Requests first_id and first_id + 1 added (ids into req), every layer
 * ingested from tier_rows; 0, or -1 at the first failure. */
static inline int tier_add_requests(ess_ctx *ctx, uint64_t first_id, uint32_t *req)
{
	for (uint32_t r = 0; r < NREQ; r++) {
		if (ess_request_add(ctx, first_id + r, &req[r]))
			return -1;
		for (uint32_t l = 0; l < LAYERS; l++)
			if (ess_ingest(ctx, req[r], l, 0, TOK, tier_rows[r][l]))
				return -1;
	}
	return 0;
}

/* A context with flags, requests 100 and 101 ingested from tier_rows
 * (ids into req); exits with a Bail out when that fails. */
static inline ess_ctx *tier_make_ctx(uint32_t flags, uint32_t *req)
{
	struct ess_config c;
	ess_ctx *ctx = NULL;
	char err[256];

	tier_config(&c, flags);
	if (ess_create(&c, &ctx, err, sizeof(err))) {
		printf("Bail out! ess_create: %s\n", err);
		exit(1);
	}
	if (tier_add_requests(ctx, 100, req))
		exit(1);
	return ctx;
}

/* Every row of request req (index r of tier_rows) in host memory, exact. */
static inline int tier_host_matches(ess_ctx *ctx, uint32_t req, uint32_t r)
{
	for (uint32_t l = 0; l < LAYERS; l++)
		for (uint32_t t = 0; t < TOK; t++) {
			const void *h = ess_host_row(ctx, req, l, t);

			if (ess_tier_demoted(ctx, req, l, t) == 1 || !h ||
			    memcmp(h, tier_rows[r][l] + (size_t)t * EB, EB))
				return 0;
		}
	return 1;
}

/* Extents of request req on NVMe only. */
static inline uint32_t tier_demoted_extents(ess_ctx *ctx, uint32_t req)
{
	uint32_t n = 0;

	for (uint32_t l = 0; l < LAYERS; l++)
		for (uint32_t e = 0; e < TOK / ET; e++)
			n += ess_tier_demoted(ctx, req, l, e * ET) == 1;
	return n;
}

#endif
