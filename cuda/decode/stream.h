/* SPDX-License-Identifier: MIT */
/*
 * The top-k stream the benchmark's attention reads: from libess's
 * synthetic DSA generator (include/ess/trace.h) or a trace file, laid out
 * for dec_side_new.  A trace has fewer request columns than the batch:
 * request b replays column b % columns (the same tokens, on its own rows).
 */
#ifndef ESS_DECODE_STREAM_H
#define ESS_DECODE_STREAM_H

#include <stddef.h>
#include <stdint.h>

struct dec_topk_stream {
	int32_t *rows;		/* [steps][layers][batch][2048] */
	uint32_t *seq_len;	/* [steps][batch] */
	uint32_t prefill;	/* the largest prefill of the columns used */
	uint32_t max_len;	/* the largest seq_len */
	uint32_t columns;	/* trace request columns replayed */
};

/*
 * path NULL: generate (columns = min(batch, 32), prefill = context, the
 * generator's other defaults, seed 1).  Otherwise load the file, which
 * needs at least `layers` layers and `steps` steps, top-k 2048, and every
 * request active at every step; context is then ignored.
 * 0 or -1 with a message in err.
 */
int dec_stream_make(const char *path, uint32_t context, uint32_t batch, uint32_t layers,
		    uint32_t steps, struct dec_topk_stream *out, char *err, size_t errlen);
void dec_stream_free(struct dec_topk_stream *s);

#endif /* ESS_DECODE_STREAM_H */
