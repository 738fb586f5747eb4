/* inode.h: the inode numbers of /vault, computed from what they name, so the daemon keeps no
 * table of them (memory does not grow with the number of objects) and every number says what
 * to look up. The top 4 bits are the kind; the rest is a vault id, an object id, or for a
 * version file the object id (40 bits) and the version (20 bits). Ids come from the store and
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
	/* the public halves of keys (fs/keys.c) */
	INO_KEYS = 8,	     /* /vault/V/.keys                      id: vault */
	INO_KEYVERSIONS = 9, /* /vault/V/.keys/.versions            id: vault */
	INO_KEYPUB = 10,     /* /vault/V/.keys/K.pub                id: object */
	INO_KEYSSH = 11,     /* /vault/V/.keys/K.ssh.pub            id: object */
	INO_KEYVERDIR = 12,  /* /vault/V/.keys/.versions/K          id: object */
	INO_KEYVERPUB = 13,  /* /vault/V/.keys/.versions/K/N.pub    id: object, version N */
	INO_KEYVERSSH = 14,  /* /vault/V/.keys/.versions/K/N.ssh.pub id: object, version N */
	_INO_KIND_MAX,
};

struct ino {
	int kind; /* enum ino_kind */
	int64_t id;
	uint32_t version; /* the kinds of ino_has_version only */
};

#define INO_VERSION_BITS 20 /* VAULTFS_VERSIONS_MAX fits */
#define INO_OBJECT_BITS 40

/* -EOVERFLOW when the id or version does not fit, -EINVAL for a bad kind. */
int ino_encode(const struct ino *n, uint64_t *ret);
/* -ENOENT for a number we never hand out. */
int ino_decode(uint64_t ino, struct ino *ret);
/* Directories: root, vault, .versions, .meta, .versions/S, .keys, .keys/.versions and
 * .keys/.versions/K. */
int ino_is_dir(int kind);
/* Kinds that name one version: .versions/S/N, .keys/.versions/K/N.pub and N.ssh.pub. */
int ino_has_version(int kind);
/* Kinds of the key files: .keys/K.pub, K.ssh.pub and their versions'. */
int ino_is_key_file(int kind);
