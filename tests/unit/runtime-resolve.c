// SPDX-License-Identifier: MIT
/*
 * The resolve path, byte for byte: fresh random rows, a synthetic top-k
 * stream with step-to-step overlap, recent tokens, holes (-1) and appends,
 * over many steps and several geometries.  The hot buffer is poisoned when
 * each run starts, and every empty slot again before every step, so a
 * slot that was not really fetched shows.  After every resolve, every
 * entry's slot must hold exactly the host row of its token, and the slot
 * ids must equal those of an independent reference hot set fed the same
 * rows (the rule of include/ess/hotset.h).
 */
#include "runtime-tap.h"
#include "../../runtime/hotset.h"

struct run {
	const char *name;
	uint32_t layers, entry_bytes, topk, slots, nreq, extent_tokens;
	uint32_t prefill, steps;
	const char *policy;
};

static int run_one(const struct run *R)
{
	struct ess_config c;
	struct ess_stats st;
	ess_ctx *ctx;
	uint32_t nl = R->layers, nr = R->nreq, K = R->topk, S = R->slots;
	uint32_t eb = R->entry_bytes;
	uint32_t *reqs = calloc(nr, 4);
	int32_t *topk = calloc((size_t)nr * K, 4), *out = calloc((size_t)nr * K, 4);
	int32_t *prev = calloc((size_t)nl * nr * K, 4);
	int32_t *rslot = calloc(K, 4), *mt = calloc(S, 4);
	uint32_t *ms = calloc(S, 4);
	uint8_t *mark, *row = malloc(eb * nr);
	struct ess_hotset *ref = calloc((size_t)nl * nr, sizeof(*ref));
	uint64_t hits = 0, misses = 0, lookups = 0, evictions = 0;
	int bytes_ok = 1, slots_ok = 1, range_ok = 1, ret_ok = 1;
	uint32_t maxtok;

	small_cfg(&c);
	c.layers = nl;
	c.entry_bytes = eb;
	c.topk = K;
	c.slots = S;
	c.max_requests = nr;
	c.extent_tokens = R->extent_tokens;
	c.max_tokens = R->prefill + R->steps + 1;
	c.pool_bytes = (uint64_t)nl * nr * (c.max_tokens + R->extent_tokens) * eb;
	c.policy = R->policy;
	ctx = make_ctx(&c);
	maxtok = c.max_tokens;
	mark = calloc(maxtok, 1);

	for (uint32_t i = 0; i < nr; i++) {
		reqs[i] = add_filled(ctx, 1000 + i, R->prefill);
		for (uint32_t l = 0; l < nl; l++)
			MUST(ess_hotset_init(&ref[l * nr + i], S,
					     (uint32_t)ess_policy_by_name(ess_get_config(ctx)->policy)));
	}
	/* Poison every layer's whole hot buffer. */
	for (uint32_t l = 0; l < nl; l++)
		memset(ess_hot_layer(ctx, l), 0xA5, (size_t)nr * S * eb);

	for (uint32_t step = 0; step < R->steps; step++) {
		for (uint32_t l = 0; l < nl; l++) {
			uint8_t *hot = ess_hot_layer(ctx, l);

			for (uint32_t i = 0; i < nr; i++) {
				struct ess_hotset *h = &ref[l * nr + i];
				int32_t *t = topk + (size_t)i * K;
				int32_t *p = prev + ((size_t)l * nr + i) * K;
				uint32_t held, want, got = 0;

				MUST(ess_request_tokens(ctx, reqs[i], l, &held));
				/* Poison the slots that hold nothing. */
				for (uint32_t s = 0; s < S; s++)
					if (h->token[s] < 0)
						memset(hot + ((size_t)reqs[i] * S + s) * eb,
						       0x5A ^ (int)step, eb);
				memset(mark, 0, maxtok);
				want = K - (uint32_t)(rnd() % (K / 4 + 1));
				if (want > held)
					want = held;
				for (uint32_t j = 0; j < K; j++)
					t[j] = -1;
				/* ~60% kept from the previous step, the newest
				 * token, then random ones; placed at random. */
				for (uint32_t j = 0; j < K && got < want; j++) {
					int32_t v = p[j];

					if (v >= 0 && (uint32_t)v < held && !mark[v] &&
					    rnd() % 10 < 6) {
						mark[v] = 1;
						got++;
					}
				}
				if (got < want && !mark[held - 1]) {
					mark[held - 1] = 1;
					got++;
				}
				while (got < want) {
					uint32_t v = (uint32_t)(rnd() % held);

					if (!mark[v]) {
						mark[v] = 1;
						got++;
					}
				}
				for (uint32_t v = 0; v < held; v++) {
					uint32_t j;

					if (!mark[v])
						continue;
					do {
						j = (uint32_t)(rnd() % K);
					} while (t[j] != -1);
					t[j] = (int32_t)v;
				}
				memcpy(p, t, K * 4);
			}
			if (ess_resolve(ctx, l, nr, reqs, topk, out, NULL)) {
				ret_ok = 0;
				diag("resolve failed: %s", ess_errmsg(ctx));
				break;
			}
			for (uint32_t i = 0; i < nr; i++) {
				struct ess_hotset *h = &ref[l * nr + i];
				struct ess_hotset_result res;
				int32_t *t = topk + (size_t)i * K;
				int32_t *o = out + (size_t)i * K;

				MUST(ess_hotset_resolve(h, t, K, rslot, mt, ms, &res));
				hits += res.hits;
				misses += res.nmiss;
				evictions += res.evictions;
				for (uint32_t j = 0; j < K; j++) {
					if (t[j] < 0) {
						range_ok &= o[j] == -1;
						continue;
					}
					lookups++;
					range_ok &= o[j] >= (int32_t)(reqs[i] * S) &&
						    o[j] < (int32_t)(reqs[i] * S + S);
					slots_ok &= o[j] == (int32_t)(reqs[i] * S) + rslot[j];
					bytes_ok &= !memcmp(hot + (size_t)o[j] * eb,
							    ess_host_row(ctx, reqs[i], l,
									 (uint32_t)t[j]), eb);
				}
			}
			/* Decode: one new row per request in this layer. */
			fill_random(row, (size_t)eb * nr);
			MUST(ess_append(ctx, l, nr, reqs, row, NULL));
			for (uint32_t i = 0; i < nr; i++) {
				struct ess_hotset_result res;
				uint32_t held, slot;

				MUST(ess_request_tokens(ctx, reqs[i], l, &held));
				MUST(ess_hotset_insert(&ref[l * nr + i], (int32_t)held - 1,
						       &slot, &res));
				evictions += res.evictions;
			}
		}
	}
	ess_stats_get(ctx, &st);
	ok(ret_ok, "%s: every resolve succeeded", R->name);
	ok(range_ok, "%s: slot ids in their request's range, -1 for holes", R->name);
	ok(slots_ok, "%s: slot ids equal the reference hot set's", R->name);
	ok(bytes_ok, "%s: every resolved slot holds its host row byte for byte", R->name);
	ok(st.hits == hits && st.misses == misses && st.lookups == lookups &&
	   st.hits + st.misses == st.lookups,
	   "%s: hits %llu misses %llu lookups %llu match the reference", R->name,
	   (unsigned long long)st.hits, (unsigned long long)st.misses,
	   (unsigned long long)st.lookups);
	ok(st.evictions == evictions && st.bytes_h2d == misses * eb &&
	   st.resolves == (uint64_t)R->steps * nl * nr,
	   "%s: evictions %llu, bytes and resolves match", R->name,
	   (unsigned long long)st.evictions);
	diag("%s: miss rate %.3f", R->name, lookups ? (double)misses / lookups : 0);

	for (uint32_t k = 0; k < nl * nr; k++)
		ess_hotset_fini(&ref[k]);
	ess_destroy(ctx);
	free(reqs); free(topk); free(out); free(prev); free(rslot); free(mt);
	free(ms); free(mark); free(row); free(ref);
	return 0;
}

int main(void)
{
	static const struct run runs[] = {
		{ "tight (slots = topk)", 2, 40, 8, 8, 3, 16, 40, 60, NULL },
		{ "roomy, one-token extents", 3, 24, 16, 48, 4, 1, 100, 50, NULL },
		{ "656-byte rows", 2, 656, 32, 96, 2, 64, 300, 40, NULL },
		{ "odd row size, one request", 1, 13, 5, 7, 1, 4, 9, 80, NULL },
	};

	seed_rng();
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++)
		run_one(&runs[i]);
	return done();
}
