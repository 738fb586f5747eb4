/* test-keyring.c: unit tests for core/keyring.c against the real kernel keyring: exact bytes
 * back, absent/expired/dropped keys, replacement, possessor-only permissions and a timeout on the
 * key in @u, refusals, and that another process of the same uid, even in a session keyring that
 * does not link @u (systemd's KeyringMode=private), can put and get while a plain read by id
 * from such a process is refused. Keys are named per test process and dropped afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <keyutils.h>

#include "core/keyring.h"
#include "core/secbuf.h"
#include "core/util.h"

static const uint8_t val_a[32] = {
	0x00, 0xff, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90,
	0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
	0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x00,
};
static const uint8_t val_b[5] = { 'h', 'e', 'l', 'l', 'o' };

static void name(char *buf, size_t n, const char *what)
{
	snprintf(buf, n, "vaultfs-test:%d:%s", (int)getpid(), what);
}

static void put_bytes(const char *desc, const void *p, size_t n, unsigned timeout)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;

	assert_int_equal(secbuf_dup(p, n, &b), 0);
	assert_int_equal(keyring_put(desc, b, timeout), 0);
}

static void assert_get(const char *desc, const void *p, size_t n)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;

	assert_int_equal(keyring_get(desc, &b), 0);
	assert_non_null(b);
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, p, n);
}

/* The id of desc in @u, made possessed through the thread keyring for describe. */
static key_serial_t lookup(const char *desc)
{
	return keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, KEY_SPEC_THREAD_KEYRING);
}

/* How many links in @u point at a "user" key named desc. */
static int count_in_user_keyring(const char *desc)
{
	void *list = NULL;
	long n;
	int count = 0;

	n = keyctl_read_alloc(KEY_SPEC_USER_KEYRING, &list);
	assert_true(n >= 0);
	for (size_t i = 0; i < (size_t)n / sizeof(key_serial_t); i++) {
		key_serial_t id = ((key_serial_t *)list)[i];
		char *d = NULL;

		if (keyctl_describe_alloc(id, &d) < 0)
			continue;
		if (strncmp(d, "user;", 5) == 0 && strlen(d) > strlen(desc) &&
		    streq(d + strlen(d) - strlen(desc), desc) &&
		    d[strlen(d) - strlen(desc) - 1] == ';')
			count++;
		free(d);
	}
	free(list);
	return count;
}

/* The expiry column of /proc/keys for id ("perm" when the key never expires). */
static int proc_keys_expiry(key_serial_t id, char *ret, size_t n)
{
	char line[512], exp[16];
	unsigned kid;
	FILE *f;
	int r = -ENOENT;

	f = fopen("/proc/keys", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%x %*s %*d %15s", &kid, exp) == 2 && (key_serial_t)kid == id) {
			snprintf(ret, n, "%s", exp);
			r = 0;
			break;
		}
	fclose(f);
	return r;
}

static void test_put_get(void **state)
{
	(void)state;
	char desc[64];

	name(desc, sizeof(desc), "putget");
	put_bytes(desc, val_a, sizeof(val_a), 60);
	assert_get(desc, val_a, sizeof(val_a));
	/* reading does not consume it */
	assert_get(desc, val_a, sizeof(val_a));
	assert_int_equal(count_in_user_keyring(desc), 1);
	assert_int_equal(keyring_drop(desc), 0);
}

static void test_get_missing(void **state)
{
	(void)state;
	struct secbuf *b = (struct secbuf *)0x1;
	char desc[64];

	name(desc, sizeof(desc), "missing");
	assert_int_equal(keyring_get(desc, &b), -ENOKEY);
	assert_ptr_equal(b, (struct secbuf *)0x1);
}

static void test_expiry(void **state)
{
	(void)state;
	struct secbuf *b = (struct secbuf *)0x1;
	char desc[64];

	name(desc, sizeof(desc), "expiry");
	put_bytes(desc, val_b, sizeof(val_b), 1);
	sleep(2);
	assert_int_equal(keyring_get(desc, &b), -ENOKEY);
	assert_ptr_equal(b, (struct secbuf *)0x1);
	/* dropping an expired key is not an error */
	assert_int_equal(keyring_drop(desc), 0);
}

static void test_drop(void **state)
{
	(void)state;
	struct secbuf *b = (struct secbuf *)0x1;
	char desc[64];

	name(desc, sizeof(desc), "drop");
	put_bytes(desc, val_a, sizeof(val_a), 60);
	assert_int_equal(keyring_drop(desc), 0);
	assert_int_equal(keyring_get(desc, &b), -ENOKEY);
	assert_int_equal(count_in_user_keyring(desc), 0);
	/* absent: still 0 */
	assert_int_equal(keyring_drop(desc), 0);
	assert_ptr_equal(b, (struct secbuf *)0x1);
}

static void test_replace(void **state)
{
	(void)state;
	char desc[64];

	name(desc, sizeof(desc), "replace");
	put_bytes(desc, val_a, sizeof(val_a), 60);
	put_bytes(desc, val_b, sizeof(val_b), 60);
	assert_get(desc, val_b, sizeof(val_b));
	assert_int_equal(count_in_user_keyring(desc), 1);
	put_bytes(desc, val_a, sizeof(val_a), 60);
	assert_get(desc, val_a, sizeof(val_a));
	assert_int_equal(count_in_user_keyring(desc), 1);
	assert_int_equal(keyring_drop(desc), 0);
}

static void test_perm_and_timeout(void **state)
{
	(void)state;
	char desc[64], want[128], exp[16];
	char *d = NULL;
	key_serial_t id;

	name(desc, sizeof(desc), "perm");
	put_bytes(desc, val_a, sizeof(val_a), 300);
	id = lookup(desc);
	assert_true(id > 0);
	assert_true(keyctl_describe_alloc(id, &d) > 0);
	/* possessor: view read write search link setattr; user, group, other: nothing */
	snprintf(want, sizeof(want), "user;%u;%u;3f000000;%s", (unsigned)getuid(),
		 (unsigned)getgid(), desc);
	assert_string_equal(d, want);
	free(d);
	/* a timeout is set: /proc/keys shows time left ("4m" for 300 s), not "perm" */
	assert_int_equal(proc_keys_expiry(id, exp, sizeof(exp)), 0);
	assert_string_not_equal(exp, "perm");
	assert_true(streq(exp, "4m") || streq(exp, "5m"));
	assert_int_equal(keyctl_unlink(id, KEY_SPEC_THREAD_KEYRING), 0);
	assert_int_equal(keyring_drop(desc), 0);
}

static void test_refusals(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *k = NULL, *empty = NULL;
	struct secbuf *b = (struct secbuf *)0x1;
	char desc[64], longdesc[300];

	name(desc, sizeof(desc), "refuse");
	assert_int_equal(secbuf_dup(val_a, sizeof(val_a), &k), 0);
	assert_int_equal(secbuf_new(8, &empty), 0);

	assert_int_equal(keyring_put(desc, k, 0), -EINVAL);
	assert_int_equal(keyring_put("", k, 60), -EINVAL);
	assert_int_equal(keyring_put(NULL, k, 60), -EINVAL);
	assert_int_equal(keyring_put("bad\nname", k, 60), -EINVAL);
	assert_int_equal(keyring_put("bad\x7fname", k, 60), -EINVAL);
	assert_int_equal(keyring_put("bad\xc3\xa9name", k, 60), -EINVAL);
	memset(longdesc, 'x', 256);
	longdesc[256] = '\0';
	assert_int_equal(keyring_put(longdesc, k, 60), -EINVAL);
	assert_int_equal(keyring_put(desc, NULL, 60), -EINVAL);
	assert_int_equal(keyring_put(desc, empty, 60), -EINVAL);
	/* nothing was stored by any of them */
	assert_int_equal(keyring_get(desc, &b), -ENOKEY);
	assert_int_equal(count_in_user_keyring(desc), 0);

	assert_int_equal(keyring_get("", &b), -EINVAL);
	assert_int_equal(keyring_get("a\tb", &b), -EINVAL);
	assert_int_equal(keyring_get(desc, NULL), -EINVAL);
	assert_int_equal(keyring_drop(""), -EINVAL);
	assert_int_equal(keyring_drop(NULL), -EINVAL);
	assert_ptr_equal(b, (struct secbuf *)0x1);

	/* 255 printable bytes is the longest name */
	longdesc[255] = '\0';
	assert_int_equal(keyring_put(longdesc, k, 60), 0);
	assert_get(longdesc, val_a, sizeof(val_a));
	assert_int_equal(keyring_drop(longdesc), 0);
}

/* Child exit codes: 0 ok, anything else names the step that failed. */
static int child_private_session(const char *desc, const char *desc2)
{
	struct secbuf *b = NULL;
	char buf[64];
	key_serial_t id;

	/* A fresh anonymous session keyring that does not link @u, as systemd gives a service. */
	if (keyctl_join_session_keyring(NULL) < 0)
		return 10;
	/* @u is searchable, but a plain read by id is refused: we do not possess the key. */
	id = keyctl_search(KEY_SPEC_USER_KEYRING, "user", desc, 0);
	if (id < 0)
		return 11;
	if (keyctl_read(id, buf, sizeof(buf)) != -1 || errno != EACCES)
		return 12;
	/* keyring_get still reads it, and exactly. */
	if (keyring_get(desc, &b) < 0)
		return 13;
	if (b->len != sizeof(val_a) || memcmp(b->data, val_a, sizeof(val_a)) != 0)
		return 14;
	secbuf_free(b);
	b = NULL;
	/* ...and can put a key that the parent then reads. */
	if (secbuf_dup(val_b, sizeof(val_b), &b) < 0 || keyring_put(desc2, b, 60) < 0)
		return 15;
	secbuf_free(b);
	return 0;
}

static void test_other_process(void **state)
{
	(void)state;
	char desc[64], desc2[64];
	int status;
	pid_t pid;

	name(desc, sizeof(desc), "xproc");
	name(desc2, sizeof(desc2), "xproc-child");
	put_bytes(desc, val_a, sizeof(val_a), 60);

	/* Same session: a second process finds and reads it. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct secbuf *b = NULL;

		if (keyring_get(desc, &b) < 0)
			_exit(1);
		if (b->len != sizeof(val_a) || memcmp(b->data, val_a, sizeof(val_a)) != 0)
			_exit(2);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_private_session(desc, desc2));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	assert_get(desc2, val_b, sizeof(val_b));
	assert_int_equal(keyring_drop(desc), 0);
	assert_int_equal(keyring_drop(desc2), 0);
}

int main(void)
{
	/* Run in a session keyring of our own that links @u, as a login session does, whatever
	 * session the test was started from; the private-session case is tested in a child. */
	if (keyctl_join_session_keyring(NULL) < 0 ||
	    keyctl_link(KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING) < 0) {
		perror("test-keyring: cannot set up a session keyring");
		return 1;
	}

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get),	 cmocka_unit_test(test_get_missing),
		cmocka_unit_test(test_expiry),	 cmocka_unit_test(test_drop),
		cmocka_unit_test(test_replace),	 cmocka_unit_test(test_perm_and_timeout),
		cmocka_unit_test(test_refusals), cmocka_unit_test(test_other_process),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
