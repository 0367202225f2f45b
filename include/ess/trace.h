/* SPDX-License-Identifier: MIT */
/*
 * Top-k traces: what an engine's indexer selected, per decode step, layer
 * and request, with the sequence length at that step.  The binary format is
 * described field by field in Documentation/dev/trace-format.md.
 *
 * This header gives
 *  - the in-memory trace and its file reader/writer (runtime/trace.c),
 *  - a streaming writer an engine uses to record as it decodes,
 *  - the synthetic DSA trace generator (runtime/trace_gen.c),
 *  - replay of a trace through the hot-set policies (runtime/trace_sim.c)
 *    and the Belady lower bound (runtime/opt.c).
 *
 * All functions return 0 or a negative errno: -EINVAL bad argument or
 * impossible content, -EBADMSG a file that is not a valid trace (magic,
 * version, checksum, counts), -EIO a read/write failure or a truncated
 * file, -ENOMEM.  Where an `err` buffer is given, a message naming the
 * file and byte offset is written there (NUL-terminated, errlen bytes).
 */
#ifndef ESS_TRACE_H
#define ESS_TRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ESS_TRACE_MAGIC		"ESSTRACE"	/* 8 bytes, no NUL */
#define ESS_TRACE_VERSION	1u
#define ESS_TRACE_HEADER_BYTES	64u
#define ESS_TRACE_BLOCK_MAGIC	0x314b4c42u	/* "BLK1" little-endian */
#define ESS_TRACE_BLOCK_HEAD	16u		/* magic, step, layer, reserved */

/* ess_trace_info.flags */
#define ESS_TRACE_F_SYNTHETIC	(1u << 0)	/* made by the generator */
#define ESS_TRACE_F_KNOWN	ESS_TRACE_F_SYNTHETIC

/* Limits a reader accepts (a header beyond them is refused). */
#define ESS_TRACE_MAX_LAYERS	1024u
#define ESS_TRACE_MAX_TOPK	(1u << 20)
#define ESS_TRACE_MAX_REQUESTS	(1u << 20)
#define ESS_TRACE_MAX_BYTES	(1ull << 40)

struct ess_trace_info {
	uint32_t layers;	/* layers recorded per step */
	uint32_t topk;		/* entries per top-k row */
	uint32_t requests;	/* request columns (a request keeps its column) */
	uint32_t steps;		/* decode steps */
	uint32_t flags;		/* ESS_TRACE_F_* */
	uint64_t seed;		/* generator seed (synthetic), else 0 */
};

/*
 * A whole trace in memory.  Row (step, layer, req) is at
 *   r = ((size_t)step * layers + layer) * requests + req
 * seq_len[r] tokens are held by the request at that step (the step's new
 * token included); 0 means the request is not active at that step (and its
 * row is all -1).  tokens[r * topk ...] is the top-k, -1 = unused entry.
 * prefill[req] is the length before the request's first active step: the
 * tokens prefill .. seq_len-1 of that step are appended by decode.
 */
struct ess_trace {
	struct ess_trace_info info;
	uint32_t *prefill;	/* [requests] */
	uint32_t *seq_len;	/* [steps * layers * requests] */
	int32_t *tokens;	/* [steps * layers * requests * topk] */
};

static inline size_t ess_trace_row(const struct ess_trace *tr, uint32_t step,
				   uint32_t layer, uint32_t req)
{
	return ((size_t)step * tr->info.layers + layer) * tr->info.requests + req;
}

/* Allocate a trace of this shape: seq_len 0, prefill 0, tokens -1. */
int ess_trace_alloc(struct ess_trace *tr, const struct ess_trace_info *info);
void ess_trace_free(struct ess_trace *tr);

/* Check the content: token range (< seq_len), repeats within a row,
 * inactive rows empty, lengths never shrinking, prefill <= first length. */
int ess_trace_validate(const struct ess_trace *tr, char *err, size_t errlen);

/* Whole-file write (validates first) and read (validates everything). */
int ess_trace_save(const struct ess_trace *tr, const char *path,
		   char *err, size_t errlen);
int ess_trace_load(struct ess_trace *tr, const char *path,
		   char *err, size_t errlen);

/*
 * Streaming writer, for recording from an engine: open with the shape
 * (steps is ignored; it is counted), then one block per (step, layer) in
 * order step 0 layer 0, step 0 layer 1, ...; close writes the final header.
 * Each block is validated against the previous one before it is written.
 */
struct ess_trace_writer;
int ess_trace_writer_open(struct ess_trace_writer **w, const char *path,
			  const struct ess_trace_info *info,
			  const uint32_t *prefill, char *err, size_t errlen);
/* seq_len: [requests]; tokens: [requests * topk]. */
int ess_trace_writer_block(struct ess_trace_writer *w, uint32_t step,
			   uint32_t layer, const uint32_t *seq_len,
			   const int32_t *tokens);
const char *ess_trace_writer_errmsg(const struct ess_trace_writer *w);
/* Finish (or, with abort != 0, drop) the file; frees w.  A writer that
 * failed earlier returns its error again here. */
int ess_trace_writer_close(struct ess_trace_writer *w, int abort);

/* The CRC32C (Castagnoli, reflected, init and final xor 0xffffffff, the
 * iSCSI/ext4 checksum; "123456789" -> 0xe3069283) the format uses. */
uint32_t ess_crc32c(const void *buf, size_t len);

/*
 * Synthetic DSA traces.  Per (request, layer) the top-k evolves step by
 * step: `overlap` of the previous step's entries stay, the rest are new,
 * drawn from a mixture (recently dropped tokens, heavy hitters, the recent
 * window, anywhere).  Layer l > 0 takes `layer_sim` of its entries from
 * layer l-1's selection at the same step.  See Documentation/dev/policies.md.
 */
struct ess_trace_gen {
	uint32_t layers;	/* default 4 */
	uint32_t topk;		/* default 2048 */
	uint32_t requests;	/* default 2 */
	uint32_t steps;		/* default 256 */
	uint32_t prefill;	/* context length before decode, default 32768 */
	uint32_t growth;	/* tokens appended per step, default 1 */
	double overlap;		/* kept from the previous step, default 0.95 */
	double layer_sim;	/* taken from the previous layer, default 0.5 */
	double reuse_share;	/* new entries that were dropped lately, 0.3 */
	uint32_t reuse_window;	/* "lately": steps, default 64 */
	double heavy_share;	/* new entries that are heavy hitters, 0.2 */
	uint32_t heavy_tokens;	/* heavy hitters per request (the first 4
				 * tokens and random others), default 256 */
	double recent_share;	/* new entries from the recent window, 0.2 */
	uint32_t recent_window;	/* newest tokens, default 1024 */
	uint64_t seed;		/* default 1 */
};

void ess_trace_gen_default(struct ess_trace_gen *g);
/* Check the knobs; a message names the bad one. */
int ess_trace_gen_check(const struct ess_trace_gen *g, char *err, size_t errlen);
/* Generate a trace (deterministic for the knobs and seed). */
int ess_trace_generate(const struct ess_trace_gen *g, struct ess_trace *tr,
		       char *err, size_t errlen);

/* What a trace looks like (ess-trace info). */
struct ess_trace_summary {
	uint64_t rows;		/* active (step, layer, request) rows */
	uint64_t entries;	/* valid top-k entries */
	double step_overlap;	/* |S(t) & S(t-1)| / |S(t-1)|, mean over rows */
	double layer_sim;	/* |S(l) & S(l-1)| / |S(l-1)|, same step */
	double recent_share;	/* entries new at a step within the newest
				 * `recent_window` tokens, over entries new */
	double distinct_per_stream; /* distinct tokens per (request, layer) */
	uint32_t min_len, max_len;
};
int ess_trace_summarize(const struct ess_trace *tr, uint32_t recent_window,
			struct ess_trace_summary *s);

/*
 * Replay.  Each (request, layer) is one hot set of `slots` slots, driven as
 * the runtime drives it: at each active step, first the tokens appended
 * since the last step are inserted (ess_hotset_insert: decode
 * write-through, not a miss), then the top-k row is resolved.  The first
 * active step of a stream is the warm-up (the prefill's top-k loads the hot
 * set, as the paper does): its loads are counted in `warmup`, not as misses.
 * Requires slots >= the trace's top-k.
 */
struct ess_replay_result {
	uint64_t lookups;	/* valid entries resolved after the warm-up */
	uint64_t misses;
	uint64_t warmup;	/* rows loaded by warm-up steps */
	uint64_t evictions;
	uint64_t appends;
};
int ess_trace_replay(const struct ess_trace *tr, uint32_t slots,
		     uint32_t policy, struct ess_replay_result *res);

/*
 * Belady's optimum under the same constraints: the fewest misses any
 * replacement could have, where every step's whole top-k must be resident
 * after the step, appended tokens must be placed when appended (they may
 * evict), and the warm-up is counted the same way.  At each eviction it
 * drops the held token (not in the current row) whose next use is
 * farthest, which is optimal here.
 */
int ess_trace_opt(const struct ess_trace *tr, uint32_t slots,
		  struct ess_replay_result *res);

#ifdef __cplusplus
}
#endif
#endif /* ESS_TRACE_H */
