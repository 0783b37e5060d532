/* test_rsp.c - the GDB remote protocol codec, stop replies, and the client
 * against transcripts (one recorded from QEMU's gdbstub) played by a
 * scripted peer. */
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/rsp.h"
#include "core/util.h"
#include "tests/lib/harness.h"
#include "tests/lib/peer.h"

/* ---- a scripted peer --------------------------------------------------
 * A forked child plays the stub's side of a transcript:
 *   "> BYTES"    send BYTES (\xNN: a raw byte)
 *   ">P PAYLOAD" send "$PAYLOAD#cs" (escaped, checksum computed here)
 *   "< BYTES"    the client must send exactly BYTES next
 *   "<P PAYLOAD" the client must send exactly "$PAYLOAD#cs"
 *   "sleep MS", "close", "hold" (until the client hangs up)
 * It exits 0 when the client sent exactly what the transcript says. */

static size_t unescape(const char *in, char *out)
{
    size_t n = 0;
    while (*in) {
        unsigned v;
        if (in[0] == '\\' && in[1] == 'x' && sscanf(in + 2, "%2x", &v) == 1) {
            out[n++] = (char)v;
            in += 4;
        } else {
            out[n++] = *in++;
        }
    }
    return n;
}

/* Framing written apart from core/rsp.c, so the two check each other. */
static size_t frame(const char *payload, size_t len, char *out)
{
    size_t n = 0;
    unsigned sum = 0;
    out[n++] = '$';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)payload[i];
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            out[n++] = '}';
            sum += '}';
            c ^= 0x20;
        }
        out[n++] = (char)c;
        sum += c;
    }
    return n + (size_t)sprintf(out + n, "#%02x", sum & 0xff);
}

static bool read_exact(int fd, char *buf, size_t len)
{
    for (size_t n = 0; n < len;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            return false;
        ssize_t r = read(fd, buf + n, len - n);
        if (r <= 0)
            return false;
        n += (size_t)r;
    }
    return true;
}

static int byte_peer_play(int fd, const char *script)
{
    static char line[1 << 17], raw[1 << 17], want[1 << 18], got[1 << 18];
    const char *p = script;
    for (int lineno = 1; *p; lineno++) {
        size_t len = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        p += len + (p[len] == '\n');
        if (line[0] == '#' || line[0] == '\0')
            continue;
        bool framed = line[1] == 'P';
        size_t n = unescape(line + (framed ? 3 : 2), raw);
        size_t wn = framed ? frame(raw, n, want) : (memcpy(want, raw, n), n);
        if (line[0] == '>') {
            if (write(fd, want, wn) != (ssize_t)wn)
                return 2;
        } else if (line[0] == '<') {
            if (!read_exact(fd, got, wn) || memcmp(got, want, wn) != 0) {
                fprintf(stderr, "peer: line %d: expected %.*s\n  got %.*s\n", lineno, (int)wn,
                        want, (int)wn, got);
                return 2;
            }
        } else if (strncmp(line, "sleep ", 6) == 0) {
            usleep((useconds_t)atoi(line + 6) * 1000);
        } else if (strcmp(line, "close") == 0) {
            return 0;
        } else if (strcmp(line, "hold") == 0) {
            char c;
            struct pollfd pf = {fd, POLLIN, 0};
            while (poll(&pf, 1, 10000) > 0 && read(fd, &c, 1) > 0)
                ;
            return 0;
        }
    }
    return 0;
}

static pid_t byte_peer_start(const char *script, int *client_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(byte_peer_play(sv[1], script));
    }
    close(sv[1]);
    *client_fd = sv[0];
    return pid;
}

/* A loopback TCP listener; the child plays script for one client. */
static pid_t peer_tcp(const char *script, int *port)
{
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0)
        abort();
    *port = ntohs(sa.sin_port);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = accept(lfd, NULL, NULL);
        _exit(fd < 0 ? 2 : byte_peer_play(fd, script));
    }
    close(lfd);
    return pid;
}

/* peer_wait() and transcript() come from tests/lib/peer.h. */
/* ---- end of the scripted peer ---- */

/* Feeds all of in to a decoder; collects the frames. */
struct frames {
    size_t n;
    struct {
        enum rsp_frame_kind kind;
        char data[4096];
        size_t len;
        bool too_long;
        char why[64];
    } f[16];
};

static void decode_all(struct rsp_decoder *d, const char *in, size_t len, struct frames *out,
                       bool byte_at_a_time)
{
    size_t off = 0;
    while (off < len) {
        struct rsp_frame f;
        size_t chunk = byte_at_a_time ? 1 : len - off;
        size_t used = rsp_decoder_feed(d, (const uint8_t *)in + off, chunk, &f);
        off += used;
        if (f.kind != RSP_FRAME_NONE && out->n < 16) {
            out->f[out->n].kind = f.kind;
            out->f[out->n].len = f.len;
            if (f.data != NULL)
                memcpy(out->f[out->n].data, f.data, f.len < 4096 ? f.len : 4096);
            out->f[out->n].too_long = f.too_long;
            snprintf(out->f[out->n].why, 64, "%s", f.why ? f.why : "");
            out->n++;
        }
    }
}

static void decode_str(const char *in, struct frames *out)
{
    struct rsp_decoder d;
    rsp_decoder_init(&d, 4096);
    memset(out, 0, sizeof *out);
    decode_all(&d, in, strlen(in), out, false);
    rsp_decoder_free(&d);
}

TEST(rsp_encode_escapes_the_four_special_bytes)
{
    size_t n;
    uint8_t *f = rsp_frame_encode("a$b#c}d*e", 9, &n);
    /* $ # } * become } followed by the byte xor 0x20: $->\x04 #->\x03 }->] *->\x0a. */
    const char body[] = "a}\x04" "b}\x03" "c}]d}\x0a" "e";
    unsigned sum = 0;
    for (size_t i = 0; i < sizeof body - 1; i++)
        sum += (unsigned char)body[i];
    char want[64];
    int wn = snprintf(want, sizeof want, "$%s#%02x", body, sum & 0xff);
    CHECK_INT(n, wn);
    CHECK(memcmp(f, want, n) == 0);
    struct frames out;
    struct rsp_decoder d;
    rsp_decoder_init(&d, 4096);
    memset(&out, 0, sizeof out);
    decode_all(&d, (const char *)f, n, &out, false);
    rsp_decoder_free(&d);
    free(f);
    CHECK_INT(out.n, 1);
    CHECK_INT(out.f[0].kind, RSP_FRAME_PACKET);
    CHECK_INT(out.f[0].len, 9);
    CHECK(memcmp(out.f[0].data, "a$b#c}d*e", 9) == 0);
}

TEST(rsp_codec_is_binary_safe_and_byte_at_a_time)
{
    uint8_t payload[256];
    for (int i = 0; i < 256; i++)
        payload[i] = (uint8_t)i;
    size_t n;
    uint8_t *f = rsp_frame_encode(payload, sizeof payload, &n);
    struct frames out = {0};
    struct rsp_decoder d;
    rsp_decoder_init(&d, 4096);
    decode_all(&d, (const char *)f, n, &out, true);
    rsp_decoder_free(&d);
    free(f);
    CHECK_INT(out.n, 1);
    CHECK_INT(out.f[0].kind, RSP_FRAME_PACKET);
    CHECK_INT(out.f[0].len, 256);
    CHECK(memcmp(out.f[0].data, payload, 256) == 0);
}

TEST(rsp_decode_run_length)
{
    struct frames out;
    /* The GDB manual's example: "0* " is "0000" (' ' = 32 = 3 + 29). */
    decode_str("$0* #7a", &out);
    CHECK_INT(out.n, 1);
    CHECK_INT(out.f[0].kind, RSP_FRAME_PACKET);
    CHECK_STR(out.f[0].data, "0000");
    /* '"' is 34: five more, and runs may follow each other. */
    decode_str("$a*\"b*!#00", &out);
    CHECK_INT(out.n, 1);
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD); /* checksum 00 is wrong... */
    unsigned sum = 'a' + '*' + '"' + 'b' + '*' + '!';
    char pkt[32];
    snprintf(pkt, sizeof pkt, "$a*\"b*!#%02x", sum & 0xff);
    decode_str(pkt, &out); /* ...this one is right */
    CHECK_INT(out.f[0].kind, RSP_FRAME_PACKET);
    CHECK_STR(out.f[0].data, "aaaaaabbbbb");
}

TEST(rsp_decode_rejects_bad_run_lengths)
{
    struct frames out;
    decode_str("$*a#0b", &out); /* nothing to repeat */
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD);
    CHECK_STR(out.f[0].why, "run length with nothing to repeat");
    char pkt[16];
    unsigned sum = 'a' + '*' + 0x10;
    snprintf(pkt, sizeof pkt, "$a*\x10#%02x", sum & 0xff);
    decode_str(pkt, &out);
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD);
    CHECK_STR(out.f[0].why, "bad run length");
}

TEST(rsp_decode_acks_notifications_and_noise)
{
    struct frames out;
    unsigned sum = 0;
    for (const char *s = "Stop:T05"; *s; s++)
        sum += (unsigned char)*s;
    char in[64];
    snprintf(in, sizeof in, "+-garbage%%Stop:T05#%02x$OK#9a", sum & 0xff);
    decode_str(in, &out);
    CHECK_INT(out.n, 4);
    CHECK_INT(out.f[0].kind, RSP_FRAME_ACK);
    CHECK_INT(out.f[1].kind, RSP_FRAME_NAK);
    CHECK_INT(out.f[2].kind, RSP_FRAME_NOTIFY);
    CHECK_STR(out.f[2].data, "Stop:T05");
    CHECK_INT(out.f[3].kind, RSP_FRAME_PACKET);
    CHECK_STR(out.f[3].data, "OK");
}

TEST(rsp_decode_bad_checksum_and_truncated_packets)
{
    struct frames out;
    decode_str("$OK#9b", &out);
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD);
    CHECK_STR(out.f[0].why, "bad checksum");
    decode_str("$OK#zz", &out);
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD);
    CHECK_STR(out.f[0].why, "checksum is not hex");
    /* A packet cut short by a new one: the old is reported, the new kept. */
    decode_str("$m1234$OK#9a", &out);
    CHECK_INT(out.n, 2);
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD);
    CHECK_STR(out.f[0].why, "truncated packet");
    CHECK_INT(out.f[1].kind, RSP_FRAME_PACKET);
    CHECK_STR(out.f[1].data, "OK");
    /* '%' inside a packet is data (binary payloads do not escape it). */
    decode_str("$%#25", &out);
    CHECK_INT(out.f[0].kind, RSP_FRAME_PACKET);
    CHECK_STR(out.f[0].data, "%");
    /* A lone escape at the end. */
    decode_str("$a}#dE", &out);
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD);
}

TEST(rsp_decode_bounds_packet_size_even_through_run_length)
{
    struct rsp_decoder d;
    rsp_decoder_init(&d, 100);
    struct frames out = {0};
    char in[400];
    size_t n = 0;
    unsigned sum = 0;
    in[n++] = '$';
    for (int i = 0; i < 50; i++) { /* 50 x "a*~" = 50 x 98 bytes decoded */
        in[n++] = 'a', in[n++] = '*', in[n++] = '~';
        sum += 'a' + '*' + '~';
    }
    n += (size_t)sprintf(in + n, "#%02x$OK#9a", sum & 0xff);
    decode_all(&d, in, n, &out, false);
    rsp_decoder_free(&d);
    CHECK_INT(out.n, 2);
    CHECK_INT(out.f[0].kind, RSP_FRAME_BAD);
    CHECK(out.f[0].too_long);
    CHECK_INT(out.f[1].kind, RSP_FRAME_PACKET); /* and the stream goes on */
}

static int stop_of(const char *s, struct rsp_stop *st)
{
    return rsp_stop_parse((const uint8_t *)s, strlen(s), st, NULL);
}

TEST(rsp_stop_replies_of_every_kind)
{
    struct rsp_stop st;
    CHECK_INT(stop_of("S05", &st), 0);
    CHECK_INT(st.kind, RSP_STOP_SIGNAL);
    CHECK_INT(st.signal, 5);

    CHECK_INT(stop_of("T05swbreak:;0f:54050100;0d:f0ecffbe;thread:p1f4.1f5;core:1;", &st), 0);
    CHECK_INT(st.signal, 5);
    CHECK_STR(st.reason, "swbreak");
    CHECK_INT(st.pid, 0x1f4);
    CHECK_INT(st.tid, 0x1f5);
    CHECK_INT(st.core, 1);
    CHECK_INT(st.n_regs, 2);
    CHECK_INT(st.regs[0].regnum, 15);
    CHECK_INT(st.regs[0].len, 4);
    CHECK(memcmp(st.regs[0].bytes, "\x54\x05\x01\x00", 4) == 0);

    CHECK_INT(stop_of("T02thread:01;", &st), 0);
    CHECK_INT(st.pid, 0);
    CHECK_INT(st.tid, 1);

    CHECK_INT(stop_of("T05watch:00021000;thread:p-1.-1;0f:xxxxxxxx;unknownthing:zz;", &st), 0);
    CHECK_STR(st.reason, "watch");
    CHECK_INT(st.reason_value, 0x21000);
    CHECK_INT(st.pid, -1);
    CHECK_INT(st.tid, -1);
    CHECK(memcmp(st.regs[0].bytes, "\0\0\0\0", 4) == 0);

    CHECK_INT(stop_of("T05syscall_entry:7;", &st), 0);
    CHECK_STR(st.reason, "syscall_entry");
    CHECK_INT(st.reason_value, 7);

    CHECK_INT(stop_of("W01;process:1f4", &st), 0);
    CHECK_INT(st.kind, RSP_STOP_EXITED);
    CHECK_INT(st.exit_code, 1);
    CHECK_INT(st.pid, 0x1f4);

    CHECK_INT(stop_of("X09", &st), 0);
    CHECK_INT(st.kind, RSP_STOP_TERMINATED);
    CHECK_INT(st.signal, 9);
}

TEST(rsp_stop_parser_rejects_garbage)
{
    struct rsp_stop st;
    const char *bad[] = {"", "T", "T5", "Tzz", "S0", "OK", "E01", "W", "T05thread:pzz.1;",
                         "T05thread:;", "T050f:123;", "T050f:00112233445566778899aabbccddeeff00;"};
    for (size_t i = 0; i < IB_ARRAY_LEN(bad); i++)
        CHECK_MSG(stop_of(bad[i], &st) < 0, "\"%s\" accepted", bad[i]);
    /* qTStatus answers look a little like T packets but are not stops. */
    CHECK(!rsp_is_stop_reply((const uint8_t *)"T0;tnotrun:0", 12));
    CHECK(rsp_is_stop_reply((const uint8_t *)"T05", 3));
}

/* ---- client ---- */

struct seen {
    bool done;
    int calls;
    char reply[8192];
    size_t len;
    struct ib_error err;
    bool failed;
};

static void on_reply(struct rsp *r, const uint8_t *reply, size_t len, const struct ib_error *err,
                     void *arg)
{
    (void)r;
    struct seen *s = arg;
    s->done = true;
    s->calls++;
    s->failed = err != NULL;
    if (err)
        s->err = *err;
    s->len = len < sizeof s->reply - 1 ? len : sizeof s->reply - 1;
    if (reply)
        memcpy(s->reply, reply, s->len);
    s->reply[s->len] = '\0';
}

struct fixture {
    struct loop *lp;
    struct rsp *r;
    pid_t peer;
    char *script;
};

static void fixture_start(struct fixture *f, const char *script, const struct rsp_opts *o)
{
    int fd;
    f->lp = loop_new();
    f->script = xstrdup(script);
    f->peer = byte_peer_start(f->script, &fd);
    f->r = rsp_open_fd(f->lp, fd, "stub", o);
}

static int fixture_end(struct fixture *f)
{
    rsp_close(f->r);
    int rc = peer_wait(f->peer);
    loop_free(f->lp);
    free(f->script);
    return rc;
}

static char *script_file(const char *name)
{
    return transcript(name);
}

TEST(rsp_recorded_qemu_session)
{
    struct fixture f;
    char *script = script_file("rsp-qemu-session.txt");
    fixture_start(&f, script, NULL);
    free(script);
    struct ib_error err = {0};
    CHECK_MSG(rsp_wait_ready_sync(f.r, 3000, &err) == 0, "%s", err.msg);
    CHECK(rsp_multiprocess(f.r));
    CHECK(!rsp_acks_off(f.r));
    CHECK_INT(rsp_packet_size(f.r), 4096);
    CHECK_STR(rsp_architecture(f.r), "arm");
    CHECK_STR(rsp_feature(f.r, "vContSupported"), "+");
    /* The unsolicited T02 QEMU sends on connect is kept as the last stop. */
    struct rsp_stop st;
    CHECK(rsp_last_stop(f.r, &st));
    CHECK_INT(st.signal, 2);
    /* With the description read, cpsr follows pc in 'g' (no FPA gap). */
    CHECK_INT(rsp_reg_find(f.r, "cpsr")->offset, 64);
    CHECK_INT(rsp_reg_find(f.r, "d0")->regnum, 26);
    CHECK(rsp_reg_find(f.r, "PMEVTYPER2") != NULL); /* from the last chunk */
    struct rsp_arm_regs regs;
    CHECK_MSG(rsp_read_arm_registers_sync(f.r, 1000, &regs, &err) == 0, "%s", err.msg);
    CHECK_INT(regs.r[15], 0x00c75800);
    CHECK_INT(regs.cpsr, 0x400001d3);
    uint8_t mem[8];
    size_t got = 0;
    CHECK_MSG(rsp_read_memory_sync(f.r, 0x40000000, mem, 8, 1000, &got, &err) == 0, "%s",
              err.msg);
    CHECK_INT(got, 8);
    CHECK(memcmp(mem, "\xd0\x0d\xfe\xed\x00\x10\x00\x00", 8) == 0); /* the DTB magic */
    CHECK(rsp_set_breakpoint_sync(f.r, 0x40000000, RSP_BP_ARM, 1000, &err) == 0);
    CHECK(rsp_clear_breakpoint_sync(f.r, 0x40000000, RSP_BP_ARM, 1000, &err) == 0);
    CHECK_MSG(rsp_step_sync(f.r, 1000, &st, &err) == 0, "%s", err.msg);
    CHECK_INT(st.signal, 5);
    CHECK_INT(st.pid, 1);
    /* multiprocess: "D;1", which QEMU needs (a plain D fails with E22). */
    CHECK_MSG(rsp_detach_sync(f.r, 1000, &err) == 0, "%s", err.msg);
    CHECK_INT(fixture_end(&f), 0);
}

static char output[256];
static void on_output(struct rsp *r, const uint8_t *data, size_t len, void *arg)
{
    (void)r;
    (void)arg;
    snprintf(output + strlen(output), sizeof output - strlen(output), "%.*s", (int)len,
             (const char *)data);
}

static int stops_seen;
static void on_any_stop(struct rsp *r, const struct rsp_stop *stop, const struct ib_error *err,
                        void *arg)
{
    (void)r;
    (void)stop;
    (void)err;
    (void)arg;
    stops_seen++;
}

TEST(rsp_gdbserver_session_noack_registers_output_exit)
{
    struct fixture f;
    char *script = script_file("rsp-gdbserver-session.txt");
    fixture_start(&f, script, NULL);
    free(script);
    output[0] = '\0';
    stops_seen = 0;
    rsp_set_output_fn(f.r, on_output, NULL);
    rsp_set_stop_fn(f.r, on_any_stop, NULL);
    struct ib_error err = {0};
    CHECK_MSG(rsp_wait_ready_sync(f.r, 3000, &err) == 0, "%s", err.msg);
    CHECK(rsp_acks_off(f.r));
    CHECK_INT(rsp_packet_size(f.r), 0x3fff);
    CHECK_STR(rsp_feature(f.r, "qXfer:exec-file:read"), "+");
    CHECK_INT(rsp_reg_find(f.r, "fpscr")->offset, 64 + 4 + 256);
    CHECK_INT(rsp_reg_find(f.r, "tpidruro")->offset, 328);
    struct rsp_stop st;
    CHECK_MSG(rsp_request_sync(f.r, "?", 1000, NULL, NULL, &err) == 0, "%s", err.msg);
    CHECK(rsp_last_stop(f.r, &st));
    CHECK_INT(st.pid, 0x1f4);
    uint8_t *raw;
    size_t len;
    CHECK_MSG(rsp_read_registers_sync(f.r, 1000, &raw, &len, &err) == 0, "%s", err.msg);
    CHECK_INT(len, 332);
    struct rsp_arm_regs regs;
    CHECK(rsp_regs_arm(f.r, raw, len, &regs, &err) == 0);
    CHECK_INT(regs.r[0], 0x01000000);
    CHECK_INT(regs.r[12], 0x0100000c);
    CHECK_INT(regs.r[13], 0xbeffecf0);
    CHECK_INT(regs.r[15], 0x00010554);
    CHECK_INT(regs.cpsr, 0x60000010);
    uint64_t tls;
    CHECK(rsp_regs_get(f.r, raw, len, "tpidruro", &tls, &err) == 0);
    CHECK_INT(tls, 0xb6fff4c0);
    regs.r[15] += 4; /* skip the instruction: the peer checks the exact G */
    CHECK(rsp_regs_arm_store(f.r, &regs, raw, len, &err) == 0);
    CHECK_MSG(rsp_write_registers_sync(f.r, raw, len, 1000, &err) == 0, "%s", err.msg);
    free(raw);
    CHECK_MSG(rsp_continue_sync(f.r, 2000, &st, &err) == 0, "%s", err.msg);
    CHECK_STR(output, "Hello\n");
    CHECK_STR(st.reason, "swbreak");
    CHECK_INT(st.n_regs, 2);
    CHECK_INT(st.regs[0].regnum, 15);
    CHECK_MSG(rsp_continue_sync(f.r, 2000, &st, &err) == 0, "%s", err.msg);
    CHECK_INT(st.kind, RSP_STOP_EXITED);
    CHECK_INT(st.exit_code, 0);
    CHECK_INT(stops_seen, 3);
    CHECK_INT(fixture_end(&f), 0);
}

/* The minimal handshake of a stub with acks, no description, no vCont. */
#define PLAIN_HANDSHAKE                                                                   \
    "<P qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+\n> +\n"              \
    ">P PacketSize=80\n< +\n<P vCont?\n> +\n>P \n< +\n"

TEST(rsp_no_description_falls_back_to_classic_arm_layout)
{
    struct fixture f;
    char g[400];
    /* r0..r15, 8 x 12-byte FPA registers, fps, cpsr: 168 bytes. */
    memset(g, '0', 336);
    memcpy(g + 60 * 2, "78563412", 8);  /* pc */
    memcpy(g + 164 * 2, "d3010040", 8); /* cpsr */
    g[336] = '\0';
    char script[2048];
    snprintf(script, sizeof script, PLAIN_HANDSHAKE "<P g\n> +\n>P %s\n< +\nhold\n", g);
    fixture_start(&f, script, NULL);
    struct ib_error err = {0};
    struct rsp_arm_regs regs;
    CHECK_MSG(rsp_read_arm_registers_sync(f.r, 1000, &regs, &err) == 0, "%s", err.msg);
    CHECK_INT(regs.r[15], 0x12345678);
    CHECK_INT(regs.cpsr, 0x400001d3);
    CHECK_INT(rsp_reg_find(f.r, "cpsr")->offset, 164);
    CHECK(!rsp_multiprocess(f.r));
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_bad_checksum_is_answered_with_nak_and_resent)
{
    struct fixture f;
    fixture_start(&f,
                  PLAIN_HANDSHAKE "<P m1000,4\n> +\n"
                                  "> $01020304#00\n< -\n"  /* corrupted: NAK */
                                  ">P 01020304\n< +\nhold\n",
                  NULL);
    struct ib_error err = {0};
    uint8_t mem[4];
    size_t got;
    CHECK_MSG(rsp_read_memory_sync(f.r, 0x1000, mem, 4, 1000, &got, &err) == 0, "%s", err.msg);
    CHECK(memcmp(mem, "\x01\x02\x03\x04", 4) == 0);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_client_resends_on_nak)
{
    struct fixture f;
    fixture_start(&f, PLAIN_HANDSHAKE "<P qC\n> -\n<P qC\n> +\n>P QCp2a.2b\n< +\nhold\n", NULL);
    struct ib_error err = {0};
    char *reply;
    CHECK_MSG(rsp_request_sync(f.r, "qC", 1000, &reply, NULL, &err) == 0, "%s", err.msg);
    CHECK_STR(reply, "QCp2a.2b");
    free(reply);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_truncated_packet_then_good_one)
{
    struct fixture f;
    /* The stub restarts a packet mid-way: NAK for the cut one, take the next. */
    fixture_start(&f, PLAIN_HANDSHAKE "<P qC\n> +\n> $QCp1\n>P QCp1.1\n< -\n< +\nhold\n", NULL);
    struct ib_error err = {0};
    char *reply;
    CHECK_MSG(rsp_request_sync(f.r, "qC", 1000, &reply, NULL, &err) == 0, "%s", err.msg);
    CHECK_STR(reply, "QCp1.1");
    free(reply);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_corrupt_packet_without_acks_fails_the_request)
{
    struct fixture f;
    fixture_start(&f,
                  "<P qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+\n"
                  ">P QStartNoAckMode+\n< +\n<P QStartNoAckMode\n>P OK\n< +\n<P vCont?\n>P \n"
                  "<P qC\n> $QCp1.1#00\nhold\n",
                  NULL);
    struct ib_error err = {0};
    CHECK_INT(rsp_request_sync(f.r, "qC", 1000, NULL, NULL, &err), -1);
    CHECK_STR(err.msg, "stub sent a corrupt packet (bad checksum)");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_escapes_and_run_length_in_replies)
{
    struct fixture f;
    /* "m" reply with RLE ("0*&" = 10 x '0') and a qXfer-like reply with
     * escaped $ # } * bytes. */
    unsigned sum = 0;
    const char *rle = "0*&";
    for (const char *s = rle; *s; s++)
        sum += (unsigned char)*s;
    const char esc[] = "l}\x04}\x03}]}\x0a";
    unsigned sum2 = 0;
    for (const char *s = esc; *s; s++)
        sum2 += (unsigned char)*s;
    const char *esc_text = "l}\\x04}\\x03}]}\\x0a"; /* the same, as the peer reads it */
    char script[1024];
    snprintf(script, sizeof script,
             PLAIN_HANDSHAKE "<P m2000,5\n> +\n> $%s#%02x\n< +\n"
                             "<P qXfer:exec-file:read::0,10\n> +\n> $%s#%02x\n< +\nhold\n",
             rle, sum & 0xff, esc_text, sum2 & 0xff);
    fixture_start(&f, script, NULL);
    struct ib_error err = {0};
    uint8_t mem[5];
    size_t got;
    CHECK_MSG(rsp_read_memory_sync(f.r, 0x2000, mem, 5, 1000, &got, &err) == 0, "%s", err.msg);
    CHECK_INT(got, 5);
    CHECK(memcmp(mem, "\0\0\0\0\0", 5) == 0);
    char *reply;
    size_t len;
    CHECK_MSG(rsp_request_sync(f.r, "qXfer:exec-file:read::0,10", 1000, &reply, &len, &err) == 0,
              "%s", err.msg);
    CHECK_INT(len, 5);
    CHECK(memcmp(reply, "l$#}*", 5) == 0);
    free(reply);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_oversized_reply_is_refused)
{
    struct fixture f;
    static char script[8192];
    char big[3001];
    memset(big, 'a', 3000);
    big[3000] = '\0';
    snprintf(script, sizeof script, PLAIN_HANDSHAKE "<P qC\n> +\n>P %s\n< +\nhold\n", big);
    struct rsp_opts o = {.max_packet = 1024};
    fixture_start(&f, script, &o);
    struct ib_error err = {0};
    CHECK_INT(rsp_request_sync(f.r, "qC", 1000, NULL, NULL, &err), -1);
    CHECK_STR(err.msg, "stub sent a packet longer than 1024 bytes");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_timeout_exact_message_and_no_hang)
{
    struct fixture f;
    fixture_start(&f, PLAIN_HANDSHAKE "<P g\nhold\n", NULL);
    struct ib_error err = {0};
    CHECK(rsp_wait_ready_sync(f.r, 2000, &err) == 0);
    struct seen a = {0}, b = {0};
    int64_t t0 = ib_now_ms();
    rsp_request(f.r, "g", 200, on_reply, &a);
    rsp_request(f.r, "qC", 5000, on_reply, &b);
    while (!b.done && ib_now_ms() - t0 < 3000)
        loop_run_once(f.lp, 20);
    int64_t took = ib_now_ms() - t0;
    CHECK(a.failed);
    CHECK_STR(a.err.msg, "stub did not answer 'g' within 200 ms");
    CHECK_INT(a.err.status, IB_ETIMEOUT);
    /* No ids in RSP: the session is closed rather than left out of step. */
    CHECK(b.failed);
    CHECK_CONTAINS(b.err.msg, "out of step");
    CHECK(rsp_failed(f.r, NULL));
    CHECK_MSG(took >= 190 && took < 1000, "took %lld ms", (long long)took);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_interrupt_a_running_target)
{
    struct fixture f;
    fixture_start(&f, PLAIN_HANDSHAKE "<P c\n> +\n< \\x03\n>P T02thread:01;\n< +\nhold\n", NULL);
    struct ib_error err = {0};
    struct rsp_stop st;
    CHECK(rsp_wait_ready_sync(f.r, 2000, &err) == 0);
    int64_t t0 = ib_now_ms();
    CHECK_INT(rsp_continue_sync(f.r, 150, &st, &err), -1);
    CHECK_STR(err.msg, "target still running after 150 ms");
    CHECK_INT(err.status, IB_ETIMEOUT);
    CHECK(ib_now_ms() - t0 < 1000);
    CHECK(rsp_running(f.r));
    CHECK_INT(rsp_interrupt(f.r), 0);
    CHECK_MSG(rsp_wait_stop_sync(f.r, 1000, &st, &err) == 0, "%s", err.msg);
    CHECK_INT(st.signal, 2);
    CHECK(!rsp_running(f.r));
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_memory_is_chunked_to_the_packet_size_and_stops_at_errors)
{
    /* PacketSize=80 (128): reads of (128-8)/2 = 60 bytes per 'm'. */
    char c1[121], c2[81];
    memset(c1, 'a', 120), c1[120] = '\0';
    memset(c2, 'b', 80), c2[80] = '\0';
    char script[2048];
    snprintf(script, sizeof script,
             PLAIN_HANDSHAKE "<P m1000,3c\n> +\n>P %s\n< +\n<P m103c,28\n> +\n>P %s\n< +\n"
                             "<P m2000,3c\n> +\n>P %s\n< +\n<P m203c,28\n> +\n>P E14\n< +\n"
                             "<P m3000,3c\n> +\n>P E14\n< +\n"
                             "<P M4000,2:0102\n> +\n>P OK\n< +\nhold\n",
             c1, c2, c1);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct ib_error err = {0};
    uint8_t mem[100];
    size_t got = 0;
    CHECK_MSG(rsp_read_memory_sync(f.r, 0x1000, mem, 100, 1000, &got, &err) == 0, "%s", err.msg);
    CHECK_INT(got, 100);
    CHECK_INT(mem[59], 0xaa);
    CHECK_INT(mem[60], 0xbb);
    CHECK_MSG(rsp_read_memory_sync(f.r, 0x2000, mem, 100, 1000, &got, &err) == 0, "%s", err.msg);
    CHECK_INT(got, 60); /* what could be read before the error */
    CHECK_INT(rsp_read_memory_sync(f.r, 0x3000, mem, 100, 1000, &got, &err), -1);
    CHECK_STR(err.msg, "reading memory at 0x3000: the stub answered E14");
    CHECK(rsp_write_memory_sync(f.r, 0x4000, "\x01\x02", 2, 1000, &err) == 0);
    CHECK_INT(fixture_end(&f), 0);
}

/* A length no buffer could hold (len + 1 would wrap) is refused with an
 * error from the loop, nothing is sent, and the session goes on. */
TEST(rsp_memory_lengths_beyond_the_bound_are_refused)
{
    struct fixture f;
    fixture_start(&f, PLAIN_HANDSHAKE "<P m1000,2\n> +\n>P 0102\n< +\nhold\n", NULL);
    struct ib_error err = {0};
    uint8_t mem[2];
    size_t got = 7;
    CHECK_INT(rsp_read_memory_sync(f.r, 0x1000, mem, SIZE_MAX, 1000, &got, &err), -1);
    CHECK_INT(err.status, IB_EINPUT);
    CHECK_CONTAINS(err.msg, "reading 18446744073709551615 bytes at 0x1000: more than the 64 MiB");
    CHECK_INT(rsp_write_memory_sync(f.r, 0x1000, mem, (64u << 20) + 1, 1000, &err), -1);
    CHECK_INT(err.status, IB_EINPUT);
    CHECK_CONTAINS(err.msg, "writing 67108865 bytes at 0x1000");
    CHECK_MSG(rsp_read_memory_sync(f.r, 0x1000, mem, 2, 1000, &got, &err) == 0, "%s", err.msg);
    CHECK_INT(got, 2);
    CHECK_INT(mem[1], 0x02);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_detach_without_multiprocess_is_plain_d)
{
    struct fixture f;
    fixture_start(&f, PLAIN_HANDSHAKE "<P D\n> +\n>P OK\n< +\nhold\n", NULL);
    struct ib_error err = {0};
    CHECK_MSG(rsp_detach_sync(f.r, 1000, &err) == 0, "%s", err.msg);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_detach_multiprocess_asks_qc_for_the_pid)
{
    struct fixture f;
    fixture_start(&f,
                  "<P qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+\n> +\n"
                  ">P PacketSize=400;multiprocess+\n< +\n<P vCont?\n> +\n>P \n< +\n"
                  "<P qC\n> +\n>P QCp1f4.1f4\n< +\n<P D;1f4\n> +\n>P OK\n< +\nhold\n",
                  NULL);
    struct ib_error err = {0};
    CHECK_MSG(rsp_detach_sync(f.r, 1000, &err) == 0, "%s", err.msg);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(rsp_error_and_unsupported_answers)
{
    struct fixture f;
    fixture_start(&f, PLAIN_HANDSHAKE "<P Z0,10000,4\n> +\n>P E01\n< +\n"
                                      "<P z0,10000,4\n> +\n>P \n< +\nhold\n",
                  NULL);
    struct ib_error err = {0};
    CHECK_INT(rsp_set_breakpoint_sync(f.r, 0x10000, RSP_BP_ARM, 1000, &err), -1);
    CHECK_STR(err.msg, "setting the breakpoint at 0x10000: the stub answered E01");
    CHECK_INT(rsp_clear_breakpoint_sync(f.r, 0x10000, RSP_BP_ARM, 1000, &err), -1);
    CHECK_STR(err.msg, "clearing the breakpoint at 0x10000: not supported by the stub");
    CHECK_INT(fixture_end(&f), 0);
}

static bool all_printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* A stub's reply is the guest's: quoted in a message, it comes escaped. */
TEST(rsp_hostile_replies_are_escaped_in_messages)
{
    struct fixture f;
    fixture_start(&f,
                  PLAIN_HANDSHAKE "<P Z0,10000,4\n> +\n>P E.\\x1b]52;c;aGk=\\x07\\x1b[2J\n< +\n"
                                  "<P z0,10000,4\n> +\n>P \\x1b[2J\\x9b\\x7f\n< +\nhold\n",
                  NULL);
    struct ib_error err = {0};
    CHECK_INT(rsp_set_breakpoint_sync(f.r, 0x10000, RSP_BP_ARM, 1000, &err), -1);
    CHECK_STR(err.msg, "setting the breakpoint at 0x10000: the stub answered "
                       "E.\\x1b]52;c;aGk=\\x07\\x1b[2J");
    CHECK_INT(rsp_clear_breakpoint_sync(f.r, 0x10000, RSP_BP_ARM, 1000, &err), -1);
    CHECK_STR(err.msg, "clearing the breakpoint at 0x10000: unexpected answer \\x1b[2J\\x9b\\x7f");
    CHECK_INT(fixture_end(&f), 0);

    struct rsp_stop st;
    const char *pkt = "Q\x1b]52;c;aGk=\x07";
    CHECK(rsp_stop_parse((const uint8_t *)pkt, strlen(pkt), &st, &err) < 0);
    CHECK_MSG(all_printable_ascii(err.msg), "raw bytes in \"%s\"", err.msg);
    CHECK_STR(err.msg, "not a stop reply: Q\\x1b]52;c;aGk=\\x07");
}

TEST(rsp_connect_over_tcp_and_refused)
{
    int port;
    char *script = transcript("rsp-qemu-session.txt");
    strcpy(strstr(script, "< +$g#67"), "hold\n"); /* the handshake only */
    pid_t peer = peer_tcp(script, &port);
    free(script);
    struct ib_error err = {0};
    struct rsp *r = rsp_connect("127.0.0.1", port, 2000, &err);
    CHECK_MSG(r != NULL, "%s", err.msg);
    CHECK_STR(rsp_architecture(r), "arm");
    rsp_close(r);
    CHECK_INT(peer_wait(peer), 0);

    /* A port nobody listens on (the one just freed). */
    r = rsp_connect("127.0.0.1", port, 500, &err);
    CHECK(r == NULL);
    CHECK_CONTAINS(err.msg, "cannot connect to GDB stub at 127.0.0.1:");
    CHECK_INT(err.status, IB_ENOTFOUND);
    CHECK(rsp_connect("gdb.example", 1, 500, &err) == NULL);
    CHECK_INT(err.status, IB_EINPUT);
}

TEST(rsp_silent_stub_handshake_times_out)
{
    int port;
    pid_t peer = peer_tcp("hold\n", &port);
    struct ib_error err = {0};
    int64_t t0 = ib_now_ms();
    struct rsp *r = rsp_connect("127.0.0.1", port, 300, &err);
    int64_t took = ib_now_ms() - t0;
    CHECK(r == NULL);
    char want[128];
    snprintf(want, sizeof want,
             "GDB stub at 127.0.0.1:%d did not finish the handshake within 300 ms", port);
    CHECK_STR(err.msg, want);
    CHECK_MSG(took < 1000, "took %lld ms", (long long)took);
    CHECK_INT(peer_wait(peer), 0);
}

static void close_in_callback(struct rsp *r, const uint8_t *reply, size_t len,
                              const struct ib_error *err, void *arg)
{
    (void)reply;
    (void)len;
    (void)err;
    (*(int *)arg)++;
    rsp_close(r);
}

TEST(rsp_close_inside_callback_drops_pending_ops)
{
    int fd, calls = 0;
    struct loop *lp = loop_new();
    pid_t peer = byte_peer_start(PLAIN_HANDSHAKE "<P qC\n> +\n>P QC1\n< +\nhold\n", &fd);
    struct rsp *r = rsp_open_fd(lp, fd, "stub", NULL);
    rsp_request(r, "qC", 1000, close_in_callback, &calls);
    rsp_read_memory(r, 0x1000, 500, 1000, NULL, NULL); /* an op with state to free */
    int64_t end = ib_now_ms() + 2000;
    while (calls == 0 && ib_now_ms() < end)
        loop_run_once(lp, 20);
    for (int i = 0; i < 3; i++)
        loop_run_once(lp, 10);
    CHECK_INT(calls, 1);
    CHECK_INT(peer_wait(peer), 0);
    loop_free(lp);
}

TEST(rsp_exit_replies_with_one_hex_digit)
{
    /* gdbserver with multiprocess writes W/X with %x: "X9;process:b3". */
    struct rsp_stop st;
    CHECK(rsp_stop_parse((const uint8_t *)"X9;process:b3", 13, &st, NULL) == 0);
    CHECK_INT(st.kind, RSP_STOP_TERMINATED);
    CHECK_INT(st.signal, 9);
    CHECK(rsp_stop_parse((const uint8_t *)"W0;process:1f", 13, &st, NULL) == 0);
    CHECK_INT(st.kind, RSP_STOP_EXITED);
    CHECK_INT(st.exit_code, 0);
    CHECK(rsp_stop_parse((const uint8_t *)"W1f", 3, &st, NULL) == 0);
    CHECK_INT(st.exit_code, 31);
    CHECK(rsp_stop_parse((const uint8_t *)"X9z", 3, &st, NULL) < 0);
    CHECK(rsp_stop_parse((const uint8_t *)"S9", 2, &st, NULL) < 0);
}
