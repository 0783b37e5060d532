/* test_qmp.c - the QMP client against transcripts played by a scripted peer. */
#include <ctype.h>
#include <stdlib.h>

#include "core/loop.h"
#include "core/qmp.h"
#include "core/util.h"
#include "tests/lib/harness.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/peer.h"

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
