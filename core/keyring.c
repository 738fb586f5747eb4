/* keyring.c: caches the unsealed master key in the kernel keyring (libkeyutils) as a "user" key
 * in the caller's user keyring, possessor-only (KEY_POS_ALL, no user/group/other bits) and with
 * a timeout, so that a restarted daemon or an offline vaultctl of the same uid need not wait on
 * the TPM. The kernel decides possession by walking the calling thread's, process's and
 * session's keyrings, and a daemon whose session keyring does not link the user keyring (systemd's
 * default KeyringMode=private, or `keyctl session -`) does not possess what is in @u, even after
 * finding it there. So every operation first links the key into the calling thread's keyring,
 * which makes it possessed, and unlinks it when done: put builds the key in the thread keyring,
 * sets its permissions and timeout, and only then links it into @u (displacing an older key of
 * the same name at once); get searches @u with the thread keyring as destination before reading.
 * This module must never copy the key into memory that is not a secbuf (no keyctl_read_alloc),
 * never leave a key in @u without its permissions and timeout, and never log or print. */
#include <errno.h>
#include <string.h>

#include <keyutils.h>

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
