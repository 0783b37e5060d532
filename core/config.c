/*
 * config.c - config.yaml loading with libyaml's document API.
 *
 * libyaml gives a node tree with marks; we walk it by hand against Piotr's
 * schema so that every complaint can point at the exact node. libyaml does
 * not notice duplicate keys or tell tabs from other bad characters, so both
 * are checked here.
 */
#include "core/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "core/util.h"

#define CONFIG_MAX_BYTES (1024 * 1024)

struct walker {
    yaml_document_t *doc;
    const char *path;
    struct config *cfg;
    struct ib_error *err;
};

/* --- messages ------------------------------------------------------------ */

static int fail_at(struct walker *w, yaml_node_t *node, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct walker *w, yaml_node_t *node, const char *key, const char *fmt, ...)
{
    char what[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ib_err(w->err, IB_EINPUT, "%s:%zu:%zu: %s: %s", w->path,
                  node->start_mark.line + 1, node->start_mark.column + 1, key, what);
}

static void warn_at(struct walker *w, yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void warn_at(struct walker *w, yaml_node_t *node, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    struct config *cfg = w->cfg;
    cfg->warnings = xrealloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof *cfg->warnings);
    cfg->warnings[cfg->n_warnings++] = xasprintf("%s:%zu:%zu: %s", w->path,
                                                 node->start_mark.line + 1,
                                                 node->start_mark.column + 1, what);
}

static const char *node_kind(yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return node->data.scalar.length ? "a value" : "nothing";
    default:
        return "nothing";
    }
}

/* An empty plain scalar ("key:" with nothing after) is YAML's null. */
static bool node_is_null(yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return node->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

static const char *scalar(yaml_node_t *node)
{
    return (const char *)node->data.scalar.value;
}

/* --- typed getters --------------------------------------------------------- */

static int get_string(struct walker *w, yaml_node_t *node, const char *key, const char *expect,
                      char **out)
{
    if (node->type != YAML_SCALAR_NODE || node_is_null(node))
        return fail_at(w, node, key, "expected %s, got %s", expect, node_kind(node));
    if (strlen(scalar(node)) != node->data.scalar.length)
        return fail_at(w, node, key, "expected %s, got a value with a NUL byte", expect);
    free(*out);
    *out = xstrdup(scalar(node));
    return 0;
}

/* One of a fixed set of words, compared without case as Piotr does. */
static int get_choice(struct walker *w, yaml_node_t *node, const char *key,
                      const char *const *choices, int *out)
{
    char expect[200] = "one of";
    for (int i = 0; choices[i]; i++)
        snprintf(expect + strlen(expect), sizeof expect - strlen(expect), "%s %s",
                 i ? "," : "", choices[i]);
    if (node->type != YAML_SCALAR_NODE || node_is_null(node))
        return fail_at(w, node, key, "expected %s, got %s", expect, node_kind(node));
    for (int i = 0; choices[i]; i++) {
        if (strcasecmp(scalar(node), choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return fail_at(w, node, key, "expected %s, got \"%s\"", expect, scalar(node));
}

/* A path written in the file, relative to the device folder, that must
 * stay inside it. */
static int get_relpath(struct walker *w, yaml_node_t *node, const char *key, const char *expect,
                       char **out)
{
    if (get_string(w, node, key, expect, out) < 0)
        return -1;
    const char *p = *out;
    if (p[0] == '/')
        return fail_at(w, node, key, "expected a path relative to the device folder, got the "
                       "absolute path \"%s\"", p);
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return fail_at(w, node, key, "path \"%s\" leaves the device folder (\"..\")", p);
        s += n;
        if (*s == '/')
            s++;
    }
    return 0;
}

long config_parse_size_mib(const char *s)
{
    static const struct {
        const char *suffix;
        unsigned long long mib;
    } units[] = {{"", 1},    {"M", 1},    {"m", 1},       {"MB", 1},     {"MiB", 1},
                 {"G", 1024}, {"g", 1024}, {"GB", 1024}, {"GiB", 1024}};
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || v == 0)
        return -1;
    for (size_t i = 0; i < IB_ARRAY_LEN(units); i++) {
        /* At most 1 TiB: anything larger is a typo, not a device. */
        if (strcmp(end, units[i].suffix) == 0)
            return v > (1ULL << 20) / units[i].mib ? -1 : (long)(v * units[i].mib);
    }
    return -1;
}

/* --- mapping walk --------------------------------------------------------- */

typedef int (*key_handler)(struct walker *w, yaml_node_t *value, const char *keypath);

struct key_rule {
    const char *key;
    key_handler handle;
};

static int check_duplicates(struct walker *w, yaml_node_t *map, const char *path)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top;
         a++) {
        yaml_node_t *ka = yaml_document_get_node(w->doc, a->key);
        if (ka->type != YAML_SCALAR_NODE) {
            char kp[256];
            snprintf(kp, sizeof kp, "%s", *path ? path : "(top level)");
            return fail_at(w, ka, kp, "expected a plain key, got %s", node_kind(ka));
        }
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            yaml_node_t *kb = yaml_document_get_node(w->doc, b->key);
            if (strcmp(scalar(ka), scalar(kb)) == 0) {
                char kp[256];
                snprintf(kp, sizeof kp, "%s%s%s", path, *path ? "." : "", scalar(ka));
                return fail_at(w, ka, kp, "duplicate key (first written at line %zu, column "
                               "%zu)", kb->start_mark.line + 1, kb->start_mark.column + 1);
            }
        }
    }
    return 0;
}

/* Dispatches each key of a mapping to its rule; unknown keys warn. */
static int walk_mapping(struct walker *w, yaml_node_t *map, const char *path,
                        const struct key_rule *rules)
{
    if (check_duplicates(w, map, path) < 0)
        return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        char keypath[256];
        snprintf(keypath, sizeof keypath, "%s%s%s", path, *path ? "." : "", scalar(k));
        const struct key_rule *r = rules;
        while (r->key && strcmp(r->key, scalar(k)) != 0)
            r++;
        if (r->key == NULL) {
            warn_at(w, k, "unknown key %s (ignored)", keypath);
            continue;
        }
        if (r->handle(w, v, keypath) < 0)
            return -1;
    }
    return 0;
}

static int expect_mapping(struct walker *w, yaml_node_t *node, const char *keypath)
{
    if (node->type == YAML_MAPPING_NODE)
        return 0;
    return fail_at(w, node, keypath, "expected a mapping of keys, got %s", node_kind(node));
}

/* --- device.machine ------------------------------------------------------- */

/* A machine or CPU name as QEMU spells them (virt, cortex-a15): letters,
 * digits, '-' and '_', starting with a letter or digit. A '.' or '/' would
 * break the store's names (platform.cpu.endian-x.y.z), a ',' QEMU's option
 * syntax, and a leading '-' reads like an option to anyone reading argv. */
static bool is_qemu_word(const char *s)
{
    if (!isalnum((unsigned char)s[0]))
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

static int on_platform(struct walker *w, yaml_node_t *v, const char *k)
{
    if (get_string(w, v, k, "a QEMU machine name such as virt", &w->cfg->platform) < 0)
        return -1;
    if (!is_qemu_word(w->cfg->platform))
        return fail_at(w, v, k, "expected a QEMU machine name such as virt (letters, digits, "
                       "'-', '_'), got \"%s\"", w->cfg->platform);
    return 0;
}

static int on_cpu(struct walker *w, yaml_node_t *v, const char *k)
{
    if (get_string(w, v, k, "a CPU name such as cortex-a15", &w->cfg->cpu) < 0)
        return -1;
    if (!is_qemu_word(w->cfg->cpu))
        return fail_at(w, v, k, "expected a CPU name such as cortex-a15 (letters, digits, '-', "
                       "'_'), got \"%s\"", w->cfg->cpu);
    return 0;
}

static int on_endian(struct walker *w, yaml_node_t *v, const char *k)
{
    static const char *const choices[] = {"little", "big", NULL};
    int c;
    if (get_choice(w, v, k, choices, &c) < 0)
        return -1;
    free(w->cfg->endian);
    w->cfg->endian = xstrdup(choices[c]);
    return 0;
}

static int on_memory(struct walker *w, yaml_node_t *v, const char *k)
{
    long mib = v->type == YAML_SCALAR_NODE ? config_parse_size_mib(scalar(v)) : -1;
    if (mib < 0) {
        if (v->type == YAML_SCALAR_NODE && !node_is_null(v))
            return fail_at(w, v, k, "expected a size like 256M or 256, got \"%s\"", scalar(v));
        return fail_at(w, v, k, "expected a size like 256M or 256, got %s", node_kind(v));
    }
    w->cfg->memory_mib = (unsigned)mib;
    return 0;
}

static int on_dtb(struct walker *w, yaml_node_t *v, const char *k)
{
    if (node_is_null(v))
        return 0;
    if (get_relpath(w, v, k, "auto, embedded or a path to a .dtb file", &w->cfg->dtb) < 0)
        return -1;
    if (strcasecmp(w->cfg->dtb, "auto") == 0 || strcasecmp(w->cfg->dtb, "embedded") == 0) {
        for (char *p = w->cfg->dtb; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    return 0;
}

static const struct key_rule machine_rules[] = {
    {"platform", on_platform}, {"cpu", on_cpu}, {"endian", on_endian},
    {"memory", on_memory},     {"dtb", on_dtb}, {NULL, NULL},
};

static int on_machine(struct walker *w, yaml_node_t *v, const char *k)
{
    if (node_is_null(v))
        return 0;
    if (expect_mapping(w, v, k) < 0)
        return -1;
    return walk_mapping(w, v, k, machine_rules);
}

/* --- device: simple keys --------------------------------------------------- */

static int on_name(struct walker *w, yaml_node_t *v, const char *k)
{
    if (node_is_null(v))
        return 0;
    return get_string(w, v, k, "a display name", &w->cfg->name);
}

static int on_kernel(struct walker *w, yaml_node_t *v, const char *k)
{
    if (node_is_null(v))
        return 0;
    return get_relpath(w, v, k, "a kernel version like 6.1.176 or a path in the device folder",
                       &w->cfg->kernel);
}

static int on_hostfs(struct walker *w, yaml_node_t *v, const char *k)
{
    if (node_is_null(v))
        return 0;
    return get_relpath(w, v, k, "a host filesystem version, a platform name or a path in the "
                       "device folder", &w->cfg->hostfs);
}

static int on_bootargs(struct walker *w, yaml_node_t *v, const char *k)
{
    return get_string(w, v, k, "the kernel command line, e.g. \"console=ttyAMA0 root=/dev/vda\"",
                      &w->cfg->bootargs);
}

static int on_guestfs(struct walker *w, yaml_node_t *v, const char *k)
{
    static const char *const choices[] = {"virtfs", "embed", NULL};
    int c;
    if (get_choice(w, v, k, choices, &c) < 0)
        return -1;
    w->cfg->guestfs = (enum config_guestfs)c;
    return 0;
}

static int on_drive_type(struct walker *w, yaml_node_t *v, const char *k)
{
    static const char *const choices[] = {"scsi", "virtio", "pci", NULL};
    int c;
    if (get_choice(w, v, k, choices, &c) < 0)
        return -1;
    w->cfg->drive_type = (enum config_drive)c;
    return 0;
}

static int on_virtio(struct walker *w, yaml_node_t *v, const char *k)
{
    static const char *const choices[] = {"device", "pci", NULL};
    int c;
    if (get_choice(w, v, k, choices, &c) < 0)
        return -1;
    w->cfg->virtio = (enum config_virtio)c;
    return 0;
}

static int on_sd(struct walker *w, yaml_node_t *v, const char *k)
{
    if (node_is_null(v))
        return 0;
    return get_relpath(w, v, k, "a folder in the device folder", &w->cfg->sd);
}

/* --- device.network and device.redirect ------------------------------------ */

static bool valid_ifname(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
            return false;
    return true;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int on_network(struct walker *w, yaml_node_t *map, const char *k)
{
    if (node_is_null(map))
        return 0;
    if (expect_mapping(w, map, k) < 0 || check_duplicates(w, map, k) < 0)
        return -1;
    struct config *cfg = w->cfg;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        char keypath[256];
        snprintf(keypath, sizeof keypath, "%s.%s", k, scalar(kn));
        char *def = NULL;
        if (get_string(w, v, keypath, "user or tap,<interface>", &def) < 0)
            return -1;
        struct config_nic nic = {xstrdup(scalar(kn)), CONFIG_NIC_USER, NULL};
        char *comma = strchr(def, ',');
        if (comma)
            *comma = '\0';
        char *type = trim(def);
        if (strcasecmp(type, "user") == 0) {
            nic.type = CONFIG_NIC_USER; /* Piotr ignores a name given to a user NIC */
        } else if (strcasecmp(type, "tap") == 0 && comma && valid_ifname(trim(comma + 1))) {
            nic.type = CONFIG_NIC_TAP;
            nic.ifname = xstrdup(trim(comma + 1));
        } else {
            int rc = strcasecmp(type, "tap") == 0
                ? fail_at(w, v, keypath, "expected tap,<interface> with an interface name of at "
                          "most 15 letters, digits, '-', '_' or '.'")
                : fail_at(w, v, keypath, "expected user or tap,<interface>, got \"%s\"",
                          scalar(v));
            free(def);
            free(nic.name);
            return rc;
        }
        free(def);
        cfg->nics = xrealloc(cfg->nics, (cfg->n_nics + 1) * sizeof *cfg->nics);
        cfg->nics[cfg->n_nics++] = nic;
    }
    return 0;
}

/* "tcp,8080,80" with optional spaces, as Piotr's pattern. */
static int parse_rule(const char *s, enum config_proto *proto, long *host, long *guest)
{
    char buf[128];
    if (strlen(s) >= sizeof buf)
        return -1;
    strcpy(buf, s);
    char *parts[4];
    int n = 0;
    for (char *tok = buf; n < 4;) {
        char *comma = strchr(tok, ',');
        parts[n++] = tok;
        if (comma == NULL)
            break;
        *comma = '\0';
        tok = comma + 1;
    }
    if (n != 3)
        return -1;
    char *p = trim(parts[0]);
    if (strcmp(p, "tcp") == 0)
        *proto = CONFIG_TCP;
    else if (strcmp(p, "udp") == 0)
        *proto = CONFIG_UDP;
    else
        return -1;
    long *ports[2] = {host, guest};
    for (int i = 0; i < 2; i++) {
        char *d = trim(parts[i + 1]), *end;
        if (!isdigit((unsigned char)*d) || strlen(d) > 9)
            return -1;
        *ports[i] = strtol(d, &end, 10);
        if (*end != '\0')
            return -1;
    }
    return 0;
}

static int add_redirect_rules(struct walker *w, yaml_node_t *nicnode, yaml_node_t *rules,
                              const char *nickey)
{
    struct config *cfg = w->cfg;
    const char *nic = scalar(nicnode);
    size_t i;
    for (i = 0; i < cfg->n_nics && strcmp(cfg->nics[i].name, nic) != 0; i++)
        ;
    if (i == cfg->n_nics)
        return fail_at(w, nicnode, nickey, "redirects must name a NIC declared under "
                       "device.network, and \"%s\" is not one", nic);
    if (cfg->nics[i].type != CONFIG_NIC_USER)
        return fail_at(w, nicnode, nickey, "port redirects need a user-mode NIC; %s is a tap "
                       "interface", nic);
    if (node_is_null(rules))
        return 0;
    if (rules->type != YAML_MAPPING_NODE)
        return fail_at(w, rules, nickey, "expected rules as <name>: <proto>,<host port>,"
                       "<guest port>, got %s", node_kind(rules));
    if (check_duplicates(w, rules, nickey) < 0)
        return -1;
    for (yaml_node_pair_t *p = rules->data.mapping.pairs.start;
         p < rules->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(w->doc, p->key);
        yaml_node_t *v = yaml_document_get_node(w->doc, p->value);
        char keypath[300];
        snprintf(keypath, sizeof keypath, "%s.%s", nickey, scalar(kn));
        const char *expect = "expected <proto>,<host port>,<guest port> like tcp,8080,80";
        if (v->type != YAML_SCALAR_NODE || node_is_null(v))
            return fail_at(w, v, keypath, "%s, got %s", expect, node_kind(v));
        enum config_proto proto;
        long host, guest;
        if (parse_rule(scalar(v), &proto, &host, &guest) < 0)
            return fail_at(w, v, keypath, "%s (proto tcp or udp), got \"%s\"", expect,
                           scalar(v));
        if (host < 1 || host > 65535 || guest < 1 || guest > 65535)
            return fail_at(w, v, keypath, "port %ld in \"%s\" is out of range 1-65535",
                           (host < 1 || host > 65535) ? host : guest, scalar(v));
        for (size_t j = 0; j < cfg->n_redirects; j++) {
            if (cfg->redirects[j].host_port == host && cfg->redirects[j].proto == proto)
                return fail_at(w, v, keypath, "host port %s %ld is already redirected by rule "
                               "%s.%s (line %d)", config_proto_name(proto), host,
                               cfg->redirects[j].nic, cfg->redirects[j].name,
                               cfg->redirects[j].line);
        }
        cfg->redirects = xrealloc(cfg->redirects, (cfg->n_redirects + 1) *
                                  sizeof *cfg->redirects);
        cfg->redirects[cfg->n_redirects++] = (struct config_redirect){
            xstrdup(nic), xstrdup(scalar(kn)), proto, (int)host, (int)guest,
            (int)v->start_mark.line + 1, (int)v->start_mark.column + 1};
    }
    return 0;
}

/* Redirects refer to NICs, so they are read after device.network, wherever
 * they are written in the file. */
static int on_redirect_deferred(struct walker *w, yaml_node_t *map, const char *k)
{
    if (node_is_null(map))
        return 0;
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(w, map, k, "expected per-NIC rules like nic0: {http: tcp,8080,80}, got "
                       "%s", node_kind(map));
    if (check_duplicates(w, map, k) < 0)
        return -1;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(w->doc, p->key);
        char keypath[256];
        snprintf(keypath, sizeof keypath, "%s.%s", k, scalar(kn));
        if (add_redirect_rules(w, kn, yaml_document_get_node(w->doc, p->value), keypath) < 0)
            return -1;
    }
    return 0;
}

static int on_redirect_skip(struct walker *w, yaml_node_t *v, const char *k)
{
    (void)w, (void)v, (void)k;
    return 0;
}

static const struct key_rule device_rules[] = {
    {"name", on_name},       {"machine", on_machine},   {"kernel", on_kernel},
    {"bootargs", on_bootargs}, {"hostfs", on_hostfs},   {"guestfs", on_guestfs},
    {"drive_type", on_drive_type}, {"virtio", on_virtio}, {"sd", on_sd},
    {"network", on_network}, {"redirect", on_redirect_skip}, {NULL, NULL},
};

static int on_device(struct walker *w, yaml_node_t *v, const char *k)
{
    if (expect_mapping(w, v, k) < 0)
        return -1;
    if (walk_mapping(w, v, k, device_rules) < 0)
        return -1;
    bool has_bootargs = false;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kn = yaml_document_get_node(w->doc, p->key);
        if (strcmp(scalar(kn), "redirect") == 0 &&
            on_redirect_deferred(w, yaml_document_get_node(w->doc, p->value), "device.redirect") < 0)
            return -1;
        if (strcmp(scalar(kn), "bootargs") == 0)
            has_bootargs = true;
    }
    if (!has_bootargs)
        return fail_at(w, v, "device.bootargs", "missing; expected the kernel command line, "
                       "e.g. bootargs: \"console=ttyAMA0 root=/dev/vda rw\"");
    return 0;
}

static int on_version(struct walker *w, yaml_node_t *v, const char *k)
{
    if (v->type != YAML_SCALAR_NODE || strcmp(scalar(v), "1.0") != 0) {
        if (v->type == YAML_SCALAR_NODE && !node_is_null(v))
            return fail_at(w, v, k, "expected \"1.0\" (the only config.yaml version), got "
                           "\"%s\"", scalar(v));
        return fail_at(w, v, k, "expected \"1.0\", got %s", node_kind(v));
    }
    free(w->cfg->version);
    w->cfg->version = xstrdup("1.0");
    return 0;
}

static const struct key_rule top_rules[] = {
    {"version", on_version}, {"device", on_device}, {NULL, NULL},
};

/* --- entry points --------------------------------------------------------- */

static struct config *config_new(const char *path)
{
    struct config *cfg = xcalloc(1, sizeof *cfg);
    cfg->path = xstrdup(path);
    cfg->name = xstrdup("piotr_guest");
    cfg->platform = xstrdup("virt");
    cfg->endian = xstrdup("little");
    cfg->memory_mib = 128;
    cfg->guestfs = CONFIG_GUESTFS_VIRTFS;
    cfg->drive_type = CONFIG_DRIVE_SCSI;
    cfg->virtio = CONFIG_VIRTIO_DEVICE;
    return cfg;
}

/* libyaml reports a leading tab as "cannot start any token"; say what it is. */
static int check_tabs(const char *text, size_t len, const char *path, struct ib_error *err)
{
    size_t line = 1, col = 1;
    bool leading = true;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
            leading = true;
            continue;
        }
        if (leading && text[i] == '\t')
            return ib_err(err, IB_EINPUT, "%s:%zu:%zu: tab character in indentation; YAML "
                          "indents with spaces only", path, line, col);
        if (text[i] != ' ')
            leading = false;
        col++;
    }
    return 0;
}

static bool only_blank_or_comments(const char *text, size_t len)
{
    bool in_comment = false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n')
            in_comment = false;
        else if (text[i] == '#')
            in_comment = true;
        else if (!in_comment && !isspace((unsigned char)text[i]))
            return false;
    }
    return true;
}

int config_parse(const char *text, size_t len, const char *path, struct config **out,
                 struct ib_error *err)
{
    if (only_blank_or_comments(text, len))
        return ib_err(err, IB_EINPUT, "%s:1:1: the file is empty; expected a mapping with "
                      "version: \"1.0\" and device:", path);
    if (check_tabs(text, len, path, err) < 0)
        return -1;
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        yaml_mark_t m = parser.problem_mark, c = parser.context_mark;
        /* The problem is often found far from its cause (an unterminated
         * quote fails at the end of the file): say where the construct
         * being read began. */
        char where[64] = "";
        if (parser.context)
            snprintf(where, sizeof where, " started at line %zu, column %zu", c.line + 1,
                     c.column + 1);
        ib_err(err, IB_EINPUT, "%s:%zu:%zu: YAML syntax error: %s%s%s%s", path, m.line + 1,
               m.column + 1, parser.problem ? parser.problem : "malformed document",
               parser.context ? " " : "", parser.context ? parser.context : "", where);
        yaml_parser_delete(&parser);
        return -1;
    }
    yaml_parser_delete(&parser);

    struct config *cfg = config_new(path);
    struct walker w = {&doc, path, cfg, err};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = 0;
    if (root == NULL || node_is_null(root)) {
        rc = ib_err(err, IB_EINPUT, "%s:1:1: the file is empty; expected a mapping with "
                    "version: \"1.0\" and device:", path);
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = fail_at(&w, root, "(top level)", "expected a mapping with version and device, got "
                     "%s", node_kind(root));
    } else {
        rc = walk_mapping(&w, root, "", top_rules);
        if (rc == 0 && cfg->version == NULL)
            rc = fail_at(&w, root, "version", "missing; expected version: \"1.0\" at the top");
        bool has_device = false;
        for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
             p < root->data.mapping.pairs.top; p++)
            if (strcmp(scalar(yaml_document_get_node(&doc, p->key)), "device") == 0)
                has_device = true;
        if (rc == 0 && !has_device)
            rc = fail_at(&w, root, "device", "missing; expected a device: mapping");
    }
    yaml_document_delete(&doc);
    if (rc < 0) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int config_load(const char *path, struct config **out, struct ib_error *err)
{
    char *text;
    size_t len;
    if (ib_read_file(path, CONFIG_MAX_BYTES, &text, &len, err) < 0) {
        if (err && err->status == IB_ENOTFOUND)
            err->status = IB_EINPUT;
        return -1;
    }
    int rc = config_parse(text, len, path, out, err);
    free(text);
    return rc;
}

void config_free(struct config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->version);
    free(cfg->name);
    free(cfg->platform);
    free(cfg->cpu);
    free(cfg->endian);
    free(cfg->dtb);
    free(cfg->kernel);
    free(cfg->bootargs);
    free(cfg->hostfs);
    free(cfg->sd);
    for (size_t i = 0; i < cfg->n_nics; i++) {
        free(cfg->nics[i].name);
        free(cfg->nics[i].ifname);
    }
    free(cfg->nics);
    for (size_t i = 0; i < cfg->n_redirects; i++) {
        free(cfg->redirects[i].nic);
        free(cfg->redirects[i].name);
    }
    free(cfg->redirects);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

const char *config_guestfs_name(enum config_guestfs g)
{
    return g == CONFIG_GUESTFS_EMBED ? "embed" : "virtfs";
}

const char *config_drive_name(enum config_drive d)
{
    return d == CONFIG_DRIVE_VIRTIO ? "virtio" : d == CONFIG_DRIVE_PCI ? "pci" : "scsi";
}

const char *config_virtio_name(enum config_virtio v)
{
    return v == CONFIG_VIRTIO_PCI ? "pci" : "device";
}

const char *config_proto_name(enum config_proto p)
{
    return p == CONFIG_UDP ? "udp" : "tcp";
}
