/* SPDX-License-Identifier: MIT */
/*
 * One side of the decode benchmark (the baseline with every latent row in
 * HBM, or ESS with rows in pinned host memory and a hot buffer per request
 * and layer): its buffers, and the queueing of one layer of one step.
 * cuda/decode/side.cu; Documentation/dev/decode-bench.md.
 */
#ifndef ESS_DECODE_SIDE_H
#define ESS_DECODE_SIDE_H

#include <stdint.h>

#include <cuda_runtime.h>

struct dec_cfg {
	int ess;		/* 0 baseline, 1 ESS */
	uint32_t batch;		/* requests */
	uint32_t layers;	/* layers run (the model's are scaled from these) */
	uint32_t steps;		/* steps of the top-k stream (warm-up included) */
	uint32_t warm;		/* untimed first steps */
	uint32_t slots;		/* ESS hot-buffer slots per request and layer */
	uint32_t policy;	/* enum ess_policy_id */
	uint32_t cap;		/* token capacity per request (>= every seq_len) */
	uint32_t prefill;	/* tokens present before step 0 */
	/* the stand-in for the work that does not touch the cache, per layer */
	uint64_t pre_ns, mid_ns, post_ns;
	uint32_t spin_blocks;
};

/*
 * The selected tokens, host memory: rows[((s * layers + l) * batch + b) *
 * 2048 + i] (-1 = none, any order) and seq_len[s * batch + b] (tokens held
 * at step s, the step's new token included; it is token seq_len - 1).
 */
struct dec_stream {
	const int32_t *rows;
	const uint32_t *seq_len;
};

struct dec_side;

/* Allocate and fill (rows 0 .. prefill-1 of every request and layer);
 * NULL with a message in err on failure. */
struct dec_side *dec_side_new(const struct dec_cfg *c, const struct dec_stream *st, char *err,
			      size_t errlen);
void dec_side_free(struct dec_side *d);
/* Device (and, for ESS, pinned host) bytes dec_side_new will take. */
void dec_side_bytes(const struct dec_cfg *c, uint64_t *dev, uint64_t *host);

/* Reset ESS's hot buffers and counters (a fresh start for a pass). */
int dec_side_reset(struct dec_side *d);
/* Zero the ESS counters only (after the warm-up steps). */
int dec_side_zero_counts(struct dec_side *d);
/* Queue step s, every layer, on the side's main stream (the ESS fetch runs
 * on a second, high-priority stream joined by events); capturable.
 * standin 0 leaves the stand-in kernels out. */
int dec_side_step(struct dec_side *d, uint32_t s, int standin);
cudaStream_t dec_side_stream(const struct dec_side *d);

struct dec_counts {
	uint64_t lookups, hits, misses, bytes_h2d, bytes_d2h;
	int err;		/* the management kernel's error word */
};
/* Counters since the last reset (synchronises). */
int dec_side_counts(struct dec_side *d, struct dec_counts *out);
/* Copy the attention output of the last layer queued, [batch][128][512]
 * fp32, to host (synchronises). */
int dec_side_output(struct dec_side *d, float *host);

#endif /* ESS_DECODE_SIDE_H */
