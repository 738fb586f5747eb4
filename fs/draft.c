/* draft.c: temporary files of the replace-by-rename idiom (sed -i, cp + mv, editors, config
 * management, Python's write-then-os.replace). A file created in a vault under a temporary name
 * (draft_name) is a draft: its bytes live only in the daemon, in a secure buffer, never in the
 * store; only the uid that made it sees it (lookup, stat, open, chmod/chown to what stat shows,
 * utimens, truncate, unlink, rename); rename(2) of it over a secret's name commits it as that
 * secret's next version (write.c, decided as `write` on the target and recorded). A draft
 * nobody holds open goes after DRAFT_IDLE_MS. Never writes a draft's bytes anywhere but its
 * secure buffer, never shows a draft to another uid. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "fs/ops-int.h"

/* A draft no handle holds open is dropped (wiped) this long after its last close. */
#define DRAFT_IDLE_MS (10 * 60 * 1000)

static bool all_of(const char *s, size_t n, const char *set)
{
	return strlen(s) == n && strspn(s, set) == n;
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define ALNUM LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
#define PYTEMP LOWER "0123456789_"

/* Is name one tools use for a temporary file? A name that cannot be a secret's (dot-names:
 * `.target.XXXXXX`, emacs' `.#target`; `target~`, `#target#`), and the valid names of the
 * usual patterns: GNU sed's `sedXXXXXX`, vim's probe `4913`, Python tempfile's `tmpXXXXXXXX`,
 * and `*.tmp`. A secret that already holds such a name is opened as itself, never a draft. */
bool draft_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX || strchr(name, '/') || streq(name, ".") || streq(name, ".."))
		return false;
	if (streq(name, ".versions") || streq(name, ".meta"))
		return false;
	if (name[0] == '.' || !kv_name_valid(name))
		return true;
	if (streq(name, "4913"))
		return true;
	if (strncmp(name, "sed", 3) == 0 && all_of(name + 3, 6, ALNUM))
		return true;
	if (strncmp(name, "tmp", 3) == 0 && all_of(name + 3, 8, PYTEMP))
		return true;
	return n > 4 && streq(name + n - 4, ".tmp");
}

/* The draft `name` in the vault whose directory is parent, whoever made it. */
struct draft *draft_find(struct vaultfsd *v, uint64_t parent, const char *name)
{
	for (struct draft *d = v->drafts; d; d = d->next)
		if (d->parent == parent && streq(d->name, name))
			return d;
	return NULL;
}

/* The draft the kernel knows by ino (a number of ours), or NULL. */
struct draft *draft_by_ino(struct vaultfsd *v, uint64_t ino)
{
	for (struct draft *d = v->drafts; d; d = d->next)
		if (d->ino == ino)
			return d;
	return NULL;
}

static void draft_free(struct vaultfsd *v, struct draft *d)
{
	secbuf_free(d->data); /* wipes */
	free(d);
	v->n_drafts--;
	writers_settle(v);
}

static void draft_unlink(struct vaultfsd *v, struct draft *d)
{
	for (struct draft **p = &v->drafts; *p; p = &(*p)->next)
		if (*p == d) {
			*p = d->next;
			d->next = NULL;
			return;
		}
}

/* Drop the drafts no handle holds and nobody has touched for DRAFT_IDLE_MS (vaultfs.h). */
void ops_reap(struct vaultfsd *v)
{
	int64_t now = clock_ms(CLOCK_MONOTONIC);
	struct draft **p = &v->drafts;

	while (*p) {
		struct draft *d = *p;

		if (!d->opens && now - d->idle_ms > DRAFT_IDLE_MS) {
			*p = d->next;
			draft_free(v, d);
		} else {
			p = &d->next;
		}
	}
}

/* A new, empty draft `name` of vault (directory parent) for the caller c. */
int draft_new(struct vaultfsd *v, const struct caller *c, uint64_t parent, const char *vault,
	      const char *name, struct draft **ret)
{
	struct draft *d;
	int r;

	ops_reap(v);
	r = writer_room(v, c->id.uid);
	if (r < 0)
		return r;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* a page; it grows as bytes arrive (write.c), and counts in the write budgets of its
	 * uid and of all (VAULTFS_WRITE_BYTES_*) until it is freed */
	r = secbuf_new(WRITE_BUF_INITIAL, &d->data);
	if (r < 0) {
		free(d);
		return r;
	}
	d->parent = parent;
	str_copy(d->vault, sizeof(d->vault), vault);
	str_copy(d->name, sizeof(d->name), name);
	d->uid = c->id.uid;
	d->ino = 2 + v->next_pending++;
	d->idle_ms = clock_ms(CLOCK_MONOTONIC);
	d->next = v->drafts;
	v->drafts = d;
	v->n_drafts++;
	writers_settle(v);
	*ret = d;
	return 0;
}

/* The draft is no more (unlinked, renamed over a secret, or renamed away): wiped now, or with
 * its last handle. */
void draft_drop(struct vaultfsd *v, struct draft *d)
{
	draft_unlink(v, d);
	if (d->opens)
		d->gone = true;
	else
		draft_free(v, d);
}

/* A handle on d closed. */
void draft_close(struct vaultfsd *v, struct draft *d)
{
	d->opens--;
	d->idle_ms = clock_ms(CLOCK_MONOTONIC);
	if (d->gone && !d->opens)
		draft_free(v, d);
}

/* A write handle on d (of its uid: checked by the caller). O_TRUNC empties it. */
int draft_open(struct draft *d, const struct caller *c, int flags, struct handle **ret)
{
	struct handle *h;
	struct writer *w;

	if (flags & O_APPEND)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	w = calloc(1, sizeof(*w));
	if (!h || !w) {
		free(h);
		free(w);
		return -ENOMEM;
	}
	w->c = *c;
	w->draft = d;
	w->ino = d->ino;
	w->mode = 0600;
	h->w = w;
	if (flags & O_TRUNC)
		buf_truncate(d->data, 0);
	d->opens++;
	*ret = h;
	return 0;
}

/* What stat shows of a draft: its maker's, 0600, its bytes. */
void draft_attr(const struct draft *d, const struct fuse_ctx *ctx, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = d->ino;
	st->st_mode = S_IFREG | 0600;
	st->st_nlink = 1;
	st->st_uid = ctx->uid;
	st->st_gid = ctx->gid;
	st->st_size = (off_t)d->data->len;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((d->data->len + 511) / 512);
}

/* The draft the request's caller may see by ino (its own), or NULL. */
struct draft *draft_for(fuse_req_t req, uint64_t ino)
{
	struct draft *d = draft_by_ino(vfs_of(req), ino);

	return d && d->uid == fuse_req_ctx(req)->uid ? d : NULL;
}

/* At stop: every draft wiped and freed, held open or not (no request comes any more). */
void drafts_free(struct vaultfsd *v)
{
	while (v->drafts) {
		struct draft *d = v->drafts;

		v->drafts = d->next;
		draft_free(v, d);
	}
}
