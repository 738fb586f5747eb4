/* agent-keys.c: a test program, not a tool: puts keys in a vault's store through kv (core/kv.h)
 * for tests/bats/87-agent.bats until vaultctl has key commands, and prints the public half of
 * what it made (PEM SubjectPublicKeyInfo) on stdout. Offline: the store opened and unsealed as
 * `vaultctl --offline` does, while no daemon runs. The vault is created when missing.
 *
 *   agent-keys CONF import VAULT NAME KEY.pem      a software key from a PEM private key
 *   agent-keys CONF create VAULT NAME TYPE soft|tpm  a new key (TYPE: key_type_name's)
 *
 * Never prints or writes a private key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/key-soft.h"
#include "core/kv.h"
#include "core/seal.h"
#include "core/secbuf.h"
#include "core/store.h"
#include "core/util.h"

static int open_kv(const struct config *c, struct kv **ret)
{
	struct store *s = NULL;
	struct secbuf *m = NULL;
	struct seal_epoch ev;
	int r;

	r = store_open(c->store_path, 0, &s);
	if (r < 0)
		return r;
	r = seal_unseal(s, c, &m);
	if (r < 0) {
		store_free(s);
		return r;
	}
	r = kv_new(s, m, ret);
	if (r < 0)
		return r;
	r = kv_epoch_open(*ret, c, &ev);
	return r == -EOPNOTSUPP ? 0 : r;
}

static int read_all(const char *path, uint8_t *buf, size_t size, size_t *ret_len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f)
		return -errno;
	n = fread(buf, 1, size, f);
	fclose(f);
	if (n == size)
		return -EFBIG;
	*ret_len = n;
	return 0;
}

int main(int argc, char **argv)
{
	struct config *c = NULL;
	struct kv *kv = NULL;
	struct kv_key_public pub;
	char err[256] = "", *pem = NULL;
	uint32_t version = 0;
	int r;

	if (argc != 6 && argc != 7) {
		fprintf(stderr, "usage: agent-keys CONF import VAULT NAME KEY.pem\n"
				"       agent-keys CONF create VAULT NAME TYPE soft|tpm\n");
		return 2;
	}
	r = config_load(argv[1], &c, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "agent-keys: %s\n", err);
		return 1;
	}
	r = open_kv(c, &kv);
	if (r < 0) {
		fprintf(stderr, "agent-keys: cannot open the store: %s\n", strerror(-r));
		return 1;
	}
	r = kv_vault_create(kv, argv[3], 0);
	if (r < 0 && r != -EEXIST) {
		fprintf(stderr, "agent-keys: vault create: %s\n", strerror(-r));
		return 1;
	}
	if (streq(argv[2], "import") && argc == 6) {
		static uint8_t buf[65536];
		size_t n = 0;

		r = read_all(argv[5], buf, sizeof(buf), &n);
		if (r >= 0)
			r = kv_key_import(kv, argv[3], argv[4], buf, n, 0, false, NULL, &version);
		secure_wipe(buf, sizeof(buf));
	} else if (streq(argv[2], "create") && argc == 7) {
		struct kv_key_spec spec = {
			.type = key_type_from_name(argv[5]),
			.protection = streq(argv[6], "tpm") ? KEY_PROTECTION_TPM :
							      KEY_PROTECTION_SOFTWARE,
		};

		r = kv_key_create(kv, c->tcti, argv[3], argv[4], &spec, NULL, &version);
	} else {
		r = -EINVAL;
	}
	if (r < 0) {
		fprintf(stderr, "agent-keys: %s %s/%s: %s\n", argv[2], argv[3], argv[4],
			strerror(-r));
		return 1;
	}
	r = kv_key_public(kv, argv[3], argv[4], version, &pub);
	if (r >= 0)
		r = key_public_pem(pub.spki, pub.spki_len, &pem);
	if (r < 0) {
		fprintf(stderr, "agent-keys: public half: %s\n", strerror(-r));
		return 1;
	}
	fputs(pem, stdout);
	free(pem);
	kv_free(kv);
	config_free(c);
	return 0;
}
