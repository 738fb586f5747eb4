/* certs.c: a certificate's views as files. In its vault's directory C.crt (leaf and
 * intermediates, PEM), C.chain.crt (intermediates and root), C.key (the private key, PKCS#8
 * PEM), C.pem (key, then leaf and intermediates) and C.p12 (PKCS#12, empty password), of the
 * newest issued version at each open; per version under .versions/C: N.crt ... N.p12. Here:
 * their names, which of them exist (the key's three only where that version's key is
 * exportable; a pending version has none), the op each is decided by (`meta` for the
 * certificates, `read` for what holds the key), their sizes and their bytes, made by
 * kv_cert_view at each open into the secure buffer the handle owns. An open pins one version:
 * every byte a handle serves is of the version it was opened on. Never serves a pending
 * version, never keeps a view's bytes past the call that made them (a size is computed, a
 * .p12 made cheaply to be measured and wiped), never makes a key view for a caller the policy
 * did not let read it. */
#include <stdio.h>

#include "fs/certs.h"
#include "fs/notify.h"
#include "fs/ops-int.h"

/* The file suffix of each view (enum kv_cert_view). ".chain.crt" is tried before ".crt". */
static const char *const view_suffix[INO_VIEW_MAX + 1] = {
	[KV_CERT_VIEW_CRT] = ".crt", [KV_CERT_VIEW_CHAIN] = ".chain.crt",
	[KV_CERT_VIEW_KEY] = ".key", [KV_CERT_VIEW_PEM] = ".pem",
	[KV_CERT_VIEW_P12] = ".p12",
};
static const unsigned parse_order[] = { KV_CERT_VIEW_CHAIN, KV_CERT_VIEW_CRT, KV_CERT_VIEW_KEY,
					KV_CERT_VIEW_PEM, KV_CERT_VIEW_P12 };

_Static_assert(KV_CERT_VIEW_P12 == INO_VIEW_MAX, "inode.h's views are kv's");

/* The view name ends with (after at least one byte), and the length before its suffix. */
static unsigned name_view(const char *name, size_t *ret_stem)
{
	for (size_t i = 0; i < ELEMENTSOF(parse_order); i++) {
		size_t n = stem_len(name, view_suffix[parse_order[i]]);

		if (n > 0) {
			*ret_stem = n;
			return parse_order[i];
		}
	}
	return 0;
}

/* "C.crt", "C.chain.crt", "C.key", "C.pem" or "C.p12": a view of certificate C. A name that
 * ends in ".chain.crt" is always the chain of the certificate before it, so every name has one
 * reading (a certificate named "X.chain" has no .crt in its vault: cert_view_named). */
bool cert_file_name(const char *name, char ret_cert[VAULTFS_NAME_MAX + 1], unsigned *ret_view)
{
	size_t n = 0;
	unsigned view = name_view(name, &n);

	if (view == 0 || n > VAULTFS_NAME_MAX)
		return false;
	memcpy(ret_cert, name, n);
	ret_cert[n] = '\0';
	if (!kv_name_valid(ret_cert))
		return false;
	*ret_view = view;
	return true;
}

/* "N.crt" ... "N.p12", N a version number (version_stem). */
bool cert_version_name(const char *name, uint32_t *ret_version, unsigned *ret_view)
{
	size_t n = 0;
	unsigned view = name_view(name, &n);

	if (view == 0 || !version_stem(name, n, ret_version))
		return false;
	*ret_view = view;
	return true;
}

/* The entry name of a view file: "C.crt" ... (certificate C) or "N.crt" ... (version N). */
void cert_entry_name(const char *stem, unsigned view, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", stem, view_suffix[view]);
}

/* The length of the suffix of view. */
size_t cert_suffix_len(unsigned view)
{
	return strlen(view_suffix[view]);
}

/* Does certificate `cert` have its view file in the vault's directory? All but the .crt of a
 * certificate whose name ends in ".chain": "X.chain.crt" reads as the chain of X (its
 * certificates are under .versions/X.chain). */
bool cert_view_named(const char *cert, unsigned view)
{
	return view != KV_CERT_VIEW_CRT || stem_len(cert, ".chain") == 0;
}

/* The views that hold the private key. */
bool cert_view_has_key(unsigned view)
{
	return view == KV_CERT_VIEW_KEY || view == KV_CERT_VIEW_PEM || view == KV_CERT_VIEW_P12;
}

/* The op a view is decided by: `read` for what holds the key, `meta` for the certificates
 * (public, as a key's .pub). */
unsigned cert_view_op(unsigned view)
{
	return cert_view_has_key(view) ? POLICY_OP_READ : POLICY_OP_META;
}

/* Version `version` (0: the newest issued) of certificate vault/name as kv_cert_head gives it
 * (kv_cert_get's without the leaf parsed or the policy read: asked at every lookup and open),
 * when it has the view file `view`: -ENOENT for a pending version, a key view of a key that is
 * not exportable, or (object_id > 0) a certificate that is not that object any more. No
 * lifecycle check (what it says is public). kv_cert_info_done frees *ret. */
int cert_version_get(struct kv *kv, const char *vault, const char *name, uint32_t version,
		     int64_t object_id, unsigned view, struct kv_cert_info *ret)
{
	struct kv_cert_info ci = { 0 };
	int r;

	r = kv_cert_head(kv, vault, name, version, &ci);
	if (r < 0)
		return r;
	if ((object_id > 0 && ci.info.object_id != object_id) || ci.pending || !ci.chain ||
	    (cert_view_has_key(view) &&
	     (!ci.exportable || ci.protection != KEY_PROTECTION_SOFTWARE))) {
		kv_cert_info_done(&ci);
		return -ENOENT;
	}
	*ret = ci;
	return 0;
}

/* The version a view file n serves: its own, or the newest issued one now. */
static uint32_t node_version(const struct node *n)
{
	return n->ino.kind == INO_CERTVERFILE ? n->ino.version : 0;
}

/* The bytes of view file n, in a new secure buffer (NUL-terminated but for .p12, len without
 * it), made after every lifecycle check; *ret_version the version they are of, set also when
 * the version is refused for its lifecycle (the record names it). */
int cert_file_content(struct kv *kv, const struct node *n, struct secbuf **ret,
		      uint32_t *ret_version)
{
	struct kv_cert_info ci;
	uint32_t version;
	int r;

	/* the version first: the bytes are then made of that one, named by its number */
	r = cert_version_get(kv, n->vault, n->name, node_version(n), n->ino.id, n->ino.view, &ci);
	if (r < 0)
		return r;
	version = ci.version;
	kv_cert_info_done(&ci);
	*ret_version = version;
	r = kv_cert_view(kv, n->vault, n->name, version, (enum kv_cert_view)n->ino.view, ret);
	return r == -EPERM ? -ENOENT : r; /* not exportable (checked above: changed meanwhile) */
}

/* The attributes a stat shows of view file n: the version's info, and with `may` (the caller
 * holds the view's op) the exact length of what an open would give now; 0 without, or when
 * an open would be refused for the version's lifecycle (a key view cannot be made then). The
 * certificates' length is the public chain's and is given whatever the lifecycle, as a
 * disabled secret's size is. The lengths are computed from the DER lengths, not made (but a
 * .p12's, made cheaply by kv_cert_view_size and wiped at once). -ENOENT as cert_version_get. */
int cert_file_stat(struct kv *kv, const struct node *n, bool may, size_t *ret_len,
		   struct kv_version_info *ret_info)
{
	struct kv_cert_info ci;
	size_t len = 0;
	int r;

	r = cert_version_get(kv, n->vault, n->name, node_version(n), n->ino.id, n->ino.view, &ci);
	if (r < 0)
		return r;
	if (may && !cert_view_has_key(n->ino.view)) {
		r = x509_export_chain_size(
			ci.chain, n->ino.view == KV_CERT_VIEW_CRT ? X509_VIEW_CRT : X509_VIEW_CHAIN,
			&len);
	} else if (may) {
		r = kv_cert_view_size(kv, n->vault, n->name, ci.version,
				      (enum kv_cert_view)n->ino.view, &len);
		if (r == -EKEYREVOKED || r == -EKEYEXPIRED || r == -EKEYREJECTED)
			r = 0, len = 0;
		else if (r == -EPERM)
			r = -ENOENT;
	}
	if (r >= 0) {
		*ret_len = len;
		*ret_info = ci.info;
	}
	kv_cert_info_done(&ci);
	return r < 0 ? r : 0;
}

void certs_changed(struct vaultfsd *v, const char *vault, const char *name)
{
	struct kv_object_info oi;
	struct kv_vault_info vi;
	char entry[VAULTFS_NAME_MAX + 16];
	uint64_t ino;

	if (!v->notify)
		return;
	if (kv_object_lookup(v->kv, OBJECT_CERT, vault, name, &oi) >= 0)
		for (unsigned view = 1; view <= INO_VIEW_MAX; view++)
			if (ino_encode(&(struct ino){ .kind = INO_CERTFILE,
						      .id = oi.id,
						      .view = view },
				       &ino) >= 0)
				notify_inode(v->notify, ino);
	if (kv_vault_get(v->kv, vault, &vi) < 0)
		return;
	if (ino_encode(&(struct ino){ .kind = INO_VAULT, .id = vi.id }, &ino) >= 0)
		for (unsigned view = 1; view <= INO_VIEW_MAX; view++) {
			cert_entry_name(name, view, entry, sizeof(entry));
			notify_entry(v->notify, ino, entry);
		}
	if (ino_encode(&(struct ino){ .kind = INO_VERSIONS, .id = vi.id }, &ino) >= 0)
		notify_entry(v->notify, ino, name);
}
