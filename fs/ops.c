/* ops.c: the FUSE low-level operations of /vault. Every request is answered for the caller
 * who sent it: who is asking (identity), what the policy lets it see and do, what the store
 * holds. A read open runs identity -> policy -> store -> decrypt -> reply -> audit, and no
 * byte of it is served before its record (see op_open: this needs the one FUSE thread that
 * vaultfsd.c runs); the decrypted bytes live only in a secure buffer owned by the file
 * handle, wiped on release.
 * Writes are whole-file: a write handle gathers the next version in a secure buffer and close
 * commits it (policy `write`, recorded before the store is touched); `rm` soft-deletes
 * (`delete`), mkdir and rmdir in /vault create and delete vaults (`manage`). Every change and
 * every refusal is recorded before the reply; no record, no change. Replies: direct_io (no
 * page cache), timeouts 0 (every lookup and stat reaches us), no readdirplus. Every request
 * gets exactly one reply on every path. A directory is listed from the store a page at a time
 * as readdir asks: its handle holds where the listing is, never the entries, so the daemon's
 * memory does not grow with a vault's size. Never logs a value, and never asks the kernel to
 * drop a cache itself (that is notify.c's thread: the call can wait for a request of ours). */
#include <assert.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "core/secbuf.h"
#include "core/log.h"
#include "core/util.h"
#include "fs/inode.h"
#include "fs/notify.h"
#include "fs/vaultfs.h"

/* The policy path of a node ("/V" or "/V/S") fits this. */
#define POLICY_PATH_MAX (2 * VAULTFS_NAME_MAX + 3)

/* What an inode number names, with the names looked up. */
struct node {
	struct ino ino;
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1]; /* the object, for object kinds */
	char path[POLICY_PATH_MAX];      /* the policy path: "/V" or "/V/S" */
	bool has_info;                   /* info is the version's, as looked up */
	struct kv_version_info info;
};

/* Who is asking, resolved as far as the policy (and, for opens, the record) needs. A caller
 * may start with the request's uid and gid alone and the rest pending: a decision made without
 * a field can only have fewer rights (an allow that needs it does not hold, a deny that needs
 * it does), so an answer of "visible" or of every right that matters is final without it, and
 * anything else is decided again once the pending fields are resolved (caller_full). */
struct caller {
	struct identity id;
	int64_t now;
	pid_t tid;
	unsigned pending; /* identity fields the policy needs, not resolved yet */
	struct identity_cache *ids; /* the daemon's, for resolving the pending fields */
};

/* What a write handle holds besides its bytes. Whole-file semantics: the bytes of a write
 * handle are the whole next version, made at close. A write open without O_TRUNC starts from
 * an empty buffer too, not from the current value: a writer may hold `write` without `read`,
 * and a version is only ever made whole, so bytes written at an offset get zeros before them
 * (holes), as in a new file. Bytes past data->len are always zero. */
struct writer {
	struct caller c;     /* who opened it: each commit is decided and recorded for it */
	struct node n;       /* the secret: vault, name, policy path */
	struct handle *next; /* in vfs->pending while pending */
	uint64_t ino;        /* the inode number the kernel knows the file by */
	mode_t mode;         /* permission bits fstat shows: 0200, or 0600 where it may read */
	bool pending;        /* created here: ino is a number of ours, in vfs->pending */
	bool truncated;      /* O_TRUNC or created: a close with nothing written commits "" */
	bool dirty;          /* bytes changed since the last commit */
	bool committed;      /* a commit succeeded */
	bool failed;         /* the last commit failed (flush said so): release makes none */
	bool poisoned;       /* went past VAULTFS_VALUE_MAX: nothing will be committed */
};

/* An open file: the bytes one open sees, whatever is written meanwhile; or, for a write
 * handle, the bytes it has written. */
struct handle {
	struct secbuf *data; /* NULL once its record failed */
	struct writer *w;    /* NULL: a read handle */
	int refused;	     /* a read handle not recorded (yet): every read's errno */
};

static struct vfs *vfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The caller of req: with extra (fields for the record), resolved at once as far as the policy
 * and the record need; without, the policy's fields left pending. */
static void caller_init(fuse_req_t req, unsigned extra, struct caller *c)
{
	struct vfs *v = vfs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned need;

	identity_init(&c->id);
	identity_set_uid(&c->id, ctx->uid);
	identity_set_gid(&c->id, ctx->gid);
	c->tid = ctx->pid;
	c->ids = v->ids;
	c->now = (int64_t)time(NULL);
	need = (policy_needs(v->policy) | extra) & ~(unsigned)(IDENTITY_UID | IDENTITY_GID);
	c->pending = extra ? 0 : need;
	/* what cannot be resolved stays unknown, and unknown can only take rights away */
	if (need && extra)
		(void)identity_resolve(v->ids, &c->id, c->tid, need);
}

/* Resolve fields and whatever is pending, keeping what is known. */
static void caller_resolve(struct caller *c, unsigned fields)
{
	fields = (fields | c->pending) & ~c->id.known;
	c->pending = 0;
	if (fields)
		(void)identity_resolve(c->ids, &c->id, c->tid, fields);
}

/* Everything the policy needs resolved. */
static void caller_full(struct caller *c)
{
	caller_resolve(c, 0);
}

/* Resolve more of the caller (for the record), and what is pending. */
static void caller_more(fuse_req_t req, unsigned fields, struct caller *c)
{
	(void)req; /* c->tid is the request's */
	caller_resolve(c, fields);
}

static int hidden_errno(const struct vfs *v)
{
	return v->hide_unreadable ? ENOENT : EACCES;
}

/* kv errors to what the caller sees: the lifecycle errnos as they are, everything the caller
 * cannot act on (integrity, store, crypto) as EIO. */
static int reply_errno(int r)
{
	switch (-r) {
	case ENOENT:
	case EACCES:
	case EKEYREVOKED:
	case EKEYEXPIRED:
	case EKEYREJECTED:
	case ENOMEM:
	case EROFS:
	case EEXIST:    /* a name taken (a soft-deleted secret holds its name until purged) */
	case ENOTEMPTY: /* a vault that still has objects */
	case ENOSPC:    /* versions at VAULTFS_VERSIONS_MAX, or the store's disk is full */
	case EFBIG:
		return -r;
	case EMSGSIZE: /* a value over VAULTFS_VALUE_MAX */
		return EFBIG;
	default:
		return EIO;
	}
}

/* "/A", or "/A/B" when b is given, into buf of size (>= 2) bytes, cut to fit as snprintf would
 * (without parsing a format: every lookup and open builds paths). */
static void slash_path(char *buf, size_t size, const char *a, const char *b)
{
	size_t n;

	buf[0] = '/';
	n = 1 + MIN(str_copy(buf + 1, size - 1, a), size - 2);
	if (b && n + 1 < size) {
		buf[n] = '/';
		str_copy(buf + n + 1, size - n - 1, b);
	}
}

static void node_path(struct node *n)
{
	slash_path(n->path, sizeof(n->path), n->vault, n->name[0] ? n->name : NULL);
}

/* Look up what ino names. Object kinds must name a live object (and a version an existing
 * one), -ENOENT otherwise, and come with the version's info; with names_only they come with
 * their names alone (the caller checks the object id in what it reads next). */
static int node_get(struct vfs *v, fuse_ino_t ino, bool names_only, struct node *ret)
{
	struct node n = { 0 };
	int r;

	r = ino_decode(ino, &n.ino);
	if (r < 0)
		return r;
	switch (n.ino.kind) {
	case INO_ROOT:
		break;
	case INO_VAULT:
	case INO_VERSIONS:
	case INO_METADIR:
		r = kv_vault_name(v->kv, n.ino.id, n.vault);
		break;
	default:
		r = kv_object_names(v->kv, n.ino.id, n.vault, n.name);
		if (r < 0 || names_only)
			break;
		r = kv_secret_info(v->kv, n.vault, n.name,
				   n.ino.kind == INO_VERSION ? n.ino.version : 0, &n.info);
		if (r >= 0 && n.info.object_id != n.ino.id) /* deleted and re-created meanwhile */
			r = -ENOENT;
		n.has_info = r >= 0;
		break;
	}
	if (r < 0)
		return r;
	node_path(&n);
	*ret = n;
	return 0;
}

/* May c see the policy path? */
static bool visible_path(const struct vfs *v, struct caller *c, const char *path)
{
	int r;

	r = policy_visible(v->policy, path, &c->id, c->now);
	if (r <= 0 && c->pending) { /* "visible" is final without them; "not" is not */
		caller_full(c);
		r = policy_visible(v->policy, path, &c->id, c->now);
	}
	return r > 0;
}

static bool visible(const struct vfs *v, struct caller *c, const struct node *n)
{
	if (n->ino.kind == INO_ROOT)
		return true;
	return visible_path(v, c, n->path);
}

/* The node ino names, for this caller: 0, or the errno to reply (hidden names included). */
static int node_for_caller(fuse_req_t req, fuse_ino_t ino, struct node *ret, struct caller *c)
{
	struct vfs *v = vfs_of(req);
	int r;

	r = node_get(v, ino, false, ret);
	if (r < 0)
		return reply_errno(r);
	caller_init(req, 0, c);
	return visible(v, c, ret) ? 0 : hidden_errno(v);
}

/* One audit record for an access to n. */
static int record(struct vfs *v, const struct caller *c, const char *event, const struct node *n,
		  const char *path, uint32_t version, int err, const char *rule)
{
	struct audit_record rec = AUDIT_RECORD_INIT;

	rec.event = event;
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = rule;
	rec.vault = n->vault[0] ? n->vault : NULL;
	rec.object = n->name[0] ? n->name : NULL;
	rec.version = version;
	rec.path = path;
	identity_to_record(&c->id, &rec);
	return audit_append(v->audit, &rec, NULL);
}

/* The path a user typed, for the record: /V/S, /V/.versions/S/N, /V/.meta/S. */
static void user_path(const struct node *n, char *buf, size_t size)
{
	switch (n->ino.kind) {
	case INO_VERSION:
		snprintf(buf, size, "/%s/.versions/%s/%u", n->vault, n->name, n->ino.version);
		break;
	case INO_META:
		snprintf(buf, size, "/%s/.meta/%s", n->vault, n->name);
		break;
	default:
		str_copy(buf, size, n->path);
		break;
	}
}

/* The path a user typed for the entry `name` of directory p, for the record. */
static void child_path(const struct node *p, const char *name, char *buf, size_t size)
{
	switch (p->ino.kind) {
	case INO_VAULT:
		slash_path(buf, size, p->vault, name);
		break;
	case INO_VERSIONS:
		snprintf(buf, size, "/%s/.versions/%s", p->vault, name);
		break;
	case INO_METADIR:
		snprintf(buf, size, "/%s/.meta/%s", p->vault, name);
		break;
	case INO_VERDIR:
		snprintf(buf, size, "/%s/.versions/%s/%s", p->vault, p->name, name);
		break;
	default:
		slash_path(buf, size, name, NULL);
		break;
	}
}

/* --- attributes --- */

static void fill_dir_attr(const struct caller *c, fuse_ino_t ino, struct stat *st)
{
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0500;
	st->st_nlink = 2;
	st->st_uid = c->id.uid;
	st->st_gid = c->id.gid;
}

/* Attributes as this caller sees them: its own uid and gid; for a secret 0400 where it may
 * read, 0200 where it may write, 0600 where both (versions and .meta are read-only: 0400 or
 * 0000); the exact size of what an open would give it. */
static int fill_attr(struct vfs *v, struct caller *c, const struct node *n, fuse_ino_t ino,
		     struct stat *st)
{
	struct kv_version_info info;
	unsigned rights = 0, shown;
	int r;

	memset(st, 0, sizeof(*st));
	if (ino_is_dir(n->ino.kind)) {
		fill_dir_attr(c, ino, st);
		return 0;
	}
	/* the rights the mode shows */
	shown = n->ino.kind == INO_META	  ? POLICY_OP_META :
		n->ino.kind == INO_SECRET ? POLICY_OP_READ | POLICY_OP_WRITE :
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
	if (n->has_info) { /* looked up already in this request */
		info = n->info;
	} else {
		r = kv_secret_info(v->kv, n->vault, n->name,
				   n->ino.kind == INO_VERSION ? n->ino.version : 0, &info);
		if (r < 0)
			return r;
	}
	st->st_mode = S_IFREG | (rights & POLICY_OP_READ ? 0400 : 0);
	if (n->ino.kind == INO_SECRET && (rights & POLICY_OP_WRITE))
		st->st_mode |= 0200;
	st->st_size = (off_t)info.size;
	st->st_blocks = (blkcnt_t)((info.size + 511) / 512);
	st->st_mtime = info.created;
	st->st_ctime = info.updated;
	st->st_atime = info.created;
	return 0;
}

static void reply_entry(fuse_req_t req, const struct stat *st)
{
	struct fuse_entry_param e = { 0 };

	e.ino = st->st_ino;
	e.attr = *st;
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fuse_reply_entry(req, &e);
}

/* --- lookup --- */

/* The child `name` of directory node p, without any policy decision. */
static int child_get(struct vfs *v, const struct node *p, const char *name, struct node *ret)
{
	struct node n = { 0 };
	struct kv_vault_info vi;
	struct kv_version_info info;
	int r;

	switch (p->ino.kind) {
	case INO_ROOT:
		if (!kv_name_valid(name))
			return -ENOENT;
		r = kv_vault_get(v->kv, name, &vi);
		if (r < 0)
			return r;
		n.ino = (struct ino){ .kind = INO_VAULT, .id = vi.id };
		str_copy(n.vault, sizeof(n.vault), name);
		break;
	case INO_VAULT:
		n.ino.id = p->ino.id;
		str_copy(n.vault, sizeof(n.vault), p->vault);
		if (streq(name, ".versions")) {
			n.ino.kind = INO_VERSIONS;
			break;
		}
		if (streq(name, ".meta")) {
			n.ino.kind = INO_METADIR;
			break;
		}
		/* an object of the vault */
		__attribute__((fallthrough));
	case INO_VERSIONS:
	case INO_METADIR:
		if (!kv_name_valid(name))
			return -ENOENT;
		str_copy(n.vault, sizeof(n.vault), p->vault);
		str_copy(n.name, sizeof(n.name), name);
		r = kv_secret_info(v->kv, n.vault, n.name, 0, &info);
		if (r < 0)
			return r;
		n.ino.kind = p->ino.kind == INO_VAULT	 ? INO_SECRET :
			     p->ino.kind == INO_VERSIONS ? INO_VERDIR :
							   INO_META;
		n.ino.id = info.object_id;
		n.info = info;
		n.has_info = n.ino.kind == INO_SECRET;
		break;
	case INO_VERDIR: {
		char *end;
		unsigned long ver;

		if (name[0] < '1' || name[0] > '9')
			return -ENOENT;
		errno = 0;
		ver = strtoul(name, &end, 10);
		if (errno || *end || ver > VAULTFS_VERSIONS_MAX)
			return -ENOENT;
		str_copy(n.vault, sizeof(n.vault), p->vault);
		str_copy(n.name, sizeof(n.name), p->name);
		r = kv_secret_info(v->kv, n.vault, n.name, (uint32_t)ver, &info);
		if (r < 0)
			return r;
		n.ino = (struct ino){ .kind = INO_VERSION, .id = info.object_id,
				      .version = (uint32_t)ver };
		n.info = info;
		n.has_info = true;
		break;
	}
	default:
		return -ENOTDIR;
	}
	node_path(&n);
	*ret = n;
	return 0;
}

/* The op whose decision is recorded when a name is refused. */
static unsigned refusal_op(const struct node *n)
{
	if (!n->name[0])
		return POLICY_OP_LIST;
	return n->ino.kind == INO_META ? POLICY_OP_META : POLICY_OP_READ;
}

/* The node whose rules decide on the child `name` of p, when that is a vault or an object
 * other than p itself: false for the structural .versions and .meta, for a version number
 * (decided as its object, p), and for names that cannot exist. */
static bool named_node(const struct node *p, const char *name, struct node *ret)
{
	struct node n = { 0 };

	if (!kv_name_valid(name))
		return false;
	switch (p->ino.kind) {
	case INO_ROOT:
		str_copy(n.vault, sizeof(n.vault), name);
		n.ino.kind = INO_VAULT;
		break;
	case INO_VAULT:
	case INO_VERSIONS:
	case INO_METADIR:
		str_copy(n.vault, sizeof(n.vault), p->vault);
		str_copy(n.name, sizeof(n.name), name);
		n.ino.kind = p->ino.kind == INO_METADIR ? INO_META : INO_SECRET;
		break;
	default:
		return false;
	}
	node_path(&n);
	*ret = n;
	return true;
}

/* Was this refusal (same thread, same name) just recorded? Remembers the last one. */
static bool refusal_seen(struct vfs *v, fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct timespec ts;
	int64_t now_ms;
	pid_t tid = fuse_req_ctx(req)->pid;
	bool seen;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	seen = v->last_refusal.tid == tid && v->last_refusal.parent == parent &&
	       streq(v->last_refusal.name, name) && now_ms - v->last_refusal.at_ms < 50;
	v->last_refusal.tid = tid;
	v->last_refusal.parent = parent;
	str_copy(v->last_refusal.name, sizeof(v->last_refusal.name), name);
	v->last_refusal.at_ms = now_ms;
	return seen;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vfs *v = vfs_of(req);
	struct caller c;
	struct node p, n = { 0 }, probe;
	struct stat st;
	uint64_t ino;
	int r;

	/* one snapshot of the store for the request (best effort: each read has its own else) */
	(void)kv_read_begin(v->kv);
	r = node_for_caller(req, parent, &p, &c);
	if (r) {
		kv_read_end(v->kv);
		fuse_reply_err(req, r);
		return;
	}
	/* decide on the name before looking it up: a refusal must not tell whether it exists */
	if (named_node(&p, name, &probe) && !visible(v, &c, &probe)) {
		struct policy_decision d = { .rule = "default" };
		char path[VAULTFS_PATH_MAX];
		int err = hidden_errno(v);

		kv_read_end(v->kv);
		/* the kernel may ask twice for one attempt (revalidating a cached name, then
		 * looking it up): one record per attempt */
		if (!refusal_seen(v, req, parent, name)) {
			caller_more(req, IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE, &c);
			(void)policy_check(v->policy, refusal_op(&probe), probe.path, &c.id, c.now,
					   &d);
			user_path(&probe, path, sizeof(path));
			/* refused at lookup: the only record of this attempt */
			if (record(v, &c, "lookup", &probe, path, 0, err, d.rule) < 0)
				err = EIO;
		}
		fuse_reply_err(req, err);
		return;
	}
	r = child_get(v, &p, name, &n);
	if (r >= 0)
		r = ino_encode(&n.ino, &ino);
	if (r >= 0)
		r = fill_attr(v, &c, &n, ino, &st);
	kv_read_end(v->kv);
	if (r < 0) {
		fuse_reply_err(req, reply_errno(r));
		return;
	}
	reply_entry(req, &st);
}

static struct handle *handle_of(const struct fuse_file_info *fi)
{
	return (struct handle *)(uintptr_t)fi->fh;
}

/* A file created here and not yet released, by the number we gave it. */
static struct handle *pending_find(struct vfs *v, uint64_t ino)
{
	for (struct handle *h = v->pending; h; h = h->w->next)
		if (h->w->ino == ino)
			return h;
	return NULL;
}

/* The open file an attribute request is about: the one it names (fi, for a file), or a
 * pending file by its number; NULL for anything else. *ret_gone: a number of ours that no
 * longer names a pending file. */
static struct handle *handle_for(struct vfs *v, fuse_ino_t ino, const struct fuse_file_info *fi,
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
static void handle_attr(const struct handle *h, fuse_ino_t ino, const struct fuse_ctx *ctx,
			struct stat *st)
{
	size_t len = h->data ? h->data->len : 0; /* none: refused, tells nothing */

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

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfs *v = vfs_of(req);
	const struct handle *h;
	struct caller c;
	struct node n;
	struct stat st;
	bool gone;
	int r;

	/* fstat of an open file (when the kernel names it), or a file not committed yet */
	h = handle_for(v, ino, fi, &gone);
	if (gone) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (h) {
		handle_attr(h, ino, fuse_req_ctx(req), &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	(void)kv_read_begin(v->kv);
	r = node_for_caller(req, ino, &n, &c);
	if (!r)
		r = fill_attr(v, &c, &n, ino, &st);
	kv_read_end(v->kv);
	if (r > 0) {
		fuse_reply_err(req, r);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, reply_errno(r));
		return;
	}
	fuse_reply_attr(req, &st, 0);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct vfs *v = vfs_of(req);
	struct caller c;
	struct node n;
	unsigned rights = 0, need = 0;
	int r;

	r = node_for_caller(req, ino, &n, &c);
	if (r) {
		fuse_reply_err(req, r);
		return;
	}
	if (mask & W_OK) {
		/* a secret: `write`; versions, .meta and their directories are read-only; for the
		 * root and a vault the answer would depend on names not yet made: the operations
		 * themselves decide (and are recorded) */
		bool names_dir = n.ino.kind == INO_ROOT || n.ino.kind == INO_VAULT;

		if (n.ino.kind != INO_SECRET) {
			fuse_reply_err(req, names_dir ? EACCES : EROFS);
			return;
		}
		need |= POLICY_OP_WRITE;
	}
	if (n.ino.kind == INO_ROOT) {
		fuse_reply_err(req, 0);
		return;
	}
	caller_full(&c);
	r = policy_rights(v->policy, n.path, &c.id, c.now, &rights);
	if (r < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (ino_is_dir(n.ino.kind)) {
		/* a vault's directories need `list`; a .versions/S directory, a right on S */
		if (mask & (R_OK | X_OK))
			need = n.ino.kind == INO_VERDIR ? 0 : POLICY_OP_LIST;
	} else {
		if (mask & X_OK) {
			fuse_reply_err(req, EACCES);
			return;
		}
		if (mask & R_OK)
			need |= n.ino.kind == INO_META ? POLICY_OP_META : POLICY_OP_READ;
	}
	fuse_reply_err(req, (rights & need) == need ? 0 : EACCES);
}

/* --- open, read, release --- */

/* A handle owning data (freed also on failure). */
static int handle_new(struct secbuf *data, struct handle **ret)
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

static void handle_free(struct handle *h)
{
	if (!h)
		return;
	secbuf_free(h->data); /* wipes what was read or written */
	free(h->w);
	free(h);
}

static void pending_remove(struct vfs *v, struct handle *h)
{
	for (struct handle **p = &v->pending; *p; p = &(*p)->w->next)
		if (*p == h) {
			*p = h->w->next;
			h->w->next = NULL;
			return;
		}
}

/* Out of vfs->pending, if there, and freed: for a handle the kernel never got or let go. */
static void handle_drop(struct vfs *v, struct handle *h)
{
	if (h && h->w && h->w->pending)
		pending_remove(v, h);
	handle_free(h);
}

/* The bytes an open of n gives: the value of the version (decrypted into a secure buffer), or
 * the .meta document. */
static int open_content(struct vfs *v, const struct node *n, uint32_t *ret_version,
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
		r = secbuf_dup(json, len + 1, &value); /* + its NUL: never an empty buffer */
		if (r < 0)
			return r;
		value->len = len;
		return handle_new(TAKE_PTR(value), ret);
	}
	r = kv_secret_get(v->kv, n->vault, n->name,
			  n->ino.kind == INO_VERSION ? n->ino.version : 0, &value, &info);
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

/* --- writing --- */

/* ALLOW as 0; else EACCES, or EIO when no decision could be made. */
static int decide(struct vfs *v, struct caller *c, unsigned op, const struct node *n,
		  struct policy_decision *d)
{
	caller_full(c);
	*d = (struct policy_decision){ .rule = "default" };
	if (policy_check(v->policy, op, n->path, &c->id, c->now, d) < 0)
		return EIO;
	return d->verdict == POLICY_ALLOW ? 0 : EACCES;
}

/* The inode number of vault's directory, 0 when it cannot be had. */
static uint64_t vault_ino(struct vfs *v, const char *vault)
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
 * pending number). Queued for notify.c's thread; never waits. */
static void changed(struct vfs *v, const char *vault, const char *name, int64_t object_id,
		    bool entry)
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

/* The handle went past VAULTFS_VALUE_MAX: its bytes are wiped and nothing will be committed.
 * Recorded once, as the refused change it is. */
static void poison(struct vfs *v, struct handle *h)
{
	struct writer *w = h->w;

	if (w->poisoned)
		return;
	w->poisoned = true;
	secure_wipe(h->data->data, h->data->len);
	h->data->len = 0;
	(void)record(v, &w->c, "set", &w->n, w->n.path, 0, EFBIG, NULL);
}

/* Commit h's bytes as the next version of its secret, decided again for the opener under the
 * policy in force now. The record comes before the store is touched (no record, no version);
 * it names the version this commit makes. 0, or the errno to reply, and then nothing was
 * written. */
static int commit(struct vfs *v, struct handle *h)
{
	struct writer *w = h->w;
	struct policy_decision d;
	struct kv_version_info info;
	uint32_t expect = 1, version = 0;
	bool first = !w->committed;
	int r, err;

	w->c.now = (int64_t)time(NULL);
	err = decide(v, &w->c, POLICY_OP_WRITE, &w->n, &d);
	if (!err) {
		r = kv_secret_info(v->kv, w->n.vault, w->n.name, 0, &info);
		if (r >= 0)
			expect = info.version + 1;
		else if (r != -ENOENT) /* ENOENT: a new secret (or a deleted one: set says so) */
			err = reply_errno(r);
	}
	if (err) {
		(void)record(v, &w->c, "set", &w->n, w->n.path, 0, err, d.rule);
		w->failed = true;
		return err;
	}
	if (record(v, &w->c, "set", &w->n, w->n.path, expect, 0, d.rule) < 0) {
		w->failed = true;
		return EIO;
	}
	r = kv_secret_set(v->kv, w->n.vault, w->n.name, h->data->data, h->data->len, NULL,
			  &version);
	if (r < 0) {
		err = reply_errno(r);
		(void)record(v, &w->c, "set", &w->n, w->n.path, expect, err, d.rule);
		w->failed = true;
		return err;
	}
	/* a writer outside the daemon (vaultctl --offline) came in between: name the version
	 * that was made */
	if (version != expect)
		(void)record(v, &w->c, "set", &w->n, w->n.path, version, 0, d.rule);
	w->dirty = false;
	w->committed = true;
	w->failed = false;
	if (kv_secret_info(v->kv, w->n.vault, w->n.name, version, &info) >= 0)
		changed(v, w->n.vault, w->n.name, info.object_id, w->pending && first);
	return 0;
}

/* A file created here under n's name and not committed yet (it has no name in the store), or
 * NULL. The list holds the files open for create: a handful. */
static struct handle *pending_named(struct vfs *v, const struct node *n)
{
	for (struct handle *h = v->pending; h; h = h->w->next)
		if (!h->w->committed && streq(h->w->n.vault, n->vault) &&
		    streq(h->w->n.name, n->name))
			return h;
	return NULL;
}

/* create(2) of n, a name the kernel found no entry for: a name taken meanwhile is an open of
 * it (EEXIST with O_EXCL); a soft-deleted secret holds its name until purged (EEXIST), and so
 * does a file another create made and has not closed yet, for O_EXCL (lock files). Sets n's
 * object id (0: a new secret). 0, or the errno to reply. */
static int create_check(struct vfs *v, struct node *n, int flags)
{
	struct kv_version_info info;
	struct kv_secret_info si;
	int r;

	r = kv_secret_info(v->kv, n->vault, n->name, 0, &info);
	if (r >= 0) {
		if (flags & O_EXCL)
			return EEXIST;
		n->ino.id = info.object_id;
		return 0;
	}
	if (r != -ENOENT)
		return reply_errno(r);
	/* one lookup by name, live or soft-deleted */
	r = kv_secret_lookup(v->kv, n->vault, n->name, &si);
	if (r >= 0 && (si.deleted_at || (flags & O_EXCL)))
		return EEXIST;
	if (r >= 0) { /* made meanwhile */
		n->ino.id = si.id;
		return 0;
	}
	if (r != -ENOENT)
		return reply_errno(r);
	if ((flags & O_EXCL) && pending_named(v, n))
		return EEXIST;
	n->ino.id = 0;
	return 0;
}

/* A write handle for n (id 0: a secret to be created) and caller c. */
static int writer_new(struct vfs *v, const struct caller *c, const struct node *n, int flags,
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
	r = secbuf_new(VAULTFS_VALUE_MAX, &data); /* zeroed: bytes past len are zero */
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
 * not. 0 and the handle (a pending one in vfs->pending), or the errno to reply. */
static int write_open(struct vfs *v, struct caller *c, struct node *n, int flags, bool create,
		      struct handle **ret)
{
	struct policy_decision d = { .rule = NULL }, rd;
	struct handle *h = NULL;
	char path[VAULTFS_PATH_MAX];
	int acc = flags & O_ACCMODE, r, err;

	user_path(n, path, sizeof(path));
	if (flags & O_APPEND) /* a version is written whole: there is no end to append at */
		err = EINVAL;
	else if (acc != O_RDONLY && acc != O_WRONLY && acc != O_RDWR)
		err = EINVAL;
	else
		err = decide(v, c, POLICY_OP_WRITE, n, &d);
	if (!err && acc == O_RDWR) {
		err = decide(v, c, POLICY_OP_READ, n, &rd);
		if (err)
			d = rd; /* the record names the rule that refused */
	}
	if (!err && create)
		err = create_check(v, n, flags);
	if (!err) {
		r = writer_new(v, c, n, flags, &h);
		if (r < 0)
			err = reply_errno(r);
	}
	/* the record is written before the reply; no record, no open */
	if (record(v, c, "open-write", n, path, 0, err, d.rule) < 0 && !err) {
		handle_free(TAKE_PTR(h));
		err = EIO;
	}
	if (err)
		return err;
	if (h->w->pending) {
		h->w->next = v->pending;
		v->pending = h;
	}
	*ret = h;
	return 0;
}

/* false when the caller went away (interrupted): h is dropped then, and no release comes */
static bool reply_open(fuse_req_t req, struct handle *h, struct fuse_file_info *fi)
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

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfs *v = vfs_of(req);
	struct policy_decision d = { .rule = "default" };
	struct handle *h = NULL;
	struct caller c;
	struct node n;
	char path[VAULTFS_PATH_MAX];
	uint32_t version;
	struct ino k;
	bool names_only, writing;
	unsigned op;
	int r, err = 0;

	/* O_TRUNC needs write access, as the kernel says for any file system */
	writing = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	/* value files read: names only, the object id is checked in what kv_secret_get returns */
	names_only = !writing && ino_decode(ino, &k) >= 0 &&
		     (k.kind == INO_SECRET || k.kind == INO_VERSION);
	/* a read open reads in one snapshot; a write open makes its own transactions */
	if (!writing)
		(void)kv_read_begin(v->kv);
	r = node_get(v, ino, names_only, &n);
	if (r < 0) {
		kv_read_end(v->kv);
		fuse_reply_err(req, reply_errno(r));
		return;
	}
	if (ino_is_dir(n.ino.kind)) {
		kv_read_end(v->kv);
		fuse_reply_err(req, EISDIR);
		return;
	}
	caller_init(req, IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE, &c);
	if (writing && n.ino.kind == INO_SECRET) {
		err = write_open(v, &c, &n, fi->flags, false, &h);
		if (err)
			fuse_reply_err(req, err);
		else
			(void)reply_open(req, h, fi);
		return;
	}
	user_path(&n, path, sizeof(path));
	version = n.ino.kind == INO_VERSION ? n.ino.version : 0;
	op = n.ino.kind == INO_META ? POLICY_OP_META : POLICY_OP_READ;

	r = policy_check(v->policy, op, n.path, &c.id, c.now, &d);
	if (r < 0)
		err = EIO;
	else if (d.verdict != POLICY_ALLOW)
		err = visible(v, &c, &n) ? EACCES : hidden_errno(v);
	else if (writing || (fi->flags & O_APPEND)) /* versions and .meta are read-only */
		err = EROFS;
	else {
		r = open_content(v, &n, &version, &h);
		if (r < 0)
			err = reply_errno(r);
	}
	kv_read_end(v->kv);
	/* A refusal is recorded before its reply, as every refusal is. An allowed read open is
	 * replied first and recorded right after, while the caller's kernel turns the reply into
	 * its next request (about 6 us less per open at p50, measured). No record, no bytes: the
	 * handle is born refused and answers reads only once its record is written; if it cannot
	 * be, it stays refused (EIO) and its buffer is wiped at once. That holds because this
	 * FUSE thread serves nothing else in between, and the handle's state says it in any case.
	 * Who the caller is was resolved before the reply (caller_init), so what the record says
	 * cannot change once the caller runs again. */
	if (err) {
		(void)record(v, &c, "open", &n, path, version, err, d.rule);
		fuse_reply_err(req, err);
		return;
	}
	h->refused = EIO;
	if (!reply_open(req, h, fi))
		h = NULL; /* the caller went away: recorded all the same, it was allowed */
	r = record(v, &c, "open", &n, path, version, 0, d.rule);
	if (h && r >= 0)
		h->refused = 0;
	else if (h)
		secbuf_free(TAKE_PTR(h->data));
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	size_t len;

	(void)ino;
	if (h->refused) {
		fuse_reply_err(req, h->refused);
		return;
	}
	len = h->data->len;
	if (off < 0 || (uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	fuse_reply_buf(req, (const char *)h->data->data + off, size);
}

/* Bytes at any offset build the file; a hole is zeros. Past VAULTFS_VALUE_MAX: EFBIG, and the
 * handle will commit nothing. */
static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct secbuf *b = h->data;
	int err = 0;

	(void)ino;
	if (!h->w)
		err = EBADF;
	else if (h->w->poisoned)
		err = EFBIG;
	else if (off < 0)
		err = EINVAL;
	else if ((uint64_t)off > VAULTFS_VALUE_MAX || size > VAULTFS_VALUE_MAX - (size_t)off) {
		poison(vfs_of(req), h);
		err = EFBIG;
	} else if (size > 0) {
		memcpy(b->data + off, buf, size);
		if ((size_t)off + size > b->len)
			b->len = (size_t)off + size;
		h->w->dirty = true;
	}
	/* the bytes also sit in libfuse's receive buffer, which only the next request reuses:
	 * wipe them there now */
	secure_wipe((void *)(uintptr_t)buf, size);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, size);
}

/* close(2), of each descriptor: commit what was written since the last commit; its errno is
 * what close returns. Nothing written (bash's `echo v > f` closes a dup of the file before it
 * writes), nothing made. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int err = 0;

	(void)ino;
	if (h->w && h->w->poisoned)
		err = EFBIG;
	else if (h->w && h->w->dirty)
		err = commit(vfs_of(req), h);
	fuse_reply_err(req, err);
}

/* The last close: a file opened with O_TRUNC or created and never committed becomes an empty
 * version (`: > f`, touch); bytes not committed by a flush (which always comes first) are
 * committed, unless a commit failed or the handle is poisoned. Then the buffer is wiped. */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfs *v = vfs_of(req);
	struct handle *h = handle_of(fi);
	struct writer *w = h->w;

	(void)ino;
	if (w && !w->poisoned && !w->failed && (w->dirty || (w->truncated && !w->committed))) {
		int err = commit(v, h);

		/* no close(2) is left to return it: the record has it (when it could be written),
		 * and the log says it */
		if (err)
			log_warning("Write of %s at its last close not committed: %s", w->n.path,
				    strerror(err));
	}
	handle_drop(v, h);
	fuse_reply_err(req, 0);
}

/* ftruncate(2) of a write handle sets the length of what it will commit; times are the
 * store's (created, updated) and are ignored where the caller may write. A mode, owner or
 * group change is EPERM: they are the policy's answer for each caller, not an attribute of
 * the file (so one that asks for what stat already shows succeeds). Anything else is EROFS,
 * or EACCES for a secret the caller may not write. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	const int times = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
			  FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	struct vfs *v = vfs_of(req);
	struct handle *h;
	struct caller c;
	struct node n = { 0 };
	struct stat st;
	bool gone;
	int r, err = 0;

	h = handle_for(v, ino, fi, &gone);
	if (gone) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (h && !h->w)
		h = NULL; /* a read handle: as by path */
	if (h) {
		handle_attr(h, ino, fuse_req_ctx(req), &st);
	} else {
		r = node_for_caller(req, ino, &n, &c);
		if (r) {
			fuse_reply_err(req, r);
			return;
		}
		r = fill_attr(v, &c, &n, ino, &st);
		if (r < 0) {
			fuse_reply_err(req, reply_errno(r));
			return;
		}
	}
	if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07777) != (st.st_mode & 07777))
		err = EPERM;
	else if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != st.st_uid)
		err = EPERM;
	else if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != st.st_gid)
		err = EPERM;
	else if ((to_set & FUSE_SET_ATTR_SIZE) && !h)
		err = EROFS;
	else if ((to_set & times) && !h && !(n.ino.kind == INO_SECRET && (st.st_mode & 0200)))
		err = n.ino.kind == INO_SECRET ? EACCES : EROFS;
	else if (to_set & FUSE_SET_ATTR_SIZE) {
		struct secbuf *b = h->data;

		if (h->w->poisoned) {
			err = EFBIG;
		} else if (attr->st_size < 0) {
			err = EINVAL;
		} else if ((uint64_t)attr->st_size > VAULTFS_VALUE_MAX) {
			poison(v, h);
			err = EFBIG;
		} else {
			size_t len = (size_t)attr->st_size;

			if (len < b->len) /* bytes past len stay zero */
				secure_wipe(b->data + len, b->len - len);
			b->len = len;
			h->w->dirty = true;
			handle_attr(h, ino, fuse_req_ctx(req), &st);
		}
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, 0);
}

/* --- directories --- */

/* The entries every directory starts with (a vault's all four, the others the first two). */
static const char *const dir_fixed_names[] = { ".", "..", ".versions", ".meta" };

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
};

/* An open directory: who opened it and where its listing stands, never its entries: readdir
 * reads them from the store a page at a time after the cursor, so what a handle holds does not
 * grow with the directory. The `list` decision was made at opendir. recent holds the names of
 * the entries of the last reply (less than a reply's bytes), so that a read that goes on from
 * inside it (the kernel took only part of it, or a seekdir to a telldir just made) starts after
 * the exact name. */
struct dirhandle {
	struct caller c;                  /* every entry is filtered for it, as at opendir */
	struct ino ino;                   /* the directory */
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];  /* .versions/S: the secret */
	uint64_t fixed[ELEMENTSOF(dir_fixed_names)]; /* their inode numbers */
	unsigned n_fixed;
	struct dirpos at;   /* where the last reply ended */
	struct dirpos from; /* where it began */
	char *recent;       /* the names of its entries, each NUL-terminated */
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
	struct vfs *v;
	struct dirhandle *d;
	char *out;
	size_t size, used;
	off_t skip_to;     /* entries up to this offset are walked, not replied */
	struct dirpos pos; /* the entry last walked */
};

/* The next entry, named name (key: its key in the store): replied when past skip_to, else only
 * walked over. -ENOBUFS when it does not fit: the reply is full, and the entry not taken. */
static int dir_emit(struct dirfill *f, uint64_t ino, unsigned type, const char *name,
		    const char *key)
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
		/* an entry takes more of the reply than its name: recent (size bytes) holds it */
		assert(d->recent_len + len <= d->recent_size);
		memcpy(d->recent + d->recent_len, name, len);
		d->recent_len += len;
	}
	f->pos.off = off;
	str_copy(f->pos.after, sizeof(f->pos.after), key);
	if (off == f->skip_to) /* what this reply gives starts here */
		d->from = f->pos;
	return 0;
}

/* A row of the store that gives no entry: walked past. */
static int dir_pass(struct dirfill *f, const char *key)
{
	str_copy(f->pos.after, sizeof(f->pos.after), key);
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
	return dir_emit(f, ino, DT_DIR, vi->name, vi->name);
}

static int fill_object(const struct kv_secret_info *si, void *userdata)
{
	struct dirfill *f = userdata;
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
	return dir_emit(f, ino, e.kind == INO_VERDIR ? DT_DIR : DT_REG, si->name, si->name);
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
	return dir_emit(f, ino, DT_REG, name, name);
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
	case INO_VERDIR:
		/* the key is a number we wrote ("" before the first) */
		return kv_secret_versions_page(kv, d->vault, d->name,
					       (uint32_t)strtoul(f->pos.after, NULL, 10), DIR_PAGE,
					       fill_version, f);
	default:
		r = kv_secret_list_page(kv, d->vault, false, f->pos.after, DIR_PAGE, fill_object,
					f, last);
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
	if (d->ino.kind != INO_ROOT && d->ino.kind != INO_VERDIR) {
		r = kv_vault_name(f->v->kv, d->ino.id, vault);
		if (r < 0)
			return r;
	}
	do
		r = dir_page(f);
	while (r == (int)DIR_PAGE);
	return r;
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
		snprintf(ret->after, sizeof(ret->after), "%s",
			 ret->off > (off_t)d->n_fixed ? name : "");
		name += strlen(name) + 1;
	}
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirhandle *d = (struct dirhandle *)(uintptr_t)fi->fh;
	struct dirfill f = { .req = req, .v = vfs_of(req), .d = d, .size = size, .skip_to = off };
	_cleanup_free_ char *out = NULL;
	int r = 0;

	(void)ino;
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	out = malloc(size ? size : 1);
	if (out && size > d->recent_size) {
		char *b = realloc(d->recent, size);

		if (b) {
			d->recent = b;
			d->recent_size = size;
		}
	}
	if (!out || size > d->recent_size) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f.out = out;
	dir_start(d, off, &f.pos);
	d->from = f.pos;
	d->recent_len = 0;

	while (r >= 0 && f.pos.off < (off_t)d->n_fixed) {
		size_t i = (size_t)f.pos.off;

		r = dir_emit(&f, d->fixed[i], DT_DIR, dir_fixed_names[i], "");
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
	fuse_reply_err(req, reply_errno(r));
}

/* The parent's inode number, for "..". */
static fuse_ino_t parent_ino(struct vfs *v, const struct node *n)
{
	struct ino p = { .kind = INO_ROOT };
	struct kv_vault_info vi;
	uint64_t ino = 1;

	if (n->ino.kind == INO_VERSIONS || n->ino.kind == INO_METADIR)
		p = (struct ino){ .kind = INO_VAULT, .id = n->ino.id };
	else if (n->ino.kind == INO_VERDIR && kv_vault_get(v->kv, n->vault, &vi) >= 0)
		p = (struct ino){ .kind = INO_VERSIONS, .id = vi.id };
	(void)ino_encode(&p, &ino);
	return ino;
}

/* A handle for directory n, opened by c (resolved in full): `ls /vault/V` needs `list` on /V
 * (a refusal is EACCES). 0, or the errno to reply. */
static int dir_open(struct vfs *v, struct caller *c, const struct node *n, fuse_ino_t self,
		    struct dirhandle **ret)
{
	struct policy_decision dec;
	struct dirhandle *d;
	int r;

	caller_full(c);
	if (n->ino.kind == INO_VAULT || n->ino.kind == INO_VERSIONS ||
	    n->ino.kind == INO_METADIR) {
		r = policy_check(v->policy, POLICY_OP_LIST, n->path, &c->id, c->now, &dec);
		if (r < 0)
			return reply_errno(r);
		if (dec.verdict != POLICY_ALLOW) { /* recorded like a refused open */
			(void)record(v, c, "list", n, n->path, 0, EACCES, dec.rule);
			return EACCES;
		}
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return ENOMEM;
	d->c = *c;
	d->ino = n->ino;
	memcpy(d->vault, n->vault, sizeof(d->vault));
	memcpy(d->name, n->name, sizeof(d->name));
	d->fixed[0] = self;
	d->fixed[1] = parent_ino(v, n);
	d->n_fixed = 2;
	if (n->ino.kind == INO_VAULT) {
		struct ino sub = { .kind = INO_VERSIONS, .id = n->ino.id };

		r = ino_encode(&sub, &d->fixed[2]);
		sub.kind = INO_METADIR;
		if (r >= 0)
			r = ino_encode(&sub, &d->fixed[3]);
		if (r < 0) {
			dirhandle_free(d);
			return reply_errno(r);
		}
		d->n_fixed = 4;
	}
	*ret = d;
	return 0;
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfs *v = vfs_of(req);
	struct dirhandle *d = NULL;
	struct caller c;
	struct node n;
	int r;

	r = node_for_caller(req, ino, &n, &c);
	if (r == 0 && !ino_is_dir(n.ino.kind))
		r = ENOTDIR;
	if (r == 0)
		r = dir_open(v, &c, &n, ino, &d);
	if (r) {
		fuse_reply_err(req, r);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		dirhandle_free(d);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dirhandle_free((struct dirhandle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* --- names: create, delete, vaults --- */

/* Where a name may be made or removed: a secret in a vault's directory, a vault in /vault
 * (dir). Elsewhere EROFS (.versions, .meta and what is in them), EPERM (a file in /vault, a
 * directory in a vault), EINVAL for a name that cannot exist; such a refusal is recorded as
 * event, with the path as typed and no rule (no policy could allow it). */
static int name_place(struct vfs *v, fuse_req_t req, struct caller *c, const struct node *p,
		      const char *name, bool dir, const char *event)
{
	char path[VAULTFS_PATH_MAX];
	int err;

	switch (p->ino.kind) {
	case INO_ROOT:
		err = dir ? 0 : EPERM;
		break;
	case INO_VAULT:
		if (streq(name, ".versions") || streq(name, ".meta"))
			err = EROFS;
		else
			err = dir ? EPERM : 0;
		break;
	case INO_VERSIONS:
	case INO_METADIR:
	case INO_VERDIR:
		err = EROFS;
		break;
	default:
		err = ENOTDIR;
		break;
	}
	if (!err && !kv_name_valid(name))
		err = EINVAL;
	if (err) {
		struct node n;

		/* the record names the vault and object the path is about, where there is one */
		if (!named_node(p, name, &n))
			n = *p;
		caller_more(req, IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE, c);
		child_path(p, name, path, sizeof(path));
		(void)record(v, c, event, &n, path, 0, err, NULL);
	}
	return err;
}

/* A change to n for caller c: decided (op) and recorded, allowed or refused. 0 when it may go
 * ahead, else the errno to reply. */
static int change_begin(struct vfs *v, fuse_req_t req, struct caller *c, unsigned op,
			const struct node *n, const char *event, struct policy_decision *d)
{
	int err;

	caller_more(req, IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE, c);
	err = decide(v, c, op, n, d);
	if (record(v, c, event, n, n->path, 0, err, d->rule) < 0 && !err)
		err = EIO;
	return err;
}

/* The change was made (r >= 0) or failed: then recorded again with its errno (as vaultctl
 * does). 0 or the errno to reply. */
static int change_end(struct vfs *v, const struct caller *c, const struct node *n,
		      const char *event, const struct policy_decision *d, int r)
{
	int err;

	if (r >= 0)
		return 0;
	err = reply_errno(r);
	(void)record(v, c, event, n, n->path, 0, err, d->rule);
	return err;
}

/* open(O_CREAT) of a name the kernel has no entry for. The secret is made at the first commit
 * (close); until then the file is known by a pending number and has no name in the store. */
static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct vfs *v = vfs_of(req);
	struct fuse_entry_param e = { 0 };
	struct handle *h = NULL;
	struct caller c;
	struct node p, n;
	int err;

	(void)mode; /* the mode is the policy's answer */
	err = node_for_caller(req, parent, &p, &c);
	if (!err)
		err = name_place(v, req, &c, &p, name, false, "open-write");
	if (!err) {
		(void)named_node(&p, name, &n);
		caller_more(req, IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE, &c);
		err = write_open(v, &c, &n, fi->flags, true, &h);
	}
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	handle_attr(h, h->w->ino, fuse_req_ctx(req), &e.attr);
	e.ino = h->w->ino;
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 0;
	if (fuse_reply_create(req, &e, fi) != 0)
		handle_drop(v, h); /* interrupted: no release will come */
}

/* rm: soft delete (`delete`); the secret keeps its name until purged. */
static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vfs *v = vfs_of(req);
	struct policy_decision d;
	struct kv_version_info info;
	struct caller c;
	struct node p, n;
	bool known = false;
	int err;

	err = node_for_caller(req, parent, &p, &c);
	if (!err)
		err = name_place(v, req, &c, &p, name, false, "delete");
	if (!err) {
		(void)named_node(&p, name, &n);
		err = change_begin(v, req, &c, POLICY_OP_DELETE, &n, "delete", &d);
	}
	if (!err) {
		known = kv_secret_info(v->kv, n.vault, n.name, 0, &info) >= 0;
		err = change_end(v, &c, &n, "delete", &d, kv_secret_delete(v->kv, n.vault, n.name));
	}
	if (!err && known)
		changed(v, n.vault, n.name, info.object_id, true);
	fuse_reply_err(req, err);
}

/* mkdir /vault/NAME: a vault (`manage` on /NAME), with the default retention. */
static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct vfs *v = vfs_of(req);
	struct policy_decision d;
	struct kv_vault_info vi;
	struct caller c;
	struct node p, n;
	struct stat st = { 0 };
	uint64_t ino;
	int r, err;

	(void)mode;
	err = node_for_caller(req, parent, &p, &c);
	if (!err)
		err = name_place(v, req, &c, &p, name, true, "vault-create");
	if (!err) {
		(void)named_node(&p, name, &n);
		err = change_begin(v, req, &c, POLICY_OP_MANAGE, &n, "vault-create", &d);
	}
	if (!err)
		err = change_end(v, &c, &n, "vault-create", &d, kv_vault_create(v->kv, name, 0));
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	r = kv_vault_get(v->kv, name, &vi);
	if (r >= 0)
		r = ino_encode(&(struct ino){ .kind = INO_VAULT, .id = vi.id }, &ino);
	if (r < 0) {
		fuse_reply_err(req, reply_errno(r));
		return;
	}
	fill_dir_attr(&c, ino, &st);
	reply_entry(req, &st);
}

/* rmdir /vault/NAME: `manage`; ENOTEMPTY while the vault holds any object (deleted ones too,
 * until purged). */
static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vfs *v = vfs_of(req);
	struct policy_decision d;
	struct caller c;
	struct node p, n;
	int err;

	err = node_for_caller(req, parent, &p, &c);
	if (!err)
		err = name_place(v, req, &c, &p, name, true, "vault-delete");
	if (!err) {
		(void)named_node(&p, name, &n);
		err = change_begin(v, req, &c, POLICY_OP_MANAGE, &n, "vault-delete", &d);
	}
	if (!err)
		err = change_end(v, &c, &n, "vault-delete", &d, kv_vault_delete(v->kv, name));
	fuse_reply_err(req, err);
}

/* Not in this namespace: device nodes, links, and renames (a version is made by writing). */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EPERM);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EPERM);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EPERM);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* every stat must reach us: no readdirplus filling the attribute cache */
	conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	/* O_TRUNC arrives in open's flags (no separate truncate), and writes reach us as they
	 * are made, never cached */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
	/* and never FUSE_CAP_NO_OPEN_SUPPORT: every open must reach the policy and the journal */
}

const struct fuse_lowlevel_ops vfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.access = op_access,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.rename = op_rename,
	.symlink = op_symlink,
	.link = op_link,
};
