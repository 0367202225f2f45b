# Overlay: H100 SXM instead of H200 (80 GB HBM3 at 3.35 TB/s, same tensor
# rates and PCIe Gen5 x16).  PCIe and gather rates are the H200 machine's
# (not measured on an H100).
#   ess-sim --profile sim/profiles/h100.profile
hw.hbm_bytes = 80 GB         # datasheet 80 GB; nvidia-smi shows a little less usable
hw.hbm_bw    = 3.35 TB/s     # H100 SXM datasheet
