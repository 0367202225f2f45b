// SPDX-License-Identifier: MIT
/*
 * The CPU hot set against a literal, quadratic transcription of the rule in
 * include/ess/hotset.h, on random rows and appends, for every policy and
 * several slot counts: slot ids, fetch lists, counts and the whole
 * token/key/freq state must agree after every call.  Then one timing line
 * (a diagnostic only) for a DeepSeek-sized resolve.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../runtime/hotset.h"
#include "tap.h"

struct ref {
	uint32_t n, policy, t;
	int32_t *token;
	uint64_t *key;
	uint32_t *freq;
};

static uint64_t rng_state = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state % n);
}

static int ref_find(const struct ref *r, int32_t tok)
{
	uint32_t s;

	for (s = 0; s < r->n; s++)
		if (r->token[s] == tok)
			return (int)s;
	return -1;
}

/* Victim among slots with used[s] == 0: lowest (key, slot). */
static uint32_t ref_victim(const struct ref *r, const char *used)
{
	uint32_t s, best = UINT32_MAX;

	for (s = 0; s < r->n; s++) {
		if (used[s])
			continue;
		if (best == UINT32_MAX || r->key[s] < r->key[best])
			best = s;
	}
	return best;
}

static int cmp_i32(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

static void ref_resolve(struct ref *r, const int32_t *row, uint32_t n,
			int32_t *out, int32_t *mt, uint32_t *ms, uint32_t *nm)
{
	char *used = calloc(r->n, 1);
	int32_t *miss = malloc(sizeof(*miss) * (n + 1));
	uint32_t i, k = 0, t = ++r->t;

	for (i = 0; i < n; i++) {
		int s;

		out[i] = -1;
		if (row[i] < 0)
			continue;
		s = ref_find(r, row[i]);
		if (s < 0) {
			miss[k++] = row[i];
			continue;
		}
		out[i] = s;
		used[s] = 1;
		r->key[s] = ess_policy_hit_key(r->policy, r->key[s], r->freq[s], t);
		if (r->freq[s] != UINT32_MAX)
			r->freq[s]++;
	}
	qsort(miss, k, sizeof(*miss), cmp_i32);
	for (i = 0; i < k; i++) {
		uint32_t s = ref_victim(r, used), j;

		used[s] = 1;
		r->token[s] = miss[i];
		r->key[s] = ess_policy_fill_key(r->policy, t);
		r->freq[s] = 1;
		mt[i] = miss[i];
		ms[i] = s;
		for (j = 0; j < n; j++)
			if (row[j] == miss[i])
				out[j] = (int32_t)s;
	}
	*nm = k;
	free(used);
	free(miss);
}

static void ref_insert(struct ref *r, int32_t tok, uint32_t *slot)
{
	int s = ref_find(r, tok);

	if (s >= 0) {
		r->key[s] = ess_policy_hit_key(r->policy, r->key[s], r->freq[s], r->t);
		if (r->freq[s] != UINT32_MAX)
			r->freq[s]++;
		*slot = (uint32_t)s;
		return;
	}
	{
		char *used = calloc(r->n, 1);
		uint32_t v = ref_victim(r, used);

		free(used);
		r->token[v] = tok;
		r->key[v] = ess_policy_fill_key(r->policy, r->t);
		r->freq[v] = 1;
		*slot = v;
	}
}

static int same_state(const struct ess_hotset *hs, const struct ref *r)
{
	uint32_t s;

	if (hs->t != r->t)
		return 0;
	for (s = 0; s < r->n; s++) {
		if (hs->token[s] != r->token[s] || hs->key[s] != r->key[s] ||
		    hs->freq[s] != r->freq[s])
			return 0;
		if (r->token[s] >= 0 && ess_hotset_lookup(hs, r->token[s]) != (int32_t)s)
			return 0;
	}
	return 1;
}

/* Random session: rows drawn from a drifting window so hits, misses,
 * evictions and appends all happen. */
static int run(uint32_t nslots, uint32_t policy, uint32_t topk, uint32_t iters)
{
	struct ess_hotset hs;
	struct ref r;
	int32_t *row = malloc(sizeof(*row) * topk), *out = malloc(sizeof(*out) * topk);
	int32_t *rout = malloc(sizeof(*rout) * topk);
	int32_t *mt = malloc(sizeof(*mt) * nslots), *rmt = malloc(sizeof(*rmt) * nslots);
	uint32_t *ms = malloc(sizeof(*ms) * nslots), *rms = malloc(sizeof(*rms) * nslots);
	char *seen;
	uint32_t it, i, universe = nslots * 3 + 8, ok = 1, base = 0;

	seen = calloc(universe * 64, 1);
	if (ess_hotset_init(&hs, nslots, policy))
		return 0;
	r.n = nslots;
	r.policy = policy;
	r.t = 0;
	r.token = malloc(sizeof(*r.token) * nslots);
	r.key = calloc(nslots, sizeof(*r.key));
	r.freq = calloc(nslots, sizeof(*r.freq));
	for (i = 0; i < nslots; i++)
		r.token[i] = -1;
	for (it = 0; it < iters && ok; it++) {
		struct ess_hotset_result res;
		uint32_t n = 1 + rnd(topk), nm, slot, rslot;

		if (rnd(4) == 0) {
			int32_t tok = (int32_t)(base + universe + rnd(8));

			if (ess_hotset_insert(&hs, tok, &slot, &res))
				ok = 0;
			ref_insert(&r, tok, &rslot);
			ok = ok && slot == rslot && same_state(&hs, &r);
			continue;
		}
		if (rnd(16) == 0)
			base += rnd(nslots);
		memset(seen, 0, universe * 64);
		for (i = 0; i < n; i++) {
			uint32_t v;

			if (rnd(10) == 0) {
				row[i] = -1;
				continue;
			}
			do
				v = base + rnd(universe);
			while (seen[v - base]);
			seen[v - base] = 1;
			row[i] = (int32_t)v;
		}
		if (ess_hotset_resolve(&hs, row, n, out, mt, ms, &res)) {
			ok = 0;
			break;
		}
		ref_resolve(&r, row, n, rout, rmt, rms, &nm);
		ok = res.nmiss == nm && memcmp(out, rout, n * sizeof(*out)) == 0 &&
		     memcmp(mt, rmt, nm * sizeof(*mt)) == 0 &&
		     memcmp(ms, rms, nm * sizeof(*ms)) == 0 && same_state(&hs, &r);
	}
	ess_hotset_fini(&hs);
	free(r.token);
	free(r.key);
	free(r.freq);
	free(row);
	free(out);
	free(rout);
	free(mt);
	free(rmt);
	free(ms);
	free(rms);
	free(seen);
	return ok;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Timing diagnostic: 6144 slots, top-k 2048 with 5% new tokens a step. */
static int timing(void)
{
	enum { SL = 6144, K = 2048, STEPS = 200 };
	struct ess_hotset hs;
	static int32_t row[K], out[K], mt[SL];
	static uint32_t ms[SL];
	uint32_t s, i, next = K;
	double t0, t1;
	int ok = 1;

	if (ess_hotset_init(&hs, SL, ESS_POLICY_LRU))
		return 0;
	for (i = 0; i < K; i++)
		row[i] = (int32_t)(i * 7);
	t0 = now_us();
	for (s = 0; s < STEPS; s++) {
		struct ess_hotset_result res;

		for (i = 0; i < K / 20; i++)
			row[rnd(K)] = (int32_t)(7 * next++ + 3);
		/* A replaced entry may repeat an older one: drop repeats. */
		if (ess_hotset_resolve(&hs, row, K, out, mt, ms, &res) == -EINVAL) {
			for (i = 0; i < K; i++)
				row[i] = (int32_t)(7 * next++ + 3);
			ok = ess_hotset_resolve(&hs, row, K, out, mt, ms, &res) == 0;
		}
	}
	t1 = now_us();
	tap_diag("resolve 6144 slots x top-2048 (5%% new): %.1f us per call",
		 (t1 - t0) / STEPS);
	ess_hotset_fini(&hs);
	return ok;
}

int main(void)
{
	static const uint32_t slots[] = { 1, 3, 8, 33, 200 };
	uint32_t p, i;

	tap_plan(ESS_POLICY_COUNT * 5 + 1);
	for (p = 0; p < ESS_POLICY_COUNT; p++)
		for (i = 0; i < 5; i++) {
			uint32_t topk = slots[i] < 64 ? slots[i] : 64;

			tap_ok(run(slots[i], p, topk, slots[i] > 100 ? 400 : 1500),
			       "%s, %u slots: same as the literal rule",
			       ess_policy_name(p), slots[i]);
		}
	tap_ok(timing(), "timed resolves succeed");
	return tap_done();
}
