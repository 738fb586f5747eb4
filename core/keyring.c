/* keyring.c: the kernel keyring (libkeyutils), for two jobs.
 *
 * 1. Caches the unsealed master key as a "user" key in the caller's user keyring, possessor-only
 * (KEY_POS_ALL, no user/group/other bits) and with a timeout, so that a restarted daemon or an
 * offline vaultctl of the same uid need not wait on the TPM. The kernel decides possession by
 * walking the calling thread's, process's and session's keyrings, and a daemon whose session
 * keyring does not link the user keyring (systemd's default KeyringMode=private, or `keyctl
 * session -`) does not possess what is in @u, even after finding it there. So every operation
 * first links the key into the calling thread's keyring, which makes it possessed, and unlinks it
 * when done: put builds the key in the thread keyring, sets its permissions and timeout, and only
 * then links it into @u (displacing an older key of the same name at once); get searches @u with
 * the thread keyring as destination before reading.
 *
 * 2. keyring_add places a value given to it as a "logon" or "user" key in a keyring that
 * outlives the caller (for dm-crypt, fscrypt and other programs), built the same way: in the
 * thread keyring first, its timeout set, then linked; and builds fscrypt's v1 key payload.
 *
 * This module must never copy a key or payload into memory that is not a secbuf (no
 * keyctl_read_alloc), never leave a key in a keyring without its permissions and timeout, and
 * never log or print. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <keyutils.h>
#include <linux/fscrypt.h>

#include "core/keyring.h"
#include "core/secbuf.h"
#include "core/util.h"

/* A description is printable ASCII; the kernel allows up to 4095 bytes, we need far fewer. */
#define KEYRING_DESC_MAX 255u
/* The "user" key type holds at most 32767 bytes. */
#define KEYRING_PAYLOAD_MAX 32767u
/* How often keyring_get rereads a key whose size changed under it. */
#define KEYRING_READ_TRIES 3

static const char key_type[] = "user";

static bool desc_valid(const char *desc)
{
	size_t n;

	if (!desc)
		return false;
	n = strnlen(desc, KEYRING_DESC_MAX + 1);
	if (n == 0 || n > KEYRING_DESC_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (desc[i] < 0x20 || desc[i] > 0x7e)
			return false;
	return true;
}

/* The kernel reports a key that is gone in three ways; callers see one. */
static int keyctl_errno(void)
{
	int r = negative_errno();

	if (r == -EKEYEXPIRED || r == -EKEYREVOKED)
		return -ENOKEY;
	return r;
}

/* Find desc in the user keyring and link it into the thread keyring, so the key is possessed
 * until unpossess(). */
static int possess(const char *desc, key_serial_t *ret_id)
{
	key_serial_t id = 0; /* set by possess(); gcc -O1 cannot tell */

	id = keyctl_search(KEY_SPEC_USER_KEYRING, key_type, desc, KEY_SPEC_THREAD_KEYRING);
	if (id < 0)
		return keyctl_errno();
	*ret_id = id;
	return 0;
}

static void unpossess(key_serial_t id)
{
	int saved = errno;

	(void)keyctl_unlink(id, KEY_SPEC_THREAD_KEYRING);
	errno = saved;
}

int keyring_put(const char *desc, const struct secbuf *key, unsigned timeout_sec)
{
	key_serial_t id = 0; /* set by possess(); gcc -O1 cannot tell */
	int r;

	if (!desc_valid(desc) || !key || !key->data || key->len == 0 || timeout_sec == 0)
		return -EINVAL;
	if (key->len > KEYRING_PAYLOAD_MAX)
		return -EMSGSIZE;

	/* Built where only this thread can reach it; visible in @u only once it is restricted. */
	id = add_key(key_type, desc, key->data, key->len, KEY_SPEC_THREAD_KEYRING);
	if (id < 0)
		return negative_errno();
	if (keyctl_setperm(id, KEY_POS_ALL) < 0 || keyctl_set_timeout(id, timeout_sec) < 0 ||
	    keyctl_link(id, KEY_SPEC_USER_KEYRING) < 0) {
		r = negative_errno();
		(void)keyctl_invalidate(id);
		unpossess(id);
		return r;
	}
	unpossess(id);
	return 0;
}

int keyring_get(const char *desc, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	key_serial_t id = 0; /* set by possess(); gcc -O1 cannot tell */
	long n;
	int r;

	if (!desc_valid(desc) || !ret)
		return -EINVAL;

	r = possess(desc, &id);
	if (r < 0)
		return r;

	/* Read straight into locked memory, sized by a first call. If the key grew in between,
	 * the kernel copied a truncated prefix: wipe it and read again. */
	for (int tries = 0;; tries++) {
		if (tries == KEYRING_READ_TRIES) {
			r = -EAGAIN;
			goto out;
		}
		n = keyctl_read(id, NULL, 0);
		if (n < 0) {
			r = keyctl_errno();
			goto out;
		}
		if (n == 0 || (unsigned long)n > KEYRING_PAYLOAD_MAX) {
			r = -EBADMSG;
			goto out;
		}
		secbuf_free(b);
		b = NULL;
		r = secbuf_new((size_t)n, &b);
		if (r < 0)
			goto out;
		n = keyctl_read(id, (char *)b->data, b->cap);
		if (n < 0) {
			r = keyctl_errno();
			goto out;
		}
		if (n > 0 && (size_t)n <= b->cap)
			break;
	}
	b->len = (size_t)n;
	*ret = TAKE_PTR(b);
	r = 0;
out:
	unpossess(id);
	return r;
}

int keyring_drop(const char *desc)
{
	key_serial_t id = 0; /* set by possess(); gcc -O1 cannot tell */
	int r;

	if (!desc_valid(desc))
		return -EINVAL;

	r = possess(desc, &id);
	if (r == -ENOKEY)
		return 0;
	if (r < 0)
		return r;
	/* Invalidation removes the key from every keyring at once, including other threads'
	 * transient links; unlinking from @u alone would leave those alive. */
	if (keyctl_invalidate(id) < 0) {
		r = keyctl_errno();
		if (r != -ENOKEY && keyctl_unlink(id, KEY_SPEC_USER_KEYRING) == 0)
			r = 0;
	}
	unpossess(id);
	return r == -ENOKEY ? 0 : r;
}

/* --- keyring_add and the fscrypt payload --- */

static const struct {
	const char *name;
	int32_t id; /* 0: refused with err */
	int err;
} keyring_specs[] = {
	{ "@u", KEY_SPEC_USER_KEYRING, 0 },
	{ "@us", KEY_SPEC_USER_SESSION_KEYRING, 0 },
	{ "@s", KEY_SPEC_SESSION_KEYRING, 0 },
	{ "@p", 0, -EXDEV },
	{ "@t", 0, -EXDEV },
	{ "@g", 0, -EOPNOTSUPP },
};

int keyring_spec_parse(const char *spec, int32_t *ret_id)
{
	unsigned long v = 0;

	if (!spec || !ret_id)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(keyring_specs); i++)
		if (streq(spec, keyring_specs[i].name)) {
			if (keyring_specs[i].err)
				return keyring_specs[i].err;
			*ret_id = keyring_specs[i].id;
			return 0;
		}
	/* a decimal serial: digits only, no sign, no leading zero, within int32_t */
	if (spec[0] < '1' || spec[0] > '9' || strlen(spec) > 10)
		return -EINVAL;
	for (const char *p = spec; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > INT32_MAX)
		return -EINVAL;
	*ret_id = (int32_t)v;
	return 0;
}

int keyring_spec_resolve(int32_t id, int32_t *ret_serial)
{
	key_serial_t serial;

	if (!ret_serial || (id <= 0 && id != KEY_SPEC_USER_KEYRING &&
			    id != KEY_SPEC_USER_SESSION_KEYRING && id != KEY_SPEC_SESSION_KEYRING))
		return -EINVAL;
	/* create = 0: "@s" without a session keyring answers the user-session keyring */
	serial = keyctl_get_keyring_ID(id, 0);
	if (serial < 0)
		return keyctl_errno();
	*ret_serial = serial;
	return 0;
}

int keyring_desc_check(const char *type, const char *desc)
{
	const char *colon;

	if (!type || (!streq(type, "logon") && !streq(type, "user")) || !desc_valid(desc))
		return -EINVAL;
	/* the kernel's logon_vet_description: a ':' that is not the first character */
	colon = strchr(desc, ':');
	if (streq(type, "logon") && (!colon || colon == desc))
		return -EDOM;
	return 0;
}

int keyring_add(const char *type, const char *desc, const char *spec, const struct secbuf *payload,
		unsigned timeout_sec, int32_t *ret_serial)
{
	int32_t id = 0, target = 0;
	key_serial_t key;
	int r;

	r = keyring_desc_check(type, desc);
	if (r < 0)
		return r;
	if (!payload || !payload->data || payload->len == 0 || !ret_serial)
		return -EINVAL;
	if (payload->len > KEYRING_PAYLOAD_MAX)
		return -EMSGSIZE;
	r = keyring_spec_parse(spec, &id);
	if (r < 0)
		return r;
	r = keyring_spec_resolve(id, &target);
	if (r < 0)
		return r;

	/* Built where only this thread can reach it; linked into the target once it has its
	 * timeout (the link displaces a key of the same type and description there). */
	key = add_key(type, desc, payload->data, payload->len, KEY_SPEC_THREAD_KEYRING);
	if (key < 0)
		return keyctl_errno();
	if ((timeout_sec > 0 && keyctl_set_timeout(key, timeout_sec) < 0) ||
	    keyctl_link(key, target) < 0) {
		r = keyctl_errno();
		(void)keyctl_invalidate(key);
		unpossess(key);
		return r;
	}
	unpossess(key);
	*ret_serial = key;
	return 0;
}

/* A hex digit of either case: its value, or -1. */
static int hex_nibble(uint8_t c)
{
	if (c >= 'A' && c <= 'F')
		c = (uint8_t)(c - 'A' + 'a');
	return hex_digit((char)c);
}

int keyring_fscrypt_key(const struct secbuf *value, struct secbuf **ret_key)
{
	_cleanup_secbuf_ struct secbuf *k = NULL;
	const size_t hexlen = 2 * KEYRING_FSCRYPT_KEY_SIZE;
	int r;

	if (!value || !value->data || !ret_key)
		return -EINVAL;
	if (value->len == KEYRING_FSCRYPT_KEY_SIZE)
		return secbuf_dup(value->data, value->len, ret_key);
	if (value->len != hexlen && !(value->len == hexlen + 1 && value->data[hexlen] == '\n'))
		return -EMSGSIZE;
	r = secbuf_new(KEYRING_FSCRYPT_KEY_SIZE, &k);
	if (r < 0)
		return r;
	for (size_t i = 0; i < KEYRING_FSCRYPT_KEY_SIZE; i++) {
		int hi = hex_nibble(value->data[2 * i]), lo = hex_nibble(value->data[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		k->data[i] = (uint8_t)(hi << 4 | lo);
	}
	k->len = KEYRING_FSCRYPT_KEY_SIZE;
	*ret_key = TAKE_PTR(k);
	return 0;
}

int keyring_fscrypt_payload(const struct secbuf *key, struct secbuf **ret_payload)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	struct fscrypt_key *fk;
	int r;

	if (!key || !key->data || key->len != KEYRING_FSCRYPT_KEY_SIZE || !ret_payload)
		return -EINVAL;
	r = secbuf_new(sizeof(*fk), &b);
	if (r < 0)
		return r;
	/* the buffer is page-aligned: the struct may live in it */
	fk = (struct fscrypt_key *)(void *)b->data;
	memset(fk, 0, sizeof(*fk));
	fk->mode = 0; /* unused by the kernel for v1 keys: the policy names the modes */
	memcpy(fk->raw, key->data, key->len);
	fk->size = (uint32_t)key->len;
	b->len = sizeof(*fk);
	*ret_payload = TAKE_PTR(b);
	return 0;
}

int keyring_fscrypt_desc(const char *in, char buf[static KEYRING_FSCRYPT_DESC_MAX])
{
	static const char *const prefixes[] = { FSCRYPT_KEY_DESC_PREFIX,
						"ext4:", "f2fs:", "ubifs:" };
	const char *prefix = FSCRYPT_KEY_DESC_PREFIX, *hex = in;
	char low[2 * FSCRYPT_KEY_DESCRIPTOR_SIZE + 1];

	if (!in || !buf)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
		if (strncmp(in, prefixes[i], strlen(prefixes[i])) == 0) {
			prefix = prefixes[i];
			hex = in + strlen(prefixes[i]);
		}
	if (strlen(hex) != 2 * FSCRYPT_KEY_DESCRIPTOR_SIZE)
		return -EINVAL;
	for (size_t i = 0; i < 2 * FSCRYPT_KEY_DESCRIPTOR_SIZE; i++) {
		int v = hex_nibble((uint8_t)hex[i]);

		if (v < 0)
			return -EINVAL;
		low[i] = "0123456789abcdef"[v];
	}
	low[2 * FSCRYPT_KEY_DESCRIPTOR_SIZE] = '\0';
	snprintf(buf, KEYRING_FSCRYPT_DESC_MAX, "%s%s", prefix, low);
	return 0;
}
