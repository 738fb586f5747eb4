/* ops.c: the FUSE low-level operations of /vault, as one table; each is served by the file of
 * its job (ops-int.h lists them): node.c who asks and what a number names, attr.c lookup and
 * stat, open.c read opens, write.c write handles and commits, readdir.c directories, names.c
 * create, unlink, mkdir, rmdir. Every request gets exactly one reply on every path. Replies:
 * direct_io (no page cache), timeouts 0 (every lookup and stat reaches us), no readdirplus. */
#include "fs/ops-int.h"

/* Not in this namespace: device nodes and links. */
static void ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	reply_err(req, -EPERM);
}

static void ll_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	reply_err(req, -EPERM);
}

static void ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	reply_err(req, -EPERM);
}

static void ll_init(void *userdata, struct fuse_conn_info *conn)
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
	.init = ll_init,
	.lookup = events_ll_lookup, /* .events, else ll_lookup */
	.getattr = events_ll_getattr,
	.setattr = ll_setattr,
	.access = events_ll_access,
	.open = events_ll_open,
	.create = ll_create,
	.read = events_ll_read,
	.poll = events_ll_poll,
	.write = ll_write,
	.flush = ll_flush,
	.release = ll_release,
	.opendir = ll_opendir,
	.readdir = ll_readdir,
	.releasedir = ll_releasedir,
	.mknod = ll_mknod,
	.mkdir = ll_mkdir,
	.unlink = ll_unlink,
	.rmdir = ll_rmdir,
	.rename = ll_rename,
	.symlink = ll_symlink,
	.link = ll_link,
};
