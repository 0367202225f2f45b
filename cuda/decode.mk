# The decode benchmark (issue 8; Documentation/dev/decode-bench.md),
# included at the end of cuda/build.mk.
#
#   make cuda                  also builds build/bin/ess-bench-decode
#   make check-gpu             also runs tests/gpu/decode-*.cu (they are in
#                              cuda/build.mk's GPU_TESTS by its wildcard;
#                              the rule below adds their link inputs)
#   cuda/decode/gpu-run-decode.sh   the whole GPU run, results to $OUT
#
# It links libess-cuda.a (resolve and fetch kernels), the simulator's
# library (stand-in times and the HBM budget) and libess's trace reader and
# synthetic generator, built here from their sources alone so the GPU
# machine needs only isa-l (for the trace file's CRC), not all of libess.

ifneq ($(NVCC),)

DECODE_HDRS := $(wildcard cuda/decode/*.h) cuda/ess_cuda.h cuda/cluster_config.h include/ess/hotset.h \
	       include/ess/trace.h sim/params.h sim/model.h sim/profile.h
DECODE_SRCS := $(filter-out cuda/decode/main.cu,$(wildcard cuda/decode/*.cu))
DECODE_OBJS := $(DECODE_SRCS:cuda/decode/%.cu=$(BUILD)/cuda/decode/%.o)
DECODE_TRACE_OBJS := $(BUILD)/decode/trace.o $(BUILD)/decode/trace_gen.o
DECODE_LIBS := $(BUILD)/libess-decode.a $(BUILD)/libess-cuda.a $(DECODE_TRACE_OBJS) \
	       $(BUILD)/libess-sim.a
DECODE_LDLIBS := $(filter -L%,$(ESS_LDFLAGS)) -lisal -lm

cuda: $(BUILD)/bin/ess-bench-decode

$(BUILD)/cuda/decode/%.o: cuda/decode/%.cu $(DECODE_HDRS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Isim -c -o $@ $<

$(BUILD)/libess-decode.a: $(DECODE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/decode/%.o: runtime/%.c include/ess/trace.h
	@mkdir -p $(dir $@)
	$(CC) $(ESS_CFLAGS) -c -o $@ $<

$(BUILD)/bin/ess-bench-decode: cuda/decode/main.cu $(DECODE_HDRS) $(DECODE_LIBS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Isim -o $@ $< $(DECODE_LIBS) $(DECODE_LDLIBS)

# More specific than cuda/build.mk's tests/gpu/%.cu rule (shorter stem).
$(BUILD)/tests/gpu/decode-%: tests/gpu/decode-%.cu tests/gpu/gpu-tap.h $(DECODE_HDRS) $(DECODE_LIBS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -Isim -Itests/gpu -o $@ $< $(DECODE_LIBS) $(DECODE_LDLIBS)

endif
