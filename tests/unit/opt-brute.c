// SPDX-License-Identifier: MIT
/*
 * Belady OPT (runtime/opt.c) against an exhaustive search on tiny traces:
 * the same constraints (each step's top-k resident after the step,
 * appended tokens placed when appended, empty slots used first, warm-up
 * not counted), every choice of victims tried.  OPT must equal the search
 * and be no worse than any policy; plus one hand-computed case.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ess/trace.h"
#include "../../runtime/hotset.h"
#include "tap.h"

#define MAXTOK 12
#define NSTATE (1u << MAXTOK)
#define INF 0x3fffffff

static uint64_t rs = 0x1234567887654321ull;

static uint32_t rnd(uint32_t n)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return (uint32_t)(rs % n);
}

static int popc(uint32_t x)
{
	return __builtin_popcount(x);
}

/* dp[mask] = fewest counted misses reaching held set `mask`. */
static void dp_append(int *dp, int *nx, uint32_t slots, uint32_t tok)
{
	uint32_t m, v;

	for (m = 0; m < NSTATE; m++)
		nx[m] = INF;
	for (m = 0; m < NSTATE; m++) {
		if (dp[m] >= INF)
			continue;
		if ((uint32_t)popc(m) < slots) {
			uint32_t n = m | 1u << tok;

			if (dp[m] < nx[n])
				nx[n] = dp[m];
			continue;
		}
		for (v = 0; v < MAXTOK; v++)
			if (m >> v & 1) {
				uint32_t n = (m & ~(1u << v)) | 1u << tok;

				if (dp[m] < nx[n])
					nx[n] = dp[m];
			}
	}
	memcpy(dp, nx, sizeof(int) * NSTATE);
}

static void dp_row(int *dp, int *nx, uint32_t slots, uint32_t row, int count)
{
	uint32_t m, sub;

	for (m = 0; m < NSTATE; m++)
		nx[m] = INF;
	for (m = 0; m < NSTATE; m++) {
		uint32_t miss, cand;
		int e, cost;

		if (dp[m] >= INF)
			continue;
		miss = row & ~m;
		cost = dp[m] + (count ? popc(miss) : 0);
		e = popc(m) + popc(miss) - (int)slots;
		cand = m & ~row;
		if (e <= 0) {
			if (cost < nx[m | row])
				nx[m | row] = cost;
			continue;
		}
		/* Every victim subset of size e among held, not in the row. */
		for (sub = cand;; sub = (sub - 1) & cand) {
			if (popc(sub) == e) {
				uint32_t n = (m & ~sub) | row;

				if (cost < nx[n])
					nx[n] = cost;
			}
			if (!sub)
				break;
		}
	}
	memcpy(dp, nx, sizeof(int) * NSTATE);
}

static int brute(const struct ess_trace *tr, uint32_t slots)
{
	static int dp[NSTATE], nx[NSTATE];
	uint32_t q, l, s, i, m;
	int total = 0;

	for (q = 0; q < tr->info.requests; q++)
		for (l = 0; l < tr->info.layers; l++) {
			uint32_t prev = tr->prefill[q];
			int first = 1, best = INF;

			for (m = 0; m < NSTATE; m++)
				dp[m] = INF;
			dp[0] = 0;
			for (s = 0; s < tr->info.steps; s++) {
				size_t r = ess_trace_row(tr, s, l, q);
				uint32_t len = tr->seq_len[r], row = 0;

				if (!len)
					continue;
				for (; prev < len; prev++)
					dp_append(dp, nx, slots, prev);
				for (i = 0; i < tr->info.topk; i++)
					if (tr->tokens[r * tr->info.topk + i] >= 0)
						row |= 1u << tr->tokens[r * tr->info.topk + i];
				dp_row(dp, nx, slots, row, !first);
				first = 0;
			}
			for (m = 0; m < NSTATE; m++)
				if (dp[m] < best)
					best = dp[m];
			total += best;
		}
	return total;
}

/* A random tiny trace: tokens < MAXTOK, some inactive steps. */
static void tiny(struct ess_trace *tr)
{
	struct ess_trace_info in = { 1 + rnd(2), 1 + rnd(3), 1 + rnd(2),
				     1 + rnd(9), 0, 0 };
	uint32_t q, l, s, i;

	ess_trace_alloc(tr, &in);
	for (q = 0; q < in.requests; q++) {
		uint32_t len = 1 + rnd(4);

		tr->prefill[q] = len;
		for (s = 0; s < in.steps; s++) {
			if (rnd(5) == 0)
				continue;	/* inactive this step */
			if (len < MAXTOK && rnd(3))
				len++;
			for (l = 0; l < in.layers; l++) {
				size_t r = ess_trace_row(tr, s, l, q);
				uint32_t used = 0;

				tr->seq_len[r] = len;
				for (i = 0; i < in.topk; i++) {
					uint32_t t = rnd(len);

					if (rnd(6) == 0 || used >> t & 1)
						continue;
					used |= 1u << t;
					tr->tokens[r * in.topk + i] = (int32_t)t;
				}
			}
		}
	}
}

static void dump(const struct ess_trace *tr, uint32_t slots)
{
	uint32_t s, l, q, i;

	tap_diag("slots %u layers %u topk %u requests %u steps %u", slots,
		 tr->info.layers, tr->info.topk, tr->info.requests, tr->info.steps);
	for (q = 0; q < tr->info.requests; q++)
		for (l = 0; l < tr->info.layers; l++) {
			printf("# q%u l%u prefill %u:", q, l, tr->prefill[q]);
			for (s = 0; s < tr->info.steps; s++) {
				size_t r = ess_trace_row(tr, s, l, q);

				printf(" |%u:", tr->seq_len[r]);
				for (i = 0; i < tr->info.topk; i++)
					printf(" %d", tr->tokens[r * tr->info.topk + i]);
			}
			printf("\n");
		}
}

int main(void)
{
	uint32_t it, bad_eq = 0, bad_le = 0, n = 0, p;
	struct ess_replay_result o, r;
	struct ess_trace tr;
	char err[256];

	tap_plan(6);
	/* Hand-computed: 2 slots, top-1, prefill 3, no growth, rows
	 * 0 1 2 0 1 2 0: LRU misses every counted lookup. */
	{
		static const int32_t seq[] = { 0, 1, 2, 0, 1, 2, 0 };
		struct ess_trace_info in = { 1, 1, 1, 7, 0, 0 };
		uint32_t s;

		ess_trace_alloc(&tr, &in);
		tr.prefill[0] = 3;
		for (s = 0; s < 7; s++) {
			tr.seq_len[s] = 3;
			tr.tokens[s] = seq[s];
		}
		/* Warm-up loads 0.  Then: 1 miss {0,1}; 2 miss, evict 1 (next
		 * use 4; 0's is 3) {0,2}; 0 hit; 1 miss, evict 0 (next 6; 2's
		 * is 5) {2,1}; 2 hit; 0 miss.  4 misses in 6 lookups. */
		{
			int v = ess_trace_validate(&tr, err, sizeof(err));
			int orc = ess_trace_opt(&tr, 2, &o);
			int b = brute(&tr, 2);

			tap_ok(v == 0 && orc == 0 && o.warmup == 1 && o.lookups == 6 &&
			       o.misses == 4 && b == 4,
			       "hand case 0120120, 2 slots: OPT 4 misses (got %llu, "
			       "exhaustive %d)", (unsigned long long)o.misses, b);
		}
		ess_trace_replay(&tr, 2, ESS_POLICY_LRU, &r);
		tap_ok(r.misses == 6, "same case: LRU misses every one of 6 (got %llu)",
		       (unsigned long long)r.misses);
		ess_trace_free(&tr);
	}
	for (it = 0; it < 400; it++) {
		uint32_t slots;
		int b;

		tiny(&tr);
		if (ess_trace_validate(&tr, err, sizeof(err))) {
			tap_diag("generator of tiny traces broke: %s", err);
			bad_eq++;
			ess_trace_free(&tr);
			continue;
		}
		slots = tr.info.topk + rnd(3);
		b = brute(&tr, slots);
		if (ess_trace_opt(&tr, slots, &o) || (int)o.misses != b) {
			if (bad_eq++ < 3) {
				tap_diag("iteration %u: OPT %llu, exhaustive %d", it,
					 (unsigned long long)o.misses, b);
				dump(&tr, slots);
			}
		}
		for (p = 0; p < ESS_POLICY_COUNT; p++)
			if (ess_trace_replay(&tr, slots, p, &r) ||
			    r.misses < o.misses || r.lookups != o.lookups)
				bad_le++;
		n++;
		ess_trace_free(&tr);
	}
	tap_ok(bad_eq == 0, "OPT equals exhaustive search on %u tiny traces", n);
	tap_ok(bad_le == 0, "OPT <= every policy, same lookups, on %u tiny traces", n);
	/* Argument checks. */
	{
		struct ess_trace_info in = { 1, 4, 1, 1, 0, 0 };

		ess_trace_alloc(&tr, &in);
		tr.prefill[0] = 8;
		tr.seq_len[0] = 8;
		tap_ok(ess_trace_opt(&tr, 3, &o) < 0 && ess_trace_replay(&tr, 3, 0, &r) < 0,
		       "slots below top-k refused");
		tap_ok(ess_trace_opt(NULL, 4, &o) < 0 &&
		       ess_trace_replay(&tr, 4, ESS_POLICY_COUNT, &r) < 0,
		       "NULL trace and unknown policy refused");
		ess_trace_free(&tr);
	}
	return tap_done();
}
