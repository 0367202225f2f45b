# ess-stat (owned by the monitoring area): tools/ess-stat.c is the main(),
# tools/stat/*.c the views and formats.  tools/build.mk links every tool
# with $^, so listing the objects as prerequisites puts them on the link
# line.  The stat-* unit tests run build/bin/ess-stat (the one of their own
# BUILD, so the ASan build tests the ASan binary): order-only, to keep it
# off their link line.
#
# The QEMU guest gets a static ess-stat (only libc and the segment reader,
# runtime/statshm.c) in /bin, and the stat-sysfs test, which compares its
# module view with sysfs there.
STAT_SRCS := $(wildcard tools/stat/*.c)
STAT_OBJS := $(STAT_SRCS:%.c=$(BUILD)/%.o)
STAT_UNIT := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/stat-*.c))

$(BUILD)/bin/ess-stat: $(STAT_OBJS)
$(STAT_UNIT): | $(BUILD)/bin/ess-stat

GUEST_STAT := $(GUEST_BIN)/ess-stat
GUEST_STAT_TEST := $(GUEST_BIN)/stat-sysfs
$(GUEST_STAT): tools/ess-stat.c $(STAT_SRCS) tools/stat/stat.h runtime/statshm.c \
		runtime/statshm.h include/ess/stat.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -o $@ tools/ess-stat.c $(STAT_SRCS) runtime/statshm.c -lm

$(GUEST_STAT_TEST): tests/unit/stat-sysfs.c tests/unit/stat-tap.h include/uapi/ess.h
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -o $@ $<

ifneq ($(wildcard tests/unit/stat-sysfs.c),)
GUEST_TESTS += $(GUEST_STAT_TEST)
GUEST_TOOLS += $(GUEST_STAT)
guest-tests: $(GUEST_STAT_TEST) $(GUEST_STAT)
$(GUEST_INITRAMFS): $(GUEST_STAT)
endif

# stat-modpool runs a real runtime on the module's pool in the guest: a
# static build with the library, as runtime/build.mk builds its guest tests.
GUEST_STAT_MODPOOL := $(GUEST_BIN)/stat-modpool
$(GUEST_STAT_MODPOOL): tests/unit/stat-modpool.c tests/unit/stat-tap.h $(BUILD)/libess.a
	@mkdir -p $(dir $@)
	$(GUEST_CC) $(GUEST_CFLAGS) -o $@ $< $(BUILD)/libess.a -lnuma -luring -ldl -lpthread -lm

ifneq ($(wildcard tests/unit/stat-modpool.c),)
GUEST_TESTS += $(GUEST_STAT_MODPOOL)
guest-tests: $(GUEST_STAT_MODPOOL)
endif
