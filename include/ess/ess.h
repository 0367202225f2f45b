/* SPDX-License-Identifier: MIT */
/*
 * libess: latent-cache tiering for sparse-attention decoding.
 *
 * A context owns a host pool (the authoritative copy of every request's
 * latent rows, one row of entry_bytes per token per layer) and a hot buffer
 * (per layer: max_requests x slots rows in backend memory, i.e. GPU memory
 * for the CUDA backend and host memory for the CPU backend).  Each decode
 * step, per layer, the engine hands over the top-k token ids of every
 * request in the batch; libess turns them into hot-buffer slot ids that the
 * sparse attention kernel reads, fetching the rows that miss.
 *
 * Conventions
 * - Every call returns 0 or a negative errno value (-EINVAL bad argument,
 *   -ENOENT unknown request or name, -ENOSPC pool full, -ENOMEM, -EIO data
 *   check failed, -ENODEV backend not available, -EBUSY named region held
 *   by another process, ...).  ess_errmsg() gives
 *   the message of the last failure in the context, ess_strerror() a short
 *   text for a code.
 * - "backend memory" means device memory for ESS_BACKEND_CUDA and ordinary
 *   host memory for ESS_BACKEND_CPU.  Arguments marked so must live there.
 * - A context is not thread-safe: one thread drives it (the engine's
 *   scheduler thread), as one CUDA stream order drives the GPU.
 */
#ifndef ESS_ESS_H
#define ESS_ESS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ESS_VERSION_MAJOR 0
#define ESS_VERSION_MINOR 2

/* Largest layer count a context accepts (per-layer counters are sized so). */
#define ESS_MAX_LAYERS 256

/* Longest sequence (tokens per request per layer) a context accepts. */
#define ESS_MAX_TOKENS (1u << 26)

/* DeepSeek-V3.2-Exp geometry, the defaults of ess_config_default(). */
#define ESS_DEFAULT_LAYERS      61
#define ESS_DEFAULT_ENTRY_BYTES 656
#define ESS_DEFAULT_TOPK        2048
#define ESS_DEFAULT_SLOTS       6144
/* Other defaults of ess_config_default(). */
#define ESS_DEFAULT_MAX_REQUESTS  32
#define ESS_DEFAULT_MAX_TOKENS    131072	/* 128K context */
#define ESS_DEFAULT_POOL_BYTES    (1ULL << 30)
#define ESS_DEFAULT_EXTENT_TOKENS 256
#define ESS_DEFAULT_HEAT_SHIFT    16	/* 64 KiB heat blocks */

enum ess_backend_kind {
	ESS_BACKEND_CPU = 0,	/* hot buffer in host memory, copies by memcpy */
	ESS_BACKEND_CUDA = 1,	/* hot buffer in GPU memory, UVA fetch kernels */
};

enum ess_pool_kind {
	ESS_POOL_AUTO = 0,	/* /dev/ess when present, else the fallback */
	ESS_POOL_MODULE = 1,	/* /dev/ess region, fail if the module is absent */
	ESS_POOL_FALLBACK = 2,	/* hugetlb memfd, else THP-advised locked memory */
};

/* ess_config.flags */
#define ESS_CFG_DATA_CHECK  (1u << 0) /* compare every resolved slot with host */
#define ESS_CFG_NO_HEAT     (1u << 1) /* do not report heat to /dev/ess */
#define ESS_CFG_POOL_LOCKED (1u << 2) /* fail if the fallback pool cannot be
				       * locked (default: go on unlocked and
				       * say so in ess_stats.pool_unlocked) */
#define ESS_CFG_NO_STAT     (1u << 3) /* publish no statistics segment
				       * (include/ess/stat.h): ess-stat does
				       * not see the context; ess_stats_get()
				       * works as always */
#define ESS_CFG_FETCH_CE    (1u << 4) /* CUDA backend: a resolve's misses are
				       * copied by the copy engine (no SMs)
				       * instead of SM loads; the miss list
				       * comes to the host first, so each
				       * resolve waits for its management
				       * kernel and cannot be captured in a
				       * CUDA graph.  The CPU backend ignores
				       * it. */
#define ESS_CFG_FLAGS (ESS_CFG_DATA_CHECK | ESS_CFG_NO_HEAT | \
		       ESS_CFG_POOL_LOCKED | ESS_CFG_NO_STAT | ESS_CFG_FETCH_CE)

struct ess_config {
	uint32_t size;		/* sizeof(struct ess_config) */
	uint32_t flags;		/* ESS_CFG_* */
	/* model geometry */
	uint32_t layers;	/* transformer layers holding a latent cache */
	uint32_t entry_bytes;	/* bytes of one token's row in one layer */
	uint32_t topk;		/* tokens selected per request per layer */
	/* hot buffer */
	uint32_t slots;		/* slots per request per layer, >= topk */
	uint32_t max_requests;	/* requests resident at once */
	uint32_t max_tokens;	/* tokens per request per layer at most */
	const char *policy;	/* replacement policy by name, NULL = "lru" */
	/* host pool */
	uint64_t pool_bytes;	/* host pool size in bytes */
	uint32_t extent_tokens;	/* tokens per host extent (power of two) */
	uint32_t heat_shift;	/* log2 heat block bytes for /dev/ess, 12..21 */
	int32_t numa_node;	/* -1: the GPU's node (CUDA) or the caller's */
	uint32_t pool;		/* enum ess_pool_kind */
	const char *region_name; /* module pool: attach this named region if it
				  * exists, else create it (warm restart: the
				  * requests and rows it holds survive the
				  * process); NULL = anonymous region.  Needs
				  * the module (-ENODEV under AUTO without it)
				  * and the same geometry on attach. */
	/* backend */
	uint32_t backend;	/* enum ess_backend_kind */
	int32_t device;		/* CUDA device ordinal */
};

/* Fill cfg with DeepSeek-V3.2-Exp defaults, a CPU backend, LRU, AUTO pool. */
void ess_config_default(struct ess_config *cfg);

typedef struct ess_ctx ess_ctx;

/* Create a context.  On failure *out is NULL and, when errmsg is not NULL,
 * a message is copied there (errmsg_len bytes at most, NUL-terminated). */
int ess_create(const struct ess_config *cfg, ess_ctx **out,
	       char *errmsg, size_t errmsg_len);
/* Flush pending heat reports, free everything; a named region stays. */
void ess_destroy(ess_ctx *ctx);

/* Remove a named /dev/ess region (ESS_IOC_DESTROY): its memory goes when
 * its last user does.  -ENODEV without the module, -ENOENT unknown name. */
int ess_region_destroy(const char *name);

/* Which host pool the context got: "module", "hugetlb" or "thp". */
const char *ess_pool_provider(const ess_ctx *ctx);

const char *ess_errmsg(const ess_ctx *ctx);
const char *ess_strerror(int err);

/* The configuration in force (defaults filled in). */
const struct ess_config *ess_get_config(const ess_ctx *ctx);

/* Names of the replacement policies, NULL-terminated. */
const char *const *ess_policy_names(void);

/*
 * Requests.  A request id is its row in the hot buffer, 0..max_requests-1,
 * so the slot ids of request r in a layer are r*slots .. r*slots+slots-1.
 * The tag is the engine's own id, kept for statistics and lookup (and, in
 * a named region, across a restart).  add: lowest free id, -EEXIST for a
 * live tag, -ENOSPC when all ids are in use.  remove: frees the request's
 * extents and empties its hot sets (ess_stats.hot_used_bytes falls by the
 * rows they held); -ENOENT if not in use.
 */
int ess_request_add(ess_ctx *ctx, uint64_t tag, uint32_t *req);
int ess_request_remove(ess_ctx *ctx, uint32_t req);
int ess_request_find(const ess_ctx *ctx, uint64_t tag, uint32_t *req);
/* Tokens held by the request in a layer (ingested or appended). */
int ess_request_tokens(const ess_ctx *ctx, uint32_t req, uint32_t layer,
		       uint32_t *ntokens);

/*
 * Prefill ingest: copy ntokens rows (host memory, ntokens * entry_bytes)
 * into the host pool at tokens first_token .. first_token+ntokens-1 of the
 * layer.  Rows arrive in order: first_token must equal the tokens held
 * (chunked prefill calls it repeatedly), so a held row, which the hot
 * buffer may cache, is never rewritten behind its back.
 */
int ess_ingest(ess_ctx *ctx, uint32_t req, uint32_t layer,
	       uint32_t first_token, uint32_t ntokens, const void *rows);

/*
 * Warm-up: load these tokens of the layer into the request's hot buffer
 * (the prefill's last top-k), as if they had been resolved once.  Host
 * array of n <= slots entries; -1 entries are ignored; the others distinct
 * and < the tokens held.  Completes before returning.
 */
int ess_warmup(ess_ctx *ctx, uint32_t req, uint32_t layer,
	       const int32_t *tokens, uint32_t n);

/*
 * Append one new token's row per request in a layer (decode step).  rows is
 * backend memory, nreq * entry_bytes; row i goes to token ess_request_tokens()
 * of reqs[i], in the host pool (write-through) and in the hot buffer (it is
 * written into a slot chosen by the policy, as a fill).  reqs is a host array.
 * Queued on `stream` (cudaStream_t for CUDA, NULL for the default; ignored by
 * the CPU backend, which completes it before returning).
 */
int ess_append(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
	       const uint32_t *reqs, const void *rows, void *stream);

/*
 * Resolve one layer of one step.  topk is backend memory, nreq rows of
 * `topk` int32 token ids each (-1 = unused entry, anywhere in the row);
 * slots_out is backend memory of the same shape and receives, for every
 * entry, the layer-global slot id holding that token (req*slots + slot) or
 * -1 where the entry was -1.  Misses are fetched from the host pool before
 * the work queued on `stream` after this call can read the hot buffer.
 *
 * Invalid input (a token id >= the tokens held, a token twice in one row,
 * an unknown request, a request twice in the batch) fails the call with
 * -EINVAL and changes nothing; for the CUDA backend, where the top-k is on
 * the device, the error surfaces at the next ess_sync() and the affected
 * rows of slots_out are -1.
 */
int ess_resolve(ess_ctx *ctx, uint32_t layer, uint32_t nreq,
		const uint32_t *reqs, const int32_t *topk, int32_t *slots_out,
		void *stream);

/* Wait for everything queued on `stream`; reports deferred errors. */
int ess_sync(ess_ctx *ctx, void *stream);

/* Base of a layer's hot buffer in backend memory: max_requests * slots
 * rows of entry_bytes, slot id s at base + s * entry_bytes. */
void *ess_hot_layer(ess_ctx *ctx, uint32_t layer);

/* Host-pool address of a row (host memory), or NULL if not held (or its
 * extent is demoted to the NVMe tier, include/ess/nvme.h). */
const void *ess_host_row(const ess_ctx *ctx, uint32_t req, uint32_t layer,
			 uint32_t token);

/*
 * Backend memory for callers without their own allocator (tools, bindings,
 * tests): device memory for CUDA, host memory for CPU.  ess_mem_alloc
 * returns NULL on failure (message in ess_errmsg).  The copies are queued
 * on stream and complete by the next ess_sync() of that stream.
 */
void *ess_mem_alloc(ess_ctx *ctx, size_t bytes);
void ess_mem_free(ess_ctx *ctx, void *ptr);
int ess_mem_to_backend(ess_ctx *ctx, void *dst, const void *src,
		       size_t bytes, void *stream);
int ess_mem_to_host(ess_ctx *ctx, void *dst, const void *src,
		    size_t bytes, void *stream);

/* Counters: they only grow, from context creation.  The fields marked
 * "level" are states now instead. */
struct ess_stats {
	uint64_t resolves;	/* (request, layer) top-k lists resolved */
	uint64_t lookups;	/* valid top-k entries resolved */
	uint64_t hits;
	uint64_t misses;
	uint64_t evictions;	/* fills (miss, warm-up, append) that replaced a row */
	uint64_t appends;	/* rows appended */
	uint64_t ingested;	/* rows ingested from prefill */
	uint64_t warmups;	/* rows loaded by warm-up */
	uint64_t bytes_h2d;	/* host pool -> hot buffer */
	uint64_t bytes_d2h;	/* hot buffer / device rows -> host pool */
	uint64_t fetch_ns;	/* time spent fetching: CPU wall time of the
				 * copies; CUDA: GPU time of each resolve's
				 * and warm-up's management and fetch
				 * kernels (CUDA events) */
	uint64_t data_checks;	/* slots compared in data-check mode */
	uint64_t data_check_failures;
	uint64_t requests_added;
	uint64_t requests_removed;
	uint64_t pool_bytes;	/* host pool size (a level, not a counter) */
	uint64_t pool_used_bytes; /* level: extents in use */
	uint64_t heat_reports;	/* heat block accesses reported to /dev/ess */
	uint64_t heat_report_errors; /* batches the module refused (dropped) */
	uint64_t pool_unlocked;	/* level: 1 if the pool could not be locked */
	uint64_t hot_used_bytes; /* level: hot-buffer slots holding a row x
				  * entry_bytes, over every layer and request;
				  * misses, warm-ups and appends that fill a
				  * free slot raise it, a request's removal
				  * lowers it by what it held */
	uint64_t layer_misses[ESS_MAX_LAYERS];
};
int ess_stats_get(const ess_ctx *ctx, struct ess_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* ESS_ESS_H */
