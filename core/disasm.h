/*
 * disasm.h - ARM and Thumb disassembly (capstone), with branch targets
 * named from the process's symbols.
 *
 *     struct disasm_insn v[8];
 *     size_t n = disasm_arm(code, len, addr, thumb, sy, v, 8);
 *     for (size_t i = 0; i < n; i++)
 *         printf("%08llx  %s\n", v[i].addr, v[i].text);   // "bl 0x1074c <demod_respond>"
 *
 *     // around pc: up to `before` instructions above it, then pc and more
 *     n = disasm_around(read_fn, ctx, pc, thumb, 4, 8, sy, v, 12, &pc_index);
 *
 * The instruction set is the caller's choice: the cpsr T bit for the
 * current pc, or symbols_thumb_at() for other addresses.
 */
#ifndef IB_DISASM_H
#define IB_DISASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/symbols.h"

struct disasm_insn {
    uint64_t addr;
    uint8_t bytes[4];
    size_t size; /* 2 or 4; 0 for an undecodable word (shown as ".word") */
    char mnemonic[32];
    char operands[160];
    char text[320]; /* mnemonic, operands and "<symbol+off>" for direct branches */
};

/* Decodes up to max instructions of code (loaded at addr); an undecodable
 * unit becomes a ".word"/".short" line so the listing goes on. sy may be
 * NULL. Returns the number filled. */
size_t disasm_arm(const uint8_t *code, size_t len, uint64_t addr, bool thumb,
                  const struct symbols *sy, struct disasm_insn *out, size_t max);

/* Reads memory for disasm_around: returns the bytes read at addr. */
typedef size_t (*disasm_read_fn)(void *ctx, uint64_t addr, uint8_t *buf, size_t len);

/* `before` instructions before pc (as many as decode in step with pc for
 * Thumb), pc itself, then up to `after` - 1 more. *pc_index is pc's line. */
size_t disasm_around(disasm_read_fn read, void *ctx, uint64_t pc, bool thumb, size_t before,
                     size_t after, const struct symbols *sy, struct disasm_insn *out, size_t max,
                     size_t *pc_index);

/* capstone's version, "4.0" */
const char *disasm_version(void);

#endif
