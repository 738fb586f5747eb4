/* minfs.c: the FUSE limit for bench-open. A minimal libfuse3 low-level filesystem that serves
 * /app/NAME, fixed files of the sizes given, with what vaultfsd answers an open with and
 * nothing more: the same path depth (so the kernel sends the same LOOKUPs), entry and attr
 * timeouts 0, direct_io, no keep_cache, noflush and no FLUSH handler, no readdirplus, the
 * same mount options, and one thread in fuse_session_loop. Every request is answered from
 * memory, so what it measures is the round trips themselves. Must never do any work vaultfsd
 * would not do: it is the floor vaultfsd is compared with. Test-only: never installed. */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MINFS_FILES_MAX 16u
#define MINFS_SIZE_MAX (1u << 20)

/* Inode numbers: 1 the root, 2 /app, 3 + i the file i. */
enum {
	INO_APP = 2,
	INO_FILE0 = 3,
};

struct file {
	const char *name;
	size_t size;
};

struct minfs {
	struct file files[MINFS_FILES_MAX];
	size_t n_files;
	char *data; /* MINFS_SIZE_MAX bytes of pattern, every file a prefix of it */
};

static struct minfs *minfs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The file of ino, or NULL. */
static const struct file *file_of(const struct minfs *m, fuse_ino_t ino)
{
	if (ino < INO_FILE0 || ino - INO_FILE0 >= m->n_files)
		return NULL;
	return &m->files[ino - INO_FILE0];
}

static int fill_attr(const struct minfs *m, fuse_ino_t ino, struct stat *st)
{
	const struct file *f;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID || ino == INO_APP) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	f = file_of(m, ino);
	if (!f)
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = (off_t)f->size;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((f->size + 511) / 512);
	return 0;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->want &= ~(unsigned)(FUSE_CAP_READDIRPLUS | FUSE_CAP_READDIRPLUS_AUTO);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct minfs *m = minfs_of(req);
	struct fuse_entry_param e = { 0 };
	fuse_ino_t ino = 0;

	if (parent == FUSE_ROOT_ID && strcmp(name, "app") == 0)
		ino = INO_APP;
	for (size_t i = 0; parent == INO_APP && i < m->n_files; i++)
		if (strcmp(name, m->files[i].name) == 0)
			ino = INO_FILE0 + i;
	if (!ino || fill_attr(m, ino, &e.attr) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	e.ino = ino;
	e.attr_timeout = 0;
	e.entry_timeout = 0;
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (fill_attr(minfs_of(req), ino, &st) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fuse_reply_attr(req, &st, 0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!file_of(minfs_of(req), ino)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->direct_io = 1;
	fi->keep_cache = 0;
	fi->noflush = 1;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct minfs *m = minfs_of(req);
	const struct file *f = file_of(m, ino);

	(void)fi;
	if (!f || off < 0 || (uint64_t)off >= f->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > f->size - (size_t)off)
		size = f->size - (size_t)off;
	fuse_reply_buf(req, m->data + off, size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino, (void)fi;
	fuse_reply_err(req, 0);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct minfs *m = minfs_of(req);
	char buf[4096];
	size_t used = 0, n_ent;

	(void)fi;
	if (ino != FUSE_ROOT_ID && ino != INO_APP) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);
	n_ent = ino == FUSE_ROOT_ID ? 1 : m->n_files;
	for (size_t i = (size_t)off; i < n_ent; i++) {
		struct stat st = { 0 };
		const char *name = ino == FUSE_ROOT_ID ? "app" : m->files[i].name;
		size_t n;

		st.st_ino = ino == FUSE_ROOT_ID ? INO_APP : INO_FILE0 + i;
		st.st_mode = ino == FUSE_ROOT_ID ? S_IFDIR : S_IFREG;
		n = fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)(i + 1));
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
}

static const struct fuse_lowlevel_ops minfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.readdir = op_readdir,
};

/* NAME=SIZE into f; -EINVAL when malformed. */
static int parse_file(char *arg, struct file *f)
{
	char *eq = strchr(arg, '='), *end;
	unsigned long size;

	if (!eq || eq == arg || strchr(arg, '/'))
		return -EINVAL;
	*eq = '\0';
	errno = 0;
	size = strtoul(eq + 1, &end, 10);
	if (errno || end == eq + 1 || *end || size > MINFS_SIZE_MAX)
		return -EINVAL;
	f->name = arg;
	f->size = size;
	return 0;
}

int main(int argc, char **argv)
{
	struct minfs m = { 0 };
	struct fuse_session *se;
	const char *mnt;
	bool debug = argc > 1 && strcmp(argv[1], "-d") == 0;
	int first = debug ? 2 : 1, r;

	if (argc - first < 2) {
		fprintf(stderr, "Usage: minfs [-d] MOUNTPOINT NAME=SIZE...\n"
				"Serve MOUNTPOINT/app/NAME, SIZE bytes each, until unmounted.\n");
		return 2;
	}
	mnt = argv[first];
	for (int i = first + 1; i < argc; i++) {
		if (m.n_files == MINFS_FILES_MAX || parse_file(argv[i], &m.files[m.n_files]) < 0) {
			fprintf(stderr, "minfs: bad or too many files at '%s'\n", argv[i]);
			return 2;
		}
		m.n_files++;
	}
	m.data = malloc(MINFS_SIZE_MAX);
	if (!m.data)
		return 1;
	for (size_t i = 0; i < MINFS_SIZE_MAX; i++)
		m.data[i] = (char)('a' + i % 26);

	{
		char *fargv[] = { argv[0], "-o", "allow_other,fsname=minfs,subtype=minfs",
				  debug ? "-d" : NULL, NULL };
		struct fuse_args args = FUSE_ARGS_INIT(debug ? 4 : 3, fargv);

		se = fuse_session_new(&args, &minfs_ops, sizeof(minfs_ops), &m);
		fuse_opt_free_args(&args);
	}
	if (!se) {
		free(m.data);
		return 1;
	}
	r = 1;
	if (fuse_set_signal_handlers(se) == 0) {
		if (fuse_session_mount(se, mnt) == 0) {
			r = fuse_session_loop(se) < 0 ? 1 : 0;
			fuse_session_unmount(se);
		}
		fuse_remove_signal_handlers(se);
	}
	fuse_session_destroy(se);
	free(m.data);
	return r;
}
