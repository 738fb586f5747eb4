/* write.c: writes through the mount. A write handle gathers the next version of a secret in a
 * secure buffer and close commits it (policy `write`, recorded before the store is touched: no
 * record, no version). Files created here and not committed yet are pending: known to the
 * kernel by a number of ours, with no name in the store. Never writes a byte outside a secure
 * buffer, never commits a version the opener may no longer write, never logs a value. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "fs/commit.h"
#include "fs/notify.h"
#include "fs/ops-int.h"

/* A file created here and not yet released, by the number we gave it. */
struct handle *pending_find(struct vaultfsd *v, uint64_t ino)
{
	for (struct handle *h = v->writers; h; h = h->w->next)
		if (h->w->pending && h->w->ino == ino)
			return h;
	return NULL;
}

static void writers_remove(struct vaultfsd *v, struct handle *h)
{
	for (struct handle **p = &v->writers; *p; p = &(*p)->w->next)
		if (*p == h) {
			*p = h->w->next;
			h->w->next = NULL;
			v->n_writers--;
			writers_settle(v);
			return;
		}
}

/* Is there room for one more write buffer (a write handle or a draft) of uid? 0, -EMFILE past
 * VAULTFS_WRITERS_UID_MAX of its own, -ENFILE past VAULTFS_WRITERS_MAX in all. A scan: only write opens and
 * creates ask, and the lists are bounded by the caps. */
int writer_room(struct vaultfsd *v, uid_t uid)
{
	unsigned own = 0;

	if (v->n_writers + v->n_drafts >= VAULTFS_WRITERS_MAX)
		return -ENFILE;
	for (const struct handle *h = v->writers; h; h = h->w->next)
		own += h->w->c.id.uid == uid;
	for (const struct draft *d = v->drafts; d; d = d->next)
		own += d->uid == uid;
	return own >= VAULTFS_WRITERS_UID_MAX ? -EMFILE : 0;
}

/* A write buffer went. When the last of a burst goes, the secure-memory pool gives its pages
 * back: they were wiped, but stay locked while pooled, and a burst of writers is what filled
 * it. (A read open takes its buffer from the pool: the next few map their own again.) */
void writers_settle(struct vaultfsd *v)
{
	unsigned n = v->n_writers + v->n_drafts;

	if (n > v->writers_peak)
		v->writers_peak = n;
	if (n == 0 && v->writers_peak > WRITERS_BURST) {
		secbuf_pool_drain();
		v->writers_peak = 0;
	}
}

/* The bytes of locked memory the write buffers hold (their caps): uid's, and all together. A
 * scan, as writer_room's: only a buffer that grows asks, a few times in its life (doubling). */
static void write_bytes(const struct vaultfsd *v, uid_t uid, size_t *ret_own, size_t *ret_all)
{
	size_t own = 0, all = 0;

	for (const struct handle *h = v->writers; h; h = h->w->next) {
		size_t n = h->data ? h->data->cap : 0;

		all += n;
		own += h->w->c.id.uid == uid ? n : 0;
	}
	for (const struct draft *d = v->drafts; d; d = d->next) {
		size_t n = d->data ? d->data->cap : 0;

		all += n;
		own += d->uid == uid ? n : 0;
	}
	*ret_own = own;
	*ret_all = all;
}

/* May the write buffers of uid hold more bytes? 0, -EDQUOT past VAULTFS_WRITE_BYTES_UID_MAX
 * (the uid's), -ENOSPC past VAULTFS_WRITE_BYTES_MAX (all uids'). A buffer's bytes count from its
 * making to its free: what it frees is the budget back. */
static int write_budget(const struct vaultfsd *v, uid_t uid, size_t more)
{
	size_t own, all;

	write_bytes(v, uid, &own, &all);
	if (more > VAULTFS_WRITE_BYTES_UID_MAX || own > VAULTFS_WRITE_BYTES_UID_MAX - more)
		return -EDQUOT;
	if (more > VAULTFS_WRITE_BYTES_MAX || all > VAULTFS_WRITE_BYTES_MAX - more)
		return -ENOSPC;
	return 0;
}

/* Make *bp, a write buffer of uid's, hold at least need (<= VAULTFS_VALUE_MAX) bytes: a write
 * buffer starts at a page and grows as bytes arrive, by a copy into a larger secure buffer
 * (doubling, or just what is needed where doubling would pass a budget); the old one is wiped
 * as it is freed. Bytes past len stay zero. -EDQUOT or -ENOSPC past the budgets (write_budget),
 * and then *bp is as it was. */
int write_buf_reserve(struct vaultfsd *v, uid_t uid, struct secbuf **bp, size_t need)
{
	struct secbuf *b = *bp, *n;
	size_t cap;
	int r;

	if (need <= b->cap)
		return 0;
	cap = MIN(need > 2 * b->cap ? need : 2 * b->cap, (size_t)VAULTFS_VALUE_MAX);
	r = write_budget(v, uid, cap - b->cap);
	if (r < 0 && cap > need) {
		cap = need;
		r = write_budget(v, uid, cap - b->cap);
	}
	if (r < 0)
		return r;
	r = secbuf_new(cap, &n);
	if (r < 0)
		return r;
	memcpy(n->data, b->data, b->len);
	n->len = b->len;
	secbuf_free(b);
	*bp = n;
	return 0;
}

/* Out of vfs->writers, or its draft closed, and freed: for a handle the kernel never got or
 * let go. */
void handle_drop(struct vaultfsd *v, struct handle *h)
{
	if (h && h->w && h->w->draft)
		draft_close(v, h->w->draft);
	else if (h && h->w)
		writers_remove(v, h);
	handle_free(h);
}

/* The inode number of vault's directory, 0 when it cannot be had. */
static uint64_t vault_ino(struct vaultfsd *v, const char *vault)
{
	struct kv_vault_info vi;
	struct ino k = { .kind = INO_VAULT };
	uint64_t ino;

	if (kv_vault_get(v->kv, vault, &vi) < 0)
		return 0;
	k.id = vi.id;
	return ino_encode(&k, &ino) < 0 ? 0 : ino;
}

/* The kernel may hold what changed: the pages of a MAP_PRIVATE mapping of the old version
 * (object_id's inode) and, with entry, the name (a deleted one, or one that still names a
 * pending number). Queued for notify.c's thread; never waits: the request thread must never
 * ask the kernel to drop a cache itself (the call can wait for a request of ours). */
void changed(struct vaultfsd *v, const char *vault, const char *name, int64_t object_id, bool entry)
{
	struct ino k = { .kind = INO_SECRET, .id = object_id };
	uint64_t ino;

	if (!v->notify)
		return;
	if (object_id > 0 && ino_encode(&k, &ino) >= 0)
		notify_inode(v->notify, ino);
	if (entry && (ino = vault_ino(v, vault)) != 0)
		notify_entry(v->notify, ino, name);
}

/* The handle cannot take its bytes (err: -EFBIG past VAULTFS_VALUE_MAX, -EDQUOT or -ENOSPC past
 * the write budgets, -ENOMEM): its bytes are wiped and nothing will be committed; every later
 * write and close gets err. Recorded once, as the refused change it is; a budget says so in
 * the log (which budget, whose). */
static void poison(struct vaultfsd *v, struct handle *h, int err)
{
	struct writer *w = h->w;
	const char *path = w->draft ? w->draft->name : w->n.path;

	if (w->poisoned)
		return;
	w->poisoned = err;
	buf_truncate(*handle_buf(h), 0);
	if (err == -EDQUOT)
		log_warning("Write to %s refused (EDQUOT): the write buffers of uid %u would hold "
			    "more than %u MiB; nothing will be committed",
			    path, (unsigned)w->c.id.uid, VAULTFS_WRITE_BYTES_UID_MAX >> 20);
	else if (err == -ENOSPC)
		log_warning("Write to %s refused (ENOSPC): the write buffers of all uids would "
			    "hold more than %u MiB; nothing will be committed",
			    path, VAULTFS_WRITE_BYTES_MAX >> 20);
	if (!w->draft) /* a draft is not a change (yet) */
		(void)record_access(v, &w->c, "set", &w->n, w->n.path, 0, err, NULL);
}

/* The log's word on a name a soft-deleted secret holds. */
static void deleted_hint(const struct node *n)
{
	log_warning("%s is soft-deleted and holds its name until purged: `vaultctl secret recover "
		    "%s/%s` brings it back (then write it again), `vaultctl secret purge %s/%s` "
		    "frees the name",
		    n->path, n->vault, n->name, n->vault, n->name);
}

/* The vault's max-versions after a commit (kv_secret_prune): each pruned version recorded
 * first, as "prune", under the decision that allowed the write. */
struct prune_ctx {
	struct vaultfsd *v;
	const struct caller *c;
	const struct node *n;
	const char *rule;
};

static int prune_one(const char *vault, const char *name, uint32_t version, void *ud)
{
	const struct prune_ctx *p = ud;

	(void)vault;
	(void)name;
	return record_access(p->v, p->c, "prune", p->n, p->n->path, version, 0, p->rule);
}

/* Commit data as the next version of secret n, decided for c (`write`) under the policy in
 * force now. The record comes before the store is touched (no record, no version); it names
 * the version this commit makes. With recover, the secret was soft-deleted by c just before
 * (unlink then create): it is recovered first, recorded as such under the same decision.
 * entry: the kernel may hold n's name for another inode (invalidated). 0, or the -errno to
 * reply, and then nothing was written. */
int secret_commit(struct vaultfsd *v, struct caller *c, const struct node *n,
		  const struct secbuf *data, bool recover, bool entry)
{
	struct policy_decision d;
	struct kv_version_info info;
	uint32_t expect = 1, version = 0;
	int r, err;

	c->now = (int64_t)time(NULL);
	err = caller_decide(v, c, POLICY_OP_WRITE, n, &d);
	if (!err && recover) {
		err = record_access(v, c, "recover", n, n->path, 0, 0, d.rule) < 0 ? -EIO : 0;
		if (!err && (r = kv_secret_recover(v->kv, n->vault, n->name)) < 0 && r != -ENOENT)
			err = shown_err(r);
	}
	if (!err) {
		r = kv_secret_info(v->kv, n->vault, n->name, 0, &info);
		if (r >= 0)
			expect = info.version + 1;
		else if (r != -ENOENT) /* ENOENT: a new secret (or a deleted one: set says so) */
			err = shown_err(r);
	}
	if (err) {
		(void)record_access(v, c, "set", n, n->path, 0, err, d.rule);
		return err;
	}
	if (record_access(v, c, "set", n, n->path, expect, 0, d.rule) < 0)
		return -EIO;
	r = kv_secret_set(v->kv, n->vault, n->name, data->data, data->len, NULL, &version);
	if (r < 0) {
		err = shown_err(r);
		(void)record_access(v, c, "set", n, n->path, expect, err, d.rule);
		if (err == -EEXIST)
			deleted_hint(n);
		return err;
	}
	/* a writer outside the daemon (vaultctl --offline) came in between: name the version
	 * that was made */
	if (version != expect)
		(void)record_access(v, c, "set", n, n->path, version, 0, d.rule);
	(void)kv_secret_prune(v->kv, n->vault, n->name, prune_one,
			      &(struct prune_ctx){ v, c, n, d.rule });
	if (kv_secret_info(v->kv, n->vault, n->name, version, &info) >= 0)
		changed(v, n->vault, n->name, info.object_id, entry);
	return 0;
}

/* Commit h's bytes as the next version of its secret, for its opener (secret_commit). */
static int commit(struct vaultfsd *v, struct handle *h)
{
	struct writer *w = h->w;
	uint64_t writes = w->writes;
	int r;

	r = secret_commit(v, &w->c, &w->n, h->data, w->recover && !w->committed,
			  w->pending && !w->committed);
	if (r < 0) {
		w->failed = true;
		return r;
	}
	/* a fleet commit lets the lock go while it speaks to the center: bytes written
	 * meanwhile are not in this version, the next close commits them */
	w->dirty = w->writes != writes;
	w->committed = true;
	w->failed = false;
	return 0;
}

/* A file created here under n's name and not committed yet (it has no name in the store), or
 * NULL. The list holds the files open for create: a handful. */
struct handle *pending_named(struct vaultfsd *v, const struct node *n)
{
	for (struct handle *h = v->writers; h; h = h->w->next)
		if (h->w->pending && !h->w->committed && streq(h->w->n.vault, n->vault) &&
		    streq(h->w->n.name, n->name))
			return h;
	return NULL;
}

/* Did c's process soft-delete n through the mount just before (UNLINK_REPLACE_MS)? */
static bool unlinked_by(struct vaultfsd *v, const struct caller *c, const struct node *n)
{
	int64_t now = clock_ms(CLOCK_MONOTONIC);

	return v->last_unlink.at_ms && now - v->last_unlink.at_ms < UNLINK_REPLACE_MS &&
	       v->last_unlink.uid == c->id.uid && v->last_unlink.pid &&
	       (c->id.known & IDENTITY_PID) && v->last_unlink.pid == c->id.pid &&
	       streq(v->last_unlink.vault, n->vault) && streq(v->last_unlink.name, n->name);
}

/* create(2) of n, a name the kernel found no entry for: a name taken meanwhile is an open of
 * it (EEXIST with O_EXCL); a soft-deleted secret holds its name until purged (EEXIST, and the
 * log says how to recover it), unless c's process deleted it just before and creates it
 * O_EXCL: then the create is the second half of a replace (install(1), mv across file
 * systems: unlink, then open O_CREAT|O_EXCL) and the commit recovers it
 * (*ret_recover); a file another create made and has not closed yet holds its name for O_EXCL
 * (lock files). Sets n's object id (0: a new secret). 0, or the -errno to reply. */
static int create_check(struct vaultfsd *v, const struct caller *c, struct node *n, int flags,
			bool *ret_recover)
{
	struct kv_version_info info;
	struct kv_object_info si;
	int r;

	r = kv_secret_info(v->kv, n->vault, n->name, 0, &info);
	if (r >= 0) {
		if (flags & O_EXCL)
			return -EEXIST;
		n->ino.id = info.object_id;
		return 0;
	}
	if (r != -ENOENT)
		return shown_err(r);
	/* one lookup by name, live or soft-deleted */
	r = kv_secret_lookup(v->kv, n->vault, n->name, &si);
	if (r >= 0 && si.deleted_at && (flags & O_EXCL) && unlinked_by(v, c, n)) {
		*ret_recover = true;
		n->ino.id = 0;
		return 0;
	}
	if (r >= 0 && si.deleted_at) {
		deleted_hint(n);
		return -EEXIST;
	}
	if (r >= 0 && (flags & O_EXCL))
		return -EEXIST;
	if (r >= 0) { /* made meanwhile */
		n->ino.id = si.id;
		return 0;
	}
	if (r != -ENOENT)
		return shown_err(r);
	if ((flags & O_EXCL) && pending_named(v, n))
		return -EEXIST;
	n->ino.id = 0;
	return 0;
}

/* A write handle for n (id 0: a secret to be created) and caller c. */
static int writer_new(struct vaultfsd *v, const struct caller *c, const struct node *n, int flags,
		      struct handle **ret)
{
	_cleanup_secbuf_ struct secbuf *data = NULL;
	struct handle *h;
	struct writer *w;
	unsigned rights = 0;
	int r;

	(void)policy_rights(v->policy, n->path, &c->id, c->now, &rights);
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	r = secbuf_new(WRITE_BUF_INITIAL, &data); /* zeroed: bytes past len are zero */
	if (r >= 0)
		r = handle_new(TAKE_PTR(data), &h);
	if (r < 0) {
		free(w);
		return r;
	}
	w->c = *c;
	w->n = *n;
	w->n.has_info = false;
	w->mode = 0200 | (rights & POLICY_OP_READ ? 0400 : 0);
	w->pending = n->ino.id == 0;
	w->truncated = w->pending || (flags & O_TRUNC);
	if (w->pending) {
		w->ino = 2 + v->next_pending++;
	} else if ((r = ino_encode(&n->ino, &w->ino)) < 0) {
		free(w);
		handle_free(h);
		return r;
	}
	h->w = w;
	*ret = h;
	return 0;
}

/* Open n, a secret (or, with create, a name to create a secret under), for writing, for caller
 * c: `write` on it (and `read` too for O_RDWR), recorded as "open-write" whether allowed or
 * not. 0 and the handle (in vfs->writers), or the -errno to reply. */
int write_open(struct vaultfsd *v, struct caller *c, struct node *n, int flags, bool create,
	       struct handle **ret)
{
	struct policy_decision d = { .rule = NULL }, rd;
	struct handle *h = NULL;
	char path[VAULTFS_PATH_MAX];
	int acc = flags & O_ACCMODE, err;
	bool recover = false;

	user_path(n, path, sizeof(path));
	if (flags & O_APPEND) /* a version is written whole: there is no end to append at */
		err = -EINVAL;
	else if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR)
		err = -EINVAL;
	else
		err = caller_decide(v, c, POLICY_OP_WRITE, n, &d);
	if (!err && acc == O_RDWR) {
		err = caller_decide(v, c, POLICY_OP_READ, n, &rd);
		if (err)
			d = rd; /* the record names the rule that refused */
	}
	if (!err)
		err = writer_room(v, c->id.uid);
	if (!err && create)
		err = create_check(v, c, n, flags, &recover);
	if (!err)
		err = shown_err(writer_new(v, c, n, flags, &h));
	if (!err)
		h->w->recover = recover;
	/* the record is written before the reply; no record, no open */
	if (record_access(v, c, "open-write", n, path, 0, err, d.rule) < 0 && !err) {
		handle_free(TAKE_PTR(h));
		err = -EIO;
	}
	if (err)
		return err;
	h->w->next = v->writers;
	v->writers = h;
	v->n_writers++;
	writers_settle(v);
	*ret = h;
	return 0;
}

/* size bytes (> 0) of buf into write handle h at off (off + size <= VAULTFS_VALUE_MAX): 0, or
 * the -errno of a buffer that cannot grow (the handle is poisoned). */
static int write_at(struct vaultfsd *v, struct handle *h, const char *buf, size_t size, size_t off)
{
	struct secbuf *b;
	int r;

	r = write_buf_reserve(v, h->w->c.id.uid, handle_buf(h), off + size);
	if (r < 0) {
		poison(v, h, r);
		return r;
	}
	b = *handle_buf(h);
	memcpy(b->data + off, buf, size);
	if (off + size > b->len)
		b->len = off + size;
	h->w->dirty = true;
	h->w->writes++;
	return 0;
}

/* Bytes at any offset build the file; a hole is zeros. Past VAULTFS_VALUE_MAX: EFBIG, past the
 * write budgets EDQUOT or ENOSPC, and the handle will commit nothing. */
void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int err = 0;

	(void)ino;
	if (!h) /* a write handle of an earlier process: its bytes died with it */
		err = fh_foreign(fi->fh) ? -ESTALE : -EBADF;
	else if (!h->w)
		err = -EBADF;
	else if (h->w->poisoned)
		err = h->w->poisoned;
	else if (off < 0)
		err = -EINVAL;
	else if ((uint64_t)off > VAULTFS_VALUE_MAX || size > VAULTFS_VALUE_MAX - (size_t)off) {
		poison(vfs_of(req), h, -EFBIG);
		err = -EFBIG;
	} else if (size > 0) {
		err = write_at(vfs_of(req), h, buf, size, (size_t)off);
	}
	/* the bytes also sit in libfuse's receive buffer, which only the next request reuses:
	 * wipe them there now */
	secure_wipe((void *)(uintptr_t)buf, size);
	if (err)
		reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

/* close(2), of each descriptor: commit what was written since the last commit; its errno is
 * what close returns. Nothing written (bash's `echo v > f` closes a dup of the file before it
 * writes), nothing made. */
int write_flush(struct vaultfsd *v, struct handle *h)
{
	if (h->w && h->w->poisoned)
		return h->w->poisoned;
	if (h->w && h->w->dirty && !h->w->draft)
		return commit(v, h);
	return 0;
}

void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	struct handle *h = handle_of(fi);
	int err = 0;

	(void)ino;
	if (!h) /* of an earlier process: a writer's bytes died with it, nothing is committed */
		err = fh_type(fi->fh) == FH_WRITE ? -ESTALE : 0;
	else if (committer_wants(v, h) && committer_take(v, req, h, false))
		return; /* a fleet vault's: the committer answers (commit.h) */
	else
		err = write_flush(v, h);
	reply_err(req, err);
}

/* The last close: a file opened with O_TRUNC or created and never committed becomes an empty
 * version (`: > f`, touch); bytes not committed by a flush (which always comes first) are
 * committed, unless a commit failed or the handle is poisoned. Then the buffer is wiped. */
void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	struct handle *h = handle_of(fi);
	struct writer *w = h ? h->w : NULL;

	(void)ino;
	if (fh_foreign(fi->fh))
		(void)fh_unadopt(fi->fh); /* a read handle served again, or none */
	if (!h) {
		reply_err(req, 0);
		return;
	}
	if (w && committer_wants(v, h) && committer_take(v, req, h, true))
		return; /* after the commits waiting there (commit.h) */
	write_release(v, h);
	reply_err(req, 0);
}

void write_release(struct vaultfsd *v, struct handle *h)
{
	struct writer *w = h->w;

	if (w && !w->draft && !w->poisoned && !w->failed &&
	    (w->dirty || (w->truncated && !w->committed))) {
		int err = commit(v, h);

		/* no close(2) is left to return it: the record has it (when it could be written),
		 * and the log says it */
		if (err)
			log_warning("Write of %s at its last close not committed: %s", w->n.path,
				    strerror(-err));
	}
	handle_drop(v, h);
}

/* ftruncate(2) of a write handle h: the length of what it will commit. */
static int truncate_to(struct vaultfsd *v, struct handle *h, off_t size)
{
	int r;

	if (h->w->poisoned)
		return h->w->poisoned;
	if (size < 0)
		return -EINVAL;
	if ((uint64_t)size > VAULTFS_VALUE_MAX) {
		poison(v, h, -EFBIG);
		return -EFBIG;
	}
	r = write_buf_reserve(v, h->w->c.id.uid, handle_buf(h), (size_t)size);
	if (r < 0) {
		poison(v, h, r);
		return r;
	}
	buf_truncate(*handle_buf(h), (size_t)size);
	h->w->dirty = true;
	h->w->writes++;
	return 0;
}

/* Does setattr ask for a mode, owner or group other than what stat shows (st)? They are the
 * policy's answer for each caller, not an attribute of the file: that is EPERM. */
static bool owner_change(const struct stat *attr, int to_set, const struct stat *st)
{
	return ((to_set & FUSE_SET_ATTR_MODE) &&
		(attr->st_mode & 07777) != (st->st_mode & 07777)) ||
	       ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != st->st_uid) ||
	       ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != st->st_gid);
}

/* Set draft d's length (<= VAULTFS_VALUE_MAX) by path, without a handle: 0 or the -errno of a
 * buffer that cannot grow (no handle to poison). */
static int draft_resize(struct vaultfsd *v, struct draft *d, size_t size)
{
	int r;

	r = write_buf_reserve(v, d->uid, &d->data, size);
	if (r >= 0)
		buf_truncate(d->data, size);
	return r;
}

/* setattr of a temporary file of the caller's: what the tools that make one ask (sed's fchown,
 * install's chmod, cp -p's utimens, a truncate) succeeds where it asks for what stat shows,
 * and times are ignored; the size is set. A handle on it may be poisoned: that one gets its
 * errno (EFBIG, EDQUOT, ENOSPC). */
static void draft_setattr(fuse_req_t req, struct draft *d, const struct stat *attr, int to_set,
			  struct fuse_file_info *fi)
{
	struct handle *h = fi ? handle_of(fi) : NULL;
	struct stat st;
	int err = 0;

	draft_attr(d, fuse_req_ctx(req), &st);
	if (owner_change(attr, to_set, &st))
		err = -EPERM;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && h && h->w && h->w->draft == d)
		err = truncate_to(vfs_of(req), h, attr->st_size);
	else if ((to_set & FUSE_SET_ATTR_SIZE) && (attr->st_size < 0))
		err = -EINVAL;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && (uint64_t)attr->st_size > VAULTFS_VALUE_MAX)
		err = -EFBIG;
	else if (to_set & FUSE_SET_ATTR_SIZE)
		err = draft_resize(vfs_of(req), d, (size_t)attr->st_size);
	if (err) {
		reply_err(req, err);
		return;
	}
	draft_attr(d, fuse_req_ctx(req), &st);
	fuse_reply_attr(req, &st, 0);
}

/* ftruncate(2) of a write handle sets the length of what it will commit; times are the
 * store's (created, updated) and are ignored where the caller may write. A mode, owner or
 * group change is EPERM: they are the policy's answer for each caller, not an attribute of
 * the file (so one that asks for what stat already shows succeeds). Anything else is EROFS,
 * or EACCES for a secret the caller may not write. */
void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	struct vaultfsd *v = vfs_of(req);
	struct handle *h;
	struct caller c;
	struct node n = { 0 };
	struct stat st;
	bool gone;
	int r, err = 0;

	if (fi && fh_foreign(fi->fh) && fh_type(fi->fh) == FH_WRITE) {
		reply_err(req, -ESTALE); /* a write handle of an earlier process */
		return;
	}
	if (draft_for(req, ino)) {
		draft_setattr(req, draft_for(req, ino), attr, to_set, fi);
		return;
	}
	h = handle_for(v, ino, fi, &gone);
	if (gone) {
		reply_err(req, -ENOENT);
		return;
	}
	if (h && !h->w)
		h = NULL; /* a read handle: as by path */
	if (h) {
		handle_attr(h, ino, fuse_req_ctx(req), &st);
	} else {
		r = node_for_caller(req, ino, &n, &c);
		if (r >= 0)
			r = shown_err(fill_attr(v, &c, &n, ino, &st));
		if (r < 0) {
			reply_err(req, r);
			return;
		}
	}
	if (owner_change(attr, to_set, &st))
		err = -EPERM;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && !h)
		err = -EROFS;
	else if ((to_set & times) && !h && !(n.ino.kind == INO_SECRET && (st.st_mode & 0200)))
		err = n.ino.kind == INO_SECRET ? -EACCES : -EROFS;
	else if (to_set & FUSE_SET_ATTR_SIZE) {
		err = truncate_to(v, h, attr->st_size);
		if (!err)
			handle_attr(h, ino, fuse_req_ctx(req), &st);
	}
	if (err)
		reply_err(req, err);
	else
		fuse_reply_attr(req, &st, 0);
}

void ops_done(struct vaultfsd *v)
{
	while (v->writers)
		handle_drop(v, v->writers); /* wipes its bytes */
	drafts_free(v);
}
