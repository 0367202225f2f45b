/* SPDX-License-Identifier: MIT */
/*
 * TAP and fixture helpers of the runtime tests (tests/unit/runtime-*.c).
 * The plan is printed at the end (ok lines counted as they go); a crash
 * still fails the program through its exit status.
 */
#ifndef ESS_TESTS_RUNTIME_TAP_H
#define ESS_TESTS_RUNTIME_TAP_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ess/ess.h"
#include "tap.h"

/* A small geometry: fast, and small enough to fill. */
static inline void small_cfg(struct ess_config *c)
{
	ess_config_default(c);
	c->layers = 3;
	c->entry_bytes = 40;
	c->topk = 8;
	c->slots = 16;
	c->max_requests = 4;
	c->max_tokens = 1024;
	c->extent_tokens = 16;
	c->pool_bytes = 4u << 20;
	c->pool = ESS_POOL_FALLBACK;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rng_state = x;
	return x;
}

/* Seed from the environment (ESS_TEST_SEED) or the pid; printed. */
static inline void seed_rng(void)
{
	const char *s = getenv("ESS_TEST_SEED");
	uint64_t v = s ? strtoull(s, NULL, 0) : (uint64_t)getpid() * 2654435761u;

	rng_state = v ? v : 1;
	diag("seed %llu (set ESS_TEST_SEED to replay)", (unsigned long long)v);
}

static inline void fill_random(void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rnd();
}

static inline ess_ctx *make_ctx(const struct ess_config *c)
{
	char err[256] = "";
	ess_ctx *ctx = NULL;
	int r = ess_create(c, &ctx, err, sizeof(err));

	if (r) {
		printf("Bail out! ess_create: %d %s\n", r, err);
		exit(1);
	}
	return ctx;
}

/* Add a request and ingest ntok random rows in every layer. */
static inline uint32_t add_filled(ess_ctx *ctx, uint64_t tag, uint32_t ntok)
{
	const struct ess_config *c = ess_get_config(ctx);
	uint8_t *rows = malloc((size_t)ntok * c->entry_bytes + 1);
	uint32_t req;

	MUST(ess_request_add(ctx, tag, &req));
	for (uint32_t l = 0; l < c->layers; l++) {
		fill_random(rows, (size_t)ntok * c->entry_bytes);
		MUST(ess_ingest(ctx, req, l, 0, ntok, rows));
	}
	free(rows);
	return req;
}

#endif
