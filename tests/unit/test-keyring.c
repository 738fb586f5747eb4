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

/* --- keyring_add and fscrypt --- */

static void test_spec_parse(void **state)
{
	(void)state;
	int32_t id = 0x55;

	assert_int_equal(keyring_spec_parse("@u", &id), 0);
	assert_int_equal(id, KEY_SPEC_USER_KEYRING);
	assert_int_equal(keyring_spec_parse("@us", &id), 0);
	assert_int_equal(id, KEY_SPEC_USER_SESSION_KEYRING);
	assert_int_equal(keyring_spec_parse("@s", &id), 0);
	assert_int_equal(id, KEY_SPEC_SESSION_KEYRING);
	assert_int_equal(keyring_spec_parse("123456", &id), 0);
	assert_int_equal(id, 123456);
	assert_int_equal(keyring_spec_parse("2147483647", &id), 0);
	assert_int_equal(id, INT32_MAX);
	id = 0x55;
	/* the process and thread keyrings die with the process; there are no group keyrings */
	assert_int_equal(keyring_spec_parse("@p", &id), -EXDEV);
	assert_int_equal(keyring_spec_parse("@t", &id), -EXDEV);
	assert_int_equal(keyring_spec_parse("@g", &id), -EOPNOTSUPP);
	assert_int_equal(keyring_spec_parse("2147483648", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("0", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("-3", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("012", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("12a", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("0x10", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("@", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("@uu", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("%user:x", &id), -EINVAL);
	assert_int_equal(keyring_spec_parse(NULL, &id), -EINVAL);
	assert_int_equal(keyring_spec_parse("@u", NULL), -EINVAL);
	assert_int_equal(id, 0x55);
}

static void test_spec_resolve(void **state)
{
	(void)state;
	int32_t s = 0, u = 0, us = 0, x = 0x55;

	assert_int_equal(keyring_spec_resolve(KEY_SPEC_USER_KEYRING, &u), 0);
	assert_int_equal(u, keyctl_get_keyring_ID(KEY_SPEC_USER_KEYRING, 0));
	assert_int_equal(keyring_spec_resolve(KEY_SPEC_USER_SESSION_KEYRING, &us), 0);
	assert_int_not_equal(u, us);
	/* main() joined a session keyring of our own: @s is it, not @us */
	assert_int_equal(keyring_spec_resolve(KEY_SPEC_SESSION_KEYRING, &s), 0);
	assert_int_not_equal(s, us);
	assert_int_equal(keyring_spec_resolve(u, &x), 0);
	assert_int_equal(x, u);
	x = 0x55;
	assert_int_equal(keyring_spec_resolve(KEY_SPEC_PROCESS_KEYRING, &x), -EINVAL);
	assert_int_equal(keyring_spec_resolve(KEY_SPEC_THREAD_KEYRING, &x), -EINVAL);
	assert_int_equal(keyring_spec_resolve(KEY_SPEC_GROUP_KEYRING, &x), -EINVAL);
	assert_int_equal(keyring_spec_resolve(0, &x), -EINVAL);
	assert_int_equal(keyring_spec_resolve(INT32_MAX, &x), -ENOKEY);
	assert_int_equal(x, 0x55);
}

static void test_desc_check(void **state)
{
	(void)state;
	char longdesc[300];

	assert_int_equal(keyring_desc_check("logon", "cryptsetup:x"), 0);
	assert_int_equal(keyring_desc_check("logon", "a:"), 0);
	assert_int_equal(keyring_desc_check("user", "plain"), 0);
	assert_int_equal(keyring_desc_check("user", ":x"), 0);
	/* the kernel wants "prefix:" on a logon key */
	assert_int_equal(keyring_desc_check("logon", "plain"), -EDOM);
	assert_int_equal(keyring_desc_check("logon", ":x"), -EDOM);
	assert_int_equal(keyring_desc_check("logon", ""), -EINVAL);
	assert_int_equal(keyring_desc_check("big_key", "a:b"), -EINVAL);
	assert_int_equal(keyring_desc_check("keyring", "a:b"), -EINVAL);
	assert_int_equal(keyring_desc_check(NULL, "a:b"), -EINVAL);
	assert_int_equal(keyring_desc_check("user", NULL), -EINVAL);
	assert_int_equal(keyring_desc_check("user", "a\nb"), -EINVAL);
	memset(longdesc, 'x', 256);
	longdesc[0] = 'p';
	longdesc[1] = ':';
	longdesc[256] = '\0';
	assert_int_equal(keyring_desc_check("logon", longdesc), -EINVAL);
	longdesc[255] = '\0';
	assert_int_equal(keyring_desc_check("logon", longdesc), 0);
}

/* The serial of a key of type named desc linked in keyring, or -errno. */
static key_serial_t find_in(key_serial_t keyring, const char *type, const char *desc)
{
	key_serial_t id = keyctl_search(keyring, type, desc, 0);

	return id < 0 ? -errno : id;
}

static void add_bytes(const char *type, const char *desc, const char *spec, const void *p, size_t n,
		      unsigned timeout, int32_t *ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;

	assert_int_equal(secbuf_dup(p, n, &b), 0);
	assert_int_equal(keyring_add(type, desc, spec, b, timeout, ret), 0);
}

static void test_add_logon(void **state)
{
	(void)state;
	char desc[64], want[128], exp[16], buf[64];
	char *d = NULL;
	int32_t serial = 0, again = 0;

	snprintf(desc, sizeof(desc), "vaultfs-test:%d:logon", (int)getpid());
	add_bytes("logon", desc, "@u", val_a, sizeof(val_a), 0, &serial);
	assert_true(serial > 0);
	/* in @u, found by the serial we were told, a logon key with the kernel's default
	 * permissions (possessor all but read, the owner may view), no timeout */
	assert_int_equal(find_in(KEY_SPEC_USER_KEYRING, "logon", desc), serial);
	assert_true(keyctl_describe_alloc(serial, &d) > 0);
	snprintf(want, sizeof(want), "logon;%u;%u;3d010000;%s", (unsigned)getuid(),
		 (unsigned)getgid(), desc);
	assert_string_equal(d, want);
	free(d);
	assert_int_equal(proc_keys_expiry(serial, exp, sizeof(exp)), 0);
	assert_string_equal(exp, "perm");
	/* nobody reads a logon key back */
	assert_int_equal(keyctl_read(serial, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EOPNOTSUPP);
	/* not left in our thread keyring */
	assert_int_equal(find_in(KEY_SPEC_THREAD_KEYRING, "logon", desc), -ENOKEY);

	/* again: a new key replaces the old one's link in @u, with the timeout asked */
	add_bytes("logon", desc, "@u", val_b, sizeof(val_b), 120, &again);
	assert_int_not_equal(again, serial);
	assert_int_equal(find_in(KEY_SPEC_USER_KEYRING, "logon", desc), again);
	assert_int_equal(proc_keys_expiry(again, exp, sizeof(exp)), 0);
	assert_true(streq(exp, "1m") || streq(exp, "2m"));
	assert_int_equal(keyctl_invalidate(again), 0);
	(void)keyctl_invalidate(serial);
}

static void test_add_user_and_session(void **state)
{
	(void)state;
	char desc[64], buf[64];
	int32_t serial = 0;

	snprintf(desc, sizeof(desc), "vaultfs-test:%d:user", (int)getpid());
	/* into our session keyring (main() made one), read back exactly by its possessor */
	add_bytes("user", desc, "@s", val_a, sizeof(val_a), 60, &serial);
	assert_int_equal(find_in(KEY_SPEC_SESSION_KEYRING, "user", desc), serial);
	assert_int_equal(keyctl_read(serial, buf, sizeof(buf)), (long)sizeof(val_a));
	assert_memory_equal(buf, val_a, sizeof(val_a));
	assert_int_equal(keyctl_invalidate(serial), 0);
	/* a keyring named by its serial */
	add_bytes("user", desc, "@u", val_b, sizeof(val_b), 60, &serial);
	{
		char spec[16];
		int32_t s2 = 0;

		snprintf(spec, sizeof(spec), "%d",
			 (int)keyctl_get_keyring_ID(KEY_SPEC_SESSION_KEYRING, 0));
		add_bytes("user", desc, spec, val_a, sizeof(val_a), 60, &s2);
		assert_int_equal(find_in(KEY_SPEC_SESSION_KEYRING, "user", desc), s2);
		assert_int_equal(keyctl_invalidate(s2), 0);
	}
	assert_int_equal(keyctl_invalidate(serial), 0);
}

static void test_add_refusals(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *k = NULL, *empty = NULL, *big = NULL;
	char desc[64], spec[16];
	int32_t serial = 0x55, user = 0;

	snprintf(desc, sizeof(desc), "vaultfs-test:%d:refuse", (int)getpid());
	assert_int_equal(secbuf_dup(val_a, sizeof(val_a), &k), 0);
	assert_int_equal(secbuf_new(8, &empty), 0);
	assert_int_equal(secbuf_new(32768, &big), 0);
	big->len = 32768;

	assert_int_equal(keyring_add("logon", "noprefix", "@u", k, 0, &serial), -EDOM);
	assert_int_equal(keyring_add("asymmetric", desc, "@u", k, 0, &serial), -EINVAL);
	assert_int_equal(keyring_add("logon", desc, "@p", k, 0, &serial), -EXDEV);
	assert_int_equal(keyring_add("logon", desc, "@t", k, 0, &serial), -EXDEV);
	assert_int_equal(keyring_add("logon", desc, "@g", k, 0, &serial), -EOPNOTSUPP);
	assert_int_equal(keyring_add("logon", desc, "nope", k, 0, &serial), -EINVAL);
	assert_int_equal(keyring_add("logon", desc, "2147483647", k, 0, &serial), -ENOKEY);
	assert_int_equal(keyring_add("logon", desc, "@u", empty, 0, &serial), -EINVAL);
	assert_int_equal(keyring_add("logon", desc, "@u", NULL, 0, &serial), -EINVAL);
	assert_int_equal(keyring_add("logon", desc, "@u", k, 0, NULL), -EINVAL);
	assert_int_equal(keyring_add("logon", desc, "@u", big, 0, &serial), -EMSGSIZE);
	/* a serial that is a key, not a keyring: the kernel says so, and the key made for the
	 * link is gone again */
	add_bytes("user", desc, "@s", val_b, sizeof(val_b), 60, &user);
	snprintf(spec, sizeof(spec), "%d", (int)user);
	assert_int_equal(keyring_add("logon", desc, spec, k, 0, &serial), -ENOTDIR);
	assert_int_equal(keyctl_invalidate(user), 0);
	assert_int_equal(serial, 0x55);
	assert_int_equal(find_in(KEY_SPEC_SESSION_KEYRING, "logon", desc), -ENOKEY);
	assert_int_equal(find_in(KEY_SPEC_THREAD_KEYRING, "logon", desc), -ENOKEY);
}

static void test_fscrypt_key(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *raw = NULL, *hex = NULL;
	struct secbuf *k = NULL, *none = (struct secbuf *)0x1;
	uint8_t key[64];
	char text[130];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)(i * 37 + 5);
	/* 64 raw bytes, as they are */
	assert_int_equal(secbuf_dup(key, sizeof(key), &raw), 0);
	assert_int_equal(keyring_fscrypt_key(raw, &k), 0);
	assert_int_equal(k->len, 64);
	assert_memory_equal(k->data, key, 64);
	secbuf_free(k);
	/* 128 hex digits, lower or upper case, with or without one newline */
	hex_encode(key, sizeof(key), text);
	assert_int_equal(secbuf_new(sizeof(text), &hex), 0);
	assert_int_equal(secbuf_set(hex, text, 128), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &k), 0);
	assert_memory_equal(k->data, key, 64);
	secbuf_free(k);
	for (size_t i = 0; i < 128; i++)
		if (text[i] >= 'a' && text[i] <= 'f')
			text[i] = (char)(text[i] - 'a' + 'A');
	text[128] = '\n';
	assert_int_equal(secbuf_set(hex, text, 129), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &k), 0);
	assert_int_equal(k->len, 64);
	assert_memory_equal(k->data, key, 64);
	secbuf_free(k);
	/* anything else */
	assert_int_equal(secbuf_set(hex, text, 127), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &none), -EMSGSIZE);
	text[128] = ' ';
	assert_int_equal(secbuf_set(hex, text, 129), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &none), -EMSGSIZE);
	text[128] = '\n';
	text[129] = '\n';
	assert_int_equal(secbuf_set(hex, text, 130), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &none), -EMSGSIZE);
	text[77] = 'g';
	assert_int_equal(secbuf_set(hex, text, 128), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &none), -EINVAL);
	assert_int_equal(secbuf_set(hex, key, 32), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &none), -EMSGSIZE);
	assert_int_equal(secbuf_set(hex, key, 63), 0);
	assert_int_equal(keyring_fscrypt_key(hex, &none), -EMSGSIZE);
	assert_int_equal(keyring_fscrypt_key(NULL, &none), -EINVAL);
	assert_ptr_equal(none, (struct secbuf *)0x1);
}

static void test_fscrypt_payload(void **state)
{
	(void)state;
	_cleanup_secbuf_ struct secbuf *key = NULL, *p = NULL, *shortkey = NULL;
	uint8_t raw[64];
	uint32_t u;

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(255 - i);
	assert_int_equal(secbuf_dup(raw, sizeof(raw), &key), 0);
	assert_int_equal(keyring_fscrypt_payload(key, &p), 0);
	/* struct fscrypt_key { __u32 mode; __u8 raw[64]; __u32 size; }, host order */
	assert_int_equal(p->len, 72);
	memcpy(&u, p->data, 4);
	assert_int_equal(u, 0);
	assert_memory_equal(p->data + 4, raw, 64);
	memcpy(&u, p->data + 68, 4);
	assert_int_equal(u, 64);
	assert_int_equal(secbuf_dup(raw, 32, &shortkey), 0);
	assert_int_equal(keyring_fscrypt_payload(shortkey, &p), -EINVAL);
	assert_int_equal(keyring_fscrypt_payload(NULL, &p), -EINVAL);
}

static void test_fscrypt_desc(void **state)
{
	(void)state;
	char buf[KEYRING_FSCRYPT_DESC_MAX];

	assert_int_equal(keyring_fscrypt_desc("0123456789abcdef", buf), 0);
	assert_string_equal(buf, "fscrypt:0123456789abcdef");
	assert_int_equal(keyring_fscrypt_desc("fscrypt:0123456789ABCDEF", buf), 0);
	assert_string_equal(buf, "fscrypt:0123456789abcdef");
	assert_int_equal(keyring_fscrypt_desc("ext4:A0b1C2d3E4f5a6b7", buf), 0);
	assert_string_equal(buf, "ext4:a0b1c2d3e4f5a6b7");
	assert_int_equal(keyring_fscrypt_desc("f2fs:0000000000000000", buf), 0);
	assert_string_equal(buf, "f2fs:0000000000000000");
	assert_int_equal(keyring_fscrypt_desc("ubifs:ffffffffffffffff", buf), 0);
	assert_string_equal(buf, "ubifs:ffffffffffffffff");
	strcpy(buf, "untouched");
	assert_int_equal(keyring_fscrypt_desc("0123456789abcde", buf), -EINVAL);
	assert_int_equal(keyring_fscrypt_desc("0123456789abcdef0", buf), -EINVAL);
	assert_int_equal(keyring_fscrypt_desc("0123456789abcdeg", buf), -EINVAL);
	assert_int_equal(keyring_fscrypt_desc("fscrypt:", buf), -EINVAL);
	assert_int_equal(keyring_fscrypt_desc("xfs:0123456789abcdef", buf), -EINVAL);
	assert_int_equal(keyring_fscrypt_desc("fscrypt:fscrypt:0123456789abcdef", buf), -EINVAL);
	assert_int_equal(keyring_fscrypt_desc("", buf), -EINVAL);
	assert_int_equal(keyring_fscrypt_desc(NULL, buf), -EINVAL);
	assert_string_equal(buf, "untouched");
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
		cmocka_unit_test(test_put_get),
		cmocka_unit_test(test_get_missing),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_perm_and_timeout),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_other_process),
		cmocka_unit_test(test_spec_parse),
		cmocka_unit_test(test_spec_resolve),
		cmocka_unit_test(test_desc_check),
		cmocka_unit_test(test_add_logon),
		cmocka_unit_test(test_add_user_and_session),
		cmocka_unit_test(test_add_refusals),
		cmocka_unit_test(test_fscrypt_key),
		cmocka_unit_test(test_fscrypt_payload),
		cmocka_unit_test(test_fscrypt_desc),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
