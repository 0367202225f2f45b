# Kernel module rules (owned by kmod/).
.PHONY: module kcheck
all: module

module:
	@if [ -z "$(KDIR)" ]; then echo "no kernel headers: set KDIR or run 'make deps'" >&2; exit 1; fi
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
