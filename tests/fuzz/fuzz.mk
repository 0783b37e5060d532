# tests/fuzz/fuzz.mk - libFuzzer targets for every parser that reads bytes
# someone else controls (see tests/fuzz/README.md). Included by the Makefile;
# also works alone: make -f tests/fuzz/fuzz.mk fuzz-smoke
#
#   make fuzz                every target for FUZZ_SECONDS (default 60) each
#   make fuzz-smoke          20 s each, from the committed corpus, seed 1 (CI)
#   make fuzz-build          only build build/fuzz/fuzz_<target>
#   make fuzz-run-TARGET     one target, e.g. make fuzz-run-qmp FUZZ_SECONDS=600
#   make fuzz-regress        every saved input once through the fuzz build (clang's
#                            UBSan checks float-to-integer conversions, gcc's does not)
#   make fuzz-clean
#
# Built with clang (libFuzzer, ASan, UBSan) into build/fuzz/. New inputs go
# to build/fuzz/corpus/<target>/, crashes to build/fuzz/crashes/<target>/;
# the committed seeds in tests/fuzz/corpus/<target>/ are only read.

FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_ARGS ?=
# 0 = a new random seed each run (exploration). The CI smoke fixes it so a
# red CI replays the same inputs on a developer's machine; new bugs are
# found by `make fuzz`, not by chance in somebody's pull request.
FUZZ_SEED ?= 0
FUZZ_TARGETS := config qmp qga rsp termfilter termview package manifest guestproc symbols

FUZZ_PKGS := ncursesw vterm yaml-0.1 jansson libarchive capstone libelf libcrypto
FUZZ_PKG_CFLAGS = $(shell pkg-config --cflags $(FUZZ_PKGS) 2>/dev/null)
FUZZ_PKG_LIBS = $(shell pkg-config --libs $(FUZZ_PKGS) 2>/dev/null)
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -I. -MMD -MP $(FUZZ_PKG_CFLAGS) \
              -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link

FUZZ_CORE_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(wildcard core/*.c))
FUZZ_WIDGETS_OBJ := $(patsubst %.c,build/fuzz/obj/%.o,$(wildcard widgets/*.c))
FUZZ_BINS := $(addprefix build/fuzz/fuzz_,$(FUZZ_TARGETS))

# Per target: longest input, and a dictionary when there is one.
FUZZ_MAXLEN_package := 262144
FUZZ_MAXLEN_termview := 65536
FUZZ_MAXLEN_termfilter := 65536
FUZZ_MAXLEN_rsp := 65536
FUZZ_MAXLEN_qmp := 32768
FUZZ_MAXLEN_qga := 32768
FUZZ_MAXLEN_config := 16384
FUZZ_MAXLEN_manifest := 16384
FUZZ_MAXLEN_guestproc := 65536
FUZZ_MAXLEN_symbols := 65536

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-regress fuzz-clean $(addprefix fuzz-run-,$(FUZZ_TARGETS))

fuzz-build: $(FUZZ_BINS)

# .PRECIOUS, not .SECONDARY: a .SECONDARY with targets would end the
# Makefile's bare .SECONDARY (every target kept), and make would delete
# the test library's objects after `make test`, printing after its last line.
.PRECIOUS: $(patsubst %,build/fuzz/obj/tests/fuzz/fuzz_%.o,$(FUZZ_TARGETS))

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

build/fuzz/libiotbench.a: $(FUZZ_CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/libwidgets.a: $(FUZZ_WIDGETS_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o build/fuzz/libwidgets.a build/fuzz/libiotbench.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(FUZZ_PKG_LIBS) -lutil -lm

# $(1) target, $(2) seconds. A crash ends that target's run (its input is in
# build/fuzz/crashes/$(1)/) and marks the whole run failed; the others go on.
define fuzz_run
	mkdir -p build/fuzz/corpus/$(1) build/fuzz/crashes/$(1); \
	echo "== fuzz $(1) ($(2) s)"; \
	if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  build/fuzz/fuzz_$(1) -max_total_time=$(2) -timeout=10 -rss_limit_mb=4096 \
	  -max_len=$(FUZZ_MAXLEN_$(1)) -use_value_profile=1 -print_final_stats=1 -seed=$(FUZZ_SEED) \
	  $(if $(wildcard tests/fuzz/$(1).dict),-dict=tests/fuzz/$(1).dict) \
	  -artifact_prefix=build/fuzz/crashes/$(1)/ $(FUZZ_ARGS) \
	  build/fuzz/corpus/$(1) tests/fuzz/corpus/$(1) > build/fuzz/$(1).log 2>&1; \
	then :; else failed="$$failed $(1)"; fi; \
	grep -E '^#[0-9]+ +DONE|^stat::number_of_executed_units|ERROR|runtime error|fuzz oracle|Test unit written' \
	  build/fuzz/$(1).log | head -n 12;
endef

fuzz: $(FUZZ_BINS)
	@failed=""; $(foreach t,$(FUZZ_TARGETS),$(call fuzz_run,$(t),$(FUZZ_SECONDS))) \
	if [ -n "$$failed" ]; then \
	  echo "fuzz: crashes in:$$failed (inputs under build/fuzz/crashes/)"; exit 1; fi; \
	echo "fuzz: $(words $(FUZZ_TARGETS)) targets, no crash"

fuzz-smoke:
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) fuzz FUZZ_SECONDS=20 FUZZ_SEED=1

$(addprefix fuzz-run-,$(FUZZ_TARGETS)): fuzz-run-%: build/fuzz/fuzz_%
	@failed=""; $(call fuzz_run,$*,$(FUZZ_SECONDS)) \
	if [ -n "$$failed" ]; then echo "fuzz: $* crashed (build/fuzz/crashes/$*/)"; exit 1; fi

# Seeds and fixed crashes must pass; tests/fuzz/found/ (known, unfixed) is
# only counted.
fuzz-regress: $(FUZZ_BINS)
	@failed=""; known=0; \
	for t in $(FUZZ_TARGETS); do \
	  dirs=""; for d in corpus regressions; do \
	    [ -d tests/fuzz/$$d/$$t ] && dirs="$$dirs tests/fuzz/$$d/$$t"; done; \
	  build/fuzz/fuzz_$$t -runs=0 $$dirs > build/fuzz/$$t-regress.log 2>&1 || failed="$$failed $$t"; \
	  for f in tests/fuzz/found/$$t/*; do [ -f "$$f" ] || continue; \
	    build/fuzz/fuzz_$$t -timeout=10 "$$f" > /dev/null 2>&1 || known=$$((known + 1)); done; \
	done; \
	echo "fuzz-regress: $$known known bug input(s) in tests/fuzz/found/ still fail"; \
	if [ -n "$$failed" ]; then echo "fuzz-regress: FAILED:$$failed (build/fuzz/<t>-regress.log)"; \
	  exit 1; fi; echo "fuzz-regress: every seed and regression passes"

fuzz-clean:
	rm -rf build/fuzz

-include $(shell find build/fuzz -name '*.d' 2>/dev/null)
