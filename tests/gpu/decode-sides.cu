// SPDX-License-Identifier: MIT
/*
 * The decode benchmark's two sides on the same inputs: the baseline reads
 * its rows from an HBM cache, ESS resolves them through the hot buffer and
 * fetches misses from pinned host memory (libess-cuda's management and
 * fetch kernels); both must give bit-identical attention outputs at every
 * step, eagerly and when ESS's steps are replayed from a CUDA graph.  Also:
 * ESS's counters add up, it hits, writes through, and bad configurations
 * are refused with a message.
 */
#include <string.h>

#include <vector>

#include "gpu-tap.h"
#include "decode/decode.h"
#include "decode/side.h"
#include "decode/stream.h"

extern "C" {
#include "ess/hotset.h"
}

static struct dec_cfg cfg(int ess, const struct dec_topk_stream *ts, uint32_t B, uint32_t L, uint32_t S)
{
	struct dec_cfg c;
	memset(&c, 0, sizeof(c));
	c.ess = ess;
	c.batch = B;
	c.layers = L;
	c.steps = S;
	c.warm = 2;
	c.slots = 3072;
	c.policy = ESS_POLICY_LRU;
	c.cap = (ts->max_len + 63) / 64 * 64;
	c.prefill = ts->prefill;
	c.pre_ns = c.mid_ns = c.post_ns = 2000;
	c.spin_blocks = 4;
	return c;
}

int main(void)
{
	tap_need_device();
	rng_seed();		/* the data is deterministic; printed for the log */
	(void)fill_random;
	const uint32_t B = 3, L = 2, S = 8, ctx = 4096;
	const size_t on = (size_t)B * DEC_HEADS * DEC_LATENT;
	struct dec_topk_stream ts;
	char err[256];
	printf("1..10\n");
	int r = dec_stream_make(NULL, ctx, B, L, S, &ts, err, sizeof(err));
	tap_ok(r == 0, "synthetic stream: %u requests, %u layers, %u steps at %u tokens (%s)", B, L, S, ctx,
	       r ? err : "ok");
	if (r)
		return 1;
	struct dec_stream st = {ts.rows, ts.seq_len};
	struct dec_cfg cb = cfg(0, &ts, B, L, S), ce = cfg(1, &ts, B, L, S);
	struct dec_side *base = dec_side_new(&cb, &st, err, sizeof(err));
	tap_ok(base != NULL, "baseline side (%s)", base ? "ok" : err);
	struct dec_side *ess = dec_side_new(&ce, &st, err, sizeof(err));
	tap_ok(ess != NULL, "ESS side (%s)", ess ? "ok" : err);
	if (!base || !ess)
		return 1;
	std::vector<float> ob(on), oe(on);
	std::vector<std::vector<float>> ref(S, std::vector<float>(on));
	int same = 1, nonzero = 1, rc = 0;
	for (uint32_t s = 0; s < S; s++) {
		rc |= dec_side_step(base, s, s & 1) | dec_side_step(ess, s, s & 1);
		rc |= dec_side_output(base, ob.data()) | dec_side_output(ess, oe.data());
		same &= memcmp(ob.data(), oe.data(), on * 4) == 0;
		double a = 0;
		for (float x : ob)
			a += x < 0 ? -x : x;
		nonzero &= a > 0;
		ref[s] = ob;
	}
	tap_ok(rc == 0, "%u steps queued on both sides", S);
	tap_ok(same, "ESS and baseline attention outputs are bit-identical at every step");
	tap_ok(nonzero, "the outputs are not all zero");
	struct dec_counts cn;
	rc = dec_side_counts(ess, &cn);
	const uint64_t want = (uint64_t)S * L * B * DEC_TOPK;
	tap_ok(rc == 0 && cn.err == 0 && cn.hits + cn.misses == cn.lookups && cn.lookups > 0 &&
		       cn.lookups <= want && cn.bytes_h2d == cn.misses * DEC_ROW,
	       "ESS counters: %llu lookups = %llu hits + %llu misses, %llu B fetched, error word %d",
	       (unsigned long long)cn.lookups, (unsigned long long)cn.hits, (unsigned long long)cn.misses,
	       (unsigned long long)cn.bytes_h2d, cn.err);
	tap_ok(cn.hits > cn.lookups / 2, "ESS hits after the first step (%.1f%%)",
	       cn.lookups ? 100.0 * cn.hits / cn.lookups : 0.0);
	/* the same steps again, ESS from a CUDA graph after a reset */
	int gok = dec_side_reset(ess) == 0;
	for (uint32_t s = 0; s < 2; s++)
		gok &= dec_side_step(ess, s, 1) == 0;
	cudaStream_t str = dec_side_stream(ess);
	cudaGraph_t g;
	cudaGraphExec_t ge;
	gok &= cudaStreamBeginCapture(str, cudaStreamCaptureModeThreadLocal) == cudaSuccess;
	for (uint32_t s = 2; s < S; s++)
		gok &= dec_side_step(ess, s, 1) == 0;
	gok &= cudaStreamEndCapture(str, &g) == cudaSuccess;
	gok &= gok && cudaGraphInstantiate(&ge, g, 0) == cudaSuccess;
	gok &= gok && cudaGraphLaunch(ge, str) == cudaSuccess;
	gok &= gok && dec_side_output(ess, oe.data()) == 0;
	tap_ok(gok && memcmp(oe.data(), ref[S - 1].data(), on * 4) == 0,
	       "ESS steps replayed from a CUDA graph give the baseline's output");
	dec_side_free(base);
	dec_side_free(ess);
	struct dec_cfg bad = cfg(1, &ts, B, L, S);
	bad.slots = DEC_TOPK - 1;
	struct dec_side *x = dec_side_new(&bad, &st, err, sizeof(err));
	tap_ok(x == NULL && strstr(err, "slots"), "fewer slots than top-k refused (%s)", err);
	dec_side_free(x);
	dec_stream_free(&ts);
	return tap_fail ? 1 : 0;
}
