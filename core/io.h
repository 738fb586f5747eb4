/* io.h: whole reads and writes on file descriptors, retrying EINTR and short transfers, so no
 * module writes that loop again. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Read fd to EOF into buf (size bytes), the count in *ret_len. -EFBIG when the data fills buf
 * before EOF: size it one byte over the cap to tell "exactly the cap" from "more". */
int io_read_all(int fd, void *buf, size_t size, size_t *ret_len);
/* Write all n bytes. A write that makes no progress is -EIO. */
int io_write_all(int fd, const void *p, size_t n);
/* Write all n bytes at offset off (pwrite(2): the file position is not used). */
int io_pwrite_all(int fd, const void *p, size_t n, uint64_t off);
