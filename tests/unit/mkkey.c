/* mkkey.c: a test program that makes key objects in a store through the core API, before the
 * CLI has `vaultctl key`. It unseals the store of CONF as `vaultctl --offline` does and writes
 * nothing to the audit journal: run it while no daemon holds the store, or beside one (the
 * store takes concurrent writers).
 *
 *   mkkey -c CONF import VAULT NAME < PRIVATE.pem   a software key (a new version when NAME is a
 *                                                   key already)
 *   mkkey -c CONF create VAULT NAME TYPE [COUNT]    a new software key of TYPE (rsa-2048,
 *                                                   ec-p256, ed25519, aes-256, ...); with
 *                                                   COUNT, keys NAME001 .. NAME<COUNT>
 *   mkkey -c CONF rotate VAULT NAME [COUNT]         COUNT (1) new versions of the same type
 *
 * Prints the (last) version made. Test-only: never installed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/util.h"
#include "tests/unit/mktool.h"

int main(int argc, char **argv)
{
	_cleanup_config_ struct config *c = NULL;
	_cleanup_secbuf_ struct secbuf *in = NULL;
	struct kv *kv = NULL;
	uint32_t version = 0;
	int r;

	r = mktool_open("mkkey", "import|create|rotate VAULT NAME [TYPE]", argc, argv, &c, &kv);
	if (r != 0)
		return r;
	if (streq(argv[3], "import")) {
		r = mktool_read_stdin(&in);
		if (r >= 0)
			r = kv_key_import(kv, argv[4], argv[5], in->data, in->len, 0, false, NULL,
					  &version);
	} else if (streq(argv[3], "create") && argc >= 7) {
		struct kv_key_spec spec = { .type = key_type_from_name(argv[6]) };
		long count = argc > 7 ? strtol(argv[7], NULL, 10) : 0;
		char name[VAULTFS_NAME_MAX + 1];

		r = count >= 0 && count < 1000 ? 0 : -EINVAL;
		if (r >= 0 && count == 0)
			r = kv_key_create(kv, c->tcti, argv[4], argv[5], &spec, NULL, &version);
		for (long i = 1; r >= 0 && i <= count; i++) {
			snprintf(name, sizeof(name), "%.100s%03ld", argv[5], i);
			r = kv_key_create(kv, c->tcti, argv[4], name, &spec, NULL, &version);
		}
	} else if (streq(argv[3], "rotate")) {
		long count = argc > 6 ? strtol(argv[6], NULL, 10) : 1;

		r = count > 0 ? 0 : -EINVAL;
		for (long i = 0; r >= 0 && i < count; i++)
			r = kv_key_rotate(kv, c->tcti, argv[4], argv[5], NULL, &version);
	} else {
		r = -EINVAL;
	}
	kv_free(kv);
	if (r < 0) {
		fprintf(stderr, "mkkey: %s %s/%s: %s\n", argv[3], argv[4], argv[5], strerror(-r));
		return 1;
	}
	printf("%u\n", version);
	return 0;
}
