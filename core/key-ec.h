/* key-ec.h: ECDSA signatures of software EC keys without OpenSSL 3.0's per-key curve build
 * (key-ec.c), for key-soft.c's signing path; key-load.c finds the private scalar in the key's
 * PKCS#8 material. Not for use outside the software-key module. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "core/key.h"
#include "core/secbuf.h"

/* The ECDSA signature of the digest dgst (n bytes) by the private scalar priv (big-endian,
 * priv_len bytes) on the curve of type t, as r || s (each the curve's coordinate size) in sig
 * (*siglen: its room in, the length out). -EOPNOTSUPP: not here (an OpenSSL without the EC_KEY
 * API, a type not EC, the curve not built): the caller signs through EVP instead. */
int key_ec_sign_scalar(enum key_type t, const uint8_t *priv, size_t priv_len, const uint8_t *dgst,
		       size_t n, uint8_t *sig, size_t *siglen);

/* key_ec_sign_scalar with the scalar of material, PKCS#8 of an ECPrivateKey of curve t (the
 * form key_soft_generate and key_soft_import write): -EOPNOTSUPP for any other form, which
 * the caller signs through EVP (key-load.c). */
int key_ec_sign_material(enum key_type t, const struct secbuf *material, const uint8_t *dgst,
			 size_t n, uint8_t *sig, size_t *siglen);
