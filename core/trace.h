/*
 * trace.h - timestamps of the steps of slow operations (starts, restores,
 * saves), for finding where the time goes: set IOTBENCH_TRACE=1 (stderr)
 * or IOTBENCH_TRACE=/path/file. Off, it costs one getenv per process.
 */
#ifndef IB_TRACE_H
#define IB_TRACE_H

void ib_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
