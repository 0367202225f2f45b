// SPDX-License-Identifier: MIT
/* Top-k streams for the decode benchmark (see stream.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "stream.h"

extern "C" {
#include "ess/trace.h"
}

int dec_stream_make(const char *path, uint32_t context, uint32_t batch, uint32_t layers,
		    uint32_t steps, struct dec_topk_stream *out, char *err, size_t errlen)
{
	struct ess_trace tr;
	char msg[256] = "";
	memset(out, 0, sizeof(*out));
	memset(&tr, 0, sizeof(tr));
	if (!batch || !layers || !steps) {
		snprintf(err, errlen, "stream: batch, layers and steps must be positive");
		return -1;
	}
	if (path) {
		if (ess_trace_load(&tr, path, msg, sizeof(msg))) {
			snprintf(err, errlen, "trace %s: %s", path, msg);
			return -1;
		}
		if (tr.info.topk != DEC_TOPK || tr.info.layers < layers || tr.info.steps < steps) {
			snprintf(err, errlen, "trace %s: top-k %u, %u layers, %u steps; need top-k %u, "
				 ">= %u layers, >= %u steps", path, tr.info.topk, tr.info.layers,
				 tr.info.steps, DEC_TOPK, layers, steps);
			ess_trace_free(&tr);
			return -1;
		}
	} else {
		struct ess_trace_gen g;
		ess_trace_gen_default(&g);
		g.layers = layers;
		g.topk = DEC_TOPK;
		g.requests = batch < 32 ? batch : 32;
		g.steps = steps;
		g.prefill = context;
		if (ess_trace_gen_check(&g, msg, sizeof(msg)) ||
		    ess_trace_generate(&g, &tr, msg, sizeof(msg))) {
			snprintf(err, errlen, "synthetic trace: %s", msg);
			return -1;
		}
	}
	const uint32_t R = tr.info.requests < batch ? tr.info.requests : batch;
	out->columns = R;
	/* rows below the largest prefill are filled for every request; a
	 * request that starts lower rewrites some of them with the same bytes */
	for (uint32_t c = 0; c < R; c++)
		if (tr.prefill[c] > out->prefill)
			out->prefill = tr.prefill[c];
	out->rows = (int32_t *)malloc((size_t)steps * layers * batch * DEC_TOPK * 4);
	out->seq_len = (uint32_t *)malloc((size_t)steps * batch * 4);
	if (!out->rows || !out->seq_len) {
		snprintf(err, errlen, "stream: out of memory");
		goto fail;
	}
	for (uint32_t s = 0; s < steps; s++)
		for (uint32_t b = 0; b < batch; b++) {
			const uint32_t c = b % R;
			const uint32_t len = tr.seq_len[ess_trace_row(&tr, s, 0, c)];
			if (!len) {
				snprintf(err, errlen, "trace: request %u inactive at step %u (every request "
					 "must be active)", c, s);
				goto fail;
			}
			out->seq_len[(size_t)s * batch + b] = len;
			if (len > out->max_len)
				out->max_len = len;
			for (uint32_t l = 0; l < layers; l++)
				memcpy(out->rows + (((size_t)s * layers + l) * batch + b) * DEC_TOPK,
				       tr.tokens + ess_trace_row(&tr, s, l, c) * DEC_TOPK, DEC_TOPK * 4);
		}
	ess_trace_free(&tr);
	return 0;
fail:
	ess_trace_free(&tr);
	dec_stream_free(out);
	return -1;
}

void dec_stream_free(struct dec_topk_stream *s)
{
	free(s->rows);
	free(s->seq_len);
	memset(s, 0, sizeof(*s));
}
