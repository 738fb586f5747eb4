/* x509.h: the X.509 groundwork of certificate objects, over OpenSSL 3: CSRs and certificates
 * signed by a key that never leaves the daemon or the TPM (a signer callback signs the digest
 * of the to-be-signed DER), chains parsed, put in order (leaf first) and checked, PEM and
 * PKCS#12 imports, and the export views of one version. No store, no daemon, no OpenSSL type in
 * this interface. Private keys (material as key.h: PKCS#8 DER) and everything holding one (a
 * key PEM, a PKCS#12, which with an empty password is a key in clear) live only in secbufs.
 *
 * Errors, the same in every function:
 * -EINVAL       malformed input: PEM cut short or of an unknown label, DER that does not parse,
 *               a subject or SAN that cannot be, dates out of order, a NULL argument;
 * -EMSGSIZE     input over a cap below;
 * -EBADMSG      a broken chain (a certificate not signed by the next, one that belongs to no
 *               path, two leaves), a CSR whose self-signature does not verify; the reason in
 *               words in reason[X509_REASON_MAX] when the caller gives one;
 * -EKEYREJECTED a key that does not match: the leaf is not of the given key, a signer's SPKI
 *               is not the CA certificate's;
 * -ENOKEY       a PKCS#12 the password does not open, an encrypted private key in a PEM;
 * -EPERM        the issuer may not issue this: not a CA, its path length exhausted;
 * -EOPNOTSUPP   a key type or algorithm that cannot sign certificates (AES), an unknown name;
 * -ENOMEM, -EIO OpenSSL ran out of memory or failed (its words kept by log_foreign).
 * Out-parameters are written only on success (reason only on failure). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/key.h"
#include "core/secbuf.h"

/* Caps on what a caller hands in. */
#define X509_DER_MAX (32u * 1024u)	    /* one certificate or CSR, DER */
#define X509_CHAIN_MAX 10u		    /* certificates in a chain or bundle */
#define X509_INPUT_MAX (256u * 1024u)	    /* a PEM bundle, a DER list, a PKCS#12 */
#define X509_SUBJECT_MAX 1024u		    /* "CN=...,O=..." */
#define X509_SANS_MAX 256u		    /* SAN entries */
#define X509_SAN_LEN_MAX 1024u		    /* one SAN value */
#define X509_PASSWORD_MAX 1024u		    /* a PKCS#12 password */
#define X509_REASON_MAX 160u		    /* a broken chain's reason, with its NUL */
#define X509_SERIAL_BYTES 16u		    /* our serials: 126 random bits, positive */
#define X509_SERIAL_HEX_MAX (2u * 20u + 1u) /* RFC 5280: at most 20 octets */

/* Who signs: a key of type with its SPKI DER; sign() signs in (the digest of key_alg_digest_len
 * bytes; for EdDSA the message itself, at most KEY_INPUT_MAX) with alg into sig (*siglen bytes
 * on entry) in key.h's JWS form, exactly kv_key_sign's and key_soft_sign's contract. alg 0:
 * the type's default (x509_default_alg). What is signed is checked against spki before it is
 * returned (-EKEYREJECTED): a signer of another key, or a PSS signature whose salt is not the
 * digest's length (the AlgorithmIdentifier says so; a TPM that salts otherwise must use RS*). */
struct x509_signer {
	enum key_type type;
	enum key_alg alg;
	const uint8_t *spki;
	size_t spki_len;
	int (*sign)(void *ud, enum key_alg alg, const uint8_t *in, size_t n, uint8_t *sig,
		    size_t *siglen);
	void *ud;
};
/* RS256 for RSA, ES256/ES384/ES512 for P-256/P-384/P-521, EdDSA; 0 for AES. */
enum key_alg x509_default_alg(enum key_type t);

/* Key usage bits (RFC 5280 4.2.1.3) and extended key usages. */
enum x509_ku {
	X509_KU_DIGITAL_SIGNATURE = 1u << 0,
	X509_KU_NON_REPUDIATION = 1u << 1,
	X509_KU_KEY_ENCIPHERMENT = 1u << 2,
	X509_KU_DATA_ENCIPHERMENT = 1u << 3,
	X509_KU_KEY_AGREEMENT = 1u << 4,
	X509_KU_KEY_CERT_SIGN = 1u << 5,
	X509_KU_CRL_SIGN = 1u << 6,
};
enum x509_eku {
	X509_EKU_SERVER_AUTH = 1u << 0,
	X509_EKU_CLIENT_AUTH = 1u << 1,
	X509_EKU_CODE_SIGNING = 1u << 2,
	X509_EKU_EMAIL_PROTECTION = 1u << 3,
	X509_EKU_TIME_STAMPING = 1u << 4,
	X509_EKU_OCSP_SIGNING = 1u << 5,
};
/* "digitalSignature,keyEncipherment" (OpenSSL's names) and "serverAuth,clientAuth" into bits
 * and back: -EOPNOTSUPP for an unknown name, -EINVAL for an empty item; format: -ENOBUFS when
 * buf is too small. */
int x509_ku_parse(const char *s, unsigned *ret);
int x509_eku_parse(const char *s, unsigned *ret);
int x509_ku_format(unsigned ku, char *buf, size_t size);
int x509_eku_format(unsigned eku, char *buf, size_t size);

enum x509_san_kind {
	X509_SAN_DNS = 1,
	X509_SAN_IP, /* "192.0.2.1", "2001:db8::1" */
	X509_SAN_EMAIL,
	X509_SAN_URI,
};
struct x509_san {
	enum x509_san_kind kind;
	char *value; /* not changed when handed in; owned by a struct x509_info it came from */
};

/* What a new certificate or CSR says. subject: RFC 4514 order ("CN=www,O=Example,C=DE", the
 * most specific first), attributes CN O OU C ST L DC emailAddress serialNumber, '\' escapes ',',
 * '+', '=', '\'; empty only with SANs (then marked critical). key_usage/ext_key_usage: 0 none. The
 * dates are unix seconds (not_before 0: now); is_ca with path_len (< 0: no limit). A CSR takes
 * subject, sans, key_usage and ext_key_usage. */
struct x509_profile {
	const char *subject;
	const struct x509_san *sans;
	size_t n_sans;
	unsigned key_usage;
	unsigned ext_key_usage;
	int64_t not_before;
	int64_t not_after;
	bool is_ca;
	int path_len;
};

/* A CSR signed by s: DER (heap) and, when ret_pem, its PEM. */
int x509_csr_make(const struct x509_signer *s, const struct x509_profile *p, uint8_t **ret_der,
		  size_t *ret_len, char **ret_pem);
/* A self-signed certificate of s's key (a root CA, or the `self` issuer): a random serial,
 * subject = issuer, subject key id = authority key id. DER on the heap. */
int x509_self_sign(const struct x509_signer *s, const struct x509_profile *p, uint8_t **ret_der,
		   size_t *ret_len);

/* A certificate issued by the CA (ca signs; ca_der is its certificate, whose key must be ca's:
 * -EKEYREJECTED; a CA by its basic constraints and keyCertSign when it has a key usage, a path
 * length left for is_ca: -EPERM). The subject and key: from the CSR (its signature checked:
 * -EBADMSG) or, without one, spki. profile->subject replaces the CSR's when not NULL. SANs: the
 * CSR's and the profile's (duplicates once), each passed to san_filter when given: > 0 keep, 0
 * drop, < 0 refuse the issuance with that errno. not_after is cut to the CA's not_after. Random
 * serial, subject key id, authority key id = the CA's subject key id. Key usage, EKUs and basic
 * constraints are the profile's alone: nothing else of the CSR is copied. */
struct x509_issue {
	const uint8_t *csr;
	size_t csr_len;
	const uint8_t *spki;
	size_t spki_len;
	struct x509_profile profile;
	int (*san_filter)(void *ud, const struct x509_san *san);
	void *ud;
};
int x509_issue(const struct x509_signer *ca, const uint8_t *ca_der, size_t ca_len,
	       const struct x509_issue *req, uint8_t **ret_der, size_t *ret_len);

/* A chain: DER certificates, leaf first, each signed by the next. */
struct x509_cert {
	uint8_t *der;
	size_t len;
};
struct x509_chain {
	struct x509_cert *certs;
	size_t n;
};
void x509_chain_free(struct x509_chain *c);
static inline void x509_chain_freep(struct x509_chain **c)
{
	x509_chain_free(*c);
}

/* Certificates in PEM ("CERTIFICATE" blocks, anything outside blocks ignored, another label
 * -EINVAL) or DER one after another, in any order, into a chain: the leaf is the one of spki
 * when given (none: -EKEYREJECTED), else the one that issued none of the others (a self-signed
 * one only when it is alone); then each
 * certificate's issuer among the rest by name, its signature checked (-EBADMSG); duplicates
 * dropped; one left over: -EBADMSG. The chain may end below its root. */
int x509_parse_chain(const uint8_t *in, size_t n, const uint8_t *spki, size_t spki_len,
		     struct x509_chain **ret, char *reason);
/* A chain in the order given checked: each signed by the next (-EBADMSG), the leaf's key spki
 * when given (-EKEYREJECTED). */
int x509_chain_check(const struct x509_chain *c, const uint8_t *spki, size_t spki_len,
		     char *reason);

/* What one certificate (DER) says. Strings on the heap; x509_info_done frees them. subject and
 * issuer as RFC 4514 strings, serial in lowercase hex (as many digits as its octets), dates in
 * unix seconds, path_len -1 for none; spki its SubjectPublicKeyInfo DER. */
struct x509_info {
	char *subject;
	char *issuer;
	char serial[X509_SERIAL_HEX_MAX];
	int64_t not_before;
	int64_t not_after;
	bool is_ca;
	int path_len;
	bool self_signed;
	unsigned key_usage;
	unsigned ext_key_usage;
	struct x509_san *sans;
	size_t n_sans;
	uint8_t spki[KEY_PUBLIC_DER_MAX];
	size_t spki_len;
};
int x509_info_get(const uint8_t *der, size_t len, struct x509_info *ret);
/* As x509_info_get without verifying the signature of a certificate that names itself as its
 * issuer: self_signed then says only that its names (and key ids) say so. For what is shown of
 * a certificate checked when it was stored: no public-key operation. */
int x509_info_brief(const uint8_t *der, size_t len, struct x509_info *ret);
void x509_info_done(struct x509_info *i);
/* The subject and SANs a CSR asks for (dates, CA and serial left zero), its signature checked
 * (-EBADMSG). */
int x509_csr_info(const uint8_t *der, size_t len, struct x509_info *ret);

/* DER as PEM ("CERTIFICATE" or "CERTIFICATE REQUEST"), a heap string. */
int x509_der_to_pem(const uint8_t *der, size_t len, bool csr, char **ret);
/* One PEM certificate or CSR (the first block of its kind) to DER: -EINVAL when none. */
int x509_pem_to_der(const char *pem, size_t n, bool csr, uint8_t **ret_der, size_t *ret_len);

/* Imports. A PEM with one private key (PKCS#1, SEC1, PKCS#8; "EC PARAMETERS" skipped; an
 * encrypted one -ENOKEY) and the certificates in any order; a PKCS#12 under password (NULL or
 * "": the empty password, either form). Both: the key's type and material (PKCS#8 DER) and the
 * chain, leaf first and checked as x509_parse_chain with the key's SPKI. */
int x509_import_pem(const uint8_t *in, size_t n, enum key_type *ret_type,
		    struct secbuf **ret_material, struct x509_chain **ret_chain, char *reason);
int x509_import_p12(const uint8_t *in, size_t n, const char *password, enum key_type *ret_type,
		    struct secbuf **ret_material, struct x509_chain **ret_chain, char *reason);

/* The export views of one version (chain leaf first, as x509_parse_chain makes it):
 * X509_VIEW_CRT the leaf and intermediates (a self-signed last certificate left out unless it
 * is the leaf), X509_VIEW_CHAIN everything after the leaf (intermediates and root), as PEM. */
enum x509_view {
	X509_VIEW_CRT = 1,
	X509_VIEW_CHAIN,
};
int x509_export_chain(const struct x509_chain *c, enum x509_view v, char **ret);
/* The key as "PRIVATE KEY" PEM (PKCS#8), and the key followed by the X509_VIEW_CRT
 * certificates, in a secbuf, NUL-terminated (len without it). */
int x509_export_key_pem(const struct secbuf *material, struct secbuf **ret);
int x509_export_pem_bundle(const struct secbuf *material, const struct x509_chain *c,
			   struct secbuf **ret);
/* PKCS#12 of the key (type t, checked against the leaf: -EKEYREJECTED) and the X509_VIEW_CRT
 * certificates plus the root when the chain has it, under password (NULL: empty): key and
 * certificates in PBES2 (PBKDF2 with HMAC-SHA256, AES-256-CBC), MAC HMAC-SHA256; friendlyName
 * name when not NULL. In a secbuf: with an empty password it is the key in clear. */
int x509_export_p12(enum key_type t, const struct secbuf *material, const struct x509_chain *c,
		    const char *password, const char *name, struct secbuf **ret);

/* The exact lengths (without the NUL) of the views above, for a stat, without making them:
 * x509_export_chain's (from the DER lengths: PEM is 64-column base64 between fixed lines),
 * x509_export_key_pem's for material of material_len bytes, x509_export_pem_bundle's. */
int x509_export_chain_size(const struct x509_chain *c, enum x509_view v, size_t *ret);
size_t x509_export_key_pem_size(size_t material_len);
int x509_export_pem_bundle_size(size_t material_len, const struct x509_chain *c, size_t *ret);
/* The exact length of x509_export_p12's output for the same arguments. OpenSSL's PKCS#12 of
 * one key and chain has one length whatever its random salts and IVs (of fixed lengths; the
 * CBC padding follows the plaintext's length), so it is made with 128 PBKDF2 iterations (the
 * same DER length as the default 2048's: 16 times less work), measured and wiped. */
int x509_export_p12_size(enum key_type t, const struct secbuf *material, const struct x509_chain *c,
			 const char *password, const char *name, size_t *ret);
