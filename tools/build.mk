# Command-line tools: every tools/*.c is one program linked with libess.
TOOL_SRCS := $(wildcard tools/*.c)
TOOLS := $(TOOL_SRCS:tools/%.c=$(BUILD)/bin/%)
.PHONY: tools
all: tools
tools: $(TOOLS)

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(BUILD)/libess.a
	@mkdir -p $(dir $@)
	$(CC) $(ESS_LDFLAGS) -o $@ $^ $(ESS_LDLIBS)
