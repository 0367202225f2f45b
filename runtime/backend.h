/* SPDX-License-Identifier: MIT */
/*
 * The backend interface: what libess's core asks of the memory that holds
 * the hot buffer.  Two implementations:
 *
 *   cpu   runtime/backend_cpu.c, inside libess: the hot buffer is host
 *         memory, the hot-set rule runs on the host (ess_hotset_resolve per
 *         (request, layer)), misses are memcpy'd from the host pool.
 *   cuda  build/libess-cuda.so, built by nvcc from cuda/ and loaded with
 *         dlopen by runtime/backend.c (libess never links CUDA).  It exports
 *         one symbol, ESS_BACKEND_CUDA_SYMBOL, returning its ops table.
 *
 * Split of work.  The core (runtime/context.c, requests.c, ...) owns the
 * request table, the host pool and its per-(request, layer) extent tables,
 * and validates everything it can see on the host: layer, request ids,
 * batch shape, duplicates in the batch, NULL pointers, and, for warm-up,
 * the token lists.  The backend owns the hot buffer and the hot-set state
 * (token/key/freq per slot and the step counter t per (request, layer)),
 * and validates the top-k rows (they are backend memory: on the GPU the
 * host never sees them).  On the GPU everything of a resolve (top-k check,
 * hit detection, victim choice, fetch of misses over UVA, slot ids) runs in
 * kernels queued on the caller's stream, with no host round trip per layer;
 * the host only reads back errors and counters at sync.
 *
 * Host tables shared with the backend (owned by the core, host memory,
 * read-only for the backend; a GPU backend mirrors them on the device):
 *
 *   extent_off[(req * layers + layer) * max_extents + e]
 *       byte offset in the host pool of extent e of (req, layer): rows
 *       e*extent_tokens .. e*extent_tokens+extent_tokens-1, consecutive,
 *       entry_bytes each.  ESS_EXTENT_NONE where not allocated.
 *   ntokens[req * layers + layer]
 *       tokens held by (req, layer).
 *
 * Row address: pool_base + extent_off[..][tok / extent_tokens]
 *              + (tok % extent_tokens) * entry_bytes.
 * Within one (req, layer) the core allocates extents at ascending offsets
 * when it can, so sorted token ids give ascending host addresses.
 *
 * The core calls ops->map_changed() after it changes either table for a
 * (req, layer) (ingest, a new extent for an append, request add/remove),
 * before any later op that reads it; a GPU backend queues the upload on
 * its own stream ordered before its next kernels.  ops->append() moves a
 * (req, layer)'s token count by itself (the core bumps its host copy after
 * a successful call): the backend must not need a map_changed() for it.
 *
 * Errors: every op returns 0 or a negative errno and, on failure, writes a
 * message into be->err (be->errlen bytes, NUL-terminated).  Backends are
 * separate shared objects and must not call back into libess.
 *
 * Threading: one thread drives a context, so one thread drives its backend.
 */
#ifndef ESS_RUNTIME_BACKEND_H
#define ESS_RUNTIME_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "ess/ess.h"

/* Bumped on any incompatible change of this header (or of struct
 * ess_stats, which the backend writes): 2 added ess_stats.hot_used_bytes. */
#define ESS_BACKEND_ABI 2

/* Symbol of libess-cuda.so: const struct ess_backend_ops *fn(void). */
#define ESS_BACKEND_CUDA_SYMBOL "ess_backend_cuda_ops"
typedef const struct ess_backend_ops *(*ess_backend_get_fn)(void);

/* extent_off value of an extent not allocated. */
#define ESS_EXTENT_NONE UINT64_MAX

/* What a backend is built for; filled by the core, constant for its life. */
struct ess_backend_geom {
	uint32_t layers;
	uint32_t entry_bytes;
	uint32_t topk;		/* entries per top-k row */
	uint32_t slots;		/* slots per request per layer */
	uint32_t max_requests;
	uint32_t policy;	/* enum ess_policy_id (runtime/hotset.h) */
	uint32_t flags;		/* ESS_CFG_* */
	uint32_t extent_tokens;	/* rows per extent, a power of two */
	uint32_t max_extents;	/* extents per (req, layer) */
	uint32_t max_tokens;	/* tokens per (req, layer) at most */
	int32_t device;		/* CUDA device ordinal */
	int32_t numa_node;	/* node the host pool is placed on, -1 unknown */
};

struct ess_backend {
	const struct ess_backend_ops *ops;
	struct ess_backend_geom geom;

	/* host pool (host memory, mapped for the process's lifetime of the
	 * backend; a GPU backend registers it for UVA in init) */
	void *pool_base;
	uint64_t pool_bytes;

	/* core-owned host tables, see the top of this file */
	const uint64_t *extent_off;
	const uint32_t *ntokens;

	/* Counters the backend moves: resolves, lookups, hits, misses,
	 * evictions, appends, warmups, bytes_h2d, bytes_d2h, fetch_ns,
	 * data_checks, data_check_failures, layer_misses.  A host backend adds
	 * to them directly; a GPU backend keeps its own on the device and adds
	 * them here in stats_flush() (counters only grow).
	 * And one level, hot_used_bytes: entry_bytes times the slots that
	 * hold a row.  Every fill of a free slot (a miss, warm-up row or
	 * append that is not an eviction) adds entry_bytes; request_reset
	 * subtracts what the request's hot sets held.  A GPU backend adds
	 * its fills (fills minus evictions) in stats_flush(), and flushes
	 * before request_reset subtracts, so the level never goes below 0. */
	struct ess_stats *stats;

	/* Heat hook of the core: the CPU backend calls it with the host-pool
	 * offsets of every row a resolve touched (hits and misses, in order);
	 * NULL when heat is not reported.  A GPU backend instead hands its
	 * touched offsets over in heat_drain(). */
	void (*heat)(void *heat_arg, const uint64_t *pool_off, uint32_t n);
	void *heat_arg;

	char *err;		/* message of the last failure */
	size_t errlen;

	void *priv;		/* the implementation's state */
};

struct ess_backend_ops {
	uint32_t abi;		/* ESS_BACKEND_ABI */
	uint32_t size;		/* sizeof(struct ess_backend_ops) */
	const char *name;	/* "cpu", "cuda" */

	/*
	 * Before the host pool exists: check the device is usable and report
	 * the NUMA node the pool should be placed on (-1: no preference).
	 * -ENODEV when there is no such device.  Optional (NULL: -1).
	 */
	int (*probe)(int32_t device, int32_t *numa_node, char *err,
		     size_t errlen);

	/*
	 * Allocate the hot buffer (layers x max_requests x slots x
	 * entry_bytes) and the hot-set state, all slots empty and every t 0;
	 * register be->pool_base for device access.  be->geom, pool and
	 * tables are set when it is called.  fini undoes it (be->priv NULL
	 * after init failed is allowed).
	 */
	int (*init)(struct ess_backend *be);
	void (*fini)(struct ess_backend *be);

	/* Base of a layer's hot buffer in backend memory (slot s at
	 * base + s * entry_bytes). */
	void *(*hot_layer)(struct ess_backend *be, uint32_t layer);

	/* The core changed extent_off/ntokens of (req, layer). Optional. */
	int (*map_changed)(struct ess_backend *be, uint32_t req,
			   uint32_t layer);

	/* Empty every hot set of request req in every layer (t back to 0)
	 * and lower stats->hot_used_bytes by the rows they held (see
	 * struct ess_backend); called when a request id is added or
	 * removed.  Work queued before it is finished first. */
	int (*request_reset)(struct ess_backend *be, uint32_t req);

	/*
	 * Load tokens (host array, n entries, -1 ignored) of (req, layer)
	 * into the hot set as one resolve, fetching their rows.  The core has
	 * checked them: distinct, < ntokens, at most `slots` valid ones.
	 * Completes before returning.
	 */
	int (*warmup)(struct ess_backend *be, uint32_t req, uint32_t layer,
		      const int32_t *tokens, uint32_t n);

	/*
	 * Decode append of one layer: row i (backend memory, entry_bytes)
	 * becomes token pos[i] of (reqs[i], layer): written through to the
	 * host pool (its extent exists: the core made it and called
	 * map_changed) and inserted into the hot set at the current t
	 * (ess_hotset_insert semantics).  reqs and pos are host arrays the
	 * core checked (pos[i] == ntokens of (reqs[i], layer)); the backend
	 * copies what it needs before returning.  Queued on stream.
	 */
	int (*append)(struct ess_backend *be, uint32_t layer, uint32_t nreq,
		      const uint32_t *reqs, const uint32_t *pos,
		      const void *rows, void *stream);

	/*
	 * Resolve one layer (see ess_resolve()): topk and slots_out are
	 * backend memory, nreq rows of geom.topk entries.  reqs is a host
	 * array the core checked (valid, distinct, nreq <= max_requests).
	 * The backend checks the rows (token ids >= -1, < ntokens, distinct,
	 * at most `slots` valid); an invalid row changes nothing: a host
	 * backend fails the whole call with -EINVAL before touching any state;
	 * a GPU backend leaves that (req, layer) untouched, writes -1 to its
	 * row of slots_out and reports -EINVAL at the next sync.  Hot-set
	 * rule: include/ess/hotset.h; misses fetched in fetch-list order
	 * (ascending token, i.e. ascending host address).  Queued on stream.
	 */
	int (*resolve)(struct ess_backend *be, uint32_t layer, uint32_t nreq,
		       const uint32_t *reqs, const int32_t *topk,
		       int32_t *slots_out, void *stream);

	/* Wait for the work queued on stream; report deferred errors
	 * (the first one since the last sync) and fold device counters in. */
	int (*sync)(struct ess_backend *be, void *stream);

	/*
	 * Data-check support (and tests): copy the token ids held by the
	 * slots of (req, layer) (slots int32, -1 empty) and the rows of slots
	 * first .. first+n-1 of a layer's hot buffer into host memory.
	 * Completes before returning (it may sync).
	 */
	int (*read_tokens)(struct ess_backend *be, uint32_t req,
			   uint32_t layer, int32_t *tokens);
	int (*read_hot)(struct ess_backend *be, uint32_t layer,
			uint64_t first_slot, uint32_t n, void *dst);

	/* Add device-side counters not yet added to *be->stats.  Optional. */
	int (*stats_flush)(struct ess_backend *be);

	/* Move up to cap touched host-pool offsets (rows resolved since the
	 * last drain) into off; returns how many, or a negative errno.
	 * Optional: NULL for a backend that calls be->heat itself. */
	int (*heat_drain)(struct ess_backend *be, uint64_t *off, uint32_t cap);

	/*
	 * Backend memory for callers that have none of their own (tools,
	 * bindings): allocate, free, and copy between host and backend memory
	 * (to_backend != 0: host src -> backend dst), queued on stream and
	 * complete at the next sync.  Optional: NULL means backend memory is
	 * host memory, and libess uses malloc/free/memcpy.
	 */
	void *(*mem_alloc)(struct ess_backend *be, size_t bytes);
	void (*mem_free)(struct ess_backend *be, void *ptr);
	int (*mem_copy)(struct ess_backend *be, void *dst, const void *src,
			size_t bytes, int to_backend, void *stream);
};

/* The CPU backend (always available). */
const struct ess_backend_ops *ess_backend_cpu_ops(void);

/*
 * Load the CUDA backend: $ESS_CUDA_LIB, else libess-cuda.so in the
 * directory of the running executable and of its parent (build/bin ->
 * build), else the library search path.  -ENODEV with a message in err
 * when none loads, the symbol is missing or its ABI differs.  *handle
 * receives the dlopen handle for ess_backend_unload().
 */
int ess_backend_load_cuda(const struct ess_backend_ops **ops, void **handle,
			  char *err, size_t errlen);
void ess_backend_unload(void *handle);

#endif /* ESS_RUNTIME_BACKEND_H */
