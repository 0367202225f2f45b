// SPDX-License-Identifier: MIT
/*
 * A program built only from what 'make install' put in a staging prefix,
 * through pkg-config: it must find the headers, link the shared library and
 * resolve a top-k row into slots holding the right rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ess/ess.h>

int main(void)
{
	struct ess_config cfg;
	ess_ctx *ctx;
	char err[256];
	uint32_t req, i, tok = 64, entry = 32;
	int32_t topk[8], slots[8];
	uint8_t *rows, *hot;
	int rc, bad = 0;

	printf("1..3\n");
	ess_config_default(&cfg);
	cfg.layers = 1;
	cfg.entry_bytes = entry;
	cfg.topk = 8;
	cfg.slots = 16;
	cfg.max_requests = 1;
	cfg.max_tokens = tok;
	cfg.pool_bytes = 2u << 20;
	cfg.pool = ESS_POOL_FALLBACK;
	cfg.backend = ESS_BACKEND_CPU;
	rc = ess_create(&cfg, &ctx, err, sizeof(err));
	printf("%s 1 - context from the installed library%s%s\n", rc ? "not ok" : "ok",
	       rc ? ": " : "", rc ? err : "");
	if (rc)
		return 1;
	rows = malloc((size_t)tok * entry);
	for (i = 0; i < tok * entry; i++)
		rows[i] = (uint8_t)(i * 7 + 3);
	rc = ess_request_add(ctx, 7, &req);
	if (!rc)
		rc = ess_ingest(ctx, req, 0, 0, tok, rows);
	if (!rc)
		rc = ess_warmup(ctx, req, 0, (const int32_t[]){ 1, 2 }, 2);
	for (i = 0; i < 8; i++)
		topk[i] = (int32_t)(i * 9);
	if (!rc)
		rc = ess_resolve(ctx, 0, 1, &req, topk, slots, NULL);
	if (!rc)
		rc = ess_sync(ctx, NULL);
	printf("%s 2 - resolve%s%s\n", rc ? "not ok" : "ok", rc ? ": " : "",
	       rc ? ess_errmsg(ctx) : "");
	hot = ess_hot_layer(ctx, 0);
	for (i = 0; !rc && i < 8; i++)
		bad += memcmp(hot + (size_t)slots[i] * entry,
			      rows + (size_t)topk[i] * entry, entry) != 0;
	printf("%s 3 - every slot holds its row\n", rc || bad ? "not ok" : "ok");
	ess_destroy(ctx);
	free(rows);
	return rc || bad;
}
