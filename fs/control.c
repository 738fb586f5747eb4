/* control.c: the control socket server of control.h. Reads one message at a time from each
 * connection without ever blocking: the JSON line is peeked and consumed up to its newline
 * only, so the value bytes after it go straight from the socket into a secbuf (never into a
 * heap buffer); a line or value over its cap is read and thrown away and answered with an
 * error, and the connection stays usable. Each request is decided by the policy for the peer
 * that SO_PEERCRED names and run through core/request. Replies are written as the socket
 * takes them; a connection whose message or reply makes no progress before its deadline is
 * closed, and what it held is wiped. Never logs a request's values. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "core/log.h"
#include "core/request.h"
#include "core/util.h"
#include "fs/certs.h"
#include "fs/control.h"
#include "fs/events.h"
#include "fs/peer.h"
#include "fs/keys.h"
#include "fs/inode.h"
#include "fs/notify.h"
#include "policy/identity.h"

/* The caps on connections, all here (request.h says what a client sees). CONN_MAX at once; a
 * uid other than root holds at most CONN_PER_UID of them, and the last CONN_ROOT_ONLY slots are
 * root's alone, so that no uid can lock the others, or the administrator, out by holding idle
 * connections. One more is told so ("accepted": false, EBUSY, before a byte of it is read) and
 * closed. Past CONN_CROWDED connections, an idle one is cut IDLE_CROWDED_MS after it fell
 * idle. */
#define CONN_MAX 256u
#define CONN_PER_UID 16u
#define CONN_ROOT_ONLY 16u
#define CONN_CROWDED (CONN_MAX / 4 * 3)
#define IDLE_CROWDED_MS 1000
/* A message not whole, or a reply not taken, this long after it began (or after the last
 * message done): the connection is closed. Trickling bytes does not renew it. */
#define STALL_MS 10000
/* Nothing asked for this long: closed. */
#define IDLE_MS 60000
/* Value bytes held for requests being received, all connections together (locked memory). */
#define INFLIGHT_MAX (32u << 20)
/* Bytes one connection may take in one dispatch, so that no client holds the daemon's lock (and
 * with it the FUSE requests) for long. */
#define DISPATCH_BYTES (1u << 20)
/* After accept fails for want of descriptors, wait this long before trying again. */
#define ACCEPT_PAUSE_MS 1000
/* `watch`: targets one connection names at most, and the event lines queued at once (a peer
 * that reads slowly falls behind on the bus and gets its lost line: nothing grows here). */
#define WATCH_TARGETS_MAX 64u
#define WATCH_OUT_MAX (16u * 1024u)
#define WATCH_PUMP_MAX (256u * 1024u)

enum in_state {
	IN_LINE,       /* reading a JSON line */
	IN_VALUE,      /* reading the value bytes of a parsed request */
	IN_SKIP_LINE,  /* throwing away an over-long line, up to its newline */
	IN_SKIP_VALUE, /* throwing away the value bytes of a refused request */
};

struct conn {
	int fd;
	struct ucred cred;
	struct identity id; /* the peer, resolved once at accept */
	bool was_busy;
	bool done; /* a message was run or a reply written since the last touch */
	int state;
	char *line; /* REQUEST_LINE_MAX bytes */
	size_t len;
	struct json_object *req; /* parsed, waiting for its value */
	struct secbuf *value;
	size_t need;   /* value bytes in all */
	uint64_t skip; /* bytes still to throw away */
	int err;       /* the error to answer once skipped */
	char msg[192];
	char *out; /* the reply line */
	size_t out_len, out_off;
	struct secbuf *out_value;
	size_t out_voff;
	int64_t deadline;
	/* a `watch` connection: its place on the change bus, and what it watches (a target
	 * with vault "": every vault) */
	struct ev_cursor *watch;
	struct watch_target *targets;
	size_t n_targets;
};

struct watch_target {
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1]; /* "": the whole vault */
};

struct control {
	struct vaultfsd *v;
	char *path;
	int fd;
	control_reload_fn reload;
	size_t inflight; /* value bytes held by connections receiving them */
	int64_t started; /* unix seconds */
	int64_t accept_pause_until;
	struct conn *conns[CONN_MAX];
	size_t n;
	uint64_t refused; /* connections turned away by the caps, since start */
};

static bool busy(const struct conn *k)
{
	return k->out || k->len || k->state != IN_LINE;
}

/* Set the deadline: idle, or the start of a message or reply (renewed by a message done,
 * never by a byte). */
static void touch(struct conn *k)
{
	bool b = busy(k);

	if (k->watch) { /* a stream: as long as the peer keeps it (a slow one loses events) */
		k->deadline = INT64_MAX;
		k->was_busy = true;
		k->done = false;
		return;
	}

	if (!b)
		k->deadline = clock_ms(CLOCK_MONOTONIC) + IDLE_MS;
	else if (!k->was_busy || k->done)
		k->deadline = clock_ms(CLOCK_MONOTONIC) + STALL_MS;
	k->was_busy = b;
	k->done = false;
}

/* When k is closed: its deadline, or, while the daemon is crowded, IDLE_CROWDED_MS after an
 * idle connection fell idle. */
static int64_t conn_deadline(const struct control *c, const struct conn *k)
{
	if (k->watch || k->was_busy || c->n <= CONN_CROWDED)
		return k->deadline;
	return k->deadline - IDLE_MS + IDLE_CROWDED_MS;
}

static void conn_free(struct control *c, struct conn *k)
{
	if (!k)
		return;
	if (k->value)
		c->inflight -= k->need;
	if (k->fd >= 0)
		close(k->fd);
	free(k->line);
	json_object_put(k->req);
	secbuf_free(k->value);
	free(k->out);
	secbuf_free(k->out_value);
	ev_cursor_free(k->watch);
	free(k->targets);
	free(k);
}

/* --- the caller --- */

struct peer {
	struct control *c;
	struct conn *k;
	const struct identity *id;
	int64_t now;
};

static int peer_authorize(void *ud, unsigned op, const char *path, const char **ret_rule)
{
	struct peer *p = ud;
	struct policy_decision d;
	int r;

	r = policy_check(p->c->v->policy, op, path, p->id, p->now, &d);
	if (r < 0)
		return -EACCES;
	*ret_rule = d.rule;
	return d.verdict == POLICY_ALLOW ? 0 : -EACCES;
}

static bool peer_visible(void *ud, const char *path)
{
	struct peer *p = ud;

	return policy_visible(p->c->v->policy, path, p->id, p->now) > 0;
}

static void peer_identify(void *ud, struct audit_record *rec)
{
	identity_to_record(((struct peer *)ud)->id, rec);
}

/* policy-reload: only root (whoever may send the daemon SIGHUP) may ask. */
static int peer_reload(void *ud, char *msg, size_t size)
{
	struct peer *p = ud;
	struct audit_record rec = AUDIT_RECORD_INIT;

	int r;

	/* who asked, recorded first; the daemon then records how the reload went */
	peer_identify(p, &rec);
	rec.event = "policy-reload";
	rec.decision = p->id->uid == 0 ? AUDIT_ALLOW : AUDIT_DENY;
	rec.err = p->id->uid == 0 ? 0 : EACCES;
	rec.rule = "root only";
	r = audit_append(p->c->v->audit, &rec, NULL);
	if (p->id->uid != 0) {
		snprintf(msg, size, "permission denied: only root may reload the policy");
		return -EACCES;
	}
	if (r < 0) {
		snprintf(msg, size, "cannot write the audit journal: the old policy stays");
		return -EIO;
	}
	return p->c->reload(p->c->v, msg, size);
}

/* What the kernel may hold about vault (and name) is stale: drop it. */
static void peer_changed(void *ud, const char *vault, const char *name)
{
	struct peer *p = ud;
	struct vaultfsd *v = p->c->v;
	struct kv_vault_info vi;
	struct kv_version_info si;
	struct ino n = { .kind = INO_VAULT };
	uint64_t ino;

	/* a change the scan acts on (a certificate made pending for its ACME issuer, a renewal
	 * asked for) is taken up within a second, not at the scan's interval */
	daemon_scan_soon(v, 1000);
	if (!v->notify)
		return;
	if (!name) {
		notify_entry(v->notify, FUSE_ROOT_ID, vault);
		return;
	}
	if (kv_vault_get(v->kv, vault, &vi) < 0)
		return;
	n.id = vi.id;
	if (ino_encode(&n, &ino) < 0)
		return;
	notify_entry(v->notify, ino, name);
	keys_changed(v, vault, name);  /* a key's files under .keys (nothing when it is none) */
	certs_changed(v, vault, name); /* a certificate's views (nothing when it is none) */
	if (kv_secret_info(v->kv, vault, name, 0, &si) < 0)
		return;
	n = (struct ino){ .kind = INO_SECRET, .id = si.object_id };
	if (ino_encode(&n, &ino) >= 0)
		notify_inode(v->notify, ino);
}

/* The daemon's state for `vaultctl status` and `doctor`: nothing secret, nothing per vault. */
/* The journal's health for status and doctor: the error that fails appends (errno, 0 none),
 * since when, free space and the reserve kept for allowed records, refusals counted. */
static void add_journal_health(struct json_object *reply, struct audit *a)
{
	struct audit_health h = { 0 };
	int err;

	(void)audit_health(a, &h);
	err = h.error ? h.error : h.failing_since_us ? h.last_error : 0;
	json_object_object_add(reply, "audit_error", json_object_new_int(err < 0 ? -err : err));
	json_object_object_add(reply, "audit_failing_since",
			       json_object_new_int64(h.failing_since_us / 1000000));
	json_object_object_add(reply, "audit_free_bytes",
			       json_object_new_int64((int64_t)MIN(h.free_bytes, INT64_MAX)));
	json_object_object_add(reply, "audit_reserve_bytes",
			       json_object_new_int64((int64_t)MIN(h.reserve_bytes, INT64_MAX)));
	json_object_object_add(reply, "audit_refusals_counted",
			       json_object_new_int64((int64_t)MIN(
				       h.suppressed_rate + h.suppressed_reserve, INT64_MAX)));
	json_object_object_add(reply, "audit_journald_dropped",
			       json_object_new_int64((int64_t)MIN(h.journal_dropped, INT64_MAX)));
}

static int peer_status(void *ud, struct json_object *reply)
{
	struct peer *p = ud;
	struct control *c = p->c;
	const struct config *cf = c->v->config;

	json_object_object_add(reply, "pid", json_object_new_int64((int64_t)getpid()));
	json_object_object_add(reply, "mountpoint", json_object_new_string(cf->mountpoint));
	json_object_object_add(reply, "started", json_object_new_int64(c->started));
	json_object_object_add(reply, "policy_rules",
			       json_object_new_int64((int64_t)policy_n_rules(c->v->policy)));
	json_object_object_add(reply, "policy_files",
			       json_object_new_int64((int64_t)policy_n_files(c->v->policy)));
	json_object_object_add(reply, "audit_path", json_object_new_string(cf->audit_path));
	add_journal_health(reply, c->v->audit);
	json_object_object_add(reply, "store_path", json_object_new_string(cf->store_path));
	/* every open is replied FOPEN_DIRECT_IO (ops.c): no value enters the page cache */
	json_object_object_add(reply, "direct_io", json_object_new_boolean(1));
	json_object_object_add(reply, "connections", json_object_new_int64((int64_t)c->n));
	json_object_object_add(reply, "connections_refused",
			       json_object_new_int64((int64_t)MIN(c->refused, INT64_MAX)));
	return 0;
}

/* --- replies --- */

/* Queue reply (taken) and its value bytes (taken) for writing. */
static int queue_reply(struct conn *k, struct json_object *reply, struct secbuf *value)
{
	const char *s =
		reply ? json_object_to_json_string_ext(
				reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) :
			NULL;
	int r = 0;

	if (s) {
		k->out_len = strlen(s) + 1;
		k->out = malloc(k->out_len);
		if (k->out) {
			memcpy(k->out, s, k->out_len - 1);
			k->out[k->out_len - 1] = '\n';
		}
	}
	if (!k->out) {
		secbuf_free(value);
		r = -ENOMEM;
	} else {
		k->done = true;
		k->out_off = 0;
		k->out_value = value;
		k->out_voff = 0;
	}
	json_object_put(reply);
	return r;
}

static int queue_error(struct conn *k, int err, const char *msg)
{
	return queue_reply(k, request_error_reply(err, msg), NULL);
}

/* --- watch: the change stream --- */

static void watch_record(struct control *c, struct conn *k, const struct watch_target *t, int err,
			 const char *rule)
{
	struct audit_record rec = AUDIT_RECORD_INIT;
	char path[2 * VAULTFS_NAME_MAX + 3];

	identity_to_record(&k->id, &rec);
	rec.event = "watch";
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = rule;
	if (t->vault[0]) {
		snprintf(path, sizeof(path), "/%s%s%s", t->vault, t->name[0] ? "/" : "", t->name);
		rec.vault = t->vault;
		rec.object = t->name[0] ? t->name : NULL;
	} else {
		snprintf(path, sizeof(path), "/");
	}
	rec.path = path;
	(void)audit_append(c->v->audit, &rec, NULL);
}

/* The targets of a watch request into k: 0, or an error queued for the peer (1). */
static int watch_targets(struct conn *k, struct json_object *arr)
{
	size_t n = arr ? json_object_array_length(arr) : 0;

	k->targets = calloc(MAX(n, 1), sizeof(*k->targets));
	if (!k->targets)
		return -ENOMEM;
	k->n_targets = MAX(n, 1); /* none: one target, every vault */
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *s =
			json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
		const char *slash = s ? strchr(s, '/') : NULL;
		struct watch_target *t = &k->targets[i];

		if (!s || (slash ? (size_t)(slash - s) : strlen(s)) > VAULTFS_NAME_MAX)
			return 1;
		snprintf(t->vault, sizeof(t->vault), "%.*s",
			 (int)(slash ? (size_t)(slash - s) : strlen(s)), s);
		if (slash)
			str_copy(t->name, sizeof(t->name), slash + 1);
		if (!kv_name_valid(t->vault) || (slash && !kv_name_valid(t->name)))
			return 1;
	}
	return 0;
}

/* {"v":1,"op":"watch","targets":["VAULT","VAULT/NAME",...]} (request.h): each target's vault
 * decided as `list` for the peer and recorded ("watch"); then the reply, and event lines from
 * then on. */
static int watch_start(struct control *c, struct conn *k)
{
	struct ev_bus *bus = events_bus(c->v->events);
	struct json_object *targets = NULL, *reply;
	int r;

	json_object_object_foreach(k->req, key, val)
	{
		if (streq(key, "targets") && json_object_is_type(val, json_type_array) &&
		    json_object_array_length(val) <= WATCH_TARGETS_MAX)
			targets = val;
		else if (!streq(key, "v") && !streq(key, "op"))
			return queue_error(k, -EINVAL,
					   "watch takes \"targets\": an array of at most 64 "
					   "\"VAULT\" or \"VAULT/NAME\" strings, nothing else");
	}
	if (!bus)
		return queue_error(k, -EOPNOTSUPP, "this vaultfsd has no change stream");
	r = watch_targets(k, targets);
	if (r != 0) {
		free(TAKE_PTR(k->targets));
		k->n_targets = 0;
		return r < 0 ? r :
			       queue_error(k, -EINVAL,
					   "a watch target is \"VAULT\" or \"VAULT/NAME\" (valid "
					   "names)");
	}
	for (size_t i = 0; i < k->n_targets; i++) {
		const struct watch_target *t = &k->targets[i];
		struct policy_decision d = { .rule = "default" };
		char path[VAULTFS_NAME_MAX + 2];

		if (!t->vault[0]) {
			watch_record(c, k, t, 0, "each event decided as it comes");
			continue;
		}
		snprintf(path, sizeof(path), "/%s", t->vault);
		r = policy_check(c->v->policy, POLICY_OP_LIST, path, &k->id, (int64_t)time(NULL),
				 &d);
		r = r < 0 || d.verdict != POLICY_ALLOW ? -EACCES : 0;
		watch_record(c, k, t, r, d.rule);
		if (r < 0) {
			snprintf(k->msg, sizeof(k->msg),
				 "permission denied: watching %.60s needs `list` on /%.60s",
				 t->vault, t->vault);
			free(TAKE_PTR(k->targets));
			k->n_targets = 0;
			return queue_error(k, r, k->msg);
		}
	}
	r = ev_cursor_new(bus, &k->watch);
	if (r < 0)
		return r;
	reply = json_object_new_object();
	if (!reply)
		return -ENOMEM;
	json_object_object_add(reply, "v", json_object_new_int(REQUEST_VERSION));
	json_object_object_add(reply, "ok", json_object_new_boolean(true));
	json_object_object_add(reply, "watching", json_object_new_int64((int64_t)k->n_targets));
	return queue_reply(k, reply, NULL);
}

/* Does k watch e, and may its peer hear of it (decided now, under the daemon's lock)? */
static bool watch_wants(struct control *c, const struct conn *k, const struct ev_event *e)
{
	bool match = false;

	for (size_t i = 0; i < k->n_targets && !match; i++) {
		const struct watch_target *t = &k->targets[i];

		match = !t->vault[0] || (streq(t->vault, e->vault) &&
					 (!t->name[0] || !e->name[0] || streq(t->name, e->name)));
	}
	return match && events_visible(c->v, &k->id, e);
}

static int conn_write(struct conn *k);

/* One batch of lines into k->out, written as the socket takes it: *ret_n bytes (0: none). */
static int watch_fill(struct control *c, struct conn *k, size_t *ret_n)
{
	char buf[WATCH_OUT_MAX];
	struct ev_event e;
	size_t n = 0;
	int r;

	while (n + EV_LINE_MAX <= sizeof(buf)) {
		r = ev_read(k->watch, &e);
		if (r == EV_NONE)
			break;
		if (r == EV_LOST)
			n += str_copy(buf + n, sizeof(buf) - n, EV_LOST_LINE);
		else if (watch_wants(c, k, &e))
			n += ev_format(&e, buf + n, sizeof(buf) - n);
	}
	*ret_n = n;
	if (n == 0)
		return 0;
	k->out = malloc(n);
	if (!k->out)
		return 1;
	memcpy(k->out, buf, n);
	k->out_len = n;
	k->out_off = 0;
	return conn_write(k);
}

/* Queue the events k may hear of since its last look (when its last lines are written), and
 * write them, up to WATCH_PUMP_MAX bytes a dispatch (the rest at the next: control_pollfds
 * asks for POLLOUT while the cursor has more). 1 on a fatal error (close). */
static int watch_pump(struct control *c, struct conn *k)
{
	for (size_t sent = 0; sent < WATCH_PUMP_MAX && k->watch && !k->out;) {
		size_t n = 0;
		int r = watch_fill(c, k, &n);

		if (r || n == 0)
			return r;
		sent += n;
	}
	return 0;
}

/* Run the request k holds. */
static int execute(struct control *c, struct conn *k)
{
	struct peer p = { .c = c, .k = k, .id = &k->id, .now = (int64_t)time(NULL) };
	const struct request_caller caller = {
		.authorize = peer_authorize,
		.visible = peer_visible,
		.identify = peer_identify,
		.ud = &p,
	};
	const struct request_env env = {
		.kv = c->v->kv,
		.audit = c->v->audit,
		.tcti = c->v->config->tcti,
		.caller = &caller,
		.policy_dir = c->v->config->policy_dir,
		.reload = c->reload ? peer_reload : NULL,
		.reload_ud = &p,
		.changed = peer_changed,
		.changed_ud = &p,
		.status = peer_status,
		.status_ud = &p,
	};
	struct json_object *reply = NULL, *op;
	struct secbuf *out = NULL;
	int r;

	if (json_object_object_get_ex(k->req, "op", &op) &&
	    json_object_is_type(op, json_type_string) &&
	    streq(json_object_get_string(op), "watch") && !k->value) {
		r = watch_start(c, k);
		json_object_put(TAKE_PTR(k->req));
		return r < 0 ? queue_error(k, r, "out of memory") : 0;
	}
	r = request_exec(&env, k->req, k->value, &reply, &out);
	json_object_put(TAKE_PTR(k->req));
	if (k->value) {
		c->inflight -= k->need;
		secbuf_free(TAKE_PTR(k->value));
	}
	if (r < 0)
		return queue_error(k, r, "out of memory");
	return queue_reply(k, reply, out);
}

/* --- reading --- */

/* A whole line is in k->line (without its newline): parse it, and either wait for its value
 * or run it. */
static int got_line(struct control *c, struct conn *k)
{
	size_t n = 0;
	int r;

	r = request_parse(k->line, k->len, &k->req, &n, k->msg, sizeof(k->msg));
	/* a line that was not a request may have been value bytes (after a bad line whose
	 * value_len could not be read): no copy stays in this buffer */
	secure_wipe(k->line, k->len);
	k->len = 0;
	if (r == -EMSGSIZE) {
		k->state = n ? IN_SKIP_VALUE : IN_LINE;
		k->skip = n;
		k->err = r;
		return n ? 0 : queue_error(k, r, k->msg);
	}
	if (r < 0) /* answered; the connection goes on with the next line */
		return queue_error(k, r, k->msg);
	if (json_object_object_get_ex(k->req, "value_len", NULL)) {
		r = n > INFLIGHT_MAX - c->inflight ? -EBUSY : secbuf_new(n ? n : 1, &k->value);
		if (r < 0) {
			json_object_put(TAKE_PTR(k->req));
			k->state = n ? IN_SKIP_VALUE : IN_LINE;
			k->skip = n;
			k->err = r == -EBUSY ? r : -ENOMEM;
			snprintf(k->msg, sizeof(k->msg), "%s",
				 r == -EBUSY ? "busy: too many values being received; try again" :
					       "cannot allocate locked memory for the value");
			return n ? 0 : queue_error(k, k->err, k->msg);
		}
		c->inflight += n;
		k->need = n;
		k->state = IN_VALUE;
		if (n)
			return 0;
	}
	k->state = IN_LINE;
	return execute(c, k);
}

/* Read what is there. 1 on end of file or a fatal error (close), 0 otherwise. */
static int conn_read(struct control *c, struct conn *k)
{
	size_t budget = DISPATCH_BYTES;

	if (k->watch) { /* a stream takes nothing more: read and dropped, to see the end */
		char sink[512];
		ssize_t got = recv(k->fd, sink, sizeof(sink), MSG_DONTWAIT);

		return got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR);
	}

	while (!k->out && budget > 0) {
		ssize_t got;

		if (k->state == IN_VALUE) {
			got = recv(k->fd, k->value->data + k->value->len,
				   MIN(k->need - k->value->len, budget), MSG_DONTWAIT);
			if (got > 0) {
				budget -= (size_t)got;
				k->value->len += (size_t)got;
				if (k->value->len == k->need) {
					k->state = IN_LINE;
					if (execute(c, k) < 0)
						return 1;
				}
				continue;
			}
		} else if (k->state == IN_SKIP_VALUE) {
			char sink[16384];

			got = recv(k->fd, sink, MIN(MIN(sizeof(sink), k->skip), budget),
				   MSG_DONTWAIT);
			secure_wipe(sink, sizeof(sink));
			if (got > 0) {
				budget -= (size_t)got;
				k->skip -= (uint64_t)got;
				if (k->skip == 0) {
					k->state = IN_LINE;
					if (queue_error(k, k->err, k->msg) < 0)
						return 1;
				}
				continue;
			}
		} else {
			/* peek, then take up to the newline only */
			bool skipping = k->state == IN_SKIP_LINE;
			char *at = k->line + (skipping ? 0 : k->len);
			size_t room = REQUEST_LINE_MAX - 1 - (skipping ? 0 : k->len);
			char *nl;

			got = recv(k->fd, at, MIN(room, budget), MSG_PEEK | MSG_DONTWAIT);
			if (got > 0) {
				nl = memchr(at, '\n', (size_t)got);
				size_t take = nl ? (size_t)(nl - at) + 1 : (size_t)got;

				/* bytes past the newline may be a value: not in this heap buffer */
				secure_wipe(at + take, (size_t)got - take);
				if (recv(k->fd, at, take, MSG_DONTWAIT) != (ssize_t)take)
					return 1;
				budget -= take;
				if (skipping) {
					if (nl) {
						k->state = IN_LINE;
						if (queue_error(k, -EMSGSIZE,
								"request line over the "
								"limit (64 KiB)") < 0)
							return 1;
					}
					continue;
				}
				k->len += nl ? take - 1 : take;
				if (nl) {
					if (got_line(c, k) < 0)
						return 1;
				} else if (k->len >= REQUEST_LINE_MAX - 1) {
					k->len = 0;
					k->state = IN_SKIP_LINE;
				}
				continue;
			}
		}
		if (got == 0)
			return 1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
	}
	return 0;
}

/* Write what the socket takes. 1 on a fatal error (close), 0 otherwise. */
static int conn_write(struct conn *k)
{
	while (k->out) {
		ssize_t n;

		if (k->out_off < k->out_len)
			n = send(k->fd, k->out + k->out_off, k->out_len - k->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		else if (k->out_value && k->out_voff < k->out_value->len)
			n = send(k->fd, k->out_value->data + k->out_voff,
				 k->out_value->len - k->out_voff, MSG_DONTWAIT | MSG_NOSIGNAL);
		else {
			free(TAKE_PTR(k->out));
			secbuf_free(TAKE_PTR(k->out_value));
			k->done = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
		}
		if (k->out_off < k->out_len)
			k->out_off += (size_t)n;
		else
			k->out_voff += (size_t)n;
	}
	return 0;
}

/* --- the listening socket --- */

/* The peer of k as it connected, resolved once, now: uid and gid from the socket, the rest
 * from /proc (what cannot be read stays unknown, and unknown only takes rights away). Never
 * later: by then the pid may name another process (the connecting one exited, or handed the
 * socket on and exec'd). Through the pidfd the socket took at connect (SO_PEERPIDFD, Linux
 * 6.5), the reads count only while that very process lives: a peer that exited before the
 * accept, its pid since given to another process, is not read as that process. An older
 * kernel: a pidfd of the pid as it is now. */
static void peer_resolve(struct control *c, struct conn *k)
{
	peer_identity(c->v->ids, k->fd, &k->cred, &k->id);
}

/* May uid have one more connection? 0, or -EBUSY with the sentence in msg. */
static int admit(const struct control *c, uid_t uid, char *msg, size_t size)
{
	size_t mine = 0;

	if (c->n >= CONN_MAX) {
		snprintf(msg, size, "too many connections (%u); try again", CONN_MAX);
		return -EBUSY;
	}
	if (uid == 0)
		return 0;
	if (c->n >= CONN_MAX - CONN_ROOT_ONLY) {
		snprintf(msg, size, "too many connections (the last %u are root's); try again",
			 CONN_ROOT_ONLY);
		return -EBUSY;
	}
	for (size_t i = 0; i < c->n; i++)
		mine += c->conns[i]->cred.uid == uid;
	if (mine >= CONN_PER_UID) {
		snprintf(msg, size,
			 "too many connections from uid %u (at most %u a uid); try again",
			 (unsigned)uid, CONN_PER_UID);
		return -EBUSY;
	}
	return 0;
}

/* Turn fd away: an error reply that says nothing of it was read ("accepted": false, so a client
 * may send it again), as far as the socket takes it without waiting. */
static void refuse(struct control *c, int fd, int err, const char *msg)
{
	struct json_object *o = request_error_reply(err, msg);
	const char *s;
	char line[512];
	int n;

	c->refused++;
	if (!o)
		return;
	json_object_object_add(o, "accepted", json_object_new_boolean(false));
	s = json_object_to_json_string_ext(o,
					   JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = s ? snprintf(line, sizeof(line), "%s\n", s) : -1;
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!send(fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	json_object_put(o);
}

static void accept_all(struct control *c)
{
	for (;;) {
		_cleanup_close_ int fd = -1;
		struct conn *k;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		char msg[128];

		fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* the listener stays readable: do not spin on it */
				log_warning_errno(negative_errno(), "Control socket accept: %m; "
								    "pausing new connections");
				c->accept_pause_until = clock_ms(CLOCK_MONOTONIC) + ACCEPT_PAUSE_MS;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				log_warning_errno(negative_errno(), "Control socket accept: %m");
			}
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
			continue;
		if (admit(c, cred.uid, msg, sizeof(msg)) < 0) {
			refuse(c, fd, -EBUSY, msg);
			continue;
		}
		k = calloc(1, sizeof(*k));
		if (k)
			k->line = malloc(REQUEST_LINE_MAX);
		if (!k || !k->line) {
			if (k)
				free(k->line);
			free(k);
			continue;
		}
		k->fd = TAKE_FD(fd);
		k->cred = cred;
		peer_resolve(c, k);
		touch(k);
		c->conns[c->n++] = k;
	}
}

int control_open(struct vaultfsd *v, const char *path, control_reload_fn reload,
		 struct control **ret)
{
	_cleanup_free_ struct control *c = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	r = peer_listen(path, &fd);
	if (r < 0)
		return r;
	c = calloc(1, sizeof(*c));
	if (!c || !(c->path = strdup(path))) {
		(void)unlink(path);
		return -ENOMEM;
	}
	c->v = v;
	c->reload = reload;
	c->started = (int64_t)time(NULL);
	c->fd = TAKE_FD(fd);
	*ret = TAKE_PTR(c);
	return 0;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		conn_free(c, c->conns[i]);
	if (c->fd >= 0)
		close(c->fd);
	(void)unlink(c->path);
	free(c->path);
	free(c);
}

size_t control_max_fds(void)
{
	return CONN_MAX + 2; /* the listener, the connections, the change bus's eventfd */
}

size_t control_pollfds(struct control *c, struct pollfd *fds)
{
	/* a negative fd is skipped by ppoll: paused after accept ran out of descriptors */
	fds[0] = (struct pollfd){ .fd = clock_ms(CLOCK_MONOTONIC) < c->accept_pause_until ? -1 :
											    c->fd,
				  .events = POLLIN };
	for (size_t i = 0; i < c->n; i++) {
		const struct conn *k = c->conns[i];

		/* a watcher with lines waiting on the bus: woken when it can take them */
		fds[i + 1] = (struct pollfd){ .fd = k->fd,
					      .events = k->out || (k->watch && ev_ready(k->watch)) ?
								POLLOUT :
								POLLIN };
	}
	if (!events_bus(c->v->events))
		return c->n + 1;
	fds[c->n + 1] =
		(struct pollfd){ .fd = ev_bus_fd(events_bus(c->v->events)), .events = POLLIN };
	return c->n + 2;
}

int control_timeout_ms(struct control *c)
{
	int64_t first = c->accept_pause_until ? c->accept_pause_until : INT64_MAX, now;

	if (c->n == 0 && first == INT64_MAX)
		return -1;
	for (size_t i = 0; i < c->n; i++)
		first = MIN(first, conn_deadline(c, c->conns[i]));
	now = clock_ms(CLOCK_MONOTONIC);
	if (first == c->accept_pause_until && first <= now) {
		c->accept_pause_until = 0; /* over: the listener is polled again */
		return 0;
	}
	return first <= now ? 0 : (int)MIN(first - now, (int64_t)INT32_MAX);
}

void control_dispatch(struct control *c, const struct pollfd *fds, size_t n)
{
	int64_t now = clock_ms(CLOCK_MONOTONIC);
	size_t i, kept = 0, polled = n > 0 ? n - 1 : 0;
	struct ev_bus *bus = events_bus(c->v->events);

	/* the change bus's eventfd (last, when there is a bus): read, then every watcher looks */
	if (bus && n >= 2 && fds[n - 1].fd == ev_bus_fd(bus) && fds[n - 1].revents)
		ev_bus_drain_fd(bus);
	for (i = 0; i < c->n; i++) {
		struct conn *k = c->conns[i];
		bool close_it = false;

		if (i < polled && fds[i + 1].fd == k->fd && fds[i + 1].revents) {
			short ev = fds[i + 1].revents;

			if (ev & POLLOUT)
				close_it = conn_write(k);
			else if (ev & (POLLIN | POLLHUP | POLLERR))
				close_it = conn_read(c, k);
			if (!close_it && k->out)
				close_it = conn_write(k);
			touch(k);
		}
		if (!close_it && k->watch)
			close_it = watch_pump(c, k);
		if (conn_deadline(c, k) <= now)
			close_it = true;
		if (close_it)
			conn_free(c, k);
		else
			c->conns[kept++] = k;
	}
	c->n = kept;
	if (n > 0 && fds[0].fd >= 0 && (fds[0].revents & POLLIN))
		accept_all(c);
}
