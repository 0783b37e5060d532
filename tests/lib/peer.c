/* peer.c - see peer.h. */
#include "tests/lib/peer.h"

#include <ctype.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "core/util.h"
#include "tests/lib/harness.h"


struct peer_var {
    char name[32];
    json_t *value;
};
static struct peer_var peer_vars[8];
const char *peer_eol = "\r\n";

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
pid_t peer_start(const char *script, int *client_fd)
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
pid_t peer_listen(const char *path, const char *script, int clients)
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
int peer_wait(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *transcript(const char *name)
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

bool run_until(struct loop *lp, const bool *flag, int max_ms)
{
    int64_t end = ib_now_ms() + max_ms;
    while (!*flag && ib_now_ms() < end)
        loop_run_once(lp, 20);
    return *flag;
}
