/* qemu_argv.c - see qemu_argv.h. */
#include "core/qemu_argv.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct argv_buf {
    char **v;
    size_t n, cap;
};

static void add(struct argv_buf *b, char *owned)
{
    if (b->n + 2 > b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = owned;
    b->v[b->n] = NULL;
}

static void add2(struct argv_buf *b, const char *opt, char *owned_value)
{
    add(b, xstrdup(opt));
    add(b, owned_value);
}

/* QEMU's option parser splits on ',': a literal comma in a value is
 * written twice. Paths from the store could hold one. */
static char *opt_escape(const char *s)
{
    size_t extra = 0;
    for (const char *p = s; *p; p++)
        extra += *p == ',';
    char *out = xmalloc(strlen(s) + extra + 1), *o = out;
    for (const char *p = s; *p; p++) {
        *o++ = *p;
        if (*p == ',')
            *o++ = ',';
    }
    *o = '\0';
    return out;
}

/* 'text' with embedded quotes as '\'' : safe as one sh word. */
static char *shell_quote(const char *text)
{
    size_t n = 2;
    for (const char *p = text; *p; p++)
        n += *p == '\'' ? 4 : 1;
    char *out = xmalloc(n + 1), *o = out;
    *o++ = '\'';
    for (const char *p = text; *p; p++) {
        if (*p == '\'') {
            memcpy(o, "'\\''", 4);
            o += 4;
        } else {
            *o++ = *p;
        }
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

static const char *virtio_suffix(const struct config *cfg)
{
    return cfg->virtio == CONFIG_VIRTIO_PCI ? "pci" : "device";
}

/* True when the kernel command line sets `name=` itself (a word of its own). */
static bool cmdline_sets(const char *cmdline, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = cmdline; (p = strstr(p, name)) != NULL; p += n)
        if ((p == cmdline || p[-1] == ' ') && p[n] == '=')
            return true;
    return false;
}

char *qemu_argv_kernel_cmdline(const struct config *cfg)
{
    /* panic=1: a panicking kernel reboots after a second, and -no-reboot
     * turns that reboot into QEMU's exit, so the instance is reported dead
     * with the panic instead of spinning at 100% CPU forever (the kernel's
     * default panic=0). A device that sets panic= keeps its own. */
    const char *panic = cmdline_sets(cfg->bootargs, "panic") ? "" : " panic=1";
    return xasprintf("%s iotbench.guestfs=%s%s", cfg->bootargs, config_guestfs_name(cfg->guestfs),
                     panic);
}

static void add_machine(struct argv_buf *b, const struct qemu_argv_input *in)
{
    const struct config *cfg = in->cfg;
    /* Plain virt puts PCIe ECAM high, where this 32-bit kernel cannot
     * reach it: every *-pci device would silently have no bus. */
    if (strcmp(cfg->platform, "virt") == 0)
        add2(b, "-M", xstrdup("virt,highmem=off"));
    else
        add2(b, "-M", xstrdup(cfg->platform));
    if (cfg->cpu)
        add2(b, "-cpu", xstrdup(cfg->cpu));
    add2(b, "-m", xasprintf("%uM", cfg->memory_mib));
    add2(b, "-name", opt_escape(in->instance));
    add2(b, "-display", xstrdup("none"));
    add2(b, "-monitor", xstrdup("none"));
    /* A guest reboot (a panic's, see qemu_argv_kernel_cmdline) ends QEMU. */
    add(b, xstrdup("-no-reboot"));
    add2(b, "-kernel", xstrdup(in->kernel));
    if (in->initrd)
        add2(b, "-initrd", xstrdup(in->initrd));
    if (in->dtb)
        add2(b, "-dtb", xstrdup(in->dtb));
    add2(b, "-append", qemu_argv_kernel_cmdline(cfg));
}

static void add_disk(struct argv_buf *b, const struct qemu_argv_input *in, const char *id,
                     const char *file, const char *node)
{
    const struct config *cfg = in->cfg;
    char *dir = opt_escape(in->dir);
    add2(b, "-drive", xasprintf("if=none,file=%s/%s,format=qcow2,id=%s,node-name=%s", dir, file,
                                id, node));
    free(dir);
    if (cfg->drive_type == CONFIG_DRIVE_SCSI)
        add2(b, "-device", xasprintf("scsi-hd,drive=%s,bus=scsi0.0", id));
    else if (cfg->drive_type == CONFIG_DRIVE_PCI)
        add2(b, "-device", xasprintf("virtio-blk-pci,drive=%s", id));
    else
        add2(b, "-device", xasprintf("virtio-blk-%s,drive=%s", virtio_suffix(cfg), id));
}

/* On virt, virtio-mmio transports are numbered in reverse command-line
 * order: the disk given last becomes /dev/vda. The hostfs must be vda
 * and an SD image vdb (Piotr's topology), so extra disks come first.
 * PCI and SCSI number in command-line order, so there the hostfs leads. */
static void add_disks(struct argv_buf *b, const struct qemu_argv_input *in)
{
    const struct config *cfg = in->cfg;
    bool mmio = cfg->drive_type == CONFIG_DRIVE_VIRTIO && cfg->virtio == CONFIG_VIRTIO_DEVICE;
    bool embed = cfg->guestfs == CONFIG_GUESTFS_EMBED;
    if (cfg->drive_type == CONFIG_DRIVE_SCSI)
        add2(b, "-device", xasprintf("virtio-scsi-%s,id=scsi0", virtio_suffix(cfg)));
    if (!mmio)
        add_disk(b, in, "hostfs", QEMU_OVERLAY, QEMU_NODE_HOSTFS);
    if (embed)
        add_disk(b, in, "target", QEMU_TARGET_IMAGE, QEMU_NODE_TARGET);
    if (in->has_sd)
        add_disk(b, in, "sd", QEMU_SD_IMAGE, QEMU_NODE_SD);
    if (mmio)
        add_disk(b, in, "hostfs", QEMU_OVERLAY, QEMU_NODE_HOSTFS);
}

static void add_virtfs(struct argv_buf *b, const struct qemu_argv_input *in)
{
    if (in->cfg->guestfs != CONFIG_GUESTFS_VIRTFS)
        return;
    char *path = opt_escape(in->rootfs);
    add2(b, "-fsdev", xasprintf("local,id=fs0,path=%s,security_model=%s", path,
                                in->mapped_xattr ? "mapped-xattr" : "passthrough"));
    free(path);
    add2(b, "-device", xasprintf("virtio-9p-%s,fsdev=fs0,mount_tag=host0",
                                 virtio_suffix(in->cfg)));
}

static void add_channels(struct argv_buf *b, const struct qemu_argv_input *in)
{
    const char *v = virtio_suffix(in->cfg);
    add2(b, "-chardev", xstrdup("socket,id=ser0,path=" QEMU_CONSOLE_SOCK
                                ",server=on,wait=off,logfile=" QEMU_CONSOLE_LOG));
    add2(b, "-serial", xstrdup("chardev:ser0"));
    add2(b, "-qmp", xstrdup("unix:" QEMU_QMP_SOCK ",server=on,wait=off"));
    add2(b, "-chardev", xstrdup("socket,id=qga0,path=" QEMU_QGA_SOCK ",server=on,wait=off"));
    add2(b, "-device", xasprintf("virtio-serial-%s,id=vser0", v));
    add2(b, "-device", xstrdup("virtserialport,bus=vser0.0,chardev=qga0,name="
                               QEMU_AGENT_PORT_NAME));
    add2(b, "-device", xasprintf("virtio-rng-%s", v));
}

static int add_network(struct argv_buf *b, const struct qemu_argv_input *in,
                       struct ib_error *err)
{
    const struct config *cfg = in->cfg;
    if (cfg->n_nics == 0) {
        /* Without this QEMU adds an unrestricted user-mode NIC. */
        add2(b, "-nic", xstrdup("none"));
        return 0;
    }
    for (size_t i = 0; i < cfg->n_nics; i++) {
        const struct config_nic *nic = &cfg->nics[i];
        char id[32];
        snprintf(id, sizeof id, "net%u", (unsigned)i);
        if (nic->type == CONFIG_NIC_TAP) {
            add2(b, "-netdev", xasprintf("tap,id=%s,ifname=%s,script=no,downscript=no", id,
                                         nic->ifname));
        } else {
            /* restrict=on: the guest reaches nothing outside; forwards
             * into it still work and listen on loopback only. */
            size_t cap = 256, len = 0;
            char *s = xmalloc(cap);
            len = (size_t)snprintf(s, cap, "user,id=%s,restrict=on", id);
            for (size_t r = 0; r < cfg->n_redirects; r++) {
                const struct config_redirect *rd = &cfg->redirects[r];
                if (strcmp(rd->nic, nic->name) != 0)
                    continue;
                int host = rd->host_port + in->port_offset;
                if (host < 1 || host > 65535) {
                    free(s);
                    return ib_err(err, IB_EINPUT, "redirect %s.%s: host port %d + offset %d is "
                                  "out of range 1-65535", rd->nic, rd->name, rd->host_port,
                                  in->port_offset);
                }
                char rule[96];
                int rn = snprintf(rule, sizeof rule, ",hostfwd=%s:127.0.0.1:%d-:%d",
                                  config_proto_name(rd->proto), host, rd->guest_port);
                if (len + (size_t)rn + 1 > cap)
                    s = xrealloc(s, cap = (len + (size_t)rn + 1) * 2);
                memcpy(s + len, rule, (size_t)rn + 1);
                len += (size_t)rn;
            }
            add2(b, "-netdev", s);
        }
        add2(b, "-device", xasprintf("virtio-net-%s,netdev=%s", virtio_suffix(cfg), id));
    }
    return 0;
}

int qemu_argv_build(const struct qemu_argv_input *in, char ***argv, size_t *argc,
                    struct ib_error *err)
{
    if (in->cfg == NULL || in->kernel == NULL || in->instance == NULL || in->dir == NULL ||
        (in->cfg->guestfs == CONFIG_GUESTFS_VIRTFS && in->rootfs == NULL))
        return ib_err(err, IB_EINPUT, "QEMU command line: kernel, instance name, runtime folder "
                      "and rootfs are required");
    struct argv_buf b = {0};
    add(&b, xstrdup(in->binary ? in->binary : "qemu-system-arm"));
    add_machine(&b, in);
    add_disks(&b, in);
    add_virtfs(&b, in);
    add_channels(&b, in);
    if (add_network(&b, in, err) < 0) {
        qemu_argv_free(b.v);
        return -1;
    }
    if (in->gdbstub_port > 0)
        add2(&b, "-gdb", xasprintf("tcp:127.0.0.1:%d", in->gdbstub_port));
    if (in->incoming_file) {
        /* QEMU 7.2 reads a migration stream from a file only through a
         * shell command; the path (never a config value) is quoted. */
        char *quoted = shell_quote(in->incoming_file);
        add2(&b, "-incoming", xasprintf("exec:cat %s", quoted));
        free(quoted);
    }
    add2(&b, "-pidfile", xstrdup(QEMU_PIDFILE));
    add(&b, xstrdup("-daemonize"));
    *argv = b.v;
    *argc = b.n;
    return 0;
}

void qemu_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **p = argv; *p; p++)
        free(*p);
    free(argv);
}

static bool needs_quotes(const char *s)
{
    if (*s == '\0')
        return true;
    for (; *s; s++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                    "-_./=:,+@%", *s))
            return true;
    return false;
}

char *qemu_argv_display(char *const *argv)
{
    size_t cap = 1024, len = 0;
    char *out = xmalloc(cap);
    out[0] = '\0';
    for (size_t i = 0; argv[i]; i++) {
        const char *a = argv[i];
        size_t need = strlen(a) * 4 + 4;
        if (len + need + 1 > cap)
            out = xrealloc(out, cap = (len + need + 1) * 2);
        if (i)
            out[len++] = ' ';
        if (!needs_quotes(a)) {
            len += (size_t)sprintf(out + len, "%s", a);
            continue;
        }
        out[len++] = '\'';
        for (; *a; a++) {
            if (*a == '\'')
                len += (size_t)sprintf(out + len, "'\\''");
            else
                out[len++] = *a;
        }
        out[len++] = '\'';
        out[len] = '\0';
    }
    return out;
}
