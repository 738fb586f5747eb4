/* node.c: who asks and what an inode number or a name names, for every FUSE operation: the
 * caller (identity resolved as far as the policy needs), the node (vault, object, policy
 * path), visibility, the decision of an op and its audit record. Reads the store's names and
 * info, never a value; never replies to a request. */
#include <stdio.h>
#include <time.h>

#include "fs/ops-int.h"

/* The dot-names of a vault's directory: its structure, never a secret's or a draft's. */
bool reserved_name(const char *name)
{
	return streq(name, ".versions") || streq(name, ".meta") || streq(name, ".keys") ||
	       streq(name, ".events");
}

/* The kind of object an inode kind names (its files and directories). */
static enum object_type object_kind(int kind)
{
	if (kind == INO_CERTVERDIR || ino_is_cert_file(kind))
		return OBJECT_CERT;
	return kind >= INO_KEYPUB ? OBJECT_KEY : OBJECT_SECRET;
}

/* kv errors to what the caller sees: the lifecycle errnos as they are, everything the caller
 * cannot act on (integrity, store, crypto) as EIO. r: >= 0 (returned as it is) or -errno. */
int shown_err(int r)
{
	if (r >= 0)
		return r;
	switch (-r) {
	case ENOENT:
	case EACCES:
	case EKEYREVOKED:
	case EKEYEXPIRED:
	case EKEYREJECTED:
	case ENOMEM:
	case EROFS:
	case EEXIST:	/* a name taken (a soft-deleted secret holds its name until purged) */
	case ENOTEMPTY: /* a vault that still has objects */
	case ENOSPC:	/* versions at VAULTFS_VERSIONS_MAX, or the store's disk is full */
	case EFBIG:
	case EHOSTDOWN: /* a fleet vault's change while the fleet's center is away */
	case ETIMEDOUT: /* ... or while it did not answer in time */
	case ENOKEY:	/* ... or before the rekey after a host's removal */
		return r;
	case EMSGSIZE: /* a value over VAULTFS_VALUE_MAX */
		return -EFBIG;
	default:
		return -EIO;
	}
}

/* What a name the caller may not see answers: it must not tell whether the name exists. */
int hidden_err(const struct vaultfsd *v)
{
	return v->hide_unreadable ? -ENOENT : -EACCES;
}

/* The caller of req: with extra (fields for the record), resolved at once as far as the policy
 * and the record need; without, the policy's fields left pending. */
void caller_init(fuse_req_t req, unsigned extra, struct caller *c)
{
	struct vaultfsd *v = vfs_of(req);
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

/* Resolve fields (CALLER_RECORD for a record) and whatever is pending, keeping what is known.
 * The caller's tid is the request's: the thread is blocked in its system call meanwhile. */
void caller_resolve(struct caller *c, unsigned fields)
{
	fields = (fields | c->pending) & ~c->id.known;
	c->pending = 0;
	if (fields)
		(void)identity_resolve(c->ids, &c->id, c->tid, fields);
}

/* Everything the policy needs resolved. */
void caller_full(struct caller *c)
{
	caller_resolve(c, 0);
}

/* The decision on op for c on n, made with c resolved in full: 0 (allow), -EACCES, or -EIO
 * when no decision could be made. d names the rule either way. */
int caller_decide(struct vaultfsd *v, struct caller *c, unsigned op, const struct node *n,
		  struct policy_decision *d)
{
	caller_full(c);
	*d = (struct policy_decision){ .rule = "default" };
	if (policy_check(v->policy, op, n->path, &c->id, c->now, d) < 0)
		return -EIO;
	return d->verdict == POLICY_ALLOW ? 0 : -EACCES;
}

/* "/A", or "/A/B" when b is given, into buf of size (>= 2) bytes, cut to fit as snprintf would
 * (without parsing a format: every lookup and open builds paths). */
void slash_path(char *buf, size_t size, const char *a, const char *b)
{
	size_t n;

	buf[0] = '/';
	n = 1 + MIN(str_copy(buf + 1, size - 1, a), size - 2);
	if (b && n + 1 < size) {
		buf[n] = '/';
		str_copy(buf + n + 1, size - n - 1, b);
	}
}

void node_path(struct node *n)
{
	slash_path(n->path, sizeof(n->path), n->vault, n->name[0] ? n->name : NULL);
}

/* Look up what ino names. Object kinds must name a live object (and a version an existing
 * one), -ENOENT otherwise, and come with the version's info; with names_only they come with
 * their names alone (the caller checks the object id in what it reads next). */
int node_get(struct vaultfsd *v, fuse_ino_t ino, bool names_only, struct node *ret)
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
	case INO_KEYS:
	case INO_KEYVERSIONS:
		r = kv_vault_name(v->kv, n.ino.id, n.vault);
		break;
	case INO_EVENTS: /* a vault's, or the root's (every vault: no name) */
		r = n.ino.view == INO_EVENTS_ALL ? 0 : kv_vault_name(v->kv, n.ino.id, n.vault);
		break;
	default: {
		struct kv_version_info info;

		r = kv_object_names(v->kv, n.ino.id, n.vault, n.name);
		if (r < 0 || names_only)
			break;
		/* an object of the kind the number says, or nothing (-ENOENT) */
		r = kv_object_info(v->kv, object_kind(n.ino.kind), n.vault, n.name,
				   ino_has_version(n.ino.kind) ? n.ino.version : 0, &info);
		if (r >= 0 && info.object_id != n.ino.id) /* deleted and re-created meanwhile */
			r = -ENOENT;
		if (r >= 0)
			n.info = node_info_of(&info);
		n.has_info = r >= 0;
		break;
	}
	}
	if (r < 0)
		return r;
	node_path(&n);
	*ret = n;
	return 0;
}

/* May c see the policy path? */
bool visible_path(const struct vaultfsd *v, struct caller *c, const char *path)
{
	int r;

	r = policy_visible(v->policy, path, &c->id, c->now);
	if (r <= 0 && c->pending) { /* "visible" is final without them; "not" is not */
		caller_full(c);
		r = policy_visible(v->policy, path, &c->id, c->now);
	}
	return r > 0;
}

bool node_visible(const struct vaultfsd *v, struct caller *c, const struct node *n)
{
	if (n->ino.kind == INO_ROOT || (n->ino.kind == INO_EVENTS && !n->vault[0]))
		return true;
	return visible_path(v, c, n->path);
}

/* The node ino names, for this caller: 0, or the -errno to reply (hidden names included). */
int node_for_caller(fuse_req_t req, fuse_ino_t ino, struct node *ret, struct caller *c)
{
	struct vaultfsd *v = vfs_of(req);
	int r;

	r = node_get(v, ino, false, ret);
	if (r < 0)
		return shown_err(r);
	caller_init(req, 0, c);
	return node_visible(v, c, ret) ? 0 : hidden_err(v);
}

/* The child `name` of a directory of .keys, without any policy decision: a key's files and
 * directories exist while the key does and has a public half. */
static int key_child_get(struct vaultfsd *v, const struct node *p, const char *name,
			 struct node *ret)
{
	struct node n = { 0 };
	struct kv_key_public pub;
	uint32_t version = 0;
	bool ssh = false;
	int r;

	str_copy(n.vault, sizeof(n.vault), p->vault);
	switch (p->ino.kind) {
	case INO_KEYS:
		if (streq(name, ".versions")) {
			n.ino = (struct ino){ .kind = INO_KEYVERSIONS, .id = p->ino.id };
			node_path(&n);
			*ret = n;
			return 0;
		}
		if (!key_file_name(name, n.name, &ssh))
			return -ENOENT;
		n.ino.kind = ssh ? INO_KEYSSH : INO_KEYPUB;
		break;
	case INO_KEYVERSIONS:
		if (!kv_name_valid(name))
			return -ENOENT;
		str_copy(n.name, sizeof(n.name), name);
		n.ino.kind = INO_KEYVERDIR;
		break;
	default: /* INO_KEYVERDIR */
		if (!key_version_name(name, &version, &ssh))
			return -ENOENT;
		str_copy(n.name, sizeof(n.name), p->name);
		n.ino.kind = ssh ? INO_KEYVERSSH : INO_KEYVERPUB;
		n.ino.version = version;
		break;
	}
	r = key_public_get(v->kv, n.vault, n.name, version, &pub);
	if (r < 0)
		return r;
	/* a version of the directory's key, not of one re-created under its name since */
	if (p->ino.kind == INO_KEYVERDIR && pub.info.object_id != p->ino.id)
		return -ENOENT;
	n.ino.id = pub.info.object_id;
	n.info = node_info_of(&pub.info);
	n.has_info = true;
	node_path(&n);
	*ret = n;
	return 0;
}

/* The child `name` of a vault's directory, .versions or a certificate's .versions/C that is a
 * certificate's, without any policy decision: a view file (C.crt ... in the vault, N.crt ... in
 * .versions/C) exists while its version is issued (and for the key's three, while its key is
 * exportable); .versions/C while the certificate does. */
static int cert_child_get(struct vaultfsd *v, const struct node *p, const char *name,
			  struct node *ret)
{
	struct node n = { 0 };
	struct kv_cert_info ci;
	uint32_t version = 0;
	unsigned view = 0;
	int r;

	str_copy(n.vault, sizeof(n.vault), p->vault);
	switch (p->ino.kind) {
	case INO_VAULT:
		if (!cert_file_name(name, n.name, &view) || !cert_view_named(n.name, view))
			return -ENOENT;
		n.ino.kind = INO_CERTFILE;
		break;
	case INO_VERSIONS: {
		struct kv_version_info info;

		if (!kv_name_valid(name))
			return -ENOENT;
		str_copy(n.name, sizeof(n.name), name);
		r = kv_object_info(v->kv, OBJECT_CERT, n.vault, n.name, 0, &info);
		if (r < 0)
			return r;
		n.info = node_info_of(&info);
		n.ino = (struct ino){ .kind = INO_CERTVERDIR, .id = info.object_id };
		node_path(&n);
		*ret = n;
		return 0;
	}
	default: /* INO_CERTVERDIR */
		if (!cert_version_name(name, &version, &view))
			return -ENOENT;
		str_copy(n.name, sizeof(n.name), p->name);
		n.ino.kind = INO_CERTVERFILE;
		break;
	}
	/* a version of the directory's certificate, not of one re-created under its name since */
	r = cert_version_get(v->kv, n.vault, n.name, version,
			     p->ino.kind == INO_CERTVERDIR ? p->ino.id : 0, view, &ci);
	if (r < 0)
		return r;
	n.ino.id = ci.info.object_id;
	n.ino.version = version;
	n.ino.view = view;
	n.info = node_info_of(&ci.info);
	n.has_info = true;
	kv_cert_info_done(&ci);
	node_path(&n);
	*ret = n;
	return 0;
}

/* The child `name` of directory node p, without any policy decision. */
int child_get(struct vaultfsd *v, const struct node *p, const char *name, struct node *ret)
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
		if (streq(name, ".keys")) {
			n.ino.kind = INO_KEYS;
			break;
		}
		/* an object of the vault */
		__attribute__((fallthrough));
	case INO_VERSIONS:
	case INO_METADIR:
		/* a secret of that name first, then a certificate's (the name of a view file, or
		 * .versions/C): in a store that has both (made before names were one space for
		 * certificates and their files), the object named exactly is the one shown */
		r = kv_name_valid(name) ? 0 : -ENOENT;
		str_copy(n.vault, sizeof(n.vault), p->vault);
		if (r >= 0) {
			str_copy(n.name, sizeof(n.name), name);
			r = kv_secret_info(v->kv, n.vault, n.name, 0, &info);
		}
		if (r == -ENOENT && p->ino.kind != INO_METADIR)
			return cert_child_get(v, p, name, ret);
		if (r < 0)
			return r;
		n.ino.kind = p->ino.kind == INO_VAULT	 ? INO_SECRET :
			     p->ino.kind == INO_VERSIONS ? INO_VERDIR :
							   INO_META;
		n.ino.id = info.object_id;
		n.info = node_info_of(&info);
		n.has_info = n.ino.kind == INO_SECRET;
		break;
	case INO_VERDIR: {
		uint32_t ver;

		if (!version_stem(name, strlen(name), &ver))
			return -ENOENT;
		str_copy(n.vault, sizeof(n.vault), p->vault);
		str_copy(n.name, sizeof(n.name), p->name);
		r = kv_secret_info(v->kv, n.vault, n.name, (uint32_t)ver, &info);
		if (r < 0)
			return r;
		n.ino = (struct ino){ .kind = INO_VERSION,
				      .id = info.object_id,
				      .version = (uint32_t)ver };
		n.info = node_info_of(&info);
		n.has_info = true;
		break;
	}
	case INO_KEYS:
	case INO_KEYVERSIONS:
	case INO_KEYVERDIR:
		return key_child_get(v, p, name, ret);
	case INO_CERTVERDIR:
		return cert_child_get(v, p, name, ret);
	default:
		return -ENOTDIR;
	}
	node_path(&n);
	*ret = n;
	return 0;
}

/* named_node for the names of .keys: a key's file (K.pub, K.ssh.pub) or its versions'
 * directory (.keys/.versions/K), decided as the key K. */
static bool key_named_node(const struct node *p, const char *name, struct node *ret)
{
	struct node n = { 0 };
	bool ssh;

	if (p->ino.kind == INO_KEYS) {
		if (!key_file_name(name, n.name, &ssh))
			return false;
		n.ino.kind = ssh ? INO_KEYSSH : INO_KEYPUB;
	} else if (kv_name_valid(name)) {
		str_copy(n.name, sizeof(n.name), name);
		n.ino.kind = INO_KEYVERDIR;
	} else {
		return false;
	}
	str_copy(n.vault, sizeof(n.vault), p->vault);
	node_path(&n);
	*ret = n;
	return true;
}

/* The node whose rules decide on the child `name` of p, when that is a vault or an object
 * other than p itself: false for the structural .versions and .meta, for a version number
 * (decided as its object, p), and for names that cannot exist. */
bool named_node(const struct node *p, const char *name, struct node *ret)
{
	struct node n = { 0 };

	if (p->ino.kind == INO_KEYS || p->ino.kind == INO_KEYVERSIONS)
		return key_named_node(p, name, ret);
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

/* The path a user typed, for the record: /V/S, /V/.versions/S/N, /V/.meta/S, those of .keys,
 * and a certificate's view files /V/C.crt and /V/.versions/C/N.crt ... */
void user_path(const struct node *n, char *buf, size_t size)
{
	switch (n->ino.kind) {
	case INO_KEYPUB:
	case INO_KEYSSH:
		snprintf(buf, size, "/%s/.keys/%s%s", n->vault, n->name,
			 n->ino.kind == INO_KEYSSH ? ".ssh.pub" : ".pub");
		break;
	case INO_KEYVERDIR:
		snprintf(buf, size, "/%s/.keys/.versions/%s", n->vault, n->name);
		break;
	case INO_KEYVERPUB:
	case INO_KEYVERSSH:
		snprintf(buf, size, "/%s/.keys/.versions/%s/%u%s", n->vault, n->name,
			 n->ino.version, n->ino.kind == INO_KEYVERSSH ? ".ssh.pub" : ".pub");
		break;
	case INO_VERSION:
		snprintf(buf, size, "/%s/.versions/%s/%u", n->vault, n->name, n->ino.version);
		break;
	case INO_CERTFILE: {
		char entry[VAULTFS_NAME_MAX + 16];

		cert_entry_name(n->name, n->ino.view, entry, sizeof(entry));
		slash_path(buf, size, n->vault, entry);
		break;
	}
	case INO_CERTVERFILE: {
		char entry[32];
		char stem[16];

		snprintf(stem, sizeof(stem), "%u", n->ino.version);
		cert_entry_name(stem, n->ino.view, entry, sizeof(entry));
		snprintf(buf, size, "/%s/.versions/%s/%s", n->vault, n->name, entry);
		break;
	}
	case INO_META:
		snprintf(buf, size, "/%s/.meta/%s", n->vault, n->name);
		break;
	default:
		str_copy(buf, size, n->path);
		break;
	}
}

/* The path a user typed for the entry `name` of directory p, for the record. */
void child_path(const struct node *p, const char *name, char *buf, size_t size)
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
	case INO_CERTVERDIR:
		snprintf(buf, size, "/%s/.versions/%s/%s", p->vault, p->name, name);
		break;
	case INO_KEYS:
		snprintf(buf, size, "/%s/.keys/%s", p->vault, name);
		break;
	case INO_KEYVERSIONS:
		snprintf(buf, size, "/%s/.keys/.versions/%s", p->vault, name);
		break;
	case INO_KEYVERDIR:
		snprintf(buf, size, "/%s/.keys/.versions/%s/%s", p->vault, p->name, name);
		break;
	default:
		slash_path(buf, size, name, NULL);
		break;
	}
}

/* One audit record of an access to n by c: r is 0 (allowed) or the -errno replied. */
int record_access(struct vaultfsd *v, const struct caller *c, const char *event,
		  const struct node *n, const char *path, uint32_t version, int r, const char *rule)
{
	struct audit_record rec = AUDIT_RECORD_INIT;

	rec.event = event;
	rec.decision = r ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = -r;
	rec.rule = rule;
	rec.vault = n->vault[0] ? n->vault : NULL;
	rec.object = n->name[0] ? n->name : NULL;
	rec.version = version;
	rec.path = path;
	identity_to_record(&c->id, &rec);
	return audit_append(v->audit, &rec, NULL);
}
