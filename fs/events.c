/* events.c: the change stream in the daemon. The audit journal's observer turns each change
 * it records (allowed, no errno: a set, a delete, a rotation, an expiry, ...) into an event on
 * the bus (core/events.h); /vault/V/.events (and /vault/.events, every vault) read it per
 * caller: a read answers the JSON lines since the open, or waits for one without holding the
 * FUSE thread (the request is kept and answered by this file's thread when an event comes, or
 * EINTR when the caller gives up), and poll(2) is told when there is one. The same thread
 * touches the stamp files for systemd .path units. Delivery is decided under the daemon's
 * lock, so an event is never seen before the change it tells of is complete (a change is made
 * under that lock, after its record). It never carries a value, never holds the FUSE thread,
 * and costs the opens and reads of other files nothing. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "fs/events.h"
#include "fs/ops-int.h"

/* The thread makes no deep calls: a small stack (mlockall locks what it touches). */
#define EVENTS_STACK_SIZE (256u * 1024u)
/* One read answers at most this much (whole lines). */
#define EVENTS_READ_MAX (16u * 1024u)
/* The stamp of a vault's own events (no object name starts with a dot). */
#define STAMP_VAULT ".vault"

/* A read waiting for an event. */
struct parked {
	struct parked *next;
	struct ev_reader *r;
	fuse_req_t req;
	size_t size;
};

/* An open .events file; everything here under v->lock. */
struct ev_reader {
	struct events *ev; /* NULL once events_stop has run */
	struct ev_reader *next, *prev;
	struct ev_cursor *cursor;
	struct identity id;		  /* who opened it: every delivery is decided for it */
	char vault[VAULTFS_NAME_MAX + 1]; /* "": every vault (the root's .events) */
	struct parked *parked;
	struct fuse_pollhandle *ph; /* a poll(2) waiting to be told */
	int ahead;		    /* EV_ONE or EV_LOST looked at, not delivered yet */
	struct ev_event next_ev;
	char rest[EV_LINE_MAX]; /* a line begun in the last read */
	size_t rest_len, rest_off;
};

struct events {
	struct vaultfsd *v;
	struct fuse_session *se;
	struct ev_bus *bus;
	struct ev_reader *readers; /* under v->lock */
	struct ev_cursor *stamps;  /* the thread's own, when stamp_dir */
	char *stamp_dir;
	pthread_t thread;
	bool started;
};

/* --- from audit records to events --- */

static bool word_in(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (streq(w, *list))
			return true;
	return false;
}

/* The kind of object a change record is about, or NULL when the record is no change. */
static const char *change_kind(const struct audit_record *rec)
{
	static const char *const secret[] = { "set",   "update",   "delete",  "recover", "purge",
					      "prune", "rollback", "restore", NULL };
	static const char *const key[] = { "create",	   "import",   "rotate", "update",
					   "delete",	   "recover",  "purge",	 "restore",
					   "rotation-set", "expiring", NULL };
	static const char *const cert[] = { "create", "import",	       "renew",	     "merge",
					    "update", "update-policy", "delete",     "recover",
					    "purge",  "restore",       "issue-acme", NULL };
	static const char *const vault[] = { "create", "delete", "update", NULL };
	const char *e = rec->event;

	if (word_in(e, secret) || streq(e, "fleet-apply"))
		return "secret";
	if (streq(e, "near-expiry") || streq(e, "expired"))
		return streq_ptr(rec->rule, "certificate-policy") ? "cert" : "secret";
	if (strncmp(e, "key-", 4) == 0 && word_in(e + 4, key))
		return "key";
	if (strncmp(e, "cert-", 5) == 0 && word_in(e + 5, cert))
		return "cert";
	if (strncmp(e, "vault-", 6) == 0 && word_in(e + 6, vault))
		return "vault";
	return NULL;
}

/* The audit observer: runs in whichever thread appended, under v->lock (every change is made
 * under it). */
static void observe(void *ud, const struct audit_record *rec, uint64_t seq)
{
	struct events *e = ud;
	struct ev_event ev = { .version = rec->version };
	const char *kind;

	(void)seq;
	if (rec->decision != AUDIT_ALLOW || rec->err || !rec->vault || !rec->event)
		return;
	kind = change_kind(rec);
	if (!kind)
		return;
	str_copy(ev.vault, sizeof(ev.vault), rec->vault);
	if (!streq(kind, "vault") && rec->object)
		str_copy(ev.name, sizeof(ev.name), rec->object);
	str_copy(ev.kind, sizeof(ev.kind), kind);
	str_copy(ev.event, sizeof(ev.event), rec->event);
	if (streq(rec->event, "fleet-apply") && rec->rule && strncmp(rec->rule, "fleet ", 6) == 0) {
		/* a change another host made, applied here: told as that change ("fleet set seq
		 * N from HOST" is a set) */
		size_t n = strcspn(rec->rule + 6, " ");

		if (n > 0 && n < sizeof(ev.event)) {
			memcpy(ev.event, rec->rule + 6, n);
			ev.event[n] = '\0';
		}
	}
	ev_publish(e->bus, &ev, NULL);
}

/* --- who hears of what --- */

bool events_visible(const struct vaultfsd *v, const struct identity *id, const struct ev_event *e)
{
	struct policy_decision d;
	char path[POLICY_PATH_MAX];
	int64_t now = (int64_t)time(NULL);

	if (!e->name[0]) {
		slash_path(path, sizeof(path), e->vault, NULL);
		return policy_check(v->policy, POLICY_OP_LIST, path, id, now, &d) >= 0 &&
		       d.verdict == POLICY_ALLOW;
	}
	slash_path(path, sizeof(path), e->vault, e->name);
	return policy_visible(v->policy, path, id, now) > 0;
}

static bool wanted(const struct ev_reader *r, const struct ev_event *e)
{
	if (r->vault[0] && !streq(r->vault, e->vault))
		return false;
	return events_visible(r->ev->v, &r->id, e);
}

/* Look ahead to the next line for r, skipping what it may not hear of: true when there is one
 * (or the rest of one). */
static bool settle(struct ev_reader *r)
{
	if (r->rest_off < r->rest_len || r->ahead != EV_NONE)
		return true;
	if (!r->cursor)
		return false;
	for (;;) {
		int k = ev_read(r->cursor, &r->next_ev);

		if (k == EV_NONE)
			return false;
		if (k == EV_LOST || wanted(r, &r->next_ev)) {
			r->ahead = k;
			return true;
		}
	}
}

/* Whole lines into buf (size > 0), as many as fit; a line longer than what is left of an empty
 * buffer is given in parts. */
static size_t fill(struct ev_reader *r, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		if (r->rest_off < r->rest_len) {
			size_t k = MIN(size - n, r->rest_len - r->rest_off);

			memcpy(buf + n, r->rest + r->rest_off, k);
			n += k;
			r->rest_off += k;
			if (r->rest_off < r->rest_len)
				return n;
			r->rest_off = r->rest_len = 0;
		}
		if (n == size || !settle(r))
			return n;
		if (r->ahead == EV_LOST)
			r->rest_len = str_copy(r->rest, sizeof(r->rest), EV_LOST_LINE);
		else
			r->rest_len = ev_format(&r->next_ev, r->rest, sizeof(r->rest));
		r->ahead = EV_NONE;
		r->rest_off = 0;
		if (n > 0 && r->rest_len > size - n)
			return n; /* the next read begins with it */
	}
}

/* --- readers --- */

static int reader_new(struct events *e, const struct identity *id, const char *vault, bool lost,
		      struct ev_reader **ret)
{
	struct ev_reader *r = calloc(1, sizeof(*r));
	int k;

	if (!r)
		return -ENOMEM;
	k = lost ? ev_cursor_new_lost(e->bus, &r->cursor) : ev_cursor_new(e->bus, &r->cursor);
	if (k < 0) {
		free(r);
		return k;
	}
	r->ev = e;
	r->id = *id;
	r->id.ssh_namespace = NULL;
	str_copy(r->vault, sizeof(r->vault), vault);
	r->next = e->readers;
	if (e->readers)
		e->readers->prev = r;
	e->readers = r;
	*ret = r;
	return 0;
}

/* Take r out of its events (under v->lock): answer its waiting reads with line (NULL: EINTR),
 * drop its poll handle and cursor. */
static void reader_detach(struct ev_reader *r, const char *line)
{
	struct events *e = r->ev;

	while (r->parked) {
		struct parked *p = r->parked;

		r->parked = p->next;
		if (line)
			fuse_reply_buf(p->req, line, strlen(line));
		else
			fuse_reply_err(p->req, EINTR);
		free(p);
	}
	if (r->ph)
		fuse_pollhandle_destroy(r->ph);
	r->ph = NULL;
	ev_cursor_free(r->cursor);
	r->cursor = NULL;
	if (!e)
		return;
	if (r->prev)
		r->prev->next = r->next;
	else
		e->readers = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->next = r->prev = NULL;
	r->ev = NULL;
}

void ev_reader_free(struct ev_reader *r)
{
	if (!r)
		return;
	reader_detach(r, NULL);
	free(r);
}

/* FUSE_INTERRUPT of a waiting read, in the FUSE thread (under v->lock): answered EINTR. */
static void on_interrupt(fuse_req_t req, void *data)
{
	struct parked *p = data, **pp;

	for (pp = &p->r->parked; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	fuse_reply_err(req, EINTR);
	free(p);
}

/* Answer what waits on r: reads and a poll (under v->lock). */
static void reader_wake(struct events *e, struct ev_reader *r)
{
	char buf[EVENTS_READ_MAX];

	while (r->parked && settle(r)) {
		struct parked *p = r->parked;
		size_t n;

		r->parked = p->next;
		n = fill(r, buf, MIN(p->size, sizeof(buf)));
		fuse_reply_buf(p->req, buf, n);
		free(p);
	}
	if (r->ph && settle(r)) {
		(void)fuse_lowlevel_notify_poll(r->ph);
		fuse_pollhandle_destroy(r->ph);
		r->ph = NULL;
	}
	(void)e;
}

/* --- stamp files --- */

static void stamp_touch(int dirfd, const char *vault, const char *name)
{
	_cleanup_close_ int vfd = -1, fd = -1;

	if (mkdirat(dirfd, vault, 0700) < 0 && errno != EEXIST)
		return;
	vfd = openat(dirfd, vault, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vfd < 0)
		return;
	fd = openat(vfd, name[0] ? name : STAMP_VAULT,
		    O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd >= 0)
		(void)futimens(fd, NULL);
}

/* Events were lost between two looks: every stamp there is changed. */
static void stamp_all(int dirfd)
{
	DIR *d = fdopendir(dup(dirfd));
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && de->d_type == DT_DIR) {
			_cleanup_close_ int vfd =
				openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
			DIR *vd = vfd >= 0 ? fdopendir(dup(vfd)) : NULL;
			struct dirent *f;

			while (vd && (f = readdir(vd)))
				if (f->d_type == DT_REG)
					(void)utimensat(vfd, f->d_name, NULL, AT_SYMLINK_NOFOLLOW);
			if (vd)
				closedir(vd);
		}
	closedir(d);
}

static void stamps_run(struct events *e)
{
	_cleanup_close_ int dirfd = -1;
	struct ev_event ev;
	int k;

	if (!e->stamps)
		return;
	dirfd = open(e->stamp_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	while ((k = ev_read(e->stamps, &ev)) != EV_NONE) {
		if (dirfd < 0)
			continue;
		if (k == EV_LOST)
			stamp_all(dirfd);
		else
			stamp_touch(dirfd, ev.vault, ev.name);
	}
}

/* --- the thread --- */

static void *events_main(void *arg)
{
	struct events *e = arg;
	uint64_t seen = ev_bus_next(e->bus);

	for (;;) {
		if (ev_wait(e->bus, seen, -1) < 0)
			break;
		seen = ev_bus_next(e->bus);
		stamps_run(e);
		pthread_mutex_lock(&e->v->lock);
		for (struct ev_reader *r = e->readers; r; r = r->next)
			reader_wake(e, r);
		pthread_mutex_unlock(&e->v->lock);
	}
	return NULL;
}

static int stamp_dir_make(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return negative_errno();
	if (lstat(dir, &st) < 0)
		return negative_errno();
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != geteuid() || (st.st_mode & 077))
		return -EPERM; /* names must not leak: root's alone */
	return 0;
}

int events_start(struct vaultfsd *v, struct fuse_session *se, const char *stamp_dir,
		 struct events **ret)
{
	pthread_attr_t attr;
	sigset_t all, old;
	struct events *e;
	int r;

	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->v = v;
	e->se = se;
	r = ev_bus_new(EV_CAPACITY, &e->bus);
	if (r >= 0 && stamp_dir) {
		r = stamp_dir_make(stamp_dir);
		if (r < 0)
			log_error_errno(r,
					"Stamp directory '%s' unusable (it must be a directory "
					"of ours, mode 0700): %m",
					stamp_dir);
		e->stamp_dir = r >= 0 ? strdup(stamp_dir) : NULL;
		if (r >= 0 && !e->stamp_dir)
			r = -ENOMEM;
		if (r >= 0)
			r = ev_cursor_new(e->bus, &e->stamps);
	}
	if (r >= 0)
		r = -pthread_attr_init(&attr);
	if (r >= 0) {
		(void)pthread_attr_setstacksize(&attr, EVENTS_STACK_SIZE);
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		r = -pthread_create(&e->thread, &attr, events_main, e);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
		e->started = r >= 0;
	}
	if (r < 0) {
		ev_cursor_free(e->stamps);
		ev_bus_free(e->bus);
		free(e->stamp_dir);
		free(e);
		return r;
	}
	audit_set_observer(v->audit, observe, e);
	*ret = e;
	return 0;
}

void events_stop(struct events *e)
{
	if (!e)
		return;
	audit_set_observer(e->v->audit, NULL, NULL);
	ev_bus_stop(e->bus);
	if (e->started)
		pthread_join(e->thread, NULL);
	pthread_mutex_lock(&e->v->lock);
	/* a read still waiting is told to re-read the state: whoever serves the mount next
	 * (a restarted daemon) has not kept its place */
	while (e->readers)
		reader_detach(e->readers, EV_LOST_LINE);
	pthread_mutex_unlock(&e->v->lock);
	ev_cursor_free(e->stamps);
	ev_bus_free(e->bus);
	free(e->stamp_dir);
	free(e);
}

struct ev_bus *events_bus(struct events *e)
{
	return e ? e->bus : NULL;
}

/* --- the .events files --- */

static void events_attr(const struct vaultfsd *v, const struct caller *c, fuse_ino_t ino,
			struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = S_IFREG | 0400;
	st->st_nlink = 1;
	st->st_uid = c->id.uid;
	st->st_gid = c->id.gid;
	st->st_blksize = 4096;
	st->st_mtime = st->st_ctime = st->st_atime = v->started;
}

/* The .events node ino names, for this caller: 0 or the -errno to reply. */
static int events_node(fuse_req_t req, fuse_ino_t ino, struct node *ret, struct caller *c)
{
	return node_for_caller(req, ino, ret, c);
}

void events_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct vaultfsd *v = vfs_of(req);
	struct ino k = { .kind = INO_EVENTS };
	struct caller c;
	struct node p;
	struct stat st;
	uint64_t ino;
	int r;

	if (!streq(name, ".events") || ino_decode(parent, &k) < 0 ||
	    (k.kind != INO_ROOT && k.kind != INO_VAULT)) {
		ll_lookup(req, parent, name);
		return;
	}
	r = node_for_caller(req, parent, &p, &c);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	k = p.ino.kind == INO_ROOT ?
		    (struct ino){ .kind = INO_EVENTS, .id = 1, .view = INO_EVENTS_ALL } :
		    (struct ino){ .kind = INO_EVENTS, .id = p.ino.id };
	if (!v->events || ino_encode(&k, &ino) < 0) {
		reply_err(req, -ENOENT);
		return;
	}
	events_attr(v, &c, ino, &st);
	reply_entry(req, &st);
}

static bool is_events(fuse_ino_t ino)
{
	struct ino k;

	return ino_decode(ino, &k) >= 0 && k.kind == INO_EVENTS;
}

void events_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct caller c;
	struct node n;
	struct stat st;
	int r;

	if (!is_events(ino)) {
		ll_getattr(req, ino, fi);
		return;
	}
	r = events_node(req, ino, &n, &c);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	events_attr(vfs_of(req), &c, ino, &st);
	fuse_reply_attr(req, &st, 0);
}

/* access(2): read as an open would be decided (`list` on the vault; the root's: anyone), never
 * write or execute. */
void events_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct policy_decision d;
	struct caller c;
	struct node n;
	int r;

	if (!is_events(ino)) {
		ll_access(req, ino, mask);
		return;
	}
	r = events_node(req, ino, &n, &c);
	if (r >= 0 && (mask & (W_OK | X_OK)))
		r = -EACCES;
	if (r >= 0 && (mask & R_OK) && n.vault[0])
		r = caller_decide(vfs_of(req), &c, POLICY_OP_LIST, &n, &d);
	reply_err(req, r);
}

/* Open: decided as `list` on the vault (the root's: anyone, each event decided as it comes),
 * recorded as "watch"; the reader's identity is resolved in full now, for every delivery. */
static void events_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct vaultfsd *v = vfs_of(req);
	struct policy_decision d = { .rule = "default" };
	struct ev_reader *rd = NULL;
	struct handle *h = NULL;
	char path[VAULTFS_PATH_MAX];
	struct caller c;
	struct node n;
	int r, err;

	r = events_node(req, ino, &n, &c);
	if (r < 0) {
		reply_err(req, r);
		return;
	}
	if (n.vault[0]) {
		err = caller_decide(v, &c, POLICY_OP_LIST, &n, &d);
		snprintf(path, sizeof(path), "/%s/.events", n.vault);
	} else {
		err = 0;
		d.rule = "each event decided as it comes";
		snprintf(path, sizeof(path), "/.events");
	}
	if (!err && (fi->flags & O_ACCMODE) != O_RDONLY)
		err = -EROFS;
	caller_resolve(&c, CALLER_RECORD | IDENTITY_ALL);
	if (record_access(v, &c, "watch", &n, path, 0, err, d.rule) < 0 && !err)
		err = -EIO;
	if (!err && !v->events)
		err = -ENOENT;
	if (!err)
		err = handle_new(NULL, &h);
	if (!err) {
		err = reader_new(v->events, &c.id, n.vault, false, &rd);
		if (err < 0)
			handle_free(TAKE_PTR(h));
	}
	if (err) {
		reply_err(req, err);
		return;
	}
	h->ev = rd;
	r = handle_register(h, &fi->fh); /* in the handle table: the fh names it */
	if (r < 0) {
		handle_free(h);
		reply_err(req, r);
		return;
	}
	fi->direct_io = 1;
	fi->nonseekable = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0)
		handle_free(h);
}

void events_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (is_events(ino))
		events_open(req, ino, fi);
	else
		ll_open(req, ino, fi);
}

int events_revive(struct vaultfsd *v, fuse_req_t req, fuse_ino_t ino, struct handle **ret)
{
	struct ev_reader *rd = NULL;
	struct handle *h = NULL;
	struct caller c;
	struct node n;
	int r;

	if (!v->events)
		return -ESTALE;
	r = node_get(v, ino, true, &n);
	if (r < 0)
		return r;
	caller_init(req, 0, &c);
	caller_resolve(&c, CALLER_RECORD | IDENTITY_ALL);
	r = handle_new(NULL, &h);
	if (r < 0)
		return r;
	r = reader_new(v->events, &c.id, n.vault, true, &rd);
	if (r < 0) {
		handle_free(h);
		return r;
	}
	h->ev = rd;
	*ret = h;
	return 0;
}

void events_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	struct ev_reader *r;
	struct parked *p, **pp;
	char buf[EVENTS_READ_MAX];

	if (!is_events(ino)) {
		ll_read(req, ino, size, off, fi);
		return;
	}
	if (!h && handle_revive(req, ino, fi->fh, &h) < 0)
		h = NULL; /* an earlier process's: served again, or EBADF below */
	r = h ? h->ev : NULL;
	if (!r || !r->cursor) {
		reply_err(req, -EBADF);
		return;
	}
	if (size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (settle(r)) {
		size_t n = fill(r, buf, MIN(size, sizeof(buf)));

		fuse_reply_buf(req, buf, n);
		return;
	}
	if (fi->flags & O_NONBLOCK) {
		reply_err(req, -EAGAIN);
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		reply_err(req, -ENOMEM);
		return;
	}
	p->r = r;
	p->req = req;
	p->size = size;
	for (pp = &r->parked; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	/* answered by the thread (reader_wake), or EINTR here when the caller gives up; an
	 * interrupt that came already runs on_interrupt at once: p is not touched after */
	fuse_req_interrupt_func(req, on_interrupt, p);
}

void events_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct handle *h = handle_of(fi);
	struct ev_reader *r;

	if (!h && is_events(ino) && handle_revive(req, ino, fi->fh, &h) < 0)
		h = NULL; /* an earlier process's: served again, or never ready */
	r = is_events(ino) && h ? h->ev : NULL;

	if (!r) { /* every other file is always ready, as without poll */
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
		return;
	}
	if (ph) {
		if (r->ph)
			fuse_pollhandle_destroy(r->ph);
		r->ph = r->cursor ? ph : NULL;
		if (!r->cursor)
			fuse_pollhandle_destroy(ph);
	}
	fuse_reply_poll(req, settle(r) ? POLLIN | POLLRDNORM : 0);
}
