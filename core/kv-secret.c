/* kv-secret.c: secrets, the first kind of object: each kv_secret_* is its kv_object_* with
 * OBJECT_SECRET, and the rollback: a new version of an old one's bytes, which stay in a secbuf
 * inside kv and are never handed out (the pruning is kv-prune.c's). */
#include "kv-int.h"

int kv_secret_set(struct kv *kv, const char *vault, const char *name, const void *value, size_t len,
		  const struct kv_attrs *attrs, uint32_t *ret_version)
{
	return kv_object_set(kv, OBJECT_SECRET, vault, name, value, len, attrs, ret_version);
}

int kv_secret_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		  struct secbuf **ret_value, struct kv_version_info *ret_info)
{
	return kv_object_get(kv, OBJECT_SECRET, vault, name, version, ret_value, ret_info);
}

int kv_secret_info(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   struct kv_version_info *ret)
{
	return kv_object_info(kv, OBJECT_SECRET, vault, name, version, ret);
}

int kv_secret_list(struct kv *kv, const char *vault, bool deleted,
		   int (*cb)(const struct kv_object_info *s, void *ud), void *ud)
{
	return kv_object_list(kv, OBJECT_SECRET, vault, deleted, cb, ud);
}

int kv_secret_list_page(struct kv *kv, const char *vault, bool deleted, const char *after,
			unsigned limit, int (*cb)(const struct kv_object_info *s, void *ud),
			void *ud, char ret_last[VAULTFS_NAME_MAX + 1])
{
	return kv_object_list_page(kv, OBJECT_SECRET, vault, deleted, after, limit, cb, ud,
				   ret_last);
}

int kv_secret_lookup(struct kv *kv, const char *vault, const char *name, struct kv_object_info *ret)
{
	return kv_object_lookup(kv, OBJECT_SECRET, vault, name, ret);
}

int kv_secret_versions(struct kv *kv, const char *vault, const char *name,
		       int (*cb)(const struct kv_version_info *v, void *ud), void *ud)
{
	return kv_object_versions(kv, OBJECT_SECRET, vault, name, cb, ud);
}

int kv_secret_versions_page(struct kv *kv, const char *vault, const char *name, uint32_t after,
			    unsigned limit, int (*cb)(const struct kv_version_info *v, void *ud),
			    void *ud)
{
	return kv_object_versions_page(kv, OBJECT_SECRET, vault, name, after, limit, cb, ud);
}

int kv_secret_update(struct kv *kv, const char *vault, const char *name, uint32_t version,
		     const struct kv_attrs *attrs)
{
	return kv_object_update(kv, OBJECT_SECRET, vault, name, version, attrs);
}

int kv_secret_delete(struct kv *kv, const char *vault, const char *name)
{
	return kv_object_delete(kv, OBJECT_SECRET, vault, name);
}

int kv_secret_recover(struct kv *kv, const char *vault, const char *name)
{
	return kv_object_recover(kv, OBJECT_SECRET, vault, name);
}

int kv_secret_purge(struct kv *kv, const char *vault, const char *name)
{
	return kv_object_purge(kv, OBJECT_SECRET, vault, name);
}

int kv_secret_backup(struct kv *kv, const char *vault, const char *name, struct secbuf **ret_blob)
{
	return kv_object_backup(kv, OBJECT_SECRET, vault, name, ret_blob);
}

int kv_secret_restore(struct kv *kv, const char *vault, const void *blob, size_t len,
		      char ret_name[VAULTFS_NAME_MAX + 1])
{
	return kv_object_restore(kv, OBJECT_SECRET, vault, blob, len, ret_name);
}

int kv_backup_name(struct kv *kv, const void *blob, size_t len, char ret_name[VAULTFS_NAME_MAX + 1])
{
	return kv_backup_peek(kv, blob, len, NULL, ret_name);
}

/* The canonical "k=v\n" tag lines of a version as the "k=v" strings attrs take, in buf. */
static size_t tags_split(char *buf, const char *tags[VAULTFS_TAGS_MAX])
{
	size_t n = 0;

	for (char *p = buf, *nl; *p && n < VAULTFS_TAGS_MAX; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		tags[n++] = p;
	}
	return n;
}

int kv_secret_rollback(struct kv *kv, const char *vault, const char *name, uint32_t to,
		       uint32_t *ret_version)
{
	_cleanup_secbuf_ struct secbuf *value = NULL;
	struct kv_version_info info;
	const char *tags[VAULTFS_TAGS_MAX];
	struct kv_attrs attrs = { .enabled = 1 };
	int r;

	if (to == 0)
		return -ENOENT;
	r = kv_object_info(kv, OBJECT_SECRET, vault, name, to, &info);
	if (r < 0)
		return r;
	if (!info.enabled)
		return -EKEYREVOKED;
	/* its bytes whatever its dates: the new version is made now, without them */
	r = kv_object_get_for(kv, OBJECT_SECRET, vault, name, to, KV_USE_CONSUME, &value, &info);
	if (r < 0)
		return r;
	attrs.content_type = info.content_type;
	attrs.tags = tags;
	attrs.n_tags = tags_split(info.tags, tags);
	r = kv_object_set(kv, OBJECT_SECRET, vault, name, value->data, value->len, &attrs,
			  ret_version);
	return r;
}
