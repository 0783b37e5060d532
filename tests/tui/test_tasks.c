/*
 * test_tasks.c - the workbench's long operations, headless in a pty: device
 * export and import from the devices pane (path prompt, progress bar in the
 * status line, the result or the error in the device's detail, replace and
 * cancel), the snapshot list of an instance (save, load, delete with a name
 * prompt and a progress bar, an error explained) against the stand-in
 * instance of tests/tui/fakeguest.c, and how an instance started: warm
 * with its warm state's date, or cold.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/cmd.h"
#include "tests/lib/harness.h"
#include "tests/lib/tdcheck.h"
#include "tests/lib/tuidrive.h"
#include "tests/tui/fakeguest.c"

#define KERNEL "virt.cortex-a15.little-6.1.176"
#define HOSTFS "virt.cortex-a15.little-6.1.176.ext2"
#define BIG_MB 64

static struct fakeguest *fake_cold, *fake_warm;
static long long warm_ms;

static void stop_fakes(void)
{
    fg_stop(fake_cold);
    fg_stop(fake_warm);
    fake_cold = fake_warm = NULL;
}

static void add_device(const char *h, const char *alias)
{
    char cfg[4300], src[4300], keep[4300];
    snprintf(cfg, sizeof cfg, "%s/devices/%s/config.yaml", h, alias);
    snprintf(src, sizeof src, "%s/devices/demo/config.yaml", test_src_dir());
    char *text = test_read_file(src);
    test_write_file(cfg, text);
    free(text);
    snprintf(keep, sizeof keep, "%s/devices/%s/rootfs/etc/hostname", h, alias);
    test_write_file(keep, alias);
}

static const char *home(void)
{
    static char h[4096];
    if (h[0])
        return h;
    snprintf(h, sizeof h, "%s", test_path("home"));
    test_write_file(test_path("src/zImage"), "not really a kernel\n");
    test_write_file(test_path("src/fs.img"), "not really a filesystem\n");
    struct cmd_result r;
    ib_run(&r, h, "kernel", "add", test_path("src/zImage"), "--name", KERNEL, NULL);
    cmd_result_free(&r);
    ib_run(&r, h, "fs", "add", test_path("src/fs.img"), "--name", HOSTFS, NULL);
    cmd_result_free(&r);
    add_device(h, "demo");
    add_device(h, "big");
    /* Incompressible bytes, so that the export takes a while. */
    char blob[4300];
    snprintf(blob, sizeof blob, "%s/devices/big/rootfs/blob", h);
    int in = open("/dev/urandom", O_RDONLY), out = open(blob, O_WRONLY | O_CREAT, 0644);
    char buf[65536];
    for (int i = 0; i < BIG_MB * 16 && in >= 0 && out >= 0; i++)
        if (read(in, buf, sizeof buf) != (ssize_t)sizeof buf ||
            write(out, buf, sizeof buf) != (ssize_t)sizeof buf)
            break;
    close(in);
    close(out);
    /* A warm state made on 2 January at 03:04:05 local time. */
    struct tm tm = {.tm_year = 2025 - 1900,
                    .tm_mon = 0,
                    .tm_mday = 2,
                    .tm_hour = 3,
                    .tm_min = 4,
                    .tm_sec = 5,
                    .tm_isdst = -1};
    warm_ms = (long long)mktime(&tm) * 1000;
    fake_cold = fg_start(h, "fcold", 0);
    fake_warm = fg_start(h, "fwarm", warm_ms);
    test_on_exit(stop_fakes);
    return h;
}

static struct td *open_tui(void)
{
    return td_start(&(struct td_opts){.home = home(), .rows = 40, .cols = 140});
}

#define WAITT(t, text, ms) TD_WAIT_TEXT(t, text, ms)
#define WAIT(t, text) WAITT(t, text, 5000)

#define TCHECK(t, cond) TD_CHECK(t, cond)

/* The status line shows a progress bar with a percentage. */
static bool status_bar_progress(struct td *t, void *arg)
{
    int rows, cols;
    td_size(t, &rows, &cols);
    char *last = td_row(t, rows - 1);
    bool ok = strstr(last, (const char *)arg) != NULL && strchr(last, '%') != NULL;
    free(last);
    return ok;
}

TEST(export_shows_progress_and_the_result_then_replaces_on_request)
{
    struct td *t = open_tui();
    WAIT(t, "DEVICES (2)");
    td_type(t, ":device check big\r");
    WAIT(t, "Device big");
    td_type(t, "e");
    WAIT(t, "Export big to: ");
    char file[4300];
    snprintf(file, sizeof file, "%s", test_path("out/big.piotr"));
    mkdir(test_path("out"), 0700);
    char line[4400];
    snprintf(line, sizeof line, "\025%s\r", file);
    td_type(t, line);
    TCHECK(t, td_wait(t, status_bar_progress, "export big", 10000));
    WAIT(t, "progress");
    WAITT(t, "exported big to", 60000);
    WAIT(t, "done");
    struct stat sb;
    TCHECK(t, stat(file, &sb) == 0 && sb.st_size > (BIG_MB - 1) * 1024 * 1024);
    /* Again to the same file: asked first. */
    td_type(t, "e");
    WAIT(t, "Export big to: ");
    td_type(t, line);
    WAIT(t, "big.piotr exists: replace it? (y/n)");
    td_type(t, "n");
    WAIT(t, "cancelled");
    td_type(t, "e");
    td_type(t, line);
    WAIT(t, "replace it?");
    td_type(t, "y");
    TCHECK(t, td_wait(t, status_bar_progress, "export big", 10000));
    WAITT(t, "exported big to", 60000);
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(export_can_be_cancelled_and_leaves_nothing)
{
    struct td *t = open_tui();
    WAIT(t, "DEVICES (2)");
    td_type(t, ":device check big\r");
    WAIT(t, "Device big");
    td_type(t, "e");
    WAIT(t, "Export big to: ");
    char file[4300], line[4400];
    snprintf(file, sizeof file, "%s", test_path("out2.piotr"));
    snprintf(line, sizeof line, "\025%s\r", file);
    td_type(t, line);
    TCHECK(t, td_wait(t, status_bar_progress, "export big", 10000));
    WAIT(t, "C Cancel");
    td_type(t, "C");
    WAITT(t, "export failed", 20000);
    WAIT(t, "interrupted");
    TCHECK(t, access(file, F_OK) != 0);
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(import_makes_a_device_and_errors_are_shown)
{
    struct td *t = open_tui();
    WAIT(t, "DEVICES (2)");
    /* An archive of demo, made by the CLI. */
    char file[4300];
    snprintf(file, sizeof file, "%s", test_path("demo.piotr"));
    struct cmd_result r;
    ib_run(&r, home(), "device", "export", "demo", file, NULL);
    TCHECK(t, r.status == 0);
    cmd_result_free(&r);
    td_type(t, ":device check demo\r");
    WAIT(t, "Device demo");
    WAIT(t, "[i] import");
    td_type(t, "i");
    WAIT(t, "Import a package (FILE [ALIAS]):");
    char line[4400];
    snprintf(line, sizeof line, "%s copy1\r", file);
    td_type(t, line);
    WAITT(t, "as copy1", 30000);
    WAIT(t, "manifest verified");
    WAIT(t, "DEVICES (3)");
    WAIT(t, "Device copy1"); /* selected once imported */
    /* The same alias again: refused, and said why. */
    td_type(t, "i");
    WAIT(t, "Import a package");
    td_type(t, line);
    WAITT(t, "import failed", 30000);
    WAIT(t, "already exists");
    /* Not an archive at all. */
    test_write_file(test_path("junk.piotr"), "this is no gzip tar\n");
    snprintf(line, sizeof line, "i%s junk\r", test_path("junk.piotr"));
    td_type(t, line);
    WAITT(t, "import failed: cannot read junk.piotr", 30000);
    /* No such file: said at once. */
    td_type(t, "i/nonexistent/x.piotr\r");
    WAIT(t, "no file /nonexistent/x.piotr");
    WAIT(t, "DEVICES (3)");
    CHECK_INT(td_quit(t, 5000), 0);
}

TEST(snapshot_list_save_load_delete_with_progress_and_errors)
{
    struct td *t = open_tui();
    WAIT(t, "fcold (demo)");
    td_type(t, ":snapshots fcold\r");
    WAIT(t, "snapshots of fcold");
    WAIT(t, "no snapshots yet");
    td_type(t, "n");
    WAIT(t, "Save a snapshot of fcold as: snap-");
    td_type(t, "\025first\r");
    TCHECK(t, td_wait(t, status_bar_progress, "save first", 5000));
    WAIT(t, "save first: saving snapshot");
    WAITT(t, "snapshot first of fcold: save done", 10000);
    WAIT(t, "1 snapshot");
    WAIT(t, "43.0 MiB");
    td_type(t, "l");
    WAIT(t, "Load into fcold (it goes back to that moment): first");
    td_type(t, "\r");
    WAITT(t, "snapshot first of fcold: load done", 10000);
    /* A refusal is explained. */
    td_type(t, "n\025bad1\r");
    WAITT(t, "snapshot save bad1: saving snapshot failed", 10000);
    WAIT(t, "does not support snapshots");
    WAIT(t, "1 snapshot");
    /* Delete the selected one. */
    td_type(t, "x");
    WAIT(t, "Delete the snapshot of fcold named: first");
    td_type(t, "\r");
    WAITT(t, "snapshot first of fcold: delete done", 10000);
    WAIT(t, "no snapshots yet");
    CHECK_INT(td_quit(t, 5000), 0);
}

static bool title_says_cold(struct td *t, void *arg)
{
    (void)arg;
    int r, c;
    if (!td_find(t, "1:fcold", &r, &c))
        return false;
    char *row = td_row(t, r);
    bool cold = strstr(row, " cold ") != NULL && strstr(row, "warm") == NULL;
    free(row);
    return cold;
}

TEST(detail_and_console_title_say_warm_or_cold)
{
    struct td *t = open_tui();
    WAIT(t, "fwarm (demo)");
    td_type(t, ":procs fwarm\r\033");
    WAIT(t, "warm: restored from the warm state made 2025-01-02 03:04:05");
    td_type(t, ":console fwarm\r");
    WAIT(t, "1:fwarm");
    WAIT(t, "warm (01-02 03:04)");
    td_type(t, "\002c"); /* close that console */
    TCHECK(t, td_wait_gone(t, "1:fwarm", 5000));
    td_type(t, ":procs fcold\r\033");
    WAIT(t, "cold: booted");
    td_type(t, ":console fcold\r");
    WAIT(t, "1:fcold");
    /* The rest of the title row may come in a later read: wait for it. */
    TCHECK(t, td_wait(t, title_says_cold, NULL, 5000));
    CHECK_INT(td_quit(t, 5000), 0);
}
