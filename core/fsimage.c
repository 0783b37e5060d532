/* fsimage.c - see fsimage.h. Offsets are those of the ext2 superblock. */
#include "core/fsimage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    SB_OFFSET = 1024,
    SB_BLOCKS = 4,
    SB_LOG_BLOCK = 24,
    SB_MAGIC = 56,
    SB_COMPAT = 92,
    SB_INCOMPAT = 96,
    SB_LABEL = 120,
    EXT_MAGIC = 0xEF53,
    COMPAT_JOURNAL = 0x4,
    INCOMPAT_EXTENTS = 0x40,
    INCOMPAT_64BIT = 0x80,
};

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int fsimage_probe(const char *path, struct fsimage_info *info, struct ib_error *err)
{
    memset(info, 0, sizeof *info);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ib_err_sys(err, IB_EFAIL, "cannot open %s", path);
    unsigned char sb[1024];
    ssize_t n = pread(fd, sb, sizeof sb, SB_OFFSET);
    struct stat st;
    int have_stat = fstat(fd, &st) == 0;
    close(fd);
    if (n != (ssize_t)sizeof sb || (sb[SB_MAGIC] | sb[SB_MAGIC + 1] << 8) != EXT_MAGIC)
        return ib_err(err, IB_EINPUT, "%s is not an ext2/ext3/ext4 image (no superblock)", path);
    uint32_t log_block = le32(sb + SB_LOG_BLOCK);
    if (log_block > 6)
        return ib_err(err, IB_EINPUT, "%s: corrupt superblock (block size 2^%u KiB)", path,
                      log_block);
    uint32_t incompat = le32(sb + SB_INCOMPAT);
    if (incompat & (INCOMPAT_EXTENTS | INCOMPAT_64BIT))
        strcpy(info->type, "ext4");
    else if (le32(sb + SB_COMPAT) & COMPAT_JOURNAL)
        strcpy(info->type, "ext3");
    else
        strcpy(info->type, "ext2");
    info->fs_bytes = (long long)le32(sb + SB_BLOCKS) * (1024LL << log_block);
    memcpy(info->label, sb + SB_LABEL, 16);
    info->label[16] = '\0';
    for (char *c = info->label; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
            *c = '?';
    if (have_stat)
        info->allocated = (long long)st.st_blocks * 512;
    return 0;
}
