// SPDX-License-Identifier: MIT
/*
 * Data-check mode: every held slot of the resolved requests is compared
 * with its host row after each resolve.  Clean runs pass and count the
 * comparisons; one corrupted byte in one slot fails the next resolve with
 * -EIO, a message naming the slot, and counted failures.
 */
#include "runtime-tap.h"

#define EB 48

int main(void)
{
	struct ess_config c;
	struct ess_stats st;
	uint32_t reqs[2];
	int32_t topk[2][8], out[2][8];
	uint8_t *hot;
	ess_ctx *ctx;
	int ret, clean = 1;

	seed_rng();
	small_cfg(&c);
	c.entry_bytes = EB;
	c.flags = ESS_CFG_DATA_CHECK;
	ctx = make_ctx(&c);
	reqs[0] = add_filled(ctx, 1, 40);
	reqs[1] = add_filled(ctx, 2, 40);

	for (int s = 0; s < 10; s++) {
		for (int i = 0; i < 2; i++)
			for (int j = 0; j < 8; j++)
				topk[i][j] = (int32_t)((s * 3 + j * 4 + i) % 40);
		topk[1][2] = -1;
		clean &= ess_resolve(ctx, 0, 2, reqs, &topk[0][0], &out[0][0], NULL) == 0;
	}
	ess_stats_get(ctx, &st);
	ok(clean, "clean resolves pass the data check");
	ok(st.data_checks > 0 && st.data_check_failures == 0,
	   "%llu slots compared, no failure", (unsigned long long)st.data_checks);

	/* Flip one byte of a slot the next resolve hits. */
	hot = ess_hot_layer(ctx, 0);
	hot[(size_t)out[1][5] * EB + EB / 2] ^= 0x40;
	ret = ess_resolve(ctx, 0, 2, reqs, &topk[0][0], &out[0][0], NULL);
	ess_stats_get(ctx, &st);
	ok(ret == -EIO, "corrupted slot: -EIO");
	ok(strstr(ess_errmsg(ctx), "data check") &&
	   strstr(ess_errmsg(ctx), "request 1"), "message names it: \"%s\"",
	   ess_errmsg(ctx));
	ok(st.data_check_failures == 1, "one failure counted");

	/* Repair it: the next resolve passes again. */
	hot[(size_t)out[1][5] * EB + EB / 2] ^= 0x40;
	ok(ess_resolve(ctx, 0, 2, reqs, &topk[0][0], &out[0][0], NULL) == 0,
	   "repaired slot passes again");
	ess_destroy(ctx);

	/* Without the flag nothing is compared. */
	c.flags = 0;
	ctx = make_ctx(&c);
	reqs[0] = add_filled(ctx, 1, 40);
	ok(ess_resolve(ctx, 0, 1, reqs, &topk[0][0], &out[0][0], NULL) == 0,
	   "resolve without data check");
	ess_stats_get(ctx, &st);
	ok(st.data_checks == 0, "no comparisons counted");
	ess_destroy(ctx);
	return done();
}
