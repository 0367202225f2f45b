/* SPDX-License-Identifier: MIT */
/*
 * Kernels of the CUDA data path and the parameter blocks they take, shared
 * by the kernel files (fetch.cu, manage.cu) and their launch code
 * (fetch_launch.cu, manage_launch.cu).
 */
#ifndef ESS_CUDA_KERNELS_CUH
#define ESS_CUDA_KERNELS_CUH

#include <stdint.h>

#include "ess_cuda.h"

/* One row copy launch: see struct ess_fetch_list. dir 0: host (off) ->
 * device (slot); dir 1: device (slot) -> host (off). */
struct ess_kcopy {
	const char *src;
	char *dst;
	const uint64_t *off;
	const int32_t *slot;
	const uint32_t *count;
	uint32_t nseg;
	uint32_t seg_cap;
	uint32_t row_bytes;
	int dir;
};

/* Vector width (bytes) x loads in flight per thread. */
__global__ void ess_k_copy16_u4(struct ess_kcopy p);
__global__ void ess_k_copy16_u8(struct ess_kcopy p);
__global__ void ess_k_copy16_u16(struct ess_kcopy p);
__global__ void ess_k_copy16_u4_h1(struct ess_kcopy p);
__global__ void ess_k_copy16_u8_h1(struct ess_kcopy p);
__global__ void ess_k_copy16_u16_h1(struct ess_kcopy p);
__global__ void ess_k_copy16_u4_h2(struct ess_kcopy p);
__global__ void ess_k_copy16_u8_h2(struct ess_kcopy p);
__global__ void ess_k_copy16_u16_h2(struct ess_kcopy p);
/* line-aligned (_a) and whole-line (_w) lane layouts, no hint */
__global__ void ess_k_copy16_u4_a(struct ess_kcopy p);
__global__ void ess_k_copy16_u8_a(struct ess_kcopy p);
__global__ void ess_k_copy16_u16_a(struct ess_kcopy p);
__global__ void ess_k_copy16_u4_w(struct ess_kcopy p);
__global__ void ess_k_copy16_u8_w(struct ess_kcopy p);
__global__ void ess_k_copy16_u16_w(struct ess_kcopy p);
__global__ void ess_k_copy4_u8(struct ess_kcopy p);
__global__ void ess_k_copy1_u8(struct ess_kcopy p);

/* Management: one block per batch row; blockDim ESS_MANAGE_THREADS,
 * dynamic shared memory ess_manage_smem(topk). */
#define ESS_MANAGE_THREADS 1024
__global__ void ess_k_manage(struct ess_manage_args a, uint32_t max_requests,
			     uint32_t hash_cap, uint32_t sort_cap);
/* The same on a cluster of 2..ESS_MANAGE_CLUSTER_MAX blocks per batch row
 * (cluster dimension set at launch), each holding sc slots. */
#define ESS_MANAGE_CLUSTER_MAX 4
__global__ void ess_k_manage_cluster(struct ess_manage_args a, uint32_t max_requests,
				     uint32_t hash_cap, uint32_t sort_cap, uint32_t sc);

/* LRU from the kept order (hs_order, hs_map): one block per batch row,
 * sort_cap >= topk and nsort >= slots powers of two, slots up to
 * ESS_ORDER_MAX_SLOTS, bw_cap >= map_cap / 32 words of missed-token
 * bitmap. */
__global__ void ess_k_manage_order(struct ess_manage_args a, uint32_t max_requests,
				   uint32_t sort_cap, uint32_t nsort, uint32_t bw_cap);

#endif /* ESS_CUDA_KERNELS_CUH */
