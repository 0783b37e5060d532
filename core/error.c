/* error.c - filling struct ib_error; see error.h. */
#include "core/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int ib_err(struct ib_error *err, int status, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->status = status;
    return -1;
}

int ib_err_sys(struct ib_error *err, int status, const char *fmt, ...)
{
    int saved = errno;
    if (err == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", strerror(saved));
    err->status = status;
    errno = saved;
    return -1;
}

int ib_err_prefix(struct ib_error *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t np = strnlen(prefix, sizeof prefix);
    size_t no = strnlen(old, sizeof old - 1);
    if (np + no >= sizeof err->msg)
        no = sizeof err->msg - 1 - np;
    memcpy(err->msg, prefix, np);
    memcpy(err->msg + np, old, no);
    err->msg[np + no] = '\0';
    if (err->status == 0)
        err->status = IB_EFAIL;
    return -1;
}

void ib_err_clear(struct ib_error *err)
{
    if (err != NULL) {
        err->status = 0;
        err->msg[0] = '\0';
    }
}
