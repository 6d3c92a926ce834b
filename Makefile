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
#   make vm-shell        interactive shell in the VM, module loaded
#   make install         library, headers, tools, man pages (PREFIX, DESTDIR)

VERSION      := 0.1.0
ABI_MAJOR    := 1
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR      ?=

# The kernel tree: the running kernel's build dir when it exists, else the
# newest Debian headers installed under /lib/modules.
KDIR ?= $(firstword $(wildcard /lib/modules/$(shell uname -r)/build) \
		    $(lastword $(sort $(wildcard /lib/modules/*-amd64/build))))

CC       ?= cc
AR       ?= ar
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wmissing-prototypes \
	    -Wstrict-prototypes -Wpointer-arith -Wvla
CPPFLAGS += -Iinclude/uapi -Ilib -D_GNU_SOURCE -DSHMRING_VERSION='"$(VERSION)"'
ALL_CFLAGS = $(WARN) $(CFLAGS) -fPIC $(EXTRA_CFLAGS)

B ?= build
LIB_SO   := $(B)/lib/libshmring.so.$(ABI_MAJOR).0
LIB_SONAME := libshmring.so.$(ABI_MAJOR)
LIB_A    := $(B)/lib/libshmring.a
LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)

UTILS    := $(patsubst %.c,$(B)/%,$(wildcard utils/shmring-*.c))
GUEST_TESTS := $(patsubst %.c,$(B)/%,$(wildcard tests/guest/t_*.c))
UNIT_TESTS  := $(patsubst %.c,$(B)/%,$(wildcard tests/unit/t_*.c))
EXAMPLES    := $(patsubst %.c,$(B)/%,$(wildcard examples/*.c))

KMOD_LIBS := $(shell pkg-config --libs libkmod 2>/dev/null || echo -lkmod)

.PHONY: all module user lib utils tests examples fuzz check demo bench vm-shell install clean \
	static-checks

all: module user

module:
	@test -n "$(KDIR)" || { echo "no kernel tree: set KDIR or install linux-headers-amd64"; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

user: lib utils tests examples
lib: $(LIB_SO) $(LIB_A) $(B)/lib/libshmring.so
utils: $(UTILS)
tests: $(GUEST_TESTS) $(UNIT_TESTS)
examples: $(EXAMPLES)

$(B)/%.o: %.c $(wildcard lib/*.h) include/uapi/linux/shmring.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

$(LIB_SO): $(LIB_OBJS) lib/libshmring.map
	$(CC) -shared -Wl,-soname,$(LIB_SONAME) -Wl,--version-script=lib/libshmring.map \
		-Wl,--no-undefined $(LDFLAGS) -o $@ $(LIB_OBJS)

$(B)/lib/libshmring.so: $(LIB_SO)
	ln -sf $(notdir $(LIB_SO)) $(B)/lib/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

$(LIB_A): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

# Programs link the static library so the VM needs no extra .so for it.
$(B)/utils/shmring-ctl: $(B)/utils/shmring-ctl.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(KMOD_LIBS)

# shmring-bench counts its system calls: every libc entry point it (or
# libshmring.a) enters the kernel through is wrapped at link time.
BENCH_WRAP := write read ioctl poll epoll_wait send recv sendmmsg recvmmsg \
	      mq_send mq_receive
$(B)/utils/shmring-bench: $(B)/utils/shmring-bench.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ $(BENCH_WRAP:%=-Wl,--wrap=%) -lrt

$(B)/utils/%: $(B)/utils/%.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^

$(B)/examples/%: $(B)/examples/%.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^

$(B)/tests/%: $(B)/tests/%.o $(B)/tests/tap.o $(LIB_A)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $^ -lpthread

# shmring-dump, t_capture and the fuzzer #include utils/capture.c.
$(B)/utils/shmring-dump.o $(B)/tests/unit/t_capture.o: utils/capture.c utils/capture.h

# Coverage-guided fuzzing of the capture reader and the record validator
# (clang's libFuzzer), FUZZ_TIME seconds each.
FUZZ_TIME ?= 30
fuzz:
	@mkdir -p $(B)/fuzz/corpus-capture
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
		-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION $(CPPFLAGS) \
		tests/fuzz/fuzz_capture.c lib/shmring.c -o $(B)/fuzz/fuzz_capture
	$(B)/fuzz/fuzz_capture -max_total_time=$(FUZZ_TIME) $(B)/fuzz/corpus-capture \
		tests/fuzz/corpus-capture
	@mkdir -p $(B)/fuzz/corpus-record
	clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) \
		tests/fuzz/fuzz_record.c lib/shmring.c -o $(B)/fuzz/fuzz_record
	$(B)/fuzz/fuzz_record -max_total_time=$(FUZZ_TIME) $(B)/fuzz/corpus-record \
		tests/fuzz/corpus-record

$(B)/tests/tap.o: tests/tap.c tests/tap.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c -o $@ $<

check:
	bash tests/run-all.sh

static-checks:
	bash tests/static-checks.sh

demo:
	bash tests/vm.sh demo

# A benchmark, not a test (docs/bench.md). BENCH_ARGS: shmring-bench options.
bench:
	bash bench/run.sh $(BENCH_ARGS)

vm-shell:
	bash tests/vm.sh shell

install: lib utils
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(MANDIR)/man8
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO)) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libshmring.so
	install -m 644 lib/shmring.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/uapi/linux/shmring.h $(DESTDIR)$(INCLUDEDIR)/linux/
	$(if $(UTILS),install -m 755 $(UTILS) $(DESTDIR)$(BINDIR)/)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    lib/shmring.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/shmring.pc
	for m in man/*.[1378]; do [ -e "$$m" ] || continue; \
		s=$${m##*.}; install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done

clean:
	rm -rf $(B)
	-[ -n "$(KDIR)" ] && $(MAKE) -C $(KDIR) M=$(CURDIR) clean
