/* x509-int.h: what the files of the x509 module share (x509.c, x509-chain.c, x509-p12.c):
 * cleanup of OpenSSL's X.509 types, DER in and out, the reason of a broken chain. Not for use
 * outside these files. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "core/util.h"
#include "core/x509.h"

static inline void x509_freep(X509 **p)
{
	X509_free(*p);
}

static inline void x509_req_freep(X509_REQ **p)
{
	X509_REQ_free(*p);
}

static inline void x509_pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

static inline void x509_name_freep(X509_NAME **p)
{
	X509_NAME_free(*p);
}

static inline void x509_gens_freep(GENERAL_NAMES **p)
{
	GENERAL_NAMES_free(*p);
}

static inline void x509_exts_freep(STACK_OF(X509_EXTENSION) * *p)
{
	sk_X509_EXTENSION_pop_free(*p, X509_EXTENSION_free);
}

static inline void x509_ossl_freep(void *p)
{
	OPENSSL_free(*(void **)p);
}

/* A certificate (DER, at most X509_DER_MAX, nothing after it) as an X509: -EINVAL, -EMSGSIZE. */
int x509_load(const uint8_t *der, size_t len, X509 **ret);
/* The DER of x on the heap (malloc'd). */
int x509_der(X509 *x, uint8_t **ret, size_t *ret_len);
/* The reason of a failure into reason (X509_REASON_MAX, may be NULL); returns err. */
int x509_reason(int err, char *reason, const char *fmt, ...) _printf_(3, 4);
/* The SANs of a GENERAL_NAMES as struct x509_san (values on the heap). */
int x509_sans_from(const GENERAL_NAMES *gens, struct x509_san **ret, size_t *ret_n);
void x509_sans_free(struct x509_san *s, size_t n);
/* The names' RFC 4514 form on the heap. */
int x509_name_string(const X509_NAME *name, char **ret);
/* The next PEM block at or after *pos: its label (-EINVAL when it does not fit in 64 bytes),
 * the offsets of its first and past its last byte; *pos moves past it. -ENOENT when there is
 * none, -EINVAL for one cut short (no END line). */
#define X509_PEM_LABEL_MAX 64
int x509_pem_next(const char *s, size_t n, size_t *pos, char label[X509_PEM_LABEL_MAX],
		  size_t *ret_start, size_t *ret_end);
/* The DER of one PEM block s[0..n) of a public object (a certificate or CSR; not for keys:
 * OpenSSL decodes it into its heap), malloc'd. */
int x509_pem_block_der(const char *s, size_t n, uint8_t **ret, size_t *ret_len);
/* certs (n of them, owned by the caller) in chain order, as x509_parse_chain. */
int x509_chain_order(X509 **certs, size_t n, const uint8_t *spki, size_t spki_len,
		     struct x509_chain **ret, char *reason);
/* x509-name.c: a subject string as a name (-EINVAL, -EMSGSIZE); a SAN checked and added once
 * to gens; n of them; the extensions of p (basic constraints only for a certificate; a SAN
 * required, and critical, when the subject is empty) into *sk. */
int x509_subject_parse(const char *s, X509_NAME **ret);
int x509_san_add(GENERAL_NAMES *gens, const struct x509_san *san);
int x509_sans_build(const struct x509_san *sans, size_t n, GENERAL_NAMES *gens);
int x509_exts_build(const struct x509_profile *p, GENERAL_NAMES *gens, bool cert,
		    bool subject_empty, STACK_OF(X509_EXTENSION) * *sk);
