/*
 * cmd_store.c - `iotbench kernel|fs|dtb list|add|remove|info`: the files
 * of the store. The three nouns share one implementation per verb.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/device.h"
#include "core/fsimage.h"
#include "core/kimage.h"
#include "core/util.h"

static enum names_kind kind_of(const char *noun)
{
    if (strcmp(noun, "kernel") == 0)
        return NAMES_KERNEL;
    if (strcmp(noun, "fs") == 0)
        return NAMES_HOSTFS;
    return NAMES_DTB;
}

static json_t *item_json(const struct store *st, enum names_kind kind, const struct store_item *it)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:b}", "name", it->name, "path", it->path, "size",
                          (json_int_t)it->size, "valid_name", it->valid);
    if (it->valid) {
        json_object_set_new(o, "platform", json_string(it->parsed.platform));
        json_object_set_new(o, "cpu", json_string(it->parsed.cpu));
        if (kind != NAMES_DTB) {
            json_object_set_new(o, "endian", json_string(it->parsed.endian));
            json_object_set_new(o, "version", json_string(it->parsed.version));
        }
        if (kind == NAMES_HOSTFS)
            json_object_set_new(o, "fstype", json_string(it->parsed.fstype));
    }
    if (kind == NAMES_KERNEL) {
        char *initrd = ib_path_join(st->initrds, it->name);
        json_object_set_new(o, "initrd", ib_path_is_file(initrd) ? json_string(initrd)
                                                                 : json_null());
        free(initrd);
    }
    return o;
}

static int cmd_list(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &json}, {NULL, false, NULL}};
    int rc = cli_parse(ctx, cmd, argc, argv, opts, NULL, 0, 0, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    enum names_kind kind = kind_of(cmd->noun);
    struct store_list list;
    if (st == NULL || store_list(st, kind, &list, &ctx->err) < 0)
        return ctx->err.status;
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < list.n; i++)
            json_array_append_new(arr, item_json(st, kind, &list.items[i]));
        cli_print_json(arr);
    } else if (list.n == 0) {
        printf("no %ss in %s (add one with: iotbench %s add PATH)\n", names_kind_label(kind),
               store_dir(st, kind), cmd->noun);
    } else {
        if (kind == NAMES_DTB)
            printf("%-40s %-10s %-14s %9s\n", "NAME", "PLATFORM", "CPU", "SIZE");
        else
            printf("%-44s %-8s %-12s %-7s %-10s %9s\n", "NAME", "PLATFORM", "CPU", "ENDIAN",
                   "VERSION", "SIZE");
        for (size_t i = 0; i < list.n; i++) {
            const struct store_item *it = &list.items[i];
            char size[32];
            cli_format_size(it->size, size, sizeof size);
            if (!it->valid)
                printf("%-44s (name does not follow the %s pattern; ignored) %9s\n", it->name,
                       names_kind_label(kind), size);
            else if (kind == NAMES_DTB)
                printf("%-40s %-10s %-14s %9s\n", it->name, it->parsed.platform, it->parsed.cpu,
                       size);
            else
                printf("%-44s %-8s %-12s %-7s %-10s %9s\n", it->name, it->parsed.platform,
                       it->parsed.cpu, it->parsed.endian, it->parsed.version, size);
        }
    }
    store_list_free(&list);
    return 0;
}

/* Before a kernel enters the store, look inside: a wrong file is better
 * caught now than at boot. */
static void describe_new_kernel(const char *path, const char *name)
{
    struct kimage_info info;
    struct ib_error err = {0};
    if (kimage_read(path, &info, &err) < 0) {
        fprintf(stderr, "iotbench: warning: %s\n", err.msg);
        return;
    }
    struct names_parsed p;
    if (names_parse(NAMES_KERNEL, name, &p, NULL) == 0 && strcmp(p.version, info.upstream) != 0)
        fprintf(stderr, "iotbench: warning: the name says version %s but the image says %s "
                "(%s)\n", p.version, info.upstream, info.release);
}

/* QEMU shares the host filesystem as an ext image, and the name's suffix
 * is how devices and readers tell the type: other suffixes are refused,
 * a suffix the superblock contradicts is worth a warning. */
static int check_new_hostfs(struct cli_ctx *ctx, const char *path, const struct names_parsed *p)
{
    if (strcmp(p->fstype, "ext2") != 0 && strcmp(p->fstype, "ext3") != 0 &&
        strcmp(p->fstype, "ext4") != 0)
        return ib_err(&ctx->err, IB_EINPUT, "a host filesystem name must end in .ext2, .ext3 or "
                      ".ext4, not .%s", p->fstype);
    struct fsimage_info fi;
    struct ib_error ferr = {0};
    if (fsimage_probe(path, &fi, &ferr) < 0)
        fprintf(stderr, "iotbench: warning: %s\n", ferr.msg);
    else if (strcmp(fi.type, p->fstype) != 0)
        fprintf(stderr, "iotbench: warning: the name says %s but the superblock says %s\n",
                p->fstype, fi.type);
    return 0;
}

static int cmd_add(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *name = NULL, *initrd = NULL;
    const struct cli_opt kernel_opts[] = {
        {"--name", true, &name}, {"--initrd", true, &initrd}, {NULL, false, NULL}};
    const struct cli_opt other_opts[] = {{"--name", true, &name}, {NULL, false, NULL}};
    enum names_kind kind = kind_of(cmd->noun);
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, kind == NAMES_KERNEL ? kernel_opts : other_opts,
                       pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    if (kind == NAMES_DTB && name)
        return ib_err(&ctx->err, IB_EINPUT, "dtb add takes the name from the file");
    const char *src = pos[0];
    if (!ib_path_is_file(src))
        return ib_err(&ctx->err, ib_path_exists(src) ? IB_EINPUT : IB_ENOTFOUND,
                      "%s is not a readable regular file", src);
    const char *final = name ? name : ib_path_base(src);
    struct names_parsed parsed;
    struct ib_error nerr = {0};
    if (names_parse(kind, final, &parsed, &nerr) < 0) {
        struct kimage_info info;
        if (kind == NAMES_KERNEL && strchr(final, '/') == NULL &&
            kimage_read(src, &info, NULL) == 0)
            return ib_err(&ctx->err, IB_EINPUT, "%s; this image is Linux %s, so for example: "
                          "--name virt.cortex-a15.little-%s", nerr.msg, info.release,
                          info.upstream);
        ctx->err = nerr;
        if (name == NULL && kind != NAMES_DTB)
            ib_err_prefix(&ctx->err, "the file name is used as the name unless --name is "
                          "given: ");
        else if (name == NULL)
            ib_err_prefix(&ctx->err, "dtb add takes the name from the file; rename it: ");
        return ctx->err.status;
    }
    if (kind == NAMES_KERNEL)
        describe_new_kernel(src, final);
    if (kind == NAMES_HOSTFS && check_new_hostfs(ctx, src, &parsed) < 0)
        return ctx->err.status;
    if (initrd && !ib_path_is_file(initrd))
        return ib_err(&ctx->err, ib_path_exists(initrd) ? IB_EINPUT : IB_ENOTFOUND,
                      "initrd %s is not a readable regular file", initrd);
    struct store *st = cli_store(ctx);
    if (st == NULL)
        return ctx->err.status;
    /* Refuse a different initrd before the kernel goes in: either both
     * enter the store or neither. */
    bool already = false, initrd_already = false;
    if (initrd && store_check_initrd(st, final, initrd, &initrd_already, &ctx->err) < 0)
        return ctx->err.status;
    if (store_add(st, kind, src, name, &already, &ctx->err) < 0)
        return ctx->err.status;
    if (initrd && store_add_initrd(st, final, initrd, &initrd_already, &ctx->err) < 0)
        return ctx->err.status;
    if (initrd && already && !initrd_already)
        printf("%s %s is already in the store (same bytes); its initrd added\n",
               names_kind_label(kind), final);
    else
        printf("%s %s %s\n", names_kind_label(kind), final,
               already ? "is already in the store (same bytes); nothing copied" : "added");
    return 0;
}

static int cmd_remove(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *force = NULL;
    const struct cli_opt opts[] = {{"--force", false, &force}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    enum names_kind kind = kind_of(cmd->noun);
    if (st == NULL || device_remove_item(st, kind, pos[0], force != NULL, &ctx->err) < 0)
        return ctx->err.status;
    printf("%s %s removed\n", names_kind_label(kind), pos[0]);
    return 0;
}

static void add_users(json_t *o, const struct store *st, enum names_kind kind, const char *name)
{
    char **users;
    size_t n;
    json_t *arr = json_array();
    if (device_users_of(st, kind, name, &users, &n, NULL) == 0) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_string(users[i]));
        store_free_strings(users, n);
    }
    json_object_set_new(o, "used_by", arr);
}

static void print_info_text(json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v) {
        if (json_is_array(v)) {
            printf("%-12s ", key);
            size_t i;
            json_t *e;
            if (json_array_size(v) == 0)
                printf("(none)");
            json_array_foreach(v, i, e) printf("%s%s", i ? ", " : "", json_string_value(e));
            printf("\n");
        } else if (json_is_string(v)) {
            printf("%-12s %s\n", key, json_string_value(v));
        } else if (json_is_integer(v)) {
            printf("%-12s %lld\n", key, (long long)json_integer_value(v));
        } else if (json_is_boolean(v)) {
            printf("%-12s %s\n", key, json_is_true(v) ? "yes" : "no");
        } else if (json_is_null(v)) {
            printf("%-12s (none)\n", key);
        }
    }
}

static int cmd_info(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    const char *json = NULL;
    const struct cli_opt opts[] = {{"--json", false, &json}, {NULL, false, NULL}};
    char *pos[1];
    int rc = cli_parse(ctx, cmd, argc, argv, opts, pos, 1, 1, NULL);
    if (rc != 0)
        return rc < 0 ? ctx->err.status : 0;
    struct store *st = cli_store(ctx);
    enum names_kind kind = kind_of(cmd->noun);
    if (st == NULL || names_validate(pos[0], names_kind_label(kind), &ctx->err) < 0)
        return ctx->err.status;
    char *path = store_item_path(st, kind, pos[0]);
    if (!ib_path_is_file(path)) {
        free(path);
        return ib_err(&ctx->err, IB_ENOTFOUND, "no %s named %s in the store (see iotbench %s "
                      "list)", names_kind_label(kind), pos[0], cmd->noun);
    }
    struct store_item it = {.name = pos[0], .path = path};
    it.valid = names_parse(kind, pos[0], &it.parsed, NULL) == 0;
    it.size = 0;
    struct fsimage_info fi;
    json_t *o = item_json(st, kind, &it);
    if (kind == NAMES_KERNEL) {
        struct kimage_info ki;
        struct ib_error kerr = {0};
        if (kimage_read(path, &ki, &kerr) == 0) {
            json_object_set_new(o, "banner", json_string(ki.banner));
            json_object_set_new(o, "release", json_string(ki.release));
            json_object_set_new(o, "image_version", json_string(ki.upstream));
            json_object_set_new(o, "compression", json_string(ki.compression));
        } else {
            json_object_set_new(o, "banner", json_string(kerr.msg));
        }
    } else if (kind == NAMES_HOSTFS && fsimage_probe(path, &fi, NULL) == 0) {
        json_object_set_new(o, "fs_type", json_string(fi.type));
        json_object_set_new(o, "fs_label", json_string(fi.label));
        json_object_set_new(o, "fs_bytes", json_integer(fi.fs_bytes));
        json_object_set_new(o, "allocated", json_integer(fi.allocated));
    }
    char hex[65];
    if (ib_sha256_file(path, hex, NULL) == 0)
        json_object_set_new(o, "sha256", json_string(hex));
    long long size = 0;
    FILE *f = fopen(path, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fclose(f);
    }
    json_object_set_new(o, "size", json_integer(size));
    add_users(o, st, kind, pos[0]);
    free(path);
    if (json)
        cli_print_json(o);
    else {
        print_info_text(o);
        json_decref(o);
    }
    return 0;
}

static int dispatch(struct cli_ctx *ctx, const struct cli_command *cmd, int argc, char **argv)
{
    if (strcmp(cmd->verb, "list") == 0)
        return cmd_list(ctx, cmd, argc, argv);
    if (strcmp(cmd->verb, "add") == 0)
        return cmd_add(ctx, cmd, argc, argv);
    if (strcmp(cmd->verb, "remove") == 0)
        return cmd_remove(ctx, cmd, argc, argv);
    return cmd_info(ctx, cmd, argc, argv);
}

const struct cli_command cli_store_commands[] = {
    {"kernel", "list", "[--json]", "list the kernels of the store", dispatch},
    {"kernel", "add", "PATH [--name NAME] [--initrd FILE]",
     "copy a kernel image into the store (NAME: platform.cpu.endian-x.y.z)", dispatch},
    {"kernel", "remove", "NAME [--force]", "remove a kernel; --force when a device uses it", dispatch},
    {"kernel", "info", "NAME [--json]", "show a kernel, with the version read from the image",
     dispatch},
    {"fs", "list", "[--json]", "list the host filesystems of the store", dispatch},
    {"fs", "add", "PATH [--name NAME]",
     "copy a host filesystem image into the store (NAME: platform.cpu.endian-x.y.z.ext2)", dispatch},
    {"fs", "remove", "NAME [--force]", "remove a host filesystem; --force when a device uses it",
     dispatch},
    {"fs", "info", "NAME [--json]", "show a host filesystem and its superblock", dispatch},
    {"dtb", "list", "[--json]", "list the device trees of the store", dispatch},
    {"dtb", "add", "PATH", "copy a device tree into the store (file name: platform-cpu.dtb)",
     dispatch},
    {"dtb", "remove", "NAME [--force]", "remove a device tree; --force when a device uses it",
     dispatch},
    {NULL, NULL, NULL, NULL, NULL},
};
