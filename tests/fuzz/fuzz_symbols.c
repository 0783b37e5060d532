/*
 * fuzz_symbols.c - ELF files of the device's rootfs: whoever made the
 * device (or a process in it that writes to its own files) chose their
 * bytes, and the debugger reads them on the host through core/symbols.c
 * (libelf). The input is the ELF file, written to a scratch rootfs as
 * /bin/prog with a symlink /lib/link.so -> /bin/prog, then loaded twice:
 *
 *   symbols_add_file   at a fixed bias
 *   symbols_load_maps  from a device process's maps naming both paths
 *                      (chroot-style resolving, the bias from the segments,
 *                      the second mapping at an offset taken from the input)
 *
 * and used as the debugger does: symbols_at, _format, _thumb_at, _read,
 * _lookup and _parse_location at addresses around the load addresses and
 * at four taken from the input's last bytes.
 *
 * Promises checked: a symbol found at an address is found again by its
 * name and its name parses as a location; the offset is the distance from
 * the symbol; formatting fits the buffer; a read never claims more than
 * was asked; thumb_at answers -1, 0 or 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/symbols.h"
#include "tests/fuzz/fuzz.h"

#define SYMF_BIAS 0x10000u
#define SYMF_MAP 0x400000u

static char *symf_dir;

static void symf_cleanup(void)
{
    char *cmd = xasprintf("rm -rf '%s'", symf_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_symbols: could not remove %s\n", symf_dir);
    free(cmd);
}

/* The scratch rootfs, made once per process. */
static const char *symf_root(void)
{
    if (symf_dir != NULL)
        return symf_dir;
    const char *tmp = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/iotbench-fuzz-symbols.XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(tmpl) == NULL)
        fuzz_fail("mkdtemp %s: %s", tmpl, strerror(errno));
    symf_dir = tmpl;
    atexit(symf_cleanup);
    char *p = xasprintf("%s/rootfs", symf_dir);
    char *bin = xasprintf("%s/rootfs/bin", symf_dir);
    char *lib = xasprintf("%s/rootfs/lib", symf_dir);
    char *link = xasprintf("%s/rootfs/lib/link.so", symf_dir);
    if (mkdir(p, 0700) < 0 || mkdir(bin, 0700) < 0 || mkdir(lib, 0700) < 0 ||
        symlink("/bin/prog", link) < 0)
        fuzz_fail("scratch rootfs %s: %s", p, strerror(errno));
    free(p);
    free(bin);
    free(lib);
    free(link);
    return symf_dir;
}

static void symf_write(const char *path, const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fuzz_fail("%s: %s", path, strerror(errno));
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            fuzz_fail("%s: %s", path, strerror(errno));
        off += (size_t)n;
    }
    close(fd);
}

static uint64_t symf_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void symf_probe(const struct symbols *sy, uint64_t addr)
{
    struct symbol s;
    uint64_t off = 0;
    if (symbols_at(sy, addr, &s, &off)) {
        if (s.name == NULL || s.name[0] == '\0' || s.module == NULL)
            fuzz_fail("symbol at 0x%llx without a name or module", (unsigned long long)addr);
        if (off != addr - s.addr)
            fuzz_fail("%s: offset 0x%llx for 0x%llx - 0x%llx", s.name, (unsigned long long)off,
                      (unsigned long long)addr, (unsigned long long)s.addr);
        struct symbol again;
        if (symbols_lookup(sy, s.name, &again) < 0 || strcmp(again.name, s.name) != 0)
            fuzz_fail("\"%s\" found at 0x%llx but not by its name", s.name,
                      (unsigned long long)addr);
        uint64_t where;
        bool thumb;
        struct ib_error err = {0};
        if (strchr(s.name, '+') == NULL &&
            symbols_parse_location(sy, s.name, &where, &thumb, &err) < 0)
            fuzz_fail("\"%s\" does not parse as a location: %s", s.name, err.msg);
    }
    char small[12], big[256];
    symbols_format(sy, addr, small, sizeof small);
    symbols_format(sy, addr, big, sizeof big);
    if (strlen(small) >= sizeof small || strlen(big) >= sizeof big)
        fuzz_fail("format overflowed its buffer");
    int t = symbols_thumb_at(sy, addr);
    if (t < -1 || t > 1)
        fuzz_fail("thumb_at 0x%llx = %d", (unsigned long long)addr, t);
    uint8_t buf[256];
    size_t got = symbols_read(sy, addr, buf, sizeof buf);
    if (got > sizeof buf)
        fuzz_fail("read %zu of %zu bytes", got, sizeof buf);
}

static void symf_use(const struct symbols *sy, const uint8_t *data, size_t size)
{
    static const char *const WHERE[] = {"main", "_start", "main+0x10", "0x400000",
                                        "1",    "+4",     "main+",     "handle_request+0x8"};
    for (size_t i = 0; i < IB_ARRAY_LEN(WHERE); i++) {
        uint64_t addr;
        bool thumb;
        if (symbols_parse_location(sy, WHERE[i], &addr, &thumb, NULL) == 0)
            symf_probe(sy, addr);
    }
    static const uint64_t BASES[] = {0, SYMF_BIAS, SYMF_MAP, SYMF_MAP + 0x80000};
    for (size_t b = 0; b < IB_ARRAY_LEN(BASES); b++)
        for (uint64_t off = 0; off < 0x2000; off += 0x3f1)
            symf_probe(sy, BASES[b] + off);
    for (size_t k = 0; k < 4 && size >= 32; k++)
        symf_probe(sy, symf_u64(data + size - 32 + 8 * k));
    symf_probe(sy, UINT64_MAX);
}

FUZZ_ENTRY(symbols)
{
    const char *root = symf_root();
    char *prog = xasprintf("%s/rootfs/bin/prog", root);
    char *rootfs = xasprintf("%s/rootfs", root);
    symf_write(prog, data, size);

    struct symbols *sy = symbols_new();
    struct ib_error err = {0};
    if (symbols_add_file(sy, prog, "/bin/prog", SYMF_BIAS, &err) < 0 && err.msg[0] == '\0')
        fuzz_fail("add_file refused without a message");
    fuzz_debug("add_file: %zu symbols (%s)", symbols_count(sy), err.msg);
    symf_use(sy, data, size);
    symbols_free(sy);

    /* As the debugger loads a device process: its maps, the files in rootfs. */
    uint64_t off2 = size >= 40 ? symf_u64(data + size - 40) & 0xfffff000u : 0x1000;
    struct guestproc_map v[3] = {
        {.start = SYMF_MAP,
         .end = SYMF_MAP + 0x80000,
         .perms = "r-xp",
         .inode = 7,
         .path = "/target/bin/prog"},
        {.start = SYMF_MAP + 0x80000,
         .end = SYMF_MAP + 0x90000,
         .offset = off2,
         .perms = "r-xp",
         .inode = 8,
         .path = "/target/lib/link.so"},
        {.start = SYMF_MAP + 0x90000,
         .end = SYMF_MAP + 0x91000,
         .perms = "rw-p",
         .inode = 8,
         .path = "/target/lib/link.so"},
    };
    struct guestproc_maps maps = {.pid = 42, .where = GUESTPROC_DEVICE, .v = v, .n = 3};
    sy = symbols_new();
    char *notes = NULL;
    int loaded = symbols_load_maps(sy, rootfs, &maps, &notes, &err);
    if (loaded < 0 || loaded > 2 || symbols_modules(sy) != (size_t)loaded)
        fuzz_fail("load_maps: %d loaded, %zu modules", loaded, symbols_modules(sy));
    fuzz_debug("load_maps: %d modules, %zu symbols, notes: %s", loaded, symbols_count(sy),
               notes ? notes : "none");
    symf_use(sy, data, size);
    free(notes);
    symbols_free(sy);
    free(prog);
    free(rootfs);
    return 0;
}
