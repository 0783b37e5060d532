/*
 * demod - the web server of iotbench's demo device.
 *
 * A deliberately small HTTP/1.0 server: one process, one thread, one
 * connection at a time. It gives iotbench's tests a real network service
 * inside the emulated device to talk to and to debug:
 *
 *   GET /          a small HTML page saying "iotbench demo device" with the
 *                  number of requests served so far
 *   GET /status    "ok\n", for readiness checks
 *   HEAD           the same headers without a body
 *
 * Every request goes through handle_request(), which is global and never
 * inlined so that debugger tests can set a breakpoint on it.
 *
 * Usage: demod [PORT]     (default 80)
 *
 * Built static for ARM by stock/demo.sh:
 *   arm-linux-gnueabihf-gcc -std=c11 -static -O1 -g -marm -o demod demod.c
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define DEMOD_DEFAULT_PORT 80
#define DEMOD_REQUEST_MAX 4096 /* bytes of request head kept */
#define DEMOD_TIMEOUT_SEC 5    /* a silent client cannot stall the server longer */
#define DEMOD_METHOD_MAX 16
#define DEMOD_TARGET_MAX 256

static unsigned long demod_requests;

int handle_request(int fd, const char *request, size_t len) __attribute__((noinline, noclone));

static int demod_send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Send a complete response; returns the status code, or -1 if it could not be written. */
static int demod_respond(int fd, int status, const char *reason, const char *extra_header,
                         const char *type, const char *body, int with_body)
{
    char head[512];
    size_t body_len = strlen(body);
    int n;

    n = snprintf(head, sizeof head,
                 "HTTP/1.0 %d %s\r\n"
                 "Server: demod\r\n"
                 "Content-Type: %s\r\n"
                 "Content-Length: %zu\r\n"
                 "%s"
                 "Connection: close\r\n"
                 "\r\n",
                 status, reason, type, body_len, extra_header);
    if (n < 0 || (size_t)n >= sizeof head)
        return -1;
    if (demod_send_all(fd, head, (size_t)n) != 0)
        return -1;
    if (with_body && demod_send_all(fd, body, body_len) != 0)
        return -1;
    return status;
}

static int demod_respond_text(int fd, int status, const char *reason, const char *extra_header,
                              const char *text, int with_body)
{
    return demod_respond(fd, status, reason, extra_header, "text/plain; charset=utf-8", text,
                         with_body);
}

/*
 * Copy the blank-delimited token at *p into out (at most cap - 1 bytes) and
 * advance *p past it. Returns the token length, or -1 if it is empty, too
 * long or holds a control character.
 */
static int demod_token(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;

    while (*p < end && **p != ' ' && **p != '\t') {
        unsigned char c = (unsigned char)**p;

        if (n + 1 >= cap || c < 0x21 || c == 0x7f)
            return -1;
        out[n++] = **p;
        (*p)++;
    }
    out[n] = '\0';
    return n == 0 ? -1 : (int)n;
}

/*
 * Answer one request. request holds the first len bytes the client sent
 * (not NUL-terminated; it may hold anything). Returns the HTTP status code
 * sent, or -1 if the response could not be written.
 */
int handle_request(int fd, const char *request, size_t len)
{
    char method[DEMOD_METHOD_MAX];
    char target[DEMOD_TARGET_MAX];
    char page[512];
    const char *p = request;
    const char *eol;
    const char *end;
    int head_only;
    size_t i;

    demod_requests++;

    eol = memchr(request, '\n', len);
    if (eol == NULL)
        return demod_respond_text(fd, 400, "Bad Request", "", "bad request\n", 1);
    end = eol;
    if (end > request && end[-1] == '\r')
        end--;

    if (demod_token(&p, end, method, sizeof method) < 0)
        return demod_respond_text(fd, 400, "Bad Request", "", "bad request\n", 1);
    for (i = 0; method[i] != '\0'; i++) {
        if (method[i] < 'A' || method[i] > 'Z')
            return demod_respond_text(fd, 400, "Bad Request", "", "bad request\n", 1);
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (demod_token(&p, end, target, sizeof target) < 0 || target[0] != '/')
        return demod_respond_text(fd, 400, "Bad Request", "", "bad request\n", 1);
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    /* HTTP/0.9 style requests have no version; anything else must be HTTP/1.x. */
    if (p < end && ((size_t)(end - p) < 7 || memcmp(p, "HTTP/1.", 7) != 0))
        return demod_respond_text(fd, 400, "Bad Request", "", "bad request\n", 1);

    if (strcmp(method, "GET") == 0) {
        head_only = 0;
    } else if (strcmp(method, "HEAD") == 0) {
        head_only = 1;
    } else {
        return demod_respond_text(fd, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
                                  "method not allowed\n", 1);
    }

    target[strcspn(target, "?#")] = '\0';
    if (strcmp(target, "/status") == 0)
        return demod_respond_text(fd, 200, "OK", "", "ok\n", !head_only);
    if (strcmp(target, "/") == 0 || strcmp(target, "/index.html") == 0) {
        snprintf(page, sizeof page,
                 "<!DOCTYPE html>\n"
                 "<html><head><meta charset=\"utf-8\"><title>iotbench demo device</title>"
                 "</head>\n"
                 "<body><h1>iotbench demo device</h1>\n"
                 "<p>Requests served: %lu</p></body></html>\n",
                 demod_requests);
        return demod_respond(fd, 200, "OK", "", "text/html; charset=utf-8", page, !head_only);
    }
    return demod_respond_text(fd, 404, "Not Found", "", "not found\n", !head_only);
}

/*
 * Read the request head: until an empty line, EOF, the timeout or
 * DEMOD_REQUEST_MAX bytes, whichever comes first. Returns the byte count.
 */
static size_t demod_read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;

    while (len < cap) {
        ssize_t n = recv(fd, buf + len, cap - len, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memmem(buf, len, "\r\n\r\n", 4) != NULL || memmem(buf, len, "\n\n", 2) != NULL)
            break;
    }
    return len;
}

static int demod_listen(unsigned short port)
{
    struct sockaddr_in addr;
    int fd, one = 1;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("demod: socket");
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        perror("demod: SO_REUSEADDR");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        fprintf(stderr, "demod: cannot listen on port %u: %s\n", port, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 16) != 0) {
        perror("demod: listen");
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    static char request[DEMOD_REQUEST_MAX];
    struct timeval timeout = {DEMOD_TIMEOUT_SEC, 0};
    unsigned long port = DEMOD_DEFAULT_PORT;
    int listen_fd;

    if (argc > 2) {
        fprintf(stderr, "usage: %s [port]\n", argv[0]);
        return 2;
    }
    if (argc == 2) {
        char *end;

        errno = 0;
        port = strtoul(argv[1], &end, 10);
        if (errno != 0 || end == argv[1] || *end != '\0' || port == 0 || port > 65535) {
            fprintf(stderr, "demod: invalid port '%s' (want 1-65535)\n", argv[1]);
            return 2;
        }
    }

    signal(SIGPIPE, SIG_IGN);
    listen_fd = demod_listen((unsigned short)port);
    if (listen_fd < 0)
        return 1;
    fprintf(stderr, "demod: listening on port %lu\n", port);

    for (;;) {
        size_t len;
        int fd = accept(listen_fd, NULL, NULL);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                sleep(1);
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        len = demod_read_request(fd, request, sizeof request);
        if (len > 0)
            handle_request(fd, request, len);
        shutdown(fd, SHUT_WR);
        close(fd);
    }
}
