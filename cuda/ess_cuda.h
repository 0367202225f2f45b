/* SPDX-License-Identifier: MIT */
/*
 * ESS CUDA data path: host-side entry points of the fetch and management
 * kernels (cuda/fetch*.cu, cuda/manage*.cu).  C-callable; used by the CUDA
 * backend, the GPU tests and the benchmark.  The kernels know nothing of
 * requests or contexts, only of arrays and indices.
 *
 * Stream arguments are cudaStream_t passed as void * so this header needs no
 * CUDA include.  Every function returns 0 or a negative errno (-EINVAL for a
 * bad argument, -EIO for a CUDA failure, whose text ess_cuda_last_error()
 * gives).
 */
#ifndef ESS_CUDA_H
#define ESS_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A fetch list, in device memory, split into segments (one per request for
 * the management kernel's output; a single segment for a flat list).
 * Entry i of segment g is at index g * seg_cap + i, for i < count[g]:
 *   off[e]    byte offset of the row in host memory (from host_base)
 *   slot[e]   row index in device memory (dev_base + slot * row_bytes)
 * The gather copies host -> device, the scatter device -> host.  Entries of
 * one segment should be sorted by off: adjacent rows then travel as one
 * stream of loads (the gather rate doubles, shared/reference.md section 4).
 */
struct ess_fetch_list {
	const uint64_t *off;
	const int32_t *slot;
	const uint32_t *count;	/* [nseg], device memory */
	uint32_t nseg;
	uint32_t seg_cap;
};

/* Copy-path tuning: 0 = defaults. */
struct ess_fetch_tune {
	uint32_t blocks;	/* grid size (0: 2 per SM) */
	uint32_t unroll;	/* 16-byte loads in flight per thread: 4, 8, 16 */
	uint32_t hint;		/* gather loads: 0 plain, 1 L2::256B, 2 nc+L2::256B */
	uint32_t layout;	/* ESS_FETCH_LAYOUT_* (16-byte path, no hint) */
};

/* How a warp's lanes map onto the rows' bytes (cuda/fetch.cu): */
enum {
	ESS_FETCH_LAYOUT_DEFAULT = 0,	/* line-aligned (flat with a hint) */
	ESS_FETCH_LAYOUT_FLAT = 1,	/* rows back to back in 16-B chunks */
	ESS_FETCH_LAYOUT_LINES = 2,	/* each host 128-B line in one instruction */
	ESS_FETCH_LAYOUT_WHOLE = 3,	/* as LINES; gathers read whole lines */
};

/* host_base must be pinned (cudaHostAlloc or cudaHostRegister'ed) and
 * device-accessible (UVA); dev_base device memory. */
int ess_cuda_gather(const void *host_base, void *dev_base, uint32_t row_bytes,
		    const struct ess_fetch_list *l,
		    const struct ess_fetch_tune *tune, void *stream);
int ess_cuda_scatter(void *host_base, const void *dev_base, uint32_t row_bytes,
		     const struct ess_fetch_list *l,
		     const struct ess_fetch_tune *tune, void *stream);

/*
 * Copy-engine path (no SMs): the list is in HOST memory (n entries, sorted
 * by off); runs of entries adjacent on both sides (off and slot consecutive)
 * become one copy, the runs are issued as one cudaMemcpyBatchAsync.
 * *ncopies (optional) receives the number of copies issued.  dir: 0 = host
 * -> device (gather), 1 = device -> host (scatter).
 */
int ess_cuda_copy_ce(void *host_base, void *dev_base, uint32_t row_bytes,
		     const uint64_t *off, const int32_t *slot, uint32_t n,
		     int dir, uint32_t *ncopies, void *stream);

/*
 * Hot-set management of one layer for a batch of requests (the rule of
 * include/ess/hotset.h), then the gather of the misses, all queued on
 * stream: no host round trip, fixed shapes, capturable in a CUDA graph.
 * Every pointer but host_base is device memory.
 */
struct ess_manage_args {
	/* hot-set state of this layer, [max_requests * slots] per array,
	 * and t per request [max_requests] */
	int32_t *hs_token;
	uint64_t *hs_key;
	uint32_t *hs_freq;
	uint32_t *hs_t;
	/* token -> slot map of this layer, [max_requests * map_cap]: entry
	 * (req, tok) is the request's slot holding tok, ESS_MAP_NONE if none
	 * does.  Optional (NULL: the kernels find hits by hashing the row
	 * against every slot); when given, every kernel keeps it equal to
	 * hs_token, and the cluster kernel looks hits up in it instead of
	 * hashing.  Needs slots < ESS_MAP_NONE and tokens held <= map_cap. */
	uint16_t *hs_map;
	uint32_t map_cap;
	/* LRU order of this layer (optional; needs hs_map; see
	 * ess_cuda_manage_kernel for when it is used):
	 * hs_order [max_requests * slots]: each request's slots in ascending
	 * (key, slot) order, the order victims are taken in;
	 * hs_order_tail [max_requests * 2]: {t, n}: the last n entries of the
	 * order hold key t and every other entry a lower key; n ==
	 * ESS_ORDER_STALE: the order is not known (set it so after a request
	 * reset or anything else that changes hs_key), and the next resolve
	 * builds it from hs_key.  A launch by another kernel marks every
	 * request's order stale. */
	uint16_t *hs_order;
	uint32_t *hs_order_tail;
	uint32_t slots;
	uint32_t topk;		/* entries per top-k row */
	uint32_t policy;	/* enum ess_policy_id */
	uint32_t nreq;		/* rows in this batch */
	const uint32_t *reqs;	/* [nreq] request ids */
	const int32_t *topk_rows; /* [nreq * topk] */
	int32_t *slots_out;	/* [nreq * topk] layer-global slot ids */
	/* host pool map (see runtime/backend.h) */
	const uint64_t *extent_off; /* [(req * layers + layer) * max_extents + e] */
	const uint32_t *ntokens;    /* [req * layers + layer] */
	uint32_t layers, layer, max_extents;
	uint32_t extent_shift;	/* log2(extent_tokens) */
	uint32_t entry_bytes;
	/* outputs: the fetch list, per batch row b at b * topk, sorted by token */
	uint64_t *miss_off;
	int32_t *miss_slot;	/* layer-global slot */
	int32_t *miss_token;
	uint32_t *nmiss;	/* [nreq] */
	uint64_t *counters;	/* [ESS_CUDA_NCOUNTERS], added to */
	int32_t *err;		/* [2]: first error code (ESS_CUDA_E*), its request */
	/* fetch: host pool and this layer's hot buffer (slot ids are rows) */
	const void *host_base;
	void *hot_base;
	int do_fetch;		/* 0: management only */
	uint32_t flags;		/* ESS_MANAGE_* */
	struct ess_fetch_tune tune;
};

#define ESS_MAP_NONE 0xffffu	/* hs_map entry of a token no slot holds */
#define ESS_ORDER_STALE 0xffffffffu /* hs_order_tail n: build the order */
#define ESS_ORDER_MAX_SLOTS 8192u /* largest hot set the order kernel takes */

/* ess_manage_args.flags */
#define ESS_MANAGE_NO_TICK 1u	/* keep t (decode append: a fill at the current t) */
#define ESS_MANAGE_RADIX_ONLY 2u /* LRU too: victims by radix select only
				  * (tests and measurements) */
/* Blocks per request (default: a cluster of 4 blocks while 4 x batch fits
 * the SMs, else of 2 while 2 x batch does, else one block; see
 * ess_cuda_manage_cluster).  Forcing a cluster size is for tests and
 * measurements: more clusters than fit at once run in waves. */
#define ESS_MANAGE_ONE_BLOCK 4u	/* one block per request */
#define ESS_MANAGE_CLUSTER2 8u	/* a cluster of 2 blocks per request */
#define ESS_MANAGE_CLUSTER4 16u	/* a cluster of 4 blocks per request */
#define ESS_MANAGE_HIST_MATCH 32u /* cluster kernel, LRU histogram: one shared
				   * atomic per bucket and warp (match_any)
				   * instead of per slot (measurements) */
#define ESS_MANAGE_FILL_OWN 64u	/* cluster kernel, counted victim places:
				 * each block fills its own victims
				 * (measurements; slower) */

enum {
	ESS_CUDA_C_RESOLVES = 0,
	ESS_CUDA_C_LOOKUPS,
	ESS_CUDA_C_HITS,
	ESS_CUDA_C_MISSES,
	ESS_CUDA_C_EVICTIONS,
	ESS_CUDA_C_BYTES_H2D,
	ESS_CUDA_NCOUNTERS
};

/* Error codes of the device error word. */
enum {
	ESS_CUDA_EOK = 0,
	ESS_CUDA_ERANGE = 1,	/* token < -1 or >= tokens held */
	ESS_CUDA_EDUP = 2,	/* token twice in a row */
	ESS_CUDA_ETOOMANY = 3,	/* more valid tokens than slots */
	ESS_CUDA_ENOEXTENT = 4,	/* token's host extent not allocated */
	ESS_CUDA_EREQ = 5,	/* request id out of range */
};
const char *ess_cuda_err_name(int code);

/* max_requests bounds reqs[] (checked on the device, ESS_CUDA_EREQ). */
int ess_cuda_manage(const struct ess_manage_args *a, uint32_t max_requests,
		    void *stream);
/* Blocks per request that ess_cuda_manage would launch for these
 * arguments (1, 2 or 4), or -EINVAL. */
int ess_cuda_manage_cluster(const struct ess_manage_args *a);

/*
 * Which kernel ess_cuda_manage would launch (or -EINVAL):
 *  ESS_MANAGE_KERNEL_ORDER    one block per request, victims from the
 *                             kept LRU order (cuda/manage_order.cu): with
 *                             hs_order and hs_map, policy LRU, top-k up to
 *                             2048, slots up to ESS_ORDER_MAX_SLOTS, and
 *                             none of the flags that force another kernel
 *                             (ONE_BLOCK, CLUSTER2/4, RADIX_ONLY,
 *                             HIST_MATCH, FILL_OWN);
 *  ESS_MANAGE_KERNEL_CLUSTER  a cluster of blocks (ess_cuda_manage_cluster);
 *  ESS_MANAGE_KERNEL_BLOCK    the one-block kernel.
 */
enum {
	ESS_MANAGE_KERNEL_BLOCK = 1,
	ESS_MANAGE_KERNEL_CLUSTER = 2,
	ESS_MANAGE_KERNEL_ORDER = 3,
};
int ess_cuda_manage_kernel(const struct ess_manage_args *a);

/* Text of the last CUDA failure in this thread. */
const char *ess_cuda_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* ESS_CUDA_H */
