// SPDX-License-Identifier: MIT
/*
 * The synthetic trace generator: deterministic for a seed, valid traces,
 * and its knobs measurably honoured (overlap, layer similarity, recent
 * share, heavy hitters, growth), bad knobs refused.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ess/trace.h"
#include "tap.h"

static struct ess_trace_gen base(void)
{
	struct ess_trace_gen g;

	ess_trace_gen_default(&g);
	g.layers = 3;
	g.topk = 256;
	g.requests = 2;
	g.steps = 60;
	g.prefill = 8192;
	g.heavy_tokens = 64;
	return g;
}

static int gen_sum(const struct ess_trace_gen *g, uint32_t window,
		   struct ess_trace_summary *sm)
{
	struct ess_trace tr;
	char err[256];
	int rc = ess_trace_generate(g, &tr, err, sizeof(err));

	if (rc) {
		tap_diag("generate: %s", err);
		return rc;
	}
	rc = ess_trace_validate(&tr, err, sizeof(err));
	if (rc)
		tap_diag("invalid: %s", err);
	if (!rc)
		rc = ess_trace_summarize(&tr, window, sm);
	ess_trace_free(&tr);
	return rc;
}

/* Share of rows (after step 10) that select token 0. */
static double sink_share(const struct ess_trace_gen *g)
{
	struct ess_trace tr;
	char err[256];
	size_t r, rows, hit = 0, n = 0;
	uint32_t i;

	if (ess_trace_generate(g, &tr, err, sizeof(err)))
		return -1;
	rows = (size_t)g->steps * g->layers * g->requests;
	for (r = (size_t)10 * g->layers * g->requests; r < rows; r++, n++)
		for (i = 0; i < g->topk; i++)
			if (tr.tokens[r * g->topk + i] == 0)
				hit++;
	ess_trace_free(&tr);
	return n ? (double)hit / n : 0;
}

static int bad_knob(struct ess_trace_gen g, const char *what)
{
	struct ess_trace tr;
	char err[256] = "";
	int rc = ess_trace_generate(&g, &tr, err, sizeof(err));

	if (rc != -EINVAL || !strstr(err, what)) {
		tap_diag("rc %d: %s", rc, err);
		return 0;
	}
	return tr.tokens == NULL;
}

int main(void)
{
	static const double overlaps[] = { 0.5, 0.8, 0.95, 0.99 };
	struct ess_trace_gen g = base();
	struct ess_trace a, b;
	struct ess_trace_summary sm;
	char err[256];
	size_t n;
	unsigned i;

	tap_plan(18);
	ess_trace_generate(&g, &a, err, sizeof(err));
	ess_trace_generate(&g, &b, err, sizeof(err));
	n = (size_t)g.steps * g.layers * g.requests * g.topk;
	tap_ok(memcmp(a.tokens, b.tokens, n * 4) == 0 &&
	       memcmp(a.seq_len, b.seq_len, n / g.topk * 4) == 0,
	       "same seed, same trace");
	ess_trace_free(&b);
	g.seed = 2;
	ess_trace_generate(&g, &b, err, sizeof(err));
	tap_ok(memcmp(a.tokens, b.tokens, n * 4) != 0, "another seed, another trace");
	tap_ok(ess_trace_validate(&a, err, sizeof(err)) == 0 &&
	       a.seq_len[0] == 8193 &&
	       a.seq_len[ess_trace_row(&a, 59, 0, 0)] == 8192 + 60 &&
	       a.prefill[1] == 8192, "valid, one token appended per step");
	ess_trace_free(&a);
	ess_trace_free(&b);
	g = base();
	g.growth = 3;
	g.steps = 5;
	ess_trace_generate(&g, &a, err, sizeof(err));
	tap_ok(a.seq_len[0] == 8195 && a.seq_len[ess_trace_row(&a, 4, 2, 1)] == 8192 + 15 &&
	       ess_trace_validate(&a, err, sizeof(err)) == 0, "growth 3: three tokens a step");
	ess_trace_free(&a);

	for (i = 0; i < 4; i++) {
		g = base();
		g.overlap = overlaps[i];
		g.steps = 40;
		gen_sum(&g, g.recent_window, &sm);
		tap_ok(fabs(sm.step_overlap - g.overlap) < 0.02,
		       "overlap knob %.2f measured %.4f", g.overlap, sm.step_overlap);
	}
	g = base();
	g.layer_sim = 1.0;
	gen_sum(&g, 1024, &sm);
	tap_ok(sm.layer_sim > 0.999, "layer-sim 1: layers identical (%.4f)", sm.layer_sim);
	g.layer_sim = 0.0;
	g.heavy_share = 0;
	g.recent_share = 0;
	gen_sum(&g, 1024, &sm);
	tap_ok(sm.layer_sim < 0.1, "layer-sim 0, no shared sources: layers apart (%.4f)",
	       sm.layer_sim);
	g = base();
	g.layer_sim = 0.6;
	gen_sum(&g, 1024, &sm);
	tap_ok(sm.layer_sim >= 0.59 && sm.layer_sim < 0.75 &&
	       fabs(sm.step_overlap - 0.95) < 0.02,
	       "layer-sim 0.6: measured %.4f, overlap still %.4f", sm.layer_sim,
	       sm.step_overlap);
	g = base();
	g.recent_share = 0.5;
	g.reuse_share = 0;
	g.heavy_share = 0;
	g.recent_window = 2048;
	gen_sum(&g, 2048, &sm);
	/* Recent draws plus uniform draws that land in the window. */
	tap_ok(fabs(sm.recent_share - (0.5 + 0.5 * 2048.0 / 8220)) < 0.04,
	       "recent knob 0.5 measured %.4f", sm.recent_share);
	g.recent_share = 0;
	gen_sum(&g, 2048, &sm);
	tap_ok(fabs(sm.recent_share - 2048.0 / 8220) < 0.04,
	       "recent knob 0 measured %.4f (uniform only)", sm.recent_share);
	/* Heavy hitters: token 0 (a sink) is nearly always selected. */
	g = base();
	g.heavy_share = 0.5;
	{
		double with = sink_share(&g), without;

		g.heavy_share = 0;
		without = sink_share(&g);
		tap_ok(with > 0.8 && without < 0.15,
		       "token 0 selected in %.2f of rows with heavy 0.5, %.2f with 0",
		       with, without);
	}
	g = base();
	g.overlap = 1.5;
	tap_ok(bad_knob(g, "overlap"), "overlap 1.5 refused");
	g = base();
	g.reuse_share = 0.5;
	g.heavy_share = 0.4;
	g.recent_share = 0.3;
	tap_ok(bad_knob(g, "sum at most 1"), "shares over 1 refused");
	g = base();
	g.layers = 0;
	tap_ok(bad_knob(g, "layers"), "0 layers refused");
	g = base();
	g.heavy_tokens = 9000;
	tap_ok(bad_knob(g, "heavy-tokens"), "more heavy hitters than prefill refused");
	return tap_done();
}
