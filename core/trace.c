/* trace.c - see trace.h. */
#include "core/trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void ib_trace(const char *fmt, ...)
{
    static int state; /* 0 unknown, 1 off, 2 on */
    static FILE *out;
    static int64_t t0;
    if (state == 0) {
        const char *where = getenv("IOTBENCH_TRACE");
        state = where && *where ? 2 : 1;
        if (state == 2) {
            out = strcmp(where, "1") == 0 ? stderr : fopen(where, "a");
            if (out == NULL)
                state = 1;
            t0 = ib_now_ms();
        }
    }
    if (state != 2)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(out, "[trace %6lld ms] ", (long long)(ib_now_ms() - t0));
    vfprintf(out, fmt, ap);
    fputc('\n', out);
    fflush(out);
    va_end(ap);
}
