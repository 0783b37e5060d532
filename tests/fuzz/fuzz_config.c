/*
 * fuzz_config.c - config.yaml as it comes in a device folder or a package
 * archive made by someone else: config_parse() (libyaml and our schema
 * walk), then, for a config that loads, the QEMU command line built from
 * it (qemu_argv_build()).
 *
 * Promises checked for a config that loads: version "1.0", bootargs set,
 * paths relative without "..", tap names and redirect ports valid, redirect
 * host ports distinct; and in the QEMU argv, no config value can add an
 * option: every comma-separated option string holds only the keys
 * qemu_argv.c writes, -cpu and -M values are a single name, -append starts
 * with the bootargs. A config that fails must say why.
 */
#include "core/config.h"
#include "core/qemu_argv.h"
#include "tests/fuzz/fuzz.h"

static void cfgf_relpath(const char *what, const char *p)
{
    if (p == NULL)
        return;
    if (p[0] == '/')
        fuzz_fail("%s \"%s\" is absolute", what, p);
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            fuzz_fail("%s \"%s\" has a \"..\"", what, p);
        s += n;
        if (*s == '/')
            s++;
    }
}

static void cfgf_check_config(const struct config *c)
{
    if (c->version == NULL || strcmp(c->version, "1.0") != 0)
        fuzz_fail("loaded without version 1.0");
    if (c->bootargs == NULL || c->name == NULL || c->platform == NULL || c->endian == NULL)
        fuzz_fail("loaded without bootargs, name, platform or endian");
    if (c->memory_mib == 0 || c->memory_mib > (1u << 20))
        fuzz_fail("memory of %u MiB", c->memory_mib);
    cfgf_relpath("kernel", c->kernel);
    cfgf_relpath("hostfs", c->hostfs);
    cfgf_relpath("dtb", c->dtb);
    cfgf_relpath("sd", c->sd);
    for (const char *s = c->platform; *s; s++)
        if (*s == ',' || *s == '/' || *s == '.')
            fuzz_fail("platform \"%s\" holds '%c'", c->platform, *s);
    for (const char *s = c->cpu ? c->cpu : ""; *s; s++)
        if (*s == ',' || *s == '/' || *s == '.')
            fuzz_fail("cpu \"%s\" holds '%c'", c->cpu, *s);
    for (size_t i = 0; i < c->n_nics; i++) {
        const struct config_nic *n = &c->nics[i];
        if (n->name == NULL || (n->type == CONFIG_NIC_TAP) != (n->ifname != NULL))
            fuzz_fail("NIC %zu half filled", i);
        if (n->ifname && (strlen(n->ifname) == 0 || strlen(n->ifname) > 15 ||
                          n->ifname[strspn(n->ifname, "abcdefghijklmnopqrstuvwxyz"
                                                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")]))
            fuzz_fail("tap interface name \"%s\"", n->ifname);
    }
    for (size_t i = 0; i < c->n_redirects; i++) {
        const struct config_redirect *r = &c->redirects[i];
        if (r->host_port < 1 || r->host_port > 65535 || r->guest_port < 1 || r->guest_port > 65535)
            fuzz_fail("redirect %s with ports %d -> %d", r->name, r->host_port, r->guest_port);
        bool found = false;
        for (size_t k = 0; k < c->n_nics; k++)
            found |= strcmp(c->nics[k].name, r->nic) == 0 && c->nics[k].type == CONFIG_NIC_USER;
        if (!found)
            fuzz_fail("redirect %s on \"%s\", not a user NIC", r->name, r->nic);
        for (size_t k = 0; k < i; k++)
            if (c->redirects[k].host_port == r->host_port && c->redirects[k].proto == r->proto)
                fuzz_fail("host port %d redirected twice", r->host_port);
    }
}

/* Keys of a QEMU option string ("a=1,b=2", ",," a literal comma) must all
 * be in allowed (space separated, each followed by a space); the first
 * element may be a bare word when first_bare. */
static void cfgf_keys(const char *opt, const char *value, bool first_bare, const char *allowed)
{
    const char *s = value;
    for (bool first = true; *s; first = false) {
        const char *e = s;
        while (*e && !(*e == ',' && e[1] != ',')) {
            if (*e == ',')
                e++; /* ",," */
            e++;
        }
        size_t n = (size_t)(e - s);
        const char *eq = memchr(s, '=', n);
        if (eq == NULL && !(first && first_bare))
            fuzz_fail("%s %s: a bare element \"%.*s\"", opt, value, (int)n, s);
        if (eq != NULL) {
            char key[64];
            snprintf(key, sizeof key, " %.*s ", (int)(eq - s) < 60 ? (int)(eq - s) : 60, s);
            if (strstr(allowed, key) == NULL)
                fuzz_fail("%s %s: key%s is not one qemu_argv writes", opt, value, key);
        }
        s = *e ? e + 1 : e;
    }
}

static void cfgf_check_argv(const struct config *c, char **argv, size_t argc)
{
    for (size_t i = 0; i < argc; i++) {
        if (argv[i] == NULL)
            fuzz_fail("argv[%zu] is NULL before the end", i);
        const char *opt = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(opt, "-cpu") == 0 && (c->cpu == NULL || strcmp(v, c->cpu) != 0))
            fuzz_fail("-cpu %s for cpu %s", v, c->cpu ? c->cpu : "(none)");
        if (strcmp(opt, "-M") == 0 && strcmp(v, "virt,highmem=off") != 0 &&
            strcmp(v, c->platform) != 0)
            fuzz_fail("-M %s for platform %s", v, c->platform);
        if (strcmp(opt, "-append") == 0 && strncmp(v, c->bootargs, strlen(c->bootargs)) != 0)
            fuzz_fail("-append does not start with the bootargs");
        if (strcmp(opt, "-netdev") == 0)
            cfgf_keys(opt, v, true, " id restrict hostfwd ifname script downscript ");
        if (strcmp(opt, "-drive") == 0)
            cfgf_keys(opt, v, false, " if file format id node-name ");
        if (strcmp(opt, "-fsdev") == 0)
            cfgf_keys(opt, v, true, " id path security_model ");
        if (strcmp(opt, "-device") == 0)
            cfgf_keys(opt, v, true, " id drive bus fsdev mount_tag netdev chardev name ");
        if (strcmp(opt, "-chardev") == 0)
            cfgf_keys(opt, v, true, " id path server wait logfile ");
        if (strcmp(opt, "-name") == 0)
            cfgf_keys(opt, v, true, " ");
    }
    if (argv[argc] != NULL)
        fuzz_fail("argv not NULL-terminated");
}

FUZZ_ENTRY(config)
{
    struct config *cfg = NULL;
    struct ib_error err = {0};
    if (config_parse((const char *)data, size, "config.yaml", &cfg, &err) < 0) {
        if (err.msg[0] == '\0' || err.status != IB_EINPUT)
            fuzz_fail("config_parse failed without a message or with status %d", err.status);
        if (strncmp(err.msg, "config.yaml:", 12) != 0)
            fuzz_fail("an error without file:line:col: %s", err.msg);
        return 0;
    }
    cfgf_check_config(cfg);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        if (strncmp(cfg->warnings[i], "config.yaml:", 12) != 0)
            fuzz_fail("a warning without file:line:col: %s", cfg->warnings[i]);
    struct qemu_argv_input in = {
        .cfg = cfg,
        .instance = "fuzz,name",
        .dir = "/run/x",
        .kernel = "/k/zImage",
        .initrd = "/k/initrd",
        .dtb = "/k/x.dtb",
        .rootfs = "/d/rootfs",
        .has_sd = cfg->sd != NULL,
        .port_offset = 7,
        .gdbstub_port = 1234,
        .mapped_xattr = true,
    };
    char **argv;
    size_t argc;
    if (qemu_argv_build(&in, &argv, &argc, &err) == 0) {
        cfgf_check_argv(cfg, argv, argc);
        free(qemu_argv_display(argv));
        qemu_argv_free(argv);
    } else if (err.msg[0] == '\0') {
        fuzz_fail("qemu_argv_build failed without a message");
    }
    free(qemu_argv_kernel_cmdline(cfg));
    config_free(cfg);
    return 0;
}
