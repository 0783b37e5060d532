/*
 * disasm.c - ARM/Thumb disassembly with capstone; see disasm.h.
 */
#include "core/disasm.h"

#include <capstone/capstone.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

static void set_text(struct disasm_insn *d, const struct symbols *sy, bool has_target,
                     uint64_t target)
{
    char sym[96] = "";
    if (has_target && sy != NULL) {
        struct symbol s;
        uint64_t off;
        if (symbols_at(sy, target, &s, &off)) {
            if (off == 0)
                snprintf(sym, sizeof sym, " <%s>", s.name);
            else
                snprintf(sym, sizeof sym, " <%s+0x%llx>", s.name, (unsigned long long)off);
        }
    }
    snprintf(d->text, sizeof d->text, "%s%s%s%s", d->mnemonic, d->operands[0] ? " " : "",
             d->operands, sym);
}

static void set_raw(struct disasm_insn *d, const uint8_t *code, size_t avail, uint64_t addr,
                    bool thumb)
{
    memset(d, 0, sizeof *d);
    d->addr = addr;
    size_t n = thumb ? 2 : 4;
    if (n > avail)
        n = avail;
    memcpy(d->bytes, code, n);
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint32_t)code[i] << (8 * i);
    d->size = 0;
    snprintf(d->mnemonic, sizeof d->mnemonic, "%s", n == 4 ? ".word" : ".short");
    snprintf(d->operands, sizeof d->operands, "0x%0*x", (int)n * 2, v);
    set_text(d, NULL, false, 0);
}

size_t disasm_arm(const uint8_t *code, size_t len, uint64_t addr, bool thumb,
                  const struct symbols *sy, struct disasm_insn *out, size_t max)
{
    csh h;
    if (max == 0 || len == 0 ||
        cs_open(CS_ARCH_ARM, thumb ? CS_MODE_THUMB : CS_MODE_ARM, &h) != CS_ERR_OK)
        return 0;
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn *insn = cs_malloc(h);
    size_t n = 0, unit = thumb ? 2 : 4;
    const uint8_t *p = code;
    size_t left = len;
    uint64_t a = addr;
    while (n < max && left >= unit) {
        const uint8_t *before = p;
        if (!cs_disasm_iter(h, &p, &left, &a, insn)) {
            set_raw(&out[n++], before, left, a, thumb);
            p = before + unit;
            left -= unit;
            a += unit;
            continue;
        }
        struct disasm_insn *d = &out[n++];
        memset(d, 0, sizeof *d);
        d->addr = insn->address;
        d->size = insn->size > 4 ? 4 : insn->size;
        memcpy(d->bytes, insn->bytes, d->size);
        snprintf(d->mnemonic, sizeof d->mnemonic, "%s", insn->mnemonic);
        snprintf(d->operands, sizeof d->operands, "%s", insn->op_str);
        bool has_target = false;
        uint64_t target = 0;
        if (insn->detail != NULL &&
            (cs_insn_group(h, insn, CS_GRP_JUMP) || cs_insn_group(h, insn, CS_GRP_CALL))) {
            const cs_arm *arm = &insn->detail->arm;
            for (int i = 0; i < arm->op_count; i++)
                if (arm->operands[i].type == ARM_OP_IMM) {
                    has_target = true;
                    target = (uint32_t)arm->operands[i].imm;
                }
        }
        set_text(d, sy, has_target, target);
    }
    cs_free(insn, 1);
    cs_close(&h);
    return n;
}

static size_t find_pc(const struct disasm_insn *v, size_t n, uint64_t pc)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].addr == pc)
            return i;
    return SIZE_MAX;
}

size_t disasm_around(disasm_read_fn read, void *ctx, uint64_t pc, bool thumb, size_t before,
                     size_t after, const struct symbols *sy, struct disasm_insn *out, size_t max,
                     size_t *pc_index)
{
    if (after == 0)
        after = 1;
    size_t unit = thumb ? 2 : 4, span = (before * 2 + after) * 4;
    uint8_t buf[1024];
    if (span > sizeof buf)
        span = sizeof buf;
    if (max > 256)
        max = 256;
    struct disasm_insn tmp[256];
    /* Thumb instructions are 2 or 4 bytes: start at the farthest point
     * whose decoding falls in step with pc. */
    size_t back = (thumb ? before * 2 : before) * unit;
    if (back > pc)
        back = (size_t)pc & ~(unit - 1);
    for (;; back -= unit) {
        uint64_t start = pc - back;
        size_t got = read(ctx, start, buf, span);
        size_t n = got ? disasm_arm(buf, got, start, thumb, sy, tmp, IB_ARRAY_LEN(tmp)) : 0;
        size_t at = find_pc(tmp, n, pc);
        if (at != SIZE_MAX || back == 0) {
            if (at == SIZE_MAX)
                at = 0;
            size_t first = at > before ? at - before : 0;
            size_t count = n - first;
            if (count > at - first + after)
                count = at - first + after;
            if (count > max)
                count = max;
            memcpy(out, tmp + first, count * sizeof *out);
            if (pc_index)
                *pc_index = at - first;
            return count;
        }
    }
}

const char *disasm_version(void)
{
    static char v[16];
    int major, minor;
    cs_version(&major, &minor);
    snprintf(v, sizeof v, "%d.%d", major, minor);
    return v;
}
