# Decode simulator (owned by sim/): libess-sim.a holds the model, the
# profile parser and the command line; tools/ess-sim.c is a thin main().
# tools/build.mk links every tool with $^, so an extra prerequisite is
# enough to put the library on ess-sim's link line.  The sim-* unit tests
# get the same prerequisite.
SIM_SRCS := $(wildcard sim/*.c)
SIM_OBJS := $(SIM_SRCS:%.c=$(BUILD)/%.o)
SIM_UNIT := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/sim-*.c))
.PHONY: sim
all: sim
sim: $(BUILD)/bin/ess-sim

$(BUILD)/libess-sim.a: $(SIM_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/ess-sim $(SIM_UNIT): $(BUILD)/libess-sim.a

# sim/defaults.c is sim/profiles/paper-h200.profile as a C string (the
# built-in profile); regenerate it after editing the profile.  The
# sim-profile unit test fails while the two differ.
.PHONY: sim-defaults
sim-defaults:
	{ echo '// SPDX-License-Identifier: MIT'; \
	  echo '/* Built-in profile: generated from sim/profiles/paper-h200.profile by make sim-defaults. */'; \
	  echo '#include "profile.h"'; echo; \
	  echo 'const char sim_default_profile[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' sim/profiles/paper-h200.profile; \
	  printf '\t;\n'; } > sim/defaults.c

# Optional plots (gnuplot is not a dependency of build or tests).
.PHONY: sim-plot
sim-plot: $(BUILD)/bin/ess-sim
	@command -v gnuplot >/dev/null || { echo "sim-plot: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
	@mkdir -p $(BUILD)/sim
	$(BUILD)/bin/ess-sim --csv > $(BUILD)/sim/throughput.csv
	$(BUILD)/bin/ess-sim --trace synthetic --miss-curve 2048,3072,4096,5120,6144,8192 > $(BUILD)/sim/miss.csv
	gnuplot -e "tput='$(BUILD)/sim/throughput.csv'; miss='$(BUILD)/sim/miss.csv'; outdir='$(BUILD)/sim'" sim/plot.gp
	@echo "wrote $(BUILD)/sim/throughput.png $(BUILD)/sim/miss-rate.png"

# The compute calibration benchmark (needs nvcc and a GPU; not part of
# 'make' or the tests): build/bin/sim-bench-compute [reps] prints the CSV
# that sim/calibration/raw/ keeps; see Documentation/dev/simulator.md.
.PHONY: sim-bench-compute
sim-bench-compute: $(BUILD)/bin/sim-bench-compute
$(BUILD)/bin/sim-bench-compute: sim/calib/bench-compute.cu
	@if [ -z "$(NVCC)" ]; then echo "sim-bench-compute: needs nvcc" >&2; exit 1; fi
	@mkdir -p $(dir $@)
	$(NVCC) -O2 -arch=sm_90 -std=c++17 -o $@ $< -lcublasLt
