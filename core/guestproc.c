/*
 * guestproc.c - guest processes through the agent; see guestproc.h.
 *
 * Each operation sends one busybox sh script with guest-exec. Arguments
 * (pids) go to the script as positional parameters, never into its text.
 * The parsers below take the output as hostile: every length is checked,
 * every number bounded, and a record that does not parse is skipped.
 */
#include "core/guestproc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/loop.h"
#include "core/safetext.h"
#include "core/util.h"

#define USER_HZ 100.0 /* fixed at 100 on ARM Linux */
#define PAGE_KB 4     /* ARM Linux pages are 4 KiB */
#define MAX_ARGS 4096
#define MAX_CMDLINE (64u << 10)
#define STAT_MARK "--stat--"
#define EXE_MARK "--exe--"

/* ---- listing script ---- */

/* grep -z prints each NUL-terminated piece of each file as "FILE:piece\0":
 * a stat file is one piece, a cmdline one piece per argument. The file
 * name in front always comes from our glob, so content cannot fake it.
 * The exe links come last, as `ls -ln` lines: one process for all of them
 * (a readlink each costs ~15 ms under TCG); see parse_exe_section for why
 * a path with a newline cannot speak for another process. */
static const char LIST_SCRIPT[] =
    "cd /proc || exit 3\n"
    "if [ \"$1\" = p ]; then set -- /etc/passwd /target/etc/passwd; else set --; fi\n"
    "grep -H -s -z '' uptime \"$@\" [0-9]*/stat [0-9]*/cmdline\n"
    "printf '%s\\0' " STAT_MARK "\n"
    "stat -L -c '%n %u %d %i' / /target [0-9]* [0-9]*/root 2>/dev/null\n"
    "printf '%s\\0' " EXE_MARK "\n"
    "exec ls -ln [0-9]*/exe 2>/dev/null\n";

/* ---- small parsing helpers ---- */

static bool parse_u64(const char *s, size_t len, int base, uint64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d;
        char c = s[i];
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    *out = v;
    return true;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    bool neg = len > 0 && s[0] == '-';
    uint64_t v;
    if (!parse_u64(s + neg, len - neg, 10, &v) || v > (uint64_t)INT64_MAX)
        return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool parse_pid(const char *s, size_t len, int *pid)
{
    uint64_t v;
    if (!parse_u64(s, len, 10, &v) || v == 0 || v > 4194304) /* PID_MAX_LIMIT */
        return false;
    *pid = (int)v;
    return true;
}

/* The next space-separated token of [*p, end); false at the end. */
static bool next_token(const char **p, const char *end, const char **tok, size_t *len)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if (s >= end)
        return false;
    const char *e = s;
    while (e < end && *e != ' ' && *e != '\t')
        e++;
    *tok = s;
    *len = (size_t)(e - s);
    *p = e;
    return true;
}

/* Splits [text, text+len) at '\n'; returns false after the last line. */
static bool next_line(const char **p, const char *end, const char **line, size_t *len)
{
    if (*p >= end)
        return false;
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *e = nl ? nl : end;
    *line = *p;
    *len = (size_t)(e - *p);
    *p = nl ? nl + 1 : end;
    return true;
}

/* ---- users ---- */

struct guestproc_user {
    uint32_t uid;
    char name[33];
};

struct guestproc_users {
    struct guestproc_user *v[2]; /* [0] host system, [1] device */
    size_t n[2];
    bool loaded;
};

struct guestproc_users *guestproc_users_new(void)
{
    return xcalloc(1, sizeof(struct guestproc_users));
}

void guestproc_users_free(struct guestproc_users *u)
{
    if (u == NULL)
        return;
    free(u->v[0]);
    free(u->v[1]);
    free(u);
}

static bool name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isgraph((unsigned char)s[i]))
            return false;
    return true;
}

static void users_parse(struct guestproc_users *u, int which, const char *text, size_t len)
{
    free(u->v[which]);
    u->v[which] = NULL;
    u->n[which] = 0;
    size_t cap = 0;
    const char *p = text, *end = text + len, *line;
    size_t ll;
    while (next_line(&p, end, &line, &ll) && u->n[which] < 65536) {
        const char *c1 = memchr(line, ':', ll);
        if (c1 == NULL)
            continue;
        const char *c2 = memchr(c1 + 1, ':', (size_t)(line + ll - c1 - 1));
        if (c2 == NULL)
            continue;
        const char *c3 = memchr(c2 + 1, ':', (size_t)(line + ll - c2 - 1));
        uint64_t uid;
        if (c3 == NULL || !name_ok(line, (size_t)(c1 - line)) ||
            !parse_u64(c2 + 1, (size_t)(c3 - c2 - 1), 10, &uid) || uid >= UINT32_MAX)
            continue;
        if (u->n[which] == cap)
            u->v[which] = xrealloc(u->v[which], (cap = cap ? cap * 2 : 16) * sizeof **u->v);
        struct guestproc_user *e = &u->v[which][u->n[which]++];
        e->uid = (uint32_t)uid;
        memcpy(e->name, line, (size_t)(c1 - line));
        e->name[c1 - line] = '\0';
    }
}

const char *guestproc_users_name(const struct guestproc_users *u, bool device, uint32_t uid)
{
    if (u == NULL)
        return NULL;
    for (int pass = device ? 1 : 0; pass >= 0; pass--) /* the device falls back to the host */
        for (size_t i = 0; i < u->n[pass]; i++)
            if (u->v[pass][i].uid == uid)
                return u->v[pass][i].name;
    return NULL;
}

/* ---- snapshots ---- */

static void proc_clear(struct guestproc *p)
{
    for (size_t i = 0; i < p->argc; i++)
        free(p->argv[i]);
    free(p->argv);
    free(p->cmdline);
    free(p->exe);
    p->argv = NULL;
    p->cmdline = NULL;
    p->exe = NULL;
    p->argc = 0;
}

void guestproc_snapshot_free(struct guestproc_snapshot *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->procs && i < s->n; i++)
        proc_clear(&s->procs[i]);
    free(s->procs);
    s->procs = NULL;
    s->n = 0;
}

static int cmp_pid(const void *a, const void *b)
{
    const struct guestproc *x = a, *y = b;
    return (x->pid > y->pid) - (x->pid < y->pid);
}

static struct guestproc *snap_find(const struct guestproc_snapshot *s, int pid)
{
    struct guestproc key = {.pid = pid};
    if (s->procs == NULL)
        return NULL;
    return bsearch(&key, s->procs, s->n, sizeof key, cmp_pid);
}

const struct guestproc *guestproc_snapshot_get(const struct guestproc_snapshot *s, int pid)
{
    return snap_find(s, pid);
}

static double average_cpu(const struct guestproc *p, double uptime)
{
    double alive = uptime - (double)p->start_ticks / USER_HZ;
    if (alive <= 0.01)
        return 0.0;
    return (double)(p->utime + p->stime) / USER_HZ / alive * 100.0;
}

void guestproc_snapshot_cpu(struct guestproc_snapshot *cur, const struct guestproc_snapshot *prev)
{
    double dt = prev ? cur->uptime - prev->uptime : 0.0;
    cur->cpu_is_average = prev == NULL || dt <= 0.0;
    for (size_t i = 0; i < cur->n; i++) {
        struct guestproc *p = &cur->procs[i];
        const struct guestproc *q = prev && dt > 0.0 ? snap_find(prev, p->pid) : NULL;
        uint64_t now = p->utime + p->stime;
        if (q != NULL && q->start_ticks == p->start_ticks && now >= q->utime + q->stime)
            p->cpu = (double)(now - q->utime - q->stime) / USER_HZ / dt * 100.0;
        else
            p->cpu = average_cpu(p, cur->uptime);
    }
}

const char *guestproc_where_name(enum guestproc_where w)
{
    switch (w) {
    case GUESTPROC_HOST:
        return "host";
    case GUESTPROC_DEVICE:
        return "device";
    case GUESTPROC_OTHER:
        return "chroot";
    default:
        return "?";
    }
}

/* "PID (comm) S ppid ..." - comm may hold anything but NUL, so it ends at
 * the LAST ')'. */
static bool parse_stat(const char *s, size_t len, int file_pid, struct guestproc *p)
{
    const char *open = memchr(s, '(', len);
    const char *close = NULL;
    for (const char *q = s + len; q > s; q--)
        if (q[-1] == ')') {
            close = q - 1;
            break;
        }
    int pid;
    if (open == NULL || close == NULL || close < open || open < s + 2 || open[-1] != ' ' ||
        !parse_pid(s, (size_t)(open - 1 - s), &pid) || pid != file_pid)
        return false;
    size_t clen = (size_t)(close - open - 1);
    if (clen >= sizeof p->comm)
        clen = sizeof p->comm - 1;
    memcpy(p->comm, open + 1, clen);
    p->comm[clen] = '\0';
    /* Fields 3.. after ") "; we need up to 24 (rss). */
    const char *q = close + 1, *end = s + len;
    while (end > q && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    const char *tok[22];
    size_t tl[22];
    int n = 0;
    while (n < 22 && next_token(&q, end, &tok[n], &tl[n]))
        n++;
    if (n < 22 || tl[0] != 1)
        return false;
    int64_t ppid, nice, threads;
    uint64_t flags, utime, stime, start, vsize, rss;
    if (!parse_i64(tok[1], tl[1], &ppid) || ppid < 0 || ppid > 4194304 ||
        !parse_u64(tok[6], tl[6], 10, &flags) || !parse_u64(tok[11], tl[11], 10, &utime) ||
        !parse_u64(tok[12], tl[12], 10, &stime) || !parse_i64(tok[16], tl[16], &nice) ||
        !parse_i64(tok[17], tl[17], &threads) || !parse_u64(tok[19], tl[19], 10, &start) ||
        !parse_u64(tok[20], tl[20], 10, &vsize) || !parse_u64(tok[21], tl[21], 10, &rss))
        return false;
    p->pid = pid;
    p->state = tok[0][0];
    p->ppid = (int)ppid;
    p->kthread = (flags & 0x00200000) != 0; /* PF_KTHREAD */
    p->utime = utime;
    p->stime = stime;
    p->nice = nice < -100 || nice > 100 ? 0 : (int)nice;
    p->threads = threads < 0 || threads > 1000000 ? 0 : (int)threads;
    p->start_ticks = start;
    p->vsize = vsize;
    p->rss_kb = rss > UINT64_MAX / PAGE_KB ? 0 : rss * PAGE_KB;
    return true;
}

/* "N/stat" -> N (kind "stat"); false for anything else. */
static bool record_pid(const char *name, size_t nlen, const char *kind, int *pid)
{
    const char *slash = memchr(name, '/', nlen);
    if (slash == NULL || strlen(kind) != nlen - (size_t)(slash + 1 - name) ||
        memcmp(slash + 1, kind, strlen(kind)) != 0)
        return false;
    return parse_pid(name, (size_t)(slash - name), pid);
}

static void proc_add_arg(struct guestproc *p, const char *a, size_t len, size_t *bytes)
{
    if (p->argc >= MAX_ARGS || *bytes + len > MAX_CMDLINE)
        return;
    p->argv = xrealloc(p->argv, (p->argc + 1) * sizeof *p->argv);
    p->argv[p->argc++] = xstrndup(a, len);
    *bytes += len + 1;
}

static void proc_finish(struct guestproc *p, const struct guestproc_users *users)
{
    /* busybox init and others blank their arguments: drop the empty tail. */
    while (p->argc > 0 && p->argv[p->argc - 1][0] == '\0')
        free(p->argv[--p->argc]);
    if (p->argc == 0) {
        p->cmdline = xasprintf("[%s]", p->comm);
    } else {
        size_t len = 0;
        for (size_t i = 0; i < p->argc; i++)
            len += strlen(p->argv[i]) + 1;
        p->cmdline = xmalloc(len);
        char *w = p->cmdline;
        for (size_t i = 0; i < p->argc; i++) {
            size_t n = strlen(p->argv[i]);
            memcpy(w, p->argv[i], n);
            w += n;
            *w++ = i + 1 < p->argc ? ' ' : '\0';
        }
    }
    const char *name = p->uid == GUESTPROC_UID_UNKNOWN
                           ? NULL
                           : guestproc_users_name(users, p->where == GUESTPROC_DEVICE, p->uid);
    if (name != NULL)
        snprintf(p->user, sizeof p->user, "%s", name);
    else if (p->uid != GUESTPROC_UID_UNKNOWN)
        snprintf(p->user, sizeof p->user, "%" PRIu32, p->uid);
    else
        snprintf(p->user, sizeof p->user, "?");
}

struct devino {
    bool ok;
    uint64_t dev, ino;
};

/* The stat section: "NAME UID DEV INO" lines. */
static void parse_stat_section(const char *p, const char *end, struct guestproc_snapshot *s)
{
    struct devino root = {0}, target = {0};
    const char *line;
    size_t ll;
    /* Pass 1 finds the two references (listed first, but do not rely on it). */
    for (int pass = 0; pass < 2; pass++) {
        const char *q = p;
        while (next_line(&q, end, &line, &ll)) {
            const char *t = line, *le = line + ll, *tok[4];
            size_t tl[4];
            int n = 0;
            while (n < 4 && next_token(&t, le, &tok[n], &tl[n]))
                n++;
            uint64_t uid, dev, ino;
            if (n != 4 || next_token(&t, le, &tok[0], &tl[0]) ||
                !parse_u64(tok[1], tl[1], 10, &uid) || !parse_u64(tok[2], tl[2], 10, &dev) ||
                !parse_u64(tok[3], tl[3], 10, &ino))
                continue;
            if (pass == 0) {
                if (tl[0] == 1 && tok[0][0] == '/')
                    root = (struct devino){true, dev, ino};
                else if (tl[0] == strlen(GUESTPROC_TARGET_ROOT) &&
                         memcmp(tok[0], GUESTPROC_TARGET_ROOT, tl[0]) == 0)
                    target = (struct devino){true, dev, ino};
                continue;
            }
            int pid;
            struct guestproc *g;
            if (parse_pid(tok[0], tl[0], &pid)) {
                if ((g = snap_find(s, pid)) != NULL && uid < UINT32_MAX)
                    g->uid = (uint32_t)uid;
            } else if (record_pid(tok[0], tl[0], "root", &pid) && (g = snap_find(s, pid))) {
                if (target.ok && dev == target.dev && ino == target.ino)
                    g->where = GUESTPROC_DEVICE;
                else if (root.ok && dev == root.dev && ino == root.ino)
                    g->where = GUESTPROC_HOST;
                else
                    g->where = GUESTPROC_OTHER;
            }
        }
    }
}

/* `ls -ln` lines, "lrwxrwxrwx 1 0 0 0 Nov 26 18:16 161/exe -> /usr/bin/demod",
 * or without " -> PATH" when the link cannot be read (kernel threads,
 * zombies). The name is our glob's and nothing before it can hold "/exe",
 * so the first " PID/exe" of a line is the real one. A path may hold a
 * newline and so forge a line for another pid: that pid then has two
 * lines, and both are disbelieved (the process is found by argv[0] or
 * comm instead). */
static void parse_exe_section(const char *p, const char *end, struct guestproc_snapshot *s)
{
    static const char tail[] = "/exe";
    unsigned char *lines = xcalloc(s->n + 1, 1);
    const char *line;
    size_t ll;
    while (next_line(&p, end, &line, &ll)) {
        const char *a = memmem(line, ll, tail, sizeof tail - 1);
        if (a == NULL)
            continue;
        const char *num = a, *after = a + sizeof tail - 1, *le = line + ll;
        while (num > line && num[-1] >= '0' && num[-1] <= '9')
            num--;
        int pid;
        struct guestproc *g;
        if (num == line || num[-1] != ' ' || !parse_pid(num, (size_t)(a - num), &pid) ||
            (g = snap_find(s, pid)) == NULL)
            continue;
        size_t i = (size_t)(g - s->procs);
        if (lines[i] < 2)
            lines[i]++;
        size_t rest = (size_t)(le - after);
        if (lines[i] > 1 || rest < 5 || memcmp(after, " -> /", 5) != 0 || rest - 4 > 4096) {
            free(g->exe);
            g->exe = NULL;
            continue;
        }
        g->exe = xstrndup(after + 4, rest - 4);
    }
    free(lines);
}

int guestproc_parse_list(const char *out, size_t len, struct guestproc_users *users,
                         struct guestproc_snapshot *snap, struct ib_error *err)
{
    memset(snap, 0, sizeof *snap);
    const char *end = out + len, *stat_part = NULL;
    bool have_uptime = false;
    size_t cap = 0;
    /* Pass 1: uptime, passwd files, stat records. */
    for (const char *p = out; p < end;) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (nul == NULL)
            break; /* a truncated last record */
        const char *rec = p;
        size_t rlen = (size_t)(nul - p);
        p = nul + 1;
        if (rlen == strlen(STAT_MARK) && memcmp(rec, STAT_MARK, rlen) == 0) {
            stat_part = p;
            break;
        }
        const char *colon = memchr(rec, ':', rlen);
        if (colon == NULL) {
            snap->skipped++;
            continue;
        }
        size_t nlen = (size_t)(colon - rec), vlen = rlen - nlen - 1;
        const char *val = colon + 1;
        int pid;
        if (nlen == 6 && memcmp(rec, "uptime", 6) == 0) {
            char buf[64];
            snprintf(buf, sizeof buf, "%.*s", (int)(vlen < 63 ? vlen : 63), val);
            char *e;
            double up = strtod(buf, &e);
            if (e != buf && up >= 0 && up < 1e10) {
                snap->uptime = up;
                have_uptime = true;
            }
        } else if (nlen == 11 && memcmp(rec, "/etc/passwd", 11) == 0) {
            if (users)
                users_parse(users, 0, val, vlen), users->loaded = true;
        } else if (nlen == 18 && memcmp(rec, "/target/etc/passwd", 18) == 0) {
            if (users)
                users_parse(users, 1, val, vlen);
        } else if (record_pid(rec, nlen, "stat", &pid)) {
            struct guestproc g = {.uid = GUESTPROC_UID_UNKNOWN};
            if (!parse_stat(val, vlen, pid, &g)) {
                snap->skipped++;
                continue;
            }
            if (snap->n == cap)
                snap->procs = xrealloc(snap->procs, (cap = cap ? cap * 2 : 64) * sizeof g);
            snap->procs[snap->n++] = g;
        }
    }
    if (!have_uptime) {
        guestproc_snapshot_free(snap);
        return ib_err(err, IB_EFAIL,
                      "the guest's process listing is not readable (no "
                      "/proc/uptime in %zu bytes of output)",
                      len);
    }
    if (snap->n > 0)
        qsort(snap->procs, snap->n, sizeof *snap->procs, cmp_pid);
    /* Drop duplicate pids (only a forged or confused output has them). */
    size_t w = 0;
    for (size_t i = 0; i < snap->n; i++) {
        if (w > 0 && snap->procs[w - 1].pid == snap->procs[i].pid) {
            snap->skipped++;
            continue;
        }
        snap->procs[w++] = snap->procs[i];
    }
    snap->n = w;
    /* Pass 2: arguments, in the order grep gave them. */
    size_t *bytes = xcalloc(snap->n + 1, sizeof *bytes);
    for (const char *p = out; p < (stat_part ? stat_part : end);) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        if (nul == NULL)
            break;
        const char *rec = p;
        size_t rlen = (size_t)(nul - p);
        p = nul + 1;
        const char *colon = memchr(rec, ':', rlen);
        int pid;
        if (colon == NULL)
            continue;
        size_t nlen = (size_t)(colon - rec), vlen = rlen - nlen - 1;
        struct guestproc *g;
        if (record_pid(rec, nlen, "cmdline", &pid) && (g = snap_find(snap, pid)) != NULL)
            proc_add_arg(g, colon + 1, vlen, &bytes[g - snap->procs]);
    }
    free(bytes);
    if (stat_part != NULL) {
        /* Nothing in stat's output (names from our glob, numbers) holds
         * the mark, so its first occurrence ends the stat section. */
        const char *exe_part = memmem(stat_part, (size_t)(end - stat_part), EXE_MARK,
                                      sizeof EXE_MARK); /* with its NUL */
        parse_stat_section(stat_part, exe_part ? exe_part : end, snap);
        if (exe_part != NULL)
            parse_exe_section(exe_part + sizeof EXE_MARK, end, snap);
    }
    for (size_t i = 0; i < snap->n; i++)
        proc_finish(&snap->procs[i], users);
    guestproc_snapshot_cpu(snap, NULL);
    return 0;
}

/* ---- finding ---- */

static bool proc_matches(const struct guestproc *p, const char *what)
{
    if (what[0] == '/') {
        if (p->argc > 0 && strcmp(p->argv[0], what) == 0)
            return true;
        if (p->exe != NULL) {
            size_t tl = strlen(GUESTPROC_TARGET_ROOT);
            bool in_target = strncmp(p->exe, GUESTPROC_TARGET_ROOT, tl) == 0;
            return strcmp(p->exe, what) == 0 ||
                   (p->where == GUESTPROC_DEVICE && in_target && strcmp(p->exe + tl, what) == 0);
        }
        /* comm is the executable's base name, cut to 15 bytes. */
        const char *base = ib_path_base(what);
        return !p->kthread && p->argc == 0 && strncmp(p->comm, base, 15) == 0 &&
               strlen(p->comm) == (strlen(base) < 15 ? strlen(base) : 15);
    }
    if (strcmp(p->comm, what) == 0)
        return true;
    if (p->kthread || p->argc == 0)
        return false;
    /* "sh -c ..." scripts have argv[0] "sh": match the program's name only. */
    const char *a0 = p->argv[0];
    const char *sp = strchr(a0, ' '); /* setproctitle-style "name: worker" */
    size_t alen = sp ? (size_t)(sp - a0) : strlen(a0);
    const char *base = a0;
    for (size_t i = 0; i < alen; i++)
        if (a0[i] == '/')
            base = a0 + i + 1;
    size_t blen = alen - (size_t)(base - a0);
    return blen == strlen(what) && memcmp(base, what, blen) == 0;
}

size_t guestproc_find(const struct guestproc_snapshot *s, const char *what, int *pids, size_t cap)
{
    size_t n = 0;
    if (what == NULL || what[0] == '\0')
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (proc_matches(&s->procs[i], what)) {
            if (n < cap)
                pids[n] = s->procs[i].pid;
            n++;
        }
    return n;
}

int guestproc_find_one(const struct guestproc_snapshot *s, const char *what, int *pid,
                       struct ib_error *err)
{
    int pids[8];
    size_t n = guestproc_find(s, what, pids, IB_ARRAY_LEN(pids));
    if (n == 0)
        return ib_err(err, IB_ENOTFOUND, "no process named \"%s\" in the guest", what);
    if (n > 1) {
        char list[128] = "";
        for (size_t i = 0; i < n && i < IB_ARRAY_LEN(pids); i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? ", " : "",
                     pids[i]);
        return ib_err(err, IB_EINPUT, "%zu processes are named \"%s\" (pids %s%s): give a pid", n,
                      what, list, n > IB_ARRAY_LEN(pids) ? ", ..." : "");
    }
    *pid = pids[0];
    return 0;
}

/* ---- running scripts ---- */

/* One guest-exec of sh -c SCRIPT with positional args; the parse step
 * runs in the callback. */
struct script_op {
    int kind;
    int pid;
    struct guestproc_lister *ls;
    void *cb;
    void *arg;
};

enum { OP_LIST, OP_MAPS, OP_SOCKETS };

/* Requests in flight, so that guestproc_cancel can free what their
 * callbacks would have (qga_close and qga_cancel drop callbacks silently). */
struct pending {
    struct qga *g;
    long id;
    void *op;
    struct pending *next;
};
static struct pending *pending_ops;

static long tracked_exec(struct qga *g, const char *const argv[], const char *in, size_t in_len,
                         int timeout_ms, qga_exec_fn cb, void *op)
{
    long id = qga_exec(g, argv, in, in_len, timeout_ms, cb, op);
    struct pending *p = xcalloc(1, sizeof *p);
    *p = (struct pending){g, id, op, pending_ops};
    pending_ops = p;
    return id;
}

/* Called first thing by every callback: the op is its own again. */
static void untrack(void *op)
{
    for (struct pending **pp = &pending_ops; *pp; pp = &(*pp)->next)
        if ((*pp)->op == op) {
            struct pending *p = *pp;
            *pp = p->next;
            free(p);
            return;
        }
}

void guestproc_cancel(struct qga *g, long id)
{
    for (struct pending **pp = &pending_ops; *pp;) {
        struct pending *p = *pp;
        if (p->g == g && (id == 0 || p->id == id)) {
            qga_cancel(g, p->id);
            free(p->op);
            *pp = p->next;
            free(p);
        } else {
            pp = &p->next;
        }
    }
}

static long run_script(struct qga *g, const char *script, const char *a1, int timeout_ms,
                       qga_exec_fn cb, void *arg)
{
    const char *argv[] = {"/bin/sh", "-c", script, "sh", a1, NULL};
    return tracked_exec(g, argv, NULL, 0, timeout_ms, cb, arg);
}

/* ---- a quicker exec for the listing ----
 *
 * qga_exec backs its status polls off (10, 15, 22 ... 100 ms), right for
 * commands of unknown length; the listing takes 100-200 ms, where that
 * schedule adds up to 100 ms of waiting. This one polls every 10 ms after
 * a first 20 ms (the shell alone needs ~30 ms), and reports the guest pid
 * so the listing can leave its own script out. */

struct fast_exec {
    struct loop *lp;
    struct qga *g;
    int64_t pid, deadline;
    int timeout_ms;
    long timer, req;
    struct fast_exec **owner; /* cleared when done, so the owner can cancel */
    qga_exec_fn cb;
    void *arg;
    struct ib_error refused; /* arguments the agent cannot take */
};

static void fast_finish(struct fast_exec *fx, struct qga_exec_result *r, const struct ib_error *e)
{
    if (fx->owner != NULL)
        *fx->owner = NULL;
    fx->cb(fx->g, r, e, fx->arg);
    if (r != NULL)
        qga_exec_result_free(r);
    free(fx);
}

static void fast_fail(struct fast_exec *fx, const struct ib_error *e)
{
    struct ib_error t;
    if (e->status == IB_ETIMEOUT) {
        ib_err(&t, IB_ETIMEOUT, "agent not responding after %d ms", fx->timeout_ms);
        e = &t;
    }
    fast_finish(fx, NULL, e);
}

static void fast_poll(struct loop *lp, void *arg);

static void fast_on_status(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct fast_exec *fx = arg;
    struct ib_error e = {0};
    if (res->ret == NULL) {
        fast_fail(fx, &res->err);
        return;
    }
    json_t *exited = json_object_get(res->ret, "exited");
    if (!json_is_boolean(exited)) {
        ib_err(&e, IB_EFAIL, "guest-exec-status: no 'exited' in the reply");
        fast_fail(fx, &e);
        return;
    }
    if (!json_is_true(exited)) {
        if (ib_now_ms() >= fx->deadline) {
            ib_err(&e, IB_ETIMEOUT, "the listing script still runs in the guest after %d ms",
                   fx->timeout_ms);
            fast_fail(fx, &e);
            return;
        }
        fx->timer = loop_timer(fx->lp, 10, fast_poll, fx);
        return;
    }
    struct qga_exec_result r = {.pid = fx->pid, .exit_code = -1};
    json_t *code = json_object_get(res->ret, "exitcode");
    json_t *sig = json_object_get(res->ret, "signal");
    if (json_is_integer(code))
        r.exit_code = (int)json_integer_value(code);
    if (json_is_integer(sig))
        r.signal = (int)json_integer_value(sig);
    r.out_truncated = json_is_true(json_object_get(res->ret, "out-truncated"));
    const char *keys[2] = {"out-data", "err-data"};
    char **bufs[2] = {&r.out, &r.err};
    size_t *lens[2] = {&r.out_len, &r.err_len};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(res->ret, keys[i]);
        if (v == NULL) {
            *bufs[i] = xstrdup("");
            continue;
        }
        if (!json_is_string(v) ||
            qga_b64_decode(json_string_value(v), json_string_length(v), bufs[i], lens[i], &e) < 0) {
            if (e.msg[0] == '\0')
                ib_err(&e, IB_EFAIL, "guest-exec-status: %s is not a string", keys[i]);
            qga_exec_result_free(&r);
            fast_fail(fx, &e);
            return;
        }
    }
    fast_finish(fx, &r, NULL);
}

static void fast_poll(struct loop *lp, void *arg)
{
    (void)lp;
    struct fast_exec *fx = arg;
    fx->timer = 0;
    int64_t left = fx->deadline - ib_now_ms();
    json_t *args = json_pack("{s:I}", "pid", (json_int_t)fx->pid);
    fx->req = qga_request(fx->g, "guest-exec-status", args, left > 100 ? (int)left : 100,
                          fast_on_status, fx);
}

static void fast_on_started(struct qga *g, const struct qga_result *res, void *arg)
{
    (void)g;
    struct fast_exec *fx = arg;
    json_t *pid = res->ret ? json_object_get(res->ret, "pid") : NULL;
    if (res->ret == NULL) {
        fast_fail(fx, &res->err);
        return;
    }
    if (!json_is_integer(pid)) {
        struct ib_error e;
        ib_err(&e, IB_EFAIL, "guest-exec: no pid in the reply");
        fast_fail(fx, &e);
        return;
    }
    fx->pid = json_integer_value(pid);
    fx->timer = loop_timer(fx->lp, 20, fast_poll, fx);
}

static void fast_refused(struct loop *lp, void *arg)
{
    (void)lp;
    struct fast_exec *fx = arg;
    fx->timer = 0;
    fast_finish(fx, NULL, &fx->refused);
}

static struct fast_exec *fast_exec(struct loop *lp, struct qga *g, const char *const argv[],
                                   int timeout_ms, qga_exec_fn cb, void *arg)
{
    struct fast_exec *fx = xcalloc(1, sizeof *fx);
    fx->lp = lp;
    fx->g = g;
    fx->timeout_ms = timeout_ms;
    fx->deadline = ib_now_ms() + timeout_ms;
    fx->cb = cb;
    fx->arg = arg;
    json_t *args = qga_exec_args(argv, NULL, 0, &fx->refused);
    if (args == NULL) /* reported from the loop, as every outcome */
        fx->timer = loop_timer(lp, 0, fast_refused, fx);
    else
        fx->req = qga_request(g, "guest-exec", args, timeout_ms, fast_on_started, fx);
    return fx;
}

/* Forgets an exec in flight: no callback (the agent must still be open). */
static void fast_cancel(struct fast_exec *fx)
{
    if (fx->timer)
        loop_cancel(fx->lp, fx->timer);
    else
        qga_cancel(fx->g, fx->req);
    free(fx->arg);
    free(fx);
}

/* ---- the lister ---- */

struct guestproc_lister {
    struct fast_exec *inflight;
    struct guestproc_users *users;
    struct guestproc_snapshot prev; /* pid, start and ticks only */
    bool have_prev;
};

struct guestproc_lister *guestproc_lister_new(void)
{
    struct guestproc_lister *ls = xcalloc(1, sizeof *ls);
    ls->users = guestproc_users_new();
    return ls;
}

void guestproc_lister_free(struct guestproc_lister *ls)
{
    if (ls == NULL)
        return;
    guestproc_lister_cancel(ls);
    guestproc_users_free(ls->users);
    free(ls->prev.procs);
    free(ls);
}

static void lister_remember(struct guestproc_lister *ls, const struct guestproc_snapshot *s)
{
    free(ls->prev.procs);
    ls->prev.procs = xcalloc(s->n + 1, sizeof *s->procs);
    for (size_t i = 0; i < s->n; i++) {
        struct guestproc *d = &ls->prev.procs[i];
        d->pid = s->procs[i].pid;
        d->start_ticks = s->procs[i].start_ticks;
        d->utime = s->procs[i].utime;
        d->stime = s->procs[i].stime;
    }
    ls->prev.n = s->n;
    ls->prev.uptime = s->uptime;
    ls->have_prev = true;
}

static int lister_take(struct guestproc_lister *ls, const struct qga_exec_result *r,
                       struct guestproc_snapshot *snap, struct ib_error *err)
{
    if (r->out_len == 0 && r->exit_code != 0) {
        char *why = safetext_escape(r->err ? r->err : "", r->err ? strnlen(r->err, 200) : 0);
        ib_err(err, IB_EFAIL, "listing the guest's processes failed (exit %d): %s", r->exit_code,
               why);
        free(why);
        return -1;
    }
    if (guestproc_parse_list(r->out, r->out_len, ls->users, snap, err) < 0)
        return -1;
    /* Leave our own script out of the list. */
    struct guestproc *self = snap_find(snap, (int)r->pid);
    if (self != NULL) {
        proc_clear(self);
        size_t i = (size_t)(self - snap->procs);
        memmove(self, self + 1, (snap->n - i - 1) * sizeof *self);
        snap->n--;
    }
    if (ls->have_prev)
        guestproc_snapshot_cpu(snap, &ls->prev);
    lister_remember(ls, snap);
    return 0;
}

static void on_script_done(struct qga *g, struct qga_exec_result *r, const struct ib_error *err,
                           void *arg);

int guestproc_refresh(struct guestproc_lister *ls, struct loop *lp, struct qga *g, int timeout_ms,
                      guestproc_list_fn cb, void *arg)
{
    if (ls->inflight != NULL)
        return -1;
    struct script_op *op = xcalloc(1, sizeof *op);
    op->kind = OP_LIST;
    op->ls = ls;
    op->cb = (void *)cb;
    op->arg = arg;
    const char *argv[] = {"/bin/sh", "-c", LIST_SCRIPT, "sh", ls->users->loaded ? "-" : "p", NULL};
    ls->inflight = fast_exec(lp, g, argv, timeout_ms, on_script_done, op);
    ls->inflight->owner = &ls->inflight;
    return 0;
}

bool guestproc_refreshing(const struct guestproc_lister *ls)
{
    return ls->inflight != NULL;
}

void guestproc_lister_cancel(struct guestproc_lister *ls)
{
    if (ls->inflight != NULL)
        fast_cancel(ls->inflight);
    ls->inflight = NULL;
}

/* ---- maps ---- */

static const char MAPS_SCRIPT[] =
    "cd /proc/\"$1\" 2>/dev/null || { echo @gone; exit 3; }\n"
    "if [ root/ -ef /target ]; then echo '@root device'; elif [ root/ -ef / ]; then "
    "echo '@root host'; else echo '@root other'; fi\n"
    "cat maps || exit 3\n"
    "printf '@exe '\n"
    "exec readlink exe\n";

void guestproc_maps_free(struct guestproc_maps *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; m->v && i < m->n; i++)
        free(m->v[i].path);
    free(m->v);
    free(m->exe);
    m->v = NULL;
    m->exe = NULL;
    m->n = 0;
}

static bool parse_map_line(const char *line, size_t ll, struct guestproc_map *m)
{
    const char *p = line, *end = line + ll, *tok[5];
    size_t tl[5];
    for (int i = 0; i < 5; i++)
        if (!next_token(&p, end, &tok[i], &tl[i]))
            return false;
    const char *dash = memchr(tok[0], '-', tl[0]);
    const char *colon = memchr(tok[3], ':', tl[3]);
    uint64_t maj, min;
    if (dash == NULL || colon == NULL || tl[1] != 4 ||
        !parse_u64(tok[0], (size_t)(dash - tok[0]), 16, &m->start) ||
        !parse_u64(dash + 1, tl[0] - (size_t)(dash + 1 - tok[0]), 16, &m->end) ||
        m->end < m->start || !parse_u64(tok[2], tl[2], 16, &m->offset) ||
        !parse_u64(tok[3], (size_t)(colon - tok[3]), 16, &maj) ||
        !parse_u64(colon + 1, tl[3] - (size_t)(colon + 1 - tok[3]), 16, &min) || maj > 0xfffff ||
        min > 0xfffff || !parse_u64(tok[4], tl[4], 10, &m->inode))
        return false;
    for (int i = 0; i < 4; i++) /* strchr finds a NUL too: a guest's byte must not cut perms */
        if (tok[1][i] == '\0' || !strchr("rwxps-", tok[1][i]))
            return false;
    memcpy(m->perms, tok[1], 4);
    m->perms[4] = '\0';
    m->dev_major = (unsigned)maj;
    m->dev_minor = (unsigned)min;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    size_t plen = (size_t)(end - p);
    static const char del[] = " (deleted)";
    m->deleted = plen >= sizeof del - 1 && memcmp(end - (sizeof del - 1), del, sizeof del - 1) == 0;
    if (m->deleted)
        plen -= sizeof del - 1;
    m->path = xstrndup(p, plen);
    return true;
}

int guestproc_parse_maps(const char *text, size_t len, struct guestproc_maps *out,
                         struct ib_error *err)
{
    int pid = out->pid;
    memset(out, 0, sizeof *out);
    out->pid = pid;
    const char *p = text, *end = text + len, *line;
    size_t ll, cap = 0;
    bool header = false;
    while (next_line(&p, end, &line, &ll)) {
        if (ll >= 5 && memcmp(line, "@gone", 5) == 0) {
            guestproc_maps_free(out);
            return ib_err(err, IB_ENOTFOUND, "process %d does not exist (any more)", pid);
        }
        if (ll > 6 && memcmp(line, "@root ", 6) == 0) {
            header = true;
            if (ll == 12 && memcmp(line + 6, "device", 6) == 0)
                out->where = GUESTPROC_DEVICE;
            else if (ll == 10 && memcmp(line + 6, "host", 4) == 0)
                out->where = GUESTPROC_HOST;
            else
                out->where = GUESTPROC_OTHER;
            continue;
        }
        if (ll >= 5 && memcmp(line, "@exe ", 5) == 0) {
            /* The rest is readlink's output: it may hold newlines. */
            size_t rest = (size_t)(end - line) - 5;
            if (rest > 0 && line[5 + rest - 1] == '\n')
                rest--;
            if (rest > 0 && rest < 4096 && memchr(line + 5, '\0', rest) == NULL)
                out->exe = xstrndup(line + 5, rest);
            break;
        }
        struct guestproc_map m = {0};
        if (!parse_map_line(line, ll, &m)) {
            out->skipped++;
            continue;
        }
        if (out->n == cap)
            out->v = xrealloc(out->v, (cap = cap ? cap * 2 : 32) * sizeof m);
        out->v[out->n++] = m;
    }
    if (!header && out->n == 0) {
        guestproc_maps_free(out);
        return ib_err(err, IB_EFAIL, "the memory maps of process %d are not readable", pid);
    }
    return 0;
}

long guestproc_maps(struct qga *g, int pid, int timeout_ms, guestproc_maps_fn cb, void *arg)
{
    struct script_op *op = xcalloc(1, sizeof *op);
    op->kind = OP_MAPS;
    op->pid = pid;
    op->cb = (void *)cb;
    op->arg = arg;
    char a1[16];
    snprintf(a1, sizeof a1, "%d", pid);
    return run_script(g, MAPS_SCRIPT, a1, timeout_ms, on_script_done, op);
}

/* ---- sockets ---- */

static const char SOCKETS_SCRIPT[] =
    "cd /proc/\"$1\" 2>/dev/null || { echo @gone; exit 3; }\n"
    "stat -L -c '@fd %n %i %F' fd/* 2>/dev/null\n"
    "exec grep -H -s '' /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6 "
    "/proc/net/unix\n";

void guestproc_sockets_free(struct guestproc_sockets *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; s->v && i < s->n; i++)
        free(s->v[i].path);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

const char *guestproc_sock_proto_name(enum guestproc_sock_proto p)
{
    static const char *const names[] = {"tcp", "tcp6", "udp", "udp6", "unix", "other"};
    return (unsigned)p < IB_ARRAY_LEN(names) ? names[p] : "?";
}

static const char *tcp_state(unsigned st, bool udp)
{
    static const char *const names[] = {
        "?",     "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
        "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};
    if (udp && st == 7)
        return "UNCONN";
    return st < IB_ARRAY_LEN(names) ? names[st] : "?";
}

/* "0100007F:0050" (a little-endian guest's words) -> "127.0.0.1", 80. */
static bool parse_inet(const char *s, size_t len, bool v6, char *addr, size_t cap, int *port)
{
    const char *colon = memchr(s, ':', len);
    size_t hex = v6 ? 32 : 8;
    uint64_t pv;
    if (colon == NULL || (size_t)(colon - s) != hex ||
        !parse_u64(colon + 1, len - hex - 1, 16, &pv) || pv > 65535)
        return false;
    uint8_t b[16];
    for (size_t w = 0; w < hex / 8; w++) {
        uint64_t word;
        if (!parse_u64(s + w * 8, 8, 16, &word))
            return false;
        for (int k = 0; k < 4; k++)
            b[w * 4 + (size_t)k] = (uint8_t)(word >> (8 * k));
    }
    if (!v6) {
        snprintf(addr, cap, "%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
    } else {
        /* Compact enough: the longest run of zero groups becomes "::". */
        unsigned grp[8];
        for (int i = 0; i < 8; i++)
            grp[i] = (unsigned)b[2 * i] << 8 | b[2 * i + 1];
        int best = -1, bestlen = 0;
        for (int i = 0; i < 8;) {
            int j = i;
            while (j < 8 && grp[j] == 0)
                j++;
            if (j - i > bestlen && j - i > 1)
                best = i, bestlen = j - i;
            i = j > i ? j : i + 1;
        }
        size_t n = 0;
        addr[0] = '\0';
        for (int i = 0; i < 8 && n < cap; i++) {
            if (i == best) {
                n += (size_t)snprintf(addr + n, cap - n, "::");
                i += bestlen - 1;
                continue;
            }
            bool sep = i > 0 && !(best >= 0 && i == best + bestlen);
            n += (size_t)snprintf(addr + n, cap - n, "%s%x", sep ? ":" : "", grp[i]);
        }
    }
    *port = (int)pv;
    return true;
}

struct net_entry {
    uint64_t inode;
    struct guestproc_socket s;
    bool ambiguous;
};

static void net_add(struct net_entry **v, size_t *n, size_t *cap, const struct net_entry *e)
{
    for (size_t i = 0; i < *n; i++)
        if ((*v)[i].inode == e->inode) {
            /* Two lines claim one inode: a path with a newline forged one. */
            (*v)[i].ambiguous = true;
            free(e->s.path);
            return;
        }
    if (*n == *cap)
        *v = xrealloc(*v, (*cap = *cap ? *cap * 2 : 64) * sizeof **v);
    (*v)[(*n)++] = *e;
}

/* The entries and the unix paths they own. */
static void net_free(struct net_entry *v, size_t n)
{
    for (size_t k = 0; k < n; k++)
        free(v[k].s.path);
    free(v);
}

static bool parse_net_line(enum guestproc_sock_proto proto, const char *p, const char *end,
                           struct net_entry *e)
{
    const char *tok[10];
    size_t tl[10];
    memset(e, 0, sizeof *e);
    e->s.proto = proto;
    if (proto == GUESTPROC_UNIX) {
        /* Num RefCount Protocol Flags Type St Inode [Path] */
        for (int i = 0; i < 7; i++)
            if (!next_token(&p, end, &tok[i], &tl[i]))
                return false;
        uint64_t flags, type, st;
        if (tl[0] < 2 || tok[0][tl[0] - 1] != ':' || !parse_u64(tok[3], tl[3], 16, &flags) ||
            !parse_u64(tok[4], tl[4], 16, &type) || !parse_u64(tok[5], tl[5], 16, &st) ||
            !parse_u64(tok[6], tl[6], 10, &e->inode))
            return false;
        const char *tname = type == 1   ? "STREAM"
                            : type == 2 ? "DGRAM"
                            : type == 5 ? "SEQPACKET"
                                        : "?";
        const char *sname = flags & 0x10000 ? "LISTEN"
                            : st == 3       ? "CONNECTED"
                            : st == 1       ? "UNCONN"
                                            : "?";
        snprintf(e->s.state, sizeof e->s.state, "%s", sname);
        snprintf(e->s.local, sizeof e->s.local, "%s", tname);
        while (p < end && *p == ' ')
            p++;
        e->s.path = xstrndup(p, (size_t)(end - p));
        return true;
    }
    bool v6 = proto == GUESTPROC_TCP6 || proto == GUESTPROC_UDP6;
    for (int i = 0; i < 10; i++)
        if (!next_token(&p, end, &tok[i], &tl[i]))
            return false;
    uint64_t st;
    if (tl[0] < 2 || tok[0][tl[0] - 1] != ':' ||
        !parse_inet(tok[1], tl[1], v6, e->s.local, sizeof e->s.local, &e->s.local_port) ||
        !parse_inet(tok[2], tl[2], v6, e->s.remote, sizeof e->s.remote, &e->s.remote_port) ||
        tl[3] != 2 || !parse_u64(tok[3], 2, 16, &st) || !parse_u64(tok[9], tl[9], 10, &e->inode))
        return false;
    bool udp = proto == GUESTPROC_UDP || proto == GUESTPROC_UDP6;
    snprintf(e->s.state, sizeof e->s.state, "%s", tcp_state((unsigned)st, udp));
    return true;
}

static int cmp_fd(const void *a, const void *b)
{
    const struct guestproc_socket *x = a, *y = b;
    return (x->fd > y->fd) - (x->fd < y->fd);
}

int guestproc_parse_sockets(const char *text, size_t len, struct guestproc_sockets *out,
                            struct ib_error *err)
{
    int pid = out->pid;
    memset(out, 0, sizeof *out);
    out->pid = pid;
    static const struct {
        const char *file;
        enum guestproc_sock_proto proto;
    } files[] = {{"/proc/net/tcp:", GUESTPROC_TCP},
                 {"/proc/net/tcp6:", GUESTPROC_TCP6},
                 {"/proc/net/udp:", GUESTPROC_UDP},
                 {"/proc/net/udp6:", GUESTPROC_UDP6},
                 {"/proc/net/unix:", GUESTPROC_UNIX}};
    struct net_entry *net = NULL;
    size_t n_net = 0, cap_net = 0, cap = 0;
    const char *p = text, *end = text + len, *line;
    size_t ll;
    bool any = false;
    while (next_line(&p, end, &line, &ll)) {
        const char *le = line + ll;
        if (ll >= 5 && memcmp(line, "@gone", 5) == 0) {
            net_free(net, n_net);
            guestproc_sockets_free(out);
            return ib_err(err, IB_ENOTFOUND, "process %d does not exist (any more)", pid);
        }
        if (ll > 7 && memcmp(line, "@fd fd/", 7) == 0) {
            any = true;
            const char *q = line + 7, *tok[2];
            size_t tl[2];
            int fd;
            uint64_t ino, fdv;
            if (!next_token(&q, le, &tok[0], &tl[0]) || !next_token(&q, le, &tok[1], &tl[1]) ||
                !parse_u64(tok[0], tl[0], 10, &fdv) || fdv > 1u << 30 ||
                !parse_u64(tok[1], tl[1], 10, &ino))
                continue;
            while (q < le && *q == ' ')
                q++;
            if ((size_t)(le - q) != 6 || memcmp(q, "socket", 6) != 0)
                continue;
            fd = (int)fdv;
            if (out->n == cap)
                out->v = xrealloc(out->v, (cap = cap ? cap * 2 : 16) * sizeof *out->v);
            out->v[out->n++] =
                (struct guestproc_socket){.fd = fd, .inode = ino, .proto = GUESTPROC_SOCK_OTHER};
            continue;
        }
        for (size_t f = 0; f < IB_ARRAY_LEN(files); f++) {
            size_t fl = strlen(files[f].file);
            if (ll < fl || memcmp(line, files[f].file, fl) != 0)
                continue;
            any = true;
            struct net_entry e;
            if (parse_net_line(files[f].proto, line + fl, le, &e))
                net_add(&net, &n_net, &cap_net, &e);
            break;
        }
    }
    for (size_t i = 0; i < out->n; i++) {
        struct guestproc_socket *s = &out->v[i];
        for (size_t k = 0; k < n_net; k++) {
            if (net[k].inode != s->inode)
                continue;
            int fd = s->fd;
            *s = net[k].s;
            s->fd = fd;
            s->inode = net[k].inode;
            s->path = net[k].ambiguous ? xstrdup("(ambiguous)")
                      : net[k].s.path  ? xstrdup(net[k].s.path)
                                       : NULL;
            break;
        }
    }
    net_free(net, n_net);
    if (!any) {
        guestproc_sockets_free(out);
        return ib_err(err, IB_EFAIL, "the sockets of process %d are not readable", pid);
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_fd);
    return 0;
}

long guestproc_sockets(struct qga *g, int pid, int timeout_ms, guestproc_sockets_fn cb, void *arg)
{
    struct script_op *op = xcalloc(1, sizeof *op);
    op->kind = OP_SOCKETS;
    op->pid = pid;
    op->cb = (void *)cb;
    op->arg = arg;
    char a1[16];
    snprintf(a1, sizeof a1, "%d", pid);
    return run_script(g, SOCKETS_SCRIPT, a1, timeout_ms, on_script_done, op);
}

/* ---- the scripts' common callback ---- */

static void on_script_done(struct qga *g, struct qga_exec_result *r, const struct ib_error *err,
                           void *arg)
{
    (void)g;
    struct script_op *op = arg;
    struct ib_error e = {0};
    const struct ib_error *fail = err;
    if (op->kind != OP_LIST)
        untrack(op);
    if (op->kind == OP_LIST) {
        struct guestproc_snapshot snap = {0};
        if (fail == NULL && lister_take(op->ls, r, &snap, &e) < 0)
            fail = &e;
        ((guestproc_list_fn)op->cb)(fail ? NULL : &snap, fail, op->arg);
        guestproc_snapshot_free(&snap);
    } else if (op->kind == OP_MAPS) {
        struct guestproc_maps m = {.pid = op->pid};
        if (fail == NULL && guestproc_parse_maps(r->out, r->out_len, &m, &e) < 0)
            fail = &e;
        else if (fail == NULL && m.n == 0 && r->exit_code != 0)
            fail = &e, ib_err(&e, IB_ENOTFOUND, "process %d does not exist (any more)", op->pid);
        ((guestproc_maps_fn)op->cb)(fail ? NULL : &m, fail, op->arg);
        guestproc_maps_free(&m);
    } else {
        struct guestproc_sockets s = {.pid = op->pid};
        if (fail == NULL && guestproc_parse_sockets(r->out, r->out_len, &s, &e) < 0)
            fail = &e;
        ((guestproc_sockets_fn)op->cb)(fail ? NULL : &s, fail, op->arg);
        guestproc_sockets_free(&s);
    }
    free(op);
}

/* ---- exec ---- */

struct exec_op {
    guestproc_exec_fn cb;
    void *arg;
    int timeout_ms;
    int64_t started;
};

void guestproc_exec_result_free(struct guestproc_exec_result *r)
{
    free(r->out);
    free(r->err);
    r->out = r->err = NULL;
    r->out_len = r->err_len = 0;
}

static void on_exec_done(struct qga *g, struct qga_exec_result *r, const struct ib_error *err,
                         void *arg)
{
    (void)g;
    struct exec_op *op = arg;
    untrack(op);
    if (err != NULL) {
        op->cb(NULL, err, op->arg);
        free(op);
        return;
    }
    struct guestproc_exec_result res = {.exit_code = r->exit_code,
                                        .signal = r->signal,
                                        .out = r->out,
                                        .err = r->err,
                                        .out_len = r->out_len,
                                        .err_len = r->err_len,
                                        .out_truncated = r->out_truncated,
                                        .err_truncated = r->err_truncated};
    r->out = r->err = NULL;
    /* busybox timeout execs the command and a helper kills it: a SIGKILL
     * at (or after) the deadline is the timeout's. */
    int secs = (op->timeout_ms + 999) / 1000;
    res.timed_out = r->signal == SIGKILL && ib_now_ms() - op->started + 300 >= secs * 1000LL;
    op->cb(&res, NULL, op->arg);
    guestproc_exec_result_free(&res);
    free(op);
}

long guestproc_exec(struct qga *g, const char *const argv[], const struct guestproc_exec_opts *o,
                    guestproc_exec_fn cb, void *arg)
{
    static const struct guestproc_exec_opts none = {0};
    if (o == NULL)
        o = &none;
    size_t n = 0;
    while (argv[n] != NULL)
        n++;
    struct exec_op *op = xcalloc(1, sizeof *op);
    op->cb = cb;
    op->arg = arg;
    op->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    op->started = ib_now_ms();
    char secs[24];
    snprintf(secs, sizeof secs, "%d", (op->timeout_ms + 999) / 1000);
    const char **full = xcalloc(n + 8, sizeof *full);
    size_t k = 0;
    full[k++] = "timeout";
    full[k++] = "-s";
    full[k++] = "KILL";
    full[k++] = secs;
    if (o->target) {
        full[k++] = "chroot";
        full[k++] = GUESTPROC_TARGET_ROOT;
    }
    for (size_t i = 0; i < n; i++)
        full[k++] = argv[i];
    full[k] = NULL;
    /* The agent's own limit is later: the guest-side kill must come first. */
    long id = tracked_exec(g, full, o->stdin_data, o->stdin_len, op->timeout_ms + 5000,
                           on_exec_done, op);
    free(full);
    return id;
}

struct exec_sync {
    bool done;
    struct guestproc_exec_result res;
    struct ib_error err;
};

static void exec_sync_done(struct guestproc_exec_result *res, const struct ib_error *err, void *arg)
{
    struct exec_sync *s = arg;
    s->done = true;
    if (err != NULL) {
        s->err = *err;
        return;
    }
    s->res = *res;
    res->out = res->err = NULL;
}

/* Opens the agent on a private loop, runs start(), waits for done. */
static int sync_run(const char *qga_sock, int timeout_ms, bool *done,
                    void (*start)(struct loop *lp, struct qga *g, void *ctx), void *ctx,
                    struct ib_error *err)
{
    struct loop *lp = loop_new();
    struct qga *g = qga_open(lp, qga_sock, err);
    if (g == NULL) {
        loop_free(lp);
        return -1;
    }
    start(lp, g, ctx);
    int64_t end = ib_now_ms() + timeout_ms + 2000;
    while (!*done && ib_now_ms() < end)
        loop_run_once(lp, 100);
    if (!*done)
        guestproc_cancel(g, 0); /* its ops point at the caller's stack */
    qga_close(g);
    loop_free(lp);
    if (!*done)
        return ib_err(err, IB_ETIMEOUT, "agent not responding after %d ms", timeout_ms);
    return 0;
}

struct exec_start {
    const char *const *argv;
    const struct guestproc_exec_opts *o;
    struct exec_sync *s;
};

static void exec_start_fn(struct loop *lp, struct qga *g, void *ctx)
{
    (void)lp;
    struct exec_start *x = ctx;
    guestproc_exec(g, x->argv, x->o, exec_sync_done, x->s);
}

int guestproc_exec_sync(const char *qga_sock, const char *const argv[],
                        const struct guestproc_exec_opts *o, struct guestproc_exec_result *res,
                        struct ib_error *err)
{
    memset(res, 0, sizeof *res);
    struct exec_sync s = {0};
    struct exec_start x = {argv, o, &s};
    int timeout = (o && o->timeout_ms > 0 ? o->timeout_ms : 30000) + 5000;
    if (sync_run(qga_sock, timeout, &s.done, exec_start_fn, &x, err) < 0)
        return -1;
    if (s.err.msg[0] != '\0') {
        if (err != NULL)
            *err = s.err;
        return -1;
    }
    *res = s.res;
    return 0;
}

/* ---- signals, kill ---- */

static const char *const SIGNAMES[32] = {
    NULL,   "HUP",  "INT",  "QUIT", "ILL",    "TRAP",   "ABRT",  "BUS",  "FPE",  "KILL", "USR1",
    "SEGV", "USR2", "PIPE", "ALRM", "TERM",   "STKFLT", "CHLD",  "CONT", "STOP", "TSTP", "TTIN",
    "TTOU", "URG",  "XCPU", "XFSZ", "VTALRM", "PROF",   "WINCH", "IO",   "PWR",  "SYS"};

int guestproc_signal_parse(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    uint64_t v;
    if (parse_u64(s, strlen(s), 10, &v))
        return v >= 1 && v <= 64 ? (int)v : -1;
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (int i = 1; i < 32; i++)
        if (strcasecmp(s, SIGNAMES[i]) == 0)
            return i;
    return -1;
}

const char *guestproc_signal_name(int sig)
{
    return sig >= 1 && sig < 32 ? SIGNAMES[sig] : NULL;
}

struct kill_op {
    int pid, sig;
    guestproc_done_fn cb;
    void *arg;
};

static void on_kill_done(struct qga *g, struct qga_exec_result *r, const struct ib_error *err,
                         void *arg)
{
    (void)g;
    struct kill_op *op = arg;
    untrack(op);
    struct ib_error e = {0};
    if (err == NULL && r->exit_code != 0) {
        char *msg = r->err ? r->err : "";
        msg[strcspn(msg, "\n")] = '\0';
        char *safe = safetext_escape(msg, strnlen(msg, 300));
        ib_err(&e, strstr(msg, "No such process") ? IB_ENOTFOUND : IB_EFAIL,
               "cannot send SIG%s to process %d: %s",
               guestproc_signal_name(op->sig) ? guestproc_signal_name(op->sig) : "?", op->pid,
               msg[0] ? safe : "kill failed");
        free(safe);
        err = &e;
    }
    op->cb(err, op->arg);
    free(op);
}

long guestproc_kill(struct qga *g, int pid, int sig, int timeout_ms, guestproc_done_fn cb,
                    void *arg)
{
    struct kill_op *op = xcalloc(1, sizeof *op);
    op->pid = pid;
    op->sig = sig;
    op->cb = cb;
    op->arg = arg;
    char s[16], p[16];
    snprintf(s, sizeof s, "-%d", sig);
    snprintf(p, sizeof p, "%d", pid);
    const char *argv[] = {"kill", s, p, NULL};
    return tracked_exec(g, argv, NULL, 0, timeout_ms, on_kill_done, op);
}

struct simple_sync {
    bool done;
    struct ib_error err;
    int pid, sig, timeout_ms;
    struct guestproc_lister *ls;
    struct guestproc_snapshot snap;
    struct guestproc_maps maps;
    struct guestproc_sockets socks;
};

static void kill_sync_done(const struct ib_error *err, void *arg)
{
    struct simple_sync *s = arg;
    s->done = true;
    if (err != NULL)
        s->err = *err;
}

static void kill_start_fn(struct loop *lp, struct qga *g, void *ctx)
{
    (void)lp;
    struct simple_sync *s = ctx;
    guestproc_kill(g, s->pid, s->sig, s->timeout_ms, kill_sync_done, s);
}

int guestproc_kill_sync(const char *qga_sock, int pid, int sig, int timeout_ms,
                        struct ib_error *err)
{
    if (pid <= 0 || sig < 0 || sig > 64)
        return ib_err(err, IB_EINPUT, "kill: bad pid %d or signal %d", pid, sig);
    struct simple_sync s = {.pid = pid, .sig = sig, .timeout_ms = timeout_ms};
    if (sync_run(qga_sock, timeout_ms, &s.done, kill_start_fn, &s, err) < 0)
        return -1;
    if (s.err.msg[0] != '\0') {
        if (err != NULL)
            *err = s.err;
        return -1;
    }
    return 0;
}

/* ---- blocking list, maps, sockets ---- */

static void list_sync_done(struct guestproc_snapshot *snap, const struct ib_error *err, void *arg)
{
    struct simple_sync *s = arg;
    s->done = true;
    if (err != NULL) {
        s->err = *err;
        return;
    }
    s->snap = *snap;
    snap->procs = NULL;
    snap->n = 0;
}

static void list_start_fn(struct loop *lp, struct qga *g, void *ctx)
{
    struct simple_sync *s = ctx;
    guestproc_refresh(s->ls, lp, g, s->timeout_ms, list_sync_done, s);
}

int guestproc_refresh_sync(struct guestproc_lister *ls, const char *qga_sock, int timeout_ms,
                           struct guestproc_snapshot *out, struct ib_error *err)
{
    memset(out, 0, sizeof *out);
    struct simple_sync s = {.ls = ls, .timeout_ms = timeout_ms};
    if (sync_run(qga_sock, timeout_ms, &s.done, list_start_fn, &s, err) < 0)
        return -1;
    if (s.err.msg[0] != '\0') {
        if (err != NULL)
            *err = s.err;
        return -1;
    }
    *out = s.snap;
    return 0;
}

int guestproc_list_sync(const char *qga_sock, int timeout_ms, struct guestproc_snapshot *out,
                        struct ib_error *err)
{
    struct guestproc_lister *ls = guestproc_lister_new();
    int rc = guestproc_refresh_sync(ls, qga_sock, timeout_ms, out, err);
    guestproc_lister_free(ls);
    return rc;
}

static void maps_sync_done(struct guestproc_maps *m, const struct ib_error *err, void *arg)
{
    struct simple_sync *s = arg;
    s->done = true;
    if (err != NULL) {
        s->err = *err;
        return;
    }
    s->maps = *m;
    m->v = NULL;
    m->exe = NULL;
    m->n = 0;
}

static void maps_start_fn(struct loop *lp, struct qga *g, void *ctx)
{
    (void)lp;
    struct simple_sync *s = ctx;
    guestproc_maps(g, s->pid, s->timeout_ms, maps_sync_done, s);
}

int guestproc_maps_sync(const char *qga_sock, int pid, int timeout_ms, struct guestproc_maps *out,
                        struct ib_error *err)
{
    memset(out, 0, sizeof *out);
    struct simple_sync s = {.pid = pid, .timeout_ms = timeout_ms};
    if (sync_run(qga_sock, timeout_ms, &s.done, maps_start_fn, &s, err) < 0)
        return -1;
    if (s.err.msg[0] != '\0') {
        if (err != NULL)
            *err = s.err;
        return -1;
    }
    *out = s.maps;
    return 0;
}

static void sockets_sync_done(struct guestproc_sockets *so, const struct ib_error *err, void *arg)
{
    struct simple_sync *s = arg;
    s->done = true;
    if (err != NULL) {
        s->err = *err;
        return;
    }
    s->socks = *so;
    so->v = NULL;
    so->n = 0;
}

static void sockets_start_fn(struct loop *lp, struct qga *g, void *ctx)
{
    (void)lp;
    struct simple_sync *s = ctx;
    guestproc_sockets(g, s->pid, s->timeout_ms, sockets_sync_done, s);
}

int guestproc_sockets_sync(const char *qga_sock, int pid, int timeout_ms,
                           struct guestproc_sockets *out, struct ib_error *err)
{
    memset(out, 0, sizeof *out);
    struct simple_sync s = {.pid = pid, .timeout_ms = timeout_ms};
    if (sync_run(qga_sock, timeout_ms, &s.done, sockets_start_fn, &s, err) < 0)
        return -1;
    if (s.err.msg[0] != '\0') {
        if (err != NULL)
            *err = s.err;
        return -1;
    }
    *out = s.socks;
    return 0;
}
