/*
 * qemu_argv.h - the QEMU command line of an instance, as a pure function
 * of (config, resolved kernel/initrd/hostfs/dtb, instance paths).
 *
 * Nothing here touches the file system or a shell: the result is an argv
 * for execvp(), tested against golden files. QEMU is started with the
 * runtime folder as its working directory, so sockets and logs are named
 * relative to it (short paths, whatever $IOTBENCH_HOME is: sun_path holds
 * 107 bytes). Disks are absolute: -daemonize moves QEMU to "/", and a
 * migration or snapshot reopens them by name.
 *
 *     struct qemu_argv_input in = {.cfg = cfg, .kernel = "/..../kernels/virt...", ...};
 *     char **argv; size_t argc;
 *     if (qemu_argv_build(&in, &argv, &argc, &err) < 0) ...
 *     execvp(argv[0], argv);
 */
#ifndef IB_QEMU_ARGV_H
#define IB_QEMU_ARGV_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "core/error.h"

/* Names inside the runtime folder (relative to QEMU's working directory). */
#define QEMU_PIDFILE "qemu.pid"
#define QEMU_QMP_SOCK "qmp.sock"
#define QEMU_QGA_SOCK "qga.sock"
#define QEMU_CONSOLE_SOCK "console.sock"
#define QEMU_CONSOLE_LOG "console.log"
#define QEMU_OVERLAY "overlay.qcow2"
/* Every disk is a qcow2 layer in the runtime folder, so writes stay per
 * instance and snapshots can hold all of them. */
#define QEMU_TARGET_IMAGE "target.qcow2"
#define QEMU_SD_IMAGE "sd.qcow2"
/* The block node names of the disks, for snapshot jobs. */
#define QEMU_NODE_HOSTFS "disk-hostfs"
#define QEMU_NODE_TARGET "disk-target"
#define QEMU_NODE_SD "disk-sd"
#define QEMU_AGENT_PORT_NAME "org.qemu.guest_agent.0"
/* Filesystem labels the host system's init looks for. */
#define QEMU_TARGET_LABEL "ib-target"
#define QEMU_SD_LABEL "ib-sd"

struct qemu_argv_input {
    const struct config *cfg;
    const char *binary;       /* NULL: qemu-system-arm */
    const char *instance;     /* -name */
    const char *dir;          /* absolute: the runtime folder (its disk layers) */
    const char *kernel;       /* absolute */
    const char *initrd;       /* absolute or NULL */
    const char *dtb;          /* absolute or NULL */
    const char *rootfs;       /* absolute: the device's rootfs folder (virtfs) */
    bool has_sd;              /* sd.qcow2 exists in the runtime folder */
    int port_offset;          /* added to every redirect's host port */
    int gdbstub_port;         /* 0: none */
    bool mapped_xattr;        /* 9P security model: mapped-xattr (non-root) or passthrough */
    const char *incoming_file; /* NULL, or a RAM state to restore (warm start) */
};

/* argv is NULL-terminated; free with qemu_argv_free. */
int qemu_argv_build(const struct qemu_argv_input *in, char ***argv, size_t *argc,
                    struct ib_error *err);
void qemu_argv_free(char **argv);

/* The kernel command line given with -append: the device's bootargs plus
 * what the host system needs to know, and panic=1 unless the bootargs set
 * panic= (with -no-reboot, a guest kernel panic ends QEMU) (malloc'd). */
char *qemu_argv_kernel_cmdline(const struct config *cfg);

/* One line, arguments quoted only where a shell would need it, for
 * showing to the user (never executed). */
char *qemu_argv_display(char *const *argv);

#endif
