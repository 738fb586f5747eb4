/* io.h: whole reads and writes on file descriptors, retrying EINTR and short transfers, so no
 * module writes that loop again. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* Read fd to EOF into buf (size bytes), the count in *ret_len. -EFBIG when the data fills buf
 * before EOF: size it one byte over the cap to tell "exactly the cap" from "more". */
int io_read_all(int fd, void *buf, size_t size, size_t *ret_len);
/* Write all n bytes. A write that makes no progress is -EIO. */
int io_write_all(int fd, const void *p, size_t n);
/* Write all n bytes at offset off (pwrite(2): the file position is not used). */
int io_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
/* fstatat(2) without the times: only st_dev, st_ino, st_mode, st_nlink and st_size are set.
 * Asking a file's times makes its next write give it a fine-grained new one (multigrain
 * timestamps, Linux 6.13 on), and on ext4 without a journal each fdatasync then writes the
 * inode too: +35-45 % a sync here. For the audit journal's writer and whoever polls it. */
int io_stat_notime(int dirfd, const char *path, int flags, struct stat *ret);
