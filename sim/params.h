/* SPDX-License-Identifier: MIT */
/*
 * Every input of the decode simulator, in SI base units (bytes, bytes/s,
 * FLOP/s, seconds, tokens).  The profile parser (sim/profile.c) fills this
 * struct from key = value files; the model (sim/model.c) only reads it.
 * Documentation/dev/simulator.md describes each field and its default.
 */
#ifndef ESS_SIM_PARAMS_H
#define ESS_SIM_PARAMS_H

#define SIM_NAME_MAX 32

struct sim_hw {
	double hbm_bytes;		/* HBM per GPU */
	double hbm_usable;		/* fraction the engine may allocate */
	double hbm_bw;			/* HBM bandwidth, nominal */
	double hbm_eff;			/* fraction of hbm_bw streaming kernels reach */
	double fp8_rate;		/* dense FP8 tensor rate, FLOP/s */
	double bf16_rate;		/* dense BF16 tensor rate, FLOP/s */
	double gemm_eff;		/* fraction of FP8 peak reached by GEMMs */
	double gemm_eff_bf16;		/* fraction of BF16 peak reached by GEMMs */
	double gemm_bw_eff;		/* fraction of hbm_bw GEMMs stream weights at */
	double gemm_sharpness;		/* p of the smooth roofline (m^p + c^p)^(1/p) */
	double kernel_floor;		/* fixed time of every kernel */
	double attn_eff;		/* fraction of peak reached by sparse MLA */
	double attn_fixed;		/* sparse MLA: split combine and tail wave */
	double index_eff;		/* fraction of hbm_bw of the indexer and top-k */
	double gather_bw;		/* gather of scattered 656-B rows from HBM */
	double pcie_h2d;		/* sorted UVA gather, GPU idle */
	double pcie_h2d_overlap;	/* same while compute kernels run */
	double pcie_d2h;		/* sorted UVA scatter */
	double fetch_latency;		/* fixed cost of one fetch launch */
	double writeback_latency;	/* fixed cost of one write-back launch */
	double sms;			/* streaming multiprocessors */
	double host_dram_bytes;		/* host DRAM per node */
	double host_dram_usable;	/* fraction usable for the latent pool */
	double gpus_per_node;
	double a2a_intra_bw;		/* all-to-all, per GPU, inside a node */
	double a2a_inter_bw;		/* all-to-all, per GPU, across nodes */
	double a2a_latency;		/* fixed cost of one dispatch or combine */
	double layer_overhead;		/* launch/sync cost per layer and step */
};

struct sim_model {
	double layers;
	double dense_layers;
	double hidden;
	double heads;
	double q_lora_rank;
	double kv_lora_rank;
	double rope_dim;
	double nope_dim;		/* qk_nope_head_dim */
	double v_dim;			/* v_head_dim */
	double latent_entry;		/* bytes per token per layer, FP8 */
	double index_heads;
	double index_dim;
	double index_entry;		/* bytes per token per layer */
	double topk;
	double routed_experts;
	double active_experts;
	double shared_experts;
	double moe_intermediate;
	double dense_intermediate;
	double vocab;
	double weight_bytes;		/* bytes per linear-layer weight */
	double embed_bytes;		/* bytes per embedding/head weight */
	double page_tokens;		/* cache allocation granule */
};

struct sim_deploy {
	double ep;			/* expert-parallel degree (GPUs) */
	double redundant_experts;	/* extra experts held per GPU */
	double weights_per_gpu;		/* bytes; 0 = computed from model */
	double hbm_reserve;		/* activations, graphs, buffers */
	double mtp_depth;		/* draft tokens per step */
	double mtp_accept;		/* acceptance rate of each draft */
	double a2a_hidden;		/* fraction of all-to-all hidden (TBO) */
	double max_batch;		/* 0 = no cap */
	double tpot_slo;		/* seconds per output token; 0 = none */
};

struct sim_workload {
	double context;			/* prompt tokens per request */
	double output;			/* generated tokens per request */
};

struct sim_ess {
	double slots;			/* hot-buffer slots per request/layer */
	char policy[SIM_NAME_MAX];
	double miss_rate;		/* misses / top-k entries per layer */
	double slot_meta;		/* bytes of metadata per slot */
	double token_meta;		/* bytes of metadata per token of a request */
	double manage_time;		/* resolve kernel per layer, fixed */
	double manage_per_miss;		/* resolve kernel time per unit miss rate */
	double splits;			/* indexer chunks along the batch */
	double split_min_context;	/* split only at or above this */
	double fetch_sm_share;		/* SM share the fetch takes from compute */
};

struct sim_params {
	struct sim_hw hw;
	struct sim_model model;
	struct sim_deploy deploy;
	struct sim_workload work;
	struct sim_ess ess;
};

#endif /* ESS_SIM_PARAMS_H */
