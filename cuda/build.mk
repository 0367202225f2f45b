# CUDA kernels (owned by cuda/).  Built only when nvcc is found.
#
#   make cuda        kernels + launch code (build/libess-cuda.a), the GPU
#                    tests (build/tests/gpu/*) and the fetch benchmark
#                    (build/bin/ess-bench-fetch)
#   make check-gpu   the GPU tests through tests/tap-run.sh; each prints
#                    "1..0 # SKIP" where no CUDA device is present
#
# Code for Hopper (sm_90) plus compute_90 PTX, so the objects also build
# and load on other recent cards.  Nothing here needs liburing, libnuma or
# libisal: the GPU machine has only the CUDA toolkit.

.PHONY: cuda cuda-tests check-gpu

ifneq ($(NVCC),)

CUDA_ARCH  ?= -gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
NVCC_FLAGS := -O3 -std=c++17 -Iinclude -Icuda $(CUDA_ARCH) -Xcompiler -fPIC,-Wall,-Wextra \
	      --Werror all-warnings -lineinfo
CUDA_LIB_SRCS := cuda/fetch.cu cuda/fetch_launch.cu cuda/manage.cu cuda/manage_cluster.cu cuda/manage_order.cu cuda/manage_launch.cu
CUDA_LIB_OBJS := $(CUDA_LIB_SRCS:cuda/%.cu=$(BUILD)/cuda/%.o)
GPU_TEST_SRCS := $(wildcard tests/gpu/*.cu)
GPU_TESTS     := $(GPU_TEST_SRCS:tests/gpu/%.cu=$(BUILD)/tests/gpu/%)
# C tests of the backend through libess (it loads libess-cuda.so)
GPU_LIB_TEST_SRCS := $(wildcard tests/gpu/*.c)
GPU_LIB_TESTS := $(GPU_LIB_TEST_SRCS:tests/gpu/%.c=$(BUILD)/tests/gpu/%)
# The CPU reference of the hot-set rule, built alone (no libess deps).
HOTSET_REF    := $(BUILD)/cuda/hotset-ref.o

all: cuda
cuda: $(BUILD)/libess-cuda.a $(BUILD)/libess-cuda.so cuda-tests $(BUILD)/bin/ess-bench-fetch \
      $(BUILD)/bin/ess-bench-fetch-prof $(BUILD)/bin/ess-bench-fetch-multi
cuda-tests: $(GPU_TESTS) $(GPU_LIB_TESTS)

$(BUILD)/cuda/%.o: cuda/%.cu cuda/ess_cuda.h cuda/kernels.cuh cuda/manage_util.cuh cuda/cluster_config.h \
		   include/ess/hotset.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c -o $@ $<

$(BUILD)/libess-cuda.a: $(CUDA_LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The backend libess loads with dlopen (runtime/backend.h).
$(BUILD)/libess-cuda.so: cuda/backend.cu runtime/backend.h include/ess/ess.h $(CUDA_LIB_OBJS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Iruntime -shared -o $@ cuda/backend.cu $(CUDA_LIB_OBJS)

$(HOTSET_REF): runtime/hotset.c runtime/hotset.h include/ess/hotset.h
	@mkdir -p $(dir $@)
	$(CC) $(ESS_CFLAGS) -c -o $@ $<

$(BUILD)/tests/gpu/%: tests/gpu/%.cu tests/gpu/gpu-tap.h $(BUILD)/libess-cuda.a $(HOTSET_REF)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Itests/gpu -Iruntime -o $@ $< $(BUILD)/libess-cuda.a $(HOTSET_REF)

$(BUILD)/bin/ess-bench-fetch: cuda/bench.cu cuda/cluster_config.h $(BUILD)/libess-cuda.a
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(BUILD)/libess-cuda.a

$(BUILD)/tests/gpu/%: tests/gpu/%.c $(BUILD)/libess.a $(BUILD)/libess-cuda.so
	@mkdir -p $(dir $@)
	$(CC) $(ESS_CFLAGS) $(ESS_LDFLAGS) -o $@ $< $(BUILD)/libess.a $(ESS_LDLIBS)

# The multi-GPU check: a context, a thread and a NUMA-local pool per GPU.
$(BUILD)/bin/ess-bench-fetch-multi: cuda/bench_multi.cu $(BUILD)/libess-cuda.a
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -o $@ $< $(BUILD)/libess-cuda.a -lnuma -lpthread

# The same benchmark with per-phase clocks in the management kernel.
$(BUILD)/bin/ess-bench-fetch-prof: cuda/bench.cu $(CUDA_LIB_SRCS) cuda/ess_cuda.h cuda/kernels.cuh cuda/manage_util.cuh cuda/cluster_config.h
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -DESS_MANAGE_PROF -o $@ cuda/bench.cu $(CUDA_LIB_SRCS)

check-gpu: cuda-tests
	tests/tap-run.sh gpu $(GPU_TESTS) $(GPU_LIB_TESTS)

else

cuda cuda-tests:
	@echo "cuda: nvcc not found, CUDA code not built"

check-gpu:
	tests/tap-run.sh gpu "echo '1..0 # SKIP nvcc not found'"

endif
-include cuda/decode.mk
