/*
 * demo_debug.c - the C API end to end: boot the demo device, start its
 * services, attach to its web server, break on the request handler,
 * send a request from the host, show where it stopped and the registers,
 * let it go, and stop the instance.
 *
 *     make build/examples/demo_debug          (see examples/examples.mk)
 *     IOTBENCH_HOME=~/.iotbench build/examples/demo_debug [PORT_OFFSET]
 *
 * The demo device forwards host port 8080 + PORT_OFFSET (default 300) to
 * its web server on guest port 80.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/iotbench.h"

static void fail(const char *what, const struct ib_error *err)
{
    fprintf(stderr, "demo_debug: %s: %s\n", what, err->msg);
}

/* GET / on 127.0.0.1:port in a child process: the request blocks in the
 * guest until the debugger lets the server go on. */
static pid_t request_in_background(int port)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            const char req[] = "GET / HTTP/1.0\r\nHost: demo\r\n\r\n";
            char buf[4096];
            ssize_t n;
            size_t total = 0;
            if (write(fd, req, sizeof req - 1) == (ssize_t)sizeof req - 1)
                while ((n = read(fd, buf, sizeof buf)) > 0)
                    total += (size_t)n;
            close(fd);
            if (total > 0) {
                printf("[host] the request was answered (%zu bytes)\n", total);
                _exit(0);
            }
        } else {
            close(fd);
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    _exit(1);
}

int main(int argc, char **argv)
{
    int offset = argc > 1 ? atoi(argv[1]) : 300;
    struct ib_error err = {0};
    int status = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);

    ib_bench *b = ib_bench_open(NULL, &err);
    if (b == NULL) {
        fail("opening the store", &err);
        return 1;
    }
    char name[64];
    snprintf(name, sizeof name, "demo-debug-%d", (int)getpid());
    struct ib_run_opts o = {.name = name, .port_offset = offset, .start_target = true};
    printf("booting device demo as %s (port offset %d)...\n", name, offset);
    ib_instance *inst = ib_device_run(b, "demo", &o, &err);
    if (inst == NULL) {
        fail("booting demo", &err);
        ib_bench_close(b);
        return 1;
    }
    int port = ib_instance_host_port(inst, 80);
    printf("%s runs; its web server is forwarded to 127.0.0.1:%d\n", ib_instance_name(inst), port);

    /* The services start in the background: wait for the server process. */
    int pid = -1;
    for (int i = 0; i < 50 && pid < 0; i++) {
        pid = ib_instance_pid(inst, "demod", &err);
        if (pid < 0) {
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    ib_debugger *d = NULL;
    pid_t child = -1;
    if (pid < 0) {
        fail("finding demod", &err);
        goto out;
    }
    printf("demod is process %d; attaching\n", pid);
    d = ib_instance_debug(inst, pid, &err);
    if (d == NULL) {
        fail("attaching", &err);
        goto out;
    }
    uint64_t bp;
    if (ib_debugger_set_breakpoint(d, "handle_request", &bp, &err) < 0 ||
        ib_debugger_cont(d, &err) < 0) {
        fail("breakpoint", &err);
        goto out;
    }
    printf("breakpoint on handle_request at 0x%llx; sending a request from the host\n",
           (unsigned long long)bp);
    child = request_in_background(port);

    struct ib_stop stop;
    if (ib_debugger_wait(d, 60000, &stop, &err) < 0) {
        fail("waiting for the breakpoint", &err);
        goto out;
    }
    printf("stopped (%s) at pc 0x%08llx = %s\n",
           stop.reason == IB_STOP_BREAKPOINT ? "breakpoint" : "other reason",
           (unsigned long long)stop.pc, stop.where);
    uint32_t regs[17];
    if (ib_debugger_registers(d, regs, &err) < 0) {
        fail("reading registers", &err);
        goto out;
    }
    static const char *const names[17] = {"r0", "r1",  "r2",  "r3",  "r4", "r5", "r6", "r7",  "r8",
                                          "r9", "r10", "r11", "r12", "sp", "lr", "pc", "cpsr"};
    for (int i = 0; i < 17; i++)
        printf("  %-4s 0x%08x%s", names[i], regs[i], i % 4 == 3 || i == 16 ? "\n" : "");
    /* handle_request(fd, request, len): r1 points at the request text. */
    char text[48] = "";
    if (ib_debugger_read_memory(d, regs[1], text, sizeof text - 1, &err) == 0) {
        text[strcspn(text, "\r\n")] = '\0';
        printf("  the request (r1): \"%s\"\n", text);
    }
    if (ib_debugger_clear_breakpoint(d, "handle_request", &err) < 0 ||
        ib_debugger_stop(d, &err) < 0) {
        d = NULL;
        fail("detaching", &err);
        goto out;
    }
    d = NULL;
    printf("detached; demod runs on\n");
    int cs = 1;
    if (child > 0 && waitpid(child, &cs, 0) == child && WIFEXITED(cs) && WEXITSTATUS(cs) == 0)
        status = 0;
    child = -1;
out:
    if (d != NULL)
        ib_debugger_stop(d, NULL);
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    printf("stopping %s\n", ib_instance_name(inst));
    if (ib_instance_stop(inst, &err) < 0) {
        fail("stopping", &err);
        status = 1;
    }
    ib_instance_free(inst);
    ib_bench_close(b);
    printf("%s\n", status == 0 ? "done" : "FAILED");
    return status;
}
