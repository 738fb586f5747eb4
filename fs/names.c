/* names.c: making and removing names in /vault: create(2) of a secret (written at close, see
 * write.c), rm (soft delete, `delete`), mkdir and rmdir of a vault (`manage`). Every change and
 * every refusal is recorded before the reply; no record, no change. Never removes a version
 * for good (that is `vaultctl secret purge`), never makes a name that cannot exist. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fs/ops-int.h"

/* Where a name may be made or removed: a secret in a vault's directory, a vault in /vault
 * (dir). Elsewhere EROFS (.versions, .meta, .keys and what is in them), EPERM (a file in /vault, a
 * directory in a vault), EINVAL for a name that cannot exist; such a refusal is recorded as
 * event, with the path as typed and no rule (no policy could allow it). */
static int name_place(struct vaultfsd *v, struct caller *c, const struct node *p, const char *name,
		      bool dir, const char *event)
{
	char path[VAULTFS_PATH_MAX];
	int err;

	switch (p->ino.kind) {
	case INO_ROOT:
		err = dir ? 0 : -EPERM;
		break;
	case INO_VAULT:
		if (reserved_name(name))
			err = -EROFS;
		else
			err = dir ? -EPERM : 0;
		break;
	case INO_VERSIONS:
	case INO_METADIR:
	case INO_VERDIR:
	case INO_KEYS:
	case INO_KEYVERSIONS:
	case INO_KEYVERDIR:
	case INO_CERTVERDIR:
		err = -EROFS;
		break;
	default:
		err = -ENOTDIR;
		break;
	}
	if (!err && !kv_name_valid(name))
		err = -EINVAL;
	if (err) {
		struct node n;

		/* the record names the vault and object the path is about, where there is one */
		if (!named_node(p, name, &n))
			n = *p;
		caller_resolve(c, CALLER_RECORD);
		child_path(p, name, path, sizeof(path));
		(void)record_access(v, c, event, &n, path, 0, err, NULL);
	}
	return err;
}

/* A change of a name by a caller: what it is about, and the decision on it. */
struct change {
	const char *event; /* the record's */
	struct caller c;
	struct node n;
	struct policy_decision d;
};

/* The change event of the entry name of directory parent (a vault when dir, else a secret) for
 * req's caller: placed (name_place), decided (op) and recorded, allowed or refused. 0 when it
 * may go ahead, else the -errno to reply. */
static int change_begin(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir, unsigned op,
			struct change *ch)
{
	struct vaultfsd *v = vfs_of(req);
	struct node p;
	int r;

	r = node_for_caller(req, parent, &p, &ch->c);
	if (r < 0)
		return r;
	r = name_place(v, &ch->c, &p, name, dir, ch->event);
	if (r < 0)
		return r;
	(void)named_node(&p, name, &ch->n);
	caller_resolve(&ch->c, CALLER_RECORD);
	r = caller_decide(v, &ch->c, op, &ch->n, &ch->d);
	if (record_access(v, &ch->c, ch->event, &ch->n, ch->n.path, 0, r, ch->d.rule) < 0 && !r)
		r = -EIO;
	return r;
}

/* The change was made (r >= 0) or failed: then recorded again with its errno (as vaultctl
 * does). 0 or the -errno to reply. */
static int change_end(struct vaultfsd *v, const struct change *ch, int r)
{
	if (r >= 0)
		return 0;
	r = shown_err(r);
	(void)record_access(v, &ch->c, ch->event, &ch->n, ch->n.path, 0, r, ch->d.rule);
	return r;
}

/* Is name held by an object of vault p (a secret or another kind: one name space), live or
 * soft-deleted? (Names that cannot be an object's are not.) */
static bool taken(struct vaultfsd *v, const struct node *p, const char *name)
{
	struct kv_object_info si;

	return kv_name_valid(name) &&
	       kv_object_lookup(v->kv, KV_KIND_ANY, p->vault, name, &si) != -ENOENT;
}

/* A secret n cannot be made where an object of another kind (a key) holds its name: -EEXIST,
 * recorded as event, when c holds `write` on it; 0 otherwise (a caller without it is refused
 * by the write itself, and learns nothing of the name). */
static int kind_clash(struct vaultfsd *v, struct caller *c, const struct node *n, const char *event)
{
	struct policy_decision d;
	struct kv_object_info oi;
	char path[VAULTFS_PATH_MAX];

	if (kv_object_lookup(v->kv, KV_KIND_ANY, n->vault, n->name, &oi) < 0 ||
	    oi.type == OBJECT_SECRET)
		return 0;
	if (caller_decide(v, c, POLICY_OP_WRITE, n, &d) < 0)
		return 0;
	user_path(n, path, sizeof(path));
	(void)record_access(v, c, event, n, path, 0, -EEXIST, d.rule);
	return -EEXIST;
}

static void reply_created(fuse_req_t req, struct handle *h, struct fuse_file_info *fi)
{
	struct fuse_entry_param e = { 0 };

	handle_attr(h, h->w->ino, fuse_req_ctx(req), &e.attr);
	e.ino = h->w->ino;
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	if (handle_register(h, &fi->fh) < 0) {
		handle_drop(vfs_of(req), h);
		reply_err(req, -ENFILE);
		return;
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 0;
	if (fuse_reply_create(req, &e, fi) != 0)
		handle_drop(vfs_of(req), h); /* interrupted: no release will come */
}

/* open(O_CREAT) of a temporary name in vault p: a draft (draft.c), held only here until it is
 * renamed over a secret (ll_rename) or unlinked. Nothing is recorded: nothing changes. */
static void draft_create(fuse_req_t req, struct caller *c, const struct node *p, fuse_ino_t parent,
			 const char *name, struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	struct draft *d = draft_find(v, parent, name);
	struct handle *h;
	int r;

	if (d && ((fi->flags & O_EXCL) || d->uid != c->id.uid)) {
		reply_err(req, -EEXIST);
		return;
	}
	r = d ? 0 : draft_new(v, c, parent, p->vault, name, &d);
	if (r >= 0)
		r = draft_open(d, c, fi->flags, &h);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	reply_created(req, h, fi);
}

/* open(O_CREAT) of a name the kernel has no entry for. The secret is made at the first commit
 * (close); until then the file is known by a pending number and has no name in the store. */
void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	struct handle *h = NULL;
	struct caller c;
	struct node p, n;
	int err;

	(void)mode; /* the mode is the policy's answer */
	err = node_for_caller(req, parent, &p, &c);
	if (!err && p.ino.kind == INO_VAULT && draft_name(name) && !reserved_name(name) &&
	    !taken(v, &p, name)) {
		draft_create(req, &c, &p, parent, name, fi);
		return;
	}
	if (!err)
		err = name_place(v, &c, &p, name, false, "open-write");
	if (!err) {
		(void)named_node(&p, name, &n);
		caller_resolve(&c, CALLER_RECORD);
		err = kind_clash(v, &c, &n, "open-write");
	}
	if (!err)
		err = write_open(v, &c, &n, fi->flags, true, &h);
	if (err) {
		reply_err(req, err);
		return;
	}
	reply_created(req, h, fi);
}

/* Remember the secret ch soft-deleted, for a create of its name that completes a replace. */
static void remember_unlink(struct vaultfsd *v, const struct change *ch)
{
	v->last_unlink.uid = ch->c.id.uid;
	v->last_unlink.pid = ch->c.id.known & IDENTITY_PID ? ch->c.id.pid : 0;
	str_copy(v->last_unlink.vault, sizeof(v->last_unlink.vault), ch->n.vault);
	str_copy(v->last_unlink.name, sizeof(v->last_unlink.name), ch->n.name);
	v->last_unlink.at_ms = clock_ms(CLOCK_MONOTONIC);
}

/* Does `name` in n's vault name a view file of a live certificate? */
static bool cert_view_name(struct vaultfsd *v, const struct node *n, const char *name)
{
	struct kv_object_info oi;
	char cert[VAULTFS_NAME_MAX + 1];
	unsigned view;

	return cert_file_name(name, cert, &view) &&
	       kv_object_lookup(v->kv, OBJECT_CERT, n->vault, cert, &oi) >= 0 && !oi.deleted_at;
}

/* rm: soft delete (`delete`); the secret keeps its name until purged. */
void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vaultfsd *v = vfs_of(req);
	struct change ch = { .event = "delete" };
	struct kv_version_info info;
	struct draft *d = draft_find(v, parent, name);
	bool known = false;
	int err;

	if (d && d->uid == fuse_req_ctx(req)->uid) { /* a temporary file: nothing to record */
		draft_drop(v, d);
		reply_err(req, 0);
		return;
	}
	err = change_begin(req, parent, name, false, POLICY_OP_DELETE, &ch);
	if (!err) {
		known = kv_secret_info(v->kv, ch.n.vault, ch.n.name, 0, &info) >= 0;
		/* a certificate's view file is read-only: the certificate is deleted by vaultctl */
		err = change_end(v, &ch,
				 !known && cert_view_name(v, &ch.n, name) ?
					 -EROFS :
					 kv_secret_delete(v->kv, ch.n.vault, ch.n.name));
	}
	if (!err && known) {
		changed(v, ch.n.vault, ch.n.name, info.object_id, true);
		remember_unlink(v, &ch);
	}
	reply_err(req, err);
}

/* mkdir /vault/NAME: a vault (`manage` on /NAME), with the default retention. */
void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct vaultfsd *v = vfs_of(req);
	struct change ch = { .event = "vault-create" };
	struct kv_vault_info vi;
	struct stat st = { 0 };
	uint64_t ino;
	int r;

	(void)mode;
	r = change_begin(req, parent, name, true, POLICY_OP_MANAGE, &ch);
	if (!r)
		r = change_end(v, &ch, kv_vault_create(v->kv, name, 0));
	if (!r)
		r = shown_err(kv_vault_get(v->kv, name, &vi));
	if (r >= 0)
		r = shown_err(ino_encode(&(struct ino){ .kind = INO_VAULT, .id = vi.id }, &ino));
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	fill_dir_attr(v, &ch.c, ino, &st);
	reply_entry(req, &st);
}

/* rmdir /vault/NAME: `manage`; ENOTEMPTY while the vault holds any object (deleted ones too,
 * until purged). */
void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vaultfsd *v = vfs_of(req);
	struct change ch = { .event = "vault-delete" };
	int r;

	r = change_begin(req, parent, name, true, POLICY_OP_MANAGE, &ch);
	if (!r)
		r = change_end(v, &ch, kv_vault_delete(v->kv, name));
	reply_err(req, r);
}

/* rename(2) of a temporary file (draft.c) of the caller's, in its vault: onto another
 * temporary name it is renamed (still a draft); onto any other name it is committed as that
 * secret's next version, or as a new secret, atomically (a reader opens the old version or the
 * new, never a missing file), decided as `write` on the target and recorded (secret_commit);
 * then the draft is gone. RENAME_NOREPLACE onto a live secret is EEXIST (mv tries it first);
 * RENAME_EXCHANGE is EINVAL (there is no secret to put in the draft's place). Any other rename
 * is EPERM: a secret's name is changed by no one (a version is made by writing), and across
 * vaults EXDEV (mv then copies). */
void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	struct vaultfsd *v = vfs_of(req);
	struct draft *d = draft_find(v, parent, name), *other;
	struct kv_version_info info;
	struct caller c;
	struct node p, n;
	int r;

	if (flags & ~(unsigned)RENAME_NOREPLACE) {
		reply_err(req, -EINVAL);
		return;
	}
	if (!d || d->uid != fuse_req_ctx(req)->uid) {
		reply_err(req, -EPERM);
		return;
	}
	if (newparent != parent) {
		reply_err(req, -EXDEV);
		return;
	}
	r = node_for_caller(req, newparent, &p, &c);
	if (r >= 0 && draft_name(newname) && !reserved_name(newname) && !taken(v, &p, newname)) {
		other = draft_find(v, parent, newname);
		if (other && (flags & RENAME_NOREPLACE || other->uid != c.id.uid)) {
			reply_err(req, -EEXIST);
			return;
		}
		if (other && other != d)
			draft_drop(v, other);
		str_copy(d->name, sizeof(d->name), newname);
		reply_err(req, 0);
		return;
	}
	if (r >= 0)
		r = name_place(v, &c, &p, newname, false, "set");
	if (r >= 0) {
		(void)named_node(&p, newname, &n);
		caller_resolve(&c, CALLER_RECORD);
		if ((flags & RENAME_NOREPLACE) &&
		    kv_secret_info(v->kv, n.vault, n.name, 0, &info) >= 0)
			r = -EEXIST;
		else
			r = kind_clash(v, &c, &n, "set");
	}
	if (r >= 0)
		r = secret_commit(v, &c, &n, d->data, false, true);
	if (r >= 0)
		draft_drop(v, d);
	reply_err(req, r);
}
