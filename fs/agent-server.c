/* agent-server.c: the ssh-agent socket of agent-server.h. Reads each connection's frames into
 * its own buffer (at most 4 + AGENT_MSG_MAX bytes, the unused tail kept for when more arrives),
 * answers one frame at a time through core/agent.c with a backend of the store's keys, and
 * writes the reply as the socket takes it before it reads the next. A peer is shown only the
 * keys it may sign with (policy `sign` on "/VAULT/KEY", any ssh use), each signature is decided
 * again with its use (ssh=login, ssh=sig:NAMESPACE, ssh=other), made inside the daemon by
 * kv_key_sign (software or TPM) and recorded before its reply ("agent-sign": the key, version,
 * algorithm, use and, when the connection was bound, the destination's host key fingerprint,
 * in the record's path field); requests to add, remove or lock keys are refused and recorded
 * ("agent-refused"). Never logs or records the data signed; wipes every input buffer when it
 * is dropped (an ADD_IDENTITY carries a private key: the engine wipes it in place). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "core/agent.h"
#include "core/key-soft.h"
#include "core/log.h"
#include "core/secbuf.h"
#include "core/util.h"
#include "fs/agent-server.h"
#include "fs/peer.h"
#include "policy/identity.h"

/* The caps, all here. CONN_MAX connections at once; a uid other than root holds at most
 * CONN_PER_UID of them and the last CONN_ROOT_ONLY are root's, so that no uid can lock the
 * others out. One more is closed at once (the client sees the end of the connection: no hang).
 * Past CONN_CROWDED, an idle connection is cut IDLE_CROWDED_MS after it fell idle. */
#define CONN_MAX 64u
#define CONN_PER_UID 8u
#define CONN_ROOT_ONLY 8u
#define CONN_CROWDED (CONN_MAX / 4 * 3)
#define IDLE_CROWDED_MS 1000
/* A frame not whole, or a reply not taken, this long after it began: closed. Trickling bytes
 * does not renew it. */
#define STALL_MS 10000
/* Nothing asked for this long: closed (ssh keeps its agent connection only through the user
 * authentication; git and ssh-keygen one request). */
#define IDLE_MS 60000
/* Frames one connection may have answered in one dispatch (the daemon's lock is held). */
#define DISPATCH_FRAMES 8u
/* The first input buffer; it grows (copied, the old one wiped) up to 4 + AGENT_MSG_MAX. */
#define IN_INITIAL 4096u
/* Keys looked at for one list or sign (vaults' keys together). */
#define KEYS_SCAN_MAX 65536u
#define ACCEPT_PAUSE_MS 1000
/* Keys of a connection's last list (and those its signs found by a walk since) remembered, for
 * its signs to find without a walk. */
#define LISTED_MAX 64u

struct keyref {
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
};

/* A key a list gave, by a hash of its SPKI: a hint only, checked again (policy, the key's
 * current SPKI in full) before a sign uses it. */
struct listed {
	struct keyref ref;
	uint64_t h;
};

struct aconn {
	int fd;
	struct ucred cred;
	struct identity id; /* the peer, resolved once at accept */
	struct agent_conn conn;
	uint8_t *in;
	size_t inlen, incap;
	struct buf out;
	size_t out_off;
	int64_t deadline;
	bool was_busy;
	bool done; /* a frame was answered or a reply written since the last touch */
	bool more; /* the budget ran out with input left to answer: served again at once */
	struct listed *listed; /* LISTED_MAX, allocated by the first list */
	size_t nlisted;
};

struct agent_server {
	struct vaultfsd *v;
	char *path;
	int fd;
	int64_t accept_pause_until;
	struct aconn *conns[CONN_MAX];
	size_t n;
	uint64_t refused; /* connections turned away by the caps */
};

/* --- connections --- */

static bool busy(const struct aconn *k)
{
	return k->inlen > 0 || k->out.len > 0;
}

static void touch(struct aconn *k)
{
	bool b = busy(k);

	if (!b)
		k->deadline = clock_ms(CLOCK_MONOTONIC) + IDLE_MS;
	else if (!k->was_busy || k->done)
		k->deadline = clock_ms(CLOCK_MONOTONIC) + STALL_MS;
	k->was_busy = b;
	k->done = false;
}

static int64_t conn_deadline(const struct agent_server *s, const struct aconn *k)
{
	if (k->was_busy || s->n <= CONN_CROWDED)
		return k->deadline;
	return k->deadline - IDLE_MS + IDLE_CROWDED_MS;
}

static void conn_free(struct aconn *k)
{
	if (!k)
		return;
	if (k->fd >= 0)
		close(k->fd);
	if (k->in) {
		secure_wipe(k->in, k->incap);
		free(k->in);
	}
	if (k->out.p)
		secure_wipe(k->out.p, k->out.cap);
	buf_done(&k->out);
	free(k->listed);
	free(k);
}

/* Room for need bytes of input: a bigger buffer, the old one copied and wiped. */
static int in_reserve(struct aconn *k, size_t need)
{
	size_t cap = k->incap;
	uint8_t *p;

	if (need <= cap)
		return 0;
	if (need > 4 + AGENT_MSG_MAX)
		return -EMSGSIZE;
	while (cap < need)
		cap *= 2;
	cap = MIN(cap, (size_t)4 + AGENT_MSG_MAX);
	p = malloc(cap);
	if (!p)
		return -ENOMEM;
	memcpy(p, k->in, k->inlen);
	secure_wipe(k->in, k->incap);
	free(k->in);
	k->in = p;
	k->incap = cap;
	return 0;
}

/* --- the keys: the backend of core/agent.c --- */

struct keylist {
	struct keyref *refs;
	size_t n, cap;
	char (*vaults)[VAULTFS_NAME_MAX + 1];
	size_t nv, capv;
	const char *vault; /* the vault being listed */
};

static void keylist_done(struct keylist *l)
{
	free(l->refs);
	free(l->vaults);
}

static int add_vault(const struct kv_vault_info *vi, void *ud)
{
	struct keylist *l = ud;

	if (l->nv == l->capv) {
		size_t cap = l->capv ? l->capv * 2 : 16;
		void *p = reallocarray(l->vaults, cap, sizeof(*l->vaults));

		if (!p)
			return -ENOMEM;
		l->vaults = p;
		l->capv = cap;
	}
	str_copy(l->vaults[l->nv++], sizeof(*l->vaults), vi->name);
	return 0;
}

static int add_key(const struct kv_object_info *o, void *ud)
{
	struct keylist *l = ud;

	if (o->type != OBJECT_KEY && o->type != OBJECT_CERT)
		return 0; /* a certificate's key signs by its name too (kv_key_sign) */
	if (l->n >= KEYS_SCAN_MAX)
		return -E2BIG;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		void *p = reallocarray(l->refs, cap, sizeof(*l->refs));

		if (!p)
			return -ENOMEM;
		l->refs = p;
		l->cap = cap;
	}
	str_copy(l->refs[l->n].vault, sizeof(l->refs[l->n].vault), l->vault);
	str_copy(l->refs[l->n].name, sizeof(l->refs[l->n].name), o->name);
	l->n++;
	return 0;
}

/* Every live key and certificate of every vault, names only (the listing callbacks do not call
 * kv again): a certificate is listed by its newest issued version's key, decided as a key. */
static int keys_collect(struct kv *kv, struct keylist *l)
{
	int r = kv_vault_list(kv, add_vault, l);

	for (size_t i = 0; r >= 0 && i < l->nv; i++) {
		l->vault = l->vaults[i];
		r = kv_object_list(kv, KV_KIND_ANY, l->vault, false, add_key, l);
		if (r == -E2BIG)
			r = 0; /* the first KEYS_SCAN_MAX, as a listing past OpenSSH's own cap */
	}
	return r < 0 ? r : 0;
}

/* FNV-1a 64 */
static uint64_t spki_hash(const uint8_t *p, size_t n)
{
	uint64_t h = UINT64_C(0xcbf29ce484222325);

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

static void key_path(const struct keyref *ref, char *buf, size_t size)
{
	snprintf(buf, size, "/%s/%s", ref->vault, ref->name);
}

/* May the peer (its ssh use set) sign with ref, and can the agent use its current version?
 * Fills *pub when so. */
static bool key_usable(struct agent_server *s, struct aconn *k, const struct keyref *ref,
		       int64_t now, struct kv_key_public *pub)
{
	char path[2 * VAULTFS_NAME_MAX + 3];
	struct policy_decision d;

	key_path(ref, path, sizeof(path));
	if (policy_check(s->v->policy, POLICY_OP_SIGN, path, &k->id, now, &d) < 0 ||
	    d.verdict != POLICY_ALLOW)
		return false;
	if (kv_key_public(s->v->kv, ref->vault, ref->name, 0, pub) < 0)
		return false;
	if (pub->spki_len == 0 || !(pub->ops & KEY_OP_SIGN) || !pub->info.enabled)
		return false;
	if ((pub->info.not_before && now < pub->info.not_before) ||
	    (pub->info.expires && now >= pub->info.expires))
		return false;
	return key_type_is_rsa(pub->type) || key_type_is_ec(pub->type) || pub->type == KEY_ED25519;
}

static int be_list(void *ud, const struct agent_conn *c,
		   int (*add)(void *ctx, const uint8_t *spki, size_t spki_len, const char *comment),
		   void *ctx)
{
	struct agent_server *s = ud;
	struct aconn *k = c->peer;
	struct keylist l = { 0 };
	int64_t now = (int64_t)time(NULL);
	int r;

	r = keys_collect(s->v->kv, &l);
	if (!k->listed)
		k->listed = calloc(LISTED_MAX, sizeof(*k->listed));
	k->nlisted = 0;
	identity_set_ssh(&k->id, IDENTITY_SSH_ANY, NULL);
	for (size_t i = 0; r >= 0 && i < l.n; i++) {
		struct kv_key_public pub;
		char comment[2 * VAULTFS_NAME_MAX + 2];

		if (!key_usable(s, k, &l.refs[i], now, &pub))
			continue;
		snprintf(comment, sizeof(comment), "%s/%s", l.refs[i].vault, l.refs[i].name);
		r = add(ctx, pub.spki, pub.spki_len, comment);
		if (r >= 0 && k->listed && k->nlisted < LISTED_MAX)
			k->listed[k->nlisted++] = (struct listed){
				.ref = l.refs[i],
				.h = spki_hash(pub.spki, pub.spki_len),
			};
	}
	identity_set_ssh(&k->id, IDENTITY_SSH_NONE, NULL);
	keylist_done(&l);
	return r < 0 ? r : 0;
}

/* What a record says of a signature besides the key: "[/V/K ]alg=A use=U[ dest=FP]". */
static void sign_detail(const struct keyref *ref, enum key_alg alg,
			const struct agent_sign_info *info, char *buf, size_t size)
{
	const char *dest = info->dest_hostkey_fp[0]  ? info->dest_hostkey_fp :
			   info->login_hostkey_fp[0] ? info->login_hostkey_fp :
						       NULL;
	char use[AGENT_NAMESPACE_MAX + AGENT_USER_MAX + 16];

	if (info->kind == AGENT_DATA_SSHSIG)
		snprintf(use, sizeof(use), "sshsig:%s", info->namespace);
	else if (info->kind == AGENT_DATA_LOGIN)
		snprintf(use, sizeof(use), "login:%s", info->user);
	else
		snprintf(use, sizeof(use), "other");
	/* no key: none this peer may use has the public key it named */
	snprintf(buf, size, "%s%s%s%s%salg=%s use=%s%s%s", ref ? "/" : "", ref ? ref->vault : "",
		 ref ? "/" : "", ref ? ref->name : "", ref ? " " : "", key_alg_name(alg), use,
		 dest ? " dest=" : "", dest ? dest : "");
}

static int record_sign(struct agent_server *s, struct aconn *k, const struct keyref *ref,
		       uint32_t version, enum key_alg alg, const struct agent_sign_info *info,
		       int err, const char *rule)
{
	struct audit_record rec = AUDIT_RECORD_INIT;
	char detail[VAULTFS_AUDIT_FIELD_MAX];

	sign_detail(ref, alg, info, detail, sizeof(detail));
	identity_to_record(&k->id, &rec);
	rec.event = "agent-sign";
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = rule;
	rec.vault = ref ? ref->vault : NULL;
	rec.object = ref ? ref->name : NULL;
	rec.version = version;
	rec.path = detail;
	return audit_append(s->v->audit, &rec, NULL);
}

static enum identity_ssh ssh_use(const struct agent_sign_info *info)
{
	switch (info->kind) {
	case AGENT_DATA_LOGIN:
		return IDENTITY_SSH_LOGIN;
	case AGENT_DATA_SSHSIG:
		return IDENTITY_SSH_SIG;
	default:
		return IDENTITY_SSH_OTHER;
	}
}

/* A key the walk found for a connection that did not list (or whose list did not have it):
 * among its listed keys from now on, so that its next signs with it take sign_listed. */
static void remember(struct aconn *k, const struct keyref *ref, uint64_t h)
{
	for (size_t i = 0; i < k->nlisted; i++)
		if (k->listed[i].h == h && streq(k->listed[i].ref.vault, ref->vault) &&
		    streq(k->listed[i].ref.name, ref->name))
			return;
	if (!k->listed)
		k->listed = calloc(LISTED_MAX, sizeof(*k->listed));
	if (k->listed && k->nlisted < LISTED_MAX)
		k->listed[k->nlisted++] = (struct listed){ .ref = *ref, .h = h };
}

/* The common case in one decryption of the key: the key the peer's last list gave for spki,
 * allowed for any ssh use and for this one, signs; recorded as the walk below would. 1: signed
 * and recorded (or the record failed: a negative errno, the signature wiped); 0: nothing
 * done, the walk decides (another key, a denial, any failure: each recorded there). */
static int sign_listed(struct agent_server *s, struct aconn *k, const uint8_t *spki,
		       size_t spki_len, enum key_alg alg, const uint8_t *data, size_t n,
		       const struct agent_sign_info *info, uint8_t *sig, size_t *siglen)
{
	uint64_t h = spki_hash(spki, spki_len);
	const struct keyref *ref = NULL;
	struct policy_decision d;
	char path[2 * VAULTFS_NAME_MAX + 3];
	uint8_t digest[KEY_DIGEST_MAX];
	size_t dlen = sizeof(digest);
	uint32_t version = 0;
	size_t cap = *siglen;
	int64_t now = (int64_t)time(NULL);
	int r;

	identity_set_ssh(&k->id, IDENTITY_SSH_ANY, NULL);
	for (size_t i = 0; i < k->nlisted && !ref; i++) {
		if (k->listed[i].h != h)
			continue;
		key_path(&k->listed[i].ref, path, sizeof(path));
		if (policy_check(s->v->policy, POLICY_OP_SIGN, path, &k->id, now, &d) >= 0 &&
		    d.verdict == POLICY_ALLOW)
			ref = &k->listed[i].ref;
	}
	if (!ref) {
		identity_set_ssh(&k->id, IDENTITY_SSH_NONE, NULL);
		return 0;
	}
	identity_set_ssh(&k->id, ssh_use(info), info->namespace);
	r = policy_check(s->v->policy, POLICY_OP_SIGN, path, &k->id, now, &d);
	identity_set_ssh(&k->id, IDENTITY_SSH_NONE, NULL);
	if (r < 0 || d.verdict != POLICY_ALLOW)
		return 0;
	if (alg != KEY_ALG_EDDSA) {
		r = key_digest(alg, data, n, digest, &dlen);
		if (r < 0)
			return 0;
		data = digest, n = dlen;
	}
	r = kv_key_sign_spki(s->v->kv, s->v->config->tcti, ref->vault, ref->name, spki, spki_len,
			     alg, data, n, sig, siglen, &version);
	if (r < 0) {
		*siglen = cap;
		return 0;
	}
	/* no signature leaves before its record is written */
	r = record_sign(s, k, ref, version, alg, info, 0, d.rule);
	if (r < 0) {
		secure_wipe(sig, *siglen);
		return -EIO;
	}
	return 1;
}

/* Find the key (among those the peer may use at all), decide this use, sign, record. */
static int be_sign(void *ud, const struct agent_conn *c, const uint8_t *spki, size_t spki_len,
		   enum key_alg alg, const uint8_t *data, size_t n,
		   const struct agent_sign_info *info, uint8_t *sig, size_t *siglen)
{
	struct agent_server *s = ud;
	struct aconn *k = c->peer;
	struct keylist l = { 0 };
	struct kv_key_public pub;
	struct keyref found;
	const struct keyref *ref = NULL;
	struct policy_decision d = { .verdict = POLICY_DENY, .rule = "default" };
	uint64_t h = spki_hash(spki, spki_len);
	char path[2 * VAULTFS_NAME_MAX + 3];
	uint8_t digest[KEY_DIGEST_MAX];
	size_t dlen = sizeof(digest);
	uint32_t version = 0;
	int64_t now = (int64_t)time(NULL);
	int r, w;

	r = sign_listed(s, k, spki, spki_len, alg, data, n, info, sig, siglen);
	if (r != 0)
		return r < 0 ? r : 0;
	/* the keys the last list gave first, then every key */
	identity_set_ssh(&k->id, IDENTITY_SSH_ANY, NULL);
	for (size_t i = 0; i < k->nlisted && !ref; i++)
		if (k->listed[i].h == h && key_usable(s, k, &k->listed[i].ref, now, &pub) &&
		    pub.spki_len == spki_len && memcmp(pub.spki, spki, spki_len) == 0) {
			found = k->listed[i].ref;
			ref = &found;
		}
	r = ref ? 0 : keys_collect(s->v->kv, &l);
	for (size_t i = 0; r >= 0 && i < l.n && !ref; i++)
		if (key_usable(s, k, &l.refs[i], now, &pub) && pub.spki_len == spki_len &&
		    memcmp(pub.spki, spki, spki_len) == 0)
			ref = &l.refs[i];
	if (!ref) {
		identity_set_ssh(&k->id, IDENTITY_SSH_NONE, NULL);
		(void)record_sign(s, k, NULL, 0, alg, info, r < 0 ? EIO : ENOENT, "default");
		keylist_done(&l);
		return r < 0 ? r : -ENOENT;
	}
	remember(k, ref, h);
	version = pub.version;
	key_path(ref, path, sizeof(path));
	identity_set_ssh(&k->id, ssh_use(info), info->namespace);
	r = policy_check(s->v->policy, POLICY_OP_SIGN, path, &k->id, now, &d);
	identity_set_ssh(&k->id, IDENTITY_SSH_NONE, NULL);
	if (r < 0 || d.verdict != POLICY_ALLOW) {
		(void)record_sign(s, k, ref, version, alg, info, EACCES, d.rule);
		keylist_done(&l);
		return -EACCES;
	}
	if (alg == KEY_ALG_EDDSA) {
		r = kv_key_sign(s->v->kv, s->v->config->tcti, ref->vault, ref->name, version, alg,
				data, n, sig, siglen, &version);
	} else {
		r = key_digest(alg, data, n, digest, &dlen);
		if (r >= 0)
			r = kv_key_sign(s->v->kv, s->v->config->tcti, ref->vault, ref->name,
					version, alg, digest, dlen, sig, siglen, &version);
	}
	/* no signature leaves before its record is written */
	w = record_sign(s, k, ref, version, alg, info, r < 0 ? -r : 0, d.rule);
	if (r >= 0 && w < 0) {
		secure_wipe(sig, *siglen);
		r = -EIO;
	}
	if (r < 0)
		log_debug("agent: signing with %s failed: %s", path, strerror(-r));
	keylist_done(&l);
	return r < 0 ? r : 0;
}

static void be_refused(void *ud, const struct agent_conn *c, uint8_t type, const char *what)
{
	struct agent_server *s = ud;
	struct aconn *k = c->peer;
	struct audit_record rec = AUDIT_RECORD_INIT;

	(void)type;
	identity_to_record(&k->id, &rec);
	rec.event = "agent-refused";
	rec.decision = AUDIT_DENY;
	rec.err = EOPNOTSUPP;
	rec.rule = "agent";
	rec.path = what;
	(void)audit_append(s->v->audit, &rec, NULL);
}

static const struct agent_backend backend = {
	.list = be_list,
	.sign = be_sign,
	.refused = be_refused,
};

/* --- reading and writing --- */

/* Answer the frames that are whole, one at a time while no reply waits. <0: close. */
static int serve_frames(struct agent_server *s, struct aconn *k, unsigned *budget)
{
	while (k->out.len == 0 && *budget > 0) {
		size_t total;
		int r = agent_frame_len(k->in, k->inlen, &total);

		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
		if (total > k->inlen)
			return in_reserve(k, total);
		r = agent_handle(&backend, s, &k->conn, k->in, total, &k->out);
		if (r < 0)
			return r;
		memmove(k->in, k->in + total, k->inlen - total);
		secure_wipe(k->in + k->inlen - total, total);
		k->inlen -= total;
		k->out_off = 0;
		k->done = true;
		(*budget)--;
	}
	return 0;
}

/* Write what the socket takes. <0: close. */
static int conn_write(struct aconn *k)
{
	while (k->out_off < k->out.len) {
		ssize_t n = send(k->fd, k->out.p + k->out_off, k->out.len - k->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		k->out_off += (size_t)n;
	}
	if (k->out.len) {
		buf_clear(&k->out);
		k->out_off = 0;
		k->done = true;
	}
	return 0;
}

/* Read, answer and write as far as the socket allows, within the budget. <0: close. */
static int conn_serve(struct agent_server *s, struct aconn *k)
{
	unsigned budget = DISPATCH_FRAMES;
	int r;

	k->more = false;
	for (;;) {
		ssize_t got;

		r = conn_write(k);
		if (r < 0 || k->out.len)
			return r;
		r = serve_frames(s, k, &budget);
		if (r < 0)
			return r;
		if (k->out.len)
			continue;
		if (budget == 0) {
			k->more = k->inlen > 0;
			return 0;
		}
		/* answered and written, nothing left over: poll says when more comes (a recv
		 * here would only say EAGAIN, one system call per request) */
		if (budget < DISPATCH_FRAMES && k->inlen == 0)
			return 0;
		if (k->inlen == k->incap) {
			r = in_reserve(k, k->incap + 1);
			if (r < 0)
				return r;
		}
		got = recv(k->fd, k->in + k->inlen, k->incap - k->inlen, MSG_DONTWAIT);
		if (got == 0)
			return -ECONNRESET;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		k->inlen += (size_t)got;
	}
}

/* --- the listening socket --- */

/* The peer of k as it connected, resolved once, now (control.c's rule: through the pidfd the
 * socket took at connect, so a pid recycled since cannot answer; what cannot be read stays
 * unknown, and unknown only takes rights away). */
static void peer_resolve(struct agent_server *s, struct aconn *k)
{
	peer_identity(s->v->ids, k->fd, &k->cred, &k->id);
}

static bool admit(const struct agent_server *s, uid_t uid)
{
	size_t mine = 0;

	if (s->n >= CONN_MAX)
		return false;
	if (uid == 0)
		return true;
	if (s->n >= CONN_MAX - CONN_ROOT_ONLY)
		return false;
	for (size_t i = 0; i < s->n; i++)
		mine += s->conns[i]->cred.uid == uid;
	return mine < CONN_PER_UID;
}

static void accept_all(struct agent_server *s)
{
	for (;;) {
		_cleanup_close_ int fd = -1;
		struct aconn *k;
		struct ucred cred;
		socklen_t len = sizeof(cred);

		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_warning_errno(negative_errno(), "Agent socket accept: %m; "
								    "pausing new connections");
				s->accept_pause_until = clock_ms(CLOCK_MONOTONIC) + ACCEPT_PAUSE_MS;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				log_warning_errno(negative_errno(), "Agent socket accept: %m");
			}
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
			continue;
		if (!admit(s, cred.uid)) {
			s->refused++; /* closed: the client reads the end, it does not wait */
			continue;
		}
		k = calloc(1, sizeof(*k));
		if (k)
			k->in = malloc(IN_INITIAL);
		if (!k || !k->in) {
			if (k)
				free(k->in);
			free(k);
			continue;
		}
		k->incap = IN_INITIAL;
		k->out.max = 4 + AGENT_MSG_MAX;
		k->fd = TAKE_FD(fd);
		k->cred = cred;
		agent_conn_init(&k->conn, k);
		peer_resolve(s, k);
		touch(k);
		s->conns[s->n++] = k;
	}
}

int agent_server_open(struct vaultfsd *v, const char *path, struct agent_server **ret)
{
	_cleanup_free_ struct agent_server *s = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = peer_listen(path, &fd);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		(void)unlink(path);
		return -ENOMEM;
	}
	s->v = v;
	s->fd = TAKE_FD(fd);
	*ret = TAKE_PTR(s);
	return 0;
}

void agent_server_free(struct agent_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		conn_free(s->conns[i]);
	if (s->fd >= 0)
		close(s->fd);
	(void)unlink(s->path);
	free(s->path);
	free(s);
}

size_t agent_server_max_fds(void)
{
	return CONN_MAX + 1;
}

size_t agent_server_pollfds(struct agent_server *s, struct pollfd *fds)
{
	bool paused = clock_ms(CLOCK_MONOTONIC) < s->accept_pause_until;

	fds[0] = (struct pollfd){ .fd = paused ? -1 : s->fd, .events = POLLIN };
	for (size_t i = 0; i < s->n; i++)
		fds[i + 1] = (struct pollfd){ .fd = s->conns[i]->fd,
					      .events = s->conns[i]->out.len ? POLLOUT : POLLIN };
	return s->n + 1;
}

int agent_server_timeout_ms(struct agent_server *s)
{
	int64_t first = s->accept_pause_until ? s->accept_pause_until : INT64_MAX, now;

	if (s->n == 0 && first == INT64_MAX)
		return -1;
	for (size_t i = 0; i < s->n; i++) {
		if (s->conns[i]->more)
			return 0;
		first = MIN(first, conn_deadline(s, s->conns[i]));
	}
	now = clock_ms(CLOCK_MONOTONIC);
	if (first == s->accept_pause_until && first <= now) {
		s->accept_pause_until = 0;
		return 0;
	}
	return first <= now ? 0 : (int)MIN(first - now, (int64_t)INT32_MAX);
}

void agent_server_dispatch(struct agent_server *s, const struct pollfd *fds, size_t n)
{
	int64_t now = clock_ms(CLOCK_MONOTONIC);
	size_t i, kept = 0, polled = n > 0 ? n - 1 : 0;

	for (i = 0; i < s->n; i++) {
		struct aconn *k = s->conns[i];
		bool close_it = false;

		if (k->more || (i < polled && fds[i + 1].fd == k->fd && fds[i + 1].revents)) {
			close_it = conn_serve(s, k) < 0;
			touch(k);
		}
		if (conn_deadline(s, k) <= now)
			close_it = true;
		if (close_it)
			conn_free(k);
		else
			s->conns[kept++] = k;
	}
	s->n = kept;
	if (n > 0 && fds[0].fd >= 0 && (fds[0].revents & POLLIN))
		accept_all(s);
}
