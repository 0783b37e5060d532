/*
 * nav.c - the navigator (kernels, host filesystems, dtbs, devices,
 * instances, with counts) and the detail pane of its selection. Both are
 * rebuilt from the store and instance_list() on every refresh: nothing
 * here is remembered that the disk does not hold, except how the monitor
 * last saw each instance (struct watch).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/device.h"
#include "core/util.h"
#include "tui/app.h"

struct watch *watch_get(struct app *a, const char *name, bool create)
{
    for (struct watch *w = a->watches; w; w = w->next)
        if (strcmp(w->name, name) == 0)
            return w;
    if (!create)
        return NULL;
    struct watch *w = xcalloc(1, sizeof *w);
    w->name = xstrdup(name);
    w->next = a->watches;
    a->watches = w;
    return w;
}

void watch_forget(struct app *a, const char *name)
{
    for (struct watch **p = &a->watches; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0) {
            struct watch *w = *p;
            *p = w->next;
            free(w->name);
            free(w->dead_reason);
            free(w->error);
            free(w->notice);
            free(w);
            return;
        }
}

struct instance_info *app_instance(struct app *a, const char *name)
{
    for (size_t i = 0; i < a->n_inst; i++)
        if (strcmp(a->inst[i].name, name) == 0)
            return &a->inst[i];
    return NULL;
}

static void human_size(long long b, char *buf, size_t cap)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int i = 0;
    while (v >= 1024 && i < 4)
        v /= 1024, i++;
    snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", v, u[i]);
}

static void add_store_section(struct app *a, enum names_kind kind, const char *label, int tag)
{
    const char *hdr[] = {label, ""};
    listview_add(a->nav, LV_HEADER, 0, NULL, hdr);
    if (!a->store_ok)
        return;
    struct store_list l;
    struct ib_error err = {0};
    if (store_list(&a->st, kind, &l, &err) < 0)
        return;
    for (size_t i = 0; i < l.n; i++) {
        char key[300];
        snprintf(key, sizeof key, "%d:%s", tag, l.items[i].name);
        char size[32];
        snprintf(size, sizeof size, "%.1fM", (double)l.items[i].size / (1024.0 * 1024.0));
        const char *cells[] = {l.items[i].name, size};
        int row = listview_add(a->nav, LV_ITEM, tag, key, cells);
        if (!l.items[i].valid)
            listview_set_element(a->nav, row, TH_WARN);
    }
    store_list_free(&l);
}

static const char *const READY_SHORT[] = {"qemu", "kernel", "booted", "agent", "target"};

void nav_refresh(struct app *a)
{
    struct ib_error err = {0};
    struct instance_info *list = NULL;
    size_t n = 0;
    if (a->store_ok && instance_list(&a->st, &list, &n, &err) < 0) {
        list = NULL;
        n = 0;
    }
    /* Instances that died since the last look are reported once: keep why. */
    for (size_t i = 0; i < n; i++)
        if (list[i].state == INSTANCE_DEAD) {
            struct watch *w = watch_get(a, list[i].name, true);
            if (w->stopping)
                continue;
            w->dead = true;
            free(w->dead_reason);
            w->dead_reason = xstrdup(list[i].dead_reason ? list[i].dead_reason : "QEMU exited");
        }
    instance_list_free(a->inst, a->n_inst);
    a->inst = list;
    a->n_inst = n;

    listview_begin(a->nav);
    add_store_section(a, NAMES_KERNEL, "KERNELS", NAV_KERNEL);
    add_store_section(a, NAMES_HOSTFS, "HOST FS", NAV_HOSTFS);
    add_store_section(a, NAMES_DTB, "DTBS", NAV_DTB);
    const char *dh[] = {"DEVICES", ""};
    listview_add(a->nav, LV_HEADER, 0, NULL, dh);
    char **aliases = NULL;
    size_t na = 0;
    if (a->store_ok && store_list_devices(&a->st, &aliases, &na, &err) == 0) {
        for (size_t i = 0; i < na; i++) {
            char key[300];
            snprintf(key, sizeof key, "%d:%s", NAV_DEVICE, aliases[i]);
            /* The check status, as `device list` shows it. */
            struct device *dev;
            struct ib_error derr = {0};
            const char *status = "error";
            if (device_load(&a->st, aliases[i], &dev, &derr) == 0) {
                struct device_resolution res;
                status = device_resolve(&a->st, dev, &res, &derr) == 0 ? "ok" : "missing";
                device_resolution_free(&res);
                device_free(dev);
            }
            const char *cells[] = {aliases[i], status};
            int row = listview_add(a->nav, LV_ITEM, NAV_DEVICE, key, cells);
            if (strcmp(status, "ok") != 0)
                listview_set_element(a->nav, row, TH_WARN);
        }
        store_free_strings(aliases, na);
    }
    const char *ih[] = {"INSTANCES", ""};
    listview_add(a->nav, LV_HEADER, 0, NULL, ih);
    for (size_t i = 0; i < a->n_inst; i++) {
        struct instance_info *in = &a->inst[i];
        struct watch *w = watch_get(a, in->name, false);
        char key[300], label[300];
        snprintf(key, sizeof key, "%d:%s", NAV_INSTANCE, in->name);
        const char *state = "";
        if (w && w->stopping)
            state = "stopping";
        else if (in->state == INSTANCE_DEAD || (w && w->dead))
            state = "dead";
        else if (w && w->agent_down)
            state = "no agent";
        else if (w)
            state = READY_SHORT[w->level];
        snprintf(label, sizeof label, "%s (%s)", in->name, in->device ? in->device : "?");
        const char *cells[] = {label, state};
        int row = listview_add(a->nav, LV_ITEM, NAV_INSTANCE, key, cells);
        if (state[0] == 'd')
            listview_set_element(a->nav, row, TH_DEAD);
        else if (w && w->agent_down)
            listview_set_element(a->nav, row, TH_WARN);
        if (in->state == INSTANCE_RUNNING)
            job_monitor(a, in->name);
    }
    /* Dead instances whose folder is gone stay listed until dismissed. */
    for (struct watch *w = a->watches; w; w = w->next) {
        if (!(w->dead || w->error) || app_instance(a, w->name))
            continue;
        char key[300], label[300];
        snprintf(key, sizeof key, "%d:%s", NAV_INSTANCE, w->name);
        snprintf(label, sizeof label, "%s", w->name);
        const char *cells[] = {label, w->dead ? "dead" : "failed"};
        int row = listview_add(a->nav, LV_ITEM, NAV_INSTANCE, key, cells);
        listview_set_element(a->nav, row, TH_DEAD);
    }
    listview_end(a->nav);
    nav_fill_detail(a);
    app_dirty(a);
}

const char *nav_selected(struct app *a, int *tag)
{
    const struct lv_row *r = listview_selected(a->nav);
    if (r == NULL || r->key == NULL) {
        *tag = 0;
        return NULL;
    }
    *tag = r->tag;
    const char *colon = strchr(r->key, ':');
    return colon ? colon + 1 : r->key;
}

void nav_select(struct app *a, int tag, const char *name)
{
    char key[300];
    snprintf(key, sizeof key, "%d:%s", tag, name);
    if (!listview_select_key(a->nav, key) && a->nav->filter[0]) {
        listview_set_filter(a->nav, "");
        listview_select_key(a->nav, key);
    }
    nav_fill_detail(a);
    app_dirty(a);
}

static void kv(struct textview *tv, const char *k, enum th_element el, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void kv(struct textview *tv, const char *k, enum th_element el, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    textview_line(tv);
    textview_add(tv, TH_LABEL, "%-10s ", k);
    textview_add(tv, el, "%s", buf);
    textview_set_indent(tv, 11);
}

static void action_line(struct textview *tv, const char *key, const char *label, int act)
{
    textview_line(tv);
    textview_add(tv, TH_HELP_KEY, "[%s]", key);
    textview_add(tv, TH_NORMAL, " %s", label);
    textview_set_action(tv, act);
}

static void fill_store_item(struct app *a, enum names_kind kind, const char *name)
{
    struct textview *tv = a->detail;
    char *path = store_item_path(&a->st, kind, name);
    struct names_parsed p;
    struct ib_error err = {0};
    kv(tv, "name", TH_VALUE, "%s", name);
    kv(tv, "path", TH_VALUE, "%s", path ? path : "?");
    if (path && ib_path_exists(path)) {
        char sz[32];
        FILE *f = fopen(path, "rb");
        long long size = 0;
        if (f) {
            fseek(f, 0, SEEK_END);
            size = ftell(f);
            fclose(f);
        }
        human_size(size, sz, sizeof sz);
        kv(tv, "size", TH_VALUE, "%s", sz);
    }
    if (names_parse(kind, name, &p, &err) == 0) {
        kv(tv, "platform", TH_VALUE, "%s", p.platform);
        kv(tv, "cpu", TH_VALUE, "%s", p.cpu);
        if (kind != NAMES_DTB) {
            kv(tv, "endian", TH_VALUE, "%s", p.endian);
            kv(tv, "version", TH_VALUE, "%s", p.version);
        }
        if (kind == NAMES_HOSTFS)
            kv(tv, "fstype", TH_VALUE, "%s", p.fstype);
    } else {
        kv(tv, "name", TH_WARN, "%s", err.msg);
    }
    char **users = NULL;
    size_t nu = 0;
    if (device_users_of(&a->st, kind, name, &users, &nu, &err) == 0) {
        char list[1024] = "";
        for (size_t i = 0; i < nu; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     users[i]);
        kv(tv, "used by", nu ? TH_VALUE : TH_DIM, "%s", nu ? list : "no device");
        store_free_strings(users, nu);
    }
    free(path);
}

static void choice_line(struct textview *tv, const char *what, const struct device_choice *c)
{
    textview_line(tv);
    textview_add(tv, TH_LABEL, "  %-8s ", what);
    if (!c->wanted && c->ok) {
        textview_add(tv, TH_DIM, "-  %s", c->note ? c->note : "not used");
    } else {
        textview_add(tv, c->ok ? TH_OK : TH_ERROR, "%s", c->ok ? "ok " : "MISSING ");
        textview_add(tv, TH_VALUE, "%s", c->name ? c->name : "");
        if (c->note)
            textview_add(tv, TH_DIM, "  %s", c->note);
    }
    textview_set_indent(tv, 14);
}

static void fill_device(struct app *a, const char *alias)
{
    struct textview *tv = a->detail;
    struct device *dev;
    struct ib_error err = {0};
    if (device_load(&a->st, alias, &dev, &err) < 0) {
        kv(tv, "device", TH_VALUE, "%s", alias);
        kv(tv, "error", TH_ERROR, "%s", err.msg);
        return;
    }
    const struct config *cfg = dev->cfg;
    kv(tv, "device", TH_VALUE, "%s", alias);
    kv(tv, "name", TH_VALUE, "%s", cfg->name);
    kv(tv, "machine", TH_VALUE, "%s %s %s, %u MiB", cfg->platform, cfg->cpu ? cfg->cpu : "-",
       cfg->endian, cfg->memory_mib);
    kv(tv, "bootargs", TH_VALUE, "%s", cfg->bootargs);
    kv(tv, "storage", TH_VALUE, "guestfs %s, drive %s, virtio %s",
       config_guestfs_name(cfg->guestfs), config_drive_name(cfg->drive_type),
       config_virtio_name(cfg->virtio));
    char net[1024] = "";
    for (size_t i = 0; i < cfg->n_nics; i++)
        snprintf(net + strlen(net), sizeof net - strlen(net), "%s%s %s", i ? ", " : "",
                 cfg->nics[i].name, cfg->nics[i].type == CONFIG_NIC_TAP ? "tap" : "user");
    kv(tv, "network", cfg->n_nics ? TH_VALUE : TH_DIM, "%s", cfg->n_nics ? net : "none");
    for (size_t i = 0; i < cfg->n_redirects; i++) {
        const struct config_redirect *r = &cfg->redirects[i];
        kv(tv, i == 0 ? "forwards" : "", TH_VALUE, "%s %s host %d -> guest %d (%s)", r->nic,
           config_proto_name(r->proto), r->host_port + a->port_offset, r->guest_port, r->name);
    }
    for (size_t i = 0; i < cfg->n_warnings; i++)
        kv(tv, "warning", TH_WARN, "%s", cfg->warnings[i]);
    struct device_resolution res;
    struct ib_error rerr = {0};
    int ok = device_resolve(&a->st, dev, &res, &rerr) == 0;
    textview_line(tv);
    textview_line(tv);
    textview_add(tv, TH_SECTION, "Resolution");
    choice_line(tv, "kernel", &res.kernel);
    choice_line(tv, "initrd", &res.initrd);
    choice_line(tv, "hostfs", &res.hostfs);
    choice_line(tv, "dtb", &res.dtb);
    choice_line(tv, "rootfs", &res.rootfs);
    choice_line(tv, "sd", &res.sd);
    device_resolution_free(&res);
    textview_line(tv);
    kv(tv, "check", ok ? TH_OK : TH_ERROR, "%s", ok ? "ok - ready to start" : rerr.msg);
    int running = 0;
    for (size_t i = 0; i < a->n_inst; i++)
        if (a->inst[i].device && strcmp(a->inst[i].device, alias) == 0) {
            kv(tv, running++ ? "" : "instances", TH_VALUE, "%s", a->inst[i].name);
        }
    textview_line(tv);
    action_line(tv, "s", "start an instance of this device", ACT_START);
    action_line(tv, "c", "check again", ACT_CHECK);
    action_line(tv, "e", "export it to a .piotr archive", ACT_EXPORT);
    action_line(tv, "i", "import a .piotr archive as a new device", ACT_IMPORT);
    task_fill_detail(a, tv, alias);
    device_free(dev);
}

static void shell_quote(const char *s, char *out, size_t cap)
{
    bool plain = *s != '\0';
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", *p))
            plain = false;
    if (plain) {
        snprintf(out, cap, "%s", s);
        return;
    }
    size_t n = 0;
    if (n + 1 < cap)
        out[n++] = '\'';
    for (const char *p = s; *p && n + 5 < cap; p++) {
        if (*p == '\'') {
            memcpy(out + n, "'\\''", 4);
            n += 4;
        } else {
            out[n++] = *p;
        }
    }
    if (n + 1 < cap)
        out[n++] = '\'';
    out[n] = '\0';
}

static const char *const READY_NAMES[] = {"QEMU started", "kernel", "banner", "agent", "target"};

static void fill_instance(struct app *a, const char *name)
{
    struct textview *tv = a->detail;
    struct instance_info *in = app_instance(a, name);
    struct watch *w = watch_get(a, name, false);
    kv(tv, "instance", TH_VALUE, "%s", name);
    if (in == NULL) {
        if (w && w->dead)
            kv(tv, "state", TH_DEAD, "dead: %s", w->dead_reason ? w->dead_reason : "?");
        else if (w && w->error)
            kv(tv, "state", TH_ERROR, "start failed: %s", w->error);
        else
            kv(tv, "state", TH_DIM, "starting...");
        textview_line(tv);
        action_line(tv, "x", "dismiss", ACT_STOP);
        return;
    }
    kv(tv, "device", TH_VALUE, "%s", in->device ? in->device : "?");
    if (in->state == INSTANCE_DEAD || (w && w->dead))
        kv(tv, "state", TH_DEAD, "dead: %s",
           in->dead_reason ? in->dead_reason : (w && w->dead_reason ? w->dead_reason : "?"));
    else if (w && w->agent_down)
        kv(tv, "state", TH_WARN, "running, agent not responding");
    else
        kv(tv, "state", TH_OK, "running (pid %d)", (int)in->pid);
    if (in->started_ms) {
        time_t t = (time_t)(in->started_ms / 1000);
        struct tm tm;
        char when[64];
        localtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        kv(tv, "started", TH_VALUE, "%s", when);
    }
    /* Warm (restored) or cold (booted), and why a warm state was passed over. */
    if (in->warm_made_ms > 0) {
        time_t t = (time_t)(in->warm_made_ms / 1000);
        struct tm tm;
        char made[64];
        localtime_r(&t, &tm);
        strftime(made, sizeof made, "%Y-%m-%d %H:%M:%S", &tm);
        kv(tv, "start", TH_OK, "warm: restored from the warm state made %s", made);
    } else {
        kv(tv, "start", TH_VALUE, "cold: booted");
    }
    if (w && w->notice)
        kv(tv, "notice", TH_WARN, "%s", w->notice);
    /* The readiness timeline: each stage with the time it was reached. */
    textview_line(tv);
    textview_add(tv, TH_LABEL, "%-10s ", "readiness");
    int level = w ? (int)w->level : -1;
    for (int i = 0; i <= INSTANCE_READY_TARGET; i++) {
        enum th_element el = i <= level       ? TH_TIMELINE_DONE
                             : i == level + 1 ? TH_TIMELINE_NOW
                                              : TH_TIMELINE_TODO;
        char when[32] = "";
        if (w && w->reached_ms[i] > 0 && in->started_ms)
            snprintf(when, sizeof when, " %.1fs",
                     (double)(w->reached_ms[i] - in->started_ms) / 1000.0);
        textview_add(tv, el, "%s %s%s", i <= level ? "✓" : "·", READY_NAMES[i], when);
        if (i < INSTANCE_READY_TARGET)
            textview_add(tv, TH_DIM, " → ");
    }
    textview_set_indent(tv, 11);
    for (size_t i = 0; i < in->n_forwards; i++) {
        const struct instance_forward *f = &in->forwards[i];
        kv(tv, i == 0 ? "forwards" : "", TH_VALUE, "%s 127.0.0.1:%d -> guest %d (%s)",
           config_proto_name(f->proto), f->host_port, f->guest_port, f->name);
    }
    if (in->gdbstub_port)
        kv(tv, "gdbstub", TH_VALUE, "127.0.0.1:%d", in->gdbstub_port);
    kv(tv, "folder", TH_VALUE, "%s", in->dir ? in->dir : "?");
    struct console *c = console_find(a, name);
    if (c && c->holder > 0 && c->fd < 0)
        kv(tv, "console", TH_WARN, "held by pid %d", (int)c->holder);
    textview_line(tv);
    action_line(tv, "Enter", c ? "focus its console" : "open its console", ACT_OPEN_CONSOLE);
    action_line(tv, "p", "its processes (kill, debug, maps, sockets)", ACT_VIEW_PROCS);
    action_line(tv, "S", "its snapshots (save, load, delete)", ACT_VIEW_SNAPS);
    action_line(tv, "x", "stop this instance", ACT_STOP);
    action_line(tv, "a", a->detail_argv ? "hide the QEMU command line" : "QEMU command line",
                ACT_ARGV);
    if (a->detail_argv || !a->consoles) {
        textview_line(tv);
        textview_line(tv);
        textview_add(tv, TH_SECTION, "QEMU command line");
        textview_line(tv);
        for (size_t i = 0; i < in->argc; i++) {
            char q[4096];
            shell_quote(in->argv[i], q, sizeof q);
            textview_add(tv, i == 0 ? TH_VALUE : TH_NORMAL, "%s%s", q, i + 1 < in->argc ? " " : "");
        }
        textview_set_indent(tv, 2);
    }
}

/* The views follow the selection: another instance's processes or
 * snapshots, and back to the details when it is no instance. */
static void views_follow(struct app *a, int tag, const char *name)
{
    if (a->view == VIEW_INFO)
        return;
    bool inst = tag == NAV_INSTANCE && name && app_instance(a, name);
    if (a->view == VIEW_DEBUG) {
        if (!inst || !dbg_instance(a) || strcmp(dbg_instance(a), name) != 0)
            app_set_view(a, VIEW_INFO);
    } else if (!inst) {
        app_set_view(a, VIEW_INFO);
    } else if (a->view == VIEW_PROCS) {
        procs_show(a, name);
    } else if (a->view == VIEW_SNAPS) {
        snaps_show(a, name);
    }
}

void nav_fill_detail(struct app *a)
{
    int tag;
    const char *name = nav_selected(a, &tag);
    views_follow(a, tag, name);
    char key[300];
    snprintf(key, sizeof key, "%d:%s", tag, name ? name : "");
    bool same = strcmp(key, a->detail_key) == 0;
    if (!same)
        a->detail_argv = false;
    snprintf(a->detail_key, sizeof a->detail_key, "%s", key);
    textview_clear(a->detail, same);
    if (name == NULL) {
        textview_line(a->detail);
        if (!a->store_ok)
            textview_add(a->detail, TH_ERROR, "The store cannot be opened.");
        else
            textview_add(a->detail, TH_DIM,
                         "Nothing selected. Add kernels and host filesystems with "
                         "`iotbench kernel add` / `iotbench fs add`, or run `make stock`.");
        return;
    }
    switch (tag) {
    case NAV_KERNEL:
        fill_store_item(a, NAMES_KERNEL, name);
        break;
    case NAV_HOSTFS:
        fill_store_item(a, NAMES_HOSTFS, name);
        break;
    case NAV_DTB:
        fill_store_item(a, NAMES_DTB, name);
        break;
    case NAV_DEVICE:
        fill_device(a, name);
        break;
    case NAV_INSTANCE:
        fill_instance(a, name);
        break;
    default:
        break;
    }
    app_dirty(a);
}
