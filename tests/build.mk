# Test programs and the suites 'make check' runs.
#
# Every tests/unit/*.c is one TAP program linked with libess; it runs on the
# host, and again from an ASan/UBSan build (SAN=1 in build/asan).
UNIT_SRCS  := $(wildcard tests/unit/*.c)
UNIT_TESTS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
.PHONY: unit-tests check-unit check-asan check-kselftest check-gpu
all: unit-tests
unit-tests: $(UNIT_TESTS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(BUILD)/libess.a
	$(CC) $(ESS_LDFLAGS) -o $@ $^ $(ESS_LDLIBS)

check: deps
	$(MAKE) all
	tests/run-all.sh

check-unit: unit-tests tools
	tests/tap-run.sh unit $(UNIT_TESTS)

check-asan:
	$(MAKE) SAN=1 BUILD=build/asan unit-tests
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/tap-run.sh asan $(UNIT_SRCS:tests/unit/%.c=build/asan/tests/unit/%)
include tests/kselftest/build.mk

# The NVMe tier's heat test needs the module: it runs in the guest too.  It
# links ISA-L, which Debian ships only as a shared library, so it stays
# dynamic and the initramfs carries its libraries.
GUEST_TESTS += $(BUILD)/tests/unit/nvme-tier-heat
