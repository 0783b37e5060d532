/* test_lifecycle.c - real demo guests under TCG: boot, console, forwards,
 * several instances, stop, kill -9, missing kernel, long socket paths,
 * embedded rootfs and SD card. One guest is shared by the tests that only
 * look at it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "tests/lib/cmd.h"
#include "tests/lib/fixtures.h"
#include "tests/lib/guest.h"
#include "tests/lib/harness.h"

static int main_offset = -1;

/* The shared instance "main": started once, stopped at exit. */
static const char *main_instance(void)
{
    const char *home = guest_home();
    if (main_offset < 0) {
        main_offset = guest_free_offset();
        char *err = NULL;
        int st = guest_start(home, "demo", "main", main_offset, "--wait=banner", &err);
        if (st != 0) {
            fprintf(stderr, "cannot boot the shared instance: %s\n", err);
            exit(1);
        }
        free(err);
    }
    return home;
}

TEST(boot_demo_to_banner)
{
    test_set_timeout(180);
    const char *home = main_instance();
    char *log = test_read_file(guest_run_file(home, "main", "console.log"));
    CHECK_CONTAINS(log, "Host system ready");
    free(log);
    struct cmd_result r;
    ib_run(&r, home, "instance", "info", "main", "--json", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "\"state\": \"running\"");
    CHECK_CONTAINS(r.out, "\"-daemonize\"");
    cmd_result_free(&r);
}

TEST(runtime_folder_private_and_env_marked)
{
    const char *home = main_instance();
    struct stat sb;
    CHECK(stat(guest_run_file(home, "main", ""), &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0700);
    const char *files[] = {"console.sock", "qmp.sock", "qga.sock", "overlay.qcow2", "meta.json"};
    for (size_t i = 0; i < 5; i++) {
        CHECK(stat(guest_run_file(home, "main", files[i]), &sb) == 0);
        CHECK_MSG((sb.st_mode & 0077) == 0, "%s has mode %o", files[i], sb.st_mode & 0777);
    }
    int pid = guest_pid_of(home, "main");
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", pid);
    char *env = NULL;
    size_t len = 0;
    CHECK(ib_read_file(path, 1 << 20, &env, &len, NULL) == 0);
    for (size_t i = 0; i < len; i++)
        if (env[i] == '\0')
            env[i] = '\n';
    CHECK_CONTAINS(env, "PIOTR_GUEST=demo\n");
    CHECK_CONTAINS(env, "PIOTR_INSTNAME=main\n");
    CHECK_CONTAINS(env, "PIOTR_SOCK=");
    free(env);
}

TEST(target_start_on_console_then_page_through_forward)
{
    test_set_timeout(120);
    const char *home = main_instance();
    char *seen = NULL;
    bool ok = guest_console_expect(home, "main", "\rtarget-start\r", "[Guest]# ", 30000, &seen);
    CHECK_MSG(ok, "no guest prompt; console said: %.800s", seen);
    free(seen);
    char *page = guest_http_get(8080 + main_offset, "/", 20000);
    CHECK_MSG(page != NULL, "no answer on port %d", 8080 + main_offset);
    CHECK_CONTAINS(page, "200 OK");
    CHECK_CONTAINS(page, "iotbench demo device");
    free(page);
}

TEST(console_command_replays_and_filters)
{
    const char *home = main_instance();
    /* Through the CLI in a pty: replay of console.log, then live I/O. */
    struct cmd_result r;
    ib_run_input(&r, home, "\x1d", "instance", "console", "main", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "Host system ready");
    CHECK_CONTAINS(r.err, "detached");
    cmd_result_free(&r);
}

TEST(two_instances_with_their_own_forwards)
{
    test_set_timeout(180);
    const char *home = main_instance();
    int offset = guest_free_offset();
    CHECK(offset != main_offset);
    char *err = NULL;
    CHECK_INT(guest_start(home, "demo", "second", offset, "--wait=banner", &err), 0);
    free(err);
    CHECK(guest_console_expect(home, "second", "\rtarget-start\r", "[Guest]# ", 30000, NULL));
    char *a = guest_http_get(8080 + main_offset, "/status", 20000);
    char *b = guest_http_get(8080 + offset, "/status", 20000);
    CHECK_CONTAINS(a, "ok");
    CHECK_CONTAINS(b, "ok");
    free(a);
    free(b);
    /* The same forward again is refused before QEMU starts, naming "second". */
    CHECK(guest_start(home, "demo", "third", offset, NULL, &err) == 5);
    CHECK_CONTAINS(err, "used by instance second");
    CHECK(!ib_path_exists(guest_run_file(home, "third", "")));
    free(err);

    int pid = guest_pid_of(home, "second");
    struct cmd_result r;
    ib_run(&r, home, "device", "stop", "second", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    CHECK(!guest_pid_alive(pid));
    CHECK(!ib_path_exists(guest_run_file(home, "second", "")));
}

TEST(kill_9_is_reported_dead_and_cleaned)
{
    test_set_timeout(120);
    const char *home = guest_home();
    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_INT(guest_start(home, "demo", "victim", offset, NULL, &err), 0);
    free(err);
    int pid = guest_pid_of(home, "victim");
    CHECK(guest_pid_alive(pid));
    kill(pid, SIGKILL);
    for (int i = 0; i < 50 && guest_pid_alive(pid); i++)
        ib_sleep_ms(20);
    struct cmd_result r;
    ib_run(&r, home, "device", "running", NULL);
    CHECK_INT(r.status, 0);
    CHECK_CONTAINS(r.out, "victim");
    CHECK_CONTAINS(r.out, "dead");
    CHECK_CONTAINS(r.out, "QEMU is gone without a message (it had daemonized: killed");
    cmd_result_free(&r);
    CHECK(!ib_path_exists(guest_run_file(home, "victim", "")));
    ib_run(&r, home, "device", "running", NULL);
    CHECK_NOT_CONTAINS(r.out, "victim");
    cmd_result_free(&r);
}

TEST(missing_kernel_starts_nothing)
{
    const char *home = guest_home();
    fixture_device(home, "nokernel", "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a9\n"
                                     "  bootargs: console=ttyAMA0\n  drive_type: virtio\n");
    struct cmd_result check, start;
    ib_run(&check, home, "device", "check", "nokernel", NULL);
    ib_run(&start, home, "device", "start", "nokernel", "nk", NULL);
    CHECK_INT(start.status, 3);
    CHECK_CONTAINS(start.err, "no kernel matches virt.cortex-a9.little");
    /* The start says what check says. */
    CHECK_STR(start.err, check.err);
    CHECK(!ib_path_exists(guest_run_file(home, "nk", "")));
    cmd_result_free(&check);
    cmd_result_free(&start);
}

TEST(stop_leaves_nothing_behind)
{
    test_set_timeout(120);
    const char *home = guest_home();
    char *err = NULL;
    CHECK_INT(guest_start(home, "demo", "brief", guest_free_offset(), NULL, &err), 0);
    free(err);
    int pid = guest_pid_of(home, "brief");
    CHECK(guest_pid_alive(pid));
    struct cmd_result r;
    ib_run(&r, home, "instance", "stop", "brief", "--now", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    CHECK(!guest_pid_alive(pid));
    CHECK(!ib_path_exists(guest_run_file(home, "brief", "")));
    ib_run(&r, home, "instance", "stop", "brief", NULL);
    CHECK_INT(r.status, 3);
    cmd_result_free(&r);
}

TEST(stop_before_the_agent_is_up_quits_at_once)
{
    test_set_timeout(120);
    const char *home = guest_home();
    char *err = NULL;
    /* No --wait: QEMU runs, the guest has barely started its kernel. */
    CHECK_INT(guest_start(home, "demo", "early", guest_free_offset(), NULL, &err), 0);
    free(err);
    int pid = guest_pid_of(home, "early");
    struct cmd_result r;
    int64_t t0 = ib_now_ms();
    ib_run(&r, home, "device", "stop", "early", NULL);
    int64_t took = ib_now_ms() - t0;
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "early stopped (QEMU quit: the guest agent did not answer");
    cmd_result_free(&r);
    /* Not the 10 s a power-down waits for. */
    CHECK_MSG(took < 5000, "the stop took %lld ms", (long long)took);
    CHECK(!guest_pid_alive(pid));
    CHECK(!ib_path_exists(guest_run_file(home, "early", "")));
}

TEST(deep_home_long_socket_paths)
{
    test_set_timeout(180);
    /* A home whose socket paths pass the 107-byte sun_path limit. */
    char deep[4096];
    snprintf(deep, sizeof deep, "%s/%s", test_tmpdir(),
             "a-very-long-folder-name-to-push-socket-paths-past-the-limit/"
             "and-another-long-component-for-good-measure/home");
    CHECK(ib_rm_rf(deep, NULL) == 0);
    CHECK(ib_mkdir_p(deep, 0755, NULL) == 0);
    /* The store's images and devices, never its run/ (live instances) or
     * warm/ folders. */
    const char *parts[] = {"kernels", "initrds", "hostfs", "dtbs", "devices"};
    struct cmd_result r;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char src[4096];
        snprintf(src, sizeof src, "%s/%s", guest_home(), parts[i]);
        char *cp[] = {"cp", "-a", src, deep, NULL};
        cmd_run(cp, NULL, NULL, 60, &r);
        CHECK_MSG(r.status == 0, "cp %s: %s", parts[i], r.err);
        cmd_result_free(&r);
    }
    CHECK(strlen(guest_run_file(deep, "deep", "console.sock")) > 107);
    CHECK(strlen(guest_run_file(deep, "deep", "qmp.sock")) > 107);
    char *err = NULL;
    CHECK_MSG(guest_start(deep, "demo", "deep", guest_free_offset(), "--wait=agent", &err) == 0,
              "%s", err);
    free(err);
    /* Every socket works: console, agent, QMP. */
    CHECK(guest_console_expect(deep, "deep", "\r", "[Host]# ", 10000, NULL));
    ib_run(&r, deep, "instance", "info", "deep", "--json", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "\"ready\": \"agent\"");
    cmd_result_free(&r);
    ib_run(&r, deep, "instance", "exec", "deep", "--", "true", NULL);
    CHECK_MSG(r.status == 0, "exec: %d %s", r.status, r.err);
    cmd_result_free(&r);
    ib_run(&r, deep, "instance", "exec", "deep", "--", "sh", "-c", "exit 7", NULL);
    CHECK_INT(r.status, 7);
    cmd_result_free(&r);
    ib_run(&r, deep, "instance", "snapshot", "deep", "list", "--json", NULL);
    CHECK_MSG(r.status == 0, "snapshot list (QMP): %s", r.err);
    CHECK_CONTAINS(r.out, "[");
    cmd_result_free(&r);
    /* A clean stop: the guest powers off through the agent, no kill. */
    int pid = guest_pid_of(deep, "deep");
    ib_run(&r, deep, "device", "stop", "deep", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "deep stopped (the guest powered off)");
    cmd_result_free(&r);
    CHECK(!guest_pid_alive(pid));
    CHECK(!ib_path_exists(guest_run_file(deep, "deep", "")));
}

TEST(port_held_by_another_process_is_named)
{
    const char *home = guest_home();
    int offset = guest_free_offset();
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)(8080 + offset))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(fd, 4) == 0);
    char *err = NULL;
    int status = guest_start(home, "demo", "blocked", offset, NULL, &err);
    close(fd);
    CHECK_MSG(status == 5, "status %d: %s", status, err);
    char want[128];
    snprintf(want, sizeof want, "host port tcp %d (redirect nic0.http) is used by process %d "
             "(test_lifecycle)", 8080 + offset, (int)getpid());
    CHECK_CONTAINS(err, want);
    free(err);
    CHECK(!ib_path_exists(guest_run_file(home, "blocked", "")));
}

TEST(embedded_rootfs_and_sd_card)
{
    test_set_timeout(180);
    const char *home = guest_home();
    /* A copy of demo whose rootfs travels as an ext2 disk, plus an SD card. */
    char *src = xasprintf("%s/devices/demo/rootfs", home);
    char *dst = xasprintf("%s/devices/embedded", home);
    CHECK(ib_mkdir_p(dst, 0755, NULL) == 0);
    char *cp[] = {"cp", "-a", src, dst, NULL};
    struct cmd_result r;
    cmd_run(cp, NULL, NULL, 60, &r);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    char *cfg = xasprintf("%s/config.yaml", dst), *card = xasprintf("%s/sdcard/hello.txt", dst);
    test_write_file(cfg, "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                         "    memory: 256M\n  bootargs: console=ttyAMA0 root=/dev/vda rw\n"
                         "  drive_type: virtio\n  guestfs: embed\n  sd: sdcard\n"
                         "  network:\n    nic0: user\n  redirect:\n    nic0:\n"
                         "      http: tcp,8080,80\n");
    test_write_file(card, "greetings from the sd card\n");
    free(src), free(dst), free(cfg), free(card);
    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_MSG(guest_start(home, "embedded", "emb", offset, "--wait=banner", &err) == 0, "%s", err);
    free(err);
    CHECK(ib_path_exists(guest_run_file(home, "emb", "target.qcow2")));
    CHECK(ib_path_exists(guest_run_file(home, "emb", "sd.qcow2")));
    char *seen = NULL;
    bool ok = guest_console_expect(home, "emb", "\rmkdir -p /mnt/sd; mount $(findfs LABEL=ib-sd) "
                                   "/mnt/sd && cat /mnt/sd/hello.txt\r",
                                   "greetings from the sd card", 20000, &seen);
    CHECK_MSG(ok, "sd card not readable: %.600s", seen);
    free(seen);
    CHECK(guest_console_expect(home, "emb", "\rtarget-start\r", "[Guest]# ", 30000, NULL));
    char *page = guest_http_get(8080 + offset, "/", 20000);
    CHECK_CONTAINS(page, "iotbench demo device");
    free(page);
    ib_run(&r, home, "device", "stop", "emb", "--now", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
}

TEST(tap_network_missing_interface_is_explained)
{
    const char *home = guest_home();
    fixture_device(home, "tapdev", "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                                   "  bootargs: console=ttyAMA0\n  drive_type: virtio\n"
                                   "  network:\n    nic0: tap,ibnotap0\n");
    fixture_rootfs_from(home, "tapdev", "demo");
    char *err = NULL;
    CHECK(guest_start(home, "tapdev", "tapper", 0, NULL, &err) != 0);
    CHECK_CONTAINS(err, "tap interface ibnotap0 does not exist");
    CHECK(!ib_path_exists(guest_run_file(home, "tapper", "")));
    free(err);
}

TEST(agent_and_target_readiness_through_the_agent)
{
    test_set_timeout(180);
    const char *home = guest_home();
    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_MSG(guest_start(home, "demo", "ready", offset, "--wait=agent", &err) == 0, "%s", err);
    free(err);
    struct cmd_result r;
    ib_run(&r, home, "instance", "wait", "ready", "--for", "agent", "--timeout", "60", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    CHECK_CONTAINS(r.out, "ready reached agent");
    cmd_result_free(&r);
    /* The target was not started yet: waiting for it times out clearly. */
    ib_run(&r, home, "instance", "wait", "ready", "--for", "target", "--timeout", "1", NULL);
    CHECK_INT(r.status, 4);
    CHECK_CONTAINS(r.err, "did not reach target within 1000 ms (reached: agent)");
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "target-start", "ready", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    ib_run(&r, home, "instance", "wait", "ready", "--for", "target", "--timeout", "30", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char *page = guest_http_get(8080 + offset, "/status", 20000);
    CHECK_CONTAINS(page, "ok");
    free(page);
    /* A clean stop goes through the agent: the guest powers off. */
    int pid = guest_pid_of(home, "ready");
    ib_run(&r, home, "device", "stop", "ready", NULL);
    CHECK_INT(r.status, 0);
    cmd_result_free(&r);
    CHECK(!guest_pid_alive(pid));
}

TEST(start_with_target_flag_serves_at_once)
{
    test_set_timeout(180);
    const char *home = guest_home();
    int offset = guest_free_offset();
    char *err = NULL;
    CHECK_MSG(guest_start(home, "demo", "quick", offset, "--target", &err) == 0, "%s", err);
    free(err);
    struct cmd_result r;
    ib_run(&r, home, "instance", "wait", "quick", "--for", "target", "--timeout", "60", NULL);
    CHECK_MSG(r.status == 0, "%s", r.err);
    cmd_result_free(&r);
    char *page = guest_http_get(8080 + offset, "/", 20000);
    CHECK_CONTAINS(page, "iotbench demo device");
    free(page);
}

TEST(tap_network_reaches_the_host)
{
    test_set_timeout(180);
    if (geteuid() != 0 || access("/usr/sbin/ip", X_OK) != 0) {
        /* Making a tap needs root; say so rather than pass silently. */
        printf("  skipped: needs root and /usr/sbin/ip to create a tap\n");
        return;
    }
    char tap[32];
    snprintf(tap, sizeof tap, "ibtap%d", (int)(getpid() % 10000));
    char *mk[] = {"ip", "tuntap", "add", "dev", tap, "mode", "tap", NULL};
    char *addr[] = {"ip", "addr", "add", "10.77.0.1/24", "dev", tap, NULL};
    char *up[] = {"ip", "link", "set", tap, "up", NULL};
    char *del[] = {"ip", "tuntap", "del", "dev", tap, "mode", "tap", NULL};
    struct cmd_result r;
    /* A run that failed before its clean-up left its tap with the same
     * address: the host would answer the guest's ping through that one. */
    char *sweep[] = {"sh", "-c", "for i in $(ls /sys/class/net | grep '^ibtap'); do "
                                 "ip tuntap del dev $i mode tap; done", NULL};
    cmd_run(sweep, NULL, NULL, 10, &r);
    cmd_result_free(&r);
    cmd_run(mk, NULL, NULL, 10, &r);
    CHECK_MSG(r.status == 0, "ip tuntap add: %s", r.err);
    cmd_result_free(&r);
    cmd_run(addr, NULL, NULL, 10, &r);
    cmd_result_free(&r);
    cmd_run(up, NULL, NULL, 10, &r);
    cmd_result_free(&r);
    const char *home = guest_home();
    char cfg[512];
    snprintf(cfg, sizeof cfg, "version: \"1.0\"\ndevice:\n  machine:\n    cpu: cortex-a15\n"
                              "    memory: 256M\n  bootargs: console=ttyAMA0 root=/dev/vda rw\n"
                              "  drive_type: virtio\n  network:\n    nic0: tap,%s\n", tap);
    fixture_device(home, "tapped", cfg);
    fixture_rootfs_from(home, "tapped", "demo");
    char *err = NULL;
    int st = guest_start(home, "tapped", "tapped1", 0, "--wait=agent", &err);
    int status = -1;
    char *out = NULL;
    if (st == 0)
        out = guest_sh(home, "tapped1", "ifconfig eth0 10.77.0.2 netmask 255.255.255.0 up && "
                                        "ping -c 1 -W 3 10.77.0.1", &status);
    /* The tap goes whatever happened, before any check can end the test. */
    ib_run(&r, home, "device", "stop", "tapped1", "--now", NULL);
    cmd_result_free(&r);
    cmd_run(del, NULL, NULL, 10, &r);
    cmd_result_free(&r);
    CHECK_MSG(st == 0, "%s", err);
    CHECK_MSG(status == 0, "guest could not ping the host over the tap: %s", out);
    free(err);
    free(out);
}
