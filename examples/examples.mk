# examples.mk - the example programs of the C API (core/iotbench.h).
#
# Included by the Makefile after its variables (`-include examples/examples.mk`),
# or used beside it:   make -f Makefile -f examples/examples.mk examples
#
#   build/examples/NAME        optimised, against build/rel/libiotbench.a
#   build/asan/examples/NAME   with AddressSanitizer + UBSan (what the tests run)
ifndef IOTBENCH_EXAMPLES_MK
IOTBENCH_EXAMPLES_MK := 1

EXAMPLES_SRC := $(wildcard examples/*.c)
EXAMPLES_REL := $(patsubst examples/%.c,build/examples/%,$(EXAMPLES_SRC))
EXAMPLES_ASAN := $(patsubst examples/%.c,build/asan/examples/%,$(EXAMPLES_SRC))

build/examples/%: examples/%.c $(REL_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(REL_CFLAGS) -o $@ $< $(REL_CORE) $(LDLIBS_ALL)

build/asan/examples/%: examples/%.c $(ASAN_CORE)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(ASAN_CFLAGS) -o $@ $< $(ASAN_CORE) $(LDLIBS_ALL)

.PHONY: examples
examples: $(EXAMPLES_REL) $(EXAMPLES_ASAN)

endif
