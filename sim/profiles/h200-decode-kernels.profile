# Overlay: the decode benchmark's own kernels (cuda/decode/: mma.sync
# attention, indexer and radix top-k), fitted to the cache part per layer
# that ess-bench-decode measured on the H200 (sim/calibration/h200-decode.csv,
# 2026-11-27).  These describe the project's kernels, which are slower than
# FlashMLA/DeepGEMM-class ones; the built-in profile keeps the production
# assumption (attn_eff 0.45).  With this overlay the simulator predicts each
# measured cache part within 10% (tests/unit/sim-calibration.c).
#   ess-sim --profile sim/profiles/h200-decode-kernels.profile
hw.attn_eff   = 0.08     # fitted: ~80 TFLOP/s of the 989 BF16 peak
hw.attn_fixed = 40 us    # fitted: split combine and partly empty last wave
hw.index_eff  = 0.31     # fitted: indexer scan + top-k (the scan alone: 0.33)
ess.splits    = 1        # the benchmark runs the indexer in one piece
