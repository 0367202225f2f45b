/* SPDX-License-Identifier: MIT */
/*
 * Host side: the launch configuration of a grid of thread-block clusters
 * along x (cl x 1 x 1 blocks a cluster), for cudaLaunchKernelEx and
 * cudaOccupancyMaxActiveClusters.  Used by the management launcher and
 * the decode benchmark's top-k.
 */
#ifndef ESS_CUDA_CLUSTER_CONFIG_H
#define ESS_CUDA_CLUSTER_CONFIG_H

#include <cuda_runtime.h>

/* blocks (a multiple of cl) of threads each, smem bytes of dynamic
 * shared memory, on stream st; *at holds the cluster attribute and must
 * live as long as the returned configuration is used. */
static inline cudaLaunchConfig_t ess_cluster_config(cudaLaunchAttribute *at, unsigned cl,
						    unsigned blocks, unsigned threads,
						    size_t smem, cudaStream_t st)
{
	cudaLaunchConfig_t cfg = {};
	at->id = cudaLaunchAttributeClusterDimension;
	at->val.clusterDim.x = cl;
	at->val.clusterDim.y = 1;
	at->val.clusterDim.z = 1;
	cfg.gridDim = dim3(blocks, 1, 1);
	cfg.blockDim = dim3(threads, 1, 1);
	cfg.dynamicSmemBytes = smem;
	cfg.stream = st;
	cfg.attrs = at;
	cfg.numAttrs = 1;
	return cfg;
}

#endif
