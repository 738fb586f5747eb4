/* attr.c: lookup, stat and access(2) of /vault, answered per caller: its own uid and gid, a
 * mode that says what the policy lets it do, the exact size of what an open would give it.
 * A name the caller may not see is refused before it is looked up (the answer must not tell
 * whether it exists), and that refusal recorded. Never decrypts a value. */
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs/ops-int.h"

/* A directory: the caller's, 0500, and the time the daemon started serving (not 1970: a
 * vault's directory lists what changes at any time, and has no time of its own). */
void fill_dir_attr(const struct vaultfsd *v, const struct caller *c, fuse_ino_t ino,
		   struct stat *st)
{
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0500;
	st->st_nlink = 2;
	st->st_uid = c->id.uid;
	st->st_gid = c->id.gid;
	st->st_mtime = st->st_ctime = st->st_atime = v->started;
}

/* Attributes as this caller sees them: its own uid and gid; for a secret 0400 where it may
 * read, 0200 where it may write, 0600 where both (versions and .meta are read-only: 0400 or
 * 0000; a key's files 0400 where it holds `meta`, else 0000; a certificate's view files 0400
 * where it holds the view's op, `meta` or `read`, else 0000); the exact size of what an open
 * would give it. */
int fill_attr(struct vaultfsd *v, struct caller *c, const struct node *n, fuse_ino_t ino,
	      struct stat *st)
{
	struct kv_version_info info;
	struct node_info ni;
	unsigned rights = 0, shown;
	int r;

	memset(st, 0, sizeof(*st));
	if (ino_is_dir(n->ino.kind)) {
		fill_dir_attr(v, c, ino, st);
		return 0;
	}
	/* the rights the mode shows */
	shown = n->ino.kind == INO_META || ino_is_key_file(n->ino.kind) ? POLICY_OP_META :
		ino_is_cert_file(n->ino.kind) ? cert_view_op(n->ino.view) :
		n->ino.kind == INO_SECRET     ? POLICY_OP_READ | POLICY_OP_WRITE :
						POLICY_OP_READ;
	r = policy_rights(v->policy, n->path, &c->id, c->now, &rights);
	if (r >= 0 && (rights & shown) != shown && c->pending) {
		unsigned maybe = 0;

		/* resolve the rest only when it could show another mode */
		r = policy_rights_maybe(v->policy, n->path, &c->id, c->now, &maybe);
		if (r >= 0 && (maybe & shown) != (rights & shown)) {
			caller_full(c);
			r = policy_rights(v->policy, n->path, &c->id, c->now, &rights);
		}
	}
	if (r < 0)
		return r;
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = c->id.uid;
	st->st_gid = c->id.gid;
	st->st_blksize = 4096;
	if (n->ino.kind == INO_META) {
		_cleanup_free_ char *json = NULL;
		size_t len = 0;

		if (rights & POLICY_OP_META) {
			r = meta_json(v->kv, n->vault, n->name, &json, &len);
			if (r < 0)
				return r;
		}
		st->st_mode = S_IFREG | (rights & POLICY_OP_META ? 0400 : 0);
		/* the size tells how many versions and tags there are: only to who may read it */
		st->st_size = rights & POLICY_OP_META ? (off_t)len : 0;
		return 0;
	}
	if (ino_is_cert_file(n->ino.kind)) {
		bool may = (rights & shown) == shown;
		size_t len = 0;

		/* the size and dates only to who may open it, as a key file's */
		r = cert_file_stat(v->kv, n, may, &len, &info);
		if (r < 0)
			return r;
		if (may) {
			st->st_mtime = st->st_atime = info.created;
			st->st_ctime = info.updated;
		}
		st->st_mode = S_IFREG | (may ? 0400 : 0);
		st->st_size = (off_t)len;
		st->st_blocks = (blkcnt_t)((len + 511) / 512);
		return 0;
	}
	if (ino_is_key_file(n->ino.kind)) {
		_cleanup_free_ char *text = NULL;
		uint32_t version;
		size_t len = 0;

		/* public bytes, but their size and dates only to who may read them, as .meta's */
		if (rights & POLICY_OP_META) {
			r = key_file_content(v->kv, n, &text, &len, &version);
			if (r < 0)
				return r;
			st->st_mtime = st->st_atime = n->info.created;
			st->st_ctime = n->info.updated;
		}
		st->st_mode = S_IFREG | (rights & POLICY_OP_META ? 0400 : 0);
		st->st_size = (off_t)len;
		st->st_blocks = (blkcnt_t)((len + 511) / 512);
		return 0;
	}
	if (n->has_info) { /* looked up already in this request */
		ni = n->info;
	} else {
		r = kv_secret_info(v->kv, n->vault, n->name,
				   n->ino.kind == INO_VERSION ? n->ino.version : 0, &info);
		if (r < 0)
			return r;
		ni = node_info_of(&info);
	}
	st->st_mode = S_IFREG | (rights & POLICY_OP_READ ? 0400 : 0);
	if (n->ino.kind == INO_SECRET && (rights & POLICY_OP_WRITE))
		st->st_mode |= 0200;
	st->st_size = (off_t)ni.size;
	st->st_blocks = (blkcnt_t)((ni.size + 511) / 512);
	st->st_mtime = ni.created;
	st->st_ctime = ni.updated;
	st->st_atime = ni.created;
	return 0;
}

void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e = { 0 };

	e.ino = st->st_ino;
	e.attr = *st;
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fuse_reply_entry(req, &e);
}

/* The op whose decision is recorded when a name is refused. */
static unsigned refusal_op(const struct node *n)
{
	if (!n->name[0])
		return POLICY_OP_LIST;
	if (ino_is_cert_file(n->ino.kind))
		return cert_view_op(n->ino.view);
	/* .meta and everything of .keys are read under `meta` */
	if (n->ino.kind == INO_META || (n->ino.kind >= INO_KEYS && n->ino.kind <= INO_KEYVERSSH))
		return POLICY_OP_META;
	return POLICY_OP_READ;
}

/* The kernel asks again within this long for one attempt (a revalidation, then a lookup). */
#define REFUSAL_REPEAT_MS 50

/* Was this refusal (same thread, same name) recorded just before, as the kernel's own repeat
 * of one attempt? The window runs from the record, never from the last hit: a thread that
 * keeps probing a name is recorded again at least every REFUSAL_REPEAT_MS, however fast it
 * probes. Remembers the last refusal recorded. */
static bool refusal_seen(struct vaultfsd *v, fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int64_t now_ms = clock_ms(CLOCK_MONOTONIC);
	pid_t tid = fuse_req_ctx(req)->pid;

	if (v->last_refusal.tid == tid && v->last_refusal.parent == parent &&
	    streq(v->last_refusal.name, name) && now_ms - v->last_refusal.at_ms < REFUSAL_REPEAT_MS)
		return true;
	v->last_refusal.tid = tid;
	v->last_refusal.parent = parent;
	str_copy(v->last_refusal.name, sizeof(v->last_refusal.name), name);
	v->last_refusal.at_ms = now_ms;
	return false;
}

/* A name p's caller may not see: refused as hidden_err says, recorded once per attempt. */
static int refuse_name(struct vaultfsd *v, fuse_req_t req, struct caller *c, fuse_ino_t parent,
		       const char *name, const struct node *probe)
{
	struct policy_decision d = { .rule = "default" };
	char path[VAULTFS_PATH_MAX];
	int err = hidden_err(v);

	/* the kernel may ask twice for one attempt (revalidating a cached name, then looking it
	 * up): one record per attempt */
	if (refusal_seen(v, req, parent, name))
		return err;
	caller_resolve(c, CALLER_RECORD);
	(void)policy_check(v->policy, refusal_op(probe), probe->path, &c->id, c->now, &d);
	user_path(probe, path, sizeof(path));
	/* refused at lookup: the only record of this attempt */
	if (record_access(v, c, "lookup", probe, path, 0, err, d.rule) < 0)
		err = -EIO;
	return err;
}

/* A name in vault p only c's own files hold: a temporary file (draft.c), or a file c created
 * and has not committed yet (install(1) chmods it by name). Replied (true), or false. */
static bool lookup_own(fuse_req_t req, struct vaultfsd *v, const struct caller *c,
		       const struct node *p, fuse_ino_t parent, const char *name)
{
	const struct draft *d = draft_find(v, parent, name);
	const struct handle *h;
	struct kv_version_info info;
	struct node n;
	struct stat st;

	if (d && d->uid == c->id.uid) {
		draft_attr(d, fuse_req_ctx(req), &st);
		reply_entry(req, &st);
		return true;
	}
	if (!v->writers || !named_node(p, name, &n) || !(h = pending_named(v, &n)) ||
	    h->w->c.id.uid != c->id.uid || kv_secret_info(v->kv, n.vault, n.name, 0, &info) >= 0)
		return false;
	handle_attr(h, h->w->ino, fuse_req_ctx(req), &st);
	reply_entry(req, &st);
	return true;
}

/* May c see the certificate whose view file `name` of vault directory p would be? */
static bool cert_name_visible(struct vaultfsd *v, struct caller *c, const struct node *p,
			      const char *name)
{
	char cert[VAULTFS_NAME_MAX + 1], path[POLICY_PATH_MAX];
	unsigned view;

	if (p->ino.kind != INO_VAULT || !cert_file_name(name, cert, &view))
		return false;
	slash_path(path, sizeof(path), p->vault, cert);
	return visible_path(v, c, path);
}

void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vaultfsd *v = vfs_of(req);
	struct caller c;
	struct node p, n = { 0 }, probe;
	struct stat st;
	bool relaxed = false;
	uint64_t ino;
	int r;

	/* one snapshot of the store for the request (best effort: each read has its own else) */
	_cleanup_kv_read_ struct kv *session = kv_read_scoped(v->kv);

	r = node_for_caller(req, parent, &p, &c);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (p.ino.kind == INO_VAULT && lookup_own(req, v, &c, &p, parent, name))
		return;
	/* decide on the name before looking it up: a refusal must not tell whether it exists.
	 * A certificate's view file (C.crt) is decided as the certificate: a name one may see
	 * as either is looked up, and what it names decided after */
	if (named_node(&p, name, &probe) && !node_visible(v, &c, &probe)) {
		if (!cert_name_visible(v, &c, &p, name)) {
			kv_read_end(TAKE_PTR(session));
			reply_err(req, refuse_name(v, req, &c, parent, name, &probe));
			return;
		}
		relaxed = true;
	}
	r = child_get(v, &p, name, &n);
	if (r >= 0 && (relaxed || ino_is_cert_file(n.ino.kind)) && !node_visible(v, &c, &n)) {
		kv_read_end(TAKE_PTR(session));
		reply_err(req, refuse_name(v, req, &c, parent, name, &n));
		return;
	}
	if (r >= 0)
		r = ino_encode(&n.ino, &ino);
	if (r >= 0)
		r = fill_attr(v, &c, &n, ino, &st);
	kv_read_end(TAKE_PTR(session));
	if (r < 0) {
		reply_err(req, shown_err(r));
		return;
	}
	reply_entry(req, &st);
}

/* The open file an attribute request is about: the one it names (fi, for a file), or a
 * pending file by its number; NULL for anything else. *ret_gone: a number of ours that no
 * longer names a pending file. */
struct handle *handle_for(struct vaultfsd *v, fuse_ino_t ino, const struct fuse_file_info *fi,
			  bool *ret_gone)
{
	struct ino k;

	*ret_gone = false;
	if (ino_decode(ino, &k) < 0) {
		struct handle *h = fi ? handle_of(fi) : pending_find(v, ino);

		*ret_gone = !h;
		return h;
	}
	return fi && !ino_is_dir(k.kind) ? handle_of(fi) : NULL;
}

/* The attributes of an open file: the bytes this open sees (or has written so far). */
void handle_attr(const struct handle *h, fuse_ino_t ino, const struct fuse_ctx *ctx,
		 struct stat *st)
{
	const struct secbuf *b = handle_data(h);
	size_t len = b ? b->len : 0; /* none: refused, tells nothing */

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | (h->w ? h->w->mode : 0400); /* a read handle was allowed to read */
	st->st_nlink = 1;
	st->st_uid = ctx->uid;
	st->st_gid = ctx->gid;
	st->st_size = (off_t)len;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((len + 511) / 512);
}

void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	const struct handle *h;
	struct caller c;
	struct node n;
	struct stat st;
	bool gone;
	int r;

	const struct draft *d = draft_for(req, ino);

	if (d) { /* a temporary file of the caller's */
		draft_attr(d, fuse_req_ctx(req), &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	/* fstat of an open file (when the kernel names it), or a file not committed yet */
	h = handle_for(v, ino, fi, &gone);
	if (gone) {
		reply_err(req, -ENOENT);
		return;
	}
	if (h) {
		handle_attr(h, ino, fuse_req_ctx(req), &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	(void)kv_read_begin(v->kv);
	r = node_for_caller(req, ino, &n, &c);
	if (r >= 0)
		r = shown_err(fill_attr(v, &c, &n, ino, &st));
	kv_read_end(v->kv);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	fuse_reply_attr(req, &st, 0);
}

/* access(2): answered from the policy, for the caller resolved in full. */
void ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct vaultfsd *v = vfs_of(req);
	struct caller c;
	struct node n;
	unsigned rights = 0, need = 0;
	int r;

	r = node_for_caller(req, ino, &n, &c);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (mask & W_OK) {
		/* a secret: `write`; versions, .meta and their directories are read-only; for the
		 * root and a vault the answer would depend on names not yet made: the operations
		 * themselves decide (and are recorded) */
		bool names_dir = n.ino.kind == INO_ROOT || n.ino.kind == INO_VAULT;

		if (n.ino.kind != INO_SECRET) {
			reply_err(req, names_dir ? -EACCES : -EROFS);
			return;
		}
		need |= POLICY_OP_WRITE;
	}
	if (n.ino.kind == INO_ROOT) {
		reply_err(req, 0);
		return;
	}
	caller_full(&c);
	r = policy_rights(v->policy, n.path, &c.id, c.now, &rights);
	if (r < 0) {
		reply_err(req, -EIO);
		return;
	}
	if (ino_is_dir(n.ino.kind)) {
		/* a vault's directories need `list`; a .versions/S directory, a right on S */
		if (mask & (R_OK | X_OK))
			need = n.ino.kind == INO_VERDIR || n.ino.kind == INO_KEYVERDIR ||
					       n.ino.kind == INO_CERTVERDIR ?
				       0 :
				       POLICY_OP_LIST;
	} else {
		if (mask & X_OK) {
			reply_err(req, -EACCES);
			return;
		}
		if (mask & R_OK)
			need |= n.ino.kind == INO_META || ino_is_key_file(n.ino.kind) ?
					POLICY_OP_META :
				ino_is_cert_file(n.ino.kind) ? cert_view_op(n.ino.view) :
							       POLICY_OP_READ;
	}
	reply_err(req, (rights & need) == need ? 0 : -EACCES);
}
