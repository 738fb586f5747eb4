/* fuzz-x509.c: libFuzzer target for the certificate parsers an operator's input reaches
 * (core/x509-chain.c, x509-p12.c): a chain in PEM or DER (x509_parse_chain), a PEM bundle with a
 * key (x509_import_pem) and a PKCS#12 (x509_import_p12, empty password). The first byte chooses
 * which. It checks what a caller relies on: a success gives a non-empty chain (and material),
 * a failure gives nothing, and nothing leaks (ASan). */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "core/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct x509_chain *chain = NULL;
	struct secbuf *material = NULL;
	enum key_type type = KEY_TYPE_INVALID;
	char reason[X509_REASON_MAX];
	int r;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		r = x509_parse_chain(data + 1, size - 1, NULL, 0, &chain, reason);
		break;
	case 1:
		r = x509_import_pem(data + 1, size - 1, &type, &material, &chain, reason);
		break;
	default:
		r = x509_import_p12(data + 1, size - 1, "", &type, &material, &chain, reason);
		break;
	}
	if (r >= 0) {
		assert(chain && chain->n > 0);
		assert(data[0] % 3 == 0 ||
		       (material && material->len > 0 && type != KEY_TYPE_INVALID));
	} else {
		assert(!chain && !material);
	}
	x509_chain_free(chain);
	secbuf_free(material);
	ERR_clear_error();
	return 0;
}
