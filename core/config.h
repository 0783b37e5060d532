/*
 * config.h - a device's config.yaml (Piotr's schema, version "1.0") as a
 * plain struct.
 *
 *     struct config *cfg;
 *     struct ib_error err = {0};
 *     if (config_load("devices/demo/config.yaml", &cfg, &err) < 0)
 *         ... err.msg is "config.yaml:7:13: device.machine.memory: expected ..."
 *     for (size_t i = 0; i < cfg->n_warnings; i++) puts(cfg->warnings[i]);
 *     config_free(cfg);
 *
 * Every error names file:line:column (1-based, of the offending node), the
 * key path and what was expected; all have status IB_EINPUT. Unknown keys
 * are not errors: they become warnings with their position. Relative paths
 * in the file (custom kernel, hostfs, dtb, sd folder) are checked to stay
 * inside the device folder.
 */
#ifndef IB_CONFIG_H
#define IB_CONFIG_H

#include <stddef.h>

#include "core/error.h"

enum config_guestfs { CONFIG_GUESTFS_VIRTFS, CONFIG_GUESTFS_EMBED };
enum config_drive { CONFIG_DRIVE_SCSI, CONFIG_DRIVE_VIRTIO, CONFIG_DRIVE_PCI };
enum config_virtio { CONFIG_VIRTIO_DEVICE, CONFIG_VIRTIO_PCI };
enum config_nic_type { CONFIG_NIC_USER, CONFIG_NIC_TAP };
enum config_proto { CONFIG_TCP, CONFIG_UDP };

struct config_nic {
    char *name;             /* "nic0" */
    enum config_nic_type type;
    char *ifname;           /* tap only */
};

struct config_redirect {
    char *nic;              /* which NIC, e.g. "nic0" */
    char *name;             /* the rule's name, e.g. "http" */
    enum config_proto proto;
    int host_port;
    int guest_port;
    int line, column;       /* where the rule is written, for later errors */
};

struct config {
    char *path;             /* as given to config_load */
    char *version;          /* always "1.0" once loaded */
    char *name;             /* device.name, default "piotr_guest" */
    char *platform;         /* default "virt" */
    char *cpu;              /* NULL when not given */
    char *endian;           /* "little" (default) or "big" */
    unsigned memory_mib;    /* default 128 */
    char *dtb;              /* NULL, "auto", "embedded" or a relative path */
    char *kernel;           /* NULL (newest), a version, or a relative path */
    char *bootargs;         /* required */
    char *hostfs;           /* NULL (newest), a version, a platform name, or a relative path */
    enum config_guestfs guestfs;   /* default virtfs */
    enum config_drive drive_type;  /* default scsi, as Piotr */
    enum config_virtio virtio;     /* default device */
    char *sd;               /* NULL or a relative folder */
    struct config_nic *nics;
    size_t n_nics;
    struct config_redirect *redirects;
    size_t n_redirects;
    char **warnings;        /* "config.yaml:12:3: unknown key device.foo (ignored)" */
    size_t n_warnings;
};

int config_load(const char *path, struct config **out, struct ib_error *err);
/* Parses text already in memory; display_path is used in messages. */
int config_parse(const char *text, size_t len, const char *display_path, struct config **out,
                 struct ib_error *err);
void config_free(struct config *cfg);

const char *config_guestfs_name(enum config_guestfs g);
const char *config_drive_name(enum config_drive d);
const char *config_virtio_name(enum config_virtio v);
const char *config_proto_name(enum config_proto p);

/* Parses "256", "256M", "1G", "512MiB" into MiB; -1 when it is not a size. */
long config_parse_size_mib(const char *s);

#endif
