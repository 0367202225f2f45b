// SPDX-License-Identifier: MIT
/*
 * Request life cycle: add, find by tag, token counts per (request, layer),
 * remove, id reuse, a full table, duplicate tags and unknown ids.
 */
#include "runtime-tap.h"

int main(void)
{
	struct ess_config c;
	struct ess_stats st;
	uint32_t r[5], x, n;
	uint8_t rows[40 * 20];
	ess_ctx *ctx;
	int ret;

	small_cfg(&c);
	ctx = make_ctx(&c);
	memset(rows, 7, sizeof(rows));

	ok(ess_request_add(ctx, 100, &r[0]) == 0 && r[0] == 0, "first request gets id 0");
	ok(ess_request_add(ctx, 101, &r[1]) == 0 && r[1] == 1, "second gets id 1");
	ret = ess_request_add(ctx, 100, &x);
	ok(ret == -EEXIST && strstr(ess_errmsg(ctx), "tag 100"), "duplicate tag: -EEXIST");
	ok(ess_request_add(ctx, 102, &r[2]) == 0 && ess_request_add(ctx, 103, &r[3]) == 0,
	   "fill the table");
	ret = ess_request_add(ctx, 104, &r[4]);
	ok(ret == -ENOSPC && strstr(ess_errmsg(ctx), "in use"), "full table: -ENOSPC");
	ok(ess_request_find(ctx, 102, &x) == 0 && x == r[2], "find by tag");
	ok(ess_request_find(ctx, 999, &x) == -ENOENT, "unknown tag: -ENOENT");

	ok(ess_request_tokens(ctx, r[1], 2, &n) == 0 && n == 0, "new request holds no tokens");
	MUST(ess_ingest(ctx, r[1], 2, 0, 20, rows));
	MUST(ess_ingest(ctx, r[1], 0, 0, 5, rows));
	ok(ess_request_tokens(ctx, r[1], 2, &n) == 0 && n == 20, "layer 2 holds 20");
	ok(ess_request_tokens(ctx, r[1], 0, &n) == 0 && n == 5, "layer 0 holds 5");
	ok(ess_request_tokens(ctx, r[1], 1, &n) == 0 && n == 0, "layer 1 holds 0");
	ok(ess_request_tokens(ctx, r[1], 3, &n) == -EINVAL, "layer out of range: -EINVAL");
	ok(ess_request_tokens(ctx, 4, 0, &n) == -EINVAL, "id out of range: -EINVAL");
	ok(ess_request_tokens(ctx, r[1], 0, NULL) == -EINVAL, "NULL count: -EINVAL");

	ess_stats_get(ctx, &st);
	ok(st.pool_used_bytes == 3ull * 16 * 40, "3 extents in use (20 + 5 tokens)");
	ok(ess_request_remove(ctx, r[1]) == 0, "remove");
	ok(ess_request_remove(ctx, r[1]) == -ENOENT, "remove twice: -ENOENT");
	ok(ess_request_remove(ctx, 77) == -EINVAL, "remove id out of range: -EINVAL");
	ok(ess_request_find(ctx, 101, &x) == -ENOENT, "removed tag is gone");
	ok(ess_request_tokens(ctx, r[1], 2, &n) == -ENOENT, "removed id has no tokens");
	ok(ess_host_row(ctx, r[1], 2, 0) == NULL, "removed id has no rows");
	ess_stats_get(ctx, &st);
	ok(st.pool_used_bytes == 0, "its extents are free again");
	ok(ess_request_add(ctx, 105, &x) == 0 && x == r[1], "freed id is reused");
	ok(ess_request_tokens(ctx, x, 2, &n) == 0 && n == 0, "reused id starts empty");
	ess_stats_get(ctx, &st);
	ok(st.requests_added == 5 && st.requests_removed == 1, "add/remove counted");

	ok(ess_request_add(NULL, 1, &x) == -EINVAL, "NULL ctx: -EINVAL");
	ok(ess_request_add(ctx, 1, NULL) == -EINVAL, "NULL id pointer: -EINVAL");
	ok(ess_request_find(ctx, 1, NULL) == -EINVAL, "NULL find pointer: -EINVAL");
	ok(ess_request_remove(NULL, 0) == -EINVAL, "remove NULL ctx: -EINVAL");
	ess_destroy(ctx);
	return done();
}
