/*
 * test_fuzz_regressions.c - the fuzz targets' inputs, run under the test
 * suite's ASan and UBSan (gcc) through the very entry points libFuzzer
 * calls: every tests/fuzz/regressions/<target>/ file (each a crash or
 * broken promise once found, now fixed: it must stay fixed), and the
 * committed seed corpus tests/fuzz/corpus/<target>/ as a smoke test.
 *
 * A target's oracle failing aborts this binary (the runner reports it);
 * after each target, the heap is checked for leaks. When `make fuzz-build`
 * made the clang fuzzers, the same files go through them too: clang's
 * UBSan also checks float-to-integer conversions, which gcc's does not.
 * How an input gets here: tests/fuzz/README.md.
 */
#define FUZZ_REGRESSION
#include "tests/fuzz/fuzz_config.c"
#include "tests/fuzz/fuzz_guestproc.c"
#include "tests/fuzz/fuzz_manifest.c"
#include "tests/fuzz/fuzz_package.c"
#include "tests/fuzz/fuzz_qga.c"
#include "tests/fuzz/fuzz_qmp.c"
#include "tests/fuzz/fuzz_rsp.c"
#include "tests/fuzz/fuzz_symbols.c"
#include "tests/fuzz/fuzz_termfilter.c"
#include "tests/fuzz/fuzz_termview.c"

#include <dirent.h>

#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define FREG_LEAKS() __lsan_do_recoverable_leak_check()
#else
#define FREG_LEAKS() 0
#endif

typedef int (*freg_entry)(const uint8_t *data, size_t size);

static int freg_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every file of <src>/tests/fuzz/<kind>/<target>/ through fn, in name
 * order; returns how many ran. */
static int freg_run_dir(const char *kind, const char *target, freg_entry fn)
{
    char *dir = xasprintf("%s/tests/fuzz/%s/%s", test_src_dir(), kind, target);
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        names = xrealloc(names, (n + 1) * sizeof *names);
        names[n++] = xstrdup(e->d_name);
    }
    if (d)
        closedir(d);
    if (n > 1)
        qsort(names, n, sizeof *names, freg_cmp);
    for (size_t i = 0; i < n; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]);
        char *data = NULL;
        size_t len = 0;
        struct ib_error err = {0};
        if (ib_read_file(path, 16u << 20, &data, &len, &err) < 0) {
            test_fail(__FILE__, __LINE__, "%s", err.msg);
        } else {
            fn((const uint8_t *)data, len);
            free(data);
        }
        free(path);
        free(names[i]);
    }
    free(names);
    free(dir);
    return (int)n;
}

/* Both folders through build/fuzz/fuzz_<target>, if it was built. */
static void freg_clang(const char *target)
{
    char *bin = xasprintf("%s/build/fuzz/fuzz_%s", test_src_dir(), target);
    char *corpus = xasprintf("%s/tests/fuzz/corpus/%s", test_src_dir(), target);
    char *regressions = xasprintf("%s/tests/fuzz/regressions/%s", test_src_dir(), target);
    if (access(bin, X_OK) == 0) {
        char *argv[] = {
            bin, "-runs=0", "-timeout=20", corpus, ib_path_is_dir(regressions) ? regressions : NULL,
            NULL};
        struct cmd_result r;
        cmd_run(argv, NULL, NULL, 300, &r);
        if (r.status != 0) {
            const char *why = strstr(r.err, "runtime error");
            if (why == NULL)
                why = strstr(r.err, "ERROR");
            test_fail(__FILE__, __LINE__, "%s (clang build) fails: %.300s", bin, why ? why : r.err);
        }
        cmd_result_free(&r);
    }
    free(bin);
    free(corpus);
    free(regressions);
}

/* Both folders of a target; the corpus must not be empty. */
static void freg_target(const char *target, freg_entry fn)
{
    int seeds = freg_run_dir("corpus", target, fn);
    freg_run_dir("regressions", target, fn);
    if (seeds == 0)
        test_fail(__FILE__, __LINE__, "tests/fuzz/corpus/%s/ is empty or missing", target);
    if (FREG_LEAKS() != 0)
        test_fail(__FILE__, __LINE__, "the %s inputs leaked memory (see the report above)", target);
    freg_clang(target);
}

TEST(fuzz_inputs_config)
{
    freg_target("config", fuzz_config);
}

TEST(fuzz_inputs_guestproc)
{
    freg_target("guestproc", fuzz_guestproc);
}

TEST(fuzz_inputs_manifest)
{
    freg_target("manifest", fuzz_manifest);
}

TEST(fuzz_inputs_package)
{
    freg_target("package", fuzz_package);
}

TEST(fuzz_inputs_qga)
{
    freg_target("qga", fuzz_qga);
}

TEST(fuzz_inputs_qmp)
{
    freg_target("qmp", fuzz_qmp);
}

TEST(fuzz_inputs_rsp)
{
    freg_target("rsp", fuzz_rsp);
}

TEST(fuzz_inputs_symbols)
{
    freg_target("symbols", fuzz_symbols);
}

TEST(fuzz_inputs_termfilter)
{
    freg_target("termfilter", fuzz_termfilter);
}

TEST(fuzz_inputs_termview)
{
    freg_target("termview", fuzz_termview);
}

/* Inputs written here rather than found: the promises the harnesses check
 * hold on the edges too. */
TEST(fuzz_edges_empty_and_tiny_inputs)
{
    freg_entry all[] = {fuzz_config, fuzz_guestproc, fuzz_manifest, fuzz_package,    fuzz_qga,
                        fuzz_qmp,    fuzz_rsp,       fuzz_symbols,  fuzz_termfilter, fuzz_termview};
    const char *inputs[] = {"", "\n", ">", "<", "!", "close", "\xff\xfe", "$#"};
    for (size_t i = 0; i < IB_ARRAY_LEN(all); i++)
        for (size_t k = 0; k < IB_ARRAY_LEN(inputs); k++)
            all[i]((const uint8_t *)inputs[k], strlen(inputs[k]));
    CHECK(FREG_LEAKS() == 0);
}
