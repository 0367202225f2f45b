# libess rules (owned by runtime/).
# runtime/backend_cuda*.c belong to build/libess-cuda.so (cuda/build.mk):
# libess never links CUDA, it dlopens that library (runtime/backend.c).
LIB_SRCS := $(filter-out runtime/backend_cuda%,$(wildcard runtime/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
.PHONY: lib
all: lib
lib: $(BUILD)/libess.a

$(BUILD)/libess.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

# The runtime's module-path test (pool on /dev/ess, heat reports, warm
# restart) runs in the QEMU guest with ess.ko loaded: a static build of
# tests/unit/runtime-pool-module.c with the library (on the host it skips).
RUNTIME_GUEST_TESTS := $(addprefix $(BUILD)/guest/bin/runtime-,pool-module numa hugetlb)
GUEST_TESTS += $(RUNTIME_GUEST_TESTS)

$(BUILD)/guest/bin/runtime-%: tests/unit/runtime-%.c tests/unit/runtime-tap.h $(BUILD)/libess.a
	@mkdir -p $(dir $@)
	$(CC) -static -std=c11 -D_GNU_SOURCE -Iinclude -Wall -Wextra -Werror -O2 -g -pthread \
		-o $@ $< $(BUILD)/libess.a -lnuma -luring -ldl -lpthread -lm
