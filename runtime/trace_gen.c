// SPDX-License-Identifier: MIT
/*
 * Synthetic DSA top-k traces (the model is described with its knobs in
 * Documentation/dev/policies.md).
 *
 * Each (request, layer) stream keeps its current selection in a positional
 * array of topk entries, split in two parts:
 *   [0, X)   X = round(layer_sim * topk), layers > 0 only: entries taken
 *            from layer l-1's selection at the same step.  One leaves when
 *            layer l-1 dropped it; its place goes first to a token that
 *            layer l-1 newly selected at this step, so this part changes
 *            at the rate layer l-1 changes.
 *   [X, topk) the layer's own entries: each step round((1 - overlap) *
 *            (topk - X)) of them, at random positions, are replaced by new
 *            tokens drawn from the mixture below.
 * New tokens come, with the given shares, from tokens this stream dropped
 * within the last reuse_window steps, the request's heavy hitters, the
 * newest recent_window tokens, or anywhere in the sequence; a token already
 * selected is drawn again.  While the sequence is not longer than topk
 * every token is selected (dense attention).  The generator is
 * deterministic for its knobs and seed (its own xoshiro256** generator).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ess/trace.h"
#include "errbuf.h"

struct rng {
	uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, n), n > 0 (multiply-shift; bias < n / 2^64). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

static double rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

struct dropped {
	int32_t tok;
	uint32_t step;
};

struct stream {
	int32_t *cur;		/* [topk] selection, -1 = none yet */
	uint64_t *in;		/* membership bitmap over the final length */
	int32_t *added;		/* tokens new at this step */
	uint32_t nadded;
	int32_t *gone;		/* tokens dropped at this step */
	uint32_t ngone;
	struct dropped *ring;	/* recently dropped, oldest at head */
	uint32_t ring_cap, head, count;
};

struct gen {
	const struct ess_trace_gen *g;
	struct rng rng;
	uint32_t maxlen;
	uint32_t *heavy;	/* [requests * heavy_tokens] */
	uint32_t nheavy;	/* per request */
	struct stream *st;	/* [requests * layers] */
	uint32_t *pos;		/* scratch [topk] */
};

static inline int has(const struct stream *s, int32_t t)
{
	return (s->in[(uint32_t)t >> 6] >> (t & 63)) & 1;
}

static inline void set_in(struct stream *s, int32_t t)
{
	s->in[(uint32_t)t >> 6] |= 1ull << (t & 63);
}

static inline void clr_in(struct stream *s, int32_t t)
{
	s->in[(uint32_t)t >> 6] &= ~(1ull << (t & 63));
}

static int ring_push(struct stream *s, int32_t tok, uint32_t step)
{
	if (s->count == s->ring_cap) {
		uint32_t ncap = s->ring_cap ? 2 * s->ring_cap : 1024, i;
		struct dropped *n = malloc(sizeof(*n) * ncap);

		if (!n)
			return -ENOMEM;
		for (i = 0; i < s->count; i++)
			n[i] = s->ring[(s->head + i) % s->ring_cap];
		free(s->ring);
		s->ring = n;
		s->ring_cap = ncap;
		s->head = 0;
	}
	s->ring[(s->head + s->count) % s->ring_cap] = (struct dropped){ tok, step };
	s->count++;
	return 0;
}

static void ring_expire(struct stream *s, uint32_t step, uint32_t window)
{
	while (s->count && s->ring[s->head].step + window < step) {
		s->head = (s->head + 1) % s->ring_cap;
		s->count--;
	}
}

static void release_dropped(struct stream *s);

/*
 * A new token for stream s of request q at length len, neither selected
 * nor dropped at this step.  The source is chosen once by the shares; a
 * token already taken is drawn again from the same source (up to 16
 * times, so a saturated source does not skew the others), then anywhere.
 */
static int32_t draw(struct gen *G, struct stream *s, uint32_t q, uint32_t len)
{
	const struct ess_trace_gen *g = G->g;
	double u = rng_unit(&G->rng);
	int tries;

	for (tries = 0; tries < 16; tries++) {
		int32_t t;

		if (u < g->reuse_share) {
			if (!s->count)
				break;
			t = s->ring[(s->head + rng_below(&G->rng, s->count)) %
				    s->ring_cap].tok;
		} else if (u < g->reuse_share + g->heavy_share) {
			if (!G->nheavy)
				break;
			t = (int32_t)G->heavy[(size_t)q * G->nheavy +
					      rng_below(&G->rng, G->nheavy)];
		} else if (u < g->reuse_share + g->heavy_share + g->recent_share) {
			uint32_t w = g->recent_window < len ? g->recent_window : len;

			t = (int32_t)(len - 1 - rng_below(&G->rng, w));
		} else {
			t = (int32_t)rng_below(&G->rng, len);
		}
		if ((uint32_t)t < len && !has(s, t))
			return t;
	}
	/* Crowded: anywhere.  When the sequence is barely longer than the
	 * top-k, the tokens dropped at this step may be all that is left:
	 * let them back after a while (len > topk, so this terminates). */
	for (tries = 0;; tries++) {
		int32_t t = (int32_t)rng_below(&G->rng, len);

		if (tries == 256)
			release_dropped(s);
		if (!has(s, t))
			return t;
	}
}

static void put(struct stream *s, uint32_t p, int32_t t)
{
	s->cur[p] = t;
	set_in(s, t);
	s->added[s->nadded++] = t;
}

/* The token stays marked (so no draw of this step brings it straight
 * back) until release_dropped() at the end of the step. */
static int drop(struct stream *s, uint32_t p, uint32_t step)
{
	int32_t t = s->cur[p];

	s->cur[p] = -1;
	s->gone[s->ngone++] = t;
	return ring_push(s, t, step);
}

static void release_dropped(struct stream *s)
{
	while (s->ngone)
		clr_in(s, s->gone[--s->ngone]);
}

/* One step of stream (q, l); up is layer l-1's stream (NULL for l = 0). */
static int step_stream(struct gen *G, uint32_t q, uint32_t l, uint32_t step,
		       uint32_t len)
{
	const struct ess_trace_gen *g = G->g;
	struct stream *s = &G->st[(size_t)q * g->layers + l];
	struct stream *up = l ? &G->st[(size_t)q * g->layers + l - 1] : NULL;
	uint32_t k = g->topk, X = up ? (uint32_t)lround(g->layer_sim * k) : 0;
	uint32_t i, nvac = 0, ndrop;
	int rc;

	s->nadded = 0;
	ring_expire(s, step, g->reuse_window);
	if (len <= k) {
		/* Dense: everything selected, in token order. */
		for (i = 0; i < k; i++) {
			int32_t t = i < len ? (int32_t)i : -1;

			if (s->cur[i] >= 0)
				clr_in(s, s->cur[i]);
			s->cur[i] = -1;
			if (t >= 0)
				put(s, i, t);
		}
		return 0;
	}
	/* Part A: leave what layer l-1 no longer selects. */
	for (i = 0; i < X; i++)
		if (s->cur[i] >= 0 && !has(up, s->cur[i])) {
			rc = drop(s, i, step);
			if (rc)
				return rc;
		}
	for (i = 0; i < X; i++)
		if (s->cur[i] < 0)
			G->pos[nvac++] = i;
	/* Fill A: first layer l-1's new tokens, then any of its selection. */
	for (i = 0; nvac && i < up->nadded; i++) {
		int32_t t = up->added[i];

		if (!has(s, t))
			put(s, G->pos[--nvac], t);
	}
	if (nvac) {
		uint32_t tries = 0;

		while (nvac && tries < 64 * k) {
			int32_t t = up->cur[rng_below(&G->rng, k)];

			tries++;
			if (t >= 0 && !has(s, t))
				put(s, G->pos[--nvac], t);
		}
		/* Layer l-1 is all taken by this stream: use the mixture. */
		while (nvac)
			put(s, G->pos[--nvac], draw(G, s, q, len));
	}
	/* Part B: empty positions first (start, or after the dense phase),
	 * then replace round((1 - overlap) * (k - X)) random ones. */
	for (i = X; i < k; i++)
		if (s->cur[i] < 0)
			G->pos[nvac++] = i;
	if (nvac == 0) {
		ndrop = (uint32_t)lround((1.0 - g->overlap) * (k - X));
		/* Partial Fisher-Yates over the B positions. */
		for (i = 0; i < k - X; i++)
			G->pos[i] = X + i;
		for (i = 0; i < ndrop; i++) {
			uint32_t j = i + rng_below(&G->rng, k - X - i), t = G->pos[j];

			G->pos[j] = G->pos[i];
			G->pos[i] = t;
			rc = drop(s, t, step);
			if (rc)
				return rc;
		}
		nvac = ndrop;
	}
	while (nvac)
		put(s, G->pos[--nvac], draw(G, s, q, len));
	release_dropped(s);
	return 0;
}

void ess_trace_gen_default(struct ess_trace_gen *g)
{
	memset(g, 0, sizeof(*g));
	g->layers = 4;
	g->topk = 2048;
	g->requests = 2;
	g->steps = 256;
	g->prefill = 32768;
	g->growth = 1;
	g->overlap = 0.95;
	g->layer_sim = 0.5;
	g->reuse_share = 0.3;
	g->reuse_window = 64;
	g->heavy_share = 0.2;
	g->heavy_tokens = 256;
	g->recent_share = 0.2;
	g->recent_window = 1024;
	g->seed = 1;
}


static int share_ok(double v)
{
	return v >= 0.0 && v <= 1.0;	/* false for NaN too */
}

int ess_trace_gen_check(const struct ess_trace_gen *g, char *err, size_t errlen)
{
	uint64_t maxlen;

	if (!g) {
		seterr(err, errlen, "no generator settings");
		return -EINVAL;
	}
	maxlen = (uint64_t)g->prefill + (uint64_t)g->growth * g->steps;
	if (g->layers == 0 || g->layers > ESS_TRACE_MAX_LAYERS)
		seterr(err, errlen, "layers %u not in 1..%u", g->layers, ESS_TRACE_MAX_LAYERS);
	else if (g->topk == 0 || g->topk > ESS_TRACE_MAX_TOPK)
		seterr(err, errlen, "topk %u not in 1..%u", g->topk, ESS_TRACE_MAX_TOPK);
	else if (g->requests == 0 || g->requests > ESS_TRACE_MAX_REQUESTS)
		seterr(err, errlen, "requests %u not in 1..%u", g->requests,
		       ESS_TRACE_MAX_REQUESTS);
	else if (maxlen > INT32_MAX)
		seterr(err, errlen, "prefill + growth * steps = %llu exceeds %d tokens",
		       (unsigned long long)maxlen, INT32_MAX);
	else if (g->growth == 0)
		seterr(err, errlen, "growth must be at least 1 token per step");
	else if (!share_ok(g->overlap))
		seterr(err, errlen, "overlap %g not in [0, 1]", g->overlap);
	else if (!share_ok(g->layer_sim))
		seterr(err, errlen, "layer-sim %g not in [0, 1]", g->layer_sim);
	else if (!share_ok(g->reuse_share) || !share_ok(g->heavy_share) ||
		 !share_ok(g->recent_share) ||
		 g->reuse_share + g->heavy_share + g->recent_share > 1.0 + 1e-9)
		seterr(err, errlen, "reuse %g + heavy %g + recent %g: each in [0, 1], "
		       "sum at most 1", g->reuse_share, g->heavy_share, g->recent_share);
	else if (g->recent_window == 0)
		seterr(err, errlen, "recent-window must be at least 1");
	else if (g->heavy_tokens > g->prefill)
		seterr(err, errlen, "heavy-tokens %u exceeds prefill %u",
		       g->heavy_tokens, g->prefill);
	else {
		struct ess_trace_info in = {
			g->layers, g->topk, g->requests, g->steps, 0, 0
		};
		struct ess_trace tr;
		uint64_t bytes = (uint64_t)g->steps * g->layers * g->requests *
				 ((uint64_t)g->topk + 1) * 4;

		if (bytes > ESS_TRACE_MAX_BYTES || ess_trace_alloc(&tr, &in) == -EINVAL) {
			seterr(err, errlen, "trace too large");
			return -EINVAL;
		}
		ess_trace_free(&tr);
		return 0;
	}
	return -EINVAL;
}

static void gen_free(struct gen *G)
{
	uint32_t i;

	if (G->st)
		for (i = 0; i < G->g->requests * G->g->layers; i++) {
			free(G->st[i].cur);
			free(G->st[i].in);
			free(G->st[i].added);
			free(G->st[i].gone);
			free(G->st[i].ring);
		}
	free(G->st);
	free(G->heavy);
	free(G->pos);
}

/* Heavy hitters of each request: the first (up to) 4 tokens, the attention
 * sinks, then distinct random prefill positions. */
static int pick_heavy(struct gen *G)
{
	const struct ess_trace_gen *g = G->g;
	uint64_t *mark = calloc(((size_t)g->prefill + 64) / 64, sizeof(*mark));
	uint32_t q, i;

	G->nheavy = g->heavy_tokens;
	G->heavy = malloc(sizeof(*G->heavy) * ((size_t)g->requests * G->nheavy + 1));
	if (!mark || !G->heavy) {
		free(mark);
		return -ENOMEM;
	}
	for (q = 0; q < g->requests; q++) {
		uint32_t *h = G->heavy + (size_t)q * G->nheavy;

		memset(mark, 0, ((size_t)g->prefill + 64) / 64 * sizeof(*mark));
		for (i = 0; i < G->nheavy; i++) {
			uint32_t t = i;

			if (i >= 4)
				do
					t = rng_below(&G->rng, g->prefill);
				while ((mark[t >> 6] >> (t & 63)) & 1);
			mark[t >> 6] |= 1ull << (t & 63);
			h[i] = t;
		}
	}
	free(mark);
	return 0;
}

int ess_trace_generate(const struct ess_trace_gen *g, struct ess_trace *tr,
		       char *err, size_t errlen)
{
	struct ess_trace_info in;
	struct gen G;
	uint32_t s, q, l, i;
	int rc;

	if (!tr) {
		seterr(err, errlen, "no trace");
		return -EINVAL;
	}
	memset(tr, 0, sizeof(*tr));
	rc = ess_trace_gen_check(g, err, errlen);
	if (rc)
		return rc;
	memset(&G, 0, sizeof(G));
	G.g = g;
	rng_seed(&G.rng, g->seed);
	G.maxlen = g->prefill + g->growth * g->steps;
	in = (struct ess_trace_info){ g->layers, g->topk, g->requests, g->steps,
				      ESS_TRACE_F_SYNTHETIC, g->seed };
	rc = ess_trace_alloc(tr, &in);
	if (rc)
		goto nomem;
	G.st = calloc((size_t)g->requests * g->layers, sizeof(*G.st));
	G.pos = malloc(sizeof(*G.pos) * g->topk);
	if (!G.st || !G.pos || pick_heavy(&G))
		goto nomem;
	for (i = 0; i < g->requests * g->layers; i++) {
		struct stream *st = &G.st[i];

		st->cur = malloc(sizeof(*st->cur) * g->topk);
		st->in = calloc(((size_t)G.maxlen + 64) / 64, sizeof(*st->in));
		st->added = malloc(sizeof(*st->added) * g->topk);
		st->gone = malloc(sizeof(*st->gone) * g->topk);
		if (!st->cur || !st->in || !st->added || !st->gone)
			goto nomem;
		memset(st->cur, 0xff, sizeof(*st->cur) * g->topk);
	}
	for (q = 0; q < g->requests; q++)
		tr->prefill[q] = g->prefill;
	for (s = 0; s < g->steps; s++) {
		uint32_t len = g->prefill + g->growth * (s + 1);

		for (q = 0; q < g->requests; q++)
			for (l = 0; l < g->layers; l++) {
				size_t r = ess_trace_row(tr, s, l, q);

				rc = step_stream(&G, q, l, s, len);
				if (rc)
					goto nomem;
				tr->seq_len[r] = len;
				memcpy(tr->tokens + r * g->topk,
				       G.st[(size_t)q * g->layers + l].cur,
				       sizeof(int32_t) * g->topk);
			}
	}
	gen_free(&G);
	return 0;
nomem:
	gen_free(&G);
	ess_trace_free(tr);
	seterr(err, errlen, "out of memory");
	return -ENOMEM;
}
