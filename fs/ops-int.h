/* ops-int.h: what the files of the FUSE operations share, private to them (as libfuse's
 * fuse_i.h): the node and caller model, the open file handle, and each file's entry points.
 * Errors: every function here returns 0 (or >= 0) or -errno, and a reply of an error is
 * reply_err(req, r) with that -errno. */
#pragma once

#include <stdatomic.h>

#include "core/secbuf.h"
#include "core/util.h"
#include "fs/budget.h"
#include "fs/inode.h"
#include "fs/vaultfs.h"

/* The policy path of a node ("/V" or "/V/S"; a certificate's view files: "/V/C") fits this. */
#define POLICY_PATH_MAX (2 * VAULTFS_NAME_MAX + 3)

/* Write buffers are capped per uid and in all (VAULTFS_WRITERS_*, core/limits.h). Each holds one
 * page of locked memory and grows as bytes arrive, to VAULTFS_VALUE_MAX at most, within the
 * byte budgets of one uid's buffers and of all (VAULTFS_WRITE_BYTES_*). */
/* More write buffers than this at once is a burst: the pool is drained after it. */
#define WRITERS_BURST 32u
/* A write buffer's first size: a page. */
#define WRITE_BUF_INITIAL 4096u

/* A create of a name its creator soft-deleted this shortly before is a replace (write.c). */
#define UNLINK_REPLACE_MS 10000

/* The identity fields a record needs beyond what the policy asked for. */
#define CALLER_RECORD (IDENTITY_PID | IDENTITY_CGROUP | IDENTITY_EXE)

/* What a node keeps of its version's attributes: kv_version_info without its strings (the
 * content type and tags, 5 KiB that nothing reading a node looks at). A node is made, copied
 * and passed on several times a request (two lookups and an open for every open(2)): with the
 * whole info each of them zeroed or copied 5 KiB, more than the L1 cache holds per open. */
struct node_info {
	int64_t object_id;
	int64_t created, updated;
	size_t size; /* exact length of the value */
};

static inline struct node_info node_info_of(const struct kv_version_info *vi)
{
	return (struct node_info){ .object_id = vi->object_id,
				   .created = vi->created,
				   .updated = vi->updated,
				   .size = vi->size };
}

/* What an inode number names, with the names looked up. */
struct node {
	struct ino ino;
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1]; /* the object, for object kinds (a key's for .keys, a
					  * certificate's for its view files) */
	char path[POLICY_PATH_MAX];	 /* the policy path: "/V" or "/V/S" */
	bool has_info;			 /* info is the version's, as looked up */
	struct node_info info;
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
	unsigned pending;	    /* identity fields the policy needs, not resolved yet */
	struct identity_cache *ids; /* the daemon's, for resolving the pending fields */
};

/* What a write handle holds besides its bytes. Whole-file semantics: the bytes of a write
 * handle are the whole next version, made at close. A write open without O_TRUNC starts from
 * an empty buffer too, not from the current value: a writer may hold `write` without `read`,
 * and a version is only ever made whole, so bytes written at an offset get zeros before them
 * (holes), as in a new file. Bytes past data->len are always zero. */
struct writer {
	struct caller c;     /* who opened it: each commit is decided and recorded for it */
	struct node n;	     /* the secret: vault, name, policy path */
	struct handle *next; /* in vfs->writers (not a draft's) */
	uint64_t ino;	     /* the inode number the kernel knows the file by */
	mode_t mode;	     /* permission bits fstat shows: 0200, or 0600 where it may read */
	bool pending;	     /* created here: ino is a number of ours */
	bool truncated;	     /* O_TRUNC or created: a close with nothing written commits "" */
	bool dirty;	     /* bytes changed since the last commit */
	uint64_t writes;     /* writes and truncations so far: a commit that let the lock go
			      * sees whether bytes changed meanwhile */
	unsigned queued;     /* its requests waiting for the committer (commit.h), under the
			      * daemon's lock */
	bool committed;	     /* a commit succeeded */
	bool failed;	     /* the last commit failed (flush said so): release makes none */
	int poisoned;	     /* 0, or the -errno of the write that spoiled it (EFBIG past
			      * VAULTFS_VALUE_MAX, EDQUOT or ENOSPC past the byte budgets, ENOMEM):
			      * every later write and close gets it, nothing will be committed */
	bool recover;	     /* the name was soft-deleted by its opener just before: undone at
			      * the commit (unlink then create, as install(1) does) */
	struct draft *draft; /* a handle on a draft: the bytes are the draft's, never committed
			      * at close */
};

/* A temporary file held only in the daemon (draft.c). */
struct draft {
	struct draft *next; /* in vfs->drafts */
	uint64_t parent;    /* the vault's directory */
	char vault[VAULTFS_NAME_MAX + 1];
	char name[256];	     /* NAME_MAX + 1: a temporary name may be any */
	uid_t uid;	     /* who made it: the only uid that sees it */
	uint64_t ino;	     /* a number of ours, as a pending file's */
	struct secbuf *data; /* its bytes */
	unsigned opens;	     /* handles on it */
	int64_t idle_ms;     /* monotonic ms of its making or last close */
	bool gone;	     /* dropped while open: freed with its last handle */
};

/* An open file: the bytes one open sees, whatever is written meanwhile; or, for a write
 * handle, the bytes it has written. */
struct handle {
	struct secbuf *data;  /* NULL once its record failed; a writer's may grow (write.c) */
	struct writer *w;     /* NULL: a read handle */
	int refused;	      /* a read handle not recorded (yet): every read's -errno */
	struct ev_reader *ev; /* an open .events file (fs/events.c), else NULL */
	uint32_t version;     /* the version a read handle serves (0: none, as .meta's) */
	uint32_t slot;	      /* its place in the handle table + 1; 0: not in it */
	/* sync = always: the ticket of its open's record (audit_append_nowait) until that is on
	 * disk or failed, then 0 (set by the journal's writer: read it with acquire); meanwhile its
	 * reads wait in held (open.c's wait list, under its lock) */
	_Atomic uint64_t ticket;
	struct held *held;
	struct handle *wait_next;
	/* a read handle's share of the read budget (budget.h), given back as it is freed */
	struct budget *budget;
	uid_t budget_uid;
	size_t budget_bytes;
};

static inline struct vaultfsd *vfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The one way an error is replied: r is 0 or -errno. */
static inline void reply_err(fuse_req_t req, int r)
{
	fuse_reply_err(req, -r);
}

/* The bytes a handle reads and writes: its own, or its draft's (where they may be replaced). */
static inline struct secbuf **handle_buf(struct handle *h)
{
	return h->w && h->w->draft ? &h->w->draft->data : &h->data;
}

static inline struct secbuf *handle_data(const struct handle *h)
{
	return h->w && h->w->draft ? h->w->draft->data : h->data;
}

/* Set b's length to len (<= its cap): bytes past len are always zero. */
static inline void buf_truncate(struct secbuf *b, size_t len)
{
	if (len < b->len)
		secure_wipe(b->data + len, b->len - len);
	b->len = len;
}

/* File handles (fi->fh) name what a new process needs to serve them again after a restart or
 * a hand-over (handover.h): the tag of the process that made them (its generation, never 0),
 * what they are, the version a read handle serves, and their place in the maker's table:
 *   bits 63..48 tag | 47..28 version | 27..2 slot | 1..0 FH_READ, FH_WRITE or FH_DIR.
 * A handle of this process is found by its slot; one of an earlier process (foreign) is served
 * again from ino + version (open.c, readdir.c: decided and recorded as an open is) and kept
 * under its fh until released; a foreign write handle is ESTALE (its bytes died with its
 * process). A tag of 0 is a bare pointer (fi->fh set outside handle_fh). */
#define FH_TAG_SHIFT 48
#define FH_VERSION_SHIFT 28
#define FH_SLOT_SHIFT 2
#define FH_SLOT_BITS 26
enum { FH_READ = 0, FH_WRITE = 1, FH_DIR = 2 };

static inline unsigned fh_type(uint64_t fh)
{
	return (unsigned)(fh & 3);
}

static inline uint32_t fh_version(uint64_t fh)
{
	return (uint32_t)(fh >> FH_VERSION_SHIFT) & ((1u << 20) - 1);
}

/* The table of this process's handles (open.c): its tag is its generation (1 for the process
 * that mounted, one more for each that took the session over, skipping 0). */
void handles_init(uint16_t generation);
void handles_done(void);
uint64_t handle_fh(const struct handle *h);
/* The fh to reply for h, putting it in the table if it is not yet (a draft's handle): what
 * every open and create reply sets fi->fh to. -ENFILE when the table is full. */
int handle_register(struct handle *h, uint64_t *ret_fh);
struct handle *fh_handle(uint64_t fh);
/* Made by an earlier process (and not adopted yet, or adopted: fh_adopted says). */
bool fh_foreign(uint64_t fh);
/* Directory handles (readdir.c) in the same table: put returns the fh. */
int fh_dir_put(void *d, uint64_t *ret_fh);
void *fh_dir_get(uint64_t fh);
void fh_dir_del(uint64_t fh);
/* What was rebuilt for a foreign fh, kept until its release. */
int fh_adopt(uint64_t fh, void *p);
void *fh_adopted(uint64_t fh);
void *fh_unadopt(uint64_t fh);

static inline struct handle *handle_of(const struct fuse_file_info *fi)
{
	return fh_handle(fi->fh);
}

/* --- node.c: callers, nodes, paths, decisions and records --- */
bool reserved_name(const char *name);
int shown_err(int r);
int hidden_err(const struct vaultfsd *v);
void caller_init(fuse_req_t req, unsigned extra, struct caller *c);
void caller_resolve(struct caller *c, unsigned fields);
void caller_full(struct caller *c);
int caller_decide(struct vaultfsd *v, struct caller *c, unsigned op, const struct node *n,
		  struct policy_decision *d);
void slash_path(char *buf, size_t size, const char *a, const char *b);
void node_path(struct node *n);
int node_get(struct vaultfsd *v, fuse_ino_t ino, bool names_only, struct node *ret);
bool visible_path(const struct vaultfsd *v, struct caller *c, const char *path);
bool node_visible(const struct vaultfsd *v, struct caller *c, const struct node *n);
int node_for_caller(fuse_req_t req, fuse_ino_t ino, struct node *ret, struct caller *c);
int child_get(struct vaultfsd *v, const struct node *p, const char *name, struct node *ret);
bool named_node(const struct node *p, const char *name, struct node *ret);
void user_path(const struct node *n, char *buf, size_t size);
void child_path(const struct node *p, const char *name, char *buf, size_t size);
int record_access(struct vaultfsd *v, const struct caller *c, const char *event,
		  const struct node *n, const char *path, uint32_t version, int r,
		  const char *rule);

/* --- attr.c: attributes, lookup, access --- */
void fill_dir_attr(const struct vaultfsd *v, const struct caller *c, fuse_ino_t ino,
		   struct stat *st);
int fill_attr(struct vaultfsd *v, struct caller *c, const struct node *n, fuse_ino_t ino,
	      struct stat *st);
void reply_entry(fuse_req_t req, const struct stat *st);
struct handle *handle_for(struct vaultfsd *v, fuse_ino_t ino, const struct fuse_file_info *fi,
			  bool *ret_gone);
void handle_attr(const struct handle *h, fuse_ino_t ino, const struct fuse_ctx *ctx,
		 struct stat *st);
void ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ll_access(fuse_req_t req, fuse_ino_t ino, int mask);

/* --- open.c: handles, read opens --- */
int handle_new(struct secbuf *data, struct handle **ret);
void handle_free(struct handle *h);
bool reply_open(fuse_req_t req, struct handle *h, struct fuse_file_info *fi);
void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
/* Once the FUSE thread has ended, before the session is destroyed or handed over: sync the
 * journal and answer every read still held for its record (bytes, or EIO where the record is
 * not known to be on disk); from then on the journal's writer answers none. */
void handles_settle(struct vaultfsd *v);
int handle_revive(fuse_req_t req, fuse_ino_t ino, uint64_t fh, struct handle **ret);

/* --- write.c: write handles and their commits --- */
struct handle *pending_find(struct vaultfsd *v, uint64_t ino);
int writer_room(struct vaultfsd *v, uid_t uid);
void writers_settle(struct vaultfsd *v);
int write_buf_reserve(struct vaultfsd *v, uid_t uid, struct secbuf **bp, size_t need);
void handle_drop(struct vaultfsd *v, struct handle *h);
int write_open(struct vaultfsd *v, struct caller *c, struct node *n, int flags, bool create,
	       struct handle **ret);
/* What a close(2) of h does (the commit of what it wrote since the last one): 0 or the errno
 * close returns. */
int write_flush(struct vaultfsd *v, struct handle *h);
/* What the last close of h does (a commit not made yet, then the handle dropped: freed). */
void write_release(struct vaultfsd *v, struct handle *h);
void changed(struct vaultfsd *v, const char *vault, const char *name, int64_t object_id,
	     bool entry);
void ll_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
	      struct fuse_file_info *fi);
void ll_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ll_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);

int secret_commit(struct vaultfsd *v, struct caller *c, const struct node *n,
		  const struct secbuf *data, bool recover, bool entry);
struct handle *pending_named(struct vaultfsd *v, const struct node *n);

/* --- draft.c: temporary files of the replace-by-rename idiom --- */
bool draft_name(const char *name);
struct draft *draft_find(struct vaultfsd *v, uint64_t parent, const char *name);
struct draft *draft_by_ino(struct vaultfsd *v, uint64_t ino);
struct draft *draft_for(fuse_req_t req, uint64_t ino);
int draft_new(struct vaultfsd *v, const struct caller *c, uint64_t parent, const char *vault,
	      const char *name, struct draft **ret);
int draft_open(struct draft *d, const struct caller *c, int flags, struct handle **ret);
void draft_close(struct vaultfsd *v, struct draft *d);
void drafts_free(struct vaultfsd *v);
void draft_drop(struct vaultfsd *v, struct draft *d);
void draft_attr(const struct draft *d, const struct fuse_ctx *ctx, struct stat *st);

/* --- readdir.c: directories --- */
void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void ll_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* --- keys.c: the public halves of keys as files (.keys) --- */
size_t stem_len(const char *name, const char *suffix);
bool version_stem(const char *name, size_t len, uint32_t *ret_version);
bool key_file_name(const char *name, char ret_key[VAULTFS_NAME_MAX + 1], bool *ret_ssh);
bool key_version_name(const char *name, uint32_t *ret_version, bool *ret_ssh);
void key_entry_name(const char *stem, bool ssh, char *buf, size_t size);
bool key_pem_named(const char *name);
int key_public_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   struct kv_key_public *ret);
int key_file_content(struct kv *kv, const struct node *n, char **ret, size_t *ret_len,
		     uint32_t *ret_version);

/* --- certs.c: a certificate's views as files (C.crt ... C.p12, .versions/C/N.crt ...) --- */
bool cert_file_name(const char *name, char ret_cert[VAULTFS_NAME_MAX + 1], unsigned *ret_view);
bool cert_version_name(const char *name, uint32_t *ret_version, unsigned *ret_view);
void cert_entry_name(const char *stem, unsigned view, char *buf, size_t size);
size_t cert_suffix_len(unsigned view);
bool cert_view_named(const char *cert, unsigned view);
bool cert_view_has_key(unsigned view);
unsigned cert_view_op(unsigned view);
int cert_version_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		     int64_t object_id, unsigned view, struct kv_cert_info *ret);
int cert_file_content(struct kv *kv, const struct node *n, struct secbuf **ret,
		      uint32_t *ret_version);
int cert_file_stat(struct kv *kv, const struct node *n, bool may, size_t *ret_len,
		   struct kv_version_info *ret_info);

/* --- events.c: the .events files (the change stream; events.h has the rest) --- */
struct ev_reader;
void ev_reader_free(struct ev_reader *r);
/* A handle for an .events inode the kernel holds from a daemon before this one (a restart):
 * its reader starts with the "events lost, re-read the state" line. */
int events_revive(struct vaultfsd *v, fuse_req_t req, fuse_ino_t ino, struct handle **ret);
/* The ops of vfs_ops that serve .events and hand every other inode on (attr.c, open.c). */
void events_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void events_ll_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void events_ll_access(fuse_req_t req, fuse_ino_t ino, int mask);
void events_ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void events_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi);
void events_ll_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph);

/* --- names.c: create, unlink, mkdir, rmdir --- */
void ll_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags);
