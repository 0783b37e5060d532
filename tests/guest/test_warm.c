/* test_warm.c - warm states and instance snapshots with real guests: a
 * warm start serves at once, its clock is right, instances from one warm
 * state do not share writes, a stale warm state is noticed, a virtfs warm
 * start sees today's files, snapshots bring back earlier content. */
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
#include <fcntl.h>
#include <utime.h>

#include <jansson.h>

#include "core/ports.h"
#include "core/qga.h"
#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"

static bool warmed;

/* The demo device's warm state, made once for the binary. */
static const char *warm_home(void)
{
    const char *home = guest_home();
    if (!warmed) {
        struct cmd_result r;
        ib_run(&r, home, "device", "warm", "demo", NULL);
        if (r.status != 0) {
            fprintf(stderr, "device warm failed: %s%s\n", r.out, r.err);
            exit(1);
        }
        cmd_result_free(&r);
        warmed = true;
    }
    return home;
}

TEST(warm_state_made_and_accounted)
{
    test_set_timeout(240);
    const char *home = warm_home();
    char *path = xasprintf("%s/warm/demo/warm.json", home);
    json_t *o = json_load_file(path, 0, NULL);
    free(path);
    CHECK(o != NULL);
    CHECK_STR(json_string_value(json_object_get(o, "level")), "target");
    CHECK(json_object_get(json_object_get(o, "inputs"), "kernel") != NULL);
    json_decref(o);
    struct cmd_result r;
    ib_run(&r, home, "device", "info", "demo", NULL);
    CHECK_CONTAINS(r.out, "warm     ");
    CHECK_CONTAINS(r.out, "MiB, made ");
    CHECK_CONTAINS(r.out, "starts restore it");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "running", NULL);
    CHECK_NOT_CONTAINS(r.out, "warming_demo");
    cmd_result_free(&r);
}

TEST(warm_start_serves_and_keeps_time)
{
    test_set_timeout(120);
    const char *home = warm_home();
    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_MSG(guest_start(home, "demo", "warm1", offset, "--wait=target", &err) == 0, "%s", err);
    free(err);
    char *page = guest_http_get(8080 + offset, "/", 10000);
    CHECK_CONTAINS(page, "iotbench demo device");
    free(page);
    struct cmd_result r;
    ib_run(&r, home, "instance", "info", "warm1", "--json", NULL);
    CHECK_NOT_CONTAINS(r.out, "\"warm_made_ms\": 0");
    cmd_result_free(&r);
    /* The clock: within 2 s of ours, though the state is older. */
    json_t *ret = NULL;
    struct ib_error e = {0};
    CHECK_MSG(qga_call(guest_run_file(home, "warm1", "qga.sock"), "guest-get-time", NULL, 5000,
                       &ret, &e) == 0, "%s", e.msg);
    double guest_s = (double)json_integer_value(ret) / 1e9;
    json_decref(ret);
    double host_s = (double)ib_wall_ms() / 1000;
    CHECK_MSG(guest_s > host_s - 2 && guest_s < host_s + 2, "guest %.3f host %.3f", guest_s,
              host_s);
    char *log = test_read_file(guest_run_file(home, "warm1", "console.log"));
    CHECK_CONTAINS(log, "[iotbench] warm1 restored from the warm state of demo made ");
    free(log);
}

/* size, mtime and SHA-256 of a file of the warm state, as one string. */
static char *warm_file_print(const char *home, const char *name)
{
    char *path = xasprintf("%s/warm/demo/%s", home, name);
    struct stat sb;
    char hex[65] = "";
    char *out = NULL;
    if (stat(path, &sb) == 0 && ib_sha256_file(path, hex, NULL) == 0)
        out = xasprintf("%s %lld %lld.%09ld %s", name, (long long)sb.st_size,
                        (long long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec, hex);
    free(path);
    return out ? out : xstrdup("missing");
}

/* `device start demo NAME --port-offset N --wait=agent` in a child process,
 * its stdout and stderr into files; returns the child's pid. */
static pid_t start_in_background(const char *home, const char *name, int offset,
                                 const char *out_path)
{
    guest_stop_at_exit(home, name);
    char off[32];
    snprintf(off, sizeof off, "%d", offset);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 1);
        dup2(fd, 2);
        setenv("IOTBENCH_HOME", home, 1);
        execl(ib_bin(), ib_bin(), "device", "start", "demo", name, "--port-offset", off,
              "--wait=agent", (char *)NULL);
        _exit(127);
    }
    return pid;
}

TEST(two_warm_instances_do_not_share_writes)
{
    test_set_timeout(120);
    const char *home = warm_home();
    char *ram_before = warm_file_print(home, "ram.mig");
    char *disk_before = warm_file_print(home, "disk.qcow2");
    /* Both at once, from the same warm state. */
    int oa = guest_free_offset();
    int ob = oa + 1;
    while (!ports_is_free(CONFIG_TCP, 8080 + ob))
        ob++;
    const char *outa = test_path("wa.out"), *outb = test_path("wb.out");
    pid_t pa = start_in_background(home, "wa", oa, outa);
    pid_t pb = start_in_background(home, "wb", ob, outb);
    int sa = -1, sb = -1;
    waitpid(pa, &sa, 0);
    waitpid(pb, &sb, 0);
    char *texta = test_read_file(outa), *textb = test_read_file(outb);
    CHECK_MSG(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, "wa: %s", texta);
    CHECK_MSG(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, "wb: %s", textb);
    CHECK_CONTAINS(texta, "wa started warm, from the state made ");
    CHECK_CONTAINS(textb, "wb started warm, from the state made ");
    free(texta), free(textb);
    int st = -1;
    char *out = guest_sh(home, "wa", "echo from-a > /root/mark && cat /root/mark", &st);
    CHECK_CONTAINS(out, "from-a");
    free(out);
    out = guest_sh(home, "wb", "cat /root/mark 2>&1; echo from-b > /root/mark2", &st);
    CHECK_CONTAINS(out, "No such file");
    free(out);
    out = guest_sh(home, "wa", "cat /root/mark2 2>&1", &st);
    CHECK_CONTAINS(out, "No such file");
    free(out);
    /* Neither changed the warm state itself: the same bytes, untouched. */
    struct cmd_result r;
    ib_run(&r, home, "device", "stop", "wa", "wb", "--now", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    char *ram_after = warm_file_print(home, "ram.mig");
    char *disk_after = warm_file_print(home, "disk.qcow2");
    CHECK_STR(ram_after, ram_before);
    CHECK_STR(disk_after, disk_before);
    CHECK_NOT_CONTAINS(ram_before, "missing");
    free(ram_before), free(disk_before), free(ram_after), free(disk_after);
}

TEST(virtfs_warm_start_sees_files_added_after)
{
    test_set_timeout(120);
    const char *home = warm_home();
    char *added = xasprintf("%s/devices/demo/rootfs/added-after-warm.txt", home);
    test_write_file(added, "fresh content\n");
    free(added);
    char *err = NULL;
    int offset = guest_free_offset();
    CHECK_MSG(guest_start(home, "demo", "fresh", offset, "--wait=target", &err) == 0, "%s", err);
    CHECK_NOT_CONTAINS(err, "stale");
    free(err);
    struct cmd_result r;
    ib_run(&r, home, "instance", "info", "fresh", "--json", NULL);
    CHECK_NOT_CONTAINS(r.out, "\"warm_made_ms\": 0");
    cmd_result_free(&r);
    char *out = guest_sh(home, "fresh", "cat /target/added-after-warm.txt", NULL);
    CHECK_CONTAINS(out, "fresh content");
    free(out);
}

TEST(changed_input_makes_the_next_start_cold_with_a_notice)
{
    test_set_timeout(240);
    const char *home = warm_home();
    /* A different config.yaml (a comment is enough: its bytes changed). */
    char *cfg = xasprintf("%s/devices/demo/config.yaml", home);
    char *text = test_read_file(cfg);
    char *changed = xasprintf("%s# changed after the warm state\n", text);
    test_write_file(cfg, changed);
    char *err = NULL;
    int offset = guest_free_offset();
    CHECK(guest_start(home, "demo", "cold1", offset, "--wait=banner", &err) == 0);
    CHECK_CONTAINS(err, "the warm state of demo");
    CHECK_CONTAINS(err, "is stale: config.yaml changed since; booting cold");
    free(err);
    struct cmd_result r;
    ib_run(&r, home, "instance", "info", "cold1", "--json", NULL);
    CHECK_CONTAINS(r.out, "\"warm_made_ms\": 0");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "stop", "cold1", "--now", NULL);
    cmd_result_free(&r);
    /* Same bytes back, even with a new mtime: valid again (hash check). */
    test_write_file(cfg, text);
    ib_run(&r, home, "device", "info", "demo", NULL);
    CHECK_CONTAINS(r.out, "starts restore it");
    cmd_result_free(&r);
    free(cfg), free(text), free(changed);
}

TEST(stale_warm_state_start_wait_target_starts_the_services)
{
    test_set_timeout(240);
    const char *home = warm_home();
    /* --wait target once hung on a cold start: only a restore ran
     * target-start, so a stale warm state meant waiting for nothing. */
    char *cfg = xasprintf("%s/devices/demo/config.yaml", home);
    char *text = test_read_file(cfg);
    char *changed = xasprintf("%s# changed: the warm state is stale\n", text);
    test_write_file(cfg, changed);
    char *err = NULL;
    int offset = guest_free_offset();
    int64_t t0 = ib_now_ms();
    int status = guest_start(home, "demo", "stalet", offset, "--wait=target", &err);
    int64_t took = ib_now_ms() - t0;
    test_write_file(cfg, text);
    free(cfg), free(text), free(changed);
    CHECK_MSG(status == 0, "status %d: %s", status, err);
    CHECK_CONTAINS(err, "is stale: config.yaml changed since; booting cold");
    free(err);
    CHECK_MSG(took < 40000, "the start took %lld ms", (long long)took);
    struct cmd_result r;
    ib_run(&r, home, "instance", "info", "stalet", "--json", NULL);
    CHECK_CONTAINS(r.out, "\"warm_made_ms\": 0");
    cmd_result_free(&r);
    char *page = guest_http_get(8080 + offset, "/", 10000);
    CHECK_CONTAINS(page, "iotbench demo device");
    free(page);
    ib_run(&r, home, "device", "stop", "stalet", "--now", NULL);
    cmd_result_free(&r);
}

TEST(warm_state_that_fails_to_load_falls_back_to_a_cold_boot)
{
    test_set_timeout(240);
    const char *home = warm_home();
    /* Same inputs, so the state looks valid, but its RAM stream is junk:
     * QEMU exits while loading it, with its message lost to -daemonize. */
    char *ram = xasprintf("%s/warm/demo/ram.mig", home);
    char *kept = xasprintf("%s/warm/demo.ram.kept", home);
    CHECK(rename(ram, kept) == 0);
    test_write_file(ram, "this is not a migration stream\n");
    char *err = NULL;
    int offset = guest_free_offset();
    int status = guest_start(home, "demo", "junkram", offset, "--wait=agent", &err);
    CHECK(rename(kept, ram) == 0);
    free(ram), free(kept);
    CHECK_MSG(status == 0, "status %d: %s", status, err);
    /* QEMU quits while loading, or (the junk read at once) before its pid
     * file could be read: either way the start says so and boots cold. */
    CHECK_CONTAINS(err, "restoring the warm state of demo failed: QEMU exited ");
    CHECK_CONTAINS(err, "(no message: it had daemonized); booting cold");
    free(err);
    struct cmd_result r;
    ib_run(&r, home, "instance", "info", "junkram", "--json", NULL);
    CHECK_CONTAINS(r.out, "\"warm_made_ms\": 0");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "stop", "junkram", "--now", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
}

TEST(another_qemu_or_command_line_makes_the_warm_state_stale)
{
    test_set_timeout(240);
    const char *home = warm_home();
    /* A RAM stream loads only into the QEMU that wrote it: another binary
     * (a copy elsewhere stands for an upgrade) is a cold start. */
    const char *qemu = test_path("bin/qemu-system-arm");
    CHECK(ib_mkdir_p(test_path("bin"), 0755, NULL) == 0);
    char *cp[] = {"sh", "-c", "cp \"$(command -v qemu-system-arm)\" \"$1\"", "sh",
                  (char *)qemu, NULL};
    struct cmd_result r;
    cmd_run(cp, NULL, NULL, 60, &r);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char env_home[4200], env_qemu[4200];
    snprintf(env_home, sizeof env_home, "IOTBENCH_HOME=%s", home);
    snprintf(env_qemu, sizeof env_qemu, "IOTBENCH_QEMU=%s", qemu);
    char *info[] = {(char *)ib_bin(), "device", "info", "demo", NULL};
    char *env[] = {env_home, env_qemu, NULL};
    cmd_run(info, env, NULL, 60, &r);
    CHECK_CONTAINS(r.out, "is stale: the QEMU binary changed since; booting cold");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "info", "demo", NULL);
    CHECK_CONTAINS(r.out, "starts restore it");
    cmd_result_free(&r);
    /* So is a state saved by an iotbench that built another command line. */
    char *meta = xasprintf("%s/warm/demo/warm.json", home);
    char *text = test_read_file(meta);
    json_t *o = json_loads(text, 0, NULL);
    CHECK(o != NULL);
    json_t *inputs = json_object_get(o, "inputs");
    CHECK(json_string_value(json_object_get(inputs, "argv_sha256")) != NULL);
    json_object_set_new(inputs, "argv_sha256", json_string("0000"));
    char *changed = json_dumps(o, 0);
    json_decref(o);
    test_write_file(meta, changed);
    ib_run(&r, home, "device", "info", "demo", NULL);
    test_write_file(meta, text);
    CHECK_CONTAINS(r.out, "is stale: iotbench's QEMU command line changed since; booting cold");
    cmd_result_free(&r);
    ib_run(&r, home, "device", "info", "demo", NULL);
    CHECK_CONTAINS(r.out, "starts restore it");
    cmd_result_free(&r);
    free(meta), free(text), free(changed);
}

TEST(snapshot_save_load_brings_back_earlier_content)
{
    test_set_timeout(180);
    const char *home = guest_home();
    char *err = NULL;
    int offset = guest_free_offset();
    /* Cold: a start from demo's warm state would run its services. */
    CHECK_MSG(guest_start(home, "demo", "snap", offset, "--cold", &err) == 0, "%s", err);
    free(err);
    struct cmd_result r;
    ib_run(&r, home, "instance", "wait", "snap", "--for", "agent", "--timeout", "90", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char *out = guest_sh(home, "snap", "echo one > /root/state", NULL);
    free(out);
    ib_run(&r, home, "instance", "snapshot", "snap", "save", "first", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    out = guest_sh(home, "snap", "echo two > /root/state; cat /root/state", NULL);
    CHECK_CONTAINS(out, "two");
    free(out);
    ib_run(&r, home, "instance", "snapshot", "snap", "list", "--json", NULL);
    CHECK_CONTAINS(r.out, "\"name\": \"first\"");
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "snapshot", "snap", "load", "first", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    out = guest_sh(home, "snap", "cat /root/state; ls /target/piotr", NULL);
    CHECK_CONTAINS(out, "one");
    CHECK_CONTAINS(out, "init.sh"); /* the 9P share is mounted again */
    free(out);
    ib_run(&r, home, "instance", "snapshot", "snap", "load", "nope", NULL);
    CHECK(r.status != 0);
    CHECK_CONTAINS(r.err, "loading snapshot failed");
    cmd_result_free(&r);
    /* A failed load leaves the guest running: its agent still answers. */
    int64_t t0 = ib_now_ms();
    out = guest_sh(home, "snap", "cat /root/state", NULL);
    CHECK_CONTAINS(out, "one");
    CHECK_MSG(ib_now_ms() - t0 < 5000, "the agent took %lld ms after a failed load",
              (long long)(ib_now_ms() - t0));
    free(out);
    /* With the device's services running from the share, a save is
     * refused with the reason and a way out. */
    ib_run(&r, home, "instance", "target-start", "snap", NULL);
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "snapshot", "snap", "save", "busy", NULL);
    CHECK(r.status != 0);
    CHECK_CONTAINS(r.err, "cannot save snapshot busy");
    CHECK_CONTAINS(r.err, "guestfs: embed");
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "snapshot", "snap", "delete", "first", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
}

TEST(warm_clear_frees_the_space)
{
    const char *home = warm_home();
    struct cmd_result r;
    ib_run(&r, home, "device", "warm", "demo", "--clear", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "MiB freed");
    cmd_result_free(&r);
    char *dir = xasprintf("%s/warm/demo", home);
    CHECK(!ib_path_exists(dir));
    free(dir);
    warmed = false;
}

TEST(embedded_rootfs_warm_keeps_services_and_notices_rootfs_changes)
{
    test_set_timeout(300);
    const char *home = guest_home();
    char *src = xasprintf("%s/devices/demo/rootfs", home);
    char *dst = xasprintf("%s/devices/embw", home);
    CHECK(ib_mkdir_p(dst, 0755, NULL) == 0);
    char *cp[] = {"cp", "-a", src, dst, NULL};
    struct cmd_result r;
    cmd_run(cp, NULL, NULL, 60, &r);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    char *cfg = xasprintf("%s/config.yaml", dst);
    test_write_file(cfg, "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                         "    memory: 256M\n  bootargs: console=ttyAMA0 root=/dev/vda rw\n"
                         "  drive_type: virtio\n  guestfs: embed\n  network:\n    nic0: user\n"
                         "  redirect:\n    nic0:\n      http: tcp,8080,80\n");
    ib_run(&r, home, "device", "warm", "embw", NULL);
    CHECK_MSG(r.status == 0, "%s%s", r.out, r.err);
    cmd_result_free(&r);
    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_MSG(guest_start(home, "embw", "embw1", offset, NULL, &err) == 0, "%s", err);
    free(err);
    /* The services were saved running: no target-start after restore. */
    char *page = guest_http_get(8080 + offset, "/status", 5000);
    CHECK_CONTAINS(page, "ok");
    free(page);
    ib_run(&r, home, "device", "stop", "embw1", "--now", NULL);
    cmd_result_free(&r);
    /* The embedded rootfs is part of the warm state: touching it makes
     * the next start cold, with the notice. */
    char *file = xasprintf("%s/rootfs/piotr/init.sh", dst);
    struct timespec times[2] = {{0, UTIME_NOW}, {0, UTIME_NOW}};
    CHECK(utimensat(AT_FDCWD, file, times, 0) == 0);
    CHECK_MSG(guest_start(home, "embw", "embw2", offset, NULL, &err) == 0, "%s", err);
    CHECK_CONTAINS(err, "is stale: rootfs changed since; booting cold");
    free(err);
    free(src), free(dst), free(cfg), free(file);
}
