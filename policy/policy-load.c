/* policy-load.c: a policy set's life (policy.h): its memory (an arena the rules live in and
 * die with), the files and directories it is read from (refused when others than their owner
 * may write them, as sshd's StrictModes), and the one-step loaders. It reads files; it never
 * decides, never logs and never sees secret bytes. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/io.h"
#include "core/limits.h"
#include "policy/policy-internal.h"

#define ARENA_CHUNK (64u * 1024u)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

void *policy_arena_alloc(struct policy *p, size_t n)
{
	struct arena_chunk *c = p->arena;

	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
	if (!c || c->size - c->used < n) {
		size_t size = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (!c)
			return NULL;
		c->used = 0;
		c->size = size;
		c->next = p->arena;
		p->arena = c;
	}
	c->used += n;
	return (char *)c->data + c->used - n;
}

char *policy_arena_strndup(struct policy *p, const char *s, size_t n)
{
	char *d = policy_arena_alloc(p, n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

/* --- files --- */

int policy_add_file(struct policy *p, const char *path, struct policy_diag *diag)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len = 0;
	int r;

	if (p->compiled)
		return -EBUSY;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a FIFO must not block */
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = negative_errno();
		policy_diag_add(p, diag, "%s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		policy_diag_add(p, diag, "%s: not a regular file", path);
		return -EINVAL;
	}
	/* like sshd's StrictModes: who may change the policy decides everything */
	if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
		policy_diag_add(p, diag,
				"%s: refused: writable by others than its owner, or owned by "
				"another user",
				path);
		return -EPERM;
	}
	if ((uint64_t)st.st_size > VAULTFS_POLICY_FILE_MAX) {
		policy_diag_add(p, diag, "%s: too large (at most %u bytes)", path,
				VAULTFS_POLICY_FILE_MAX);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	/* read to EOF: the file may have grown since fstat */
	r = io_read_all(fd, buf, (size_t)st.st_size + 1, &len);
	if (r == -EFBIG) {
		policy_diag_add(p, diag, "%s: changed while read", path);
		return -EAGAIN;
	}
	if (r < 0) {
		policy_diag_add(p, diag, "%s: %s", path, strerror(-r));
		return r;
	}
	return policy_add_buffer(p, path, buf, len, diag);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void closedirp(DIR **d)
{
	if (*d)
		closedir(*d);
}

int policy_add_dir(struct policy *p, const char *dir, struct policy_diag *diag)
{
	_cleanup_(closedirp) DIR *d = NULL;
	char *names[VAULTFS_POLICY_FILES_MAX];
	size_t n = 0;
	struct dirent *de;
	int r = 0;

	if (p->compiled)
		return -EBUSY;
	d = opendir(dir);
	if (!d) {
		r = negative_errno();
		policy_diag_add(p, diag, "%s: %s", dir, strerror(-r));
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len <= 7 || !streq(de->d_name + len - 7, ".policy"))
			continue;
		if (n == VAULTFS_POLICY_FILES_MAX) {
			policy_diag_add(p, diag, "%s: too many policy files (at most %u)", dir,
					VAULTFS_POLICY_FILES_MAX);
			r = -E2BIG;
			goto out;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno) {
		r = negative_errno();
		policy_diag_add(p, diag, "%s: %s", dir, strerror(-r));
		goto out;
	}
	qsort(names, n, sizeof(char *), name_cmp);
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path = NULL;
		int k;

		if (asprintf(&path, "%s/%s", dir, names[i]) < 0) {
			r = -ENOMEM;
			goto out;
		}
		k = policy_add_file(p, path, diag);
		if (k < 0 && r == 0)
			r = k;
	}
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	return r;
}

/* --- the set --- */

int policy_new(struct policy **ret)
{
	struct policy *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	*ret = p;
	return 0;
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	while (p->arena) {
		struct arena_chunk *c = p->arena;

		p->arena = c->next;
		free(c);
	}
	free(p->rules);
	free(p->buckets);
	free(p->shared);
	free(p);
}

/* The end of a one-step load: p (taken) after its adds returned r, compiled into *ret. */
static int load_finish(struct policy *p, int r, struct policy **ret)
{
	if (r >= 0)
		r = policy_compile(p);
	if (r < 0) {
		policy_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

int policy_parse_buffer(const char *name, const char *buf, size_t len, struct policy **ret,
			struct policy_diag *diag)
{
	struct policy *p;
	int r;

	r = policy_new(&p);
	if (r < 0)
		return r;
	return load_finish(p, policy_add_buffer(p, name, buf, len, diag), ret);
}

int policy_load_dir(const char *dir, struct policy **ret, struct policy_diag *diag)
{
	struct policy *p;
	int r;

	r = policy_new(&p);
	if (r < 0)
		return r;
	return load_finish(p, policy_add_dir(p, dir, diag), ret);
}

size_t policy_n_rules(const struct policy *p)
{
	return p->n_rules;
}

size_t policy_n_files(const struct policy *p)
{
	return p->n_files;
}

unsigned policy_needs(const struct policy *p)
{
	return p->needs & IDENTITY_ALL; /* ssh= is no field to resolve: the agent sets it */
}
