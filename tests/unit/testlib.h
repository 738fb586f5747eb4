/* testlib.h: what the cmocka unit tests share: a temp dir per test, whole-file writes and
 * reads, test bytes (deterministic or random) and the TCTI of the test's software TPM. Every
 * helper that can fail fails the running test through a cmocka assertion, except where a
 * return value says otherwise. Include it after <cmocka.h>. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Make a new empty directory /tmp/<program name>.XXXXXX, mode 0700; its path, on the heap, in
 * *ret_dir. 0 or -errno (for a setup function to report; it asserts nothing). */
int test_tmpdir(char **ret_dir);

/* A private PostgreSQL for the fleet's tests: tests/lib/pg-private.sh VERB DIR/pg (from
 * $VAULTFS_TOP, else "."), the first line it prints (start: its conninfo) into out (size
 * bytes; out may be NULL). Its exit status, or -errno / -1 when it could not be run. */
int test_pg(const char *dir, const char *verb, char *out, size_t size);

/* Remove dir and everything below it, symlinks not followed. Best effort; NULL is a no-op. */
void test_rmtree(const char *dir);

/* Replace whatever is at path (a symlink is removed, not followed) with a new regular file of
 * exactly this mode holding the n bytes at p. */
void test_write_file(const char *path, const void *p, size_t n, mode_t mode);

/* Read the whole file at path: 0, with a heap copy in *ret_data (a NUL added after the last
 * byte) and its length in *ret_size; or the -errno of the open (e.g. -ENOENT). */
int test_read_file(const char *path, uint8_t **ret_data, size_t *ret_size);

/* n deterministic bytes, different for each seed, with a NUL at every fifth byte. */
void test_fill(void *p, size_t n, unsigned seed);

/* n bytes from getrandom(). */
void test_random(void *p, size_t n);

/* VAULTFS_TEST_TCTI, set by tests/lib/with-swtpm; the test fails when it is not set. */
const char *test_tcti(void);

/* The store fixture of the kv tests: a new temp dir holding vault.db, a fresh store under a
 * random master key, a kv on it with its clock at t0 (0: the real clock) and one vault (7
 * days' retention) for each name of the NULL-ended vaults. The whole struct is on the heap:
 * test_kv_free() undoes it all (NULL: nothing). NULL when any step fails, for a setup
 * function to report. */
struct kv;
struct test_kv {
	char *dir;
	struct kv *kv;
};
struct test_kv *test_kv_new(int64_t t0, const char *const *vaults);
void test_kv_free(struct test_kv *f);
