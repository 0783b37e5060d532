/*
 * harness.h - the project's small test framework.
 *
 * Each tests/<suite>/test_*.c file is one binary. Tests register themselves
 * with TEST(name); main() (in harness.c) runs them all, or those named on
 * the command line, and ends with the line "N passed, N failed" that
 * tests/run adds up. A CHECK that fails marks the test failed and returns
 * from it; its message says what was expected and what came instead.
 *
 *     TEST(names_reject_dotdot) {
 *         CHECK(names_validate("..", "kernel", &err) < 0);
 *         CHECK_CONTAINS(err.msg, "..");
 *     }
 */
#ifndef TEST_HARNESS_H
#define TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

typedef void (*test_fn)(void);
void test_register(const char *name, test_fn fn);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool test_failed(void);

#define TEST(name)                                                                \
    static void name(void);                                                       \
    __attribute__((constructor)) static void register_##name(void)                \
    {                                                                             \
        test_register(#name, name);                                               \
    }                                                                             \
    static void name(void)

#define CHECK(cond)                                                               \
    do {                                                                          \
        if (!(cond)) {                                                            \
            test_fail(__FILE__, __LINE__, "expected: %s", #cond);                 \
            return;                                                               \
        }                                                                         \
    } while (0)

#define CHECK_MSG(cond, ...)                                                      \
    do {                                                                          \
        if (!(cond)) {                                                            \
            test_fail(__FILE__, __LINE__, __VA_ARGS__);                           \
            return;                                                               \
        }                                                                         \
    } while (0)

#define CHECK_INT(a, b)                                                           \
    do {                                                                          \
        long long va_ = (long long)(a), vb_ = (long long)(b);                     \
        if (va_ != vb_) {                                                         \
            test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a,  \
                      va_, #b, vb_);                                              \
            return;                                                               \
        }                                                                         \
    } while (0)

#define CHECK_STR(a, b)                                                           \
    do {                                                                          \
        const char *sa_ = (a), *sb_ = (b);                                        \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0) {                \
            test_fail(__FILE__, __LINE__, "%s is \"%.600s\", expected \"%.600s\"", #a,\
                      sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                \
            return;                                                               \
        }                                                                         \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                               \
    do {                                                                          \
        const char *h_ = (hay), *n_ = (needle);                                   \
        if (h_ == NULL || strstr(h_, n_) == NULL) {                               \
            test_fail(__FILE__, __LINE__, "%s does not contain \"%s\"; it is: %.1500s", \
                      #hay, n_, h_ ? h_ : "(null)");                              \
            return;                                                               \
        }                                                                         \
    } while (0)

#define CHECK_NOT_CONTAINS(hay, needle)                                           \
    do {                                                                          \
        const char *h_ = (hay), *n_ = (needle);                                   \
        if (h_ != NULL && strstr(h_, n_) != NULL) {                               \
            test_fail(__FILE__, __LINE__, "%s contains \"%s\"; it is: %.1500s",   \
                      #hay, n_, h_);                                              \
            return;                                                               \
        }                                                                         \
    } while (0)

/* A fresh directory under $TMPDIR (or /tmp), removed when the binary ends
 * unless IB_KEEP_TMP is set. */
const char *test_tmpdir(void);
/* Joins the test's temporary directory and a name (static buffer ring). */
const char *test_path(const char *name);

/* Called at exit and when a test times out: tests that start QEMU register
 * their clean-up here so nothing outlives the run. */
void test_on_exit(void (*fn)(void));

/* Per-test time limit in seconds (default 120), for tests that boot guests. */
void test_set_timeout(int seconds);

/* The repository root (IOTBENCH_SRC or the current directory). */
const char *test_src_dir(void);

/* Writes a file (creating parents), aborting the test binary on failure. */
void test_write_file(const char *path, const char *content);
char *test_read_file(const char *path);

#endif
