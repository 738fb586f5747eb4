/* open.c: open(2) and read(2) of /vault, the hot path: identity -> policy -> store -> decrypt
 * -> reply -> audit. The decrypted bytes live only in a secure buffer owned by the file handle,
 * wiped on release; no byte of an open is served before its record (with sync = always: before
 * its record is on disk: such a read is held and answered by the journal's writer once the
 * sync that covers the record is done). A write open is handed to write.c. Never copies a
 * value out of its secure buffer but into the reply, and adds no system call or allocation per
 * open beyond the buffer itself (and, with sync = always, the queued record). */
#include <fcntl.h>
#include <stdio.h>

#include "core/log.h"
#include "fs/ops-int.h"

/* The handle table (ops-int.h): slots of this process's handles and directory handles, a
 * stack of free slots, and what was rebuilt for foreign handles. */
struct fh_entry {
	void *p;
	bool dir;
};

struct fh_foreign {
	uint64_t fh;
	void *p;
};

struct fh_table {
	uint64_t tag; /* this process's, shifted in place */
	struct fh_entry *e;
	uint32_t n, cap;
	uint32_t *free;
	uint32_t n_free;
	struct fh_foreign *foreign;
	size_t n_foreign, cap_foreign;
};

/* The one table of the process. File-scope state, as the signal flags of vaultfsd.c: handle_of
 * (ops-int.h) is reached with the request's fi alone (attr.c), and must tell a handle of this
 * process from one of an earlier process without the daemon's context. Touched only by the
 * FUSE thread (and main before and after it runs). */
static struct fh_table fht = { .tag = 1ULL << FH_TAG_SHIFT };

/* Reads held until their handle's record is on disk (sync = always: the journal's group commit,
 * audit.h). An allowed read open is replied at once and its record queued without waiting
 * (audit_append_nowait); the handle keeps the record's ticket and goes on this list. A read of
 * it is held here (libfuse answers a request later, from any thread) until the journal's
 * writer tells the ticket (on_durable): on disk, the read gets its bytes; the write or sync
 * failed, EIO, and the handle's buffer is wiped (every later read is EIO too). One FUSE thread
 * suffices: it never waits for a sync, and one fdatasync covers every open queued meanwhile.
 * The lock is taken by the FUSE thread and by the writer (which answers after it); nothing
 * under it calls the journal. File-scope for the fh table's reason: handle_free has no
 * context. */
struct held {
	struct held *next;
	fuse_req_t req;
	size_t size;
	off_t off;
	struct handle *h; /* once settled (answer_held): its handle and what it is told */
	int r;
};

struct durable_wait {
	pthread_mutex_t lock;
	struct handle *head, *tail; /* handles with a ticket, in ticket order */
	uint64_t told;		    /* the last ticket told */
	uint64_t failed;	    /* the last ticket told as failed */
	struct audit *audit;	    /* the journal on_durable is set on; NULL none */
};

static struct durable_wait dw = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Reply size bytes of b from off (as a read of a file of b->len bytes); b NULL: none. */
static void reply_bytes(fuse_req_t req, const struct secbuf *b, size_t size, off_t off)
{
	size_t len = b ? b->len : 0;

	if (off < 0 || (uint64_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - (size_t)off)
		size = len - (size_t)off;
	fuse_reply_buf(req, (const char *)b->data + off, size);
}

/* h's record is on disk (r 0) or not (r < 0): settle it and move its held reads to *list
 * (dw.lock held), to be answered by answer_held once the lock is let go, so that the FUSE
 * thread does not wait for the lock while the writer answers a group's reads. A refused
 * handle's bytes are wiped in place, not freed: the FUSE thread may be looking at the
 * buffer's length (fstat, handle_attr); it is freed at the release, which the kernel sends
 * only once no read of the file is pending, so h and its bytes outlive answer_held. */
static void wait_settle(struct handle *h, int r, struct held **list)
{
	if (r < 0) {
		h->refused = -EIO;
		if (h->data)
			secure_wipe(h->data->data, h->data->len);
	}
	while (h->held) {
		struct held *p = h->held;

		h->held = p->next;
		p->h = h;
		p->r = r;
		p->next = *list;
		*list = p;
	}
	atomic_store_explicit(&h->ticket, 0, memory_order_release);
}

/* Answer the reads wait_settle took off their handles (no lock held). */
static void answer_held(struct held *list)
{
	while (list) {
		struct held *p = list;

		list = p->next;
		if (p->r < 0)
			fuse_reply_err(p->req, EIO);
		else
			reply_bytes(p->req, p->h->data, p->size, p->off);
		free(p);
	}
}

/* The journal's durability callback (audit_set_durable), in its writer's thread: every ticket
 * up to t is on disk (r 0) or failed. */
static void on_durable(void *ud, uint64_t t, int r)
{
	struct held *list = NULL;

	(void)ud;
	pthread_mutex_lock(&dw.lock);
	dw.told = t;
	if (r < 0)
		dw.failed = t;
	while (dw.head && atomic_load_explicit(&dw.head->ticket, memory_order_relaxed) <= t) {
		struct handle *h = dw.head;

		dw.head = h->wait_next;
		if (!dw.head)
			dw.tail = NULL;
		h->wait_next = NULL;
		wait_settle(h, r, &list);
	}
	pthread_mutex_unlock(&dw.lock);
	answer_held(list);
}

/* h (replied, its record queued with ticket t) waits for the record. One told already (the
 * writer was quicker than us) is decided by what was told: a ticket at or below the last
 * failure is refused, even if its own group made it (fail closed). */
static void wait_begin(struct handle *h, uint64_t t)
{
	pthread_mutex_lock(&dw.lock);
	if (t <= dw.told) {
		if (t <= dw.failed)
			secbuf_free(TAKE_PTR(h->data)); /* stays refused */
		else
			h->refused = 0;
		pthread_mutex_unlock(&dw.lock);
		return;
	}
	h->refused = 0;
	atomic_store_explicit(&h->ticket, t, memory_order_relaxed);
	if (dw.tail)
		dw.tail->wait_next = h;
	else
		dw.head = h;
	dw.tail = h;
	pthread_mutex_unlock(&dw.lock);
}

/* h goes (released) while its record is not told: off the list; a read still held (none can
 * be: the kernel releases a file once no read of it is pending) is answered EIO. */
static void wait_drop(struct handle *h)
{
	struct handle **pp, *prev = NULL;
	struct held *list = NULL;

	pthread_mutex_lock(&dw.lock);
	for (pp = &dw.head; *pp; prev = *pp, pp = &(*pp)->wait_next)
		if (*pp == h) {
			*pp = h->wait_next;
			if (dw.tail == h)
				dw.tail = prev;
			h->wait_next = NULL;
			wait_settle(h, -EIO, &list);
			break;
		}
	pthread_mutex_unlock(&dw.lock);
	answer_held(list);
}

/* FUSE_INTERRUPT of a held read (in the FUSE thread): answered EINTR, no bytes. The request
 * may have been answered already by the writer: it is then on no list (libfuse keeps it alive
 * for this call). */
static void on_held_interrupt(fuse_req_t req, void *data)
{
	struct held *found = NULL;

	(void)data;
	pthread_mutex_lock(&dw.lock);
	for (struct handle *h = dw.head; h && !found; h = h->wait_next)
		for (struct held **pp = &h->held; *pp; pp = &(*pp)->next)
			if ((*pp)->req == req) {
				found = *pp;
				*pp = found->next;
				break;
			}
	pthread_mutex_unlock(&dw.lock);
	if (found) {
		fuse_reply_err(req, EINTR);
		free(found);
	}
}

/* Hold a read of h while its record is not on disk: true when req is taken care of (held, or
 * answered), false when the record was told meanwhile (serve it now). */
static bool wait_hold(fuse_req_t req, struct handle *h, size_t size, off_t off)
{
	struct held *p = malloc(sizeof(*p)), **pp;

	if (!p) {
		reply_err(req, -ENOMEM);
		return true;
	}
	*p = (struct held){ .req = req, .size = size, .off = off };
	/* interrupts are read by this thread: none comes between these steps; one that came
	 * already runs on_held_interrupt at once, which finds nothing: it is answered here */
	fuse_req_interrupt_func(req, on_held_interrupt, NULL);
	if (fuse_req_interrupted(req)) {
		free(p);
		reply_err(req, -EINTR);
		return true;
	}
	pthread_mutex_lock(&dw.lock);
	if (!atomic_load_explicit(&h->ticket, memory_order_relaxed)) {
		pthread_mutex_unlock(&dw.lock);
		free(p);
		return false;
	}
	for (pp = &h->held; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	pthread_mutex_unlock(&dw.lock);
	return true;
}

void handles_settle(struct vaultfsd *v)
{
	struct held *list = NULL;

	if (!dw.audit)
		return;
	/* every ticket queued before the flush is told when it returns (or the error was) */
	(void)audit_flush(v->audit);
	audit_set_durable(dw.audit, NULL, NULL);
	dw.audit = NULL;
	pthread_mutex_lock(&dw.lock);
	while (dw.head) {
		struct handle *h = dw.head;

		dw.head = h->wait_next;
		h->wait_next = NULL;
		wait_settle(h, -EIO, &list); /* not known to be on disk */
	}
	dw.tail = NULL;
	pthread_mutex_unlock(&dw.lock);
	answer_held(list);
}

void handles_init(uint16_t generation)
{
	fht.tag = (uint64_t)(generation ? generation : 1) << FH_TAG_SHIFT;
}

void handles_done(void)
{
	/* after the session: a read still held (handles_settle did not run) cannot be answered */
	if (dw.audit)
		audit_set_durable(dw.audit, NULL, NULL);
	dw.audit = NULL;
	pthread_mutex_lock(&dw.lock);
	while (dw.head) {
		struct handle *h = dw.head;

		dw.head = h->wait_next;
		h->wait_next = NULL;
		while (h->held) {
			struct held *p = h->held;

			h->held = p->next;
			free(p);
		}
		secbuf_free(TAKE_PTR(h->data));
		h->refused = -EIO;
		atomic_store(&h->ticket, 0);
	}
	dw.tail = NULL;
	pthread_mutex_unlock(&dw.lock);
	free(fht.e);
	free(fht.free);
	free(fht.foreign);
	fht = (struct fh_table){ .tag = fht.tag };
}

static int slot_put(void *p, bool dir, uint32_t *ret)
{
	uint32_t i;

	if (fht.n_free > 0) {
		i = fht.free[--fht.n_free];
	} else {
		if (fht.n == fht.cap) {
			uint32_t cap = fht.cap ? 2 * fht.cap : 64;
			struct fh_entry *e;
			uint32_t *f;

			if (cap > (1u << FH_SLOT_BITS))
				return -ENFILE;
			e = realloc(fht.e, cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			fht.e = e;
			f = realloc(fht.free, cap * sizeof(*f));
			if (!f)
				return -ENOMEM;
			fht.free = f;
			fht.cap = cap;
		}
		i = fht.n++;
	}
	fht.e[i] = (struct fh_entry){ .p = p, .dir = dir };
	*ret = i;
	return 0;
}

static void slot_del(uint32_t i)
{
	if (i >= fht.n || !fht.e[i].p)
		return;
	fht.e[i].p = NULL;
	fht.free[fht.n_free++] = i; /* room: n_free < n <= cap */
}

/* The slot an fh of this process names, or NULL. */
static struct fh_entry *fh_entry(uint64_t fh)
{
	uint32_t i = (uint32_t)(fh >> FH_SLOT_SHIFT) & ((1u << FH_SLOT_BITS) - 1);

	if ((fh & ~((1ULL << FH_TAG_SHIFT) - 1)) != fht.tag || i >= fht.n || !fht.e[i].p)
		return NULL;
	return &fht.e[i];
}

uint64_t handle_fh(const struct handle *h)
{
	return fht.tag | (uint64_t)(h->version & ((1u << 20) - 1)) << FH_VERSION_SHIFT |
	       (uint64_t)(h->slot - 1) << FH_SLOT_SHIFT | (h->w ? FH_WRITE : FH_READ);
}

int handle_register(struct handle *h, uint64_t *ret_fh)
{
	if (!h->slot) { /* a draft's handle (draft.c makes its own): into the table now */
		uint32_t i;
		int r = slot_put(h, false, &i);

		if (r < 0)
			return r;
		h->slot = i + 1;
	}
	*ret_fh = handle_fh(h);
	return 0;
}

bool fh_foreign(uint64_t fh)
{
	uint64_t tag = fh & ~((1ULL << FH_TAG_SHIFT) - 1);

	return tag != 0 && tag != fht.tag;
}

struct handle *fh_handle(uint64_t fh)
{
	struct fh_entry *e;

	if (fh_foreign(fh))
		return fh_type(fh) == FH_DIR ? NULL : fh_adopted(fh);
	e = fh_entry(fh);
	return e && !e->dir ? e->p : NULL;
}

int fh_dir_put(void *d, uint64_t *ret_fh)
{
	uint32_t i;
	int r;

	r = slot_put(d, true, &i);
	if (r < 0)
		return r;
	*ret_fh = fht.tag | (uint64_t)i << FH_SLOT_SHIFT | FH_DIR;
	return 0;
}

void *fh_dir_get(uint64_t fh)
{
	struct fh_entry *e;

	if (fh_foreign(fh))
		return fh_type(fh) == FH_DIR ? fh_adopted(fh) : NULL;
	e = fh_entry(fh);
	return e && e->dir ? e->p : NULL;
}

void fh_dir_del(uint64_t fh)
{
	struct fh_entry *e = fh_foreign(fh) ? NULL : fh_entry(fh);

	if (e && e->dir)
		slot_del((uint32_t)(e - fht.e));
}

int fh_adopt(uint64_t fh, void *p)
{
	if (fht.n_foreign == fht.cap_foreign) {
		size_t cap = fht.cap_foreign ? 2 * fht.cap_foreign : 16;
		struct fh_foreign *f = realloc(fht.foreign, cap * sizeof(*f));

		if (!f)
			return -ENOMEM;
		fht.foreign = f;
		fht.cap_foreign = cap;
	}
	fht.foreign[fht.n_foreign++] = (struct fh_foreign){ .fh = fh, .p = p };
	return 0;
}

/* The foreign handles still open after a restart: a few, looked up by a scan. */
void *fh_adopted(uint64_t fh)
{
	for (size_t i = 0; i < fht.n_foreign; i++)
		if (fht.foreign[i].fh == fh)
			return fht.foreign[i].p;
	return NULL;
}

void *fh_unadopt(uint64_t fh)
{
	for (size_t i = 0; i < fht.n_foreign; i++)
		if (fht.foreign[i].fh == fh) {
			void *p = fht.foreign[i].p;

			fht.foreign[i] = fht.foreign[--fht.n_foreign];
			return p;
		}
	return NULL;
}

/* A handle owning data (freed also on failure), in the table. */
int handle_new(struct secbuf *data, struct handle **ret)
{
	struct handle *h = calloc(1, sizeof(*h));
	uint32_t i;
	int r;

	if (!h) {
		secbuf_free(data);
		return -ENOMEM;
	}
	r = slot_put(h, false, &i);
	if (r < 0) {
		secbuf_free(data);
		free(h);
		return r;
	}
	h->slot = i + 1;
	h->data = data;
	*ret = h;
	return 0;
}

void handle_free(struct handle *h)
{
	if (!h)
		return;
	if (h->slot)
		slot_del(h->slot - 1);
	if (atomic_load_explicit(&h->ticket, memory_order_acquire))
		wait_drop(h);
	secbuf_free(h->data); /* wipes what was read or written */
	budget_give(h->budget, h->budget_uid, h->budget_bytes);
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

/* A read handle (its bytes made) takes their share of the read budget for uid: 0, or -EMFILE /
 * -ENFILE past it (budget.h; the first refusal of a run is logged, path names the file). */
static int handle_budget(struct vaultfsd *v, struct handle *h, uid_t uid, const char *path)
{
	size_t n = h->data ? h->data->cap : 0;
	bool warn;
	int r;

	if (!v->reads || n == 0)
		return 0;
	r = budget_take(v->reads, uid, n, &warn);
	if (r == -EMFILE && warn)
		log_warning("Open of %s refused (EMFILE): the read handles of uid %u would hold "
			    "more than %u MiB of locked memory; its opens are refused until it "
			    "closes some",
			    path, (unsigned)uid, VAULTFS_READ_BYTES_UID_MAX >> 20);
	else if (r == -ENFILE && warn)
		log_warning("Open of %s refused (ENFILE): the read handles of all uids would hold "
			    "more than %u MiB of locked memory; opens are refused until some close",
			    path, VAULTFS_READ_BYTES_MAX >> 20);
	if (r < 0)
		return r;
	h->budget = v->reads;
	h->budget_uid = uid;
	h->budget_bytes = n;
	return 0;
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
	if (handle_register(h, &fi->fh) < 0) {
		handle_drop(vfs_of(req), h);
		reply_err(req, -ENFILE);
		return false;
	}
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

/* sync = always: the allowed read open's record (record_access's, not waited for) queued, and
 * h (NULL: the caller went away) waiting for it to reach the disk; refused (and wiped) if it
 * cannot be queued. */
static void record_held(struct vaultfsd *v, const struct caller *c, const struct node *n,
			const char *path, uint32_t version, const char *rule, struct handle *h)
{
	struct audit_record rec = AUDIT_RECORD_INIT;
	uint64_t t = 0;
	int r;

	rec.event = "open";
	rec.decision = AUDIT_ALLOW;
	rec.rule = rule;
	rec.vault = n->vault[0] ? n->vault : NULL;
	rec.object = n->name[0] ? n->name : NULL;
	rec.version = version;
	rec.path = path;
	identity_to_record(&c->id, &rec);
	if (dw.audit != v->audit) {
		audit_set_durable(v->audit, on_durable, NULL);
		dw.audit = v->audit;
	}
	r = audit_append_nowait(v->audit, &rec, &t);
	if (!h)
		return;
	if (r < 0)
		secbuf_free(TAKE_PTR(h->data)); /* no record, no bytes: stays refused */
	else if (t == 0)
		h->refused = 0;
	else
		wait_begin(h, t);
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
	if (!err) {
		err = handle_budget(v, h, c->id.uid, path);
		if (err < 0)
			handle_free(TAKE_PTR(h));
	}
	/* A refusal is recorded before its reply, as every refusal is. An allowed read open is
	 * replied first and recorded right after, while the caller's kernel turns the reply into
	 * its next request (about 6 us less per open at p50, measured). No record, no bytes: the
	 * handle is born refused and answers reads only once its record is written; if it cannot
	 * be, it stays refused (EIO) and its buffer is wiped at once. That holds because this
	 * FUSE thread serves nothing else in between, and the handle's state says it in any case.
	 * With sync = always the record is only queued here; the handle answers once it is on
	 * disk (record_held, the wait list above). Who the caller is was resolved before the reply (caller_init), so what the record says
	 * cannot change once the caller runs again. */
	if (err < 0) {
		(void)record_access(v, c, "open", n, path, version, err, d.rule);
		reply_err(req, err);
		return;
	}
	h->version = version; /* in its fh: what a new process serves it again as */
	h->refused = -EIO;
	if (!reply_open(req, h, fi))
		h = NULL; /* the caller went away: recorded all the same, it was allowed */
	if (v->config->audit_sync == AUDIT_SYNC_ALWAYS) {
		record_held(v, c, n, path, version, d.rule, h);
		return;
	}
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

/* The kind that pins n to one version: a value's, a key file's, a certificate view's. */
static void pin_version(struct node *n, uint32_t version)
{
	static const struct {
		int kind, pinned;
	} pins[] = { { INO_SECRET, INO_VERSION },
		     { INO_KEYPUB, INO_KEYVERPUB },
		     { INO_KEYSSH, INO_KEYVERSSH },
		     { INO_CERTFILE, INO_CERTVERFILE } };

	for (size_t i = 0; i < ELEMENTSOF(pins); i++)
		if (n->ino.kind == pins[i].kind) {
			n->ino.kind = pins[i].pinned;
			n->ino.version = version;
		}
}

/* A read handle an earlier process made (fh_foreign, after a restart or a hand-over), met for
 * the first time: served again for the reader of req as an open of the same file would be for
 * it (the open's op decided under the policy in force now), recorded as a "reopen" of the
 * version the fh names (the open's fields: path, version, rule, the caller), then that version
 * decrypted (never the current one: the open file reads what it opened). Refused, the version
 * gone (ESTALE), disabled or expired (EKEYREVOKED, EKEYEXPIRED, EKEYREJECTED): the handle keeps
 * that errno for every read, recorded once. Refused for the read budget (EMFILE, ENFILE: a
 * state that passes), it is not kept: this read fails, and the next one tries again. A write
 * or a directory fh is not one: ESTALE. The handle is kept under fh until its release. */
int handle_revive(fuse_req_t req, fuse_ino_t ino, uint64_t fh, struct handle **ret)
{
	struct vaultfsd *v = vfs_of(req);
	struct policy_decision d = { .rule = "default" };
	struct handle *h = NULL;
	char path[VAULTFS_PATH_MAX];
	uint32_t version = fh_version(fh);
	struct caller c;
	struct node n, at;
	bool transient = false;
	unsigned op;
	int r, err;

	if (!fh_foreign(fh))
		return -EBADF;
	if (fh_type(fh) != FH_READ)
		return -ESTALE;
	{
		struct ino k;

		if (ino_decode(ino, &k) >= 0 && k.kind == INO_EVENTS) {
			/* a change stream: a new reader, its first line the lost one */
			r = events_revive(v, req, ino, &h);
			if (r < 0)
				return r;
			version = 0;
			goto adopt;
		}
	}
	(void)kv_read_begin(v->kv);
	r = node_get(v, ino, false, &n);
	if (r < 0 || ino_is_dir(n.ino.kind)) {
		/* the object is gone, or a kind this build does not serve again */
		kv_read_end(v->kv);
		err = -ESTALE;
		goto refused;
	}
	caller_init(req, CALLER_RECORD, &c);
	op = n.ino.kind == INO_META || ino_is_key_file(n.ino.kind) ? POLICY_OP_META :
	     ino_is_cert_file(n.ino.kind)			   ? cert_view_op(n.ino.view) :
								     POLICY_OP_READ;
	at = n;
	if (n.ino.kind != INO_META)
		pin_version(&at, version);
	user_path(&n, path, sizeof(path));
	r = policy_check(v->policy, op, n.path, &c.id, c.now, &d);
	if (r < 0)
		err = -EIO;
	else if (d.verdict != POLICY_ALLOW)
		err = node_visible(v, &c, &n) ? -EACCES : hidden_err(v);
	else if (n.ino.kind != INO_META && version == 0)
		err = -ESTALE;
	else
		err = shown_err(open_content(v, &at, &version, &h));
	kv_read_end(v->kv);
	if (err == -ENOENT)
		err = -ESTALE; /* the version it opened was purged or pruned meanwhile */
	if (!err) {
		err = handle_budget(v, h, c.id.uid, path);
		if (err < 0)
			handle_free(TAKE_PTR(h));
		transient = err < 0;
	}
	/* no record, no bytes */
	if (record_access(v, &c, "reopen", &n, path, version, err, d.rule) < 0 && !err) {
		handle_free(TAKE_PTR(h));
		err = -EIO;
	}
	if (!err)
		goto adopt;
	if (transient) /* the budget full for now: not adopted, the next read tries again */
		return err;
refused:
	r = handle_new(NULL, &h);
	if (r < 0)
		return r;
	h->refused = err;
adopt:
	h->version = version;
	r = fh_adopt(fh, h);
	if (r < 0) {
		handle_free(h);
		return r;
	}
	*ret = h;
	return 0;
}

void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct handle *h = handle_of(fi);
	int r;

	if (!h) { /* made by an earlier process */
		r = handle_revive(req, ino, fi->fh, &h);
		if (r < 0) {
			reply_err(req, r);
			return;
		}
	}
	/* its record not on disk yet (sync = always): held, answered by the journal's writer */
	if (atomic_load_explicit(&h->ticket, memory_order_acquire) && wait_hold(req, h, size, off))
		return;
	if (h->refused) {
		reply_err(req, h->refused);
		return;
	}
	reply_bytes(req, handle_data(h), size, off);
}
