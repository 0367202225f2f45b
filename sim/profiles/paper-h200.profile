# ess-sim built-in profile: DeepSeek-V3.2-Exp decode on H200-class GPUs,
# data-parallel attention, EP32 (4 nodes x 8 GPUs), MTP 1.
# The built-in copy in sim/defaults.c must stay identical to this file
# (tests/unit/sim-profile.c checks it).  Why each number is what it is:
# Documentation/dev/simulator.md.

# --- hardware, per GPU (H200 SXM) ---
hw.hbm_bytes          = 140 GiB      # nvidia-smi: 143771 MiB
hw.hbm_usable         = 0.9          # engine memory fraction (assumption)
hw.hbm_bw             = 4.8 TB/s     # H200 datasheet
hw.hbm_eff            = 0.94         # measured: 4 GiB streaming read (h200-compute.csv)
hw.fp8_rate           = 1979 TFLOP/s # H200 datasheet, dense
hw.bf16_rate          = 989 TFLOP/s  # H200 datasheet, dense
hw.gemm_eff           = 0.82         # fitted to measured FP8 GEMMs (h200-compute.csv)
hw.gemm_eff_bf16      = 0.86         # fitted to measured BF16 GEMMs
hw.gemm_bw_eff        = 0.87         # fitted: GEMMs stream weights at 0.87 x hbm_bw
hw.gemm_sharpness     = 4            # fitted: smooth roofline exponent
hw.kernel_floor       = 6 us         # fitted: fixed time of each kernel
hw.attn_eff           = 0.45         # sparse MLA decode, production kernels (assumption)
hw.attn_fixed         = 0 us         # FlashMLA-class kernel: none beyond kernel_floor
hw.index_eff          = 0.94         # indexer and top-k stream like hbm_eff (assumption)
hw.gather_bw          = 1650 GB/s    # measured: 656-B row gather from HBM (reference.md 4)
hw.pcie_h2d           = 46.9 GB/s    # measured: sorted UVA gather (reference.md 4)
hw.pcie_h2d_overlap   = 45 GB/s      # measured: gather on 8 of 132 SMs (reference.md 4)
hw.pcie_d2h           = 46 GB/s      # measured: the project's sorted scatter (ess-bench-fetch)
hw.fetch_latency      = 15 us        # fitted to ess-bench-fetch gathers of 1.6K-52K rows
hw.writeback_latency  = 5 us         # fitted to ess-bench-fetch scatters of 1.6K-52K rows
hw.sms                = 132
hw.host_dram_bytes    = 2 TiB        # per node (assumption)
hw.host_dram_usable   = 0.9
hw.gpus_per_node      = 8
hw.a2a_intra_bw       = 150 GB/s     # NVLink all-to-all per GPU (assumption)
hw.a2a_inter_bw       = 45 GB/s      # 400 Gb/s RDMA per GPU (assumption)
hw.a2a_latency        = 30 us        # per dispatch or combine (assumption)
hw.layer_overhead     = 15 us        # norms, RoPE, routing, residuals per layer (assumption)

# --- model: DeepSeek-V3.2-Exp (reference.md 1; DeepSeek-V3 config) ---
model.layers             = 61
model.dense_layers       = 3
model.hidden             = 7168
model.heads              = 128
model.q_lora_rank        = 1536
model.kv_lora_rank       = 512
model.rope_dim           = 64
model.nope_dim           = 128
model.v_dim              = 128
model.latent_entry       = 656 B
model.index_heads        = 64
model.index_dim          = 128
model.index_entry        = 132 B
model.topk               = 2048
model.routed_experts     = 256
model.active_experts     = 8
model.shared_experts     = 1
model.moe_intermediate   = 2048
model.dense_intermediate = 18432
model.vocab              = 129280
model.weight_bytes       = 1 B        # FP8 checkpoint
model.embed_bytes        = 2 B        # BF16 embedding and LM head
model.page_tokens        = 64

# --- deployment ---
deploy.ep                = 32
deploy.redundant_experts = 0
deploy.weights_per_gpu   = 0 B        # computed from the model
deploy.hbm_reserve       = 8 GiB      # activations, graphs, buffers (assumption)
deploy.mtp_depth         = 1
deploy.mtp_accept        = 0.85
deploy.a2a_hidden        = 0.5        # two-batch overlap hides half (assumption)
deploy.max_batch         = 0
deploy.tpot_slo          = 0 s

# --- workload ---
workload.context         = 32K
workload.output          = 1K

# --- ESS ---
ess.slots                = 4096
ess.policy               = lru
ess.miss_rate            = 0.05       # given (no trace replay yet)
ess.slot_meta            = 18 B       # int32 token + u64 key + u32 freq + u16 LRU order
ess.token_meta           = 2 B        # u16 token -> slot map entry
ess.manage_time          = 10.8 us    # fitted to ess-bench-fetch management rows (6144 slots)
ess.manage_per_miss      = 15 us      # same: +0.15 us per percent of misses
ess.splits               = 0          # the best of 1, 2, 4, 8 per context
ess.split_min_context    = 32K
ess.fetch_sm_share       = 0.06       # 8 of 132 SMs saturate the link
