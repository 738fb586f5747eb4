/* keys.c: the public halves of keys as files, under /vault/V/.keys: K.pub (PEM, "BEGIN PUBLIC
 * KEY", of the current version), K.ssh.pub (the OpenSSH line "TYPE BASE64 V/K"), and per
 * version .keys/.versions/K/N.pub and N.ssh.pub ("V/K/N"). Their names, and their bytes made
 * from kv_key_public's SubjectPublicKeyInfo at each open. An AES key has no public half: no
 * file at all. Never reads, copies or serves a key's private half: the only key call made here
 * is kv_key_public, which gives the public half and what the key is. */
#include <stdio.h>

#include "core/key-soft.h"
#include "core/ssh-wire.h"
#include "fs/keys.h"
#include "fs/notify.h"
#include "fs/ops-int.h"

#define PUB_SUFFIX ".pub"
#define SSH_SUFFIX ".ssh.pub"

/* Does name end with suffix after at least one byte? The length before it, or 0. */
size_t stem_len(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && streq(name + n - s, suffix) ? n - s : 0;
}

/* "K.ssh.pub" (ssh) or "K.pub" (PEM): a name that ends in ".ssh.pub" is always the OpenSSH
 * line of the key before it, so every file name has one reading. */
bool key_file_name(const char *name, char ret_key[VAULTFS_NAME_MAX + 1], bool *ret_ssh)
{
	size_t n = stem_len(name, SSH_SUFFIX);
	bool ssh = n > 0;

	if (!ssh)
		n = stem_len(name, PUB_SUFFIX);
	if (n == 0 || n > VAULTFS_NAME_MAX)
		return false;
	memcpy(ret_key, name, n);
	ret_key[n] = '\0';
	if (!kv_name_valid(ret_key))
		return false;
	*ret_ssh = ssh;
	return true;
}

/* The first len bytes of name as a version number: 1 .. VAULTFS_VERSIONS_MAX, decimal, no
 * leading zero (the one spelling of each version in .versions). */
bool version_stem(const char *name, size_t len, uint32_t *ret_version)
{
	uint32_t ver = 0;

	if (len == 0 || len > 7 || name[0] < '1' || name[0] > '9')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		ver = ver * 10 + (uint32_t)(name[i] - '0');
	}
	if (ver > VAULTFS_VERSIONS_MAX)
		return false;
	*ret_version = ver;
	return true;
}

/* "N.pub" or "N.ssh.pub", N a version number. */
bool key_version_name(const char *name, uint32_t *ret_version, bool *ret_ssh)
{
	size_t n = stem_len(name, SSH_SUFFIX);
	bool ssh = n > 0;

	if (!ssh)
		n = stem_len(name, PUB_SUFFIX);
	if (!version_stem(name, n, ret_version))
		return false;
	*ret_ssh = ssh;
	return true;
}

/* The entry name of a key file: "K.pub", "K.ssh.pub" (key) or "N.pub", "N.ssh.pub". */
void key_entry_name(const char *stem, bool ssh, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", stem, ssh ? SSH_SUFFIX : PUB_SUFFIX);
}

/* The public half of version (0: current) of key vault/name: -ENOENT for a key without one
 * (AES), or one that is not there. */
int key_public_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		   struct kv_key_public *ret)
{
	int r;

	r = kv_key_public(kv, vault, name, version, ret);
	if (r < 0)
		return r;
	return ret->spki_len > 0 ? 0 : -ENOENT;
}

/* The bytes of key file n, a heap string of *ret_len bytes (+ NUL), and the version they are
 * of. Public bytes only. */
int key_file_content(struct kv *kv, const struct node *n, char **ret, size_t *ret_len,
		     uint32_t *ret_version)
{
	struct kv_key_public pub;
	uint32_t version = ino_has_version(n->ino.kind) ? n->ino.version : 0;
	char comment[2 * VAULTFS_NAME_MAX + 16];
	char *text;
	size_t len;
	int r;

	r = key_public_get(kv, n->vault, n->name, version, &pub);
	if (r < 0)
		return r;
	if (pub.info.object_id != n->ino.id) /* deleted and re-created since the lookup */
		return -ENOENT;
	if (n->ino.kind == INO_KEYPUB || n->ino.kind == INO_KEYVERPUB) {
		r = key_public_pem(pub.spki, pub.spki_len, &text);
		if (r < 0)
			return r;
		len = strlen(text);
	} else {
		/* a blob holds SSH_KEY_BLOB_MAX bytes at most: its base64, the kind, the comment */
		size_t size = SSH_KEY_BLOB_MAX / 3 * 4 + 4 + 64 + sizeof(comment) + 2;

		if (version)
			snprintf(comment, sizeof(comment), "%s/%s/%u", n->vault, n->name, version);
		else
			snprintf(comment, sizeof(comment), "%s/%s", n->vault, n->name);
		text = malloc(size);
		if (!text)
			return -ENOMEM;
		r = ssh_pubkey_line(pub.spki, pub.spki_len, comment, text, size - 1);
		if (r < 0) {
			free(text);
			return r;
		}
		len = strlen(text);
		text[len++] = '\n';
		text[len] = '\0';
	}
	*ret = text;
	*ret_len = len;
	*ret_version = pub.version;
	return 0;
}

/* Does key `name` have a K.pub in .keys? Not when its name ends in .ssh: "X.ssh.pub" is the
 * OpenSSH file of key X (its PEM is under .keys/.versions). */
bool key_pem_named(const char *name)
{
	return stem_len(name, ".ssh") == 0;
}

void keys_changed(struct vaultfsd *v, const char *vault, const char *name)
{
	static const int files[] = { INO_KEYPUB, INO_KEYSSH };
	struct kv_object_info oi;
	struct kv_vault_info vi;
	char entry[VAULTFS_NAME_MAX + 16];
	uint64_t ino;

	if (!v->notify)
		return;
	if (kv_object_lookup(v->kv, OBJECT_KEY, vault, name, &oi) >= 0)
		for (size_t i = 0; i < ELEMENTSOF(files); i++)
			if (ino_encode(&(struct ino){ .kind = files[i], .id = oi.id }, &ino) >= 0)
				notify_inode(v->notify, ino);
	if (kv_vault_get(v->kv, vault, &vi) < 0)
		return;
	/* names past VAULTFS_NAME_MAX are not queued (notify.h): their timeouts are 0 anyway */
	if (ino_encode(&(struct ino){ .kind = INO_KEYS, .id = vi.id }, &ino) >= 0)
		for (int ssh = 0; ssh < 2; ssh++) {
			key_entry_name(name, ssh, entry, sizeof(entry));
			notify_entry(v->notify, ino, entry);
		}
	if (ino_encode(&(struct ino){ .kind = INO_KEYVERSIONS, .id = vi.id }, &ino) >= 0)
		notify_entry(v->notify, ino, name);
}
