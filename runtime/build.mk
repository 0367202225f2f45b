# libess rules (owned by runtime/).
LIB_SRCS := $(wildcard runtime/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
.PHONY: lib
all: lib
lib: $(BUILD)/libess.a

$(BUILD)/libess.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^
