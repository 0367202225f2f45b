# Kernel module rules (owned by kmod/).
#
#   make module   ess.ko against KDIR (Debian's headers by default)
#   make kcheck   checkpatch.pl --strict and sparse over the module; any
#                 warning fails
.PHONY: module kcheck
all: module

module:
	@if [ -z "$(KDIR)" ]; then echo "no kernel headers: set KDIR or run 'make deps'" >&2; exit 1; fi
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# checkpatch.pl is not in the headers package: take it (and the two data
# files it reads) out of Debian's linux-source tarball once.
LINUX_SRC_TAR ?= $(lastword $(sort $(wildcard /usr/src/linux-source-*.tar.xz)))
CHECKPATCH_DIR := $(BUILD)/checkpatch
CHECKPATCH := $(CHECKPATCH_DIR)/scripts/checkpatch.pl
KCHECK_FILES := $(wildcard kmod/*.c kmod/*.h) include/uapi/ess.h

$(CHECKPATCH):
	@if [ -z "$(LINUX_SRC_TAR)" ]; then echo "no /usr/src/linux-source-*.tar.xz: run 'make deps'" >&2; exit 1; fi
	@mkdir -p $(CHECKPATCH_DIR)
	top=$$(basename $(LINUX_SRC_TAR) .tar.xz); \
	tar -xJf $(LINUX_SRC_TAR) -C $(CHECKPATCH_DIR) --strip-components=1 \
		$$top/scripts/checkpatch.pl $$top/scripts/spelling.txt \
		$$top/scripts/const_structs.checkpatch
	@touch $@

kcheck: $(CHECKPATCH)
	@if [ -z "$(KDIR)" ]; then echo "no kernel headers: set KDIR or run 'make deps'" >&2; exit 1; fi
	$(CHECKPATCH) --no-tree --strict --terse --show-types -f $(KCHECK_FILES)
	@# Recompile everything so sparse sees every file (C=2), and fail on
	@# any compiler or sparse warning.
	$(MAKE) -C $(KDIR) M=$(CURDIR) C=2 modules >$(BUILD)/kcheck-sparse.log 2>&1; \
		rc=$$?; cat $(BUILD)/kcheck-sparse.log; exit $$rc
	@if grep -E 'warning:|error:' $(BUILD)/kcheck-sparse.log; then \
		echo "kcheck: sparse or compiler warnings" >&2; exit 1; fi
	@echo "kcheck: clean"
