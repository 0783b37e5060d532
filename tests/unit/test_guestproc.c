/* test_guestproc.c - the parsers of core/guestproc (the process listing,
 * maps, sockets) on transcripts shaped like the guest's real output, on
 * hostile variants (names with ')' and newlines, forged records,
 * truncation, garbage), plus CPU %, finding and signal names. Nothing here
 * needs a guest; ASan/UBSan watch every parse. */
#include <stdlib.h>
#include <string.h>

#include "core/debugger.h"
#include "core/guestproc.h"
#include "core/util.h"
#include "tests/lib/harness.h"

/* ---- building listing transcripts: "NAME:value\0" records ---- */

struct buf {
    char *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
    if (b->len + n + 1 > b->cap)
        b->p = xrealloc(b->p, b->cap = (b->len + n + 1) * 2);
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void rec(struct buf *b, const char *name, const char *value)
{
    put(b, name, strlen(name));
    put(b, ":", 1);
    put(b, value, strlen(value));
    put(b, "", 1); /* the NUL grep -z puts after each record */
}

static void text(struct buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* The real shape of a stat line, with the fields the parser reads. */
static char *stat_line(int pid, const char *comm, char state, int ppid, unsigned flags,
                       unsigned utime, unsigned stime, unsigned start, unsigned rss_pages)
{
    return xasprintf("%d (%s) %c %d %d %d 0 -1 %u 351 3011 13 141 %u %u 20 95 20 0 1 0 %u "
                     "1593344 %u 4294967295 65536 1327240 3198856896 0 0 0 0 0 524288 1 0 0 "
                     "17 0 0 0 0 0 0\n",
                     pid, comm, state, ppid, pid, pid, flags, utime, stime, start, rss_pages);
}

static void stat_rec(struct buf *b, int pid, const char *comm, char state, int ppid, unsigned flags,
                     unsigned utime, unsigned stime, unsigned start, unsigned rss)
{
    char name[32];
    snprintf(name, sizeof name, "%d/stat", pid);
    char *line = stat_line(pid, comm, state, ppid, flags, utime, stime, start, rss);
    rec(b, name, line);
    free(line);
}

static void args(struct buf *b, int pid, const char *const *argv)
{
    char name[32];
    snprintf(name, sizeof name, "%d/cmdline", pid);
    for (size_t i = 0; argv[i]; i++)
        rec(b, name, argv[i]);
}

/* A guest like the demo: init, kthreadd, qemu-ga (host), demod (device),
 * a user process of uid 1000 in the device. */
static struct buf demo_listing(void)
{
    struct buf b = {0};
    rec(&b, "uptime", "100.00 80.00\n");
    rec(&b, "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nhostuser:x:1000:1000::/:/bin/sh\n");
    rec(&b, "/target/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nbob:x:1000:1000::/:/bin/sh\n"
        "broken line without colons\n::::\n");
    stat_rec(&b, 1, "init", 'S', 0, 4194560, 12, 63, 2, 2);
    stat_rec(&b, 143, "qemu-ga", 'S', 1, 4194368, 300, 200, 382, 672);
    stat_rec(&b, 161, "demod", 'S', 1, 4194560, 5, 5, 500, 35);
    stat_rec(&b, 2, "kthreadd", 'S', 0, 0x00208040, 0, 0, 0, 0);
    stat_rec(&b, 300, "worker", 'R', 161, 4194560, 4000, 1000, 5000, 10);
    const char *a1[] = {"init", "", "", "", NULL};
    const char *a143[] = {"qemu-ga", "-d", "-m", "virtio-serial", NULL};
    const char *a161[] = {"/usr/bin/demod", NULL};
    const char *a300[] = {"/usr/bin/worker", "--flag", NULL};
    args(&b, 1, a1);
    args(&b, 143, a143);
    args(&b, 161, a161);
    args(&b, 300, a300);
    put(&b, "--stat--", 9);
    text(&b, "/ 0 65024 2\n/target 0 22 11002567\n1 0 17 1\n2 0 17 2\n143 0 17 3\n161 0 17 4\n"
             "300 1000 17 5\n1/root 0 65024 2\n2/root 0 65024 2\n143/root 0 65024 2\n"
             "161/root 0 22 11002567\n300/root 0 22 11002567\n");
    return b;
}

TEST(list_parses_the_guests_shape)
{
    struct buf b = demo_listing();
    struct guestproc_users *u = guestproc_users_new();
    struct guestproc_snapshot s;
    struct ib_error err = {0};
    CHECK(guestproc_parse_list(b.p, b.len, u, &s, &err) == 0);
    CHECK_INT(s.n, 5);
    CHECK_INT(s.skipped, 0);
    CHECK(s.uptime > 99.9 && s.uptime < 100.1);
    /* Sorted by pid, whatever the glob's order was. */
    CHECK_INT(s.procs[0].pid, 1);
    CHECK_INT(s.procs[1].pid, 2);
    CHECK_INT(s.procs[4].pid, 300);
    const struct guestproc *init = guestproc_snapshot_get(&s, 1);
    CHECK_STR(init->cmdline, "init"); /* the blanked arguments are dropped */
    CHECK_INT(init->argc, 1);
    CHECK_INT(init->rss_kb, 8);
    CHECK_INT(init->where, GUESTPROC_HOST);
    const struct guestproc *kt = guestproc_snapshot_get(&s, 2);
    CHECK(kt->kthread);
    CHECK_STR(kt->cmdline, "[kthreadd]");
    const struct guestproc *ga = guestproc_snapshot_get(&s, 143);
    CHECK_STR(ga->cmdline, "qemu-ga -d -m virtio-serial");
    CHECK_STR(ga->user, "root");
    CHECK_INT(ga->ppid, 1);
    CHECK_INT(ga->where, GUESTPROC_HOST);
    CHECK(!ga->kthread);
    const struct guestproc *dm = guestproc_snapshot_get(&s, 161);
    CHECK_INT(dm->where, GUESTPROC_DEVICE);
    CHECK_STR(dm->comm, "demod");
    CHECK_INT(dm->rss_kb, 140);
    const struct guestproc *w = guestproc_snapshot_get(&s, 300);
    /* uid 1000 is "bob" in the device's passwd, "hostuser" in the host's. */
    CHECK_STR(w->user, "bob");
    CHECK_INT(w->uid, 1000);
    CHECK_INT(w->state, 'R');
    /* Average since start: 5000 ticks over 100 - 50 s = 100 %. */
    CHECK(s.cpu_is_average);
    CHECK_MSG(w->cpu > 99.9 && w->cpu < 100.1, "cpu %f", w->cpu);
    CHECK_STR(guestproc_users_name(u, false, 1000), "hostuser");
    CHECK(guestproc_users_name(u, true, 4242) == NULL);
    guestproc_snapshot_free(&s);
    guestproc_users_free(u);
    free(b.p);
}

TEST(list_comm_with_parens_spaces_and_newline)
{
    struct buf b = {0};
    rec(&b, "uptime", "10.0 5.0\n");
    /* A process can name itself anything but NUL: the name ends at the last ')'. */
    stat_rec(&b, 77, "a) S 1 (b\nc) R", 'T', 9, 0, 1, 1, 1, 1);
    const char *argv[] = {"evil\n1/cmdline:x", "77/cmdline:forged", NULL};
    args(&b, 77, argv);
    struct guestproc_snapshot s;
    CHECK(guestproc_parse_list(b.p, b.len, NULL, &s, NULL) == 0);
    CHECK_INT(s.n, 1);
    CHECK_STR(s.procs[0].comm, "a) S 1 (b\nc) R");
    CHECK_INT(s.procs[0].state, 'T');
    CHECK_INT(s.procs[0].ppid, 9);
    /* Arguments stay arguments, whatever they contain. */
    CHECK_INT(s.procs[0].argc, 2);
    CHECK_STR(s.procs[0].argv[0], "evil\n1/cmdline:x");
    CHECK_STR(s.procs[0].argv[1], "77/cmdline:forged");
    CHECK_STR(s.procs[0].user, "?"); /* no stat section: unknown */
    CHECK_INT(s.procs[0].where, GUESTPROC_UNKNOWN);
    guestproc_snapshot_free(&s);
    free(b.p);
}

TEST(list_rejects_forged_and_inconsistent_records)
{
    struct buf b = {0};
    rec(&b, "uptime", "10.0 5.0\n");
    /* The file says pid 5, the content pid 6: not believed. */
    char *l = stat_line(6, "liar", 'S', 1, 0, 0, 0, 0, 0);
    rec(&b, "5/stat", l);
    free(l);
    stat_rec(&b, 7, "twice", 'S', 1, 0, 0, 0, 0, 0);
    stat_rec(&b, 7, "twice", 'S', 1, 0, 0, 0, 0, 0);
    rec(&b, "8/stat", "8 (short) S 1 2 3\n"); /* too few fields */
    rec(&b, "9/stat",
        "9 (big) S 99999999999999999999999 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 0 "
        "0 0\n"); /* overflowing number */
    rec(&b, "0/stat", "0 (zero) S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 0 0 1 0 0 0 0 0\n");
    rec(&b, "x/stat", "x (nopid) S\n");
    rec(&b, "no colon here", "");
    put(&b, "--stat--", 9);
    text(&b, "7 notanumber 1 1\n7/root 1 2\n7/root 0 1 2 3 4\n");
    struct guestproc_snapshot s;
    CHECK(guestproc_parse_list(b.p, b.len, NULL, &s, NULL) == 0);
    CHECK_INT(s.n, 1);
    CHECK_INT(s.procs[0].pid, 7);
    CHECK_INT(s.skipped, 4); /* liar, the second 7, short, overflowing */
    CHECK_INT(s.procs[0].where, GUESTPROC_UNKNOWN);
    guestproc_snapshot_free(&s);
    free(b.p);
}

TEST(list_without_uptime_is_an_error)
{
    struct ib_error err = {0};
    struct guestproc_snapshot s;
    CHECK(guestproc_parse_list("", 0, NULL, &s, &err) < 0);
    CHECK_CONTAINS(err.msg, "not readable");
    const char junk[] = "sh: grep: not found\n";
    CHECK(guestproc_parse_list(junk, sizeof junk - 1, NULL, &s, &err) < 0);
}

TEST(list_every_truncation_parses_or_fails_cleanly)
{
    struct buf b = demo_listing();
    size_t full_n = 0;
    struct guestproc_snapshot s;
    CHECK(guestproc_parse_list(b.p, b.len, NULL, &s, NULL) == 0);
    full_n = s.n;
    guestproc_snapshot_free(&s);
    for (size_t cut = 0; cut <= b.len; cut++) {
        /* An exact-size copy so ASan sees any read past the end. */
        char *copy = xmalloc(cut ? cut : 1);
        memcpy(copy, b.p, cut);
        struct guestproc_users *u = guestproc_users_new();
        if (guestproc_parse_list(copy, cut, u, &s, NULL) == 0) {
            CHECK(s.n <= full_n);
            for (size_t i = 0; i < s.n; i++)
                CHECK(s.procs[i].cmdline != NULL);
            guestproc_snapshot_free(&s);
        }
        guestproc_users_free(u);
        free(copy);
    }
    free(b.p);
}

static uint32_t rng_state = 12345;
static uint32_t rng(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

TEST(list_maps_sockets_survive_garbage)
{
    struct buf b = demo_listing();
    for (int round = 0; round < 3000; round++) {
        size_t len = b.len;
        char *copy = xmalloc(len);
        memcpy(copy, b.p, len);
        int flips = 1 + (int)(rng() % 8);
        for (int f = 0; f < flips; f++) {
            static const char alphabet[] = "\0\n :/()-0123456789abcdefSR@";
            copy[rng() % len] =
                (rng() & 1) ? (char)(rng() & 0xff) : alphabet[rng() % (sizeof alphabet - 1)];
        }
        struct guestproc_snapshot s;
        struct guestproc_users *u = guestproc_users_new();
        if (guestproc_parse_list(copy, len, u, &s, NULL) == 0)
            guestproc_snapshot_free(&s);
        guestproc_users_free(u);
        struct guestproc_maps m = {.pid = 1};
        if (guestproc_parse_maps(copy, len, &m, NULL) == 0)
            guestproc_maps_free(&m);
        struct guestproc_sockets so = {.pid = 1};
        if (guestproc_parse_sockets(copy, len, &so, NULL) == 0)
            guestproc_sockets_free(&so);
        free(copy);
    }
    /* Pure noise too. */
    for (int round = 0; round < 500; round++) {
        size_t len = rng() % 600;
        char *noise = xmalloc(len + 1);
        for (size_t i = 0; i < len; i++)
            noise[i] = (char)(rng() & 0xff);
        struct guestproc_snapshot s;
        if (guestproc_parse_list(noise, len, NULL, &s, NULL) == 0)
            guestproc_snapshot_free(&s);
        struct guestproc_maps m = {0};
        if (guestproc_parse_maps(noise, len, &m, NULL) == 0)
            guestproc_maps_free(&m);
        struct guestproc_sockets so = {0};
        if (guestproc_parse_sockets(noise, len, &so, NULL) == 0)
            guestproc_sockets_free(&so);
        free(noise);
    }
    free(b.p);
}

TEST(cpu_from_two_snapshots)
{
    struct buf a = {0}, b = {0};
    rec(&a, "uptime", "100.0 0\n");
    stat_rec(&a, 10, "busy", 'R', 1, 0, 100, 0, 1000, 0);
    stat_rec(&a, 11, "reused", 'S', 1, 0, 50, 0, 1000, 0);
    rec(&b, "uptime", "102.0 0\n");
    stat_rec(&b, 10, "busy", 'R', 1, 0, 150, 50, 1000, 0); /* +100 ticks in 2 s: 50 % */
    stat_rec(&b, 11, "reused", 'S', 1, 0, 10, 0, 9900, 0); /* another process, same pid */
    stat_rec(&b, 12, "new", 'S', 1, 0, 0, 0, 10100, 0);
    struct guestproc_snapshot s1, s2;
    CHECK(guestproc_parse_list(a.p, a.len, NULL, &s1, NULL) == 0);
    CHECK(guestproc_parse_list(b.p, b.len, NULL, &s2, NULL) == 0);
    guestproc_snapshot_cpu(&s2, &s1);
    CHECK(!s2.cpu_is_average);
    const struct guestproc *p = guestproc_snapshot_get(&s2, 10);
    CHECK_MSG(p->cpu > 49.9 && p->cpu < 50.1, "cpu %f", p->cpu);
    /* Started at 99 s, 10 ticks in 3 s: its own average. */
    p = guestproc_snapshot_get(&s2, 11);
    CHECK_MSG(p->cpu > 3.2 && p->cpu < 3.4, "cpu %f", p->cpu);
    CHECK(guestproc_snapshot_get(&s2, 12)->cpu == 0.0);
    /* A snapshot older than the previous one (guest rebooted) gives averages. */
    guestproc_snapshot_cpu(&s1, &s2);
    CHECK(s1.cpu_is_average);
    guestproc_snapshot_free(&s1);
    guestproc_snapshot_free(&s2);
    free(a.p);
    free(b.p);
}

TEST(find_by_name_path_and_ambiguity)
{
    struct buf b = demo_listing();
    const char *more[] = {"/bin/sh", "-c", "demod", NULL};
    struct guestproc_snapshot s;
    CHECK(guestproc_parse_list(b.p, b.len, NULL, &s, NULL) == 0);
    int pid = 0;
    struct ib_error err = {0};
    CHECK(guestproc_find_one(&s, "demod", &pid, &err) == 0);
    CHECK_INT(pid, 161);
    CHECK(guestproc_find_one(&s, "/usr/bin/demod", &pid, &err) == 0);
    CHECK_INT(pid, 161);
    CHECK(guestproc_find_one(&s, "kthreadd", &pid, &err) == 0);
    CHECK_INT(pid, 2);
    CHECK(guestproc_find_one(&s, "nothing", &pid, &err) < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);
    CHECK(guestproc_find_one(&s, "", &pid, &err) < 0);
    guestproc_snapshot_free(&s);
    free(b.p);

    /* Two of a name: an error listing both. */
    struct buf c = {0};
    rec(&c, "uptime", "1 1\n");
    stat_rec(&c, 20, "demod", 'S', 1, 0, 0, 0, 0, 0);
    stat_rec(&c, 21, "demod", 'S', 1, 0, 0, 0, 0, 0);
    stat_rec(&c, 22, "sh", 'S', 1, 0, 0, 0, 0, 0);
    args(&c, 22, more); /* "sh -c demod" is not demod */
    CHECK(guestproc_parse_list(c.p, c.len, NULL, &s, NULL) == 0);
    int pids[4];
    CHECK_INT(guestproc_find(&s, "demod", pids, 4), 2);
    CHECK(guestproc_find_one(&s, "demod", &pid, &err) < 0);
    CHECK_INT(err.status, IB_EINPUT);
    CHECK_CONTAINS(err.msg, "20, 21");
    guestproc_snapshot_free(&s);
    free(c.p);
}

/* The listing's exe section, `ls -ln` of the exe links as busybox prints it in
 * the demo guest: demod runs as "demod" (no path in argv[0]) chrooted in
 * /target; a kernel thread's link cannot be read. */
TEST(find_by_path_reads_the_exe_links)
{
    struct buf b = {0};
    rec(&b, "uptime", "100.00 80.00\n");
    stat_rec(&b, 2, "kthreadd", 'S', 0, 0x00208040, 0, 0, 0, 0);
    stat_rec(&b, 10, "kworker", 'S', 2, 0x00208040, 0, 0, 0, 0);
    stat_rec(&b, 143, "qemu-ga", 'S', 1, 4194368, 300, 200, 382, 672);
    stat_rec(&b, 161, "demod", 'S', 1, 4194560, 5, 5, 500, 35);
    stat_rec(&b, 170, "demod", 'S', 1, 4194560, 5, 5, 500, 35);
    stat_rec(&b, 300, "worker", 'S', 1, 4194560, 5, 5, 500, 35);
    const char *a143[] = {"qemu-ga", "-d", NULL};
    const char *a161[] = {"demod", NULL};
    const char *a300[] = {"worker", NULL};
    args(&b, 143, a143);
    args(&b, 161, a161);
    args(&b, 170, a161);
    args(&b, 300, a300);
    put(&b, "--stat--", 9);
    text(&b, "/ 0 65024 2\n/target 0 22 11002567\n2/root 0 65024 2\n143/root 0 65024 2\n"
             "161/root 0 22 11002567\n170/root 0 65024 2\n300/root 0 65024 2\n");
    put(&b, "--exe--", 8);
    text(&b, "lrwxrwxrwx    1 0        0                0 Nov 26 18:16 10/exe\n"
             "lrwxrwxrwx    1 0        0                0 Nov 26 18:16 143/exe -> "
             "/usr/sbin/qemu-ga\n"
             "lrwxrwxrwx    1 0        0                0 Nov 26 18:16 161/exe -> "
             "/target/usr/bin/demod\n"
             /* 170 runs the same file from the host system */
             "lrwxrwxrwx    1 0        0                0 Nov 26 18:16 170/exe -> "
             "/target/usr/bin/demod\n"
             "lrwxrwxrwx    1 0        0                0 Nov 26 18:16 2/exe\n"
             /* A path with newlines forges lines for 10 and 143: disbelieved. */
             "lrwxrwxrwx    1 0        0                0 Nov 26 18:16 300/exe -> /tmp/w\n"
             "x 10/exe -> /usr/bin/evil\n"
             "x 143/exe -> /usr/bin/evil\n");
    struct guestproc_snapshot s;
    struct ib_error err = {0};
    CHECK(guestproc_parse_list(b.p, b.len, NULL, &s, &err) == 0);
    CHECK_INT(s.n, 6);
    CHECK(guestproc_snapshot_get(&s, 2)->exe == NULL);
    CHECK(guestproc_snapshot_get(&s, 10)->exe == NULL);
    CHECK(guestproc_snapshot_get(&s, 143)->exe == NULL);
    CHECK_STR(guestproc_snapshot_get(&s, 161)->exe, "/target/usr/bin/demod");
    CHECK_STR(guestproc_snapshot_get(&s, 300)->exe, "/tmp/w");
    CHECK_INT(guestproc_snapshot_get(&s, 161)->where, GUESTPROC_DEVICE);
    CHECK_INT(guestproc_snapshot_get(&s, 170)->where, GUESTPROC_HOST);
    int pid = 0, pids[4];
    /* argv[0] has no path: the exe link finds it, as the device sees it
     * (only 161: 170 runs a file under /target from the host system). */
    CHECK_MSG(guestproc_find_one(&s, "/usr/bin/demod", &pid, &err) == 0, "%s", err.msg);
    CHECK_INT(pid, 161);
    /* As the host system sees it: both. */
    CHECK_INT(guestproc_find(&s, "/target/usr/bin/demod", pids, 4), 2);
    CHECK_INT(guestproc_find(&s, "/usr/bin/evil", pids, 4), 0);
    CHECK_INT(guestproc_find(&s, "/tmp/w", pids, 4), 1);
    /* 143's own line was outvoted: not found by path, still by name. */
    CHECK_INT(guestproc_find(&s, "/usr/sbin/qemu-ga", pids, 4), 0);
    CHECK(guestproc_find_one(&s, "qemu-ga", &pid, &err) == 0 && pid == 143);
    CHECK_INT(guestproc_find(&s, "demod", pids, 4), 2);
    guestproc_snapshot_free(&s);

    /* Without the forgery, 143 is found by its executable. */
    struct buf c = {0};
    rec(&c, "uptime", "1 1\n");
    stat_rec(&c, 143, "qemu-ga", 'S', 1, 4194368, 300, 200, 382, 672);
    args(&c, 143, a143);
    put(&c, "--stat--", 9);
    text(&c, "143 0 17 3\n");
    put(&c, "--exe--", 8);
    text(&c, "lrwxrwxrwx    1 0        0                0 Nov 26 18:16 143/exe -> "
             "/usr/sbin/qemu-ga\n");
    CHECK(guestproc_parse_list(c.p, c.len, NULL, &s, &err) == 0);
    CHECK_INT(guestproc_snapshot_get(&s, 143)->uid, 0);
    CHECK_MSG(guestproc_find_one(&s, "/usr/sbin/qemu-ga", &pid, &err) == 0, "%s", err.msg);
    CHECK_INT(pid, 143);
    guestproc_snapshot_free(&s);
    free(b.p);
    free(c.p);
}

static const char MAPS[] =
    "@root device\n"
    "00010000-00068000 r-xp 00000000 00:16 11002789   /target/usr/bin/demod\n"
    "00068000-0006a000 r--p 00058000 00:16 11002789   /target/usr/bin/demod\n"
    "0006c000-0006f000 rw-p 00000000 00:00 0 \n"
    "01666000-01688000 rw-p 00000000 00:00 0          [heap]\n"
    "b6f00000-b6f20000 r-xp 00001000 08:01 4242       /target/lib/with space.so (deleted)\n"
    "this line is not a mapping\n"
    "zzzzzzzz-00000001 r-xp 00000000 00:00 0\n"
    "00002000-00001000 r-xp 00000000 00:00 0 backwards\n"
    "ffff0000-ffff1000 r-xp 00000000 00:00 0          [vectors]\n"
    "@exe /target/usr/bin/demod\n";

TEST(maps_parse_and_header)
{
    struct guestproc_maps m = {.pid = 161};
    struct ib_error err = {0};
    CHECK(guestproc_parse_maps(MAPS, sizeof MAPS - 1, &m, &err) == 0);
    CHECK_INT(m.pid, 161);
    CHECK_INT(m.where, GUESTPROC_DEVICE);
    CHECK_STR(m.exe, "/target/usr/bin/demod");
    CHECK_INT(m.n, 6);
    CHECK_INT(m.skipped, 3);
    CHECK(m.v[0].start == 0x10000 && m.v[0].end == 0x68000);
    CHECK_STR(m.v[0].perms, "r-xp");
    CHECK_STR(m.v[0].path, "/target/usr/bin/demod");
    CHECK(m.v[1].offset == 0x58000);
    CHECK_STR(m.v[2].path, "");
    CHECK_STR(m.v[3].path, "[heap]");
    CHECK_STR(m.v[4].path, "/target/lib/with space.so");
    CHECK(m.v[4].deleted);
    CHECK_INT(m.v[4].dev_major, 8);
    CHECK_INT(m.v[4].inode, 4242);
    guestproc_maps_free(&m);

    const char gone[] = "@gone\n";
    m.pid = 5;
    CHECK(guestproc_parse_maps(gone, sizeof gone - 1, &m, &err) < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);
    CHECK_CONTAINS(err.msg, "process 5");
    /* An executable name with a newline stays whole. */
    const char nl[] = "@root host\n@exe /tmp/a\nb\n";
    m.pid = 6;
    CHECK(guestproc_parse_maps(nl, sizeof nl - 1, &m, &err) == 0);
    CHECK_STR(m.exe, "/tmp/a\nb");
    CHECK_INT(m.where, GUESTPROC_HOST);
    guestproc_maps_free(&m);
    for (size_t cut = 0; cut < sizeof MAPS; cut++) {
        char *copy = xmalloc(cut ? cut : 1);
        memcpy(copy, MAPS, cut);
        struct guestproc_maps t = {.pid = 1};
        if (guestproc_parse_maps(copy, cut, &t, NULL) == 0)
            guestproc_maps_free(&t);
        free(copy);
    }
}

static const char SOCKETS[] =
    "@fd fd/0 5 character special file\n"
    "@fd fd/3 11267 socket\n"
    "@fd fd/4 2222 socket\n"
    "@fd fd/5 3333 socket\n"
    "@fd fd/6 4444 socket\n"
    "@fd fd/7 5555 socket\n"
    "@fd fd/8 6666 socket\n"
    "@fd fd/9 7777 socket\n"
    "@fd fd/10 999999 socket\n"
    "/proc/net/tcp:  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
    "   uid  timeout inode\n"
    "/proc/net/tcp:   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000"
    "     0        0 11267 1 c3a5c000 100 0 0 10 0\n"
    "/proc/net/tcp:   1: 0F02000A:0050 0202000A:D431 01 00000000:00000000 00:00000000 00000000"
    "     0        0 7777 1 c3a5c000 100 0 0 10 0\n"
    "/proc/net/tcp6:   0: 00000000000000000000000001000000:1F90 "
    "00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0"
    "        0 5555 1 00000000 100 0 0 10 0\n"
    "/proc/net/udp:  123: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000"
    "     0        0 2222 2 00000000 0\n"
    "/proc/net/unix:Num       RefCount Protocol Flags    Type St Inode Path\n"
    "/proc/net/unix:c1f0e400: 00000002 00000000 00010000 0001 01 3333 /run/demo.sock\n"
    "/proc/net/unix:c1f0e500: 00000003 00000000 00000000 0001 03 4444\n"
    /* A path with a newline forging a line for inode 6666: both are ambiguous. */
    "/proc/net/unix:c1f0e600: 00000002 00000000 00010000 0001 01 6666 /tmp/x\n"
    "/proc/net/unix:c1f0e700: 00000002 00000000 00010000 0001 01 6666 /tmp/forged\n"
    "/proc/net/udp: garbage line\n";

TEST(sockets_parse_tcp_udp_unix)
{
    struct guestproc_sockets s = {.pid = 161};
    struct ib_error err = {0};
    CHECK(guestproc_parse_sockets(SOCKETS, sizeof SOCKETS - 1, &s, &err) == 0);
    CHECK_INT(s.n, 8); /* fd 0 is not a socket */
    CHECK_INT(s.v[0].fd, 3);
    CHECK_INT(s.v[0].proto, GUESTPROC_TCP);
    CHECK_STR(s.v[0].local, "0.0.0.0");
    CHECK_INT(s.v[0].local_port, 80);
    CHECK_STR(s.v[0].state, "LISTEN");
    CHECK_INT(s.v[1].fd, 4);
    CHECK_INT(s.v[1].proto, GUESTPROC_UDP);
    CHECK_INT(s.v[1].local_port, 68);
    CHECK_STR(s.v[1].state, "UNCONN");
    CHECK_INT(s.v[2].proto, GUESTPROC_UNIX);
    CHECK_STR(s.v[2].path, "/run/demo.sock");
    CHECK_STR(s.v[2].state, "LISTEN");
    CHECK_STR(s.v[3].state, "CONNECTED");
    CHECK_STR(s.v[3].path, "");
    CHECK_INT(s.v[4].proto, GUESTPROC_TCP6);
    CHECK_STR(s.v[4].local, "::1");
    CHECK_INT(s.v[4].local_port, 8080);
    CHECK_STR(s.v[4].remote, "::");
    CHECK_STR(s.v[5].path, "(ambiguous)");
    CHECK_INT(s.v[6].fd, 9);
    CHECK_STR(s.v[6].local, "10.0.2.15");
    CHECK_STR(s.v[6].remote, "10.0.2.2");
    CHECK_INT(s.v[6].remote_port, 54321);
    CHECK_STR(s.v[6].state, "ESTABLISHED");
    CHECK_INT(s.v[7].proto, GUESTPROC_SOCK_OTHER); /* not in any table (netlink...) */
    guestproc_sockets_free(&s);

    s.pid = 9;
    CHECK(guestproc_parse_sockets("@gone\n", 6, &s, &err) < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);
    CHECK(guestproc_parse_sockets("", 0, &s, &err) < 0);
    for (size_t cut = 0; cut < sizeof SOCKETS; cut++) {
        char *copy = xmalloc(cut ? cut : 1);
        memcpy(copy, SOCKETS, cut);
        struct guestproc_sockets t = {.pid = 1};
        if (guestproc_parse_sockets(copy, cut, &t, NULL) == 0)
            guestproc_sockets_free(&t);
        free(copy);
    }
}

TEST(signal_names_and_numbers)
{
    CHECK_INT(guestproc_signal_parse("9"), 9);
    CHECK_INT(guestproc_signal_parse("KILL"), 9);
    CHECK_INT(guestproc_signal_parse("sigterm"), 15);
    CHECK_INT(guestproc_signal_parse("SIGSTOP"), 19);
    CHECK_INT(guestproc_signal_parse("hup"), 1);
    CHECK_INT(guestproc_signal_parse("0"), -1);
    CHECK_INT(guestproc_signal_parse("65"), -1);
    CHECK_INT(guestproc_signal_parse("NOPE"), -1);
    CHECK_INT(guestproc_signal_parse(""), -1);
    CHECK_STR(guestproc_signal_name(10), "USR1");
    CHECK(guestproc_signal_name(40) == NULL);
}

TEST(debugger_finds_the_user_nic_in_qemus_argv)
{
    char *argv[] = {"qemu-system-arm",
                    "-netdev",
                    "tap,id=net0,ifname=tap0",
                    "-netdev",
                    "user,id=net1,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80",
                    "-device",
                    "virtio-net-device,netdev=net1",
                    NULL};
    char buf[32];
    CHECK_STR(debugger_user_netdev(argv, 7, buf, sizeof buf), "net1");
    char *none[] = {"qemu-system-arm", "-nic", "none", "-netdev", "user,restrict=on", NULL};
    CHECK(debugger_user_netdev(none, 5, buf, sizeof buf) == NULL);
    CHECK(debugger_user_netdev(argv, 2, buf, sizeof buf) == NULL); /* "-netdev" last: no value */
}
