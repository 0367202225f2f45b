# Overlay: the fetch kernel runs at default stream priority beside kernels
# that fill every SM, as measured in reference.md section 4 (22.6 GB/s for
# a 16-block gather launched beside a full-GPU compute kernel).  No SMs are
# reserved for it, so compute loses nothing to it.
#   ess-sim --profile sim/profiles/h200-default-priority.profile
hw.pcie_h2d_overlap = 22.6 GB/s
ess.fetch_sm_share  = 0
