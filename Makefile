# SPDX-License-Identifier: GPL-2.0
#
# Top-level build of shmring: the module (through kbuild, see Kbuild),
# libshmring, the utilities and the test programs.
#
#   make                 module + library + utilities + test programs
#   make module          only shmring.ko (KDIR selects the kernel tree)
#   make user            only userspace
#   make check           every test (static checks, native, both VM kernels)
#   make demo            boot the VM, load the module, show /dev/shmring
#   make bench           shmring-bench in the VM; report in docs/bench.md
#   make bench-bridge    shmring-bridge vs raw JetStream publishing in the VM
#   make vm-shell        interactive shell in the VM, module loaded
#   make install         library, headers, tools, man pages (PREFIX, DESTDIR),
#                        and the module (modules_install) unless NO_MODULE=1
#   make modules_install shmring.ko into /lib/modules/$(KVER)/updates, depmod
#   make install-conf    udev rule, modules-load.d, modprobe.d example,
#                        sysusers.d, systemd units (DESTDIR)
#   make dkms-source     the module's sources in /usr/src/shmring-VERSION
#   make dkms-install    dkms-source, then dkms add/build/install
#   make dkms-uninstall  dkms remove --all, then the sources
#   make check-distro    packages installed on a Debian 12 VM with systemd
#   make install-systemd the units of systemd/ (SYSTEMDUNITDIR, DESTDIR)
#   make check-units     systemd-analyze verify of those units

# One version for everything: the file VERSION (MAJOR.MINOR.PATCH). The
# module gets it through kmod/Kbuild, the library through the generated
# $(B)/include/shmring-version.h (SHMRING_LIB_VERSION_MAJOR/MINOR), the
# soname is libshmring.so.MAJOR, shmring.pc says VERSION, and the newest
# node of lib/libshmring.map is LIBSHMRING_MAJOR.MINOR (tests/static-checks.sh
# checks that they agree).
TOPDIR       := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VERSION      := $(strip $(shell cat $(TOPDIR)/VERSION 2>/dev/null))
VERSION_NUMS := $(subst ., ,$(VERSION))
ifeq ($(shell echo '$(VERSION)' | grep -Ex '[0-9]+\.[0-9]+\.[0-9]+'),)
$(error VERSION must hold MAJOR.MINOR.PATCH, it holds '$(VERSION)')
endif
VERSION_MAJOR := $(word 1,$(VERSION_NUMS))
VERSION_MINOR := $(word 2,$(VERSION_NUMS))
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= /lib/systemd/system
DESTDIR      ?=

# The kernel the module is installed for (modules_install), and its tree:
# KVER's build dir when it exists, else the newest Debian headers installed
# under /lib/modules.
KVER ?= $(shell uname -r)
KDIR ?= $(firstword $(wildcard /lib/modules/$(KVER)/build) \
		    $(lastword $(sort $(wildcard /lib/modules/*-amd64/build))))

CC       ?= cc
AR       ?= ar
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
	    -Wstrict-prototypes -Wpointer-arith -Wvla
B ?= build
CPPFLAGS += -Iinclude/uapi -Ilib -I$(B)/include -D_GNU_SOURCE -DSHMRING_VERSION='"$(VERSION)"'
ALL_CFLAGS = $(WARN) $(CFLAGS) -fPIC $(EXTRA_CFLAGS)
# Every object records the headers it includes (.d next to it): a changed
# header rebuilds exactly what includes it.
DEPFLAGS = -MMD -MP

VERSION_H := $(B)/include/shmring-version.h
LIB_SO   := $(B)/lib/libshmring.so.$(VERSION)
LIB_SONAME := libshmring.so.$(VERSION_MAJOR)
LIB_PC   := $(B)/lib/shmring.pc
LIB_A    := $(B)/lib/libshmring.a
LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)

# Programs of utils/, each from its own files plus the shared core
# (utils/common.c: messages, exit statuses, numbers, times; utils/json.c:
# the JSON writer; utils/position.c: oldest|end|seq=N|time=... reader
# positions and shmring_seek()) and libshmring.a:
#   shmring-ctl    utils/ctl/*.c (main, module, rings, views, output, apply and
#                  its parser ringconf, replay), utils/capture.c, libkmod
#   shmring-dump   utils/shmring-dump.c, utils/capture.c
#   shmring-bench  utils/bench/*.c (the driver and one file per peer)
# Any other utils/shmring-NAME.c is a program of its own.
UTIL_CORE_SRCS := utils/common.c utils/json.c utils/position.c
UTIL_CORE      := $(B)/utils/libutil.a
UTIL_PROGS         := shmring-ctl shmring-dump shmring-bench
shmring-ctl_SRCS   := $(wildcard utils/ctl/*.c) utils/capture.c
shmring-dump_SRCS  := utils/shmring-dump.c utils/capture.c
shmring-bench_SRCS := $(wildcard utils/bench/*.c)
UTIL_SINGLE := $(filter-out $(UTIL_PROGS),$(patsubst utils/%.c,%,$(wildcard utils/shmring-*.c)))
UTILS    := $(foreach p,$(UTIL_PROGS),$(if $($(p)_SRCS),$(B)/utils/$(p))) \
	    $(UTIL_SINGLE:%=$(B)/utils/%)
# shmring-bridge (utils/bridge/, docs/bridge.md) needs libnats (libnats-dev):
# built when pkg-config finds it, else skipped with a message. Its pure part
# (utils/bridge/util.c) needs nothing and is unit-tested either way.
NATS_OK := $(shell pkg-config --exists libnats 2>/dev/null && echo y)
BRIDGE_SRCS := $(filter-out utils/bridge/util.c,$(wildcard utils/bridge/*.c))
ifeq ($(NATS_OK),y)
UTILS    += $(B)/utils/shmring-bridge
NATS_CFLAGS := $(shell pkg-config --cflags libnats)
NATS_LIBS   := $(shell pkg-config --libs libnats)
endif
UTIL_OBJS := $(patsubst %.c,$(B)/%.o,$(UTIL_CORE_SRCS) $(foreach p,$(UTIL_PROGS),$($(p)_SRCS)) \
	     $(UTIL_SINGLE:%=utils/%.c) utils/bridge/util.c \
	     $(if $(NATS_OK),$(BRIDGE_SRCS)))
GUEST_TESTS := $(patsubst %.c,$(B)/%,$(wildcard tests/guest/t_*.c))
UNIT_TESTS  := $(patsubst %.c,$(B)/%,$(wildcard tests/unit/t_*.c))
EXAMPLES    := $(patsubst %.c,$(B)/%,$(wildcard examples/*.c))

KMOD_LIBS := $(shell pkg-config --libs libkmod 2>/dev/null || echo -lkmod)

.PHONY: all module user lib utils tests examples fuzz check demo bench vm-shell install clean \
	static-checks modules_install install-conf dkms-source dkms-install dkms-uninstall \
	check-distro install-systemd check-units bench-bridge

all: module user

module:
	@test -n "$(KDIR)" || { echo "no kernel tree: set KDIR or install linux-headers-amd64"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

user: lib utils tests examples
ifneq ($(NATS_OK),y)
	@echo "shmring-bridge: not built (no libnats: install libnats-dev)"
endif
lib: $(LIB_SO) $(LIB_A) $(B)/lib/libshmring.so $(LIB_PC)
utils: $(UTILS)
tests: $(GUEST_TESTS) $(UNIT_TESTS)
examples: $(EXAMPLES)

# The version header must exist before the first compile; after that the
# .d files know who includes it.
$(B)/%.o: %.c | $(VERSION_H)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

# SHMRING_LIB_VERSION_MAJOR/MINOR for lib/shmring.h (installed beside it).
$(VERSION_H): VERSION
	@mkdir -p $(dir $@)
	printf '%s\n' '/* SPDX-License-Identifier: MIT */' \
		'/* Generated from the file VERSION ($(VERSION)) by the Makefile: do not edit. */' \
		'#ifndef SHMRING_VERSION_H' '#define SHMRING_VERSION_H' '' \
		'#define SHMRING_LIB_VERSION_MAJOR	$(VERSION_MAJOR)' \
		'#define SHMRING_LIB_VERSION_MINOR	$(VERSION_MINOR)' '' \
		'#endif /* SHMRING_VERSION_H */' >$@.tmp
	mv $@.tmp $@

# shmring.pc for PREFIX/LIBDIR/INCLUDEDIR as given to this make (install
# writes its own copy for the values it is given).
PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	     -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' lib/shmring.pc.in
$(LIB_PC): lib/shmring.pc.in VERSION
	@mkdir -p $(dir $@)
	$(PC_SED) >$@

$(LIB_SO): $(LIB_OBJS) lib/libshmring.map
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libshmring.map \
		-Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJS)

$(B)/lib/libshmring.so: $(LIB_SO)
	ln -sf $(notdir $(LIB_SO)) $(B)/lib/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

$(LIB_A): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(UTIL_CORE): $(patsubst %.c,$(B)/%.o,$(UTIL_CORE_SRCS))
	rm -f $@
	$(AR) rcs $@ $^

# Programs link the static library so the VM needs no extra .so for it.
shmring-ctl_LIBS := $(KMOD_LIBS)
# shmring-bench counts its system calls: every libc entry point it (or
# libshmring.a) enters the kernel through is wrapped at link time.
BENCH_WRAP := write read ioctl poll epoll_wait send recv sendmmsg recvmmsg \
	      mq_send mq_receive syscall
shmring-bench_LIBS := $(BENCH_WRAP:%=-Wl,--wrap=%) -lrt

define util_prog
$$(B)/utils/$(1): $$(patsubst %.c,$$(B)/%.o,$(2)) $$(UTIL_CORE) $$(LIB_A)
	$$(CC) $$(ALL_CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$($(1)_LIBS)
endef
$(foreach p,$(UTIL_PROGS),$(eval $(call util_prog,$(p),$($(p)_SRCS))))
$(foreach p,$(UTIL_SINGLE),$(eval $(call util_prog,$(p),utils/$(p).c)))

$(patsubst %.c,$(B)/%.o,$(BRIDGE_SRCS)): CPPFLAGS += $(NATS_CFLAGS)
$(B)/utils/shmring-bridge: $(patsubst %.c,$(B)/%.o,$(BRIDGE_SRCS)) $(B)/utils/bridge/util.o \
		$(UTIL_CORE) $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(NATS_LIBS) -lpthread

# jsbench: the raw JetStream publisher of make bench-bridge (libnats only).
ifeq ($(NATS_OK),y)
user: $(B)/bench/jsbench
endif
$(B)/bench/jsbench.o: CPPFLAGS += $(NATS_CFLAGS)
$(B)/bench/jsbench: $(B)/bench/jsbench.o
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(NATS_LIBS) -lpthread

$(B)/examples/%: $(B)/examples/%.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^

# Objects first, then the archives, libshmring.a last (the others use it).
$(B)/tests/%: $(B)/tests/%.o $(B)/tests/tap.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) \
		$(filter-out $(LIB_A),$(filter %.a,$^)) $(LIB_A) -lpthread

# t_capture tests shmring-dump's capture code, linked as the tool links it.
$(B)/tests/unit/t_capture: $(B)/utils/capture.o $(UTIL_CORE)
# t_ringconf tests shmring-ctl apply's configuration parser.
$(B)/tests/unit/t_ringconf: $(B)/utils/ctl/ringconf.o $(UTIL_CORE)
# t_bridge_* test shmring-bridge's pure part (no libnats needed).
$(B)/tests/unit/t_bridge_util: $(B)/utils/bridge/util.o
# t_position tests the positions of shmring-dump --from and ctl subs --to.
$(B)/tests/unit/t_position: $(UTIL_CORE)
# t_prom tests the strict Prometheus text parser of the tests and, with it,
# the formatter of shmring-ctl metrics; t_metrics parses the real output.
$(B)/tests/unit/t_prom: $(B)/tests/promparse.o $(B)/utils/ctl/prom.o
$(B)/tests/guest/t_metrics: $(B)/tests/promparse.o

# Coverage-guided fuzzing of the capture reader, the record validator and
# the zero-copy reader (clang's libFuzzer), FUZZ_TIME seconds each.
FUZZ_TIME ?= 30
# The capture code is compiled into the fuzzer from its sources (with the
# fuzzing-mode define, so that crc checks pass), as are the library's.
fuzz: $(VERSION_H)
	@mkdir -p $(B)/fuzz/corpus-capture
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $(CPPFLAGS) \
		tests/fuzz/fuzz_capture.c utils/capture.c $(UTIL_CORE_SRCS) $(LIB_SRCS) \
		-o $(B)/fuzz/fuzz_capture
	$(B)/fuzz/fuzz_capture -max_total_time=$(FUZZ_TIME) $(B)/fuzz/corpus-capture \
		tests/fuzz/corpus-capture
	@mkdir -p $(B)/fuzz/corpus-record
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		tests/fuzz/fuzz_record.c $(LIB_SRCS) -o $(B)/fuzz/fuzz_record
	$(B)/fuzz/fuzz_record -max_total_time=$(FUZZ_TIME) $(B)/fuzz/corpus-record \
		tests/fuzz/corpus-record
	@mkdir -p $(B)/fuzz/corpus-zc
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		tests/fuzz/fuzz_zc.c $(LIB_SRCS) -o $(B)/fuzz/fuzz_zc
	$(B)/fuzz/fuzz_zc -max_total_time=$(FUZZ_TIME) $(B)/fuzz/corpus-zc tests/fuzz/corpus-zc

-include $(patsubst %.o,%.d,$(LIB_OBJS) $(UTIL_OBJS) $(B)/tests/tap.o $(B)/tests/promparse.o $(B)/bench/jsbench.o \
	 $(GUEST_TESTS:=.o) $(UNIT_TESTS:=.o) $(EXAMPLES:=.o))

check:
	bash tests/run-all.sh

static-checks:
	bash tests/static-checks.sh

demo:
	bash tests/vm.sh demo

# A benchmark, not a test (docs/bench.md). BENCH_ARGS: shmring-bench options.
bench:
	bash bench/run.sh $(BENCH_ARGS)

# shmring-bridge against raw JetStream publishing in one boot
# (docs/bench-bridge.md, bench/results/bridge-<date>.json).
bench-bridge:
	bash bench/bridge.sh

vm-shell:
	bash tests/vm.sh shell

install: lib utils $(if $(NO_MODULE),,modules_install)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 \
		$(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libshmring.so
	install -m 644 lib/shmring.h $(VERSION_H) $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/uapi/linux/shmring.h $(DESTDIR)$(INCLUDEDIR)/linux/
	$(if $(UTILS),install -m 755 $(UTILS) $(DESTDIR)$(BINDIR)/)
	$(PC_SED) > $(DESTDIR)$(PKGCONFIGDIR)/shmring.pc
	for m in man/*.[1-8]; do [ -e "$$m" ] || continue; \
		s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done

# The units run /usr/bin/shmring-*: rewritten for another BINDIR.
install-systemd:
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	for u in systemd/*.service; do \
		sed 's|/usr/bin/shmring-|$(BINDIR)/shmring-|g' $$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
		chmod 644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; done

check-units: utils
	B=$(B) bash tests/check-units.sh

# The module for kernel KVER (default: the running one) from the tree KDIR
# (default: KVER's headers), into /lib/modules/KVER/updates, where it takes
# precedence over any other shmring.ko; depmod makes `modprobe shmring` find
# it (not run under DESTDIR: a staging tree is the packager's business).
MODULE_DEST = $(DESTDIR)/lib/modules/$(KVER)/updates
modules_install: module
	@v=$$(modinfo -F vermagic kmod/shmring.ko | cut -d' ' -f1); \
	if [ "$$v" != "$(KVER)" ]; then \
		echo "kmod/shmring.ko was built for kernel $$v, not KVER=$(KVER):" \
		     "install linux-headers-$(KVER) or set KDIR=/lib/modules/$(KVER)/build" >&2; \
		exit 1; fi
	install -d $(MODULE_DEST)
	install -m 644 kmod/shmring.ko $(MODULE_DEST)/
	$(if $(DESTDIR),@echo "DESTDIR set: not running depmod",depmod -a $(KVER))

# Boot and permission files (docs/install.md), and the units
# (install-systemd).  UDEVDIR and SYSTEMDUNITDIR follow Debian 12 (/lib).
SYSCONFDIR ?= /etc
UDEVDIR    ?= /lib/udev
MODLOADDIR ?= /usr/lib/modules-load.d
SYSUSERSDIR ?= /usr/lib/sysusers.d
install-conf: install-systemd
	install -D -m 644 udev/60-shmring.rules $(DESTDIR)$(UDEVDIR)/rules.d/60-shmring.rules
	install -D -m 644 conf/modules-load.d/shmring.conf $(DESTDIR)$(MODLOADDIR)/shmring.conf
	install -D -m 644 conf/modprobe.d/shmring.conf $(DESTDIR)$(SYSCONFDIR)/modprobe.d/shmring.conf
	install -D -m 644 conf/sysusers.d/shmring.conf $(DESTDIR)$(SYSUSERSDIR)/shmring.conf

# The module's sources as DKMS wants them: what kbuild needs (Kbuild, every
# kmod/ file, the UAPI header, VERSION) and dkms.conf with the version in.
DKMS_SRC = $(DESTDIR)/usr/src/shmring-$(VERSION)
dkms-source:
	rm -rf $(DKMS_SRC)
	install -d $(DKMS_SRC)/kmod $(DKMS_SRC)/include/uapi/linux
	install -m 644 Kbuild VERSION $(DKMS_SRC)/
	install -m 644 kmod/Kbuild $(filter-out %.mod.c,$(wildcard kmod/*.c)) $(wildcard kmod/*.h) \
		$(DKMS_SRC)/kmod/
	install -m 644 include/uapi/linux/shmring.h $(DKMS_SRC)/include/uapi/linux/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf >$(DKMS_SRC)/dkms.conf

# For KVER (default: the running kernel); later kernels: DKMS's own hooks.
dkms-install: dkms-source
	dkms add -m shmring -v $(VERSION)
	dkms build -m shmring -v $(VERSION) -k $(KVER)
	dkms install -m shmring -v $(VERSION) -k $(KVER)

dkms-uninstall:
	-dkms remove -m shmring -v $(VERSION) --all
	rm -rf $(DKMS_SRC)

# The Debian 12 VM with systemd (tests/distro.sh): packages, DKMS, boot.
check-distro:
	bash tests/distro.sh

clean:
	rm -rf $(B)
	-[ -n "$(KDIR)" ] && $(MAKE) -C $(KDIR) M=$(CURDIR) clean
