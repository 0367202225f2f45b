# Installation: make install [PREFIX=/usr/local] [DESTDIR=stage]
#
#   lib/libess.so.$(ESS_VERSION) with soname libess.so.$(ESS_SOVERSION),
#   lib/libess.a, lib/libess-cuda.so (when built), lib/pkgconfig/ess.pc,
#   include/ess/*.h and include/ess/uapi/ess.h, bin/ (the tools, and the
#   GPU benchmarks when built),
#   share/man/man1/, share/doc/ess/ (guides, udev rule, examples),
#   lib/python3/dist-packages/ess.py (the ctypes binding)
#
#   make install-dkms    module sources and dkms.conf in /usr/src/ess-<ver>/
#   make install-udev    the udev rule in /etc/udev/rules.d/

ESS_VERSION_MAJOR := $(shell sed -n 's/^\#define ESS_VERSION_MAJOR //p' include/ess/ess.h)
ESS_VERSION_MINOR := $(shell sed -n 's/^\#define ESS_VERSION_MINOR //p' include/ess/ess.h)
ESS_VERSION   := $(ESS_VERSION_MAJOR).$(ESS_VERSION_MINOR).0
ESS_SOVERSION := $(ESS_VERSION_MAJOR)
PREFIX        ?= /usr/local
LIBDIR        ?= $(PREFIX)/lib
INCLUDEDIR    ?= $(PREFIX)/include
BINDIR        ?= $(PREFIX)/bin
MANDIR        ?= $(PREFIX)/share/man
DOCDIR        ?= $(PREFIX)/share/doc/ess
INSTALL       ?= install

LIBESS_SO := $(BUILD)/libess.so.$(ESS_VERSION)
# the GPU benchmarks `ess-bench` runs, installed beside it when built
CUDA_PROGS := ess-bench-fetch ess-bench-fetch-multi ess-bench-decode

.PHONY: shlib install install-dkms install-udev check-install check-python
PYTHONDIR     ?= $(PREFIX)/lib/python3/dist-packages
all: shlib
shlib: $(LIBESS_SO)

$(LIBESS_SO): $(LIB_OBJS)
	$(CC) $(ESS_LDFLAGS) -shared -Wl,-soname,libess.so.$(ESS_SOVERSION) \
		-Wl,--no-undefined -o $@ $^ $(ESS_LDLIBS)
	ln -sf $(notdir $@) $(BUILD)/libess.so.$(ESS_SOVERSION)
	ln -sf $(notdir $@) $(BUILD)/libess.so

$(BUILD)/ess.pc: dist/ess.pc.in include/ess/ess.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(ESS_VERSION)|' $< >$@

install: lib shlib tools $(BUILD)/ess.pc
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/ess/uapi \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR)/examples
	$(INSTALL) -m 644 $(BUILD)/libess.a $(DESTDIR)$(LIBDIR)/
	$(INSTALL) -m 755 $(LIBESS_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libess.so.$(ESS_VERSION) $(DESTDIR)$(LIBDIR)/libess.so.$(ESS_SOVERSION)
	ln -sf libess.so.$(ESS_SOVERSION) $(DESTDIR)$(LIBDIR)/libess.so
	if [ -f $(BUILD)/libess-cuda.so ]; then \
		$(INSTALL) -m 755 $(BUILD)/libess-cuda.so $(DESTDIR)$(LIBDIR)/; fi
	$(INSTALL) -m 644 $(BUILD)/ess.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	$(INSTALL) -m 644 $(wildcard include/ess/*.h) $(DESTDIR)$(INCLUDEDIR)/ess/
	$(INSTALL) -m 644 include/uapi/ess.h $(DESTDIR)$(INCLUDEDIR)/ess/uapi/
	$(INSTALL) -m 755 $(TOOLS) $(DESTDIR)$(BINDIR)/
	for p in $(CUDA_PROGS); do \
		if [ -f $(BUILD)/bin/$$p ]; then $(INSTALL) -m 755 $(BUILD)/bin/$$p $(DESTDIR)$(BINDIR)/; fi; \
	done
	$(if $(wildcard Documentation/man/*.1),$(INSTALL) -m 644 $(wildcard Documentation/man/*.1) $(DESTDIR)$(MANDIR)/man1/)
	$(INSTALL) -m 644 $(wildcard Documentation/admin-guide/*.md) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -d $(DESTDIR)$(PYTHONDIR)
	$(INSTALL) -m 644 python/ess.py $(DESTDIR)$(PYTHONDIR)/
	$(INSTALL) -m 644 $(wildcard dist/99-ess.rules dist/ess-modprobe.conf python/examples/*.py) $(DESTDIR)$(DOCDIR)/examples/

install-dkms:
	$(INSTALL) -d $(DESTDIR)/usr/src/ess-$(ESS_VERSION)/kmod $(DESTDIR)/usr/src/ess-$(ESS_VERSION)/include/uapi
	$(INSTALL) -m 644 Kbuild $(DESTDIR)/usr/src/ess-$(ESS_VERSION)/
	$(INSTALL) -m 644 $(wildcard kmod/*.c kmod/*.h) $(DESTDIR)/usr/src/ess-$(ESS_VERSION)/kmod/
	$(INSTALL) -m 644 include/uapi/ess.h $(DESTDIR)/usr/src/ess-$(ESS_VERSION)/include/uapi/
	sed -e 's|@VERSION@|$(ESS_VERSION)|' dist/dkms.conf >$(DESTDIR)/usr/src/ess-$(ESS_VERSION)/dkms.conf

install-udev:
	$(INSTALL) -D -m 644 dist/99-ess.rules $(DESTDIR)/etc/udev/rules.d/99-ess.rules

check-install: lib shlib tools
	tests/tap-run.sh install tests/install/test-install.sh

# The Python binding on the CPU backend, and its PyTorch example (skipped
# where PyTorch or a GPU is missing).
check-python: shlib
	BUILD=$(BUILD) tests/tap-run.sh python tests/python/test-binding.py \
		'python3 python/examples/resolve_torch.py --tap --steps 2'
