# iotbench - build, test, stock images, install.
#
#   make            ./iotbench (optimised)
#   make test       every test, under AddressSanitizer + UBSan; last line "N passed, N failed"
#   make run        builds what is missing (stock images, demo device) and opens the TUI
#   make stock      stock kernel, initramfs, host filesystem and demo device, in the store
#   make deps       installs the Debian packages (as root) or prints the apt line
#   make bench      benchmarks -> BENCHMARKS.md
#   make install PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
DESTDIR ?=
CC ?= cc
ifeq ($(CC),cc)
CC := gcc
endif

PKGS := ncursesw vterm yaml-0.1 jansson libarchive capstone libelf libcrypto
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -std=c11 -Wall -Wextra -Werror
BASE_CFLAGS = $(WARN) -D_GNU_SOURCE -I. -MMD -MP $(PKG_CFLAGS)
REL_CFLAGS := -O2 -g
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
               -fno-sanitize-recover=undefined
LDLIBS_ALL = $(PKG_LIBS) -lutil -lm

CORE_SRC := $(wildcard core/*.c)
WIDGETS_SRC := $(wildcard widgets/*.c)
APP_SRC := $(wildcard cli/*.c) $(wildcard tui/*.c)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TEST_SRC := $(wildcard tests/unit/test_*.c) $(wildcard tests/guest/test_*.c) \
            $(wildcard tests/tui/test_*.c)

objs = $(patsubst %.c,build/$(1)/%.o,$(2))

REL_CORE := build/rel/libiotbench.a
ASAN_CORE := build/asan/libiotbench.a
REL_WIDGETS := build/rel/libwidgets.a
ASAN_WIDGETS := build/asan/libwidgets.a
ASAN_BIN := build/asan/iotbench
TEST_BINS := $(patsubst %.c,build/asan/%,$(TEST_SRC))

# Objects of the test library are not intermediates to delete.
.SECONDARY:

.PHONY: all test unit-test check-deps deps stock run bench install clean valgrind fuzz
all: check-deps iotbench

check-deps:
	@pkg-config --exists $(PKGS) || { echo "iotbench: missing development packages;" \
	  "run 'make deps' (as root) first" >&2; exit 1; }

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -c $< -o $@

build/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -c $< -o $@

$(REL_CORE): $(call objs,rel,$(CORE_SRC))
	@mkdir -p $(dir $@); printf '!<arch>\n' > $@
	@if [ -n "$^" ]; then ar rcs $@ $^; fi
$(ASAN_CORE): $(call objs,asan,$(CORE_SRC))
	@mkdir -p $(dir $@); printf '!<arch>\n' > $@
	@if [ -n "$^" ]; then ar rcs $@ $^; fi
$(REL_WIDGETS): $(call objs,rel,$(WIDGETS_SRC))
	@mkdir -p $(dir $@); printf '!<arch>\n' > $@
	@if [ -n "$^" ]; then ar rcs $@ $^; fi
$(ASAN_WIDGETS): $(call objs,asan,$(WIDGETS_SRC))
	@mkdir -p $(dir $@); printf '!<arch>\n' > $@
	@if [ -n "$^" ]; then ar rcs $@ $^; fi

iotbench: $(call objs,rel,$(APP_SRC)) $(REL_WIDGETS) $(REL_CORE)
	$(CC) $(REL_CFLAGS) -o $@ $(call objs,rel,$(APP_SRC)) $(REL_WIDGETS) $(REL_CORE) $(LDLIBS_ALL)

$(ASAN_BIN): $(call objs,asan,$(APP_SRC)) $(ASAN_WIDGETS) $(ASAN_CORE)
	$(CC) $(ASAN_CFLAGS) -o $@ $(call objs,asan,$(APP_SRC)) $(ASAN_WIDGETS) $(ASAN_CORE) $(LDLIBS_ALL)

build/asan/tests/%: tests/%.c $(call objs,asan,$(TESTLIB_SRC)) $(ASAN_WIDGETS) $(ASAN_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -o $@ $< $(call objs,asan,$(TESTLIB_SRC)) \
	  $(ASAN_WIDGETS) $(ASAN_CORE) $(LDLIBS_ALL)

# The same test programs without sanitizers, for valgrind.
build/rel/tests/%: tests/%.c $(call objs,rel,$(TESTLIB_SRC)) $(REL_WIDGETS) $(REL_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -o $@ $< $(call objs,rel,$(TESTLIB_SRC)) \
	  $(REL_WIDGETS) $(REL_CORE) $(LDLIBS_ALL)

# Unit tests only: no guests, no stock images (seconds).
unit-test: check-deps $(ASAN_BIN) $(TEST_BINS)
	@IOTBENCH_BIN=$(CURDIR)/$(ASAN_BIN) IOTBENCH_SRC=$(CURDIR) sh tests/run unit

# Everything: builds the stock images first when they are missing or stale.
test: check-deps $(ASAN_BIN) $(TEST_BINS) stock-images
	@IOTBENCH_BIN=$(CURDIR)/$(ASAN_BIN) IOTBENCH_SRC=$(CURDIR) sh tests/run all

-include stock/stock.mk
-include examples/examples.mk
-include tests/fuzz/fuzz.mk

# Registers the stock images and the demo device in $IOTBENCH_HOME.
stock: iotbench stock-images
	@sh stock/register.sh ./iotbench

# The README's first command: packages, build, stock images, then the
# workbench on the demo device.
run: deps
	@$(MAKE) --no-print-directory stock
	./iotbench --device demo

bench: iotbench stock-images
	@sh bench/run.sh

DEB_PKGS := build-essential pkg-config libncurses-dev libvterm-dev libyaml-dev \
  libjansson-dev libarchive-dev libcapstone-dev libelf-dev libssl-dev \
  qemu-system-arm qemu-utils e2fsprogs cpio kmod fakeroot gcc-arm-linux-gnueabihf \
  curl tmux gdb-multiarch valgrind clang libclang-rt-14-dev hyperfine iproute2 util-linux

deps:
	@missing=""; \
	for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; \
	done; \
	armhf=yes; dpkg --print-foreign-architectures | grep -qx armhf || armhf=no; \
	apt-cache show linux-image-armmp:armhf >/dev/null 2>&1 || armhf=no; \
	if [ -z "$$missing" ] && [ $$armhf = yes ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "iotbench needs these Debian packages; run as root:"; \
	  echo "  dpkg --add-architecture armhf && apt-get update && apt-get install -y$$missing"; \
	  exit 1; \
	fi; \
	echo "[deps] installing:$${missing:- (armhf package lists)}"; \
	dpkg --add-architecture armhf; \
	apt-get update -q >/dev/null 2>&1 || echo "[deps] apt-get update reported errors (a mirror syncing?); going on"; \
	[ -z "$$missing" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	  --no-install-recommends $$missing >/dev/null \
	  || { echo "[deps] apt-get install failed" >&2; exit 1; }

install: iotbench
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/iotbench/themes \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/iotbench/hostfs-template
	install -m 0755 iotbench $(DESTDIR)$(PREFIX)/bin/iotbench
	install -m 0644 themes/*.theme $(DESTDIR)$(PREFIX)/share/iotbench/themes/
	cp -R hostfs-template/. $(DESTDIR)$(PREFIX)/share/iotbench/hostfs-template/
	install -m 0644 docs/iotbench.1 $(DESTDIR)$(PREFIX)/share/man/man1/iotbench.1

VALGRIND_TESTS := $(patsubst %.c,build/rel/%,$(wildcard tests/unit/test_*.c))
valgrind: iotbench $(VALGRIND_TESTS)
	@IOTBENCH_BIN=$(CURDIR)/iotbench IOTBENCH_SRC=$(CURDIR) sh tests/valgrind.sh $(VALGRIND_TESTS)

clean:
	rm -rf build/rel build/asan iotbench

-include $(shell find build/rel build/asan -name '*.d' 2>/dev/null)
