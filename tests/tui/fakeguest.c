/*
 * fakeguest.c - a stand-in for a running instance, for workbench tests
 * that need its agent or its QMP monitor but no QEMU: a runtime folder
 * $HOME/run/NAME with meta.json, a "QEMU" process whose command line holds
 * "-name NAME" (so instance_list finds it running), and a child serving
 *
 *   qga.sock  guest-sync-delimited, guest-ping, guest-set-time, guest-exec
 *             and guest-exec-status, answering core/guestproc's scripts
 *             from a process table in DIR/procs (one process a line:
 *             "PID PPID UID STATE host|device|kernel RSS_KB TICKS COMM ARGS...");
 *             `kill` removes the process from that file (or fails with
 *             "No such process"); /sbin/target-start makes DIR/target-started;
 *             while DIR/hang exists nothing is answered
 *   qmp.sock  the greeting, qmp_capabilities, query-block with the
 *             snapshots it holds, snapshot-save/load/delete as jobs that run
 *             for about a second (query-jobs shows their progress; a name
 *             starting with "bad" fails), job-dismiss, human-monitor-command
 *
 * Included by the tests that use it (the test library is linked into every
 * test binary; this is for the workbench's tests only).
 *
 *     struct fakeguest *f = fg_start(home, "fake1", 0);
 *     fg_procs(f, "161 1 0 S device 140 5 demod /usr/bin/demod\n");
 *     ...
 *     fg_stop(f);
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/qga.h"
#include "core/util.h"

struct fakeguest {
    char dir[4096];
    pid_t qemu, server;
    int qemu_in;
};

/* ---- the process table ---- */

static char *fg_path(const char *dir, const char *file)
{
    static char buf[4][4200];
    static int turn;
    char *p = buf[turn++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", dir, file);
    return p;
}

static char *fg_slurp(const char *path)
{
    char *text = NULL;
    if (ib_read_file(path, 1 << 20, &text, NULL, NULL) < 0)
        return xstrdup("");
    return text;
}

struct fg_buf {
    char *p;
    size_t len, cap;
};

static void fg_put(struct fg_buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap)
        b->p = xrealloc(b->p, b->cap = (b->len + n + 1) * 2);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void fg_rec(struct fg_buf *b, const char *name, const char *value)
{
    fg_put(b, name, strlen(name));
    fg_put(b, ":", 1);
    fg_put(b, value, strlen(value));
    fg_put(b, "", 1);
}

/* The listing script's output for the table in DIR/procs. */
static struct fg_buf fg_listing(const char *dir)
{
    struct fg_buf b = {0};
    char *table = fg_slurp(fg_path(dir, "procs"));
    char stats[8192] = "";
    fg_rec(&b, "uptime", "1000.00 900.00\n");
    fg_rec(&b, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nguest:x:1000:1000::/:/bin/sh\n");
    fg_rec(&b, "/target/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    snprintf(stats, sizeof stats, "/ 0 65024 2\n/target 0 22 777\n");
    char *save = NULL;
    for (char *line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int pid, ppid, uid, off = 0;
        char state, where[16], comm[64];
        unsigned long rss, ticks;
        if (sscanf(line, "%d %d %d %c %15s %lu %lu %63s %n", &pid, &ppid, &uid, &state, where, &rss,
                   &ticks, comm, &off) < 8)
            continue;
        bool kthread = strcmp(where, "kernel") == 0;
        char name[32], *stat;
        snprintf(name, sizeof name, "%d/stat", pid);
        stat = xasprintf("%d (%s) %c %d %d %d 0 -1 %u 351 3011 13 141 %lu 0 20 95 20 0 1 0 %d "
                         "1593344 %lu 4294967295 65536 1327240 3198856896 0 0 0 0 0 524288 1 0 "
                         "0 17 0 0 0 0 0 0\n",
                         pid, comm, state, ppid, pid, pid, kthread ? 0x00208040u : 4194560u, ticks,
                         100 + pid, rss / 4);
        fg_rec(&b, name, stat);
        free(stat);
        snprintf(name, sizeof name, "%d/cmdline", pid);
        const char *args = off > 0 ? line + off : "";
        char argbuf[1024];
        snprintf(argbuf, sizeof argbuf, "%s", args);
        char *s2 = NULL;
        for (char *a = strtok_r(argbuf, " ", &s2); a && !kthread; a = strtok_r(NULL, " ", &s2))
            fg_rec(&b, name, a);
        bool dev = strcmp(where, "device") == 0;
        size_t l = strlen(stats);
        snprintf(stats + l, sizeof stats - l, "%d %d 17 %d\n%d/root 0 %s\n", pid, uid, pid, pid,
                 dev ? "22 777" : "65024 2");
    }
    fg_put(&b, "--stat--", 9);
    fg_put(&b, stats, strlen(stats));
    free(table);
    return b;
}

static bool fg_has_pid(const char *dir, int pid)
{
    char *table = fg_slurp(fg_path(dir, "procs"));
    bool found = false;
    char *save = NULL;
    for (char *line = strtok_r(table, "\n", &save); line && !found;
         line = strtok_r(NULL, "\n", &save))
        found = atoi(line) == pid;
    free(table);
    return found;
}

static bool fg_kill(const char *dir, int pid)
{
    char *table = fg_slurp(fg_path(dir, "procs"));
    struct fg_buf out = {0};
    bool found = false;
    char *save = NULL;
    for (char *line = strtok_r(table, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (atoi(line) == pid) {
            found = true;
            continue;
        }
        fg_put(&out, line, strlen(line));
        fg_put(&out, "\n", 1);
    }
    ib_write_file_atomic(fg_path(dir, "procs"), out.p ? out.p : "", out.len, 0600, NULL);
    free(out.p);
    free(table);
    return found;
}

/* ---- the agent ---- */

struct fg_exec {
    int pid;
    int code;
    char *out, *err;
    size_t out_len;
};

static struct fg_exec fg_execs[64];
static int fg_next_exec = 1000;

static void fg_reply(int fd, json_t *doc, bool ff)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    if (ff && write(fd, "\xff", 1) < 0)
        (void)0;
    if (write(fd, s, strlen(s)) < 0 || write(fd, "\n", 1) < 0)
        (void)0;
    free(s);
    json_decref(doc);
}

static void fg_exec_run(const char *dir, json_t *args, struct fg_exec *e)
{
    const char *path = json_string_value(json_object_get(args, "path"));
    json_t *argv = json_object_get(args, "arg");
    const char *script = json_string_value(json_array_get(argv, 1));
    const char *a1 = json_string_value(json_array_get(argv, 3));
    e->code = 0;
    if (path && strcmp(path, "/sbin/target-start") == 0) {
        /* The device's services "start": the test sees that it was asked. */
        FILE *f = fopen(fg_path(dir, "target-started"), "w");
        if (f)
            fclose(f);
    } else if (path && strcmp(path, "kill") == 0) {
        const char *ps = json_string_value(json_array_get(argv, 1));
        int pid = ps ? atoi(ps) : 0;
        if (!fg_kill(dir, pid)) {
            e->code = 1;
            e->err = xasprintf("kill: can't kill pid %d: No such process\n", pid);
        }
    } else if (script && strstr(script, "grep -H -s -z")) {
        struct fg_buf b = fg_listing(dir);
        e->out = b.p;
        e->out_len = b.len;
    } else if (script && strstr(script, "@root")) {
        int pid = a1 ? atoi(a1) : 0;
        if (!fg_has_pid(dir, pid)) {
            e->out = xstrdup("@gone\n");
            e->code = 3;
        } else {
            e->out =
                xasprintf("@root device\n"
                          "00010000-00056000 r-xp 00000000 00:16 777001 /target/usr/bin/demod\n"
                          "00066000-00068000 rw-p 00046000 00:16 777001 /target/usr/bin/demod\n"
                          "00068000-0008a000 rw-p 00000000 00:00 0 [heap]\n"
                          "bec4d000-bec6e000 rw-p 00000000 00:00 0 [stack]\n"
                          "@exe /target/usr/bin/demod\n");
        }
    } else if (script && strstr(script, "@fd")) {
        int pid = a1 ? atoi(a1) : 0;
        if (!fg_has_pid(dir, pid)) {
            e->out = xstrdup("@gone\n");
            e->code = 3;
        } else {
            e->out =
                xstrdup("@fd fd/0 5 character special file\n"
                        "@fd fd/3 11267 socket\n"
                        "/proc/net/tcp:  sl  local_address rem_address   st tx_queue rx_queue tr "
                        "tm->when retrnsmt   uid  timeout inode\n"
                        "/proc/net/tcp:   0: 00000000:0050 00000000:0000 0A 00000000:00000000 "
                        "00:00000000 00000000     0        0 11267 1 c3a5c000 100 0 0 10 0\n");
        }
    }
    if (e->out && e->out_len == 0)
        e->out_len = strlen(e->out);
}

static void fg_agent_line(const char *dir, int fd, const char *line)
{
    json_error_t je;
    json_t *doc = json_loads(line, 0, &je);
    if (doc == NULL)
        return; /* the 0xFF reset, or garbage: the client resyncs */
    const char *cmd = json_string_value(json_object_get(doc, "execute"));
    json_t *args = json_object_get(doc, "arguments");
    if (cmd == NULL) {
        json_decref(doc);
        return;
    }
    if (strcmp(cmd, "guest-sync-delimited") == 0 || strcmp(cmd, "guest-sync") == 0) {
        fg_reply(fd, json_pack("{s:O}", "return", json_object_get(args, "id")), cmd[10] == '-');
    } else if (strcmp(cmd, "guest-exec") == 0) {
        struct fg_exec *e = &fg_execs[fg_next_exec % 64];
        free(e->out);
        free(e->err);
        memset(e, 0, sizeof *e);
        e->pid = fg_next_exec++;
        fg_exec_run(dir, args, e);
        fg_reply(fd, json_pack("{s:{s:i}}", "return", "pid", e->pid), false);
    } else if (strcmp(cmd, "guest-exec-status") == 0) {
        int pid = (int)json_integer_value(json_object_get(args, "pid"));
        struct fg_exec *e = &fg_execs[pid % 64];
        char *out = qga_b64_encode(e->out ? e->out : "", e->out_len);
        char *err = qga_b64_encode(e->err ? e->err : "", e->err ? strlen(e->err) : 0);
        fg_reply(fd,
                 json_pack("{s:{s:b, s:i, s:s, s:s}}", "return", "exited", 1, "exitcode", e->code,
                           "out-data", out, "err-data", err),
                 false);
        free(out);
        free(err);
    } else if (strcmp(cmd, "guest-ping") == 0 || strcmp(cmd, "guest-set-time") == 0) {
        fg_reply(fd, json_pack("{s:{}}", "return"), false);
    } else {
        fg_reply(fd, json_pack("{s:{s:s, s:s}}", "error", "class", "CommandNotFound", "desc", cmd),
                 false);
    }
    json_decref(doc);
}

/* ---- QMP ---- */

struct fg_snap {
    char name[128];
    long long date;
    bool used;
};
static struct fg_snap fg_snaps[16];

struct fg_job {
    char id[128], kind[32], tag[128];
    long long started_ms;
    bool used, failed;
};
static struct fg_job fg_jobs[8];

static long long fg_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define FG_JOB_MS 1200

static void fg_job_finish(struct fg_job *j)
{
    if (j->failed)
        return;
    if (strcmp(j->kind, "snapshot-save") == 0) {
        for (int i = 0; i < 16; i++)
            if (!fg_snaps[i].used) {
                fg_snaps[i].used = true;
                snprintf(fg_snaps[i].name, sizeof fg_snaps[i].name, "%s", j->tag);
                fg_snaps[i].date = (long long)time(NULL);
                break;
            }
    } else if (strcmp(j->kind, "snapshot-delete") == 0) {
        for (int i = 0; i < 16; i++)
            if (fg_snaps[i].used && strcmp(fg_snaps[i].name, j->tag) == 0)
                fg_snaps[i].used = false;
    }
}

static void fg_qmp_line(int fd, const char *line)
{
    json_error_t je;
    json_t *doc = json_loads(line, 0, &je);
    if (doc == NULL)
        return;
    const char *cmd = json_string_value(json_object_get(doc, "execute"));
    json_t *args = json_object_get(doc, "arguments");
    json_t *id = json_object_get(doc, "id");
    json_t *ret = NULL;
    if (cmd == NULL) {
        ret = json_object();
    } else if (strcmp(cmd, "query-block") == 0) {
        json_t *snaps = json_array();
        for (int i = 0; i < 16; i++)
            if (fg_snaps[i].used)
                json_array_append_new(snaps, json_pack("{s:s, s:I, s:I}", "name", fg_snaps[i].name,
                                                       "date-sec", (json_int_t)fg_snaps[i].date,
                                                       "vm-state-size", (json_int_t)45088768));
        ret = json_pack("[{s:s, s:{s:{s:o}}}]", "device", "hostfs", "inserted", "image",
                        "snapshots", snaps);
    } else if (strncmp(cmd, "snapshot-", 9) == 0) {
        for (int i = 0; i < 8; i++)
            if (!fg_jobs[i].used) {
                struct fg_job *j = &fg_jobs[i];
                memset(j, 0, sizeof *j);
                j->used = true;
                const char *jid = json_string_value(json_object_get(args, "job-id"));
                const char *tag = json_string_value(json_object_get(args, "tag"));
                snprintf(j->id, sizeof j->id, "%s", jid ? jid : "?");
                snprintf(j->kind, sizeof j->kind, "%s", cmd);
                snprintf(j->tag, sizeof j->tag, "%s", tag ? tag : "?");
                j->started_ms = fg_ms();
                j->failed = strncmp(j->tag, "bad", 3) == 0;
                break;
            }
        ret = json_object();
    } else if (strcmp(cmd, "query-jobs") == 0) {
        ret = json_array();
        for (int i = 0; i < 8; i++) {
            struct fg_job *j = &fg_jobs[i];
            if (!j->used)
                continue;
            long long el = fg_ms() - j->started_ms;
            bool done = el >= FG_JOB_MS;
            json_t *o = json_pack("{s:s, s:s, s:I, s:I}", "id", j->id, "status",
                                  done ? "concluded" : "running", "current-progress",
                                  (json_int_t)(done ? FG_JOB_MS : el), "total-progress",
                                  (json_int_t)FG_JOB_MS);
            if (done && j->failed)
                json_object_set_new(o, "error",
                                    json_string("Device 'disk-hostfs' does not support snapshots "
                                                "(a test's refusal)"));
            json_array_append_new(ret, o);
        }
    } else if (strcmp(cmd, "job-dismiss") == 0) {
        const char *jid = json_string_value(json_object_get(args, "id"));
        for (int i = 0; i < 8; i++)
            if (fg_jobs[i].used && jid && strcmp(fg_jobs[i].id, jid) == 0) {
                fg_job_finish(&fg_jobs[i]);
                fg_jobs[i].used = false;
            }
        ret = json_object();
    } else if (strcmp(cmd, "human-monitor-command") == 0) {
        ret = json_string("");
    } else {
        ret = json_object();
    }
    json_t *reply = json_pack("{s:o}", "return", ret);
    if (id)
        json_object_set(reply, "id", id);
    fg_reply(fd, reply, false);
    json_decref(doc);
}

/* ---- serving ---- */

static int fg_listen(const char *path)
{
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4) < 0)
        _exit(2);
    return fd;
}

struct fg_conn {
    int fd;
    bool qmp;
    char buf[65536];
    size_t len;
};

static void fg_serve(const char *dir)
{
    int lq = fg_listen(fg_path(dir, "qga.sock")), lm = fg_listen(fg_path(dir, "qmp.sock"));
    struct fg_conn conns[8];
    int n = 0;
    for (;;) {
        struct pollfd pf[10];
        pf[0] = (struct pollfd){.fd = lq, .events = POLLIN};
        pf[1] = (struct pollfd){.fd = lm, .events = POLLIN};
        for (int i = 0; i < n; i++)
            pf[2 + i] = (struct pollfd){.fd = conns[i].fd, .events = POLLIN};
        if (poll(pf, (nfds_t)(2 + n), -1) < 0 && errno != EINTR)
            _exit(3);
        for (int l = 0; l < 2; l++)
            if ((pf[l].revents & POLLIN) && n < 8) {
                int c = accept4(pf[l].fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                    continue;
                conns[n] = (struct fg_conn){.fd = c, .qmp = l == 1};
                if (l == 1) {
                    const char *greet = "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, "
                                        "\"minor\": 2, \"micro\": 0}}, \"capabilities\": []}}\r\n";
                    if (write(c, greet, strlen(greet)) < 0)
                        (void)0;
                }
                n++;
            }
        for (int i = 0; i < n; i++) {
            if (!(pf[2 + i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct fg_conn *c = &conns[i];
            ssize_t got = read(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len);
            if (got <= 0) {
                close(c->fd);
                conns[i] = conns[--n];
                pf[2 + i] = pf[2 + n];
                i--;
                continue;
            }
            if (!c->qmp && access(fg_path(dir, "hang"), F_OK) == 0) {
                c->len = 0; /* a hung agent: reads, never answers */
                continue;
            }
            c->len += (size_t)got;
            c->buf[c->len] = '\0';
            char *start = c->buf, *nl;
            while ((nl = strchr(start, '\n')) != NULL) {
                *nl = '\0';
                while (*start == '\xff')
                    start++;
                if (*start)
                    c->qmp ? fg_qmp_line(c->fd, start) : fg_agent_line(dir, c->fd, start);
                start = nl + 1;
            }
            c->len -= (size_t)(start - c->buf);
            memmove(c->buf, start, c->len);
            if (c->len == sizeof c->buf - 1)
                c->len = 0;
        }
    }
}

/* ---- the instance ---- */

__attribute__((unused)) static void fg_procs(struct fakeguest *f, const char *table)
{
    ib_write_file_atomic(fg_path(f->dir, "procs"), table, strlen(table), 0600, NULL);
}

__attribute__((unused)) static void fg_hang(struct fakeguest *f, bool on)
{
    if (on)
        ib_write_file_atomic(fg_path(f->dir, "hang"), "", 0, 0600, NULL);
    else
        unlink(fg_path(f->dir, "hang"));
}

static struct fakeguest *fg_start(const char *home, const char *name, long long warm_made_ms)
{
    struct fakeguest *f = xcalloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%.3000s/run/%.200s", home, name);
    char run[4096];
    snprintf(run, sizeof run, "%.3000s/run", home);
    mkdir(home, 0700);
    mkdir(run, 0700);
    mkdir(f->dir, 0700);
    fg_procs(f, "1 0 0 S host 8 12 init init\n"
                "2 0 0 S kernel 0 0 kthreadd\n"
                "140 1 0 S host 2560 300 qemu-ga qemu-ga -d -m virtio-serial\n"
                "143 1 0 S host 4 1 sh /bin/sh -l\n"
                "152 1 0 S device 140 5 demod /usr/bin/demod\n"
                "160 1 1000 R device 51200 4000 hog /usr/bin/hog --eat-memory\n");
    /* "QEMU": a shell waiting on a pipe, its command line naming the instance. */
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return NULL;
    fflush(stdout);
    f->qemu = fork();
    if (f->qemu == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(p[0], 0);
        execlp("sh", "sh", "-c", "read x", "qemu-system-arm", "-name", name, (char *)NULL);
        _exit(127);
    }
    close(p[0]);
    f->qemu_in = p[1];
    f->server = fork();
    if (f->server == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        signal(SIGPIPE, SIG_IGN);
        fg_serve(f->dir);
        _exit(0);
    }
    json_t *argv = json_pack("[s, s, s, s, s]", "qemu-system-arm", "-name", name, "-drive",
                             "if=none,file=overlay.qcow2,node-name=disk-hostfs");
    json_t *meta = json_pack("{s:i, s:s, s:s, s:i, s:I, s:i, s:I, s:[], s:o}", "format", 1, "name",
                             name, "device", "demo", "pid", (int)f->qemu, "started_ms",
                             (json_int_t)ib_wall_ms(), "gdbstub_port", 0, "warm_made_ms",
                             (json_int_t)warm_made_ms, "forwards", "argv", argv);
    json_dump_file(meta, fg_path(f->dir, "meta.json"), JSON_INDENT(2));
    json_decref(meta);
    for (int i = 0; i < 500 && (access(fg_path(f->dir, "qga.sock"), F_OK) != 0 ||
                                access(fg_path(f->dir, "qmp.sock"), F_OK) != 0);
         i++)
        usleep(2000);
    return f;
}

static void fg_stop(struct fakeguest *f)
{
    if (f == NULL)
        return;
    kill(f->server, SIGKILL);
    waitpid(f->server, NULL, 0);
    close(f->qemu_in); /* "QEMU" reads EOF and exits */
    kill(f->qemu, SIGKILL);
    waitpid(f->qemu, NULL, 0);
    free(f);
}
