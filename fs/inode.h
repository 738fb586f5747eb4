/* inode.h: the inode numbers of /vault, computed from what they name, so the daemon keeps no
 * table of them (memory does not grow with the number of secrets) and every number says what
 * to look up. The top 3 bits are the kind; the rest is a vault id, an object id, or for a
 * version file the object id (40 bits) and the version (21 bits). Ids come from the store and
 * are never reused, so a number never names two things. */
#pragma once

#include <stdint.h>

enum ino_kind {
	INO_ROOT = 0,	  /* /vault (FUSE_ROOT_ID, id 1) */
	INO_VAULT = 1,	  /* /vault/V                    id: vault */
	INO_VERSIONS = 2, /* /vault/V/.versions          id: vault */
	INO_METADIR = 3,  /* /vault/V/.meta              id: vault */
	INO_SECRET = 4,	  /* /vault/V/S                  id: object */
	INO_VERDIR = 5,	  /* /vault/V/.versions/S        id: object */
	INO_VERSION = 6,  /* /vault/V/.versions/S/N      id: object, version N */
	INO_META = 7,	  /* /vault/V/.meta/S            id: object */
};

struct ino {
	int kind; /* enum ino_kind */
	int64_t id;
	uint32_t version; /* INO_VERSION only */
};

#define INO_VERSION_BITS 21
#define INO_OBJECT_BITS 40

/* -EOVERFLOW when the id or version does not fit, -EINVAL for a bad kind. */
int ino_encode(const struct ino *n, uint64_t *ret);
/* -ENOENT for a number we never hand out. */
int ino_decode(uint64_t ino, struct ino *ret);
/* Directories: root, vault, .versions, .meta, .versions/S. */
int ino_is_dir(int kind);
