/* SPDX-License-Identifier: MIT */
/*
 * Kernels of the emulated DeepSeek-V3.2-Exp decode step (issue 8): the
 * indexer scan, the top-k, the sparse MLA attention and the row writes.
 * Shapes are the model's (shared/reference.md section 1) and fixed at
 * compile time; batch and context are arguments.  Every launch returns 0
 * or -EINVAL (bad argument) / -EIO (launch failure); all are capturable in
 * a CUDA graph (no host synchronisation, no allocation).
 * Documentation/dev/decode-bench.md describes the design.
 */
#ifndef ESS_DECODE_H
#define ESS_DECODE_H

#include <stdint.h>

#include <cuda_runtime.h>

/* latent row: 512 x fp8 e4m3, 4 x fp32 scales (one per 128), 64 x bf16 RoPE */
#define DEC_LATENT	512
#define DEC_ROPE	64
#define DEC_QK		(DEC_LATENT + DEC_ROPE)	/* 576 */
#define DEC_ROW		656
#define DEC_ROW_SCALES	512			/* byte offset of the scales */
#define DEC_ROW_ROPE	528			/* byte offset of the RoPE part */
#define DEC_HEADS	128
/* indexer key: 128 x fp8 e4m3 then one fp32 scale */
#define DEC_IDX_HEADS	64
#define DEC_IDX_DIM	128
#define DEC_KEY		132
#define DEC_TOPK	2048

/*
 * Indexer scores, the DSA way: for request b and token t < ntok[b],
 *   score[b * cap + t] = kscale_t * sum_h w[b][h] * relu(q[b][h] . k_t)
 * with q [B][64][128] fp8 e4m3, w [B][64] fp32, keys [B][cap][132].
 * FP8 tensor-core MMA (m16n8k32), fp32 accumulation.  Tokens from ntok[b]
 * to cap get -inf.  cap % 4 == 0 and keys 16-byte aligned (-EINVAL
 * otherwise): the keys are copied by 16-byte pieces.
 */
int dec_indexer(const uint8_t *keys, const uint8_t *q, const float *w,
		const uint32_t *ntok, uint32_t batch, uint32_t cap,
		float *score, cudaStream_t s);

/*
 * Top-k by radix select, a cluster of 1 to 8 blocks per request (more for
 * small batches): idx[b * k ...] receives the k tokens of the largest scores
 * among the first ntok[b] (any order; ties at the threshold are taken in no
 * fixed order); -1 pads where ntok < k.  k <= DEC_TOPK; cap % 4 == 0 and
 * score 16-byte aligned (scores are read four at a time).
 */
int dec_topk(const float *score, const uint32_t *ntok, uint32_t batch,
	     uint32_t cap, uint32_t k, int32_t *idx, cudaStream_t s);

/*
 * Sparse MLA decode attention, one query token per request.
 *   q   [B][128][576] bf16 (absorbed q_nope 512, then q_rope 64)
 *   row of entry i of request b: rows + (b * req_stride + idx[b*k + i]) * 656
 *       (req_stride = cap for a per-request HBM cache, 0 for hot-buffer slot
 *       ids); idx -1 = no entry.
 *   out [B][128][512] fp32 = softmax(q . [c;r] / sqrt(576)) . c, with c the
 *       dequantised latent.  BF16 tensor-core MMA, fp32 softmax and sums.
 * work: dec_attn_work_bytes(batch) of device memory for the split partials.
 */
size_t dec_attn_work_bytes(uint32_t batch);
int dec_attn(const uint16_t *q, const uint8_t *rows, const int32_t *idx,
	     uint64_t req_stride, uint32_t batch, uint32_t k, float *out,
	     void *work, cudaStream_t s);

/*
 * Row content used by the benchmark and the tests: deterministic in
 * (layer, request, token), identical wherever a row is stored, so the
 * baseline's HBM cache and ESS's host pool hold the same bytes.
 * dec_fill_rows: rows dst + ((b * cap) + t) * 656 for t < n, and the
 * matching indexer keys when keys != NULL.
 */
int dec_fill_rows(uint8_t *rows, uint8_t *keys, uint32_t layer,
		  uint32_t batch, uint32_t cap, uint32_t n, cudaStream_t s);
/* The new token's row and key of every request: token pos[b] of request
 * b, written into stage[b] (656 B) and into keys[b * cap + pos[b]] (132 B),
 * and, when cache != NULL, into cache[b * cap + pos[b]] (the baseline's
 * HBM row). */
int dec_new_rows(uint8_t *stage, uint8_t *keys, uint8_t *cache,
		 uint32_t layer, const uint32_t *pos, uint32_t batch,
		 uint32_t cap, cudaStream_t s);

/* Deterministic queries for seed: indexer q [B][64][128] fp8, weights
 * [B][64], attention q [B][128][576] bf16. */
int dec_fill_q(uint8_t *qi, float *w, uint16_t *q, uint32_t batch, uint32_t seed, cudaStream_t s);

/* A busy kernel of ns nanoseconds on `blocks` blocks (the stand-in for the
 * model's work that does not touch the cache); ns 0 launches nothing. */
int dec_spin(uint64_t ns, uint32_t blocks, cudaStream_t s);

#endif /* ESS_DECODE_H */
