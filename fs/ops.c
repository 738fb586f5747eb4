/* ops.c: the FUSE low-level operations of /vault. Every request is answered for the caller
 * who sent it: who is asking (identity), what the policy lets it see and do, what the store
 * holds. An open runs identity -> policy -> store -> decrypt -> audit -> reply, and the
 * decrypted bytes live only in a secure buffer owned by the file handle, wiped on release.
 * Replies: direct_io (no page cache), timeouts 0 (every lookup and stat reaches us), no
 * readdirplus. Every request gets exactly one reply on every path. Never logs a value. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "core/secbuf.h"
#include "core/util.h"
#include "fs/inode.h"
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

/* Who is asking, resolved as far as the policy (and, for opens, the record) needs. */
struct caller {
	struct identity id;
	int64_t now;
};

/* An open file: the bytes one open sees, whatever is written meanwhile. */
struct handle {
	struct secbuf *data;
};

/* An open directory: its entries, listed once at opendir, packed as
 * [ino u64][type u8][name NUL] so that readdir streams them by index. */
struct dirlist {
	uint8_t *buf;
	size_t len, cap;
	size_t n;
	size_t cursor_index, cursor_pos; /* where the last readdir stopped: reads go on from it */
};

static struct vfs *vfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void caller_init(fuse_req_t req, unsigned extra, struct caller *c)
{
	struct vfs *v = vfs_of(req);
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned need;

	identity_init(&c->id);
	identity_set_uid(&c->id, ctx->uid);
	identity_set_gid(&c->id, ctx->gid);
	need = (policy_needs(v->policy) | extra) & ~(unsigned)(IDENTITY_UID | IDENTITY_GID);
	/* what cannot be resolved stays unknown, and unknown can only take rights away */
	if (need)
		(void)identity_resolve(&c->id, ctx->pid, need);
	c->now = (int64_t)time(NULL);
}

/* Resolve more of the caller (for the record), keeping what is known. */
static void caller_more(fuse_req_t req, unsigned fields, struct caller *c)
{
	fields &= ~c->id.known;
	if (fields)
		(void)identity_resolve(&c->id, fuse_req_ctx(req)->pid, fields);
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
		return -r;
	default:
		return EIO;
	}
}

static void node_path(struct node *n)
{
	if (n->name[0])
		snprintf(n->path, sizeof(n->path), "/%s/%s", n->vault, n->name);
	else
		snprintf(n->path, sizeof(n->path), "/%s", n->vault);
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

static bool visible(const struct vfs *v, const struct caller *c, const struct node *n)
{
	if (n->ino.kind == INO_ROOT)
		return true;
	return policy_visible(v->policy, n->path, &c->id, c->now) > 0;
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
	const struct identity *id = &c->id;

	rec.event = event;
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = rule;
	rec.vault = n->vault[0] ? n->vault : NULL;
	rec.object = n->name[0] ? n->name : NULL;
	rec.version = version;
	rec.path = path;
	rec.uid = id->uid;
	rec.gid = id->gid;
	if (id->known & IDENTITY_PID)
		rec.pid = id->pid;
	if (id->known & IDENTITY_EXE)
		rec.exe = id->exe;
	if (id->known & IDENTITY_CGROUP) {
		rec.cgroup = id->cgroup;
		rec.unit = id->cg.unit[0] ? id->cg.unit : NULL;
		rec.container = id->cg.container[0] ? id->cg.container : NULL;
	}
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
		snprintf(buf, size, "%s", n->path);
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

/* Attributes as this caller sees them: its own uid and gid, 0400 where it may read, 0000
 * otherwise, the exact size of what an open would give it. */
static int fill_attr(struct vfs *v, const struct caller *c, const struct node *n, fuse_ino_t ino,
		     struct stat *st)
{
	struct kv_version_info info;
	unsigned rights = 0;
	int r;

	memset(st, 0, sizeof(*st));
	if (ino_is_dir(n->ino.kind)) {
		fill_dir_attr(c, ino, st);
		return 0;
	}
	r = policy_rights(v->policy, n->path, &c->id, c->now, &rights);
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
		snprintf(n.vault, sizeof(n.vault), "%s", name);
		break;
	case INO_VAULT:
		n.ino.id = p->ino.id;
		snprintf(n.vault, sizeof(n.vault), "%s", p->vault);
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
		snprintf(n.vault, sizeof(n.vault), "%s", p->vault);
		snprintf(n.name, sizeof(n.name), "%s", name);
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
		snprintf(n.vault, sizeof(n.vault), "%s", p->vault);
		snprintf(n.name, sizeof(n.name), "%s", p->name);
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
		snprintf(n.vault, sizeof(n.vault), "%s", name);
		n.ino.kind = INO_VAULT;
		break;
	case INO_VAULT:
	case INO_VERSIONS:
	case INO_METADIR:
		snprintf(n.vault, sizeof(n.vault), "%s", p->vault);
		snprintf(n.name, sizeof(n.name), "%s", name);
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
	snprintf(v->last_refusal.name, sizeof(v->last_refusal.name), "%s", name);
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

	r = node_for_caller(req, parent, &p, &c);
	if (r) {
		fuse_reply_err(req, r);
		return;
	}
	/* decide on the name before looking it up: a refusal must not tell whether it exists */
	if (named_node(&p, name, &probe) && !visible(v, &c, &probe)) {
		struct policy_decision d = { .rule = "default" };
		char path[VAULTFS_PATH_MAX];
		int err = hidden_errno(v);

		/* the kernel may ask twice for one attempt (revalidating a cached name, then looking
		 * it up): one record per attempt */
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
	if (r < 0) {
		fuse_reply_err(req, reply_errno(r));
		return;
	}
	reply_entry(req, &st);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfs *v = vfs_of(req);
	struct caller c;
	struct node n;
	struct stat st;
	int r;

	/* fstat of an open file: the bytes this open sees, whatever was written since */
	if (fi && ino_decode(ino, &n.ino) >= 0 && !ino_is_dir(n.ino.kind)) {
		const struct handle *h = (const struct handle *)(uintptr_t)fi->fh;
		const struct fuse_ctx *ctx = fuse_req_ctx(req);

		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = S_IFREG | 0400; /* it was allowed to read at open */
		st.st_nlink = 1;
		st.st_uid = ctx->uid;
		st.st_gid = ctx->gid;
		st.st_size = (off_t)h->data->len;
		fuse_reply_attr(req, &st, 0);
		return;
	}
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
		fuse_reply_err(req, EROFS);
		return;
	}
	if (n.ino.kind == INO_ROOT) {
		fuse_reply_err(req, 0);
		return;
	}
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
			need = n.ino.kind == INO_META ? POLICY_OP_META : POLICY_OP_READ;
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
	secbuf_free(h->data);
	free(h);
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
	bool names_only;
	unsigned op;
	int r, err = 0;

	/* value files: names only, the object id is checked in what kv_secret_get returns */
	names_only = ino_decode(ino, &k) >= 0 && (k.kind == INO_SECRET || k.kind == INO_VERSION);
	r = node_get(v, ino, names_only, &n);
	if (r < 0) {
		fuse_reply_err(req, reply_errno(r));
		return;
	}
	if (ino_is_dir(n.ino.kind)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	caller_init(req, IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE, &c);
	user_path(&n, path, sizeof(path));
	version = n.ino.kind == INO_VERSION ? n.ino.version : 0;
	op = n.ino.kind == INO_META ? POLICY_OP_META : POLICY_OP_READ;

	r = policy_check(v->policy, op, n.path, &c.id, c.now, &d);
	if (r < 0)
		err = EIO;
	else if (d.verdict != POLICY_ALLOW)
		err = visible(v, &c, &n) ? EACCES : hidden_errno(v);
	else if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_APPEND)))
		err = EROFS;
	else {
		r = open_content(v, &n, &version, &h);
		if (r < 0)
			err = reply_errno(r);
	}
	/* the record is written before the reply; no record, no open */
	if (record(v, &c, "open", &n, path, version, err, d.rule) < 0 && !err) {
		handle_free(TAKE_PTR(h));
		err = EIO;
	}
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1; /* plaintext never enters the page cache */
	fi->keep_cache = 0;
	fi->noflush = 1; /* read-only: no FLUSH round trip on close */
	if (fuse_reply_open(req, fi) != 0)
		handle_free(h); /* the caller went away (interrupted): no release will come */
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	size_t len = h->data->len;

	(void)ino;
	if (off < 0 || (uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	fuse_reply_buf(req, (const char *)h->data->data + off, size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	handle_free((struct handle *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* --- directories --- */

static int dir_add(struct dirlist *d, uint64_t ino, unsigned type, const char *name)
{
	size_t need = 9 + strlen(name) + 1;

	if (d->len + need > d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 4096;
		uint8_t *b;

		while (cap < d->len + need)
			cap *= 2;
		b = realloc(d->buf, cap);
		if (!b)
			return -ENOMEM;
		d->buf = b;
		d->cap = cap;
	}
	memcpy(d->buf + d->len, &ino, 8);
	d->buf[d->len + 8] = (uint8_t)type;
	memcpy(d->buf + d->len + 9, name, need - 9);
	d->len += need;
	d->n++;
	return 0;
}

static void dir_free(struct dirlist *d)
{
	if (!d)
		return;
	free(d->buf);
	free(d);
}

struct list_ctx {
	struct vfs *v;
	const struct caller *c;
	struct dirlist *d;
	const char *vault;
	int kind; /* of the entries */
};

static int list_vault(const struct kv_vault_info *vi, void *userdata)
{
	struct list_ctx *l = userdata;
	struct node n = { .ino = { .kind = INO_VAULT, .id = vi->id } };
	uint64_t ino;

	snprintf(n.vault, sizeof(n.vault), "%s", vi->name);
	node_path(&n);
	if (!visible(l->v, l->c, &n) || ino_encode(&n.ino, &ino) < 0)
		return 0;
	return dir_add(l->d, ino, DT_DIR, vi->name);
}

static int list_object(const struct kv_secret_info *si, void *userdata)
{
	struct list_ctx *l = userdata;
	struct node n = { .ino = { .kind = l->kind, .id = si->id } };
	uint64_t ino;

	snprintf(n.vault, sizeof(n.vault), "%s", l->vault);
	snprintf(n.name, sizeof(n.name), "%s", si->name);
	node_path(&n);
	if (!visible(l->v, l->c, &n) || ino_encode(&n.ino, &ino) < 0)
		return 0;
	return dir_add(l->d, ino, l->kind == INO_VERDIR ? DT_DIR : DT_REG, si->name);
}

static int list_version(const struct kv_version_info *vi, void *userdata)
{
	struct list_ctx *l = userdata;
	struct ino n = { .kind = INO_VERSION, .id = vi->object_id, .version = vi->version };
	char name[16];
	uint64_t ino;

	if (ino_encode(&n, &ino) < 0)
		return 0;
	snprintf(name, sizeof(name), "%u", vi->version);
	return dir_add(l->d, ino, DT_REG, name);
}

/* The entries of directory n as caller c may see them. */
static int dir_list(struct vfs *v, const struct caller *c, const struct node *n,
		    fuse_ino_t self, fuse_ino_t parent, struct dirlist *d)
{
	struct list_ctx l = { .v = v, .c = c, .d = d, .vault = n->vault };
	struct policy_decision dec;
	uint64_t ino;
	int r;

	if ((r = dir_add(d, self, DT_DIR, ".")) < 0 || (r = dir_add(d, parent, DT_DIR, "..")) < 0)
		return r;
	switch (n->ino.kind) {
	case INO_ROOT:
		return kv_vault_list(v->kv, list_vault, &l);
	case INO_VAULT:
	case INO_VERSIONS:
	case INO_METADIR:
		/* `ls /vault/V` needs `list` on /V */
		r = policy_check(v->policy, POLICY_OP_LIST, n->path, &c->id, c->now, &dec);
		if (r < 0)
			return r;
		if (dec.verdict != POLICY_ALLOW)
			return -EACCES;
		if (n->ino.kind == INO_VAULT) {
			struct ino sub = { .kind = INO_VERSIONS, .id = n->ino.id };

			if ((r = ino_encode(&sub, &ino)) < 0 ||
			    (r = dir_add(d, ino, DT_DIR, ".versions")) < 0)
				return r;
			sub.kind = INO_METADIR;
			if ((r = ino_encode(&sub, &ino)) < 0 ||
			    (r = dir_add(d, ino, DT_DIR, ".meta")) < 0)
				return r;
		}
		l.kind = n->ino.kind == INO_VAULT    ? INO_SECRET :
			 n->ino.kind == INO_VERSIONS ? INO_VERDIR :
						       INO_META;
		return kv_secret_list(v->kv, n->vault, false, list_object, &l);
	case INO_VERDIR:
		return kv_secret_versions(v->kv, n->vault, n->name, list_version, &l);
	default:
		return -ENOTDIR;
	}
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

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vfs *v = vfs_of(req);
	struct dirlist *d;
	struct caller c;
	struct node n;
	int r;

	r = node_for_caller(req, ino, &n, &c);
	if (r == 0 && !ino_is_dir(n.ino.kind))
		r = ENOTDIR;
	if (r) {
		fuse_reply_err(req, r);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = dir_list(v, &c, &n, ino, parent_ino(v, &n), d);
	if (r < 0) {
		dir_free(d);
		fuse_reply_err(req, reply_errno(r));
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	if (fuse_reply_open(req, fi) != 0)
		dir_free(d);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirlist *d = (struct dirlist *)(uintptr_t)fi->fh;
	_cleanup_free_ char *out = NULL;
	size_t pos = 0, used = 0, i = 0;

	(void)ino;
	out = malloc(size);
	if (!out) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* offsets are entry indexes + 1; a read that goes on from the last one starts where it
	 * stopped (linear in the listing), a seek elsewhere walks from the start */
	if ((size_t)off >= d->cursor_index && d->cursor_index > 0) {
		i = d->cursor_index;
		pos = d->cursor_pos;
	}
	while (pos < d->len) {
		const char *name = (const char *)d->buf + pos + 9;
		size_t next = pos + 9 + strlen(name) + 1;

		if (i >= (size_t)off) {
			struct stat st = { 0 };
			size_t n;

			memcpy(&st.st_ino, d->buf + pos, 8);
			st.st_mode = (mode_t)d->buf[pos + 8] << 12;
			n = fuse_add_direntry(req, out + used, size - used, name, &st,
					      (off_t)(i + 1));
			if (n > size - used)
				break;
			used += n;
		}
		pos = next;
		i++;
	}
	d->cursor_index = i;
	d->cursor_pos = pos;
	fuse_reply_buf(req, out, used);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	dir_free((struct dirlist *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* --- what is not (yet) writable --- */

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EROFS);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* every stat must reach us: no readdirplus filling the attribute cache */
	conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
	/* and never FUSE_CAP_NO_OPEN_SUPPORT: every open must reach the policy and the journal */
}

const struct fuse_lowlevel_ops vfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.access = op_access,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.releasedir = op_releasedir,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.rename = op_rename,
	.symlink = op_symlink,
	.link = op_link,
	.setattr = op_setattr,
	.create = op_create,
};
