/* inode.h: the inode numbers of /vault, computed from what they name, so the daemon keeps no
 * table of them (memory does not grow with the number of objects) and every number says what
 * to look up. The top 4 bits are the kind; the rest is a vault id, an object id, or for a
 * version file the object id (40 bits) and the version (20 bits). Ids come from the store and
 * are never reused, so a number never names two things.
 * The certificates' kinds (15 and up) share the top value 15: below it, 2 bits say which of
 * them, 3 bits the view (.crt ... .p12) for a file, and the rest the object id (55 bits), or
 * for a version's file the object id (38 bits) and the version (17 bits). The fourth of them is
 * the `.events` file (a vault's, or with view INO_EVENTS_ALL the root's). */
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
	/* a certificate's views (fs/certs.c): view is enum kv_cert_view's (1 .. INO_VIEW_MAX) */
	INO_CERTVERDIR = 15,  /* /vault/V/.versions/C               id: object */
	INO_CERTFILE = 16,    /* /vault/V/C.crt, C.key, ...         id: object, view */
	INO_CERTVERFILE = 17, /* /vault/V/.versions/C/N.crt, ...    id: object, version N, view */
	/* the change stream (fs/events.c), in the certificates' top value: view 0 a vault's, view
	 * INO_EVENTS_ALL the root's (id 1) */
	INO_EVENTS = 18, /* /vault/V/.events, /vault/.events       id: vault (or 1), view */
	_INO_KIND_MAX,
};

struct ino {
	int kind; /* enum ino_kind */
	int64_t id;
	uint32_t version; /* the kinds of ino_has_version only */
	unsigned view;	  /* INO_CERTFILE and INO_CERTVERFILE only */
};

#define INO_VERSION_BITS 20 /* VAULTFS_VERSIONS_MAX fits */
#define INO_OBJECT_BITS 40
/* The views of a certificate: KV_CERT_VIEW_CRT (1) .. KV_CERT_VIEW_P12 (5), in 3 bits. */
#define INO_VIEW_MAX 5
#define INO_CERT_VERSION_BITS 17 /* VAULTFS_VERSIONS_MAX fits (inode.c checks) */
#define INO_CERT_OBJECT_BITS 38
/* INO_EVENTS's view for /vault/.events (every vault the reader may see). */
#define INO_EVENTS_ALL 1u

/* -EOVERFLOW when the id or version does not fit, -EINVAL for a bad kind. */
int ino_encode(const struct ino *n, uint64_t *ret);
/* -ENOENT for a number we never hand out. */
int ino_decode(uint64_t ino, struct ino *ret);
/* Directories: root, vault, .versions, .meta, .versions/S, .keys, .keys/.versions,
 * .keys/.versions/K and a certificate's .versions/C. */
int ino_is_dir(int kind);
/* Kinds that name one version: .versions/S/N, .keys/.versions/K/N.pub and N.ssh.pub,
 * .versions/C/N.crt ... */
int ino_has_version(int kind);
/* Kinds of the key files: .keys/K.pub, K.ssh.pub and their versions'. */
int ino_is_key_file(int kind);
/* Kinds of a certificate's view files: C.crt ... and .versions/C/N.crt ... */
int ino_is_cert_file(int kind);
