# Kernel module selftests, run in a QEMU guest (owned by tests/kselftest/
# and tests/qemu/).
#
#   make check-kselftest   build ess.ko, the static test programs and the
#                          initramfs; boot it and count the TAP results
#   make walkthrough       boot the guest and show insmod-then-run
#
# GUEST_TESTS lists the static TAP programs the guest runs, in order.  Other
# areas append theirs (GUEST_TESTS += $(BUILD)/guest/bin/foo, with a rule
# that builds it statically); the initramfs rule reads the list with
# secondary expansion, so appends made after this file still count.
# The module's own tests run first (ess-sysfs checks the defaults right
# after insmod), then the other areas' programs; GUEST_TESTS_LAST runs after
# all of them: the leak check wants everything else done, and the unload
# test removes the module.  GUEST_TOOLS are copied to /bin, not run.

GUEST_KERNEL := $(shell ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -1)
GUEST_KVER   := $(patsubst /boot/vmlinuz-%,%,$(GUEST_KERNEL))
GUEST_BIN    := $(BUILD)/guest/bin
GUEST_CC     ?= gcc
GUEST_CFLAGS := -static -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -O2 -g -pthread

# One program per feature, cheapest first (those whose source exists).
KSELFTEST_ALL   := ess-sysfs ess-basic ess-ioctl ess-persist ess-exclusive ess-perm ess-limits \
	ess-numa ess-odirect ess-heat ess-heat-batch ess-kill ess-stress ess-fuzz
KSELFTEST_NAMES := $(filter $(patsubst tests/kselftest/%.c,%,$(wildcard tests/kselftest/*.c)),$(KSELFTEST_ALL))
KSELFTEST_PROGS  := $(KSELFTEST_NAMES:%=$(GUEST_BIN)/%)
GUEST_TESTS      += $(KSELFTEST_PROGS)
GUEST_TESTS_LAST := $(patsubst tests/kselftest/%.c,$(GUEST_BIN)/%,$(wildcard tests/kselftest/ess-leak.c tests/kselftest/ess-unload.c tests/kselftest/ess-params.c))
GUEST_TOOLS      += $(GUEST_BIN)/ess-region-demo
GUEST_INITRAMFS  := $(BUILD)/guest/initramfs.cpio.gz

.PHONY: check-kselftest walkthrough guest-tests guest-initramfs
guest-tests: $(KSELFTEST_NAMES:%=$(GUEST_BIN)/%) $(GUEST_TESTS_LAST) $(GUEST_TOOLS)

$(GUEST_BIN)/%: tests/kselftest/%.c tests/kselftest/ess_test.h include/uapi/ess.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -o $@ $< -lpthread

guest-initramfs: $(GUEST_INITRAMFS)

# Rebuilt every time: it is cheap, and the module it carries comes from
# kbuild, whose freshness make cannot see.
.SECONDEXPANSION:
$(GUEST_INITRAMFS): module $$(GUEST_TESTS) $$(GUEST_TESTS_LAST) $$(GUEST_TOOLS) \
		tests/qemu/mkinitramfs.sh tests/qemu/init.sh tests/qemu/walkthrough.sh FORCE
	tests/qemu/mkinitramfs.sh -o $@ -k $(GUEST_KVER) -m ess.ko \
		$(addprefix -t ,$(GUEST_TOOLS)) $(KSELFTEST_PROGS) \
		$(filter-out $(KSELFTEST_PROGS),$(GUEST_TESTS)) $(GUEST_TESTS_LAST)

.PHONY: FORCE
FORCE:

check-kselftest: $(GUEST_INITRAMFS)
	BUILD=$(BUILD) TAP_LOGDIR=$(BUILD)/test-logs tests/tap-run.sh kselftest tests/qemu/run.sh

walkthrough: $(GUEST_INITRAMFS)
	BUILD=$(BUILD) tests/qemu/run.sh --walkthrough
