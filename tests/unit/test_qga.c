/* test_qga.c - the guest agent client against transcripts played by a
 * scripted peer: sync-delimited resynchronisation, guest-exec, base64,
 * size limits and the qga.lock file. */
#include <ctype.h>
#include <stdlib.h>
#include <sys/file.h>

#include "core/loop.h"
#include "core/qga.h"
#include "core/util.h"
#include "tests/lib/harness.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/lib/peer.h"

static const char *synced =
    "< \\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": \"$SYNC\"}}\n"
    "> {\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n"
    "> \\xff{\"return\": $SYNC}\n";

struct seen {
    bool done;
    int calls;
    json_t *ret;
    char cls[64];
    struct ib_error err;
};

static void on_reply(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct seen *s = arg;
    s->done = true;
    s->calls++;
    json_decref(s->ret);
    s->ret = json_incref(res->ret);
    snprintf(s->cls, sizeof s->cls, "%s", res->error_class ? res->error_class : "");
    s->err = res->err;
}

struct exec_seen {
    bool done;
    bool ok;
    struct qga_exec_result res;
    struct ib_error err;
};

static void on_exec(struct qga *g, struct qga_exec_result *res, const struct ib_error *err,
                    void *arg)
{
    (void)g;
    struct exec_seen *s = arg;
    s->done = true;
    if (err != NULL) {
        s->err = *err;
        return;
    }
    s->ok = true;
    s->res = *res;
    res->out = res->err = NULL; /* keep them */
}

struct fixture {
    struct loop *lp;
    struct qga *g;
    pid_t peer;
    char *script;
};

static void fixture_start(struct fixture *f, const char *script, const struct qga_opts *o)
{
    int fd;
    peer_eol = "\n";
    f->lp = loop_new();
    f->script = xstrdup(script);
    f->peer = peer_start(f->script, &fd);
    f->g = qga_open_fd(f->lp, fd, "qga.sock", o);
}

static int fixture_end(struct fixture *f)
{
    qga_close(f->g);
    int rc = peer_wait(f->peer);
    loop_free(f->lp);
    free(f->script);
    return rc;
}

static char *script_after_sync(const char *rest)
{
    return xasprintf("%s%s", synced, rest);
}

TEST(qga_sync_then_request_in_order)
{
    char *script = script_after_sync("< {\"execute\": \"guest-ping\"}\n> {\"return\": {}}\n"
                                     "< {\"execute\": \"guest-get-time\"}\n"
                                     "> {\"return\": 1795702475160211000}\nhold\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct seen a = {0}, b = {0};
    qga_request(f.g, "guest-ping", NULL, 2000, on_reply, &a);
    qga_request(f.g, "guest-get-time", NULL, 2000, on_reply, &b);
    CHECK(!qga_ready(f.g));
    CHECK(run_until(f.lp, &b.done, 3000));
    CHECK(a.done && json_is_object(a.ret));
    CHECK_INT(json_integer_value(b.ret), 1795702475160211000LL);
    json_decref(a.ret);
    json_decref(b.ret);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_exec_with_stdin_and_base64_output)
{
    char *script = transcript("qga-exec.txt");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct exec_seen s = {0};
    const char *argv[] = {"/bin/cat", NULL};
    qga_exec(f.g, argv, "hello\n", 6, 3000, on_exec, &s);
    CHECK(run_until(f.lp, &s.done, 4000));
    CHECK_MSG(s.ok, "%s", s.err.msg);
    CHECK_INT(s.res.pid, 812);
    CHECK_INT(s.res.exit_code, 0);
    CHECK_INT(s.res.signal, 0);
    CHECK_INT(s.res.out_len, 6);
    CHECK_STR(s.res.out, "hello\n");
    CHECK_INT(s.res.err_len, 0);
    CHECK(!s.res.out_truncated);
    qga_exec_result_free(&s.res);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_exec_killed_by_signal_with_binary_output)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-exec\", \"arguments\": {\"path\": \"sh\", \"arg\": [\"-c\", "
        "\"kill -9 $$\"], \"capture-output\": true}}\n"
        "> {\"return\": {\"pid\": 7}}\n"
        "< {\"execute\": \"guest-exec-status\", \"arguments\": {\"pid\": 7}}\n"
        "> {\"return\": {\"exited\": true, \"signal\": 9, \"out-data\": \"AGE=\", "
        "\"err-data\": \"ZXJy\", \"err-truncated\": true}}\nhold\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct exec_seen s = {0};
    const char *argv[] = {"sh", "-c", "kill -9 $$", NULL};
    qga_exec(f.g, argv, NULL, 0, 3000, on_exec, &s);
    CHECK(run_until(f.lp, &s.done, 4000));
    CHECK_MSG(s.ok, "%s", s.err.msg);
    CHECK_INT(s.res.signal, 9);
    CHECK_INT(s.res.exit_code, -1);
    CHECK_INT(s.res.out_len, 2);
    CHECK(s.res.out[0] == '\0' && s.res.out[1] == 'a');
    CHECK_STR(s.res.err, "err");
    CHECK(s.res.err_truncated);
    qga_exec_result_free(&s.res);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_exec_garbage_base64_is_an_error)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-exec\", \"arguments\": {\"path\": \"ls\", \"arg\": [], "
        "\"capture-output\": true}}\n"
        "> {\"return\": {\"pid\": 7}}\n"
        "< {\"execute\": \"guest-exec-status\", \"arguments\": {\"pid\": 7}}\n"
        "> {\"return\": {\"exited\": true, \"exitcode\": 0, \"out-data\": \"aGVsbG8K!!!!\"}}\n"
        "hold\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct exec_seen s = {0};
    const char *argv[] = {"ls", NULL};
    qga_exec(f.g, argv, NULL, 0, 3000, on_exec, &s);
    CHECK(run_until(f.lp, &s.done, 4000));
    CHECK(!s.ok);
    CHECK_STR(s.err.msg,
              "guest-exec-status: out-data: invalid base64 at offset 8 (byte 0x21)");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_exec_that_never_ends_times_out_and_says_it_may_run_on)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-exec\", \"arguments\": {\"path\": \"sleep\", \"arg\": "
        "[\"100\"], \"capture-output\": true}}\n"
        "> {\"return\": {\"pid\": 5}}\n"
        "every {\"execute\": \"guest-exec-status\", \"arguments\": {\"pid\": 5}} => "
        "{\"return\": {\"exited\": false}}\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct exec_seen s = {0};
    const char *argv[] = {"sleep", "100", NULL};
    int64_t t0 = ib_now_ms();
    qga_exec(f.g, argv, NULL, 0, 300, on_exec, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    int64_t took = ib_now_ms() - t0;
    CHECK(!s.ok);
    CHECK_STR(s.err.msg, "'sleep' still running in the guest after 300 ms (pid 5); the agent "
                         "cannot kill it, so it may keep running");
    CHECK_INT(s.err.status, IB_ETIMEOUT);
    CHECK_MSG(took >= 290 && took < 800, "took %lld ms", (long long)took);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_exec_failure_from_the_agent)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-exec\", \"arguments\": {\"path\": \"nope\", \"arg\": [], "
        "\"capture-output\": true}}\n"
        "> {\"error\": {\"class\": \"GenericError\", \"desc\": \"Failed to execute child "
        "process \\u201cnope\\u201d (No such file or directory)\"}}\nhold\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct exec_seen s = {0};
    const char *argv[] = {"nope", NULL};
    qga_exec(f.g, argv, NULL, 0, 2000, on_exec, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK(!s.ok);
    CHECK_CONTAINS(s.err.msg, "guest agent: Failed to execute child process");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_resync_after_timeout_skips_late_and_stale_replies)
{
    char *script = transcript("qga-resync-timeout.txt");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct seen a = {0}, b = {0};
    qga_request(f.g, "guest-info", NULL, 150, on_reply, &a);
    qga_request(f.g, "guest-get-time", NULL, 3000, on_reply, &b);
    CHECK(run_until(f.lp, &b.done, 4000));
    CHECK(a.ret == NULL);
    CHECK_STR(a.err.msg, "agent not responding after 150 ms");
    CHECK_INT(a.err.status, IB_ETIMEOUT);
    CHECK_INT(json_integer_value(b.ret), 1795702475160211000LL);
    json_decref(b.ret);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_resync_after_garbage)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-ping\"}\n"
        "> }}garbage{\n"
        "< \\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": \"$SYNC2\"}}\n"
        "> {\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error\"}}\n"
        "> stale half line{\"ret\\xff{\"return\": $SYNC2}\n"
        "< {\"execute\": \"guest-info\"}\n"
        "> {\"return\": {\"version\": \"7.2.22\"}}\nhold\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct seen a = {0}, b = {0};
    qga_request(f.g, "guest-ping", NULL, 2000, on_reply, &a);
    qga_request(f.g, "guest-info", NULL, 2000, on_reply, &b);
    CHECK(run_until(f.lp, &b.done, 3000));
    CHECK(a.ret == NULL);
    CHECK_CONTAINS(a.err.msg, "guest agent sent invalid JSON");
    CHECK_STR(json_string_value(json_object_get(b.ret, "version")), "7.2.22");
    json_decref(b.ret);
    CHECK_INT(fixture_end(&f), 0);
}

/* Nothing an agent sends may reach the user's terminal raw through an
 * error message: not its error text, not a garbage line. */
static bool all_printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

TEST(qga_hostile_error_text_is_escaped_in_messages)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-ping\"}\n"
        "> {\"error\": {\"class\": \"GenericError\", \"desc\": "
        "\"\\u001b]52;c;aGk=\\u0007\\u001b[2Jgone\\u009b\\u007f\"}}\n"
        "< {\"execute\": \"guest-info\"}\n"
        "> \\x1b]0;title\\x07\\x1b[2J{\n"
        "< \\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": \"$SYNC2\"}}\n"
        "> \\xff{\"return\": $SYNC2}\n"
        "< {\"execute\": \"guest-ping\"}\n> {\"return\": {}}\nhold\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct seen a = {0}, b = {0}, c = {0};
    qga_request(f.g, "guest-ping", NULL, 2000, on_reply, &a);
    qga_request(f.g, "guest-info", NULL, 2000, on_reply, &b);
    qga_request(f.g, "guest-ping", NULL, 2000, on_reply, &c); /* after the resync */
    CHECK(run_until(f.lp, &c.done, 3000));
    CHECK(json_is_object(c.ret));
    json_decref(c.ret);
    CHECK_STR(a.err.msg, "guest agent: \\x1b]52;c;aGk=\\x07\\x1b[2Jgone\\xc2\\x9b\\x7f");
    CHECK_MSG(all_printable_ascii(b.err.msg), "raw bytes in \"%s\"", b.err.msg);
    CHECK_CONTAINS(b.err.msg, "guest agent sent invalid JSON");
    CHECK_CONTAINS(b.err.msg, "\\x1b]0;title\\x07\\x1b[2J{");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_agent_that_never_answers_gives_exact_message_in_time)
{
    struct fixture f;
    fixture_start(&f, "hold\n", NULL);
    struct seen s = {0};
    int64_t t0 = ib_now_ms();
    qga_request(f.g, "guest-ping", NULL, 200, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    int64_t took = ib_now_ms() - t0;
    CHECK_STR(s.err.msg, "agent not responding after 200 ms");
    CHECK_MSG(took >= 190 && took < 800, "took %lld ms", (long long)took);
    CHECK(!qga_ready(f.g));
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_error_reply_keeps_the_stream_in_step)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-file-open\", \"arguments\": {\"path\": \"/nope\"}}\n"
        "> {\"error\": {\"class\": \"GenericError\", \"desc\": \"failed to open file '/nope' "
        "(mode: 'r')\"}}\n"
        "< {\"execute\": \"guest-ping\"}\n> {\"return\": {}}\nhold\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct seen a = {0}, b = {0};
    qga_request(f.g, "guest-file-open", json_pack("{s:s}", "path", "/nope"), 2000, on_reply, &a);
    qga_request(f.g, "guest-ping", NULL, 2000, on_reply, &b);
    CHECK(run_until(f.lp, &b.done, 3000));
    CHECK_STR(a.cls, "GenericError");
    CHECK_STR(a.err.msg, "guest agent: failed to open file '/nope' (mode: 'r')");
    CHECK(json_is_object(b.ret));
    json_decref(b.ret);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_oversized_reply_drops_connection)
{
    char big[4000];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *rest = xasprintf("< {\"execute\": \"guest-ping\"}\n> {\"return\": \"%s\"}\nhold\n", big);
    char *script = script_after_sync(rest);
    free(rest);
    struct fixture f;
    struct qga_opts o = {.max_line = 1024};
    fixture_start(&f, script, &o);
    free(script);
    struct seen s = {0};
    qga_request(f.g, "guest-ping", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK(s.ret == NULL);
    CHECK_CONTAINS(s.err.msg, "longer than the 1024-byte limit");
    CHECK(qga_failed(f.g, NULL));
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_shutdown_has_no_reply_but_succeeds)
{
    char *script = script_after_sync(
        "< {\"execute\": \"guest-shutdown\"}\n"
        "< {\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": \"$S2\"}}\n"
        "> \\xff{\"return\": $S2}\n"
        "< {\"execute\": \"guest-shutdown\", \"arguments\": {\"mode\": \"bad\"}}\n"
        "< {\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": \"$S3\"}}\n"
        "> {\"error\": {\"class\": \"GenericError\", \"desc\": \"mode is invalid\"}}\n"
        "> \\xff{\"return\": $S3}\n"
        "< {\"execute\": \"guest-shutdown\"}\n"
        "< {\"execute\": \"guest-sync-delimited\", \"arguments\": {\"id\": \"$S4\"}}\n"
        "close\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct seen a = {0}, b = {0}, c = {0};
    qga_request(f.g, "guest-shutdown", NULL, 2000, on_reply, &a);
    qga_request(f.g, "guest-shutdown", json_pack("{s:s}", "mode", "bad"), 2000, on_reply, &b);
    qga_request(f.g, "guest-shutdown", NULL, 2000, on_reply, &c);
    CHECK(run_until(f.lp, &c.done, 3000));
    CHECK(a.ret != NULL);
    CHECK(b.ret == NULL);
    CHECK_STR(b.err.msg, "guest agent: mode is invalid");
    CHECK_MSG(c.ret != NULL, "%s", c.err.msg); /* the guest went away: success */
    json_decref(a.ret);
    json_decref(c.ret);
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_peer_hangs_up)
{
    char *script = script_after_sync("< {\"execute\": \"guest-ping\"}\nclose\n");
    struct fixture f;
    fixture_start(&f, script, NULL);
    free(script);
    struct seen s = {0};
    qga_request(f.g, "guest-ping", NULL, 2000, on_reply, &s);
    CHECK(run_until(f.lp, &s.done, 3000));
    CHECK_STR(s.err.msg, "guest agent connection to qga.sock closed");
    CHECK_INT(fixture_end(&f), 0);
}

TEST(qga_b64_strict_decoding)
{
    static const struct {
        const char *in, *out;
        size_t len;
    } good[] = {
        {"", "", 0}, {"YQ==", "a", 1}, {"YWI=", "ab", 2}, {"YWJj", "abc", 3},
        {"AP8=", "\0\xff", 2}, {"aGVsbG8K", "hello\n", 6},
    };
    static const char *const bad[] = {
        "YQ", "YQ=", "Y===", "=YWJ", "YQ=a", "YQ==YQ==", " YWJ", "YWJ\n", "YW-j", "YW\xc3\xa9",
        "QR==", "YWK=", "QQ//QR==", /* padding bits that are not zero (non-canonical) */
    };
    struct ib_error err = {0};
    for (size_t i = 0; i < IB_ARRAY_LEN(good); i++) {
        char *out;
        size_t len;
        CHECK_MSG(qga_b64_decode(good[i].in, strlen(good[i].in), &out, &len, &err) == 0,
                  "%s: %s", good[i].in, err.msg);
        CHECK_INT(len, good[i].len);
        CHECK_MSG(memcmp(out, good[i].out, len) == 0, "%s decoded wrong", good[i].in);
        free(out);
    }
    for (size_t i = 0; i < IB_ARRAY_LEN(bad); i++) {
        char *out = NULL;
        size_t len;
        CHECK_MSG(qga_b64_decode(bad[i], strlen(bad[i]), &out, &len, &err) < 0,
                  "\"%s\" was accepted", bad[i]);
        CHECK(out == NULL);
    }
    char *enc = qga_b64_encode("\0\xff", 2);
    CHECK_STR(enc, "AP8=");
    free(enc);
}

TEST(qga_lock_path_is_next_to_the_socket)
{
    char *p = qga_lock_path("/run/iotbench/run/demo/qga.sock");
    CHECK_STR(p, "/run/iotbench/run/demo/qga.lock");
    free(p);
}

TEST(qga_blocking_ping_and_exec_on_a_socket)
{
    peer_eol = "\n";
    const char *path = test_path("ping/qga.sock");
    test_write_file(test_path("ping/x"), "");
    pid_t peer = peer_listen(path, "< \\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": "
                                   "{\"id\": \"$SYNC\"}}\n> \\xff{\"return\": $SYNC}\n"
                                   "< {\"execute\": \"guest-ping\"}\n> {\"return\": {}}\nhold\n",
                             1);
    struct ib_error err = {0};
    CHECK_MSG(qga_ping(path, 2000, &err) == 0, "%s", err.msg);
    CHECK_INT(peer_wait(peer), 0);

    char *script = transcript("qga-exec.txt");
    peer = peer_listen(path, script, 1);
    free(script);
    const char *argv[] = {"/bin/cat", NULL};
    struct qga_exec_result res;
    CHECK_MSG(qga_exec_sync(path, argv, "hello\n", 6, 3000, &res, &err) == 0, "%s", err.msg);
    CHECK_STR(res.out, "hello\n");
    qga_exec_result_free(&res);
    CHECK_INT(peer_wait(peer), 0);
}

/* A child holds the agent (and so qga.lock); the parent must be told who. */
TEST(qga_second_opener_reports_busy_with_holder_pid)
{
    peer_eol = "\n";
    const char *path = test_path("busy/qga.sock");
    test_write_file(test_path("busy/x"), "");
    pid_t peer = peer_listen(path, "hold\n", 1);
    int ready[2], done[2];
    CHECK(pipe(ready) == 0 && pipe(done) == 0);
    fflush(NULL);
    pid_t holder = fork();
    if (holder == 0) {
        struct loop *lp = loop_new();
        struct qga *g = qga_open(lp, path, NULL);
        char c = g ? 'y' : 'n';
        (void)!write(ready[1], &c, 1);
        (void)!read(done[0], &c, 1);
        _exit(0);
    }
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1 && c == 'y');
    struct ib_error err = {0};
    int64_t t0 = ib_now_ms();
    CHECK_INT(qga_ping(path, 200, &err), -1);
    int64_t took = ib_now_ms() - t0;
    char want[128];
    snprintf(want, sizeof want, "agent busy: held by another iotbench process (pid %ld)",
             (long)holder);
    CHECK_STR(err.msg, want);
    CHECK_INT(err.status, IB_ECONFLICT);
    CHECK_MSG(took >= 190 && took < 800, "took %lld ms", (long long)took);
    /* An opener that will not wait says so at once. */
    struct qga_opts o = {.lock_timeout_ms = -1};
    struct loop *lp = loop_new();
    CHECK(qga_open_opts(lp, path, &o, &err) == NULL);
    CHECK_STR(err.msg, want);
    loop_free(lp);
    CHECK(write(done[1], "x", 1) == 1);
    int status;
    waitpid(holder, &status, 0);
    close(ready[0]), close(ready[1]), close(done[0]), close(done[1]);
    CHECK_INT(peer_wait(peer), 0);
    /* The holder's exit released the lock. */
    int fd = open(test_path("busy/qga.lock"), O_RDWR);
    CHECK(fd >= 0);
    CHECK(flock(fd, LOCK_EX | LOCK_NB) == 0);
    close(fd);
}

TEST(qga_lock_waits_for_a_short_holder)
{
    peer_eol = "\n";
    const char *path = test_path("wait/qga.sock");
    test_write_file(test_path("wait/x"), "");
    pid_t peer = peer_listen(path, "< \\xff{\"execute\": \"guest-sync-delimited\", \"arguments\": "
                                   "{\"id\": \"$SYNC\"}}\n> \\xff{\"return\": $SYNC}\n"
                                   "< {\"execute\": \"guest-ping\"}\n> {\"return\": {}}\nhold\n",
                             1);
    int fd = open(test_path("wait/qga.lock"), O_RDWR | O_CREAT, 0600);
    CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
    fflush(NULL);
    pid_t releaser = fork();
    if (releaser == 0) {
        usleep(100 * 1000);
        _exit(0); /* the parent releases; the child only marks time */
    }
    struct loop *lp = loop_new();
    struct ib_error err = {0};
    struct qga *g = qga_open(lp, path, &err);
    CHECK(g != NULL);
    struct seen s = {0};
    qga_request(g, "guest-ping", NULL, 2000, on_reply, &s);
    for (int i = 0; i < 5; i++)
        loop_run_once(lp, 10);
    CHECK(!s.done); /* still waiting for the lock */
    close(fd);      /* release */
    CHECK(run_until(lp, &s.done, 2000));
    CHECK_MSG(s.ret != NULL, "%s", s.err.msg);
    json_decref(s.ret);
    qga_close(g);
    loop_free(lp);
    waitpid(releaser, NULL, 0);
    CHECK_INT(peer_wait(peer), 0);
}
