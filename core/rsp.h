/*
 * rsp.h - the GDB remote serial protocol: a packet codec and a client for
 * gdbserver and QEMU's gdbstub, on the event loop.
 *
 * The codec frames "$data#cs" (escaping $ # } * with '}'), and decodes a
 * byte stream into acks, packets and '%' notifications, verifying checksums
 * and expanding run-length encoding, with a bound on the decoded size. The
 * peer is a guest: everything it sends is checked, nothing trusted.
 *
 * The client connects over TCP (TCP_NODELAY: 44 ms -> 0.7 ms per round trip),
 * negotiates qSupported (PacketSize, multiprocess, qXfer:features:read),
 * turns acks off when the stub allows, and reads the target description to
 * learn where each register sits in the 'g' packet (ARM gdbserver has no 'p').
 * Requests go one at a time, in order; RSP has no ids, so a request that
 * gets no answer leaves the stream out of step and the client closes
 * (reconnect). Resuming ('c', 's', vCont) has no answer until the target
 * stops: meanwhile requests wait, and rsp_interrupt() sends the 0x03 byte.
 * Stop replies that nobody asked for (QEMU's T02 on connect) are kept as the
 * last stop and passed to the stop callback.
 *
 *     struct rsp *r = rsp_open(lp, "127.0.0.1", port, NULL, &err);
 *     rsp_read_registers(r, 1000, on_regs, pane);
 *     static void on_regs(struct rsp *r, const uint8_t *raw, size_t len,
 *                         const struct ib_error *err, void *arg)
 *     {
 *         struct rsp_arm_regs regs;
 *         if (err == NULL && rsp_regs_arm(r, raw, len, &regs, NULL) == 0)
 *             show_pc(arg, regs.r[15]);
 *     }
 *     rsp_set_breakpoint(r, 0x10548, RSP_BP_ARM, 1000, on_done, pane);
 *     rsp_continue(r, on_stop, pane);             // later: rsp_interrupt(r)
 *     rsp_detach(r, 0, 1000, on_done, pane);      // "D;pid" when multiprocess
 *     rsp_close(r);
 *
 *     struct rsp *r = rsp_connect("127.0.0.1", port, 2000, &err);   // blocking, CLI
 *     rsp_read_arm_registers_sync(r, 1000, &regs, &err);
 *     rsp_detach_sync(r, 1000, &err);
 *     rsp_close(r);
 *
 * Async callbacks run once, from the loop, never inside the call that
 * queued them, unless the client is closed first. The _sync forms run the
 * client's loop themselves: use them only outside loop callbacks.
 */
#ifndef IB_RSP_H
#define IB_RSP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "core/loop.h"

/* ---- codec ---- */

enum rsp_frame_kind {
    RSP_FRAME_NONE,   /* the input ran out before a frame completed */
    RSP_FRAME_ACK,    /* '+' */
    RSP_FRAME_NAK,    /* '-' */
    RSP_FRAME_PACKET, /* "$...#cs" with a good checksum */
    RSP_FRAME_NOTIFY, /* "%...#cs" with a good checksum */
    RSP_FRAME_BAD,    /* a packet that cannot be used: see why, too_long */
};

struct rsp_frame {
    enum rsp_frame_kind kind;
    const uint8_t *data; /* decoded payload, NUL-terminated; valid until the next feed */
    size_t len;
    bool too_long;       /* BAD: longer than the decoder's bound */
    const char *why;     /* BAD: what was wrong */
};

struct rsp_decoder {
    int state;
    bool notify, overflow;
    const char *bad;
    uint8_t *buf;
    size_t len, cap, max;
    uint8_t sum, hi;
};

void rsp_decoder_init(struct rsp_decoder *d, size_t max_packet);
void rsp_decoder_free(struct rsp_decoder *d);
/* Consumes input until one frame completes (or the input ends); returns the
 * number of bytes used. Call again with the rest. */
size_t rsp_decoder_feed(struct rsp_decoder *d, const uint8_t *in, size_t n, struct rsp_frame *f);

/* "$" + escaped data + "#" + checksum, malloc'd (not NUL-terminated). */
uint8_t *rsp_frame_encode(const void *data, size_t len, size_t *out_len);

/* ---- stop replies ---- */

enum rsp_stop_kind {
    RSP_STOP_SIGNAL,     /* S or T: stopped with a signal */
    RSP_STOP_EXITED,     /* W: exited with a status */
    RSP_STOP_TERMINATED, /* X: killed by a signal */
};

#define RSP_STOP_MAX_REGS 16

struct rsp_stop {
    enum rsp_stop_kind kind;
    int signal;          /* SIGNAL, TERMINATED (GDB's numbering: 5 is SIGTRAP) */
    int exit_code;       /* EXITED */
    long pid, tid;       /* thread:p<pid>.<tid> or process:<pid>; 0 unknown, -1 all */
    int core;            /* -1 when not given */
    char reason[16];     /* "swbreak", "hwbreak", "watch", "syscall_entry"... or "" */
    uint64_t reason_value; /* the watched address, the syscall number... */
    size_t n_regs;       /* expedited registers (target byte order) */
    struct {
        int regnum;
        size_t len;
        uint8_t bytes[16];
    } regs[RSP_STOP_MAX_REGS];
};

bool rsp_is_stop_reply(const uint8_t *pkt, size_t len);
int rsp_stop_parse(const uint8_t *pkt, size_t len, struct rsp_stop *out, struct ib_error *err);

/* ---- client ---- */

struct rsp;

struct rsp_opts {
    int connect_timeout_ms; /* connect and handshake; default 5000 */
    size_t max_packet;      /* decoded bytes we accept in one packet; default 256 KiB */
    bool keep_acks;         /* do not ask for QStartNoAckMode */
    bool big_endian;        /* target byte order for register values; default little */
};

struct rsp_reg {
    char name[32];
    int regnum;
    int bits;
    size_t offset; /* in the 'g' packet's bytes */
};

struct rsp_arm_regs {
    uint32_t r[16]; /* r13 sp, r14 lr, r15 pc */
    uint32_t cpsr;
};

/* Z0/z0 kinds on ARM: the breakpoint instruction's size. */
enum { RSP_BP_THUMB = 2, RSP_BP_THUMB2 = 3, RSP_BP_ARM = 4 };

typedef void (*rsp_reply_fn)(struct rsp *r, const uint8_t *reply, size_t len,
                             const struct ib_error *err, void *arg);
typedef void (*rsp_done_fn)(struct rsp *r, const struct ib_error *err, void *arg);
typedef void (*rsp_stop_fn)(struct rsp *r, const struct rsp_stop *stop,
                            const struct ib_error *err, void *arg);
/* Registers ('g' bytes) and memory: data NULL when err is set. */
typedef void (*rsp_data_fn)(struct rsp *r, const uint8_t *data, size_t len,
                            const struct ib_error *err, void *arg);
typedef void (*rsp_output_fn)(struct rsp *r, const uint8_t *data, size_t len, void *arg);

/* host is a numeric address ("127.0.0.1", "::1") or "localhost". */
struct rsp *rsp_open(struct loop *lp, const char *host, int port, const struct rsp_opts *o,
                     struct ib_error *err);
/* Over an already connected stream socket (tests, other transports). */
struct rsp *rsp_open_fd(struct loop *lp, int fd, const char *name, const struct rsp_opts *o);
void rsp_close(struct rsp *r);

bool rsp_ready(const struct rsp *r);   /* handshake done */
bool rsp_failed(const struct rsp *r, struct ib_error *err);
bool rsp_running(const struct rsp *r); /* resumed, no stop reply yet */
size_t rsp_packet_size(const struct rsp *r);
bool rsp_multiprocess(const struct rsp *r);
bool rsp_acks_off(const struct rsp *r);
/* A feature of the stub's qSupported reply: "qXfer:exec-file:read" -> "+",
 * "PacketSize" -> "3fff"; NULL when not listed. */
const char *rsp_feature(const struct rsp *r, const char *name);
/* From the target description ("arm"), or NULL. */
const char *rsp_architecture(const struct rsp *r);
size_t rsp_reg_count(const struct rsp *r);
const struct rsp_reg *rsp_reg_at(const struct rsp *r, size_t i);
const struct rsp_reg *rsp_reg_find(const struct rsp *r, const char *name);
/* The most recent stop reply (solicited or not); false when none came yet. */
bool rsp_last_stop(const struct rsp *r, struct rsp_stop *out);

void rsp_set_stop_fn(struct rsp *r, rsp_stop_fn fn, void *arg);      /* every stop */
void rsp_set_output_fn(struct rsp *r, rsp_output_fn fn, void *arg);  /* 'O' packets */

/* Any packet; resume packets (c, s, C, S, vCont;...) answer when the target
 * stops (timeout_ms < 0: no limit). Returns an id (> 0). */
long rsp_request(struct rsp *r, const char *packet, int timeout_ms, rsp_reply_fn cb, void *arg);
long rsp_request_bin(struct rsp *r, const void *packet, size_t len, int timeout_ms,
                     rsp_reply_fn cb, void *arg);
/* "" (unsupported) and "Exx" answers as errors naming what; else 0. */
int rsp_reply_check(const uint8_t *reply, size_t len, const char *what, struct ib_error *err);

long rsp_read_registers(struct rsp *r, int timeout_ms, rsp_data_fn cb, void *arg);
long rsp_write_registers(struct rsp *r, const uint8_t *raw, size_t len, int timeout_ms,
                         rsp_done_fn cb, void *arg);
/* Chunked to the packet size; a read that fails part-way returns the bytes
 * read so far (len shorter), an error only when nothing could be read. */
long rsp_read_memory(struct rsp *r, uint64_t addr, size_t len, int timeout_ms, rsp_data_fn cb,
                     void *arg);
long rsp_write_memory(struct rsp *r, uint64_t addr, const void *data, size_t len, int timeout_ms,
                      rsp_done_fn cb, void *arg);
long rsp_set_breakpoint(struct rsp *r, uint64_t addr, int kind, int timeout_ms, rsp_done_fn cb,
                        void *arg);
long rsp_clear_breakpoint(struct rsp *r, uint64_t addr, int kind, int timeout_ms,
                          rsp_done_fn cb, void *arg);
/* Resume; cb runs at the next stop (no time limit: see rsp_interrupt). */
long rsp_continue(struct rsp *r, rsp_stop_fn cb, void *arg);
long rsp_step(struct rsp *r, int timeout_ms, rsp_stop_fn cb, void *arg);
/* The next stop, or at once the last one if nobody has seen it yet.
 * A timeout ("target still running after N ms") leaves it running. */
long rsp_wait_stop(struct rsp *r, int timeout_ms, rsp_stop_fn cb, void *arg);
/* Sends 0x03 when the target runs (its stop reply ends the resume). */
int rsp_interrupt(struct rsp *r);
/* "D", or "D;pid" when multiprocess was negotiated (QEMU's gdbstub refuses
 * a plain D then): pid 0 means the one from the last stop reply or qC. */
long rsp_detach(struct rsp *r, long pid, int timeout_ms, rsp_done_fn cb, void *arg);

/* Register values out of 'g' bytes, at the offsets of the target
 * description (the classic ARM layout when the stub gave none). */
int rsp_regs_get(const struct rsp *r, const uint8_t *raw, size_t len, const char *name,
                 uint64_t *val, struct ib_error *err);
int rsp_regs_set(const struct rsp *r, uint8_t *raw, size_t len, const char *name, uint64_t val,
                 struct ib_error *err);
int rsp_regs_arm(const struct rsp *r, const uint8_t *raw, size_t len, struct rsp_arm_regs *out,
                 struct ib_error *err);
int rsp_regs_arm_store(const struct rsp *r, const struct rsp_arm_regs *in, uint8_t *raw,
                       size_t len, struct ib_error *err);

/* ---- blocking forms (own loop for rsp_connect; CLI and tests) ---- */

struct rsp *rsp_connect(const char *host, int port, int timeout_ms, struct ib_error *err);
/* Runs r's loop until the handshake is over. */
int rsp_wait_ready_sync(struct rsp *r, int timeout_ms, struct ib_error *err);
int rsp_request_sync(struct rsp *r, const char *packet, int timeout_ms, char **reply,
                     size_t *len, struct ib_error *err);
int rsp_read_registers_sync(struct rsp *r, int timeout_ms, uint8_t **raw, size_t *len,
                            struct ib_error *err);
int rsp_read_arm_registers_sync(struct rsp *r, int timeout_ms, struct rsp_arm_regs *regs,
                                struct ib_error *err);
int rsp_write_registers_sync(struct rsp *r, const uint8_t *raw, size_t len, int timeout_ms,
                             struct ib_error *err);
int rsp_read_memory_sync(struct rsp *r, uint64_t addr, void *buf, size_t len, int timeout_ms,
                         size_t *got, struct ib_error *err);
int rsp_write_memory_sync(struct rsp *r, uint64_t addr, const void *data, size_t len,
                          int timeout_ms, struct ib_error *err);
int rsp_set_breakpoint_sync(struct rsp *r, uint64_t addr, int kind, int timeout_ms,
                            struct ib_error *err);
int rsp_clear_breakpoint_sync(struct rsp *r, uint64_t addr, int kind, int timeout_ms,
                              struct ib_error *err);
/* Resume and wait at most timeout_ms: IB_ETIMEOUT leaves the target running. */
int rsp_continue_sync(struct rsp *r, int timeout_ms, struct rsp_stop *stop,
                      struct ib_error *err);
int rsp_step_sync(struct rsp *r, int timeout_ms, struct rsp_stop *stop, struct ib_error *err);
int rsp_wait_stop_sync(struct rsp *r, int timeout_ms, struct rsp_stop *stop,
                       struct ib_error *err);
int rsp_detach_sync(struct rsp *r, int timeout_ms, struct ib_error *err);

#endif
