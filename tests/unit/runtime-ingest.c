// SPDX-License-Identifier: MIT
/*
 * Prefill ingest and decode append: rows land in the host pool byte for
 * byte (chunked ingest across extent edges), appends write through to the
 * host pool and into the hot buffer, and the counters say so.
 */
#include "runtime-tap.h"

#define EB 40

int main(void)
{
	struct ess_config c;
	struct ess_stats st;
	uint8_t *rows, arow[2][EB];
	uint32_t r0, r1, n, reqs[2];
	int32_t topk[2][8], out[2][8];
	ess_ctx *ctx;
	int good;

	seed_rng();
	small_cfg(&c);
	ctx = make_ctx(&c);
	rows = malloc(100 * EB);
	fill_random(rows, 100 * EB);
	MUST(ess_request_add(ctx, 1, &r0));
	MUST(ess_request_add(ctx, 2, &r1));

	/* Chunks of 7, 30 and 63 rows: they cross 16-token extents. */
	ok(ess_ingest(ctx, r0, 1, 0, 7, rows) == 0, "ingest 7 rows");
	ok(ess_ingest(ctx, r0, 1, 7, 30, rows + 7 * EB) == 0, "ingest 30 more");
	ok(ess_ingest(ctx, r0, 1, 37, 63, rows + 37 * EB) == 0, "ingest 63 more");
	good = 1;
	for (uint32_t t = 0; t < 100; t++) {
		const void *h = ess_host_row(ctx, r0, 1, t);

		good &= h && !memcmp(h, rows + t * EB, EB);
	}
	ok(good, "all 100 rows byte-exact in the host pool");
	ok(ess_host_row(ctx, r0, 1, 100) == NULL, "row past the end: NULL");
	ok(ess_host_row(ctx, r0, 0, 0) == NULL, "row of an empty layer: NULL");
	ok(ess_ingest(ctx, r0, 1, 50, 1, rows) == -EINVAL, "rewrite of a held row refused");
	ok(ess_ingest(ctx, r0, 1, 101, 1, rows) == -EINVAL, "gap refused");
	ok(ess_ingest(ctx, r0, 1, 100, 0, rows) == 0, "empty ingest is a no-op");
	ok(ess_ingest(ctx, r0, 1, 100, 1, NULL) == -EINVAL, "NULL rows refused");
	ok(ess_ingest(ctx, r0, 1, 100, c.max_tokens, rows) == -EINVAL &&
	   strstr(ess_errmsg(ctx), "max_tokens"), "past max_tokens refused");
	ok(ess_ingest(ctx, 3, 1, 0, 1, rows) == -ENOENT, "unknown request: -ENOENT");
	ok(ess_ingest(ctx, r0, 9, 0, 1, rows) == -EINVAL, "bad layer: -EINVAL");
	ess_stats_get(ctx, &st);
	ok(st.ingested == 100, "100 rows counted as ingested");

	/* Append: r0 layer 1 at token 100 and r1 layer 1 at token 0. */
	fill_random(arow, sizeof(arow));
	reqs[0] = r0;
	reqs[1] = r1;
	ok(ess_append(ctx, 1, 2, reqs, arow, NULL) == 0, "append to two requests");
	ok(ess_request_tokens(ctx, r0, 1, &n) == 0 && n == 101, "r0 holds 101");
	ok(ess_request_tokens(ctx, r1, 1, &n) == 0 && n == 1, "r1 holds 1");
	ok(!memcmp(ess_host_row(ctx, r0, 1, 100), arow[0], EB) &&
	   !memcmp(ess_host_row(ctx, r1, 1, 0), arow[1], EB),
	   "appended rows written through to the host pool");
	ess_stats_get(ctx, &st);
	ok(st.appends == 2 && st.bytes_d2h == 2 * EB, "appends and bytes counted");

	/* The appended tokens are hits, and their slots hold the rows. */
	memset(topk, 0xff, sizeof(topk));
	topk[0][3] = 100;
	topk[1][0] = 0;
	ok(ess_resolve(ctx, 1, 2, reqs, &topk[0][0], &out[0][0], NULL) == 0,
	   "resolve the appended tokens");
	ess_stats_get(ctx, &st);
	ok(st.hits == 2 && st.misses == 0, "both were hits (inserted by append)");
	{
		const uint8_t *hot = ess_hot_layer(ctx, 1);

		ok(out[0][3] >= 0 && out[0][3] < 16 && out[1][0] >= 16 &&
		   out[1][0] < 32, "slots in each request's range");
		ok(!memcmp(hot + (size_t)out[0][3] * EB, arow[0], EB) &&
		   !memcmp(hot + (size_t)out[1][0] * EB, arow[1], EB),
		   "hot buffer holds the appended rows");
	}
	/* Failed appends change nothing. */
	reqs[1] = r0;
	ok(ess_append(ctx, 1, 2, reqs, arow, NULL) == -EINVAL, "request twice in a batch");
	ok(ess_append(ctx, 1, 1, reqs, NULL, NULL) == -EINVAL, "NULL rows");
	ok(ess_append(ctx, 1, 1, NULL, arow, NULL) == -EINVAL, "NULL reqs");
	ok(ess_append(ctx, 5, 1, reqs, arow, NULL) == -EINVAL, "bad layer");
	reqs[0] = 3;
	ok(ess_append(ctx, 1, 1, reqs, arow, NULL) == -EINVAL, "unknown request");
	ok(ess_request_tokens(ctx, r0, 1, &n) == 0 && n == 101, "r0 still holds 101");
	ess_stats_get(ctx, &st);
	ok(st.appends == 2, "no append counted");
	ok(ess_append(ctx, 1, 0, reqs, arow, NULL) == 0, "empty batch is a no-op");
	ess_destroy(ctx);
	free(rows);
	return done();
}
