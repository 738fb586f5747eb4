/* store-wal.c: the cheap look at whether anything was committed (store_mark,
 * store_unchanged): SQLite's WAL-index header read from the connection's own mapping of the
 * -shm file, with no lock and no syscall. It must never open a descriptor of the -shm or
 * database file (closing it would drop this process's POSIX locks, SQLite's included) and
 * never write to the mapping. */
#include <assert.h>
#include <string.h>

#include "core/store-int.h"

/* The WAL-index header: two copies, written second then first by a commit (walformat 2.1). */
#define WAL_HEADER_SIZE 48u
#define WAL_HEADER_ISINIT 12u /* its isInit byte */
/* The size of a wal-index region (walformat 2): the first holds both copies. */
#define SHM_REGION_SIZE 32768

/* The connection's own mapping of the wal-index's first region (store_mark), through the VFS
 * method SQLite itself uses (xShmMap, without extending): no descriptor of ours on the -shm
 * file, whose close would drop the process's POSIX locks on it, SQLite's included. Valid
 * while the connection is open in WAL mode. Best effort: without it every read takes its
 * transaction. */
void store_map_shm(struct store *s)
{
	sqlite3_file *f = NULL;
	volatile void *p = NULL;

	if (sqlite3_file_control(s->db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
	    !f->pMethods || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap)
		return;
	if (!f->pMethods->xShmBarrier ||
	    f->pMethods->xShmMap(f, 0, SHM_REGION_SIZE, 0, &p) != SQLITE_OK || !p)
		return;
	s->shm = (const volatile uint8_t *)p;
	s->shm_file = f;
}

int store_mark(struct store *s, struct store_mark *ret)
{
	uint8_t first[WAL_HEADER_SIZE], second[WAL_HEADER_SIZE];

	assert(s);
	if (!s->shm)
		return -EOPNOTSUPP;
	/* as SQLite reads it: the first copy, a barrier, the second; equal copies are a header
	 * no commit is writing (it writes the second copy, a barrier, then the first) */
	memcpy(first, (const void *)s->shm, WAL_HEADER_SIZE);
	s->shm_file->pMethods->xShmBarrier(s->shm_file); /* SQLite's own barrier for it */
	memcpy(second, (const void *)(s->shm + WAL_HEADER_SIZE), WAL_HEADER_SIZE);
	if (memcmp(first, second, WAL_HEADER_SIZE) != 0 || !first[WAL_HEADER_ISINIT])
		return -EAGAIN;
	memcpy(ret->header, first, WAL_HEADER_SIZE);
	ret->local = (uint64_t)sqlite3_total_changes64(s->db) + s->writes;
	return 0;
}

bool store_unchanged(struct store *s, const struct store_mark *m)
{
	struct store_mark now;

	return store_mark(s, &now) >= 0 && now.local == m->local &&
	       memcmp(now.header, m->header, WAL_HEADER_SIZE) == 0;
}
