/* test_lockfile.c - one holder at a time, named when refused, released
 * when the holder dies. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/lockfile.h"
#include "core/ports.h"
#include "tests/lib/harness.h"

TEST(second_taker_is_refused_with_holder_pid)
{
    const char *path = test_path("console.lock");
    int fd;
    struct ib_error err = {0};
    CHECK(lockfile_take(path, 0, &fd, NULL, &err) == 0);
    int pipefd[2];
    CHECK(pipe(pipefd) == 0);
    pid_t child = fork();
    if (child == 0) {
        int fd2;
        pid_t holder = 0;
        struct ib_error e = {0};
        int rc = lockfile_take(path, 50, &fd2, &holder, &e);
        char msg[1100];
        int n = snprintf(msg, sizeof msg, "%d %d %d %s", rc, (int)holder, e.status, e.msg);
        (void)!write(pipefd[1], msg, (size_t)n);
        _exit(0);
    }
    close(pipefd[1]);
    char buf[1200] = "";
    (void)!read(pipefd[0], buf, sizeof buf - 1);
    close(pipefd[0]);
    waitpid(child, NULL, 0);
    char want[64];
    snprintf(want, sizeof want, "-1 %d %d held by pid %d", (int)getpid(), IB_ECONFLICT,
             (int)getpid());
    CHECK_CONTAINS(buf, want);
    lockfile_release(fd);
    CHECK(lockfile_take(path, 0, &fd, NULL, &err) == 0);
    lockfile_release(fd);
}

TEST(lock_dies_with_holder)
{
    const char *path = test_path("agent.lock");
    pid_t child = fork();
    if (child == 0) {
        int fd;
        lockfile_take(path, 0, &fd, NULL, NULL);
        pause();
        _exit(0);
    }
    usleep(100000);
    int fd;
    struct ib_error err = {0};
    CHECK(lockfile_take(path, 0, &fd, NULL, &err) < 0);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    CHECK_MSG(lockfile_take(path, 500, &fd, NULL, &err) == 0, "%s", err.msg);
    lockfile_release(fd);
}

TEST(port_holder_is_named)
{
    int port = ports_pick_free();
    CHECK(port > 0);
    CHECK(ports_is_free(CONFIG_TCP, port));
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(s, (struct sockaddr *)&sa, sizeof sa) == 0);
    CHECK(listen(s, 1) == 0);
    CHECK(!ports_is_free(CONFIG_TCP, port));
    char comm[64];
    CHECK_INT(ports_holder(CONFIG_TCP, port, comm, sizeof comm), getpid());
    /* Our own name, as the kernel knows it (valgrind's when run under it). */
    char self[64] = "";
    FILE *f = fopen("/proc/self/comm", "r");
    CHECK(f != NULL && fgets(self, sizeof self, f) != NULL);
    fclose(f);
    self[strcspn(self, "\n")] = '\0';
    CHECK_STR(comm, self);
    close(s);
}
