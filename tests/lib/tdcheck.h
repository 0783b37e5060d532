/*
 * tdcheck.h - checks on a driven workbench's screen (tuidrive.h) for the
 * body of a TEST(): when one fails, the screen is printed, the workbench
 * stopped and the test ended with the reason. Each test file sets its own
 * timeouts on top (e.g. #define WAIT(t, text) TD_WAIT_TEXT(t, text, 5000)).
 */
#ifndef TEST_TDCHECK_H
#define TEST_TDCHECK_H

#include "tests/lib/harness.h"
#include "tests/lib/tuidrive.h"

#define TD_WAIT_TEXT(t, text, ms)                                                                  \
    do {                                                                                           \
        if (!td_wait_text((t), (text), (ms))) {                                                    \
            td_dump((t), "waiting for text");                                                      \
            td_free(t);                                                                            \
            CHECK_MSG(0, "\"%s\" never appeared", (text));                                         \
        }                                                                                          \
    } while (0)

#define TD_WAIT_GONE(t, text, ms)                                                                  \
    do {                                                                                           \
        if (!td_wait_gone((t), (text), (ms))) {                                                    \
            td_dump((t), "waiting for text to go");                                                \
            td_free(t);                                                                            \
            CHECK_MSG(0, "\"%s\" stayed", (text));                                                 \
        }                                                                                          \
    } while (0)

#define TD_CHECK(t, cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            td_dump((t), #cond);                                                                   \
            td_free(t);                                                                            \
            CHECK_MSG(0, "expected: %s", #cond);                                                   \
        }                                                                                          \
    } while (0)

#endif
