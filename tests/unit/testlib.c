/* testlib.c: support code for the cmocka unit tests (tests/unit/test-*.c), linked into each of
 * them. It makes and removes per-test temp dirs, writes and reads whole files, and makes test
 * bytes; its failures are the running test's failures (cmocka assertions). It must never touch
 * a path outside what the test hands it, never follow a symlink when removing or replacing, and
 * never hold state between calls. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/crypto.h"
#include "core/kv.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "tests/unit/testlib.h"

int test_tmpdir(char **ret_dir)
{
	char *dir = NULL;

	if (asprintf(&dir, "/tmp/%s.XXXXXX", program_invocation_short_name) < 0)
		return -ENOMEM;
	if (!mkdtemp(dir)) {
		int r = -errno;

		free(dir);
		return r;
	}
	*ret_dir = dir;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(p);
}

void test_rmtree(const char *dir)
{
	if (dir)
		(void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void test_write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd;

	if (unlink(path) < 0)
		assert_int_equal(errno, ENOENT);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

int test_read_file(const char *path, uint8_t **ret_data, size_t *ret_size)
{
	size_t n = 0, size = 4096;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	buf = malloc(size);
	assert_non_null(buf);
	for (;;) {
		ssize_t k;

		if (size - n < 2) {
			size *= 2;
			buf = realloc(buf, size);
			assert_non_null(buf);
		}
		k = read(fd, buf + n, size - n - 1);
		assert_true(k >= 0);
		if (k == 0)
			break;
		n += (size_t)k;
	}
	assert_int_equal(close(fd), 0);
	buf[n] = 0;
	*ret_data = buf;
	*ret_size = n;
	return 0;
}

void test_fill(void *p, size_t n, unsigned seed)
{
	uint8_t *b = p;
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		b[i] = (i % 5 == 0) ? 0 : (uint8_t)(x >> 16);
	}
}

void test_random(void *p, size_t n)
{
	assert_int_equal(getrandom(p, n, 0), (ssize_t)n);
}

const char *test_tcti(void)
{
	const char *t = getenv("VAULTFS_TEST_TCTI");

	if (!t || !*t)
		fail_msg("VAULTFS_TEST_TCTI is not set: run under tests/lib/with-swtpm");
	return t;
}

struct test_kv *test_kv_new(int64_t t0, const char *const *vaults)
{
	struct test_kv *f = calloc(1, sizeof(*f));
	struct store *s = NULL;
	struct secbuf *m = NULL;
	uint8_t master[CRYPTO_KEY_LEN];
	char path[PATH_MAX];

	if (!f || test_tmpdir(&f->dir) < 0)
		goto fail;
	snprintf(path, sizeof(path), "%s/vault.db", f->dir);
	test_random(master, sizeof(master));
	if (store_open(path, STORE_CREATE, &s) < 0 || secbuf_dup(master, sizeof(master), &m) < 0 ||
	    kv_new(s, m, &f->kv) < 0)
		goto fail;
	if (t0)
		kv_set_clock(f->kv, t0);
	for (size_t i = 0; vaults && vaults[i]; i++)
		if (kv_vault_create(f->kv, vaults[i], 7) < 0)
			goto fail;
	return f;
fail:
	test_kv_free(f);
	return NULL;
}

void test_kv_free(struct test_kv *f)
{
	if (!f)
		return;
	kv_free(f->kv);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
}

int test_pg(const char *dir, const char *verb, char *out, size_t size)
{
	char cmd[1024];
	const char *top = getenv("VAULTFS_TOP");
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s/tests/lib/pg-private.sh %s %s/pg", top ? top : ".", verb,
		 dir);
	f = popen(cmd, "r");
	if (!f)
		return -errno;
	if (out) {
		if (!fgets(out, (int)size, f))
			out[0] = '\0';
		out[strcspn(out, "\n")] = '\0';
	}
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
