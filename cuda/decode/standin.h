/* SPDX-License-Identifier: MIT */
/*
 * The stand-in for the parts of a decode layer that do not touch the
 * cache (projections, FFN/MoE, all-to-all, small kernels), taken from the
 * decode simulator's model (sim/model.c) at the same batch, so that the
 * benchmark and ess-sim charge the same time for them.
 */
#ifndef ESS_DECODE_STANDIN_H
#define ESS_DECODE_STANDIN_H

#ifdef __cplusplus
extern "C" {
#endif
#include "params.h"
#ifdef __cplusplus
}
#endif

struct dec_standin {
	double pre_s;	/* per layer, before the indexer: q_a/kv_a, indexer q, k */
	double mid_s;	/* per layer, after top-k, before attention: q_b, W_UK */
	double post_s;	/* per layer, after attention: W_UV, o_proj, FFN/MoE,
			 * exposed all-to-all, per-layer overhead */
	double head_s;	/* per step: the LM head (added, not run) */
	double layers;	/* the model's layers */
};

/* p must have deploy.mtp_depth 0 (one query token per request). */
void dec_standin_get(const struct sim_params *p, long batch, struct dec_standin *o);

#endif /* ESS_DECODE_STANDIN_H */
