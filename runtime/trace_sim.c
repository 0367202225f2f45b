// SPDX-License-Identifier: MIT
/*
 * Replay of a trace through the CPU hot set (the same code the CPU backend
 * runs), and the locality summary ess-trace info prints.  The replay order
 * per (request, layer) stream is the runtime's: the step's appended tokens
 * (ess_append: write-through, a fill, never a miss), then the top-k
 * (ess_resolve); the first active step is the warm-up.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ess/trace.h"
#include "hotset.h"

int ess_trace_replay(const struct ess_trace *tr, uint32_t slots,
		     uint32_t policy, struct ess_replay_result *res)
{
	const struct ess_trace_info *in;
	struct ess_replay_result r = { 0, 0, 0, 0, 0 };
	struct ess_hotset hs;
	int32_t *slot_out, *miss_tok;
	uint32_t *miss_slot, q, l, s;
	int rc = 0;

	if (!tr || !res || !tr->tokens || policy >= ESS_POLICY_COUNT)
		return -EINVAL;
	in = &tr->info;
	if (slots < in->topk)
		return -EINVAL;
	rc = ess_hotset_init(&hs, slots, policy);
	if (rc)
		return rc;
	slot_out = malloc(sizeof(*slot_out) * in->topk);
	miss_tok = malloc(sizeof(*miss_tok) * slots);
	miss_slot = malloc(sizeof(*miss_slot) * slots);
	if (!slot_out || !miss_tok || !miss_slot) {
		rc = -ENOMEM;
		goto out;
	}
	for (q = 0; q < in->requests && !rc; q++)
		for (l = 0; l < in->layers && !rc; l++) {
			uint32_t prev = tr->prefill[q];
			int first = 1;

			ess_hotset_reset(&hs);
			for (s = 0; s < in->steps && !rc; s++) {
				size_t row = ess_trace_row(tr, s, l, q);
				const int32_t *tok = tr->tokens + row * in->topk;
				uint32_t len = tr->seq_len[row], i, nvalid = 0;
				struct ess_hotset_result hr;

				if (!len)
					continue;
				for (; prev < len && !rc; prev++) {
					uint32_t sl;

					rc = ess_hotset_insert(&hs, (int32_t)prev, &sl, &hr);
					r.appends++;
					r.evictions += hr.evictions;
				}
				if (rc)
					break;
				rc = ess_hotset_resolve(&hs, tok, in->topk, slot_out,
							miss_tok, miss_slot, &hr);
				if (rc)
					break;
				for (i = 0; i < in->topk; i++)
					nvalid += tok[i] >= 0;
				r.evictions += hr.evictions;
				if (first) {
					r.warmup += hr.nmiss;
					first = 0;
				} else {
					r.lookups += nvalid;
					r.misses += hr.nmiss;
				}
			}
		}
	if (!rc)
		*res = r;
out:
	free(slot_out);
	free(miss_tok);
	free(miss_slot);
	ess_hotset_fini(&hs);
	return rc;
}

static uint32_t trace_max_len(const struct ess_trace *tr)
{
	size_t i, rows = (size_t)tr->info.steps * tr->info.layers * tr->info.requests;
	uint32_t m = 1;

	for (i = 0; i < rows; i++)
		if (tr->seq_len[i] > m)
			m = tr->seq_len[i];
	for (i = 0; i < tr->info.requests; i++)
		if (tr->prefill[i] > m)
			m = tr->prefill[i];
	return m;
}

/* Mark a row's tokens in bitmap b (set = 1) or clear them (set = 0). */
static void mark(uint64_t *b, const int32_t *row, uint32_t k, int set)
{
	uint32_t i;

	for (i = 0; i < k; i++) {
		if (row[i] < 0)
			continue;
		if (set)
			b[row[i] >> 6] |= 1ull << (row[i] & 63);
		else
			b[row[i] >> 6] &= ~(1ull << (row[i] & 63));
	}
}

static uint32_t count_in(const uint64_t *b, const int32_t *row, uint32_t k,
			 uint32_t *valid)
{
	uint32_t i, n = 0, v = 0;

	for (i = 0; i < k; i++) {
		if (row[i] < 0)
			continue;
		v++;
		n += (b[row[i] >> 6] >> (row[i] & 63)) & 1;
	}
	if (valid)
		*valid = v;
	return n;
}

int ess_trace_summarize(const struct ess_trace *tr, uint32_t recent_window,
			struct ess_trace_summary *sm)
{
	const struct ess_trace_info *in;
	uint32_t maxlen, q, l, s, k;
	uint64_t *b, *seen, nov = 0, nsim = 0, nnew = 0, nrecent = 0, distinct = 0;
	double ov = 0, sim = 0;
	size_t words;

	if (!tr || !sm || !tr->tokens)
		return -EINVAL;
	in = &tr->info;
	k = in->topk;
	memset(sm, 0, sizeof(*sm));
	sm->min_len = UINT32_MAX;
	maxlen = trace_max_len(tr);
	words = ((size_t)maxlen + 64) / 64;
	b = calloc(words, sizeof(*b));
	seen = calloc(words, sizeof(*seen));
	if (!b || !seen) {
		free(b);
		free(seen);
		return -ENOMEM;
	}
	for (q = 0; q < in->requests; q++)
		for (l = 0; l < in->layers; l++) {
			const int32_t *prev = NULL;

			memset(seen, 0, words * sizeof(*seen));
			for (s = 0; s < in->steps; s++) {
				size_t r = ess_trace_row(tr, s, l, q);
				const int32_t *row = tr->tokens + r * k;
				uint32_t len = tr->seq_len[r], v, i, pv;

				if (!len)
					continue;
				sm->rows++;
				if (len < sm->min_len)
					sm->min_len = len;
				if (len > sm->max_len)
					sm->max_len = len;
				for (i = 0; i < k; i++) {
					int32_t t = row[i];

					if (t < 0)
						continue;
					sm->entries++;
					if (!((seen[t >> 6] >> (t & 63)) & 1)) {
						seen[t >> 6] |= 1ull << (t & 63);
						distinct++;
					}
				}
				/* Same layer, previous active step. */
				if (prev) {
					mark(b, prev, k, 1);
					count_in(b, prev, k, &pv);
					if (pv) {
						ov += (double)count_in(b, row, k, &v) / pv;
						nov++;
					}
					for (i = 0; i < k; i++) {
						int32_t t = row[i];

						if (t < 0 || ((b[t >> 6] >> (t & 63)) & 1))
							continue;
						nnew++;
						if ((uint32_t)t + recent_window >= len)
							nrecent++;
					}
					mark(b, prev, k, 0);
				}
				/* Same step, previous layer. */
				if (l > 0) {
					size_t ru = ess_trace_row(tr, s, l - 1, q);
					const int32_t *up = tr->tokens + ru * k;

					if (tr->seq_len[ru]) {
						mark(b, up, k, 1);
						count_in(b, up, k, &pv);
						if (pv) {
							sim += (double)count_in(b, row, k, &v) / pv;
							nsim++;
						}
						mark(b, up, k, 0);
					}
				}
				prev = row;
			}
		}
	sm->step_overlap = nov ? ov / nov : 0;
	sm->layer_sim = nsim ? sim / nsim : 0;
	sm->recent_share = nnew ? (double)nrecent / nnew : 0;
	sm->distinct_per_stream = (double)distinct / ((double)in->requests * in->layers);
	if (!sm->rows)
		sm->min_len = 0;
	free(b);
	free(seen);
	return 0;
}
