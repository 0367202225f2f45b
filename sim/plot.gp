# ess-sim plots (optional; needs gnuplot, e.g. Debian's gnuplot-nox).
#
#   make sim-plot          # writes build/sim/{throughput,miss-rate}.png
#
# or by hand:
#   build/bin/ess-sim --csv > tput.csv
#   build/bin/ess-sim --trace synthetic --miss-curve 2048,3072,4096,6144,8192 > miss.csv
#   gnuplot -e "tput='tput.csv'; miss='miss.csv'; outdir='.'" sim/plot.gp
#
# tput: ess-sim --csv output (context, ..., base_tok_s = column 5,
#       ess_tok_s = 9, paper_base_tok_s = 15, paper_ess_tok_s = 16).
# miss: ess-sim --miss-curve output (policy,slots,miss_rate); one line per
#       policy, OPT (Belady) drawn dashed as the lower bound.
if (!exists("tput")) tput = 'build/sim/throughput.csv'
if (!exists("miss")) miss = 'build/sim/miss.csv'
if (!exists("outdir")) outdir = 'build/sim'

set datafile separator ','
set terminal pngcairo size 900,560 noenhanced font ',11'
set key top right
set grid

# --- throughput against context ---
set output outdir.'/throughput.png'
set title 'DeepSeek-V3.2-Exp decode: tokens/s per GPU (ess-sim)'
set xlabel 'context (tokens)'
set ylabel 'tokens/s per GPU'
set logscale x 2
set xtics ("8K" 8192, "16K" 16384, "32K" 32768, "64K" 65536, "128K" 131072)
plot tput using 1:5 skip 1 with linespoints lw 2 pt 7 title 'baseline (ess-sim)', \
     tput using 1:9 skip 1 with linespoints lw 2 pt 5 title 'ESS (ess-sim)', \
     tput using 1:($15 > 0 ? $15 : 1/0) skip 1 with points pt 6 ps 1.5 title 'baseline (paper)', \
     tput using 1:($16 > 0 ? $16 : 1/0) skip 1 with points pt 4 ps 1.5 title 'ESS (paper)'

# --- miss rate against hot-buffer size, per policy, with OPT ---
set output outdir.'/miss-rate.png'
set title 'hot-buffer miss rate per policy (trace replay)'
set xlabel 'hot-buffer slots per request and layer'
set ylabel 'misses per top-k entry (%)'
unset logscale x
set format x '%g'
set xtics autofreq
# policy names in file order, without repeats; OPT is drawn on its own
policies = system("awk -F, 'NR > 1 && $1 != \"opt\" && !seen[$1]++ { printf \"%s \", $1 }' ".miss)
plot for [pol in policies] miss using 2:(strcol(1) eq pol ? 100 * $3 : 1/0) skip 1 \
     with linespoints lw 2 pt 7 title pol, \
     miss using 2:(strcol(1) eq 'opt' ? 100 * $3 : 1/0) skip 1 \
     with linespoints lw 2 dt 2 pt 6 title 'OPT (Belady)'
