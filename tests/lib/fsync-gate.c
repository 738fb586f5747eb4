/* fsync-gate.c: an LD_PRELOAD for tests (tests/bats/31-durable.bats) that stands between a
 * program and the disk for one file: fdatasync(2) and fsync(2) of the file at
 * $FSYNC_GATE_PATH (the audit journal) wait while the file $FSYNC_GATE_HOLD exists, fail with
 * EIO (syncing nothing) while $FSYNC_GATE_FAIL exists, and after each sync that succeeded
 * append where the file's data ended when the sync began (its size less the zeros it is
 * allocated ahead with) to $FSYNC_GATE_LOG, one decimal a line: every byte below the largest
 * logged size is on disk. With $FSYNC_GATE_WRITE_US set, each pwrite(2) to the file first
 * sleeps that many microseconds (a slow disk: a writer holds its part for longer). Any other
 * file is synced and written as usual.
 * Test-only: never installed; it must never change what a sync of another file does. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef int (*sync_fn)(int fd);
typedef ssize_t (*pwrite_fn)(int fd, const void *buf, size_t n, off_t off);

static bool exists(const char *path)
{
	return path && *path && access(path, F_OK) == 0;
}

/* Where the data of fd ends: its size less the zeros a journal with sync = always is
 * allocated ahead with (a record never holds a zero byte). */
static off_t data_end(int fd, off_t size)
{
	char buf[4096];

	while (size > 0) {
		size_t w = size < (off_t)sizeof(buf) ? (size_t)size : sizeof(buf), i = w;

		if (pread(fd, buf, w, size - (off_t)w) != (ssize_t)w)
			break;
		while (i > 0 && buf[i - 1] == 0)
			i--;
		size -= (off_t)(w - i);
		if (i > 0)
			break;
	}
	return size;
}

/* Is fd the file at path? */
static bool same_file(int fd, const char *path, struct stat *fst)
{
	struct stat pst;

	return path && *path && fstat(fd, fst) == 0 && stat(path, &pst) == 0 &&
	       fst->st_dev == pst.st_dev && fst->st_ino == pst.st_ino;
}

/* Is fd the gated file? Where its data ends into *ret_size. */
static bool gated(int fd, off_t *ret_size)
{
	struct stat st;

	if (!same_file(fd, getenv("FSYNC_GATE_PATH"), &st))
		return false;
	*ret_size = data_end(fd, st.st_size);
	return true;
}

static void log_size(off_t size)
{
	const char *path = getenv("FSYNC_GATE_LOG");
	char line[32];
	int fd, n;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%" PRIdMAX "\n", (intmax_t)size);
	(void)!write(fd, line, (size_t)n);
	close(fd);
}

static int gate(int fd, const char *name)
{
	sync_fn real = (sync_fn)dlsym(RTLD_NEXT, name);
	off_t size = 0;
	int r;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (!gated(fd, &size))
		return real(fd);
	while (exists(getenv("FSYNC_GATE_HOLD")))
		usleep(1000);
	if (exists(getenv("FSYNC_GATE_FAIL"))) {
		errno = EIO;
		return -1;
	}
	r = real(fd);
	if (r == 0)
		log_size(size);
	return r;
}

int fdatasync(int fd)
{
	return gate(fd, "fdatasync");
}

int fsync(int fd)
{
	return gate(fd, "fsync");
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	pwrite_fn real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
	const char *us = getenv("FSYNC_GATE_WRITE_US");
	struct stat st;

	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (us && *us && same_file(fd, getenv("FSYNC_GATE_PATH"), &st))
		usleep((useconds_t)strtoul(us, NULL, 10));
	return real(fd, buf, n, off);
}
