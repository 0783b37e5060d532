/* test_qmp.c - the QMP client against transcripts played by a scripted peer. */
#include <ctype.h>
#include <stdlib.h>

#include "core/loop.h"
#include "core/qmp.h"
#include "core/util.h"
#include "tests/lib/harness.h"

/* ---- a scripted peer --------------------------------------------------
 * A forked child plays the other side of a transcript on one socket:
 *   "> TEXT"  send TEXT and a line ending ($NAME: a value captured below)
 *   "< TEXT"  read one line; it must equal TEXT as JSON ("$NAME" strings
 *             match anything and capture it), or byte for byte if not JSON
 *   "sleep MS", "close" (hang up), "hold" (wait for the client to hang up)
 *   "every A => B"  answer B to each line matching A until the client hangs up
 * \xNN in TEXT is a raw byte. The child exits 0 when the client did exactly
 * what the transcript says, else 2 and a note on stderr. */
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct peer_var {
    char name[32];
    json_t *value;
};
static struct peer_var peer_vars[8];
static const char *peer_eol = "\r\n";

static size_t peer_unescape(const char *in, char *out)
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
    out[n] = '\0';
    return n;
}

static json_t *peer_var_get(const char *name, size_t len)
{
    for (size_t i = 0; i < 8; i++)
        if (peer_vars[i].value && strlen(peer_vars[i].name) == len &&
            strncmp(peer_vars[i].name, name, len) == 0)
            return peer_vars[i].value;
    return NULL;
}

static bool peer_match(json_t *want, json_t *got)
{
    const char *s = json_string_value(want);
    if (s != NULL && s[0] == '$') {
        for (size_t i = 0; i < 8; i++) {
            if (peer_vars[i].value == NULL) {
                snprintf(peer_vars[i].name, sizeof peer_vars[i].name, "%s", s + 1);
                peer_vars[i].value = json_incref(got);
                return true;
            }
        }
        return false;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got) || json_object_size(want) != json_object_size(got))
            return false;
        const char *key;
        json_t *v;
        json_object_foreach(want, key, v) {
            if (!peer_match(v, json_object_get(got, key)))
                return false;
        }
        return true;
    }
    if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(want) != json_array_size(got))
            return false;
        for (size_t i = 0; i < json_array_size(want); i++)
            if (!peer_match(json_array_get(want, i), json_array_get(got, i)))
                return false;
        return true;
    }
    return json_equal(want, got);
}

/* Copies text to out with $NAME replaced by captured values. */
static size_t peer_expand(const char *text, size_t len, char *out)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i + 1;
        while (text[i] == '$' && j < len && (isalnum((unsigned char)text[j]) || text[j] == '_'))
            j++;
        json_t *v = text[i] == '$' ? peer_var_get(text + i + 1, j - i - 1) : NULL;
        if (v == NULL) {
            out[n++] = text[i++];
            continue;
        }
        char *dump = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        n += (size_t)sprintf(out + n, "%s", dump);
        free(dump);
        i = j;
    }
    return n;
}

static bool peer_write(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

/* One line from fd (without "\n"), at most 5 s of waiting. */
static ssize_t peer_read_line(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    while (n + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            return -1;
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return -1;
        if (buf[n] == '\n') {
            buf[n] = '\0';
            return (ssize_t)n;
        }
        n++;
    }
    return -1;
}

static bool peer_expect(int fd, const char *want_text, size_t want_len, int lineno)
{
    static char got[1 << 16];
    ssize_t n = peer_read_line(fd, got, sizeof got);
    if (n < 0) {
        fprintf(stderr, "peer: line %d: no line from the client\n", lineno);
        return false;
    }
    /* A leading 0xFF (the agent's sync marker) is compared as bytes. */
    size_t skip = 0;
    while (skip < want_len && (unsigned char)want_text[skip] == 0xff)
        skip++;
    json_t *want = json_loadb(want_text + skip, want_len - skip, 0, NULL);
    json_t *gotj = (size_t)n >= skip && memcmp(got, want_text, skip) == 0
                       ? json_loadb(got + skip, (size_t)n - skip, 0, NULL)
                       : NULL;
    bool ok = want ? gotj && peer_match(want, gotj)
                   : (size_t)n == want_len && memcmp(got, want_text, want_len) == 0;
    json_decref(want);
    json_decref(gotj);
    if (!ok)
        fprintf(stderr, "peer: line %d: expected %s\n  got %.*s\n", lineno, want_text, (int)n,
                got);
    return ok;
}

static void peer_hold(int fd)
{
    char c;
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, 10000) > 0 && read(fd, &c, 1) > 0)
        ;
}

static int peer_every(int fd, char *rule, int lineno)
{
    static char out[1 << 16];
    char *arrow = strstr(rule, " => ");
    if (arrow == NULL)
        return 2;
    *arrow = '\0';
    const char *answer = arrow + 4;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        char c;
        if (poll(&p, 1, 10000) <= 0 || recv(fd, &c, 1, MSG_PEEK) <= 0)
            return 0; /* the client hung up */
        if (!peer_expect(fd, rule, strlen(rule), lineno))
            return 2;
        size_t m = peer_expand(answer, strlen(answer), out);
        memcpy(out + m, peer_eol, strlen(peer_eol));
        if (!peer_write(fd, out, m + strlen(peer_eol)))
            return 0;
    }
}

static int peer_play(int fd, const char *script)
{
    static char line[1 << 16], raw[1 << 16], out[1 << 17];
    const char *p = script;
    for (int lineno = 1; *p; lineno++) {
        size_t len = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)len, p);
        p += len + (p[len] == '\n');
        size_t n = peer_unescape(line, raw);
        if (strncmp(raw, "> ", 2) == 0) {
            size_t m = peer_expand(raw + 2, n - 2, out);
            memcpy(out + m, peer_eol, strlen(peer_eol));
            if (!peer_write(fd, out, m + strlen(peer_eol)))
                return 2;
        } else if (strncmp(raw, "< ", 2) == 0) {
            if (!peer_expect(fd, raw + 2, n - 2, lineno))
                return 2;
        } else if (strncmp(raw, "sleep ", 6) == 0) {
            usleep((useconds_t)atoi(raw + 6) * 1000);
        } else if (strcmp(raw, "close") == 0) {
            return 0;
        } else if (strcmp(raw, "hold") == 0) {
            peer_hold(fd);
            return 0;
        } else if (strncmp(raw, "every ", 6) == 0) {
            return peer_every(fd, raw + 6, lineno);
        }
    }
    return 0;
}

/* Forks the peer on one end of a socketpair; *client_fd gets the other. */
static pid_t peer_start(const char *script, int *client_fd)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(peer_play(sv[1], script));
    }
    close(sv[1]);
    *client_fd = sv[0];
    return pid;
}

/* Forks a peer that listens on path and plays script for each of `clients`
 * connections in turn. */
static pid_t peer_listen(const char *path, const char *script, int clients)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4) < 0)
        abort();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = 0;
        for (int i = 0; i < clients && rc == 0; i++) {
            int fd = accept(lfd, NULL, NULL);
            rc = fd < 0 ? 2 : peer_play(fd, script);
            close(fd);
        }
        _exit(rc);
    }
    close(lfd);
    return pid;
}

/* The peer's verdict: 0 when the client followed the transcript. */
static int peer_wait(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *transcript(const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/transcripts/%s", test_src_dir(), name);
    char *text = test_read_file(path);
    if (text == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        abort();
    }
    return text;
}

static bool run_until(struct loop *lp, const bool *flag, int max_ms)
{
    int64_t end = ib_now_ms() + max_ms;
    while (!*flag && ib_now_ms() < end)
        loop_run_once(lp, 20);
    return *flag;
}
/* ---- end of the scripted peer ---- */

static const char *greeting_and_caps =
    "> {\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\n"
    "< {\"execute\": \"qmp_capabilities\", \"id\": 1}\n"
    "> {\"return\": {}, \"id\": 1}\n";

/* What one request's callback saw. */
struct seen {
    bool done;
    int calls;
    json_t *ret;
    char cls[64];
    struct ib_error err;
};

static void on_reply(struct qmp *q, const struct qmp_result *res, void *arg)
{
    (void)q;
    struct seen *s = arg;
    s->done = true;
    s->calls++;
    json_decref(s->ret);
    s->ret = json_incref(res->ret);
    snprintf(s->cls, sizeof s->cls, "%s", res->error_class ? res->error_class : "");
    s->err = res->err;
}

static void seen_clear(struct seen *s)
{
    json_decref(s->ret);
    memset(s, 0, sizeof *s);
}

/* Runs a script against a fresh client; the caller drives it. */
struct fixture {
    struct loop *lp;
    struct qmp *q;
    pid_t peer;
    char *script;
};

static void fixture_start(struct fixture *f, const char *script, const struct qmp_opts *o)
{
    int fd;
    f->lp = loop_new();
    f->script = xstrdup(script);
    f->peer = peer_start(f->script, &fd);
    f->q = qmp_open_fd(f->lp, fd, "test.sock", o);
}

/* Closes the client and returns the peer's verdict. */
static int fixture_end(struct fixture *f)
{
    qmp_close(f->q);
    int rc = peer_wait(f->peer);
    loop_free(f->lp);
    free(f->script);
    return rc;
}

TEST(qmp_recorded_session_greeting_capabilities_command)
{
    struct fixture f;
    char *script = transcript("qmp-session.txt");
    fixture_start(&f, script, NULL);
    free(script);
    struct seen s = {0};
    qmp_request(f.q, "query-status", NULL, 2000, on_reply, &s);
    CHECK(!qmp_ready(f.q));
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK(qmp_ready(f.q));
    CHECK_STR(json_string_value(json_object_get(s.ret, "status")), "prelaunch");
    CHECK(json_is_false(json_object_get(s.ret, "running")));
    const json_t *g = qmp_greeting(f.q);
    CHECK_INT(json_integer_value(json_object_get(
                  json_object_get(json_object_get(g, "version"), "qemu"), "major")), 7);
    seen_clear(&s);
    CHECK_INT(fixture_end(&f), 0);
}

static int event_calls;
static void on_event(struct qmp *q, void *arg)
{
    (void)q;
    (void)arg;
    event_calls++;
}

TEST(qmp_events_interleaved_with_replies)
{
    struct fixture f;
    char *script = transcript("qmp-events.txt");
    fixture_start(&f, script, NULL);
    free(script);
    event_calls = 0;
    qmp_set_event_fn(f.q, on_event, NULL);
    struct seen a = {0}, b = {0};
    qmp_request(f.q, "cont", NULL, 2000, on_reply, &a);
    qmp_request(f.q, "stop", NULL, 2000, on_reply, &b);
    CHECK(run_until(f.lp, &b.done, 3000));
    CHECK(a.done && a.ret != NULL && b.ret != NULL);
    CHECK_INT(event_calls, 2);
    struct qmp_event ev;
    CHECK(qmp_event_pop(f.q, &ev));
    CHECK_STR(ev.name, "RESUME");
    CHECK_INT(ev.ts_us, 1795702475160211LL);
    qmp_event_clear(&ev);
    CHECK(qmp_event_pop(f.q, &ev));
    CHECK_STR(ev.name, "STOP");
    CHECK_INT(ev.ts_us, 1795702475165713LL);
    qmp_event_clear(&ev);
    CHECK(!qmp_event_pop(f.q, &ev));
    seen_clear(&a);
    seen_clear(&b);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_event_queue_is_bounded_oldest_dropped)
{
    char script[4096];
    snprintf(script, sizeof script,
             "%s"
             "> {\"event\": \"A\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\n"
             "> {\"event\": \"B\", \"data\": {\"n\": 2}, \"timestamp\": {\"seconds\": 2, "
             "\"microseconds\": 0}}\n"
             "> {\"event\": \"C\", \"timestamp\": {\"seconds\": 3, \"microseconds\": 0}}\n"
             "< {\"execute\": \"query-status\", \"id\": 2}\n"
             "> {\"return\": {}, \"id\": 2}\nhold\n",
             greeting_and_caps);
    struct fixture f;
    struct qmp_opts o = {.max_events = 2};
    fixture_start(&f, script, &o);
    struct seen s = {0};
    qmp_request(f.q, "query-status", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK_INT(qmp_events_dropped(f.q), 1);
    struct qmp_event ev;
    CHECK(qmp_event_pop(f.q, &ev));
    CHECK_STR(ev.name, "B");
    CHECK_INT(json_integer_value(json_object_get(ev.data, "n")), 2);
    qmp_event_clear(&ev);
    CHECK(qmp_event_pop(f.q, &ev));
    CHECK_STR(ev.name, "C");
    qmp_event_clear(&ev);
    seen_clear(&s);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_error_replies_and_hmp_errors)
{
    struct fixture f;
    char *script = transcript("qmp-errors.txt");
    fixture_start(&f, script, NULL);
    free(script);
    struct seen a = {0}, b = {0}, c = {0}, d = {0};
    qmp_request(f.q, "no-such", NULL, 2000, on_reply, &a);
    qmp_hmp(f.q, "savevm x", 2000, on_reply, &b);
    qmp_hmp(f.q, "foo", 2000, on_reply, &c);
    qmp_hmp(f.q, "info status", 2000, on_reply, &d);
    CHECK(run_until(f.lp, &d.done, 3000));
    CHECK(a.ret == NULL);
    CHECK_STR(a.cls, "CommandNotFound");
    CHECK_STR(a.err.msg, "The command no-such has not been found");
    CHECK_INT(a.err.status, IB_ENOTFOUND);
    CHECK(b.ret == NULL);
    CHECK_STR(b.err.msg, "HMP: no block device can store vmstate for snapshot");
    CHECK(c.ret == NULL);
    CHECK_STR(c.err.msg, "HMP: unknown command: 'foo'");
    CHECK_STR(json_string_value(d.ret), "VM status: paused (prelaunch)\r\n");
    seen_clear(&a);
    seen_clear(&b);
    seen_clear(&c);
    seen_clear(&d);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_hmp_check_finds_error_on_a_later_line)
{
    struct ib_error err = {0};
    json_t *ok = json_string("no snapshot\r\n");
    json_t *bad = json_string("saving...\r\nError: disk full\r\n");
    json_t *num = json_integer(3);
    CHECK_INT(qmp_hmp_check(ok, &err), 0);
    CHECK_INT(qmp_hmp_check(bad, &err), -1);
    CHECK_STR(err.msg, "HMP: disk full");
    CHECK_INT(qmp_hmp_check(num, &err), -1);
    json_decref(ok);
    json_decref(bad);
    json_decref(num);
}

TEST(qmp_replies_with_unknown_ids_are_ignored)
{
    char script[4096];
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"query-name\", \"id\": 2}\n"
             "> {\"return\": {\"name\": \"wrong\"}, \"id\": 99}\n"
             "> {\"return\": {\"name\": \"wrong too\"}, \"id\": \"2\"}\n"
             "> {\"return\": {\"name\": \"no id\"}}\n"
             "> {\"return\": {\"name\": \"right\"}, \"id\": 2}\nhold\n",
             greeting_and_caps);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct seen s = {0};
    qmp_request(f.q, "query-name", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK_STR(json_string_value(json_object_get(s.ret, "name")), "right");
    CHECK_INT(s.calls, 1);
    seen_clear(&s);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_timeout_gives_exact_message_without_hanging)
{
    char script[4096];
    snprintf(script, sizeof script, "%s< {\"execute\": \"query-status\", \"id\": 2}\nhold\n",
             greeting_and_caps);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct seen s = {0};
    int64_t t0 = ib_now_ms();
    qmp_request(f.q, "query-status", NULL, 200, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    int64_t took = ib_now_ms() - t0;
    CHECK(s.ret == NULL);
    CHECK_STR(s.err.msg, "QEMU did not answer 'query-status' within 200 ms");
    CHECK_INT(s.err.status, IB_ETIMEOUT);
    CHECK_MSG(took >= 190 && took < 1000, "took %lld ms", (long long)took);
    /* The connection is still usable after a timeout: ids keep replies apart. */
    CHECK(qmp_ready(f.q));
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_late_reply_after_timeout_is_dropped)
{
    char script[4096];
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"slow\", \"id\": 2}\n"
             "< {\"execute\": \"fast\", \"id\": 3}\n"
             "sleep 300\n"
             "> {\"return\": \"slow\", \"id\": 2}\n"
             "> {\"return\": \"fast\", \"id\": 3}\nhold\n",
             greeting_and_caps);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct seen a = {0}, b = {0};
    qmp_request(f.q, "slow", NULL, 100, on_reply, &a);
    qmp_request(f.q, "fast", NULL, 2000, on_reply, &b);
    CHECK(run_until(f.lp, &b.done, 3000));
    CHECK_INT(a.calls, 1);
    CHECK(a.ret == NULL);
    CHECK_STR(json_string_value(b.ret), "fast");
    seen_clear(&a);
    seen_clear(&b);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_busy_socket_without_greeting)
{
    const char *path = test_path("busy-qmp.sock");
    pid_t peer = peer_listen(path, "hold\n", 1);
    struct ib_error err = {0};
    json_t *ret = NULL;
    int64_t t0 = ib_now_ms();
    CHECK_INT(qmp_call(path, "query-status", NULL, 300, &ret, &err), -1);
    int64_t took = ib_now_ms() - t0;
    char want[4200];
    snprintf(want, sizeof want, "QMP is busy: another client holds %s", path);
    CHECK_STR(err.msg, want);
    CHECK_INT(err.status, IB_ECONFLICT);
    CHECK(ret == NULL);
    CHECK_MSG(took < 1300, "took %lld ms", (long long)took);
    CHECK_INT(peer_wait(peer), 0);
}

TEST(qmp_async_greeting_timeout_reports_busy)
{
    struct fixture f;
    struct qmp_opts o = {.greeting_timeout_ms = 150};
    fixture_start(&f, "hold\n", &o);
    struct seen s = {0};
    qmp_request(f.q, "query-status", NULL, 5000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 2000));
    CHECK_STR(s.err.msg, "QMP is busy: another client holds test.sock");
    struct ib_error err = {0};
    CHECK(qmp_failed(f.q, &err));
    /* Requests after the failure fail too, from the loop. */
    struct seen t = {0};
    qmp_request(f.q, "query-status", NULL, 5000, on_reply, &t);
    CHECK(!t.done);
    CHECK(run_until(f.lp, &t.done, 1000));
    CHECK_CONTAINS(t.err.msg, "QMP is busy");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_blocking_call_on_a_socket)
{
    const char *path = test_path("qmp.sock");
    char *script = transcript("qmp-session.txt");
    pid_t peer = peer_listen(path, script, 1);
    free(script);
    struct ib_error err = {0};
    json_t *ret = NULL;
    CHECK_MSG(qmp_call(path, "query-status", NULL, 2000, &ret, &err) == 0, "%s", err.msg);
    CHECK_STR(json_string_value(json_object_get(ret, "status")), "prelaunch");
    json_decref(ret);
    CHECK_INT(peer_wait(peer), 0);
}

TEST(qmp_blocking_hmp_call)
{
    const char *path = test_path("qmp-hmp.sock");
    char script[4096];
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"human-monitor-command\", \"arguments\": "
             "{\"command-line\": \"info status\"}, \"id\": 2}\n"
             "> {\"return\": \"VM status: running\\r\\n\", \"id\": 2}\nhold\n",
             greeting_and_caps);
    pid_t peer = peer_listen(path, script, 1);
    struct ib_error err = {0};
    char *out = NULL;
    CHECK_MSG(qmp_hmp_call(path, "info status", 2000, &out, &err) == 0, "%s", err.msg);
    CHECK_STR(out, "VM status: running\r\n");
    free(out);
    CHECK_INT(peer_wait(peer), 0);
}

TEST(qmp_missing_socket_is_not_found)
{
    struct ib_error err = {0};
    CHECK_INT(qmp_call(test_path("nothing.sock"), "stop", json_object(), 500, NULL, &err), -1);
    CHECK_INT(err.status, IB_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "nothing.sock");
}

TEST(qmp_oversized_reply_drops_connection)
{
    char script[8192];
    char big[3000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"query-status\", \"id\": 2}\n"
             "> {\"return\": \"%s\", \"id\": 2}\nhold\n",
             greeting_and_caps, big);
    struct fixture f;
    struct qmp_opts o = {.max_line = 1024};
    fixture_start(&f, script, &o);
    struct seen s = {0};
    qmp_request(f.q, "query-status", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK(s.ret == NULL);
    CHECK_CONTAINS(s.err.msg, "longer than the 1024-byte limit");
    CHECK(qmp_failed(f.q, NULL));
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_invalid_json_drops_connection)
{
    char script[4096];
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"query-status\", \"id\": 2}\n"
             "> {\"return\": {\"status\": \"running\", \"id\": 2}\nhold\n",
             greeting_and_caps);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct seen s = {0};
    qmp_request(f.q, "query-status", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK(s.ret == NULL);
    CHECK_CONTAINS(s.err.msg, "invalid JSON");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_not_a_qmp_greeting)
{
    struct fixture f;
    fixture_start(&f, "> {\"hello\": 1}\nhold\n", NULL);
    struct seen s = {0};
    qmp_request(f.q, "query-status", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK_CONTAINS(s.err.msg, "does not speak QMP");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_peer_hangs_up_mid_request)
{
    char script[4096];
    snprintf(script, sizeof script, "%s< {\"execute\": \"quit\", \"id\": 2}\nclose\n",
             greeting_and_caps);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct seen s = {0};
    qmp_request(f.q, "quit", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK_STR(s.err.msg, "QMP connection to test.sock closed");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_u64_beyond_int64_still_parses)
{
    char script[4096];
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"query-x\", \"id\": 2}\n"
             "> {\"return\": {\"size\": 18446744073709551615}, \"id\": 2}\nhold\n",
             greeting_and_caps);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct seen s = {0};
    qmp_request(f.q, "query-x", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK(json_is_real(json_object_get(s.ret, "size")));
    seen_clear(&s);
    CHECK_INT(fixture_end(&f), 0);
}

static void close_from_callback(struct qmp *q, const struct qmp_result *res, void *arg)
{
    (void)res;
    int *calls = arg;
    (*calls)++;
    qmp_close(q);
}

TEST(qmp_close_inside_callback_drops_the_rest)
{
    char script[4096];
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"a\", \"id\": 2}\n< {\"execute\": \"b\", \"id\": 3}\n"
             /* one write: the client hangs up after the first */
             "> {\"return\": 1, \"id\": 2}\\x0a{\"return\": 2, \"id\": 3}\nhold\n",
             greeting_and_caps);
    int fd, calls = 0;
    struct loop *lp = loop_new();
    pid_t peer = peer_start(script, &fd);
    struct qmp *q = qmp_open_fd(lp, fd, "t", NULL);
    qmp_request(q, "a", NULL, 2000, close_from_callback, &calls);
    qmp_request(q, "b", NULL, 2000, close_from_callback, &calls);
    int64_t end = ib_now_ms() + 1500;
    while (calls == 0 && ib_now_ms() < end)
        loop_run_once(lp, 20);
    for (int i = 0; i < 5; i++)
        loop_run_once(lp, 10);
    CHECK_INT(calls, 1);
    CHECK_INT(peer_wait(peer), 0);
    loop_free(lp);
}

TEST(qmp_cancelled_request_is_not_called)
{
    char script[4096];
    snprintf(script, sizeof script,
             "%s< {\"execute\": \"a\", \"id\": 2}\n< {\"execute\": \"b\", \"id\": 3}\n"
             "> {\"return\": 1, \"id\": 2}\n> {\"return\": 2, \"id\": 3}\nhold\n",
             greeting_and_caps);
    struct fixture f;
    fixture_start(&f, script, NULL);
    struct seen a = {0}, b = {0};
    long id = qmp_request(f.q, "a", NULL, 2000, on_reply, &a);
    qmp_request(f.q, "b", NULL, 2000, on_reply, &b);
    qmp_cancel(f.q, id);
    CHECK(run_until(f.lp, &b.done, 3000));
    CHECK_INT(a.calls, 0);
    CHECK_INT(json_integer_value(b.ret), 2);
    seen_clear(&b);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qmp_hmp_check_catches_hostfwd_sentences)
{
    struct ib_error err = {0};
    json_t *add = json_string("Could not set up host forwarding rule 'tcp:127.0.0.1:80-:80'\r\n");
    CHECK_INT(qmp_hmp_check(add, &err), -1);
    CHECK_CONTAINS(err.msg, "Could not set up host forwarding rule");
    json_t *rm = json_string("host forwarding rule for tcp:127.0.0.1:9 not found\r\n");
    CHECK_INT(qmp_hmp_check(rm, &err), -1);
    CHECK_CONTAINS(err.msg, "not found");
    json_t *fine = json_string("");
    CHECK_INT(qmp_hmp_check(fine, &err), 0);
    json_decref(add);
    json_decref(rm);
    json_decref(fine);
}
