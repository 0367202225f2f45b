// SPDX-License-Identifier: MIT
/*
 * Every bad input is refused with a clear error and changes nothing.
 * Two contexts get the same rows and the same valid calls; one of them also
 * gets every bad call.  After each bad call its counters, token counts,
 * host rows and hot buffers must equal the twin's, and at the end both must
 * resolve the same valid steps to the same slots (so no hidden hot-set
 * state moved either).
 */
#include "runtime-tap.h"

#define NL 2
#define NR 3
#define K 8
#define S 16
#define EB 40
#define NT 64

static ess_ctx *A, *B;
static uint32_t reqs[NR];
static uint8_t rows[NL][NR][NT][EB];

static int same_state(void)
{
	struct ess_stats sa, sb;
	uint32_t na, nb;

	ess_stats_get(A, &sa);
	ess_stats_get(B, &sb);
	sa.fetch_ns = sb.fetch_ns = 0;	/* a clock, not a count */
	if (memcmp(&sa, &sb, sizeof(sa)))
		return 0;
	for (uint32_t l = 0; l < NL; l++) {
		if (memcmp(ess_hot_layer(A, l), ess_hot_layer(B, l),
			   (size_t)NR * S * EB))
			return 0;
		for (uint32_t i = 0; i < NR; i++) {
			if (ess_request_tokens(A, reqs[i], l, &na) ||
			    ess_request_tokens(B, reqs[i], l, &nb) || na != nb)
				return 0;
			for (uint32_t t = 0; t < na; t++)
				if (memcmp(ess_host_row(A, reqs[i], l, t),
					   ess_host_row(B, reqs[i], l, t), EB))
					return 0;
		}
	}
	return 1;
}

/* Check one refused call: its code, a message, nothing changed. */
static void refused(int ret, int want, const char *what)
{
	const char *m = ess_errmsg(A);

	ok(ret == want && m && *m && same_state(),
	   "%s: %d (want %d), unchanged; \"%s\"", what, ret, want, m);
}

static void both_resolve(uint32_t l, const int32_t *topk, int32_t *oa,
			 int32_t *ob)
{
	MUST(ess_resolve(A, l, NR, reqs, topk, oa, NULL));
	MUST(ess_resolve(B, l, NR, reqs, topk, ob, NULL));
}

static void make_topk(int32_t *t, uint32_t shift)
{
	for (uint32_t i = 0; i < NR; i++)
		for (uint32_t j = 0; j < K; j++)
			t[i * K + j] = j == 3 ? -1 : (int32_t)((j * 5 + shift + i) % NT);
}

int main(void)
{
	struct ess_config c;
	int32_t topk[NR * K], bad[NR * K], oa[NR * K], ob[NR * K];
	int32_t warm[S + 1];
	uint8_t arow[NR][EB];
	uint32_t r2[2], r;
	struct ess_stats st;

	seed_rng();
	small_cfg(&c);
	c.layers = NL;
	c.max_requests = NR;
	c.topk = K;
	c.slots = S;
	A = make_ctx(&c);
	B = make_ctx(&c);
	fill_random(rows, sizeof(rows));
	for (uint32_t i = 0; i < NR; i++) {
		MUST(ess_request_add(A, 10 + i, &reqs[i]));
		MUST(ess_request_add(B, 10 + i, &r));
		for (uint32_t l = 0; l < NL; l++) {
			MUST(ess_ingest(A, reqs[i], l, 0, NT, rows[l][i]));
			MUST(ess_ingest(B, reqs[i], l, 0, NT, rows[l][i]));
		}
	}
	make_topk(topk, 0);
	both_resolve(0, topk, oa, ob);
	ok(same_state() && !memcmp(oa, ob, sizeof(oa)), "twins start equal");

	/* ess_resolve */
	refused(ess_resolve(A, NL, NR, reqs, topk, oa, NULL), -EINVAL, "resolve: layer out of range");
	refused(ess_resolve(A, 0, NR + 1, reqs, topk, oa, NULL), -EINVAL, "resolve: batch larger than max_requests");
	refused(ess_resolve(A, 0, NR, NULL, topk, oa, NULL), -EINVAL, "resolve: NULL reqs");
	refused(ess_resolve(A, 0, NR, reqs, NULL, oa, NULL), -EINVAL, "resolve: NULL topk");
	refused(ess_resolve(A, 0, NR, reqs, topk, NULL, NULL), -EINVAL, "resolve: NULL slots_out");
	r2[0] = reqs[0];
	r2[1] = reqs[0];
	refused(ess_resolve(A, 0, 2, r2, topk, oa, NULL), -EINVAL, "resolve: request twice in the batch");
	r2[1] = 7;
	refused(ess_resolve(A, 0, 2, r2, topk, oa, NULL), -EINVAL, "resolve: request id out of range");

	memcpy(bad, topk, sizeof(bad));
	bad[2 * K + 5] = NT;	/* last request: token == tokens held */
	refused(ess_resolve(A, 0, NR, reqs, bad, oa, NULL), -EINVAL, "resolve: token id = tokens held (in the last row)");
	bad[2 * K + 5] = -2;
	refused(ess_resolve(A, 0, NR, reqs, bad, oa, NULL), -EINVAL, "resolve: token id -2");
	bad[2 * K + 5] = INT32_MIN;
	refused(ess_resolve(A, 0, NR, reqs, bad, oa, NULL), -EINVAL, "resolve: token id INT32_MIN");
	memcpy(bad, topk, sizeof(bad));
	bad[K + 7] = bad[K + 0];
	refused(ess_resolve(A, 0, NR, reqs, bad, oa, NULL), -EINVAL, "resolve: token twice in a row");
	refused(ess_resolve(NULL, 0, NR, reqs, topk, oa, NULL), -EINVAL, "resolve: NULL context");

	/* ess_append */
	fill_random(arow, sizeof(arow));
	refused(ess_append(A, NL, NR, reqs, arow, NULL), -EINVAL, "append: layer out of range");
	refused(ess_append(A, 0, NR, reqs, NULL, NULL), -EINVAL, "append: NULL rows");
	refused(ess_append(A, 0, NR, NULL, arow, NULL), -EINVAL, "append: NULL reqs");
	r2[0] = reqs[1];
	r2[1] = reqs[1];
	refused(ess_append(A, 0, 2, r2, arow, NULL), -EINVAL, "append: request twice");
	r2[1] = NR;
	refused(ess_append(A, 0, 2, r2, arow, NULL), -EINVAL, "append: request out of range");

	/* ess_ingest */
	refused(ess_ingest(A, reqs[0], 0, NT + 1, 1, arow), -EINVAL, "ingest: gap");
	refused(ess_ingest(A, reqs[0], 0, 3, 1, arow), -EINVAL, "ingest: rewrite of a held row");
	refused(ess_ingest(A, reqs[0], 0, NT, 1, NULL), -EINVAL, "ingest: NULL rows");
	refused(ess_ingest(A, reqs[0], NL, NT, 1, arow), -EINVAL, "ingest: layer out of range");
	refused(ess_ingest(A, NR, 0, NT, 1, arow), -EINVAL, "ingest: request out of range");
	refused(ess_ingest(A, reqs[0], 0, NT, c.max_tokens, arow), -EINVAL, "ingest: past max_tokens");

	/* ess_warmup */
	for (uint32_t j = 0; j <= S; j++)
		warm[j] = (int32_t)j;
	refused(ess_warmup(A, reqs[0], 1, warm, S + 1), -EINVAL, "warmup: more tokens than slots");
	warm[2] = NT;
	refused(ess_warmup(A, reqs[0], 1, warm, 4), -EINVAL, "warmup: token out of range");
	warm[2] = 1;
	refused(ess_warmup(A, reqs[0], 1, warm, 4), -EINVAL, "warmup: token twice");
	refused(ess_warmup(A, reqs[0], 1, NULL, 4), -EINVAL, "warmup: NULL tokens");
	refused(ess_warmup(A, reqs[0], NL, warm, 1), -EINVAL, "warmup: layer out of range");
	refused(ess_warmup(A, NR, 0, warm, 1), -EINVAL, "warmup: request out of range");

	/* Queries */
	refused(ess_stats_get(A, NULL), -EINVAL, "stats: NULL snapshot");
	refused(ess_request_tokens(A, reqs[0], 0, NULL), -EINVAL, "tokens: NULL count");
	ok(ess_hot_layer(A, NL) == NULL && ess_hot_layer(NULL, 0) == NULL,
	   "hot_layer: bad layer or context gives NULL");
	ok(ess_stats_get(NULL, &st) == -EINVAL && ess_sync(NULL, NULL) == -EINVAL &&
	   ess_ingest(NULL, 0, 0, 0, 1, arow) == -EINVAL &&
	   ess_warmup(NULL, 0, 0, warm, 1) == -EINVAL &&
	   ess_append(NULL, 0, 1, reqs, arow, NULL) == -EINVAL,
	   "NULL context everywhere: -EINVAL");

	/* Both twins now take the same valid steps and must agree. */
	{
		int same = 1;

		for (uint32_t s = 1; s < 20; s++) {
			for (uint32_t l = 0; l < NL; l++) {
				make_topk(topk, s * 3);
				both_resolve(l, topk, oa, ob);
				same &= !memcmp(oa, ob, sizeof(oa));
				fill_random(arow, sizeof(arow));
				MUST(ess_append(A, l, NR, reqs, arow, NULL));
				MUST(ess_append(B, l, NR, reqs, arow, NULL));
			}
		}
		ok(same && same_state(), "after the refused calls both twins resolve alike");
	}
	ess_destroy(A);
	ess_destroy(B);

	/* A request id that is free, inside a batch. */
	c.max_requests = NR + 1;
	A = make_ctx(&c);
	MUST(ess_request_add(A, 1, &r2[0]));
	MUST(ess_ingest(A, r2[0], 0, 0, NT, rows[0][0]));
	r2[1] = r2[0] + 1;
	ok(ess_resolve(A, 0, 2, r2, topk, oa, NULL) == -EINVAL &&
	   strstr(ess_errmsg(A), "not in use"), "resolve: request not in use refused");
	ess_stats_get(A, &st);
	ok(st.resolves == 0 && st.lookups == 0, "and nothing counted");
	ess_destroy(A);
	return done();
}
