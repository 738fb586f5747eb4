/* fuzz-key-import.c: libFuzzer target for key_soft_import (core/key-import*.c): PEM, the OpenSSH
 * private key format and JWK. The first byte chooses how the rest is presented: as it is (JWK,
 * PEM text, garbage), or base64 inside a PEM block of one of the labels the importer reads, so
 * the fuzzer reaches the OpenSSH and DER readers behind the armour. It checks what a caller
 * relies on: a success gives a known type and material key_soft_check accepts; a failure is
 * one of the errors key-soft.h names and gives nothing. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/key-soft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const labels[] = {
	"OPENSSH PRIVATE KEY",
	"PRIVATE KEY",
	"EC PRIVATE KEY",
	"RSA PRIVATE KEY",
};

/* The rest of data as base64 inside a PEM block of label, on the heap. */
static char *armour(const char *label, const uint8_t *p, size_t n, size_t *ret_len)
{
	size_t b64 = (n + 2) / 3 * 4, cap = b64 + b64 / 64 + 2 * strlen(label) + 64;
	char *s = malloc(cap);
	unsigned char *tmp = malloc(b64 + 1);
	size_t pos;

	assert(s && tmp);
	EVP_EncodeBlock(tmp, p, (int)n);
	pos = (size_t)sprintf(s, "-----BEGIN %s-----\n", label);
	for (size_t i = 0; i < b64; i += 64) {
		size_t k = b64 - i < 64 ? b64 - i : 64;

		memcpy(s + pos, tmp + i, k);
		pos += k;
		s[pos++] = '\n';
	}
	pos += (size_t)sprintf(s + pos, "-----END %s-----\n", label);
	free(tmp);
	*ret_len = pos;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct secbuf *m = NULL;
	enum key_type t = KEY_TYPE_INVALID;
	char *pem = NULL;
	size_t n;
	int r;

	if (size < 1 || size > KEY_IMPORT_MAX)
		return 0;
	if (data[0] < sizeof(labels) / sizeof(labels[0])) {
		pem = armour(labels[data[0]], data + 1, size - 1, &n);
		r = key_soft_import((const uint8_t *)pem, n, &t, &m);
	} else
		r = key_soft_import(data + 1, size - 1, &t, &m);
	if (r == 0) {
		assert(t > KEY_TYPE_INVALID && t < _KEY_TYPE_MAX);
		assert(m && key_soft_check(t, m) == 0);
	} else {
		assert(r == -EINVAL || r == -EOPNOTSUPP || r == -EMSGSIZE || r == -ENOKEY ||
		       r == -ENOMEM);
		assert(!m && t == KEY_TYPE_INVALID);
	}
	assert(ERR_peek_error() == 0);
	secbuf_free(m);
	free(pem);
	return 0;
}
