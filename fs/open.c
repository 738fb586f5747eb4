/* open.c: open(2) and read(2) of /vault, the hot path: identity -> policy -> store -> decrypt
 * -> reply -> audit. The decrypted bytes live only in a secure buffer owned by the file handle,
 * wiped on release; no byte of an open is served before its record. A write open is handed to
 * write.c. Never copies a value out of its secure buffer but into the reply, and adds no
 * system call or allocation per open beyond the buffer itself. */
#include <fcntl.h>
#include <stdio.h>

#include "fs/ops-int.h"

/* A handle owning data (freed also on failure). */
int handle_new(struct secbuf *data, struct handle **ret)
{
	struct handle *h = calloc(1, sizeof(*h));

	if (!h) {
		secbuf_free(data);
		return -ENOMEM;
	}
	h->data = data;
	*ret = h;
	return 0;
}

void handle_free(struct handle *h)
{
	if (!h)
		return;
	secbuf_free(h->data); /* wipes what was read or written */
	ev_reader_free(h->ev);
	free(h->w);
	free(h);
}

/* Public bytes as a handle's: a copy in a secure buffer, as every handle holds (+ its NUL:
 * never an empty buffer). */
static int public_handle(const char *text, size_t len, struct handle **ret)
{
	struct secbuf *b = NULL;
	int r;

	r = secbuf_dup(text, len + 1, &b);
	if (r < 0)
		return r;
	b->len = len;
	return handle_new(b, ret);
}

/* The bytes an open of n gives: the value of the version (decrypted into a secure buffer), the
 * .meta document, a key's public half, or a certificate's view (of the version it pins). */
static int open_content(struct vaultfsd *v, const struct node *n, uint32_t *ret_version,
			struct handle **ret)
{
	_cleanup_secbuf_ struct secbuf *value = NULL;
	struct kv_version_info info;
	int r;

	if (n->ino.kind == INO_META) {
		_cleanup_free_ char *json = NULL;
		size_t len;

		r = meta_json(v->kv, n->vault, n->name, &json, &len);
		if (r < 0)
			return r;
		*ret_version = 0;
		return public_handle(json, len, ret);
	}
	if (ino_is_key_file(n->ino.kind)) {
		_cleanup_free_ char *text = NULL;
		size_t len;

		r = key_file_content(v->kv, n, &text, &len, ret_version);
		if (r < 0)
			return r;
		return public_handle(text, len, ret);
	}
	if (ino_is_cert_file(n->ino.kind)) {
		/* one version's view, made into its own secure buffer: the handle's, no copy */
		r = cert_file_content(v->kv, n, &value, ret_version);
		if (r < 0)
			return r;
		return handle_new(TAKE_PTR(value), ret);
	}
	r = kv_secret_get(v->kv, n->vault, n->name, n->ino.kind == INO_VERSION ? n->ino.version : 0,
			  &value, &info);
	if (r == -EKEYREVOKED || r == -EKEYEXPIRED || r == -EKEYREJECTED) {
		/* refused for its lifecycle: the record still names the version */
		if (kv_secret_info(v->kv, n->vault, n->name,
				   n->ino.kind == INO_VERSION ? n->ino.version : 0, &info) >= 0) {
			if (info.object_id != n->ino.id)
				return -ENOENT;
			*ret_version = info.version;
		}
		return r;
	}
	if (r < 0)
		return r;
	if (info.object_id != n->ino.id) /* deleted and re-created since the lookup */
		return -ENOENT;
	*ret_version = info.version;
	return handle_new(TAKE_PTR(value), ret); /* the decrypted buffer itself: no copy */
}

/* false when the caller went away (interrupted): h is dropped then, and no release comes */
bool reply_open(fuse_req_t req, struct handle *h, struct fuse_file_info *fi)
{
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1; /* plaintext never enters the page cache */
	fi->keep_cache = 0;
	fi->noflush = !h->w; /* read-only: no FLUSH round trip on close */
	if (fuse_reply_open(req, fi) == 0)
		return true;
	handle_drop(vfs_of(req), h);
	return false;
}

/* The reply to a write open: the handle, or the error r. */
static void reply_opened(fuse_req_t req, int r, struct handle *h, struct fuse_file_info *fi)
{
	if (r < 0)
		reply_err(req, r);
	else
		(void)reply_open(req, h, fi);
}

/* Decide and serve a read open of n (a value, a version, .meta, or a key's public half, which
 * are decided as `meta` on the object, or a certificate's view: `meta` for its certificates,
 * `read` for what holds its key) for c; recorded. */
static void read_open(fuse_req_t req, struct vaultfsd *v, struct caller *c, const struct node *n,
		      struct fuse_file_info *fi)
{
	struct policy_decision d = { .rule = "default" };
	struct handle *h = NULL;
	char path[VAULTFS_PATH_MAX];
	uint32_t version = ino_has_version(n->ino.kind) ? n->ino.version : 0;
	unsigned op = n->ino.kind == INO_META || ino_is_key_file(n->ino.kind) ? POLICY_OP_META :
		      ino_is_cert_file(n->ino.kind) ? cert_view_op(n->ino.view) :
						      POLICY_OP_READ;
	bool writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	int r, err = 0;

	user_path(n, path, sizeof(path));
	r = policy_check(v->policy, op, n->path, &c->id, c->now, &d);
	if (r < 0)
		err = -EIO;
	else if (d.verdict != POLICY_ALLOW)
		err = node_visible(v, c, n) ? -EACCES : hidden_err(v);
	else if (writing || (fi->flags & O_APPEND)) /* versions, .meta, .keys, views: read-only */
		err = -EROFS;
	else
		err = shown_err(open_content(v, n, &version, &h));
	kv_read_end(v->kv);
	/* A refusal is recorded before its reply, as every refusal is. An allowed read open is
	 * replied first and recorded right after, while the caller's kernel turns the reply into
	 * its next request (about 6 us less per open at p50, measured). No record, no bytes: the
	 * handle is born refused and answers reads only once its record is written; if it cannot
	 * be, it stays refused (EIO) and its buffer is wiped at once. That holds because this
	 * FUSE thread serves nothing else in between, and the handle's state says it in any case.
	 * Who the caller is was resolved before the reply (caller_init), so what the record says
	 * cannot change once the caller runs again. */
	if (err < 0) {
		(void)record_access(v, c, "open", n, path, version, err, d.rule);
		reply_err(req, err);
		return;
	}
	h->refused = -EIO;
	if (!reply_open(req, h, fi))
		h = NULL; /* the caller went away: recorded all the same, it was allowed */
	r = record_access(v, c, "open", n, path, version, 0, d.rule);
	if (h && r >= 0)
		h->refused = 0;
	else if (h)
		secbuf_free(TAKE_PTR(h->data));
}

void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	struct handle *h = NULL;
	struct caller c;
	struct node n;
	struct ino k;
	bool names_only, writing;
	int r;

	struct draft *d = draft_for(req, ino);

	if (d) { /* a temporary file of the caller's */
		caller_init(req, 0, &c);
		r = draft_open(d, &c, fi->flags, &h);
		reply_opened(req, r, h, fi);
		return;
	}
	/* O_TRUNC needs write access, as the kernel says for any file system */
	writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	if (writing && (h = pending_find(v, ino)) && h->w->c.id.uid == fuse_req_ctx(req)->uid) {
		/* a file the caller created and has not committed (lookup shows it to its creator):
		 * another writer of its own, as a create without O_EXCL would make */
		n = h->w->n;
		caller_init(req, CALLER_RECORD, &c);
		r = write_open(v, &c, &n, fi->flags, true, &h);
		reply_opened(req, r, h, fi);
		return;
	}
	/* value files read: names only, the object id is checked in what kv_secret_get (or
	 * cert_file_content) returns */
	names_only = !writing && ino_decode(ino, &k) >= 0 &&
		     (k.kind == INO_SECRET || k.kind == INO_VERSION || ino_is_cert_file(k.kind));
	/* a read open reads in one snapshot; a write open makes its own transactions */
	if (!writing)
		(void)kv_read_begin(v->kv);
	r = shown_err(node_get(v, ino, names_only, &n));
	if (r >= 0 && ino_is_dir(n.ino.kind))
		r = -EISDIR;
	if (r < 0) {
		kv_read_end(v->kv);
		reply_err(req, r);
		return;
	}
	caller_init(req, CALLER_RECORD, &c);
	if (writing && n.ino.kind == INO_SECRET) {
		r = write_open(v, &c, &n, fi->flags, false, &h);
		reply_opened(req, r, h, fi);
		return;
	}
	read_open(req, v, &c, &n, fi); /* ends the read session */
}

void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	const struct secbuf *b;
	size_t len;

	(void)ino;
	if (h->refused) {
		reply_err(req, h->refused);
		return;
	}
	b = handle_data(h);
	len = b->len;
	if (off < 0 || (uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	fuse_reply_buf(req, (const char *)b->data + off, size);
}
