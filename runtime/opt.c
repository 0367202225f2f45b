// SPDX-License-Identifier: MIT
/*
 * Belady's OPT for a trace: the fewest misses any replacement rule could
 * have with `slots` slots per (request, layer), under the constraints the
 * policies run under (include/ess/trace.h, ess_trace_opt()).
 *
 * Per stream: a backward pass gives every top-k entry and every appended
 * token the step of its next use; the forward pass keeps the held tokens
 * in a max-heap on next use (stale entries are skipped when popped).
 * Within a step, all victims are chosen before any entry's next use moves
 * past the step: the row's held tokens then carry the step itself as next
 * use, the smallest of all, so they are never chosen while another token
 * is held; the row's length is at most `slots`, so one always is.
 * Evicting the token used farthest in the future is optimal for paging
 * whose requests come in sets that must all be resident together (the
 * usual exchange argument: a schedule that keeps such a token instead of
 * another can swap them without more misses).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ess/trace.h"

#define NEVER UINT32_MAX

struct opt_heap {
	uint64_t *e;		/* next << 32 | token */
	size_t n, cap;
};

static int heap_push(struct opt_heap *h, uint32_t next, int32_t tok)
{
	uint64_t v = (uint64_t)next << 32 | (uint32_t)tok;
	size_t i;

	if (h->n == h->cap) {
		size_t ncap = h->cap ? 2 * h->cap : 4096;
		uint64_t *n = realloc(h->e, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		h->e = n;
		h->cap = ncap;
	}
	i = h->n++;
	while (i && h->e[(i - 1) / 2] < v) {
		h->e[i] = h->e[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->e[i] = v;
	return 0;
}

static uint64_t heap_pop(struct opt_heap *h)
{
	uint64_t top = h->e[0], v = h->e[--h->n];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->e[c + 1] > h->e[c])
			c++;
		if (h->e[c] <= v)
			break;
		h->e[i] = h->e[c];
		i = c;
	}
	if (h->n)
		h->e[i] = v;
	return top;
}

struct opt_state {
	uint32_t *last;		/* [maxlen] backward pass: next row step */
	uint32_t *held;		/* [maxlen] next use of a held token, or 0 =
				 * not held (next uses are stored + 1) */
	uint32_t *nxt;		/* [steps * topk] next use of each entry */
	uint32_t *anxt;		/* [maxlen] next use of an appended token */
	struct opt_heap h;
	uint32_t nheld;
};

/* Evict the held token with the farthest next use. */
static void evict(struct opt_state *o, struct ess_replay_result *r)
{
	for (;;) {
		uint64_t v = heap_pop(&o->h);
		int32_t tok = (int32_t)(uint32_t)v;

		if (o->held[tok] == (uint32_t)(v >> 32) + 1) {
			o->held[tok] = 0;
			o->nheld--;
			r->evictions++;
			return;
		}
	}
}

static int opt_stream(const struct ess_trace *tr, uint32_t q, uint32_t l,
		      uint32_t slots, struct opt_state *o,
		      struct ess_replay_result *r)
{
	const struct ess_trace_info *in = &tr->info;
	uint32_t k = in->topk, s, i, prev, last_len = tr->prefill[q];
	int first = 1, rc;

	/* Backward: next use of each entry, and of each appended token. */
	for (s = 0; s < in->steps; s++) {
		size_t row = ess_trace_row(tr, s, l, q);

		if (tr->seq_len[row] > last_len)
			last_len = tr->seq_len[row];
	}
	for (i = 0; i < last_len; i++)
		o->last[i] = NEVER - 1;
	prev = last_len;
	for (s = in->steps; s-- > 0;) {
		size_t row = ess_trace_row(tr, s, l, q);
		const int32_t *tok = tr->tokens + row * k;
		uint32_t len = tr->seq_len[row];

		if (!len)
			continue;
		for (i = 0; i < k; i++)
			if (tok[i] >= 0) {
				o->nxt[(size_t)s * k + i] = o->last[tok[i]];
				o->last[tok[i]] = s;
			}
		/* Tokens appended at this step: len .. prev-1 belong to later
		 * steps; those of this step are found when the earlier active
		 * step (or the prefill) is reached, below. */
		for (i = len; i < prev; i++)
			o->anxt[i] = o->last[i];
		prev = len;
	}
	for (i = tr->prefill[q]; i < prev; i++)
		o->anxt[i] = o->last[i];

	/* Forward. */
	memset(o->held, 0, sizeof(*o->held) * last_len);
	o->h.n = 0;
	o->nheld = 0;
	prev = tr->prefill[q];
	for (s = 0; s < in->steps; s++) {
		size_t row = ess_trace_row(tr, s, l, q);
		const int32_t *tok = tr->tokens + row * k;
		uint32_t len = tr->seq_len[row], miss = 0;

		if (!len)
			continue;
		for (; prev < len; prev++) {
			/* Appended tokens are new: never held before. */
			if (o->nheld == slots)
				evict(o, r);
			o->held[prev] = o->anxt[prev] + 1;
			o->nheld++;
			r->appends++;
			rc = heap_push(&o->h, o->anxt[prev], (int32_t)prev);
			if (rc)
				return rc;
		}
		for (i = 0; i < k; i++) {
			if (tok[i] < 0)
				continue;
			if (!o->held[tok[i]])
				miss++;
			else if (!first)
				r->lookups++;
		}
		while (o->nheld + miss > slots)
			evict(o, r);
		for (i = 0; i < k; i++) {
			uint32_t nx;

			if (tok[i] < 0)
				continue;
			if (!o->held[tok[i]])
				o->nheld++;
			nx = o->nxt[(size_t)s * k + i];
			o->held[tok[i]] = nx + 1;
			rc = heap_push(&o->h, nx, tok[i]);
			if (rc)
				return rc;
		}
		if (first) {
			r->warmup += miss;
			first = 0;
		} else {
			r->lookups += miss;
			r->misses += miss;
		}
	}
	return 0;
}

int ess_trace_opt(const struct ess_trace *tr, uint32_t slots,
		  struct ess_replay_result *res)
{
	const struct ess_trace_info *in;
	struct ess_replay_result r = { 0, 0, 0, 0, 0 };
	struct opt_state o;
	uint32_t maxlen = 1, q, l;
	size_t i, rows;
	int rc = 0;

	if (!tr || !res || !tr->tokens)
		return -EINVAL;
	in = &tr->info;
	if (slots < in->topk)
		return -EINVAL;
	rows = (size_t)in->steps * in->layers * in->requests;
	for (i = 0; i < rows; i++)
		if (tr->seq_len[i] > maxlen)
			maxlen = tr->seq_len[i];
	for (i = 0; i < in->requests; i++)
		if (tr->prefill[i] > maxlen)
			maxlen = tr->prefill[i];
	memset(&o, 0, sizeof(o));
	o.last = malloc(sizeof(*o.last) * maxlen);
	o.held = malloc(sizeof(*o.held) * maxlen);
	o.anxt = malloc(sizeof(*o.anxt) * maxlen);
	o.nxt = malloc(sizeof(*o.nxt) * ((size_t)in->steps * in->topk + 1));
	if (!o.last || !o.held || !o.anxt || !o.nxt)
		rc = -ENOMEM;
	for (q = 0; q < in->requests && !rc; q++)
		for (l = 0; l < in->layers && !rc; l++)
			rc = opt_stream(tr, q, l, slots, &o, &r);
	free(o.last);
	free(o.held);
	free(o.anxt);
	free(o.nxt);
	free(o.h.e);
	if (!rc)
		*res = r;
	return rc;
}
