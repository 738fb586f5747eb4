/* vaultfs.h: the daemon's one mutable context, reached from every FUSE request, and what the
 * files of fs/ share. Only fs/ includes the FUSE headers. */
#pragma once

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdbool.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/kv.h"
#include "policy/identity.h"
#include "policy/policy.h"

struct handle; /* an open file (ops.c) */
struct notify; /* the kernel cache invalidation thread (notify.h) */

struct vfs {
	/* Held by whichever thread works on the rest: the FUSE thread per request, the main
	 * thread per control dispatch, expiry scan pass and reload (vaultfsd.c). */
	pthread_mutex_t lock;
	const struct config *config;
	struct kv *kv;
	struct policy *policy; /* replaced whole on reload */
	struct audit *audit;
	struct identity_cache *ids; /* cgroups by id, for the serving thread's resolves */
	bool hide_unreadable;
	struct { /* the last refusal recorded at lookup: one record per attempt */
		pid_t tid;
		uint64_t parent;
		char name[VAULTFS_NAME_MAX + 1];
		int64_t at_ms;
	} last_refusal;
	/* Files created through the mount and not yet released. Until its first commit such a
	 * file has no object id, so the kernel knows it by a number of ours: one of kind
	 * INO_ROOT other than 1 (which inode.h never hands out), 2 + next_pending++. */
	struct handle *pending;
	uint64_t next_pending;
	struct notify *notify; /* NULL: no invalidations are sent */
};

/* The low-level operations (ops.c). */
extern const struct fuse_lowlevel_ops vfs_ops;

/* The JSON of /vault/V/.meta/S: attributes, tags and versions, never a value (meta.c). */
int meta_json(struct kv *kv, const char *vault, const char *name, char **ret, size_t *ret_len);
