/* kv-kind.h: the seam between the object model and the kinds of object. Names, versions,
 * attributes, lifecycle, backup and listing are written once (kv-object.c, kv-backup.c) for
 * every kind; what a kind adds about a version's material is here, one entry per kind. */
#pragma once

#include <stddef.h>

#include "store.h"

struct kv_kind {
	enum object_type type;
	const char *name;    /* "secret", "key": for messages */
	size_t material_max; /* the most bytes of one version's material, <= VAULTFS_VALUE_MAX */
	/* Is this acceptable as a version's material (at set and at restore)? 0 or a -errno
	 * (-EINVAL); NULL: any bytes up to material_max. Never keeps nor logs the bytes. */
	int (*check_material)(const void *material, size_t len);
};

/* The kind of type, NULL for one kv does not know (-EINVAL to the caller). */
const struct kv_kind *kv_kind_get(int type);
