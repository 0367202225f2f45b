# ESS top-level build.  See README.md.
#
#   make            userspace library and tools, CUDA objects (when nvcc is
#                   found) and the kernel module (against KDIR)
#   make run        install dependencies, build, run the default workload
#   make check      install dependencies, build, run every test suite
#   make kcheck     checkpatch and sparse over the kernel module
#
# Each area keeps its own rules in <area>/build.mk; this file only holds
# what they share.

BUILD    ?= build
CC       ?= gcc
# The newest Debian amd64 headers, not the running kernel's: the host runs a
# kernel the module is not built for, and the module is loaded in QEMU.
KDIR     ?= $(lastword $(sort $(wildcard /usr/src/linux-headers-*-amd64)))
NVCC     ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) $(shell command -v nvcc 2>/dev/null))
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))

WARN     := -Wall -Wextra -Werror
CFLAGS   ?= -O2 -g
ESS_CFLAGS := -std=c11 -D_GNU_SOURCE -fPIC -Iinclude $(WARN) $(CFLAGS)
ESS_LDLIBS := -lpthread -lnuma -luring -lisal -ldl -lm

# SAN=1: AddressSanitizer + UndefinedBehaviorSanitizer build (in its own
# BUILD directory, see tests/build.mk).
ifeq ($(SAN),1)
ESS_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ESS_LDFLAGS += -fsanitize=address,undefined
endif

.PHONY: all deps run check clean
all:

deps:
	@scripts/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ESS_CFLAGS) -MMD -MP -c -o $@ $<

include runtime/build.mk
include tools/build.mk
include cuda/build.mk
include kmod/build.mk
include tests/build.mk
-include sim/build.mk
-include tools/stat.mk
include dist/install.mk

run: deps
	$(MAKE) all
	scripts/run-main.sh

clean:
	rm -rf build
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean >/dev/null 2>&1 || true

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
