/* SPDX-License-Identifier: MIT */
/*
 * The decode model: memory per request, the largest batch each side can
 * hold, and the time of one decode step, layer by layer, for the baseline
 * (latent + indexer cache in HBM) and for ESS (indexer cache and hot
 * buffers in HBM, latent cache in host DRAM, misses fetched over PCIe).
 * Every formula and the assumption behind it is in
 * Documentation/dev/simulator.md.
 */
#ifndef ESS_SIM_MODEL_H
#define ESS_SIM_MODEL_H

#include "params.h"

enum sim_side { SIM_BASELINE = 0, SIM_ESS = 1 };

/* What stopped the batch from growing. */
enum sim_limit {
	SIM_LIMIT_HBM,
	SIM_LIMIT_HOST,
	SIM_LIMIT_CAP,
	SIM_LIMIT_SLO,
};

/* Seconds per decode step, summed over layers, per GPU. */
struct sim_step {
	double proj;		/* MLA + indexer projections, o_proj */
	double indexer;		/* scan of every cached indexer key */
	double topk;		/* top-k selection over the scores */
	double attn;		/* sparse attention over top-k rows */
	double ffn;		/* dense FFN and MoE experts */
	double a2a;		/* exposed all-to-all (dispatch + combine) */
	double head;		/* LM head */
	double mtp;		/* MTP draft layers */
	double overhead;	/* per-layer launch/sync */
	double manage;		/* ESS resolve kernels */
	double fetch;		/* ESS fetch, total transfer time */
	double fetch_exposed;	/* part of fetch not hidden */
	double contention;	/* compute lost to SMs running the fetch */
	double writeback;	/* ESS write-through of new rows, exposed */
	double fetch_bytes;	/* bytes fetched per step */
	double splits;		/* indexer chunks ESS used (last layer kind) */
	double total;
	double tokens;		/* tokens accepted per request and step */
};

struct sim_point {
	long batch;		/* requests per GPU */
	enum sim_limit limit;
	long mem_batch;		/* what memory alone allows */
	struct sim_step step;
	double tpot;		/* seconds per output token */
	double tok_s;		/* tokens/s per GPU */
};

/* Bytes of weights each GPU holds under the deployment. */
double sim_weights_per_gpu(const struct sim_params *p);
/* Cache layers: model layers plus the MTP layer when MTP is on. */
double sim_cache_layers(const struct sim_params *p);
/* Tokens a request reserves: context + output, rounded up to pages. */
double sim_request_tokens(const struct sim_params *p);
/* HBM bytes one request needs on the given side. */
double sim_hbm_per_request(const struct sim_params *p, enum sim_side side);
/* Host DRAM bytes one request needs (ESS; 0 for the baseline). */
double sim_host_per_request(const struct sim_params *p, enum sim_side side);
/* HBM left for caches on one GPU (may be negative). */
double sim_hbm_for_cache(const struct sim_params *p);
/* Largest batch memory allows, and which memory stopped it. */
long sim_mem_batch(const struct sim_params *p, enum sim_side side,
		   enum sim_limit *limit);
/* Time one GPU needs to fetch `rows` latent rows in one launch. */
double sim_fetch_time(const struct sim_params *p, double rows, int overlapped);
/* Time to write `rows` rows to host memory (D2H scatter) in one launch. */
double sim_writeback_time(const struct sim_params *p, double rows);
/* Resolve kernel for `requests` requests at this miss rate, one launch. */
double sim_manage_time(const struct sim_params *p, double requests, double miss);
/* Time to gather `rows` scattered rows from HBM (what a hit costs). */
double sim_gather_time(const struct sim_params *p, double rows);
/* A K x M weight GEMM over N tokens (FP8 weights if fp8, else BF16). */
double sim_gemm_time(const struct sim_params *p, double K, double M, double N,
		     int fp8);
/* A kernel streaming `bytes` from HBM. */
double sim_stream_time(const struct sim_params *p, double bytes);
/* One decode step at the given batch. */
void sim_step_time(const struct sim_params *p, enum sim_side side,
		   long batch, struct sim_step *st);
/* Batch (memory, caps, SLO), step and throughput of one side. */
void sim_evaluate(const struct sim_params *p, enum sim_side side,
		  struct sim_point *pt);
const char *sim_limit_name(enum sim_limit l);

#endif /* ESS_SIM_MODEL_H */
