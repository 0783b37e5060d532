/* tuidrive.c - see tuidrive.h. */
#include "tests/lib/tuidrive.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/cmd.h"

struct td {
    /* REP (CSI n b, which ncurses uses and libvterm 0.1.4 ignores) is
     * expanded before the oracle sees it: the last graphic character and a
     * CSI being collected. */
    char last[4];
    size_t last_len;
    char csi[64];
    size_t csi_len;
    int esc; /* 0 text, 1 after ESC, 2 in CSI */
    pid_t pid;
    int master;
    VTerm *vt;
    VTermScreen *vs;
    int rows, cols;
    bool exited;
    int status;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                struct pollfd pf = {fd, POLLOUT, 0};
                poll(&pf, 1, 100);
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Feeds the oracle, expanding REP (see struct td). */
static void oracle_write(struct td *t, const char *buf, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (t->esc == 0) {
            if (c == 0x1b) {
                vterm_input_write(t->vt, buf + start, i - start);
                t->esc = 1;
                t->csi[0] = 0x1b;
                t->csi_len = 1;
            } else if (c >= 0x20 && c != 0x7f && (c & 0xC0) != 0x80) {
                /* the first byte of a graphic character */
                size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
                if (i + len <= n) {
                    memcpy(t->last, buf + i, len);
                    t->last_len = len;
                }
            }
            continue;
        }
        t->csi[t->csi_len++] = (char)c;
        if (t->esc == 1) {
            t->esc = c == '[' ? 2 : 0;
            if (t->esc == 0) {
                vterm_input_write(t->vt, t->csi, t->csi_len);
                start = i + 1;
            }
            continue;
        }
        if ((c >= 0x40 && c <= 0x7e) || t->csi_len == sizeof t->csi) {
            t->esc = 0;
            start = i + 1;
            bool digits = true;
            for (size_t k = 2; k + 1 < t->csi_len; k++)
                if (t->csi[k] < '0' || t->csi[k] > '9')
                    digits = false;
            if (c == 'b' && digits && t->last_len) {
                int count = t->csi_len > 3 ? atoi(t->csi + 2) : 1;
                for (int k = 0; k < count && k < 100000; k++)
                    vterm_input_write(t->vt, t->last, t->last_len);
            } else {
                vterm_input_write(t->vt, t->csi, t->csi_len);
            }
        }
    }
    if (t->esc == 0 && start < n)
        vterm_input_write(t->vt, buf + start, n - start);
}

/* The oracle's answers to the program's queries, and typed keys. */
static void oracle_output(const char *s, size_t len, void *user)
{
    struct td *t = user;
    write_all(t->master, s, len);
}

static const char *lsan_suppressions(void)
{
    /* ncurses keeps its screen structures until exit by design. The file
     * is shared by every driver of this user (same content each time). */
    static char path[256];
    if (path[0] == '\0') {
        snprintf(path, sizeof path, "/tmp/iotbench-lsan-ncurses-%d.supp", (int)getuid());
        FILE *f = fopen(path, "w");
        if (f) {
            fputs("leak:libncursesw\nleak:libtinfo\nleak:libtinfow\n", f);
            fclose(f);
        }
    }
    return path;
}

static struct td *start(const struct td_opts *o, const char *const *argv_full);

struct td *td_start(const struct td_opts *o)
{
    return start(o, NULL);
}

struct td *td_start_cmd(const struct td_opts *o, const char *const *argv)
{
    return start(o, argv);
}

static struct td *start(const struct td_opts *o, const char *const *argv_full)
{
    struct td *t = calloc(1, sizeof *t);
    if (t == NULL)
        abort();
    t->rows = o->rows ? o->rows : 40;
    t->cols = o->cols ? o->cols : 120;
    struct winsize ws = {.ws_row = (unsigned short)t->rows, .ws_col = (unsigned short)t->cols};
    const char *supp = lsan_suppressions();
    fflush(stdout);
    fflush(stderr);
    pid_t pid = forkpty(&t->master, NULL, NULL, &ws);
    if (pid < 0) {
        perror("forkpty");
        abort();
    }
    if (pid == 0) {
        setenv("TERM", "xterm-256color", 1);
        unsetenv("LINES");
        unsetenv("COLUMNS");
        unsetenv("NO_COLOR");
        unsetenv("TMUX");
        setenv("LANG", "C.UTF-8", 1);
        setenv("LC_ALL", "C.UTF-8", 1);
        char lsan[4200];
        snprintf(lsan, sizeof lsan, "suppressions=%s:print_suppressions=0", supp);
        setenv("LSAN_OPTIONS", lsan, 1);
        if (o->home)
            setenv("IOTBENCH_HOME", o->home, 1);
        for (size_t i = 0; o->env && o->env[i]; i++) {
            const char *eq = strchr(o->env[i], '=');
            if (!eq)
                continue;
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - o->env[i]), o->env[i]);
            if (eq[1])
                setenv(name, eq + 1, 1);
            else
                unsetenv(name);
        }
        if (argv_full) {
            execvp(argv_full[0], (char *const *)argv_full);
            perror("execvp");
            _exit(127);
        }
        const char *argv[64];
        int n = 0;
        argv[n++] = ib_bin();
        for (size_t i = 0; o->args && o->args[i] && n < 63; i++)
            argv[n++] = o->args[i];
        argv[n] = NULL;
        execv(argv[0], (char *const *)argv);
        perror("execv");
        _exit(127);
    }
    t->pid = pid;
    fcntl(t->master, F_SETFL, fcntl(t->master, F_GETFL) | O_NONBLOCK);
    t->vt = vterm_new(t->rows, t->cols);
    vterm_set_utf8(t->vt, 1);
    vterm_output_set_callback(t->vt, oracle_output, t);
    t->vs = vterm_obtain_screen(t->vt);
    vterm_screen_enable_altscreen(t->vs, 1);
    vterm_screen_reset(t->vs, 1);
    return t;
}

int td_pid(const struct td *t)
{
    return t->pid;
}

static void reap(struct td *t, bool block)
{
    if (t->exited)
        return;
    int st;
    pid_t r = waitpid(t->pid, &st, block ? 0 : WNOHANG);
    if (r == t->pid) {
        t->exited = true;
        t->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
}

void td_pump(struct td *t, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        char buf[65536];
        ssize_t n = read(t->master, buf, sizeof buf);
        if (n > 0) {
            oracle_write(t, buf, (size_t)n);
            continue;
        }
        int left = (int)(end - now_ms());
        if (left <= 0)
            break;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            reap(t, false);
            if (t->exited)
                break;
        }
        struct pollfd pf = {t->master, POLLIN, 0};
        poll(&pf, 1, left < 20 ? left : 20);
    }
    vterm_screen_flush_damage(t->vs);
}

void td_drain(struct td *t, int ms)
{
    int64_t end = now_ms() + ms;
    for (;;) {
        char buf[65536];
        ssize_t n = read(t->master, buf, sizeof buf);
        if (n > 0)
            continue;
        int left = (int)(end - now_ms());
        if (left <= 0)
            break;
        struct pollfd pf = {t->master, POLLIN, 0};
        poll(&pf, 1, left);
    }
}

void td_send(struct td *t, const char *bytes, size_t len)
{
    write_all(t->master, bytes, len);
}

void td_type(struct td *t, const char *bytes)
{
    td_send(t, bytes, strlen(bytes));
}

void td_key(struct td *t, VTermKey key, VTermModifier mod)
{
    vterm_keyboard_key(t->vt, key, mod);
}

static void mouse(struct td *t, int button, int row, int col, char final)
{
    char seq[64];
    int n = snprintf(seq, sizeof seq, "\033[<%d;%d;%d%c", button, col + 1, row + 1, final);
    td_send(t, seq, (size_t)n);
}

void td_press(struct td *t, int row, int col)
{
    mouse(t, 0, row, col, 'M');
}

void td_release(struct td *t, int row, int col)
{
    mouse(t, 0, row, col, 'm');
}

void td_click(struct td *t, int row, int col)
{
    td_press(t, row, col);
    td_pump(t, 20); /* a hand takes time between the two */
    td_release(t, row, col);
}

void td_wheel(struct td *t, int row, int col, bool up)
{
    mouse(t, up ? 64 : 65, row, col, 'M');
}

void td_resize(struct td *t, int rows, int cols)
{
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(t->master, TIOCSWINSZ, &ws);
    t->rows = rows;
    t->cols = cols;
    vterm_set_size(t->vt, rows, cols);
    vterm_screen_flush_damage(t->vs);
}

void td_size(struct td *t, int *rows, int *cols)
{
    *rows = t->rows;
    *cols = t->cols;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

char *td_row(struct td *t, int row)
{
    char *out = malloc((size_t)t->cols * 24 + 1);
    size_t n = 0, keep = 0;
    for (int c = 0; c < t->cols; c++) {
        VTermScreenCell cell;
        vterm_screen_get_cell(t->vs, (VTermPos){row, c}, &cell);
        if (cell.chars[0] == (uint32_t)-1)
            continue;
        if (cell.chars[0] == 0) {
            out[n++] = ' ';
            continue;
        }
        for (int k = 0; k < VTERM_MAX_CHARS_PER_CELL && cell.chars[k]; k++)
            n += put_utf8(out + n, cell.chars[k]);
        if (cell.chars[0] != ' ')
            keep = n;
    }
    out[keep] = '\0';
    return out;
}

char *td_screen(struct td *t)
{
    size_t cap = (size_t)t->rows * ((size_t)t->cols * 24 + 1) + 1, n = 0;
    char *out = malloc(cap);
    for (int r = 0; r < t->rows; r++) {
        char *line = td_row(t, r);
        size_t l = strlen(line);
        memcpy(out + n, line, l);
        n += l;
        out[n++] = '\n';
        free(line);
    }
    out[n] = '\0';
    return out;
}

bool td_find(struct td *t, const char *text, int *row, int *col)
{
    for (int r = 0; r < t->rows; r++) {
        char *line = td_row(t, r);
        char *p = strstr(line, text);
        if (p) {
            if (row)
                *row = r;
            if (col) {
                /* Columns, not bytes: count the characters before p. */
                int c = 0;
                for (char *q = line; q < p; q++)
                    if (((unsigned char)*q & 0xC0) != 0x80)
                        c++;
                *col = c;
            }
            free(line);
            return true;
        }
        free(line);
    }
    return false;
}

int td_row_of(struct td *t, const char *text)
{
    int r, c;
    return td_find(t, text, &r, &c) ? r : -1;
}

bool td_above(struct td *t, void *arg)
{
    const char *const *two = arg;
    int a = td_row_of(t, two[0]), b = td_row_of(t, two[1]);
    return a >= 0 && b >= 0 && a < b;
}

void td_cell(struct td *t, int row, int col, VTermScreenCell *cell)
{
    vterm_screen_get_cell(t->vs, (VTermPos){row, col}, cell);
}

bool td_cursor(struct td *t, int *row, int *col)
{
    VTermPos pos;
    vterm_state_get_cursorpos(vterm_obtain_state(t->vt), &pos);
    *row = pos.row;
    *col = pos.col;
    return true;
}

/* Feeds the oracle what is readable now; true if anything came. */
static bool read_available(struct td *t)
{
    bool got = false;
    for (;;) {
        char buf[65536];
        ssize_t n = read(t->master, buf, sizeof buf);
        if (n <= 0)
            break;
        oracle_write(t, buf, (size_t)n);
        got = true;
    }
    if (got)
        vterm_screen_flush_damage(t->vs);
    return got;
}

bool td_wait(struct td *t, bool (*pred)(struct td *t, void *arg), void *arg, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    read_available(t);
    for (;;) {
        if (pred(t, arg))
            return true;
        int left = (int)(end - now_ms());
        if (left <= 0)
            return false;
        /* Wake as soon as the program prints: latencies are measured with this. */
        struct pollfd pf = {t->master, POLLIN, 0};
        poll(&pf, 1, left < 50 ? left : 50);
        if (!read_available(t)) {
            reap(t, false);
            if (t->exited && !pred(t, arg))
                return false;
        }
    }
}

static bool has_text(struct td *t, void *arg)
{
    return td_find(t, arg, NULL, NULL);
}

static bool lacks_text(struct td *t, void *arg)
{
    return !td_find(t, arg, NULL, NULL);
}

bool td_wait_text(struct td *t, const char *text, int timeout_ms)
{
    return td_wait(t, has_text, (void *)text, timeout_ms);
}

bool td_wait_gone(struct td *t, const char *text, int timeout_ms)
{
    return td_wait(t, lacks_text, (void *)text, timeout_ms);
}

struct row_arg {
    int row;
    const char *text;
};

static bool row_has(struct td *t, void *arg)
{
    struct row_arg *ra = arg;
    char *line = td_row(t, ra->row);
    bool ok = strstr(line, ra->text) != NULL;
    free(line);
    return ok;
}

bool td_wait_row(struct td *t, int row, const char *text, int timeout_ms)
{
    struct row_arg ra = {row, text};
    return td_wait(t, row_has, &ra, timeout_ms);
}

int td_wait_exit(struct td *t, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    while (!t->exited) {
        td_pump(t, 10);
        reap(t, false);
        if (now_ms() >= end)
            return -1;
    }
    return t->status;
}

void td_dump(struct td *t, const char *why)
{
    char *s = td_screen(t);
    printf("---- screen (%dx%d) %s ----\n%s----\n", t->cols, t->rows, why ? why : "", s);
    free(s);
}

void td_free(struct td *t)
{
    if (t == NULL)
        return;
    if (!t->exited) {
        kill(t->pid, SIGTERM);
        if (td_wait_exit(t, 3000) < 0) {
            kill(t->pid, SIGKILL);
            reap(t, true);
        }
    }
    close(t->master);
    vterm_free(t->vt);
    free(t);
}

int td_quit(struct td *t, int timeout_ms)
{
    td_type(t, "\033");
    td_pump(t, 60);      /* let the lone Esc be taken as Esc, not Alt */
    td_type(t, "\002d"); /* prefix (C-b) d: quits from any pane */
    int st = td_wait_exit(t, timeout_ms);
    td_free(t);
    return st;
}

/* ---- the fake console ---- */

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>

struct td_fakecon {
    pid_t pid;
};

struct fc {
    int log, client;
    char line[4096];
    size_t len;
    int esc; /* inside an escape sequence from the client */
    int dsr;
    bool flooding;
    unsigned long flood_n;
    int64_t cat_start; /* catfile: waiting for the DSR answer since */
    size_t cat_bytes;
};

static void fc_out(struct fc *f, const char *s, size_t n)
{
    if (write(f->log, s, n) < 0)
        _exit(3);
    if (f->client < 0)
        return;
    /* Blocking write: a client that does not read stalls us, as it stalls QEMU. */
    int fl = fcntl(f->client, F_GETFL);
    fcntl(f->client, F_SETFL, fl & ~O_NONBLOCK);
    while (n > 0) {
        ssize_t w = write(f->client, s, n);
        if (w <= 0) {
            close(f->client);
            f->client = -1;
            break;
        }
        s += w;
        n -= (size_t)w;
    }
    if (f->client >= 0)
        fcntl(f->client, F_SETFL, fl);
}

static void fc_outs(struct fc *f, const char *s)
{
    fc_out(f, s, strlen(s));
}

static void fc_prompt(struct fc *f)
{
    fc_outs(f, "# \033[6n");
}

static void fc_command(struct fc *f, const char *cmd)
{
    char buf[4200];
    fc_outs(f, "\r\n");
    if (strncmp(cmd, "seq ", 4) == 0) {
        int n = atoi(cmd + 4);
        for (int i = 1; i <= n; i++) {
            int k = snprintf(buf, sizeof buf, "seq line %d\r\n", i);
            fc_out(f, buf, (size_t)k);
        }
    } else if (strncmp(cmd, "catfile ", 8) == 0) {
        /* The file, then a cursor query: its answer comes once the client's
         * emulator has parsed every byte before it. */
        int fd = open(cmd + 8, O_RDONLY);
        f->cat_bytes = 0;
        f->cat_start = now_ms();
        for (ssize_t n; fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0;) {
            fc_out(f, buf, (size_t)n);
            f->cat_bytes += (size_t)n;
        }
        if (fd >= 0)
            close(fd);
        fc_outs(f, "\033[0m\033[6n");
        return;
    } else if (strcmp(cmd, "flood") == 0) {
        f->flooding = true;
        return;
    } else if (strcmp(cmd, "dsr") == 0) {
        snprintf(buf, sizeof buf, "dsr answers: %d\r\n", f->dsr);
        fc_outs(f, buf);
    } else if (strncmp(cmd, "stty", 4) == 0) {
        snprintf(buf, sizeof buf, "stty:%s\r\n", cmd + 4);
        fc_outs(f, buf);
    } else if (cmd[0]) {
        snprintf(buf, sizeof buf, "echo: %s\r\n", cmd);
        fc_outs(f, buf);
    }
    fc_prompt(f);
}

static void fc_input(struct fc *f, const char *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (f->esc) {
            /* Swallow ESC [ ... final; count cursor position reports. */
            if (f->esc == 1 && c != '[') {
                f->esc = 0;
                continue;
            }
            f->esc = 2;
            if (c >= 0x40 && c <= 0x7e && c != '[') {
                if (c == 'R')
                    f->dsr++;
                if (c == 'R' && f->cat_start) {
                    char msg[160];
                    double ms = (double)(now_ms() - f->cat_start);
                    snprintf(msg, sizeof msg, "\r\ncatfile: %zu bytes in %.0f ms = %.2f MB/s\r\n",
                             f->cat_bytes, ms, (double)f->cat_bytes / 1e6 / (ms / 1000.0));
                    f->cat_start = 0;
                    fc_outs(f, msg);
                    fc_prompt(f);
                }
                f->esc = 0;
            }
            continue;
        }
        if (c == 0x1b) {
            f->esc = 1;
        } else if (c == 0x03) {
            if (f->flooding) {
                f->flooding = false;
                fc_outs(f, "\033[0m\r\n^C\r\n");
                fc_prompt(f);
            }
            f->len = 0;
        } else if (c == '\r' || c == '\n') {
            f->line[f->len] = '\0';
            f->len = 0;
            fc_command(f, f->line);
        } else if (c == 0x7f || c == 0x08) {
            if (f->len > 0) {
                f->len--;
                fc_outs(f, "\b \b");
            }
        } else if (f->len + 1 < sizeof f->line) {
            f->line[f->len++] = (char)c;
            fc_out(f, (const char *)&c, 1);
        }
    }
}

static void fc_serve(const char *dir, const char *banner)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/console.sock", dir);
    unlink(path);
    int ls = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path)
        _exit(2);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4) < 0)
        _exit(2);
    snprintf(path, sizeof path, "%s/console.log", dir);
    struct fc f = {.log = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600), .client = -1};
    if (f.log < 0)
        _exit(2);
    /* The boot: logged even though nobody is connected yet. */
    fc_outs(&f, banner);
    fc_outs(&f, "\r\n");
    fc_prompt(&f);
    for (;;) {
        struct pollfd p[2] = {{ls, POLLIN, 0}, {f.client, POLLIN, 0}};
        int np = f.client >= 0 ? 2 : 1;
        if (poll(p, (nfds_t)np, f.flooding ? 0 : 1000) < 0 && errno != EINTR)
            _exit(2);
        if (p[0].revents & POLLIN) {
            int c = accept(ls, NULL, NULL);
            if (c >= 0 && f.client >= 0)
                close(c); /* one client, like QEMU */
            else if (c >= 0) {
                f.client = c;
                f.esc = 0; /* a new terminal: nothing half-typed carries over */
                f.len = 0;
            }
        }
        if (np == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            char buf[4096];
            ssize_t n = read(f.client, buf, sizeof buf);
            if (n <= 0) {
                close(f.client);
                f.client = -1;
                f.flooding = false;
            } else {
                fc_input(&f, buf, (size_t)n);
            }
        }
        if (f.flooding) {
            char chunk[8192];
            size_t k = 0;
            while (k < sizeof chunk - 128) {
                f.flood_n++;
                k += (size_t)snprintf(chunk + k, sizeof chunk - k,
                                      "\033[3%lumflood %lu \033[1mdrwxr-xr-x\033[0m root root "
                                      "4096 /proc/%lu/task\r\n",
                                      f.flood_n % 8, f.flood_n, f.flood_n);
            }
            fc_out(&f, chunk, k);
        }
    }
}

struct td_fakecon *td_fakecon_start(const char *dir, const char *banner)
{
    struct td_fakecon *f = calloc(1, sizeof *f);
    char sock[4200];
    snprintf(sock, sizeof sock, "%s/console.sock", dir);
    unlink(sock);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        /* Dies with the test, and holds none of its pipes open. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
        signal(SIGPIPE, SIG_IGN);
        fc_serve(dir, banner);
        _exit(0);
    }
    f->pid = pid;
    /* Ready once the socket exists. */
    for (int i = 0; i < 500 && access(sock, F_OK) != 0; i++)
        usleep(2000);
    return f;
}

void td_fakecon_stop(struct td_fakecon *f)
{
    if (f == NULL)
        return;
    kill(f->pid, SIGKILL);
    waitpid(f->pid, NULL, 0);
    free(f);
}
