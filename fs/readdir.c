/* readdir.c: listing the directories of /vault. A directory is listed from the store a page at a
 * time as readdir asks: its handle holds the caller and where the listing stands, never the
 * entries, so the daemon's memory does not grow with a vault's size. `list` is decided at
 * opendir; each entry is filtered for the caller. Never lists a name the caller may not see,
 * never reads a value. */
#include <assert.h>
#include <dirent.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fs/ops-int.h"

/* The entries every directory starts with (a vault's all four, .keys the first two and its
 * own .versions, the others the first two). A vault's .keys is reached by its name and not
 * listed, as ZFS's .zfs: tree walkers (find, cp -r, rsync, backups) do not descend into it,
 * and a vault's listing is what it was before keys. */
static const char *const dir_fixed_names[] = { ".", "..", ".versions", ".meta" };
static const char *const keys_fixed_names[] = { ".", "..", ".versions" };

/* Entries a page of the store gives at most, for readdir: about what one reply of the kernel's
 * (a page, 4 KiB) holds, so that a reply takes one or two pages. */
#define DIR_PAGE 128u

/* Where a listing stands: at the entry of offset off (offsets are entry indexes + 1, the fixed
 * entries first; 0 is before the first). after is the key in the store the walk goes on after:
 * that entry's ("" while in the fixed entries; a version's number in decimal for .versions/S),
 * or a key past it when the rows between gave no entry (hidden from this caller, or
 * soft-deleted). */
struct dirpos {
	off_t off;
	char after[VAULTFS_NAME_MAX + 1];
	bool half; /* .keys and .keys/.versions/K: the row `after` gave its first entry (.pub)
		    * and owes its second (.ssh.pub) */
	unsigned char part; /* a certificate's row (a vault's C, .versions/C's N): the view of its
			     * last entry given (its views after it are owed), 0 none */
};

/* An open directory: who opened it and where its listing stands, never its entries: readdir
 * reads them from the store a page at a time after the cursor, so what a handle holds does not
 * grow with the directory. The `list` decision was made at opendir. recent holds the names of
 * the entries of the last reply (less than a reply's bytes), each NUL-terminated and followed
 * by its view byte (dirpos.part: 0 for anything but a certificate's view file), so that a read
 * that goes on from inside it (the kernel took only part of it, or a seekdir to a telldir just
 * made) starts after the exact entry. */
struct dirhandle {
	struct caller c; /* every entry is filtered for it, as at opendir */
	struct ino ino;	 /* the directory */
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1]; /* .versions/S, .keys/.versions/K: the object */
	const char *const *fixed_names;	 /* dir_fixed_names or keys_fixed_names */
	uint64_t fixed[ELEMENTSOF(dir_fixed_names)]; /* their inode numbers */
	unsigned n_fixed;
	struct dirpos at;   /* where the last reply ended */
	struct dirpos from; /* where it began */
	char *recent;	    /* the names of its entries, each NUL-terminated, and a view byte */
	size_t recent_len, recent_size;
};

static void dirhandle_free(struct dirhandle *d)
{
	if (!d)
		return;
	free(d->recent);
	free(d);
}

/* One readdir reply being filled. */
struct dirfill {
	fuse_req_t req;
	struct vaultfsd *v;
	struct dirhandle *d;
	char *out;
	size_t size, used;
	off_t skip_to;	   /* entries up to this offset are walked, not replied */
	struct dirpos pos; /* the entry last walked */
};

/* The next entry, named name (key: its key in the store; half: the first of its row's two;
 * part: the view of a certificate's view file, else 0): replied when past skip_to, else only
 * walked over. -ENOBUFS when it does not fit: the reply is full, and the entry not taken. */
static int dir_emit_part(struct dirfill *f, uint64_t ino, unsigned type, const char *name,
			 const char *key, bool half, unsigned part)
{
	struct dirhandle *d = f->d;
	off_t off = f->pos.off + 1;

	if (off > f->skip_to) {
		struct stat st = { .st_ino = ino, .st_mode = (mode_t)type << 12 };
		size_t n, len = strlen(name) + 1;

		n = fuse_add_direntry(f->req, f->out + f->used, f->size - f->used, name, &st, off);
		if (n > f->size - f->used)
			return -ENOBUFS;
		f->used += n;
		/* an entry takes more of the reply than its name and a byte (24 bytes of header):
		 * recent (size bytes) holds it */
		assert(d->recent_len + len + 1 <= d->recent_size);
		memcpy(d->recent + d->recent_len, name, len);
		d->recent[d->recent_len + len] = (char)part;
		d->recent_len += len + 1;
	}
	f->pos.off = off;
	str_copy(f->pos.after, sizeof(f->pos.after), key);
	f->pos.half = half;
	f->pos.part = (unsigned char)part;
	if (off == f->skip_to) /* what this reply gives starts here */
		d->from = f->pos;
	return 0;
}

static int dir_emit(struct dirfill *f, uint64_t ino, unsigned type, const char *name,
		    const char *key, bool half)
{
	return dir_emit_part(f, ino, type, name, key, half, 0);
}

/* A row of the store that gives no entry (more): walked past. */
static int dir_pass(struct dirfill *f, const char *key)
{
	str_copy(f->pos.after, sizeof(f->pos.after), key);
	f->pos.half = false;
	f->pos.part = 0;
	return 0;
}

static int fill_vault(const struct kv_vault_info *vi, void *userdata)
{
	struct dirfill *f = userdata;
	struct ino e = { .kind = INO_VAULT, .id = vi->id };
	char path[POLICY_PATH_MAX];
	uint64_t ino;

	snprintf(path, sizeof(path), "/%s", vi->name);
	if (!visible_path(f->v, &f->d->c, path) || ino_encode(&e, &ino) < 0)
		return dir_pass(f, vi->name);
	return dir_emit(f, ino, DT_DIR, vi->name, vi->name, false);
}

/* A secret's entry in a vault's directory, .versions or .meta. */
static int object_entry(struct dirfill *f, const struct kv_object_info *si)
{
	struct dirhandle *d = f->d;
	struct ino e = { .kind = d->ino.kind == INO_VAULT    ? INO_SECRET :
				 d->ino.kind == INO_VERSIONS ? INO_VERDIR :
							       INO_META,
			 .id = si->id };
	char path[POLICY_PATH_MAX];
	uint64_t ino;

	snprintf(path, sizeof(path), "/%s/%s", d->vault, si->name);
	if (!visible_path(f->v, &d->c, path) || ino_encode(&e, &ino) < 0)
		return dir_pass(f, si->name);
	return dir_emit(f, ino, e.kind == INO_VERDIR ? DT_DIR : DT_REG, si->name, si->name, false);
}

static int fill_object(const struct kv_object_info *si, void *userdata)
{
	return object_entry(userdata, si);
}

static int fill_version(const struct kv_version_info *vi, void *userdata)
{
	struct dirfill *f = userdata;
	struct ino e = { .kind = INO_VERSION, .id = vi->object_id, .version = vi->version };
	char name[16];
	uint64_t ino;

	/* the secret was deleted and its name taken by another since opendir: this directory
	 * is gone, and its listing over */
	if (vi->object_id != f->d->ino.id)
		return -ESTALE;
	snprintf(name, sizeof(name), "%u", vi->version);
	if (ino_encode(&e, &ino) < 0)
		return dir_pass(f, name);
	return dir_emit(f, ino, DT_REG, name, name, false);
}

/* --- .keys: the public halves of the keys the caller may `meta` --- */

/* May the directory's caller read key `name`'s public half (`meta` on /V/K)? */
static bool may_meta(struct dirfill *f, const char *name)
{
	struct policy_decision dec;
	char path[POLICY_PATH_MAX];

	slash_path(path, sizeof(path), f->d->vault, name);
	return policy_check(f->v->policy, POLICY_OP_META, path, &f->d->c.id, f->d->c.now, &dec) >=
		       0 &&
	       dec.verdict == POLICY_ALLOW;
}

/* The .ssh.pub entry of a row whose .pub entry was given: stem is the key's name or the
 * version's number. */
static int emit_ssh(struct dirfill *f, int kind, int64_t id, uint32_t version, const char *stem)
{
	struct ino e = { .kind = kind, .id = id, .version = version };
	char name[VAULTFS_NAME_MAX + 16];
	uint64_t ino;

	if (ino_encode(&e, &ino) < 0)
		return dir_pass(f, stem);
	key_entry_name(stem, true, name, sizeof(name));
	return dir_emit(f, ino, DT_REG, name, stem, false);
}

/* The entries of one key of .keys (K.pub, K.ssh.pub) or .keys/.versions (K): none for a key the
 * caller may not `meta`, or one without a public half (AES). A key whose name ends in .ssh has
 * no K.pub here: that name reads as the OpenSSH file of another key (keys.c). */
static int key_entries(struct dirfill *f, const struct kv_object_info *oi)
{
	struct dirhandle *d = f->d;
	struct kv_key_public pub;
	struct ino e = { .id = oi->id };
	char name[VAULTFS_NAME_MAX + 16];
	uint64_t ino;
	int r;

	if (!may_meta(f, oi->name) ||
	    key_public_get(f->v->kv, d->vault, oi->name, 0, &pub) < 0 || /* none, or unreadable */
	    pub.info.object_id != oi->id)
		return dir_pass(f, oi->name);
	if (d->ino.kind == INO_KEYVERSIONS) {
		e.kind = INO_KEYVERDIR;
		if (ino_encode(&e, &ino) < 0)
			return dir_pass(f, oi->name);
		return dir_emit(f, ino, DT_DIR, oi->name, oi->name, false);
	}
	e.kind = INO_KEYPUB;
	key_entry_name(oi->name, false, name, sizeof(name));
	if (key_pem_named(oi->name) && ino_encode(&e, &ino) >= 0) {
		r = dir_emit(f, ino, DT_REG, name, oi->name, true);
		if (r < 0)
			return r;
	}
	return emit_ssh(f, INO_KEYSSH, oi->id, 0, oi->name);
}

/* A page of keys, gathered first (no kv call is made from inside a listing), then walked. */
struct keyrows {
	struct kv_object_info *v;
	unsigned n;
};

static int gather_row(const struct kv_object_info *oi, void *userdata)
{
	struct keyrows *rows = userdata;

	if (rows->n < DIR_PAGE)
		rows->v[rows->n++] = *oi;
	return 0;
}

/* The .ssh.pub entry the key after owes (the reply ended between its two), when it is still
 * there for the caller. */
static int key_rest(struct dirfill *f)
{
	struct kv_object_info oi;
	char key[VAULTFS_NAME_MAX + 1];

	str_copy(key, sizeof(key), f->pos.after);
	f->pos.half = false;
	if (kv_object_lookup(f->v->kv, OBJECT_KEY, f->d->vault, key, &oi) < 0 || oi.deleted_at ||
	    !may_meta(f, key))
		return dir_pass(f, key);
	return emit_ssh(f, INO_KEYSSH, oi.id, 0, key);
}

static int keys_page(struct dirfill *f)
{
	struct keyrows rows = { .v = calloc(DIR_PAGE, sizeof(*rows.v)) };
	char last[VAULTFS_NAME_MAX + 1];
	int r = 0, n;

	if (!rows.v)
		return -ENOMEM;
	if (f->pos.half)
		r = key_rest(f);
	if (r >= 0)
		r = kv_object_list_page(f->v->kv, OBJECT_KEY, f->d->vault, false, f->pos.after,
					DIR_PAGE, gather_row, &rows, last);
	n = r;
	for (unsigned i = 0; r >= 0 && i < rows.n; i++)
		r = key_entries(f, &rows.v[i]);
	if (r >= 0 && last[0]) /* rows of other kinds and soft-deleted ones are walked past */
		dir_pass(f, last);
	free(rows.v);
	return r < 0 ? r : n;
}

/* The two files of a version of .keys/.versions/K. */
static int fill_key_version(const struct kv_version_info *vi, void *userdata)
{
	struct dirfill *f = userdata;
	struct ino e = { .kind = INO_KEYVERPUB, .id = vi->object_id, .version = vi->version };
	char stem[16], name[32];
	uint64_t ino;
	int r;

	if (vi->object_id != f->d->ino.id) /* the key was re-created: this directory is gone */
		return -ESTALE;
	snprintf(stem, sizeof(stem), "%u", vi->version);
	if (ino_encode(&e, &ino) < 0)
		return dir_pass(f, stem);
	key_entry_name(stem, false, name, sizeof(name));
	r = dir_emit(f, ino, DT_REG, name, stem, true);
	if (r < 0)
		return r;
	return emit_ssh(f, INO_KEYVERSSH, vi->object_id, vi->version, stem);
}

static int key_versions_page(struct dirfill *f)
{
	struct dirhandle *d = f->d;
	uint32_t after = (uint32_t)strtoul(f->pos.after, NULL, 10);
	char stem[16];
	int r;

	if (f->pos.half) { /* the version after owes its .ssh.pub (the reply ended between) */
		snprintf(stem, sizeof(stem), "%u", after);
		r = emit_ssh(f, INO_KEYVERSSH, d->ino.id, after, stem);
		if (r < 0)
			return r;
	}
	return kv_object_versions_page(f->v->kv, OBJECT_KEY, d->vault, d->name, after, DIR_PAGE,
				       fill_key_version, f);
}

/* --- certificates: their view files in the vault's directory and .versions/C --- */

/* The view files of version ci after view `from` (0: all): kind INO_CERTFILE (stem the
 * certificate's name) or INO_CERTVERFILE (stem the version's number), the key's three only
 * where the key is exportable. key: the row's key in the store. Then the row is done. */
static int cert_views(struct dirfill *f, int kind, const struct kv_cert_info *ci, const char *stem,
		      const char *key, unsigned from)
{
	struct ino e = { .kind = kind, .id = ci->info.object_id };
	char name[VAULTFS_NAME_MAX + 16];
	uint64_t ino;
	int r;

	if (kind == INO_CERTVERFILE)
		e.version = ci->version;
	for (unsigned view = from + 1; view <= INO_VIEW_MAX; view++) {
		if (cert_view_has_key(view) &&
		    (!ci->exportable || ci->protection != KEY_PROTECTION_SOFTWARE))
			continue;
		if (kind == INO_CERTFILE && !cert_view_named(stem, view))
			continue;
		e.view = view;
		if (ino_encode(&e, &ino) < 0)
			continue;
		cert_entry_name(stem, view, name, sizeof(name));
		r = dir_emit_part(f, ino, DT_REG, name, key, false, view);
		if (r < 0)
			return r;
	}
	return dir_pass(f, key);
}

/* The entries of certificate oi in a vault's directory (its view files after view `from`, of
 * its newest issued version: none while it has none) or .versions (its directory), for a
 * caller who may see it. */
static int cert_entries(struct dirfill *f, const struct kv_object_info *oi, unsigned from)
{
	struct dirhandle *d = f->d;
	struct kv_cert_info ci;
	char path[POLICY_PATH_MAX];
	uint64_t ino;
	int r;

	slash_path(path, sizeof(path), d->vault, oi->name);
	if (!visible_path(f->v, &d->c, path))
		return dir_pass(f, oi->name);
	if (d->ino.kind == INO_VERSIONS) {
		if (ino_encode(&(struct ino){ .kind = INO_CERTVERDIR, .id = oi->id }, &ino) < 0)
			return dir_pass(f, oi->name);
		return dir_emit(f, ino, DT_DIR, oi->name, oi->name, false);
	}
	if (cert_version_get(f->v->kv, d->vault, oi->name, 0, oi->id, KV_CERT_VIEW_CRT, &ci) < 0)
		return dir_pass(f, oi->name); /* nothing issued, gone, or unreadable */
	r = cert_views(f, INO_CERTFILE, &ci, oi->name, oi->name, from);
	kv_cert_info_done(&ci);
	return r;
}

/* The view files the certificate after owes (the reply ended inside its row), when it is still
 * there for the caller. */
static int cert_rest(struct dirfill *f)
{
	struct kv_object_info oi;
	char key[VAULTFS_NAME_MAX + 1];
	unsigned from = f->pos.part;

	str_copy(key, sizeof(key), f->pos.after);
	f->pos.part = 0;
	if (kv_object_lookup(f->v->kv, OBJECT_CERT, f->d->vault, key, &oi) < 0 || oi.deleted_at)
		return dir_pass(f, key);
	return cert_entries(f, &oi, from);
}

/* A page of a vault's directory or .versions: its secrets and certificates (keys are under
 * .keys), gathered first (no kv call is made from inside a listing), then walked. */
static int objects_page(struct dirfill *f)
{
	struct keyrows rows = { .v = calloc(DIR_PAGE, sizeof(*rows.v)) };
	char last[VAULTFS_NAME_MAX + 1] = "";
	int r = 0, n;

	if (!rows.v)
		return -ENOMEM;
	if (f->pos.part)
		r = cert_rest(f);
	if (r >= 0)
		r = kv_object_list_page(f->v->kv, KV_KIND_ANY, f->d->vault, false, f->pos.after,
					DIR_PAGE, gather_row, &rows, last);
	n = r;
	for (unsigned i = 0; r >= 0 && i < rows.n; i++)
		r = rows.v[i].type == OBJECT_SECRET ? object_entry(f, &rows.v[i]) :
		    rows.v[i].type == OBJECT_CERT   ? cert_entries(f, &rows.v[i], 0) :
						      dir_pass(f, rows.v[i].name);
	if (r >= 0 && last[0]) /* soft-deleted rows at the end are walked past too */
		dir_pass(f, last);
	free(rows.v);
	return r < 0 ? r : n;
}

/* A page of version numbers of .versions/C, gathered first. */
struct verrows {
	int64_t id; /* the directory's certificate */
	uint32_t v[DIR_PAGE];
	unsigned n;
};

static int gather_version(const struct kv_version_info *vi, void *userdata)
{
	struct verrows *rows = userdata;

	if (vi->object_id != rows->id) /* re-created: this directory is gone */
		return -ESTALE;
	if (rows->n < DIR_PAGE)
		rows->v[rows->n++] = vi->version;
	return 0;
}

/* The view files of version `version` of .versions/C after view `from`: none for a pending
 * version. */
static int cert_version_entries(struct dirfill *f, uint32_t version, unsigned from)
{
	struct dirhandle *d = f->d;
	struct kv_cert_info ci;
	char stem[16];
	int r;

	snprintf(stem, sizeof(stem), "%u", version);
	if (cert_version_get(f->v->kv, d->vault, d->name, version, d->ino.id, KV_CERT_VIEW_CRT,
			     &ci) < 0)
		return dir_pass(f, stem);
	r = cert_views(f, INO_CERTVERFILE, &ci, stem, stem, from);
	kv_cert_info_done(&ci);
	return r;
}

static int cert_versions_page(struct dirfill *f)
{
	struct dirhandle *d = f->d;
	uint32_t after = (uint32_t)strtoul(f->pos.after, NULL, 10);
	struct verrows *rows;
	int r = 0, n;

	if (f->pos.part) { /* the version after owes view files (the reply ended inside it) */
		unsigned from = f->pos.part;

		f->pos.part = 0;
		r = cert_version_entries(f, after, from);
		if (r < 0)
			return r;
	}
	rows = calloc(1, sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	rows->id = d->ino.id;
	r = kv_object_versions_page(f->v->kv, OBJECT_CERT, d->vault, d->name, after, DIR_PAGE,
				    gather_version, rows);
	n = r;
	for (unsigned i = 0; r >= 0 && i < rows->n; i++)
		r = cert_version_entries(f, rows->v[i], 0);
	free(rows);
	return r < 0 ? r : n;
}

/* One page of the store's entries after f->pos.after: how many rows it read (DIR_PAGE: maybe
 * more follow). */
static int dir_page(struct dirfill *f)
{
	struct dirhandle *d = f->d;
	struct kv *kv = f->v->kv;
	char last[VAULTFS_NAME_MAX + 1];
	int r;

	switch (d->ino.kind) {
	case INO_ROOT:
		return kv_vault_list_page(kv, f->pos.after, DIR_PAGE, fill_vault, f);
	case INO_KEYS:
	case INO_KEYVERSIONS:
		return keys_page(f);
	case INO_KEYVERDIR:
		return key_versions_page(f);
	case INO_CERTVERDIR:
		return cert_versions_page(f);
	case INO_VAULT:
	case INO_VERSIONS:
		return objects_page(f);
	case INO_VERDIR:
		/* the key is a number we wrote ("" before the first) */
		return kv_secret_versions_page(kv, d->vault, d->name,
					       (uint32_t)strtoul(f->pos.after, NULL, 10), DIR_PAGE,
					       fill_version, f);
	default:
		r = kv_secret_list_page(kv, d->vault, false, f->pos.after, DIR_PAGE, fill_object, f,
					last);
		if (r >= 0 && last[0]) /* soft-deleted rows at the end are walked past too */
			dir_pass(f, last);
		return r;
	}
}

/* The entries of the store from f->pos until the reply is full (-ENOBUFS) or the listing over
 * (>= 0); -ENOENT and -ESTALE when the directory is gone. */
static int dir_walk(struct dirfill *f)
{
	struct dirhandle *d = f->d;
	char vault[VAULTFS_NAME_MAX + 1];
	int r;

	/* the vault opened (ids are never reused): not another of that name made since */
	if (d->ino.kind != INO_ROOT && d->ino.kind != INO_VERDIR && d->ino.kind != INO_KEYVERDIR &&
	    d->ino.kind != INO_CERTVERDIR) {
		r = kv_vault_name(f->v->kv, d->ino.id, vault);
		if (r < 0)
			return r;
	}
	do
		r = dir_page(f);
	while (r == (int)DIR_PAGE);
	return r;
}

/* Where the listing stands after the entry `name` (past the fixed ones) of d, given with view
 * byte part: its row's key, for the first of a .keys row's two entries that the second is owed,
 * for a certificate's view file the views after it. */
static void entry_pos(const struct dirhandle *d, const char *name, unsigned part,
		      struct dirpos *pos)
{
	char key[VAULTFS_NAME_MAX + 1];
	uint32_t version;
	bool ssh = false;

	pos->half = false;
	pos->part = (unsigned char)part;
	if (part) { /* a certificate's view file: its row's key is the name before the suffix */
		size_t n = strlen(name) - cert_suffix_len(part);

		memcpy(pos->after, name, MIN(n, sizeof(pos->after) - 1));
		pos->after[MIN(n, sizeof(pos->after) - 1)] = '\0';
		return;
	}
	if (d->ino.kind == INO_KEYS && key_file_name(name, key, &ssh)) {
		str_copy(pos->after, sizeof(pos->after), key);
	} else if (d->ino.kind == INO_KEYVERDIR && key_version_name(name, &version, &ssh)) {
		snprintf(pos->after, sizeof(pos->after), "%u", version);
	} else {
		str_copy(pos->after, sizeof(pos->after), name);
		return;
	}
	pos->half = !ssh;
}

/* Where a readdir at off starts: from where the last reply ended when off is there or past it
 * (reading on, the common case, or a seek forward), from the exact entry when off is inside the
 * last reply, else from the start. Entries up to off are then walked over. */
static void dir_start(const struct dirhandle *d, off_t off, struct dirpos *ret)
{
	const char *name = d->recent;

	if (off >= d->at.off) {
		*ret = d->at;
		return;
	}
	if (off < d->from.off) {
		*ret = (struct dirpos){ .off = 0 };
		return;
	}
	*ret = d->from;
	while (ret->off < off) {
		ret->off++;
		size_t len = strlen(name);

		if (ret->off > (off_t)d->n_fixed) {
			entry_pos(d, name, (unsigned char)name[len + 1], ret);
		} else {
			ret->after[0] = '\0';
			ret->half = false;
			ret->part = 0;
		}
		name += len + 2;
	}
}

static int dir_revive(fuse_req_t req, fuse_ino_t ino, uint64_t fh, struct dirhandle **ret);

void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct dirhandle *d = fh_dir_get(fi->fh);
	struct dirfill f = { .req = req, .v = vfs_of(req), .size = size, .skip_to = off };
	_cleanup_free_ char *out = NULL;
	int r = 0;

	if (off < 0) {
		reply_err(req, -EINVAL);
		return;
	}
	if (!d) {
		r = dir_revive(req, ino, fi->fh, &d);
		if (r < 0) {
			reply_err(req, r);
			return;
		}
	}
	f.d = d;
	out = malloc(size ? size : 1);
	if (out && size > d->recent_size) {
		char *b = realloc(d->recent, size);

		if (b) {
			d->recent = b;
			d->recent_size = size;
		}
	}
	if (!out || size > d->recent_size) {
		reply_err(req, -ENOMEM);
		return;
	}
	f.out = out;
	dir_start(d, off, &f.pos);
	d->from = f.pos;
	d->recent_len = 0;

	while (r >= 0 && f.pos.off < (off_t)d->n_fixed) {
		size_t i = (size_t)f.pos.off;

		r = dir_emit(&f, d->fixed[i], DT_DIR, d->fixed_names[i], "", false);
	}
	if (r >= 0) {
		/* one snapshot of the store for the reply (best effort: else a read each page) */
		(void)kv_read_begin(f.v->kv);
		r = dir_walk(&f);
		kv_read_end(f.v->kv);
	}
	/* a full reply, or the directory gone: what was walked is given, and the next read goes
	 * on from there */
	if (r >= 0 || r == -ENOBUFS || r == -ENOENT || r == -ESTALE) {
		if (f.pos.off < off) /* the listing ended before off: nothing given */
			d->from = f.pos;
		d->at = f.pos;
		fuse_reply_buf(req, out, f.used);
		return;
	}
	/* the next read at the same offset tries again from the same place */
	d->from = d->at;
	d->recent_len = 0;
	reply_err(req, shown_err(r));
}

/* The parent's inode number, for "..". */
static fuse_ino_t parent_ino(struct vaultfsd *v, const struct node *n)
{
	struct ino p = { .kind = INO_ROOT };
	struct kv_vault_info vi;
	uint64_t ino = 1;

	if (n->ino.kind == INO_VERSIONS || n->ino.kind == INO_METADIR || n->ino.kind == INO_KEYS)
		p = (struct ino){ .kind = INO_VAULT, .id = n->ino.id };
	else if (n->ino.kind == INO_KEYVERSIONS)
		p = (struct ino){ .kind = INO_KEYS, .id = n->ino.id };
	else if ((n->ino.kind == INO_VERDIR || n->ino.kind == INO_CERTVERDIR) &&
		 kv_vault_get(v->kv, n->vault, &vi) >= 0)
		p = (struct ino){ .kind = INO_VERSIONS, .id = vi.id };
	else if (n->ino.kind == INO_KEYVERDIR && kv_vault_get(v->kv, n->vault, &vi) >= 0)
		p = (struct ino){ .kind = INO_KEYVERSIONS, .id = vi.id };
	(void)ino_encode(&p, &ino);
	return ino;
}

/* A handle for directory n, opened by c (resolved in full): `ls /vault/V` needs `list` on /V
 * (a refusal is EACCES). 0, or the -errno to reply. */
static int dir_open(struct vaultfsd *v, struct caller *c, const struct node *n, fuse_ino_t self,
		    struct dirhandle **ret)
{
	struct policy_decision dec;
	struct dirhandle *d;
	int r;

	caller_full(c);
	if (n->ino.kind == INO_VAULT || n->ino.kind == INO_VERSIONS || n->ino.kind == INO_METADIR ||
	    n->ino.kind == INO_KEYS || n->ino.kind == INO_KEYVERSIONS) {
		r = policy_check(v->policy, POLICY_OP_LIST, n->path, &c->id, c->now, &dec);
		if (r < 0)
			return shown_err(r);
		if (dec.verdict != POLICY_ALLOW) { /* recorded like a refused open */
			(void)record_access(v, c, "list", n, n->path, 0, -EACCES, dec.rule);
			return -EACCES;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->c = *c;
	d->ino = n->ino;
	memcpy(d->vault, n->vault, sizeof(d->vault));
	memcpy(d->name, n->name, sizeof(d->name));
	d->fixed_names = n->ino.kind == INO_KEYS ? keys_fixed_names : dir_fixed_names;
	d->fixed[0] = self;
	d->fixed[1] = parent_ino(v, n);
	d->n_fixed = 2;
	if (n->ino.kind == INO_VAULT || n->ino.kind == INO_KEYS) {
		static const int vault_subs[] = { INO_VERSIONS, INO_METADIR };
		static const int keys_subs[] = { INO_KEYVERSIONS };
		const int *subs = n->ino.kind == INO_VAULT ? vault_subs : keys_subs;
		size_t n_subs = n->ino.kind == INO_VAULT ? ELEMENTSOF(vault_subs) : 1;

		r = 0;
		for (size_t i = 0; r >= 0 && i < n_subs; i++)
			r = ino_encode(&(struct ino){ .kind = subs[i], .id = n->ino.id },
				       &d->fixed[2 + i]);
		if (r < 0) {
			dirhandle_free(d);
			return shown_err(r);
		}
		d->n_fixed = 2 + (unsigned)n_subs;
	}
	*ret = d;
	return 0;
}

/* A directory handle of an earlier process (after a restart or a hand-over), met at its first
 * readdir: rebuilt for the reader of req as an opendir would make it (decided and recorded the
 * same way), kept under fh until its release. A readdir at an offset walks over the entries
 * before it, as after a seek. */
static int dir_revive(fuse_req_t req, fuse_ino_t ino, uint64_t fh, struct dirhandle **ret)
{
	struct dirhandle *d = NULL;
	struct caller c;
	struct node n;
	int r;

	if (!fh_foreign(fh) || fh_type(fh) != FH_DIR)
		return -EBADF;
	r = node_for_caller(req, ino, &n, &c);
	if (r >= 0 && !ino_is_dir(n.ino.kind))
		r = -ENOTDIR;
	if (r >= 0)
		r = dir_open(vfs_of(req), &c, &n, ino, &d);
	if (r < 0)
		return r == -ENOENT ? -ESTALE : r;
	r = fh_adopt(fh, d);
	if (r < 0) {
		dirhandle_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	struct dirhandle *d = NULL;
	struct caller c;
	struct node n;
	int r;

	r = node_for_caller(req, ino, &n, &c);
	if (r >= 0 && !ino_is_dir(n.ino.kind))
		r = -ENOTDIR;
	if (r >= 0)
		r = dir_open(v, &c, &n, ino, &d);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	r = fh_dir_put(d, &fi->fh);
	if (r < 0) {
		dirhandle_free(d);
		reply_err(req, r);
		return;
	}
	if (fuse_reply_open(req, fi) != 0) {
		fh_dir_del(fi->fh);
		dirhandle_free(d);
	}
}

void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if (fh_foreign(fi->fh)) {
		dirhandle_free(fh_unadopt(fi->fh)); /* rebuilt, or never read since */
	} else {
		dirhandle_free(fh_dir_get(fi->fh));
		fh_dir_del(fi->fh);
	}
	reply_err(req, 0);
}
