/*
 * symbols.c - ELF symbols of a guest process; see symbols.h.
 *
 * Loading keeps only what lookups need: the PT_LOAD segments (to read file
 * bytes at an address), function and object symbols, and ARM mapping
 * symbols ($a/$t/$d, which say where ARM code, Thumb code and data lie).
 * The ELF handle is closed after loading.
 */
#include "core/symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

#define MAX_FILE_SIZE (512ull << 20)
#define MAX_SYMBOLS (4u << 20)
#define MAX_NAME 1024
#define MAX_SEGS 64
#define MAX_LINKS 40

struct seg {
    uint64_t vaddr, memsz, offset, filesz;
};

struct module {
    char *name, *path;
    uint64_t bias;
    uint64_t lo, hi; /* run-time span of its segments */
    struct seg *segs;
    size_t n_segs;
};

enum { SYM_THUMB = 1, SYM_FUNC = 2, SYM_GLOBAL = 4 };

struct sym {
    size_t name; /* offset in names */
    uint32_t module;
    uint8_t flags;
    uint64_t addr, size;
};

struct mapsym {
    uint64_t addr;
    uint32_t module;
    char kind; /* 'a', 't', 'd' */
};

struct symbols {
    struct module *mods;
    size_t n_mods;
    struct sym *syms;
    size_t n_syms, cap_syms;
    size_t *by_addr, *by_name; /* indexes into syms, sorted */
    struct mapsym *maps;
    size_t n_maps, cap_maps;
    char *names;
    size_t names_len, names_cap;
};

struct symbols *symbols_new(void)
{
    return xcalloc(1, sizeof(struct symbols));
}

void symbols_free(struct symbols *sy)
{
    if (sy == NULL)
        return;
    for (size_t i = 0; i < sy->n_mods; i++) {
        free(sy->mods[i].name);
        free(sy->mods[i].path);
        free(sy->mods[i].segs);
    }
    free(sy->mods);
    free(sy->syms);
    free(sy->by_addr);
    free(sy->by_name);
    free(sy->maps);
    free(sy->names);
    free(sy);
}

size_t symbols_count(const struct symbols *sy)
{
    return sy->n_syms;
}

size_t symbols_modules(const struct symbols *sy)
{
    return sy->n_mods;
}

static size_t add_name(struct symbols *sy, const char *s, size_t len)
{
    if (sy->names_len + len + 1 > sy->names_cap) {
        sy->names_cap = (sy->names_len + len + 1) * 2;
        sy->names = xrealloc(sy->names, sy->names_cap);
    }
    size_t off = sy->names_len;
    memcpy(sy->names + off, s, len);
    sy->names[off + len] = '\0';
    sy->names_len += len + 1;
    return off;
}

/* ---- sorting ---- */

static const struct symbols *sort_ctx; /* qsort has no context argument in C11 */

static int cmp_addr(const void *a, const void *b)
{
    const struct sym *x = &sort_ctx->syms[*(const size_t *)a];
    const struct sym *y = &sort_ctx->syms[*(const size_t *)b];
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    /* At one address: functions before objects, globals before locals. */
    int rx = (x->flags & SYM_FUNC ? 2 : 0) + (x->flags & SYM_GLOBAL ? 1 : 0);
    int ry = (y->flags & SYM_FUNC ? 2 : 0) + (y->flags & SYM_GLOBAL ? 1 : 0);
    if (rx != ry)
        return ry - rx;
    return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

static int cmp_name(const void *a, const void *b)
{
    const struct sym *x = &sort_ctx->syms[*(const size_t *)a];
    const struct sym *y = &sort_ctx->syms[*(const size_t *)b];
    int c = strcmp(sort_ctx->names + x->name, sort_ctx->names + y->name);
    if (c != 0)
        return c;
    /* Same name: globals first, then the earlier module. */
    if ((x->flags & SYM_GLOBAL) != (y->flags & SYM_GLOBAL))
        return x->flags & SYM_GLOBAL ? -1 : 1;
    if (x->module != y->module)
        return x->module < y->module ? -1 : 1;
    return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

static int cmp_mapsym(const void *a, const void *b)
{
    const struct mapsym *x = a, *y = b;
    return (x->addr > y->addr) - (x->addr < y->addr);
}

static void reindex(struct symbols *sy)
{
    free(sy->by_addr);
    free(sy->by_name);
    sy->by_addr = xmalloc((sy->n_syms + 1) * sizeof *sy->by_addr);
    sy->by_name = xmalloc((sy->n_syms + 1) * sizeof *sy->by_name);
    for (size_t i = 0; i < sy->n_syms; i++)
        sy->by_addr[i] = sy->by_name[i] = i;
    sort_ctx = sy;
    qsort(sy->by_addr, sy->n_syms, sizeof *sy->by_addr, cmp_addr);
    qsort(sy->by_name, sy->n_syms, sizeof *sy->by_name, cmp_name);
    sort_ctx = NULL;
    if (sy->n_maps > 1)
        qsort(sy->maps, sy->n_maps, sizeof *sy->maps, cmp_mapsym);
}

/* ---- loading one ELF file ---- */

static bool elf_ready(struct ib_error *err)
{
    static int state; /* 0 not tried, 1 ok, -1 failed */
    if (state == 0)
        state = elf_version(EV_CURRENT) == EV_NONE ? -1 : 1;
    if (state < 0)
        ib_err(err, IB_EFAIL, "libelf is too old for this program");
    return state > 0;
}

static void add_symbol(struct symbols *sy, uint32_t mod, const char *name, const GElf_Sym *s,
                       bool arm, uint64_t bias)
{
    int type = GELF_ST_TYPE(s->st_info);
    size_t len = strnlen(name, MAX_NAME + 1);
    if (len == 0 || len > MAX_NAME)
        return;
    if (type == STT_NOTYPE && name[0] == '$' &&
        (name[1] == 'a' || name[1] == 't' || name[1] == 'd') &&
        (name[2] == '\0' || name[2] == '.')) {
        if (sy->n_maps == sy->cap_maps)
            sy->maps = xrealloc(sy->maps, (sy->cap_maps = sy->cap_maps ? sy->cap_maps * 2 : 64) *
                                              sizeof *sy->maps);
        sy->maps[sy->n_maps++] = (struct mapsym){s->st_value + bias, mod, name[1]};
        return;
    }
    if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC)
        return;
    if (sy->n_syms >= MAX_SYMBOLS)
        return;
    uint64_t value = s->st_value;
    uint8_t flags = 0;
    if (type != STT_OBJECT)
        flags |= SYM_FUNC;
    if (arm && (flags & SYM_FUNC) && (value & 1)) {
        flags |= SYM_THUMB;
        value &= ~(uint64_t)1;
    }
    int bind = GELF_ST_BIND(s->st_info);
    if (bind == STB_GLOBAL || bind == STB_WEAK)
        flags |= SYM_GLOBAL;
    if (sy->n_syms == sy->cap_syms)
        sy->syms = xrealloc(sy->syms, (sy->cap_syms = sy->cap_syms ? sy->cap_syms * 2 : 256) *
                                          sizeof *sy->syms);
    sy->syms[sy->n_syms++] =
        (struct sym){add_name(sy, name, len), mod, flags, value + bias, s->st_size};
}

static int read_symtab(struct symbols *sy, Elf *e, uint32_t mod, bool arm, uint64_t bias)
{
    Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
    GElf_Shdr sh;
    size_t shnum = 0;
    if (elf_getshdrnum(e, &shnum) != 0)
        return 0;
    while ((scn = elf_nextscn(e, scn)) != NULL) {
        if (gelf_getshdr(scn, &sh) == NULL)
            continue;
        if (sh.sh_type == SHT_SYMTAB && symtab == NULL)
            symtab = scn;
        else if (sh.sh_type == SHT_DYNSYM && dynsym == NULL)
            dynsym = scn;
    }
    scn = symtab ? symtab : dynsym;
    if (scn == NULL || gelf_getshdr(scn, &sh) == NULL || sh.sh_link == 0 || sh.sh_link >= shnum)
        return 0;
    Elf_Data *d = elf_getdata(scn, NULL);
    size_t entsize = gelf_fsize(e, ELF_T_SYM, 1, EV_CURRENT);
    if (d == NULL || entsize == 0 || d->d_buf == NULL)
        return 0;
    size_t count = d->d_size / entsize;
    int added = 0;
    for (size_t i = 1; i < count && i < MAX_SYMBOLS; i++) {
        GElf_Sym s;
        if (gelf_getsym(d, (int)i, &s) == NULL)
            break;
        if (s.st_shndx == SHN_UNDEF || s.st_shndx == SHN_ABS || s.st_name == 0)
            continue;
        const char *name = elf_strptr(e, sh.sh_link, s.st_name);
        if (name == NULL)
            continue;
        add_symbol(sy, mod, name, &s, arm, bias);
        added++;
    }
    return added;
}

int symbols_add_file(struct symbols *sy, const char *host_path, const char *name, uint64_t bias,
                     struct ib_error *err)
{
    if (!elf_ready(err))
        return -1;
    int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ib_err_sys(err, errno == ENOENT ? IB_ENOTFOUND : IB_EFAIL, "cannot open %s",
                          host_path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE_SIZE) {
        close(fd);
        return ib_err(err, IB_EINPUT, "%s is not a regular file of at most 512 MiB", host_path);
    }
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr eh;
    if (e == NULL || elf_kind(e) != ELF_K_ELF || gelf_getehdr(e, &eh) == NULL) {
        if (e)
            elf_end(e);
        close(fd);
        return ib_err(err, IB_EINPUT, "%s is not an ELF file", host_path);
    }
    if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) {
        elf_end(e);
        close(fd);
        return ib_err(err, IB_EINPUT, "%s is not an executable or shared library", host_path);
    }
    struct module m = {.name = xstrdup(name ? name : host_path),
                       .path = xstrdup(host_path),
                       .bias = bias,
                       .lo = UINT64_MAX};
    size_t phnum = 0;
    if (elf_getphdrnum(e, &phnum) != 0)
        phnum = 0;
    m.segs = xcalloc(MAX_SEGS, sizeof *m.segs);
    for (size_t i = 0; i < phnum && m.n_segs < MAX_SEGS; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(e, (int)i, &ph) == NULL || ph.p_type != PT_LOAD)
            continue;
        /* A segment must lie in the file and not wrap around. */
        if (ph.p_filesz > ph.p_memsz || ph.p_offset > (uint64_t)st.st_size ||
            ph.p_filesz > (uint64_t)st.st_size - ph.p_offset ||
            ph.p_vaddr + ph.p_memsz < ph.p_vaddr || ph.p_vaddr + bias + ph.p_memsz < bias)
            continue;
        m.segs[m.n_segs++] = (struct seg){ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz};
        if (ph.p_vaddr + bias < m.lo)
            m.lo = ph.p_vaddr + bias;
        if (ph.p_vaddr + bias + ph.p_memsz > m.hi)
            m.hi = ph.p_vaddr + bias + ph.p_memsz;
    }
    if (m.n_segs == 0)
        m.lo = m.hi = 0;
    sy->mods = xrealloc(sy->mods, (sy->n_mods + 1) * sizeof *sy->mods);
    uint32_t idx = (uint32_t)sy->n_mods;
    sy->mods[sy->n_mods++] = m;
    read_symtab(sy, e, idx, eh.e_machine == EM_ARM, bias);
    elf_end(e);
    close(fd);
    reindex(sy);
    return 0;
}

/* ---- paths inside the rootfs ---- */

int symbols_resolve_in_root(const char *root, const char *path, char **out, struct ib_error *err)
{
    char *base = realpath(root, NULL);
    if (base == NULL)
        return ib_err_sys(err, IB_ENOTFOUND, "rootfs folder %s", root);
    /* cur: the resolved part (relative to base, no symlinks in it);
     * rest: what is left to walk. */
    size_t cap = PATH_MAX * 2;
    char *cur = xcalloc(1, cap), *rest = xmalloc(cap), *tmp = xmalloc(cap);
    int rc = -1, links = 0;
    if (strlen(path) >= cap) {
        ib_err(err, IB_EINPUT, "path too long: %.100s...", path);
        goto out;
    }
    snprintf(rest, cap, "%s", path);
    while (rest[0] != '\0') {
        char *p = rest;
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        char comp[NAME_MAX + 1];
        if (n > NAME_MAX) {
            ib_err(err, IB_EINPUT, "a path component of %.100s is too long", path);
            goto out;
        }
        memcpy(comp, p, n);
        comp[n] = '\0';
        memmove(rest, p + n, strlen(p + n) + 1);
        if (n == 0 || strcmp(comp, ".") == 0)
            continue;
        if (strcmp(comp, "..") == 0) {
            char *slash = strrchr(cur, '/');
            if (slash != NULL)
                *slash = '\0'; /* above the root stays at the root, as chroot does */
            continue;
        }
        if (strlen(base) + strlen(cur) + n + 3 >= cap) {
            ib_err(err, IB_EINPUT, "path too long: %.100s", path);
            goto out;
        }
        snprintf(tmp, cap, "%s%s/%s", base, cur, comp);
        struct stat st;
        if (lstat(tmp, &st) < 0) {
            ib_err_sys(err, errno == ENOENT ? IB_ENOTFOUND : IB_EFAIL, "%s in %s", path, root);
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++links > MAX_LINKS) {
                ib_err(err, IB_EINPUT, "%s in %s: too many symbolic links", path, root);
                goto out;
            }
            char target[PATH_MAX];
            ssize_t tl = readlink(tmp, target, sizeof target - 1);
            if (tl < 0) {
                ib_err_sys(err, IB_EFAIL, "readlink %s", tmp);
                goto out;
            }
            target[tl] = '\0';
            if (strlen(target) + strlen(rest) + 2 >= cap) {
                ib_err(err, IB_EINPUT, "%s in %s: symbolic links too long", path, root);
                goto out;
            }
            size_t tlen = strlen(target), rlen = strlen(rest);
            memcpy(tmp, target, tlen);
            tmp[tlen] = '/';
            memcpy(tmp + tlen + 1, rest, rlen + 1);
            memcpy(rest, tmp, tlen + rlen + 2);
            if (target[0] == '/')
                cur[0] = '\0'; /* absolute: from the rootfs again */
            continue;
        }
        if (rest[strspn(rest, "/")] != '\0' && !S_ISDIR(st.st_mode)) {
            ib_err(err, IB_ENOTFOUND, "%s in %s: %s is not a folder", path, root, comp);
            goto out;
        }
        snprintf(cur + strlen(cur), cap - strlen(cur), "/%s", comp);
    }
    snprintf(tmp, cap, "%s%s", base, cur);
    struct stat st;
    if (stat(tmp, &st) < 0 || !S_ISREG(st.st_mode)) {
        ib_err(err, IB_ENOTFOUND, "%s in %s is not a regular file", path, root);
        goto out;
    }
    *out = xstrdup(tmp);
    rc = 0;
out:
    free(base);
    free(cur);
    free(rest);
    free(tmp);
    return rc;
}

/* ---- from a process's maps ---- */

static void note(char **notes, const char *fmt, const char *a, const char *b)
{
    if (notes == NULL)
        return;
    char line[1200];
    snprintf(line, sizeof line, fmt, a, b);
    size_t old = *notes ? strlen(*notes) : 0;
    if (old > 16384)
        return;
    *notes = xrealloc(*notes, old + strlen(line) + 2);
    memcpy(*notes + old, line, strlen(line));
    (*notes)[old + strlen(line)] = '\n';
    (*notes)[old + strlen(line) + 1] = '\0';
}

/* The bias of a file mapped at m: the run-time address of file offset
 * m->offset, minus the vaddr the file gives that offset. */
static bool compute_bias(const char *host_path, const struct guestproc_map *m, uint64_t *bias)
{
    int fd = open(host_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return false;
    Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    GElf_Ehdr eh;
    bool ok = false;
    size_t phnum = 0;
    if (e != NULL && elf_kind(e) == ELF_K_ELF && gelf_getehdr(e, &eh) != NULL) {
        if (eh.e_type == ET_EXEC) {
            *bias = 0; /* static non-PIE: absolute addresses */
            ok = true;
        } else if (elf_getphdrnum(e, &phnum) == 0) {
            for (size_t i = 0; i < phnum && !ok; i++) {
                GElf_Phdr ph;
                if (gelf_getphdr(e, (int)i, &ph) == NULL || ph.p_type != PT_LOAD)
                    continue;
                uint64_t page_off = ph.p_offset & ~(uint64_t)0xfff;
                if (m->offset >= page_off && m->offset < ph.p_offset + ph.p_filesz + 0x1000) {
                    uint64_t vaddr_of_off = ph.p_vaddr - ph.p_offset + m->offset;
                    *bias = m->start - vaddr_of_off;
                    ok = true;
                }
            }
        }
    }
    if (e)
        elf_end(e);
    close(fd);
    return ok;
}

int symbols_load_maps(struct symbols *sy, const char *rootfs, const struct guestproc_maps *maps,
                      char **notes, struct ib_error *err)
{
    if (notes)
        *notes = NULL;
    if (!elf_ready(err))
        return -1;
    if (maps->where != GUESTPROC_DEVICE) {
        note(notes, "process runs in the %s, not in the device: its files are not in %s",
             guestproc_where_name(maps->where), rootfs);
        return 0;
    }
    static const char prefix[] = GUESTPROC_TARGET_ROOT "/";
    int loaded = 0;
    for (size_t i = 0; i < maps->n; i++) {
        const struct guestproc_map *m = &maps->v[i];
        if (m->perms[2] != 'x' || m->path[0] != '/' || m->inode == 0)
            continue;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; k++)
            seen = maps->v[k].perms[2] == 'x' && strcmp(maps->v[k].path, m->path) == 0;
        if (seen)
            continue;
        if (strncmp(m->path, prefix, sizeof prefix - 1) != 0) {
            note(notes, "%s is outside the device root%s", m->path, "");
            continue;
        }
        const char *inner = m->path + sizeof prefix - 2; /* keeps the '/' */
        char *host = NULL;
        struct ib_error e = {0};
        uint64_t bias = 0;
        if (symbols_resolve_in_root(rootfs, inner, &host, &e) < 0) {
            note(notes, "%s: %s", inner, e.msg);
            continue;
        }
        if (!compute_bias(host, m, &bias)) {
            note(notes, "%s: cannot place its segments at %s", inner, "its load address");
            free(host);
            continue;
        }
        if (symbols_add_file(sy, host, inner, bias, &e) < 0)
            note(notes, "%s: %s", inner, e.msg);
        else
            loaded++;
        free(host);
    }
    return loaded;
}

/* ---- lookups ---- */

static void fill(const struct symbols *sy, const struct sym *s, struct symbol *out)
{
    out->name = sy->names + s->name;
    out->module = sy->mods[s->module].name;
    out->addr = s->addr;
    out->size = s->size;
    out->thumb = (s->flags & SYM_THUMB) != 0;
    out->func = (s->flags & SYM_FUNC) != 0;
}

int symbols_lookup(const struct symbols *sy, const char *name, struct symbol *out)
{
    size_t lo = 0, hi = sy->n_syms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(sy->names + sy->syms[sy->by_name[mid]].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo >= sy->n_syms || strcmp(sy->names + sy->syms[sy->by_name[lo]].name, name) != 0)
        return -1;
    fill(sy, &sy->syms[sy->by_name[lo]], out);
    return 0;
}

static const struct module *module_at(const struct symbols *sy, uint64_t addr, uint32_t *idx)
{
    for (size_t i = 0; i < sy->n_mods; i++)
        if (addr >= sy->mods[i].lo && addr < sy->mods[i].hi) {
            if (idx)
                *idx = (uint32_t)i;
            return &sy->mods[i];
        }
    return NULL;
}

bool symbols_at(const struct symbols *sy, uint64_t addr, struct symbol *out, uint64_t *off)
{
    /* The last symbol at or below addr. */
    size_t lo = 0, hi = sy->n_syms;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sy->syms[sy->by_addr[mid]].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t mod;
    bool in_mod = module_at(sy, addr, &mod) != NULL;
    /* Walk back over a few neighbours: sized symbols may nest or overlap. */
    for (size_t k = lo, steps = 0; k > 0 && steps < 16; k--, steps++) {
        const struct sym *s = &sy->syms[sy->by_addr[k - 1]];
        bool inside =
            s->size > 0 ? addr < s->addr + s->size : in_mod && s->module == mod && steps == 0;
        if (!inside)
            continue;
        /* Prefer the first entry at this address (cmp_addr ranked it best). */
        size_t best = k - 1;
        while (best > 0 && sy->syms[sy->by_addr[best - 1]].addr == s->addr)
            best--;
        const struct sym *b = &sy->syms[sy->by_addr[best]];
        if (b->size > 0 && addr >= b->addr + b->size)
            b = s;
        fill(sy, b, out);
        if (off)
            *off = addr - b->addr;
        return true;
    }
    return false;
}

void symbols_format(const struct symbols *sy, uint64_t addr, char *buf, size_t cap)
{
    struct symbol s;
    uint64_t off;
    if (sy != NULL && symbols_at(sy, addr, &s, &off)) {
        if (off == 0)
            snprintf(buf, cap, "%s", s.name);
        else
            snprintf(buf, cap, "%s+0x%llx", s.name, (unsigned long long)off);
    } else {
        snprintf(buf, cap, "0x%llx", (unsigned long long)addr);
    }
}

int symbols_thumb_at(const struct symbols *sy, uint64_t addr)
{
    uint32_t mod;
    if (sy == NULL || module_at(sy, addr, &mod) == NULL)
        return -1;
    /* The last mapping symbol of that module at or below addr. */
    size_t lo = 0, hi = sy->n_maps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sy->maps[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t k = lo; k > 0; k--) {
        const struct mapsym *m = &sy->maps[k - 1];
        if (m->module != mod)
            continue;
        return m->kind == 't' ? 1 : m->kind == 'a' ? 0 : -1;
    }
    struct symbol s;
    if (symbols_at(sy, addr, &s, NULL) && s.func)
        return s.thumb ? 1 : 0;
    return -1;
}

size_t symbols_read(const struct symbols *sy, uint64_t addr, void *buf, size_t len)
{
    size_t done = 0;
    uint8_t *out = buf;
    while (done < len) {
        uint64_t a = addr + done;
        const struct module *m = module_at(sy, a, NULL);
        const struct seg *sg = NULL;
        for (size_t i = 0; m && i < m->n_segs && sg == NULL; i++) {
            uint64_t v = a - m->bias;
            if (v >= m->segs[i].vaddr && v - m->segs[i].vaddr < m->segs[i].memsz)
                sg = &m->segs[i];
        }
        if (sg == NULL)
            break;
        uint64_t rel = a - m->bias - sg->vaddr;
        size_t n = len - done;
        if (n > sg->memsz - rel)
            n = (size_t)(sg->memsz - rel);
        if (rel >= sg->filesz) {
            memset(out + done, 0, n); /* .bss */
        } else {
            if (n > sg->filesz - rel)
                n = (size_t)(sg->filesz - rel);
            int fd = open(m->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            ssize_t got = fd >= 0 ? pread(fd, out + done, n, (off_t)(sg->offset + rel)) : -1;
            if (fd >= 0)
                close(fd);
            if (got <= 0)
                break;
            n = (size_t)got;
        }
        done += n;
    }
    return done;
}

int symbols_parse_location(const struct symbols *sy, const char *where, uint64_t *addr, bool *thumb,
                           struct ib_error *err)
{
    if (where == NULL || where[0] == '\0')
        return ib_err(err, IB_EINPUT, "empty location: give a function name or an address");
    char *end;
    errno = 0;
    unsigned long long v = strtoull(where, &end, 0);
    if (where[0] >= '0' && where[0] <= '9' && *end == '\0' && errno == 0) {
        *thumb = (v & 1) != 0;
        *addr = v & ~1ull;
        if (!*thumb && symbols_thumb_at(sy, *addr) == 1)
            *thumb = true;
        return 0;
    }
    char name[MAX_NAME + 1];
    const char *plus = strrchr(where, '+');
    uint64_t off = 0;
    if (plus != NULL && plus != where) {
        errno = 0;
        off = strtoull(plus + 1, &end, 0);
        if (plus[1] == '\0' || *end != '\0' || errno != 0)
            return ib_err(err, IB_EINPUT, "bad offset in \"%s\" (expected NAME+0x10)", where);
        snprintf(name, sizeof name, "%.*s", (int)(plus - where), where);
    } else {
        snprintf(name, sizeof name, "%s", where);
    }
    struct symbol s;
    if (sy == NULL || symbols_lookup(sy, name, &s) < 0)
        return ib_err(err, IB_ENOTFOUND, "no symbol \"%s\"%s", name,
                      sy == NULL || symbols_count(sy) == 0 ? " (no symbols are loaded)" : "");
    *addr = s.addr + off;
    *thumb = s.thumb;
    if (off != 0) {
        int t = symbols_thumb_at(sy, *addr);
        if (t >= 0)
            *thumb = t == 1;
    }
    return 0;
}
