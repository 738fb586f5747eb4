/* test-seal.c: unit tests for core/seal.c against a real software TPM. Run it under
 * tests/lib/with-swtpm, which starts a private swtpm and names it in VAULTFS_TEST_TCTI. Each test
 * has a temp dir with its own store and host key path: init and unseal with each sealer (tpm2,
 * host, tpm2+host), exact master keys back, init twice (-EEXIST), a store never initialised
 * (-ENOMEDIUM), an unreachable TPM (-ENODEV, nothing written), the host key file's refusals
 * (mode, owner, symlink, missing -ENOKEY, other bytes -EBADMSG), the recovery key's text form,
 * recovery with a wrong key (-EBADMSG, nothing changed) and with the right one onto another
 * sealer, the kernel keyring cache (hit without a TPM, off when the timeout is 0, dropped by
 * seal_forget, a stale entry refused, expiry), tampered meta values (-EBADMSG), and a store
 * sealed before noDA: re-sealed with noDA at its next unseal on a writable handle; the epoch
 * against the TPM NV counter (bound, advanced, rollback refused with evidence, recovery-key
 * acceptance, crash inside an advance, missing counter). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/keyring.h"
#include "core/seal.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/tpm.h"
#include "core/util.h"
#include "tests/unit/testlib.h"
#include "tests/unit/tpm-legacy.h"

#define UNREACHABLE_TCTI "swtpm:host=127.0.0.1,port=1"

struct fixture {
	char *dir;
	char db[96];
	char host_key[96];
	struct store *s;
	struct config *c;
};

static void cfg_set(char **field, const char *value)
{
	free(*field);
	*field = strdup(value);
	assert_non_null(*field);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || test_tmpdir(&f->dir) < 0) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/vault.db", f->dir);
	snprintf(f->host_key, sizeof(f->host_key), "%s/host.key", f->dir);
	if (store_open(f->db, STORE_CREATE, &f->s) < 0 || config_new_default(&f->c) < 0)
		return -1;
	cfg_set(&f->c->store_path, f->db);
	cfg_set(&f->c->host_key, f->host_key);
	cfg_set(&f->c->tcti, test_tcti());
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	(void)seal_forget(f->s); /* never leave a cached key behind */
	store_free(f->s);
	config_free(f->c);
	test_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* --- helpers --- */

/* Init with a fresh recovery key; the master key is what the first unseal gives (later unseals
 * are compared against it). */
static void init_ok(struct fixture *f, const char *sealer, struct secbuf **ret_master,
		    struct secbuf **ret_recovery)
{
	struct secbuf *m = NULL, *r = NULL;
	int k;

	cfg_set(&f->c->sealer, sealer);
	assert_int_equal(seal_is_initialised(f->s), 0);
	assert_int_equal(seal_recovery_new(&r), 0);
	k = seal_init(f->s, f->c, r);
	if (k != 0)
		fail_msg("seal_init(%s): %d", sealer, k);
	assert_int_equal(seal_is_initialised(f->s), 1);
	assert_int_equal(seal_unseal(f->s, f->c, &m), 0);
	assert_non_null(m);
	assert_int_equal(m->len, CRYPTO_KEY_LEN);
	assert_int_equal(r->len, SEAL_RECOVERY_KEY_LEN);
	assert_memory_not_equal(m->data, r->data, CRYPTO_KEY_LEN);
	*ret_master = m;
	if (ret_recovery)
		*ret_recovery = r;
	else
		secbuf_free(r);
}

static void init_fails(struct fixture *f, int r)
{
	struct secbuf *rk = NULL;

	assert_int_equal(seal_recovery_new(&rk), 0);
	assert_int_equal(seal_init(f->s, f->c, rk), r);
	secbuf_free(rk);
}

static void unseal_eq(struct fixture *f, const struct secbuf *master)
{
	struct secbuf *m = NULL;
	int r = seal_unseal(f->s, f->c, &m);

	if (r != 0)
		fail_msg("seal_unseal: %d", r);
	assert_non_null(m);
	assert_int_equal(m->len, CRYPTO_KEY_LEN);
	assert_memory_equal(m->data, master->data, CRYPTO_KEY_LEN);
	secbuf_free(m);
}

static void unseal_fails(struct fixture *f, int r)
{
	struct secbuf sentinel = { 0 };
	struct secbuf *m = &sentinel;
	int got = seal_unseal(f->s, f->c, &m);

	if (got != r)
		fail_msg("seal_unseal: got %d, expected %d", got, r);
	assert_ptr_equal(m, &sentinel);
}

/* The meta value of key (heap, *ret_len bytes), or NULL when absent. */
static uint8_t *meta(struct fixture *f, const char *key, size_t *ret_len)
{
	uint8_t *v = NULL;
	size_t n = 0;
	int r = store_meta_get(f->s, key, &v, &n);

	if (r == -ENOENT)
		return NULL;
	assert_int_equal(r, 0);
	*ret_len = n;
	return v;
}

static void assert_meta_str(struct fixture *f, const char *key, const char *want)
{
	size_t n = 0;
	uint8_t *v = meta(f, key, &n);

	assert_non_null(v);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(v, want, n);
	free(v);
}

static void meta_set(struct fixture *f, const char *key, const void *p, size_t n)
{
	assert_int_equal(store_meta_set(f->s, key, p, n), 0);
}

/* Every meta key seal.c owns, to compare before and after. */
static const char *const meta_keys[] = {
	"store_id", "sealer", "seal.tpm", "seal.master", "seal.recovery", "seal.kcv",
};

struct meta_snapshot {
	uint8_t *v[ELEMENTSOF(meta_keys)];
	size_t n[ELEMENTSOF(meta_keys)];
};

static void snapshot_take(struct fixture *f, struct meta_snapshot *ms)
{
	for (size_t i = 0; i < ELEMENTSOF(meta_keys); i++)
		ms->v[i] = meta(f, meta_keys[i], &ms->n[i]);
}

static void snapshot_check_free(struct fixture *f, struct meta_snapshot *ms)
{
	for (size_t i = 0; i < ELEMENTSOF(meta_keys); i++) {
		size_t n = 0;
		uint8_t *v = meta(f, meta_keys[i], &n);

		if (!ms->v[i] != !v)
			fail_msg("meta '%s' appeared or vanished", meta_keys[i]);
		if (v) {
			assert_int_equal(n, ms->n[i]);
			if (memcmp(v, ms->v[i], n) != 0)
				fail_msg("meta '%s' changed", meta_keys[i]);
		}
		free(v);
		free(ms->v[i]);
	}
}

/* The host key file holds exactly 32 bytes: copy them to out. */
static void read_key_file(const char *path, uint8_t out[32])
{
	uint8_t *p;
	size_t n;

	assert_int_equal(test_read_file(path, &p, &n), 0);
	assert_int_equal(n, 32);
	memcpy(out, p, 32);
	free(p);
}

/* --- tpm2 --- */

static void test_init_unseal_tpm2(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL;
	struct meta_snapshot ms;
	size_t n = 0;

	init_ok(f, "tpm2", &m, NULL);
	assert_meta_str(f, "sealer", "tpm2");
	free(meta(f, "store_id", &n));
	assert_int_equal(n, 16);
	free(meta(f, "seal.kcv", &n));
	assert_int_equal(n, CRYPTO_KEY_LEN);
	free(meta(f, "seal.master", &n));
	assert_int_equal(n, CRYPTO_WRAPPED_KEY_LEN);
	free(meta(f, "seal.recovery", &n));
	assert_int_equal(n, CRYPTO_WRAPPED_KEY_LEN);
	free(meta(f, "seal.tpm", &n));
	assert_true(n > 0);
	/* The master key is stored in no meta value. */
	for (size_t i = 0; i < ELEMENTSOF(meta_keys); i++) {
		uint8_t *v = meta(f, meta_keys[i], &n);

		assert_non_null(v);
		assert_null(memmem(v, n, m->data, 16));
		assert_null(memmem(v, n, m->data + 16, 16));
		free(v);
	}
	/* tpm2 alone makes no host key. */
	assert_int_equal(access(f->host_key, F_OK), -1);
	assert_int_equal(errno, ENOENT);

	unseal_eq(f, m);
	unseal_eq(f, m);

	/* Twice: -EEXIST, nothing changed, with any sealer. */
	snapshot_take(f, &ms);
	init_fails(f, -EEXIST);
	cfg_set(&f->c->sealer, "host");
	init_fails(f, -EEXIST);
	snapshot_check_free(f, &ms);
	assert_int_equal(access(f->host_key, F_OK), -1);

	/* A fresh handle on the same file. */
	store_free(f->s);
	assert_int_equal(store_open(f->db, 0, &f->s), 0);
	unseal_eq(f, m);
	secbuf_free(m);
}

static void test_uninitialised(void **state)
{
	struct fixture *f = *state;
	struct secbuf *rk = NULL;
	size_t n = 0;

	unseal_fails(f, -ENOMEDIUM);
	assert_int_equal(secbuf_dup("0123456789abcdef0123456789abcdef", 32, &rk), 0);
	assert_int_equal(seal_recover(f->s, f->c, rk), -ENOMEDIUM);
	assert_int_equal(seal_forget(f->s), 0);
	secbuf_free(rk);

	/* An unknown sealer in the config: -EINVAL before anything is written. */
	cfg_set(&f->c->sealer, "tpm3");
	init_fails(f, -EINVAL);
	cfg_set(&f->c->sealer, "");
	init_fails(f, -EINVAL);
	unseal_fails(f, -ENOMEDIUM);
	assert_null(meta(f, "store_id", &n));
}

static void test_init_no_tpm(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL;
	size_t n = 0;

	/* The TPM is not there: -ENODEV and the store stays uninitialised. */
	cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
	cfg_set(&f->c->sealer, "tpm2");
	init_fails(f, -ENODEV);
	cfg_set(&f->c->sealer, "tpm2+host");
	init_fails(f, -ENODEV);
	for (size_t i = 0; i < ELEMENTSOF(meta_keys); i++)
		assert_null(meta(f, meta_keys[i], &n));
	unseal_fails(f, -ENOMEDIUM);

	/* The host key cannot be made: its directory is missing. */
	cfg_set(&f->c->tcti, test_tcti());
	cfg_set(&f->c->host_key, "/nonexistent-vaultfs-dir/host.key");
	cfg_set(&f->c->sealer, "tpm2+host");
	init_fails(f, -ENOENT);
	cfg_set(&f->c->sealer, "host");
	init_fails(f, -ENOENT);
	for (size_t i = 0; i < ELEMENTSOF(meta_keys); i++)
		assert_null(meta(f, meta_keys[i], &n));

	/* And now it works. */
	cfg_set(&f->c->host_key, f->host_key);
	init_ok(f, "tpm2", &m, NULL);
	unseal_eq(f, m);
	secbuf_free(m);
}

/* --- host --- */

static void test_host_sealer(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL;
	uint8_t key[32], other[32];
	char moved[128];
	struct stat st;
	size_t n = 0;

	/* No TPM needed at all. */
	cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
	init_ok(f, "host", &m, NULL);
	assert_meta_str(f, "sealer", "host");
	assert_null(meta(f, "seal.tpm", &n));
	assert_int_equal(lstat(f->host_key, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0400);
	assert_int_equal(st.st_size, 32);
	assert_int_equal(st.st_uid, geteuid());
	read_key_file(f->host_key, key);
	unseal_eq(f, m);

	/* Group or other access: -EPERM. Owner-only modes are fine. */
	assert_int_equal(chmod(f->host_key, 0644), 0);
	unseal_fails(f, -EPERM);
	assert_int_equal(chmod(f->host_key, 0440), 0);
	unseal_fails(f, -EPERM);
	assert_int_equal(chmod(f->host_key, 0404), 0);
	unseal_fails(f, -EPERM);
	assert_int_equal(chmod(f->host_key, 0600), 0);
	unseal_eq(f, m);
	assert_int_equal(chmod(f->host_key, 0400), 0);

	/* Another owner: -EPERM. */
	assert_int_equal(chown(f->host_key, 4242, 4242), 0);
	unseal_fails(f, -EPERM);
	assert_int_equal(chown(f->host_key, geteuid(), getegid()), 0);
	unseal_eq(f, m);

	/* Missing: -ENOKEY. */
	snprintf(moved, sizeof(moved), "%s/moved.key", f->dir);
	assert_int_equal(rename(f->host_key, moved), 0);
	unseal_fails(f, -ENOKEY);

	/* A symlink to the right key, and a directory: -EPERM. */
	assert_int_equal(symlink(moved, f->host_key), 0);
	unseal_fails(f, -EPERM);
	assert_int_equal(unlink(f->host_key), 0);
	assert_int_equal(mkdir(f->host_key, 0700), 0);
	unseal_fails(f, -EPERM);
	assert_int_equal(rmdir(f->host_key), 0);

	/* Other bytes, or the wrong size: -EBADMSG. */
	test_random(other, sizeof(other));
	test_write_file(f->host_key, other, sizeof(other), 0400);
	unseal_fails(f, -EBADMSG);
	test_write_file(f->host_key, key, 31, 0400);
	unseal_fails(f, -EBADMSG);
	test_write_file(f->host_key, key, 0, 0400);
	unseal_fails(f, -EBADMSG);
	{
		uint8_t longer[33];

		memcpy(longer, key, 32);
		longer[32] = 0;
		test_write_file(f->host_key, longer, sizeof(longer), 0400);
		unseal_fails(f, -EBADMSG);
	}

	/* The right key again. */
	assert_int_equal(unlink(f->host_key), 0);
	assert_int_equal(rename(moved, f->host_key), 0);
	unseal_eq(f, m);
	secbuf_free(m);
}

static void test_host_key_given(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL;
	uint8_t key[32], got[32], other[32];

	/* A group-readable key file is refused at init, and nothing is written. */
	test_random(key, sizeof(key));
	test_write_file(f->host_key, key, sizeof(key), 0640);
	cfg_set(&f->c->sealer, "host");
	init_fails(f, -EPERM);
	unseal_fails(f, -ENOMEDIUM);

	/* An existing good key file is used as it is. */
	assert_int_equal(chmod(f->host_key, 0400), 0);
	init_ok(f, "host", &m, NULL);
	read_key_file(f->host_key, got);
	assert_memory_equal(got, key, sizeof(key));
	unseal_eq(f, m);
	test_random(other, sizeof(other));
	test_write_file(f->host_key, other, sizeof(other), 0400);
	unseal_fails(f, -EBADMSG);
	test_write_file(f->host_key, key, sizeof(key), 0400);
	unseal_eq(f, m);
	secbuf_free(m);
}

/* --- tpm2+host --- */

static void test_tpm2_host(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL;
	uint8_t key[32], other[32];
	char moved[128];
	size_t n = 0;

	init_ok(f, "tpm2+host", &m, NULL);
	assert_meta_str(f, "sealer", "tpm2+host");
	free(meta(f, "seal.tpm", &n));
	read_key_file(f->host_key, key);
	unseal_eq(f, m);

	/* Without the host key. */
	snprintf(moved, sizeof(moved), "%s/moved.key", f->dir);
	assert_int_equal(rename(f->host_key, moved), 0);
	unseal_fails(f, -ENOKEY);
	assert_int_equal(rename(moved, f->host_key), 0);
	unseal_eq(f, m);

	/* Without the TPM. */
	cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
	unseal_fails(f, -ENODEV);
	cfg_set(&f->c->tcti, test_tcti());
	unseal_eq(f, m);

	/* With another host key: the TPM's half alone does not open it. */
	test_random(other, sizeof(other));
	test_write_file(f->host_key, other, sizeof(other), 0400);
	unseal_fails(f, -EBADMSG);
	test_write_file(f->host_key, key, sizeof(key), 0400);
	unseal_eq(f, m);

	/* The TPM's sealed half changed: its blob no longer loads. */
	{
		uint8_t *blob = meta(f, "seal.tpm", &n);

		assert_non_null(blob);
		blob[n - 1] ^= 0x01;
		meta_set(f, "seal.tpm", blob, n);
		unseal_fails(f, -EBADMSG);
		blob[n - 1] ^= 0x01;
		meta_set(f, "seal.tpm", blob, n);
		free(blob);
	}
	unseal_eq(f, m);
	secbuf_free(m);
}

/* --- recovery key --- */

static void test_recovery_text(void **state)
{
	static const char *const bad[] = {
		"",
		"00010203",
		/* 63 and 65 hex digits */
		"00010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1",
		"00010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f0",
		"00010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f-00",
		/* a bad character anywhere */
		"g0010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f",
		"00010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1g",
		"00010203_04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f",
		"00010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f.",
		"0x010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f",
		"00010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1\xc3\xa9",
	};
	static const char *const good[] = {
		"00010203-04050607-08090a0b-0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f",
		"00010203-04050607-08090A0B-0C0D0E0F-10111213-14151617-18191A1B-1C1D1E1F",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
		"  00010203 04050607\n08090a0b\t0c0d0e0f-10111213-14151617-18191a1b-1c1d1e1f\n",
		"0-0-0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f--",
	};
	uint8_t seq[32];
	struct secbuf *k = NULL, *back = NULL;
	char text[SEAL_RECOVERY_TEXT_LEN];

	(void)state;
	for (int i = 0; i < 32; i++)
		seq[i] = (uint8_t)i;
	assert_int_equal(secbuf_dup(seq, sizeof(seq), &k), 0);
	memset(text, 'x', sizeof(text));
	seal_recovery_format(k, text);
	assert_string_equal(text, good[0]);
	assert_int_equal(strlen(text), SEAL_RECOVERY_TEXT_LEN - 1);
	secbuf_free(k);

	for (size_t i = 0; i < ELEMENTSOF(good); i++) {
		struct secbuf *p = NULL;

		if (seal_recovery_parse(good[i], &p) != 0)
			fail_msg("'%s' was refused", good[i]);
		assert_int_equal(p->len, 32);
		assert_memory_equal(p->data, seq, 32);
		secbuf_free(p);
	}
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		struct secbuf sentinel = { 0 };
		struct secbuf *p = &sentinel;

		if (seal_recovery_parse(bad[i], &p) != -EINVAL)
			fail_msg("'%s' was not -EINVAL", bad[i]);
		assert_ptr_equal(p, &sentinel);
	}

	/* Random keys: the text form is 8 groups of 8 lower-case hex digits and parses back. */
	for (int round = 0; round < 64; round++) {
		uint8_t raw[32];

		test_random(raw, sizeof(raw));
		assert_int_equal(secbuf_dup(raw, sizeof(raw), &k), 0);
		seal_recovery_format(k, text);
		for (size_t i = 0; i < SEAL_RECOVERY_TEXT_LEN - 1; i++) {
			if (i % 9 == 8)
				assert_int_equal(text[i], '-');
			else
				assert_non_null(strchr("0123456789abcdef", text[i]));
		}
		assert_int_equal(text[SEAL_RECOVERY_TEXT_LEN - 1], '\0');
		assert_int_equal(seal_recovery_parse(text, &back), 0);
		assert_int_equal(back->len, 32);
		assert_memory_equal(back->data, raw, 32);
		secbuf_free(back);
		secbuf_free(k);
	}
}

static void test_recover_wrong_key(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL, *rk = NULL, *wrong = NULL, *shortk = NULL;
	struct meta_snapshot ms;
	uint8_t raw[32];

	init_ok(f, "tpm2", &m, &rk);
	snapshot_take(f, &ms);

	/* A wrong key, also onto another sealer: -EBADMSG, nothing written, no host key made. */
	memcpy(raw, rk->data, 32);
	raw[31] ^= 0x01;
	assert_int_equal(secbuf_dup(raw, sizeof(raw), &wrong), 0);
	assert_int_equal(seal_recover(f->s, f->c, wrong), -EBADMSG);
	cfg_set(&f->c->sealer, "host");
	assert_int_equal(seal_recover(f->s, f->c, wrong), -EBADMSG);
	secbuf_free(wrong);
	test_random(raw, sizeof(raw));
	assert_int_equal(secbuf_dup(raw, sizeof(raw), &wrong), 0);
	assert_int_equal(seal_recover(f->s, f->c, wrong), -EBADMSG);
	assert_int_equal(access(f->host_key, F_OK), -1);

	/* The wrong length, an unknown sealer: -EINVAL. */
	assert_int_equal(secbuf_dup(rk->data, 16, &shortk), 0);
	assert_int_equal(seal_recover(f->s, f->c, shortk), -EINVAL);
	cfg_set(&f->c->sealer, "none");
	assert_int_equal(seal_recover(f->s, f->c, rk), -EINVAL);
	snapshot_check_free(f, &ms);

	unseal_eq(f, m);
	secbuf_free(shortk);
	secbuf_free(wrong);
	secbuf_free(rk);
	secbuf_free(m);
}

static void test_recover_to_host(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL, *rk = NULL, *parsed = NULL;
	char text[SEAL_RECOVERY_TEXT_LEN];
	uint8_t *recovery_before, *recovery_after;
	size_t nb = 0, na = 0;
	struct stat st;

	init_ok(f, "tpm2", &m, &rk);
	recovery_before = meta(f, "seal.recovery", &nb);
	assert_non_null(recovery_before);

	/* The TPM is gone. */
	cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
	unseal_fails(f, -ENODEV);

	/* Recover, from the text form, onto the host sealer. */
	seal_recovery_format(rk, text);
	assert_int_equal(seal_recovery_parse(text, &parsed), 0);
	cfg_set(&f->c->sealer, "host");
	assert_int_equal(seal_recover(f->s, f->c, parsed), 0);
	assert_meta_str(f, "sealer", "host");
	assert_int_equal(lstat(f->host_key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0400);
	/* The sealer to unseal with is the store's: a config still saying tpm2 does not matter. */
	cfg_set(&f->c->sealer, "tpm2");
	unseal_eq(f, m);
	/* The recovery key stays valid. */
	recovery_after = meta(f, "seal.recovery", &na);
	assert_int_equal(na, nb);
	assert_memory_equal(recovery_after, recovery_before, nb);

	/* And a new TPM later: back to tpm2, which needs the TPM again. */
	cfg_set(&f->c->tcti, test_tcti());
	assert_int_equal(seal_recover(f->s, f->c, rk), 0);
	assert_meta_str(f, "sealer", "tpm2");
	unseal_eq(f, m);
	assert_int_equal(unlink(f->host_key), 0);
	unseal_eq(f, m);
	cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
	unseal_fails(f, -ENODEV);

	free(recovery_before);
	free(recovery_after);
	secbuf_free(parsed);
	secbuf_free(rk);
	secbuf_free(m);
}

/* --- keyring cache --- */

static void keyring_name(struct fixture *f, char out[64])
{
	size_t n = 0;
	uint8_t *id = meta(f, "store_id", &n);
	int o;

	assert_non_null(id);
	assert_int_equal(n, 16);
	o = snprintf(out, 64, "vaultfs:master:");
	for (size_t i = 0; i < n; i++)
		o += snprintf(out + o, 64 - (size_t)o, "%02x", id[i]);
	free(id);
}

static void test_keyring_cache(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL, *cached = NULL;
	char desc[64];

	init_ok(f, "tpm2", &m, NULL);
	keyring_name(f, desc);
	assert_int_equal(keyring_get(desc, &cached), -ENOKEY);

	/* Off (timeout 0): nothing is cached. */
	unseal_eq(f, m);
	assert_int_equal(keyring_get(desc, &cached), -ENOKEY);

	/* On: the first unseal fills the cache, the second needs no TPM. */
	f->c->keyring_timeout = 2;
	unseal_eq(f, m);
	assert_int_equal(keyring_get(desc, &cached), 0);
	assert_int_equal(cached->len, CRYPTO_KEY_LEN);
	assert_memory_equal(cached->data, m->data, CRYPTO_KEY_LEN);
	secbuf_free(cached);
	cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
	unseal_eq(f, m);

	/* With the timeout 0 the cache is not read either. */
	f->c->keyring_timeout = 0;
	unseal_fails(f, -ENODEV);
	f->c->keyring_timeout = 2;
	unseal_eq(f, m);

	/* seal_forget drops it; twice is fine. */
	assert_int_equal(seal_forget(f->s), 0);
	unseal_fails(f, -ENODEV);
	assert_int_equal(seal_forget(f->s), 0);
	assert_int_equal(keyring_get(desc, &cached), -ENOKEY);

	/* A stale or foreign entry is not believed: dropped, and the TPM asked. */
	{
		uint8_t raw[CRYPTO_KEY_LEN];
		struct secbuf *bogus = NULL;

		test_random(raw, sizeof(raw));
		assert_int_equal(secbuf_dup(raw, sizeof(raw), &bogus), 0);
		assert_int_equal(keyring_put(desc, bogus, 60), 0);
		unseal_fails(f, -ENODEV);
		assert_int_equal(keyring_get(desc, &cached), -ENOKEY);
		assert_int_equal(keyring_put(desc, bogus, 60), 0);
		cfg_set(&f->c->tcti, test_tcti());
		unseal_eq(f, m);
		assert_int_equal(keyring_get(desc, &cached), 0);
		assert_memory_equal(cached->data, m->data, CRYPTO_KEY_LEN);
		secbuf_free(cached);
		/* A short entry too. */
		assert_int_equal(secbuf_dup(raw, 16, &cached), 0);
		assert_int_equal(keyring_put(desc, cached, 60), 0);
		secbuf_free(cached);
		cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
		unseal_fails(f, -ENODEV);
		secbuf_free(bogus);
	}

	/* The kernel expires the entry after keyring_timeout seconds. */
	cfg_set(&f->c->tcti, test_tcti());
	f->c->keyring_timeout = 2;
	unseal_eq(f, m);
	cfg_set(&f->c->tcti, UNREACHABLE_TCTI);
	unseal_eq(f, m);
	sleep(3);
	unseal_fails(f, -ENODEV);
	secbuf_free(m);
}

/* --- tampered meta values --- */

/* Change meta key to (p, n), expect unseal to fail with r, restore, expect success. */
static void tamper(struct fixture *f, const struct secbuf *m, const char *key, const void *p,
		   size_t n, int r)
{
	size_t len = 0;
	uint8_t *orig = meta(f, key, &len);

	assert_non_null(orig);
	meta_set(f, key, p, n);
	unseal_fails(f, r);
	meta_set(f, key, orig, len);
	unseal_eq(f, m);
	free(orig);
}

/* Flip one bit of byte i of meta key: unseal fails with r. */
static void tamper_flip(struct fixture *f, const struct secbuf *m, const char *key, size_t i, int r)
{
	size_t len = 0;
	uint8_t *v = meta(f, key, &len);

	assert_non_null(v);
	assert_true(i < len);
	v[i] ^= 0x04;
	tamper(f, m, key, v, len, r);
	/* and one byte short */
	tamper(f, m, key, v, len - 1, r);
	free(v);
}

/* Make the store's "seal.tpm" what a store sealed before noDA has: T sealed as a VFTPM1 blob. */
static void make_legacy(struct fixture *f)
{
	struct secbuf *t = NULL;
	uint8_t *blob, *old;
	size_t len, oldlen;

	assert_int_equal(store_meta_get(f->s, "seal.tpm", &blob, &len), 0);
	assert_int_equal(tpm_unseal(f->c->tcti, blob, len, &t), 0);
	legacy_seal(f->c->tcti, t->data, t->len, "", &old, &oldlen);
	assert_int_equal(store_meta_set(f->s, "seal.tpm", old, oldlen), 0);
	secbuf_free(t);
	free(blob);
	free(old);
}

/* The store's "seal.tpm": 1 when its object is DA-protected (sealed before noDA). */
static int meta_blob_da_protected(struct fixture *f)
{
	uint8_t *blob;
	size_t len;
	int r;

	assert_int_equal(store_meta_get(f->s, "seal.tpm", &blob, &len), 0);
	r = tpm_blob_da_protected(blob, len);
	assert_true(r >= 0);
	assert_int_equal(!!(legacy_blob_attrs(blob, len) & TPMA_OBJECT_NODA), !r);
	free(blob);
	return r;
}

/* A store sealed before noDA is sealed anew with noDA at its next unseal on a handle open for
 * writing (said to the caller), and not on a read-only one; the same master key throughout.
 * Then the TPM may go into lockout: the store unseals all the same. */
static void test_reseal_noda(void **state)
{
	struct fixture *f = *state;
	struct secbuf *master = NULL, *m = NULL;
	struct store *ro = NULL;
	int resealed = -1;

	f->c->keyring_timeout = 0; /* every unseal goes to the TPM */
	init_ok(f, "tpm2", &master, NULL);
	assert_int_equal(meta_blob_da_protected(f), 0);
	make_legacy(f);
	assert_int_equal(meta_blob_da_protected(f), 1);

	/* read-only: unsealed, left as it is */
	assert_int_equal(store_open(f->db, STORE_READONLY, &ro), 0);
	assert_int_equal(seal_unseal_noda(ro, f->c, &m, &resealed), 0);
	assert_memory_equal(m->data, master->data, CRYPTO_KEY_LEN);
	assert_int_equal(resealed, 0);
	secbuf_free(TAKE_PTR(m));
	store_free(ro);
	assert_int_equal(meta_blob_da_protected(f), 1);

	/* a lockout refuses the old blob by name */
	legacy_force_lockout(f->c->tcti);
	assert_int_equal(seal_unseal_noda(f->s, f->c, &m, &resealed), -TPM_ELOCKOUT);
	legacy_clear_lockout(f->c->tcti);

	/* writable: re-sealed with noDA */
	resealed = -1;
	assert_int_equal(seal_unseal_noda(f->s, f->c, &m, &resealed), 0);
	assert_memory_equal(m->data, master->data, CRYPTO_KEY_LEN);
	assert_int_equal(resealed, 1);
	secbuf_free(TAKE_PTR(m));
	assert_int_equal(meta_blob_da_protected(f), 0);
	resealed = -1;
	assert_int_equal(seal_unseal_noda(f->s, f->c, &m, &resealed), 0);
	assert_int_equal(resealed, 0);
	secbuf_free(TAKE_PTR(m));

	legacy_force_lockout(f->c->tcti);
	unseal_eq(f, master);
	legacy_clear_lockout(f->c->tcti);
	secbuf_free(master);
}

/* The counter tag and the "seal.epoch" record as seal.c makes them, for the tests to forge what
 * a crash or an attacker leaves. */
static void epoch_tag_of(struct fixture *f, uint8_t tag[TPM_NV_TAG_LEN], uint8_t id[16])
{
	uint8_t *v;
	size_t n;

	assert_int_equal(store_meta_get(f->s, "store_id", &v, &n), 0);
	assert_int_equal(n, 16);
	memcpy(id, v, 16);
	free(v);
	assert_int_equal(crypto_hkdf(id, 16, "vaultfs nv counter v1", tag, TPM_NV_TAG_LEN), 0);
}

static void epoch_forge(struct fixture *f, const struct secbuf *m, uint64_t epoch, uint64_t pending)
{
	uint8_t tag[TPM_NV_TAG_LEN], id[16], key[CRYPTO_KEY_LEN], rec[48 + CRYPTO_MAC_LEN];
	uint8_t msg[16 + 16 + 48];

	epoch_tag_of(f, tag, id);
	memset(rec, 0, sizeof(rec)); /* state: unset */
	for (int i = 0; i < 8; i++) {
		rec[i] = (uint8_t)(epoch >> (56 - 8 * i));
		rec[8 + i] = (uint8_t)(pending >> (56 - 8 * i));
	}
	memcpy(msg, "vaultfs epoch v2", 16);
	memcpy(msg + 16, id, 16);
	memcpy(msg + 32, rec, 48);
	assert_int_equal(crypto_hkdf(m->data, m->len, "vaultfs epoch mac v1", key, sizeof(key)), 0);
	assert_int_equal(crypto_hmac(key, msg, sizeof(msg), rec + 48), 0);
	assert_int_equal(store_meta_set(f->s, "seal.epoch", rec, sizeof(rec)), 0);
}

/* seal_epoch_advance_begin then _end, as one. */
static int epoch_advance(struct fixture *f, const struct secbuf *m, struct seal_epoch *ev)
{
	int r = seal_epoch_advance_begin(f->s, f->c, m, ev);

	if (r >= 0) {
		assert_true(ev->pending == ev->store_epoch + 1);
		r = seal_epoch_advance_end(f->s, f->c, m, ev);
	}
	return r;
}

/* The epoch against the TPM's NV counter: bound at the first open, advanced, a rolled-back
 * record refused with the evidence, the recovery key accepting it on purpose, a crash inside an
 * advance finished at the next open, an increment not ours refused, a changed record, a
 * missing counter, a read-only handle, a host-key store. */
static void test_epoch(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL, *rk = NULL, *wrong = NULL;
	struct seal_epoch ev;
	uint8_t tag[TPM_NV_TAG_LEN], id[16], *saved;
	uint64_t v0, v;
	size_t n;
	struct store *ro = NULL;

	f->c->keyring_timeout = 0;
	init_ok(f, "tpm2", &m, &rk);
	epoch_tag_of(f, tag, id);
	assert_int_equal(tpm_counter_read(f->c->tcti, tag, false, NULL, &v), -ENOENT);

	/* bound at the first open: the counter is defined */
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), 0);
	assert_true(ev.bound);
	assert_false(ev.advanced);
	v0 = ev.store_epoch;
	assert_true(ev.tpm_value == v0);
	assert_int_equal(tpm_counter_read(f->c->tcti, tag, false, NULL, &v), 0);
	assert_true(v == v0);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), 0);
	assert_false(ev.bound);
	assert_true(ev.store_epoch == v0);

	/* a copy of the record before an advance is refused, with the evidence */
	assert_int_equal(store_meta_get(f->s, "seal.epoch", &saved, &n), 0);
	assert_int_equal(epoch_advance(f, m, &ev), 0);
	assert_true(ev.advanced);
	assert_true(ev.store_epoch == v0 + 1 && ev.tpm_value == v0 + 1);
	assert_int_equal(store_meta_set(f->s, "seal.epoch", saved, n), 0);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), -ESTALE);
	assert_true(ev.store_epoch == v0 && ev.tpm_value == v0 + 1);
	assert_int_equal(epoch_advance(f, m, &ev), -ESTALE);

	/* read-only: no check (it must write) */
	assert_int_equal(store_open(f->db, STORE_READONLY, &ro), 0);
	assert_int_equal(seal_epoch_open(ro, f->c, m, &ev), -EROFS);
	store_free(ro);

	/* the recovery key accepts it, on purpose; a wrong one changes nothing */
	assert_int_equal(seal_recovery_new(&wrong), 0);
	assert_int_equal(seal_epoch_accept(f->s, f->c, wrong, &ev), -EBADMSG);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), -ESTALE);
	assert_int_equal(seal_epoch_accept(f->s, f->c, rk, &ev), 0);
	assert_true(ev.store_epoch == v0 && ev.tpm_value == v0 + 1);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), 0);
	assert_true(ev.store_epoch == v0 + 1);

	/* a crash after the counter moved, before the store recorded it: finished */
	epoch_forge(f, m, v0 + 1, v0 + 2);
	assert_int_equal(tpm_counter_increment(f->c->tcti, tag, &v), 0);
	assert_true(v == v0 + 2);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), 0);
	assert_true(ev.store_epoch == v0 + 2 && ev.tpm_value == v0 + 2);
	/* a crash before it moved: nothing to finish */
	epoch_forge(f, m, v0 + 2, v0 + 3);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), 0);
	assert_true(ev.store_epoch == v0 + 2 && ev.pending == v0 + 2 && !ev.advanced);
	assert_int_equal(epoch_advance(f, m, &ev), 0);
	assert_true(ev.store_epoch == v0 + 3 && ev.advanced);
	/* an increment no advance of ours asked for: refused */
	assert_int_equal(tpm_counter_increment(f->c->tcti, tag, &v), 0);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), -ESTALE);
	assert_true(ev.store_epoch == v0 + 3 && ev.tpm_value == v0 + 4);
	assert_int_equal(seal_epoch_accept(f->s, f->c, rk, &ev), 0);

	/* a record changed, or forged without the master key */
	assert_int_equal(store_meta_get(f->s, "seal.epoch", &saved, &n), 0);
	saved[7] ^= 1;
	assert_int_equal(store_meta_set(f->s, "seal.epoch", saved, n), 0);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), -EBADMSG);
	saved[7] ^= 1;
	assert_int_equal(store_meta_set(f->s, "seal.epoch", saved, n), 0);
	free(saved);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), 0);

	/* the counter gone (another TPM, or undefined): -ENXIO; accepted, it is made again, no
	 * lower than it was */
	assert_int_equal(tpm_counter_remove(f->c->tcti, tag), 0);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), -ENXIO);
	assert_int_equal(seal_epoch_accept(f->s, f->c, rk, &ev), 0);
	assert_true(ev.tpm_value >= v0 + 4);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), 0);

	assert_int_equal(tpm_counter_remove(f->c->tcti, tag), 0);
	secbuf_free(wrong);
	secbuf_free(rk);
	secbuf_free(m);
}

/* A store never bound whose counter exists is a copy from before the binding; a host-key store
 * has no counter. */
static void test_epoch_unbound_copy(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL;
	struct seal_epoch ev;
	uint8_t tag[TPM_NV_TAG_LEN], id[16];
	uint64_t v;

	f->c->keyring_timeout = 0;
	init_ok(f, "tpm2", &m, NULL);
	epoch_tag_of(f, tag, id);
	assert_int_equal(tpm_counter_read(f->c->tcti, tag, true, NULL, &v), 0);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), -ESTALE);
	assert_true(ev.store_epoch == 0 && ev.tpm_value == v);
	assert_int_equal(tpm_counter_remove(f->c->tcti, tag), 0);
	secbuf_free(m);
}

static void test_epoch_host(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL;
	struct seal_epoch ev;

	init_ok(f, "host", &m, NULL);
	assert_int_equal(seal_epoch_open(f->s, f->c, m, &ev), -EOPNOTSUPP);
	assert_int_equal(seal_epoch_advance_begin(f->s, f->c, m, &ev), -EOPNOTSUPP);
	secbuf_free(m);
}

static void test_tampered_meta(void **state)
{
	struct fixture *f = *state;
	struct secbuf *m = NULL, *rk = NULL;
	uint8_t key[32];
	size_t n = 0;
	uint8_t *v;

	init_ok(f, "tpm2", &m, &rk);
	for (size_t i = 0; i < CRYPTO_WRAPPED_KEY_LEN; i += 7)
		tamper_flip(f, m, "seal.master", i, -EBADMSG);
	tamper_flip(f, m, "seal.master", CRYPTO_WRAPPED_KEY_LEN - 1, -EBADMSG);
	tamper_flip(f, m, "seal.kcv", 0, -EBADMSG);
	tamper_flip(f, m, "store_id", 15, -EBADMSG);
	v = meta(f, "seal.tpm", &n);
	assert_non_null(v);
	free(v);
	tamper_flip(f, m, "seal.tpm", n - 1, -EBADMSG);
	tamper(f, m, "sealer", "bogus", 5, -EBADMSG);
	tamper(f, m, "sealer", "", 0, -EBADMSG);
	/* Claiming another sealer does not help: missing host key, or the wrong KEK. */
	tamper(f, m, "sealer", "host", 4, -ENOKEY);
	test_random(key, sizeof(key));
	test_write_file(f->host_key, key, sizeof(key), 0400);
	tamper(f, m, "sealer", "host", 4, -EBADMSG);
	tamper(f, m, "sealer", "tpm2+host", 9, -EBADMSG);

	/* A changed recovery blob: seal_recover is -EBADMSG. */
	v = meta(f, "seal.recovery", &n);
	assert_non_null(v);
	v[3] ^= 0x10;
	meta_set(f, "seal.recovery", v, n);
	assert_int_equal(seal_recover(f->s, f->c, rk), -EBADMSG);
	v[3] ^= 0x10;
	meta_set(f, "seal.recovery", v, n);
	assert_int_equal(seal_recover(f->s, f->c, rk), 0);
	unseal_eq(f, m);
	free(v);
	secbuf_free(rk);
	secbuf_free(m);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recovery_text),
		cmocka_unit_test_setup_teardown(test_init_unseal_tpm2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uninitialised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_init_no_tpm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_sealer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_key_given, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tpm2_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_wrong_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_to_host, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyring_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tampered_meta, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reseal_noda, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_unbound_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_epoch_host, setup, teardown),
	};
	const char *tcti = getenv("VAULTFS_TEST_TCTI");

	(void)argc;
	if (!tcti || !*tcti) {
		fprintf(stderr,
			"test-seal: VAULTFS_TEST_TCTI is not set; this test needs a TPM: "
			"run it as tests/lib/with-swtpm %s\n",
			argv[0]);
		return 1;
	}
	setenv("TSS2_LOG", "all+NONE", 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
