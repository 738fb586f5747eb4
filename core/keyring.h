/* keyring.h: optional cache of the unsealed master key in the kernel keyring (libkeyutils), so
 * a restarted daemon or an offline vaultctl need not wait on the TPM. The key is a "user" key in
 * the caller's user keyring with possessor-only permissions and a timeout; the kernel removes
 * it when the timeout passes. And keyring_add below: a value placed in a keyring for the kernel
 * (dm-crypt, fscrypt) or another program, with fscrypt's v1 key payload. */
#pragma once

#include <stdint.h>

#include "secbuf.h"

/* Add or replace the key named desc with the bytes of key, expiring after timeout_sec seconds
 * (must be > 0). */
int keyring_put(const char *desc, const struct secbuf *key, unsigned timeout_sec);
/* Read the key named desc into a new secure buffer. -ENOKEY when absent, expired or revoked. */
int keyring_get(const char *desc, struct secbuf **ret);
/* Remove the key named desc; 0 also when it was not there. */
int keyring_drop(const char *desc);

/* --- placing a value in a keyring for the kernel (dm-crypt, fscrypt) or another program ---
 *
 * keyring_add puts payload as a key of type "logon" (userspace can never read it back: the form
 * dm-crypt and fscrypt look up) or "user" (readable by its possessor) into a keyring that
 * outlives the calling process. The key is built in the thread keyring, given its timeout, and
 * only then linked into the target (replacing a key of the same type and description there), so
 * it is never visible without its timeout. The kernel's default permissions stay: possessor
 * all (no read for logon), the owner's uid may view. */

/* Keyring specs, as keyctl(1) spells them. */
#define KEYRING_SPEC_USAGE "@u, @us, @s or a keyring's serial number"
/* "@u" (KEY_SPEC_USER_KEYRING), "@us" (KEY_SPEC_USER_SESSION_KEYRING), "@s"
 * (KEY_SPEC_SESSION_KEYRING), or a decimal serial > 0: 0 with it in *ret_id. -EXDEV for "@p"
 * and "@t" (the process and thread keyrings die with the calling process), -EOPNOTSUPP for "@g"
 * (the kernel has no group keyrings), -EINVAL for anything else. */
int keyring_spec_parse(const char *spec, int32_t *ret_id);
/* The serial of the keyring id names, without making one: "@s" of a process that has no
 * session keyring is the user-session keyring (what the kernel searches for it), where add_key
 * would make an anonymous session keyring that dies with the process. -ENOKEY when a serial
 * names no key (or one gone), -errno else. */
int keyring_spec_resolve(int32_t id, int32_t *ret_serial);
/* Whether desc may name a key of type ("logon" or "user"): 0; -EINVAL for an unknown type or a
 * description that is empty, longer than 255 bytes or not printable ASCII; -EDOM for a logon
 * description without a "prefix:" (the kernel requires one, as in "fscrypt:…" or
 * "cryptsetup:…"). */
int keyring_desc_check(const char *type, const char *desc);
/* Add payload (1..32767 bytes) as a key of type named desc to the keyring named by spec
 * (keyring_spec_parse), expiring after timeout_sec seconds (0: no timeout). Its serial in
 * *ret_serial. The errors of keyring_spec_parse and keyring_desc_check, -EMSGSIZE for a
 * payload too large, and the kernel's: -EDQUOT (the uid's key quota), -EACCES (no write
 * permission on the keyring), -ENOTDIR (the serial is not a keyring), -ENOKEY (no such keyring
 * or one gone). Nothing is left behind on failure. */
int keyring_add(const char *type, const char *desc, const char *spec, const struct secbuf *payload,
		unsigned timeout_sec, int32_t *ret_serial);

/* fscrypt v1 policies (e4crypt set_policy, fscrypt's v1): the kernel looks up a logon key named
 * "fscrypt:<16 hex>" (ext4 also "ext4:", f2fs "f2fs:", ubifs "ubifs:") in the keyrings of the
 * process that opens the file, with a struct fscrypt_key payload. The descriptor is only a
 * name: the kernel does not check it against the key (e4crypt derives it from a passphrase's
 * key as the first 8 bytes of SHA-512(SHA-512(key)), but any 16 hex digits the policy names
 * work). */
#define KEYRING_FSCRYPT_KEY_SIZE 64u /* AES-256-XTS: two 256-bit keys */
#define KEYRING_FSCRYPT_DESC_MAX 32u /* "fscrypt:" and 16 hex, with room */
/* The key in a secret's value: exactly 64 bytes taken raw, or 128 hex digits (either case) and
 * at most one newline after them. -EMSGSIZE for any other length, -EINVAL for 128 characters
 * that are not all hex. */
int keyring_fscrypt_key(const struct secbuf *value, struct secbuf **ret_key);
/* The payload the kernel wants for key: struct fscrypt_key { mode 0, raw key, size 64 }. */
int keyring_fscrypt_payload(const struct secbuf *key, struct secbuf **ret_payload);
/* A descriptor as a key's description: "fscrypt:HEX", "ext4:HEX", "f2fs:HEX", "ubifs:HEX" or
 * a bare HEX (taken as "fscrypt:HEX"), HEX being 16 hex digits of either case, written in
 * lowercase (the kernel names keys in lowercase) into buf of KEYRING_FSCRYPT_DESC_MAX bytes.
 * -EINVAL otherwise. */
int keyring_fscrypt_desc(const char *in, char buf[static KEYRING_FSCRYPT_DESC_MAX]);
