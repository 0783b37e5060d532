/*
 * fuzz_guestproc.c - what the guest prints for the process pane, the
 * debugger and `instance ps/maps/sockets`: core/guestproc.c runs one busybox
 * script through the agent and parses its output on the host, and any guest
 * process chooses its own name, command line and (through its mounts and
 * sockets) much of what the scripts read. Every input goes through all
 * three parsers:
 *
 *   guestproc_parse_list     "NAME:value\0" records (uptime, passwd files,
 *                            PID/stat, PID/cmdline), then "--stat--\0" and
 *                            "NAME UID DEV INO" lines
 *   guestproc_parse_maps     /proc/PID/maps lines with "@root", "@exe" and
 *                            "@gone" header lines
 *   guestproc_parse_sockets  "@fd fd/N INODE TYPE" lines and the lines of
 *                            /proc/net/{tcp,udp,unix...} prefixed with their file name
 *
 * and what the callers do with a result: CPU % against a second snapshot,
 * finding processes by name, user names.
 *
 * Promises checked: a listing is sorted by pid without duplicates and
 * every lookup finds its own process; a process is found by its own name;
 * strings stay NUL-terminated within their arrays and argv has argc
 * entries; a mapping has start <= end and permissions from "rwxps-";
 * sockets are sorted by fd with ports in 0..65535.
 */
#include <math.h>

#include "core/guestproc.h"
#include "tests/fuzz/fuzz.h"

static void gpf_check_proc(const struct guestproc_snapshot *s, size_t i,
                           const struct guestproc_users *u)
{
    const struct guestproc *p = &s->procs[i];
    if (i > 0 && s->procs[i - 1].pid >= p->pid)
        fuzz_fail("listing: pid %d after pid %d", p->pid, s->procs[i - 1].pid);
    if (guestproc_snapshot_get(s, p->pid) != p)
        fuzz_fail("listing: pid %d not found by its pid", p->pid);
    if (memchr(p->comm, '\0', sizeof p->comm) == NULL ||
        memchr(p->user, '\0', sizeof p->user) == NULL)
        fuzz_fail("listing: pid %d: comm or user not NUL-terminated", p->pid);
    if (p->cmdline == NULL)
        fuzz_fail("listing: pid %d without a command line", p->pid);
    for (size_t k = 0; k < p->argc; k++)
        if (p->argv == NULL || p->argv[k] == NULL)
            fuzz_fail("listing: pid %d: argv[%zu] of %zu missing", p->pid, k, p->argc);
    if (isnan(p->cpu))
        fuzz_fail("listing: pid %d: CPU %% is NaN", p->pid);
    /* The pane finds a process by what it shows (a path goes another way). */
    int pids[4];
    if (p->comm[0] != '\0' && p->comm[0] != '/' && guestproc_find(s, p->comm, pids, 4) == 0)
        fuzz_fail("listing: pid %d not found by its name \"%s\"", p->pid, p->comm);
    struct ib_error err = {0};
    int one;
    guestproc_find_one(s, p->comm, &one, &err);
    if (p->argc > 0)
        guestproc_find(s, p->argv[0], pids, 4);
    if (u != NULL && p->uid != GUESTPROC_UID_UNKNOWN) {
        guestproc_users_name(u, true, p->uid);
        guestproc_users_name(u, false, p->uid);
    }
}

static void gpf_list(const char *text, size_t len)
{
    struct guestproc_users *u = guestproc_users_new();
    struct guestproc_snapshot s, again;
    struct ib_error err = {0};
    if (guestproc_parse_list(text, len, u, &s, &err) < 0) {
        if (err.msg[0] == '\0')
            fuzz_fail("listing: refused without a message");
        guestproc_users_free(u);
        return;
    }
    fuzz_debug("listing: %zu processes, %zu records skipped", s.n, s.skipped);
    for (size_t i = 0; i < s.n; i++)
        gpf_check_proc(&s, i, u);
    /* A refresh: the same output again, CPU % since the first one. */
    if (guestproc_parse_list(text, len, NULL, &again, NULL) < 0)
        fuzz_fail("listing: parsed once, refused the second time");
    if (again.n != s.n)
        fuzz_fail("listing: %zu processes, then %zu from the same bytes", s.n, again.n);
    guestproc_snapshot_cpu(&again, &s);
    for (size_t i = 0; i < again.n; i++)
        if (isnan(again.procs[i].cpu))
            fuzz_fail("listing: pid %d: CPU %% since the last refresh is NaN", again.procs[i].pid);
    guestproc_snapshot_free(&again);
    guestproc_snapshot_free(&s);
    guestproc_users_free(u);
}

static void gpf_maps(const char *text, size_t len)
{
    struct guestproc_maps m = {.pid = 42};
    struct ib_error err = {0};
    if (guestproc_parse_maps(text, len, &m, &err) < 0) {
        if (err.msg[0] == '\0')
            fuzz_fail("maps: refused without a message");
        return;
    }
    fuzz_debug("maps: %zu mappings, %zu lines skipped", m.n, m.skipped);
    if (m.pid != 42)
        fuzz_fail("maps: the pid changed to %d", m.pid);
    for (size_t i = 0; i < m.n; i++) {
        const struct guestproc_map *v = &m.v[i];
        if (v->path == NULL || v->start > v->end)
            fuzz_fail("maps: mapping %zu: no path or start after end", i);
        if (strlen(v->perms) != 4 || strspn(v->perms, "rwxps-") != 4)
            fuzz_fail("maps: mapping %zu: permissions \"%s\"", i, v->perms);
    }
    guestproc_maps_free(&m);
}

static void gpf_sockets(const char *text, size_t len)
{
    struct guestproc_sockets s = {.pid = 42};
    struct ib_error err = {0};
    if (guestproc_parse_sockets(text, len, &s, &err) < 0) {
        if (err.msg[0] == '\0')
            fuzz_fail("sockets: refused without a message");
        return;
    }
    fuzz_debug("sockets: %zu", s.n);
    for (size_t i = 0; i < s.n; i++) {
        const struct guestproc_socket *v = &s.v[i];
        if (i > 0 && s.v[i - 1].fd > v->fd)
            fuzz_fail("sockets: fd %d after fd %d", v->fd, s.v[i - 1].fd);
        if (memchr(v->local, '\0', sizeof v->local) == NULL ||
            memchr(v->remote, '\0', sizeof v->remote) == NULL ||
            memchr(v->state, '\0', sizeof v->state) == NULL)
            fuzz_fail("sockets: fd %d: a string not NUL-terminated", v->fd);
        if (v->local_port < 0 || v->local_port > 65535 || v->remote_port < 0 ||
            v->remote_port > 65535)
            fuzz_fail("sockets: fd %d: port %d or %d", v->fd, v->local_port, v->remote_port);
        guestproc_sock_proto_name(v->proto);
    }
    guestproc_sockets_free(&s);
}

FUZZ_ENTRY(guestproc)
{
    /* The parsers take a length: a copy of exactly that size (no NUL after
     * it, unlike the agent's buffers) lets ASan see any read past the end. */
    char *text = xmalloc(size ? size : 1);
    memcpy(text, data, size);
    gpf_list(text, size);
    gpf_maps(text, size);
    gpf_sockets(text, size);
    free(text);
    return 0;
}
