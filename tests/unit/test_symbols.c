/* test_symbols.c - core/symbols and core/disasm on ELF files made here
 * with libelf (ARM and Thumb functions, mapping symbols, an alias, a
 * local twin, .bss), loaded as an executable and as a PIE at a bias from
 * maps; path resolution inside a rootfs that tries to escape; and ELF
 * files cut short or with flipped bytes, none of which may crash. */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/disasm.h"
#include "core/guestproc.h"
#include "core/symbols.h"
#include "core/util.h"
#include "tests/lib/harness.h"

#define BASE 0x10000u

/* push {r4, lr}; pop {r4, pc} (ARM) | push {r4, lr}; pop {r4, pc} (Thumb) |
 * .word 0xdeadbeef | bl arm_func (ARM) */
static const uint8_t CODE[] = {0x10, 0x40, 0x2d, 0xe9, 0x10, 0x80, 0xbd, 0xe8, 0x10, 0xb5,
                               0x10, 0xbd, 0xef, 0xbe, 0xad, 0xde, 0xfa, 0xff, 0xff, 0xeb};

static const char STRTAB[] = "\0$a\0$t\0$d\0twin\0arm_func\0thumb_func\0table\0bss_var\0";
enum { S_A = 1, S_T = 4, S_D = 7, S_TWIN = 10, S_ARM = 15, S_THUMB = 24, S_TABLE = 35, S_BSS = 41 };
static const char SHSTRTAB[] = "\0.text\0.symtab\0.strtab\0.shstrtab\0";

static size_t text_off; /* where libelf put .text: its address is BASE + text_off */

static Elf_Scn *section(Elf *e, int name, int type, const void *buf, size_t size, int dtype)
{
    Elf_Scn *scn = elf_newscn(e);
    Elf_Data *d = elf_newdata(scn);
    d->d_buf = (void *)buf;
    d->d_size = size;
    d->d_type = (Elf_Type)dtype;
    d->d_align = 4;
    d->d_version = EV_CURRENT;
    Elf32_Shdr *sh = elf32_getshdr(scn);
    sh->sh_name = (Elf32_Word)name;
    sh->sh_type = (Elf32_Word)type;
    return scn;
}

/* Writes the test ELF (ET_EXEC or ET_DYN) and returns its size. */
static size_t write_elf(const char *path, bool dyn)
{
    if (elf_version(EV_CURRENT) == EV_NONE)
        abort();
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    Elf *e = elf_begin(fd, ELF_C_WRITE, NULL);
    Elf32_Ehdr *eh = elf32_newehdr(e);
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_machine = EM_ARM;
    eh->e_type = dyn ? ET_DYN : ET_EXEC;
    eh->e_version = EV_CURRENT;
    Elf32_Phdr *ph = elf32_newphdr(e, 1);
    Elf32_Sym syms[11];
    memset(syms, 0, sizeof syms);
    Elf_Scn *text = section(e, 1, SHT_PROGBITS, CODE, sizeof CODE, ELF_T_BYTE);
    elf32_getshdr(text)->sh_flags = SHF_ALLOC | SHF_EXECINSTR;
    Elf_Scn *symtab = section(e, 7, SHT_SYMTAB, syms, sizeof syms, ELF_T_SYM);
    Elf_Scn *strtab = section(e, 15, SHT_STRTAB, STRTAB, sizeof STRTAB, ELF_T_BYTE);
    Elf_Scn *shstr = section(e, 23, SHT_STRTAB, SHSTRTAB, sizeof SHSTRTAB, ELF_T_BYTE);
    elf32_getshdr(symtab)->sh_link = (Elf32_Word)elf_ndxscn(strtab);
    elf32_getshdr(symtab)->sh_info = 6; /* first global */
    elf32_getshdr(symtab)->sh_entsize = sizeof(Elf32_Sym);
    eh->e_shstrndx = (Elf32_Half)elf_ndxscn(shstr);
    /* Lay out first, then fill in the addresses that depend on it. */
    off_t size = elf_update(e, ELF_C_NULL);
    text_off = elf32_getshdr(text)->sh_offset;
    uint32_t t = BASE + (uint32_t)text_off;
    uint16_t ndx = (uint16_t)elf_ndxscn(text);
    struct {
        int name, type, bind;
        uint32_t value, size;
    } s[11] = {{0, 0, 0, 0, 0},
               {S_A, STT_NOTYPE, STB_LOCAL, t, 0},
               {S_T, STT_NOTYPE, STB_LOCAL, t + 8, 0},
               {S_D, STT_NOTYPE, STB_LOCAL, t + 12, 0},
               {S_A, STT_NOTYPE, STB_LOCAL, t + 16, 0},
               {S_TWIN, STT_FUNC, STB_LOCAL, t + 16, 4}, /* a local "twin" */
               {S_ARM, STT_FUNC, STB_GLOBAL, t, 8},
               {S_THUMB, STT_FUNC, STB_GLOBAL, (t + 8) | 1, 4},
               {S_TABLE, STT_OBJECT, STB_GLOBAL, t + 12, 4},
               {S_TWIN, STT_FUNC, STB_GLOBAL, t, 8}, /* the global one, an alias */
               {S_BSS, STT_OBJECT, STB_GLOBAL, BASE + (uint32_t)size + 0x10, 4}};
    for (int i = 1; i < 11; i++) {
        syms[i].st_name = (Elf32_Word)s[i].name;
        syms[i].st_value = s[i].value;
        syms[i].st_size = s[i].size;
        syms[i].st_info = ELF32_ST_INFO(s[i].bind, s[i].type);
        syms[i].st_shndx = ndx;
    }
    ph->p_type = PT_LOAD;
    ph->p_offset = 0;
    ph->p_vaddr = ph->p_paddr = BASE;
    ph->p_filesz = (Elf32_Word)size;
    ph->p_memsz = (Elf32_Word)size + 0x100; /* .bss after the file */
    ph->p_flags = PF_R | PF_X;
    ph->p_align = 0x1000;
    elf_flagphdr(e, ELF_C_SET, ELF_F_DIRTY);
    elf_flagdata(elf_getdata(symtab, NULL), ELF_C_SET, ELF_F_DIRTY);
    size = elf_update(e, ELF_C_WRITE);
    elf_end(e);
    close(fd);
    return size < 0 ? 0 : (size_t)size;
}

TEST(symbols_of_an_arm_executable)
{
    const char *path = test_path("prog");
    CHECK(write_elf(path, false) > 0);
    struct symbols *sy = symbols_new();
    struct ib_error err = {0};
    CHECK_MSG(symbols_add_file(sy, path, "/usr/bin/prog", 0, &err) == 0, "%s", err.msg);
    uint64_t t = BASE + text_off;
    struct symbol s;
    CHECK(symbols_lookup(sy, "arm_func", &s) == 0);
    CHECK(s.addr == t && !s.thumb && s.func && s.size == 8);
    CHECK_STR(s.module, "/usr/bin/prog");
    CHECK(symbols_lookup(sy, "thumb_func", &s) == 0);
    CHECK(s.addr == t + 8 && s.thumb); /* the Thumb bit is cleared */
    CHECK(symbols_lookup(sy, "twin", &s) == 0);
    CHECK(s.addr == t);                      /* the global one wins over the local twin */
    CHECK(symbols_lookup(sy, "$a", &s) < 0); /* mapping symbols are not names */
    CHECK(symbols_lookup(sy, "nosuch", &s) < 0);
    uint64_t off;
    CHECK(symbols_at(sy, t + 4, &s, &off));
    CHECK_STR(s.name, "arm_func"); /* of two names at one address, the first */
    CHECK(off == 4);
    char buf[128];
    symbols_format(sy, t + 10, buf, sizeof buf);
    CHECK_STR(buf, "thumb_func+0x2");
    symbols_format(sy, t + 12, buf, sizeof buf);
    CHECK_STR(buf, "table");
    symbols_format(sy, 0x99999, buf, sizeof buf);
    CHECK_STR(buf, "0x99999");
    CHECK_INT(symbols_thumb_at(sy, t + 2), 0);
    CHECK_INT(symbols_thumb_at(sy, t + 10), 1);
    CHECK_INT(symbols_thumb_at(sy, t + 12), -1); /* $d: data */
    CHECK_INT(symbols_thumb_at(sy, t + 16), 0);
    CHECK_INT(symbols_thumb_at(sy, 0x5000), -1);
    /* Bytes at run-time addresses come from the file; .bss reads as zero. */
    uint8_t got[8];
    CHECK_INT(symbols_read(sy, t + 8, got, 4), 4);
    CHECK(memcmp(got, CODE + 8, 4) == 0);
    CHECK(symbols_lookup(sy, "bss_var", &s) == 0);
    memset(got, 0xff, sizeof got);
    CHECK_INT(symbols_read(sy, s.addr, got, 4), 4);
    CHECK(got[0] == 0 && got[3] == 0);
    CHECK_INT(symbols_read(sy, 0x5000, got, 4), 0);
    /* Locations as the debugger takes them. */
    uint64_t a;
    bool thumb;
    CHECK(symbols_parse_location(sy, "thumb_func", &a, &thumb, &err) == 0);
    CHECK(a == t + 8 && thumb);
    CHECK(symbols_parse_location(sy, "arm_func+4", &a, &thumb, &err) == 0);
    CHECK(a == t + 4 && !thumb);
    snprintf(buf, sizeof buf, "0x%llx", (unsigned long long)(t + 9));
    CHECK(symbols_parse_location(sy, buf, &a, &thumb, &err) == 0);
    CHECK(a == t + 8 && thumb); /* bit 0 means Thumb */
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)(t + 8));
    CHECK(symbols_parse_location(sy, buf, &a, &thumb, &err) == 0);
    CHECK(a == t + 8 && thumb); /* from the $t mapping symbol */
    CHECK(symbols_parse_location(sy, "nosuch", &a, &thumb, &err) < 0);
    CHECK_INT(err.status, IB_ENOTFOUND);
    CHECK(symbols_parse_location(sy, "arm_func+zz", &a, &thumb, &err) < 0);
    CHECK_INT(err.status, IB_EINPUT);
    CHECK(symbols_parse_location(sy, "", &a, &thumb, &err) < 0);
    symbols_free(sy);
}

TEST(symbols_of_a_pie_at_its_load_address)
{
    char *root = xasprintf("%s/rootfs", test_tmpdir());
    char *bin = xasprintf("%s/usr/bin", root);
    CHECK(ib_mkdir_p(bin, 0755, NULL) == 0);
    char *path = xasprintf("%s/pie", bin);
    CHECK(write_elf(path, true) > 0);
    struct guestproc_map v[3] = {{.start = 0x400000, .end = 0x401000, .offset = 0, .inode = 7},
                                 {.start = 0x500000, .end = 0x501000, .inode = 0},
                                 {.start = 0x600000, .end = 0x601000, .inode = 8}};
    snprintf(v[0].perms, 5, "r-xp");
    snprintf(v[1].perms, 5, "rw-p");
    snprintf(v[2].perms, 5, "r-xp");
    v[0].path = "/target/usr/bin/pie";
    v[1].path = "[heap]";
    v[2].path = "/usr/lib/outside.so"; /* not under the device root */
    struct guestproc_maps maps = {.pid = 1, .where = GUESTPROC_DEVICE, .v = v, .n = 3};
    struct symbols *sy = symbols_new();
    char *notes = NULL;
    struct ib_error err = {0};
    CHECK_INT(symbols_load_maps(sy, root, &maps, &notes, &err), 1);
    CHECK_CONTAINS(notes, "outside the device root");
    struct symbol s;
    CHECK(symbols_lookup(sy, "arm_func", &s) == 0);
    /* The first segment (vaddr BASE, offset 0) sits at 0x400000. */
    CHECK(s.addr == 0x400000 + text_off);
    CHECK_STR(s.module, "/usr/bin/pie");
    free(notes);
    symbols_free(sy);
    /* A host-system process has no files in the rootfs. */
    maps.where = GUESTPROC_HOST;
    sy = symbols_new();
    CHECK_INT(symbols_load_maps(sy, root, &maps, &notes, &err), 0);
    CHECK_CONTAINS(notes, "not in the device");
    free(notes);
    symbols_free(sy);
    free(root), free(bin), free(path);
}

TEST(paths_resolve_inside_the_rootfs_only)
{
    char *root = xasprintf("%s/jail", test_tmpdir());
    char *lib = xasprintf("%s/usr/lib", root);
    CHECK(ib_mkdir_p(lib, 0755, NULL) == 0);
    char *f = xasprintf("%s/libc.so", lib);
    test_write_file(f, "inside");
    char *secret = xasprintf("%s/secret", test_tmpdir());
    test_write_file(secret, "outside");
    char *l1 = xasprintf("%s/lib", root), *l2 = xasprintf("%s/abs", root);
    char *l3 = xasprintf("%s/escape", root), *l4 = xasprintf("%s/loop", root);
    char *l5 = xasprintf("%s/hostsecret", root);
    CHECK(symlink("usr/lib", l1) == 0);          /* relative */
    CHECK(symlink("/usr/lib/libc.so", l2) == 0); /* absolute: from the rootfs */
    CHECK(symlink("../../../../../../secret", l3) == 0);
    CHECK(symlink("loop", l4) == 0);
    CHECK(symlink(secret, l5) == 0); /* the host's absolute path */
    char *out = NULL;
    struct ib_error err = {0};
    char *real_f = realpath(f, NULL);
    CHECK(symbols_resolve_in_root(root, "/lib/libc.so", &out, &err) == 0);
    CHECK_STR(out, real_f);
    free(out);
    CHECK(symbols_resolve_in_root(root, "/abs", &out, &err) == 0);
    CHECK_STR(out, real_f);
    free(out);
    CHECK(symbols_resolve_in_root(root, "/../../usr/./lib/../lib/libc.so", &out, &err) == 0);
    CHECK_STR(out, real_f);
    free(out);
    /* ".." stops at the rootfs: the file outside is never reached. */
    CHECK(symbols_resolve_in_root(root, "/escape", &out, &err) < 0);
    CHECK(symbols_resolve_in_root(root, "/hostsecret", &out, &err) < 0);
    CHECK(symbols_resolve_in_root(root, "/../secret", &out, &err) < 0);
    CHECK(symbols_resolve_in_root(root, "/loop", &out, &err) < 0);
    CHECK_CONTAINS(err.msg, "too many symbolic links");
    CHECK(symbols_resolve_in_root(root, "/usr/lib", &out, &err) < 0); /* a folder */
    CHECK(symbols_resolve_in_root(root, "/usr/lib/libc.so/x", &out, &err) < 0);
    free(real_f);
    free(root), free(lib), free(f), free(secret), free(l1), free(l2), free(l3), free(l4), free(l5);
}

TEST(hostile_elf_files_are_refused_or_read_safely)
{
    const char *path = test_path("good");
    size_t size = write_elf(path, false);
    CHECK(size > 0);
    char *good = NULL;
    size_t len = 0;
    CHECK(ib_read_file(path, 1 << 20, &good, &len, NULL) == 0);
    const char *bad = test_path("bad");
    struct ib_error err = {0};
    /* Every prefix. */
    for (size_t cut = 0; cut < len; cut += (cut < 64 ? 1 : 7)) {
        int fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(write(fd, good, cut) == (ssize_t)cut);
        close(fd);
        struct symbols *sy = symbols_new();
        if (symbols_add_file(sy, bad, "bad", 0, &err) == 0) {
            char buf[64];
            uint8_t b[16];
            symbols_format(sy, BASE + text_off + 2, buf, sizeof buf);
            symbols_read(sy, BASE, b, sizeof b);
        }
        symbols_free(sy);
    }
    /* Flipped bytes. */
    uint32_t seed = 7;
    for (int round = 0; round < 400; round++) {
        char *copy = xmalloc(len);
        memcpy(copy, good, len);
        for (int k = 0; k < 1 + round % 6; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            copy[at] = (char)(seed >> 16);
        }
        int fd = open(bad, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK(write(fd, copy, len) == (ssize_t)len);
        close(fd);
        struct symbols *sy = symbols_new();
        if (symbols_add_file(sy, bad, "bad", 0, &err) == 0) {
            struct symbol s;
            char buf[64];
            uint8_t b[64];
            symbols_lookup(sy, "arm_func", &s);
            symbols_format(sy, BASE + text_off + 9, buf, sizeof buf);
            symbols_thumb_at(sy, BASE + text_off + 9);
            symbols_read(sy, BASE + text_off, b, sizeof b);
        }
        symbols_free(sy);
        free(copy);
    }
    /* Not ELF at all, empty, a folder, a symlink. */
    test_write_file(bad, "#!/bin/sh\necho not elf\n");
    struct symbols *sy = symbols_new();
    CHECK(symbols_add_file(sy, bad, "bad", 0, &err) < 0);
    CHECK_CONTAINS(err.msg, "not an ELF file");
    test_write_file(bad, "");
    CHECK(symbols_add_file(sy, bad, "bad", 0, &err) < 0);
    CHECK(symbols_add_file(sy, test_tmpdir(), "dir", 0, &err) < 0);
    const char *link = test_path("link");
    CHECK(symlink(path, link) == 0);
    CHECK(symbols_add_file(sy, link, "link", 0, &err) < 0);
    CHECK_INT(symbols_count(sy), 0);
    symbols_free(sy);
    free(good);
}

TEST(disassembly_names_branch_targets)
{
    const char *path = test_path("prog2");
    CHECK(write_elf(path, false) > 0);
    struct symbols *sy = symbols_new();
    CHECK(symbols_add_file(sy, path, "prog", 0, NULL) == 0);
    uint64_t t = BASE + text_off;
    struct disasm_insn v[8];
    size_t n = disasm_arm(CODE, 8, t, false, sy, v, 8);
    CHECK_INT(n, 2);
    CHECK_STR(v[0].text, "push {r4, lr}");
    CHECK_STR(v[1].text, "pop {r4, pc}");
    CHECK_INT(v[0].size, 4);
    n = disasm_arm(CODE + 8, 4, t + 8, true, sy, v, 8);
    CHECK_INT(n, 2);
    CHECK_INT(v[0].size, 2);
    CHECK_STR(v[0].text, "push {r4, lr}");
    n = disasm_arm(CODE + 16, 4, t + 16, false, sy, v, 8);
    CHECK_INT(n, 1);
    CHECK_CONTAINS(v[0].text, "bl ");
    CHECK_CONTAINS(v[0].text, "<arm_func>");
    /* An undefined encoding does not stop the listing. */
    const uint8_t undef[] = {0xff, 0xff, 0xff, 0xff, 0x10, 0x40, 0x2d, 0xe9};
    n = disasm_arm(undef, sizeof undef, 0x1000, false, NULL, v, 8);
    CHECK_INT(n, 2);
    CHECK_STR(v[0].mnemonic, ".word");
    CHECK_STR(v[1].text, "push {r4, lr}");
    CHECK_INT(disasm_arm(undef, 3, 0x1000, false, NULL, v, 8), 0); /* less than one unit */
    symbols_free(sy);
}

struct mem {
    const uint8_t *p;
    size_t len;
    uint64_t base;
};

static size_t mem_read(void *ctx, uint64_t addr, uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    if (addr < m->base || addr >= m->base + m->len)
        return 0;
    size_t n = (size_t)(m->base + m->len - addr);
    if (n > len)
        n = len;
    memcpy(buf, m->p + (addr - m->base), n);
    return n;
}

TEST(disassembly_around_pc_keeps_pc_in_step)
{
    /* Thumb: 2-byte and 4-byte instructions mixed; pc after a 4-byte one. */
    const uint8_t thumb[] = {0x10, 0xb5,             /* push {r4, lr} */
                             0x4f, 0xf0, 0x01, 0x00, /* mov.w r0, #1 */
                             0x00, 0xbf,             /* nop */
                             0x10, 0xbd};            /* pop {r4, pc} */
    struct mem m = {thumb, sizeof thumb, 0x2000};
    struct disasm_insn v[16];
    size_t at = 99;
    size_t n = disasm_around(mem_read, &m, 0x2006, true, 2, 2, NULL, v, 16, &at);
    CHECK(n >= 3);
    CHECK(v[at].addr == 0x2006);
    CHECK_STR(v[at].text, "nop");
    CHECK(v[at - 1].addr == 0x2002);
    /* ARM at the start of readable memory: nothing before pc. */
    struct mem a = {CODE, 8, 0x3000};
    n = disasm_around(mem_read, &a, 0x3000, false, 4, 2, NULL, v, 16, &at);
    CHECK_INT(at, 0);
    CHECK_INT(n, 2);
    /* Nothing readable at all. */
    n = disasm_around(mem_read, &a, 0x9000, false, 4, 2, NULL, v, 16, &at);
    CHECK_INT(n, 0);
}
