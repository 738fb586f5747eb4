/* cmd-key.c: `vaultctl key ...`: each verb becomes one key request of core/request.h (ctl_call
 * carries it to the daemon, or runs it here with --offline) and its reply is printed. Inputs
 * (a private key to import, a digest or message, a signature, plaintext, ciphertext, additional
 * data) come from stdin or files, never argv; outputs go to stdout raw (bare, as OpenSSL makes
 * and takes them) or, with --json, as base64 with the key version and algorithm. encrypt and
 * wrap say the version that made the output on stderr (and in --json); decrypt and unwrap take
 * it back with --version. A private key read to import is held in a secure buffer only. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <stdio.h>

#include "core/io.h"
#include "core/key.h"
#include "core/key-soft.h"
#include "core/ssh-wire.h"
#include "core/timeutil.h"
#include "tools/vaultctl.h"

enum {
	OPT_FILE = 0x100,
	OPT_TYPE,
	OPT_PROTECTION,
	OPT_OPS,
	OPT_EXPORTABLE,
	OPT_NOT_BEFORE,
	OPT_EXPIRES,
	OPT_DISABLED,
	OPT_ENABLED,
	OPT_TAG,
	OPT_VERSION,
	OPT_JSON,
	OPT_DELETED,
	OPT_FORMAT,
	OPT_ALG,
	OPT_DATA,
	OPT_SIGNATURE,
	OPT_AAD,
	OPT_DER,
	OPT_ROTATE_AFTER,
	OPT_NOTIFY_BEFORE,
	OPT_EXPIRES_AFTER,
	OPT_CLEAR,
};

/* The options each verb takes: letters of OPT_* in order (see letters below). */
static const struct cli_verb key_verbs[] = {
	{ "create", "TPOXneDg", false, "key-create" },
	{ "import", "fOXneDg", false, "key-import" },
	{ "list", "jl", true, "key-list" },
	{ "show", "vj", false, "key-show" },
	{ "versions", "j", false, "key-versions" },
	{ "rotate", "neDg", false, "key-rotate" },
	/* rotation: with any of its options the policy is set (key-rotation-set), else shown */
	{ "rotation", "RNWCj", false, "key-rotation-get" },
	{ "update", "vneEg", false, "key-update" },
	{ "delete", "", false, "key-delete" },
	{ "recover", "", false, "key-recover" },
	{ "purge", "", false, "key-purge" },
	{ "backup", "f", false, "key-backup" },
	{ "restore", "f", true, "key-restore" },
	{ "get-public", "vm", false, "key-get-public" },
	{ "sign", "fvjadr", false, "key-sign" },
	{ "verify", "fvadsr", false, "key-verify" },
	{ "encrypt", "fjaA", false, "key-encrypt" },
	{ "decrypt", "fvjaA", false, "key-decrypt" },
	{ "wrap", "fja", false, "key-wrap" },
	{ "unwrap", "fvja", false, "key-unwrap" },
};
static const char letters[] = "fTPOXneDEgvjlmadsArRNWC";

struct key_opts {
	const char *file, *format, *alg, *signature, *aad;
	bool json, deleted, data, der, rotation_set;
	uint32_t version;
	struct json_object *members; /* request members given by options */
};

static int parse_opts(const struct cli_verb *kv, int argc, char **argv, struct key_opts *o)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, OPT_FILE },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "protection", required_argument, NULL, OPT_PROTECTION },
		{ "ops", required_argument, NULL, OPT_OPS },
		{ "exportable", no_argument, NULL, OPT_EXPORTABLE },
		{ "not-before", required_argument, NULL, OPT_NOT_BEFORE },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "disabled", no_argument, NULL, OPT_DISABLED },
		{ "enabled", required_argument, NULL, OPT_ENABLED },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "version", required_argument, NULL, OPT_VERSION },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "deleted", no_argument, NULL, OPT_DELETED },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "alg", required_argument, NULL, OPT_ALG },
		{ "data", no_argument, NULL, OPT_DATA },
		{ "signature", required_argument, NULL, OPT_SIGNATURE },
		{ "aad", required_argument, NULL, OPT_AAD },
		{ "der", no_argument, NULL, OPT_DER },
		{ "rotate-after", required_argument, NULL, OPT_ROTATE_AFTER },
		{ "notify-before", required_argument, NULL, OPT_NOTIFY_BEFORE },
		{ "expires-after", required_argument, NULL, OPT_EXPIRES_AFTER },
		{ "clear", no_argument, NULL, OPT_CLEAR },
		{}
	};
	bool is_update = streq(kv->verb, "update");
	struct json_object *tags = NULL, *m = o->members;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c < OPT_FILE || c > OPT_CLEAR || !strchr(kv->opts, letters[c - OPT_FILE]))
			return usage_error("key %s: unknown or unexpected option", kv->verb);
		switch (c) {
		case OPT_FILE:
			o->file = optarg;
			break;
		case OPT_TYPE:
			cli_add_str(m, "type", optarg);
			break;
		case OPT_PROTECTION:
			cli_add_str(m, "protection", optarg);
			break;
		case OPT_OPS:
			cli_add_str(m, "ops", optarg);
			break;
		case OPT_EXPORTABLE:
			json_object_object_add(m, "exportable", json_object_new_boolean(1));
			break;
		case OPT_NOT_BEFORE:
			if (cli_add_time(m, "not_before", "--not-before", optarg, is_update))
				return EXIT_USAGE;
			break;
		case OPT_EXPIRES:
			if (cli_add_time(m, "expires", "--expires", optarg, is_update))
				return EXIT_USAGE;
			break;
		case OPT_DISABLED:
			json_object_object_add(m, "enabled", json_object_new_boolean(0));
			break;
		case OPT_ENABLED:
			if (cli_add_enabled(m, optarg))
				return EXIT_USAGE;
			break;
		case OPT_TAG:
			if (cli_add_tag(m, &tags, optarg))
				return EXIT_USAGE;
			break;
		case OPT_VERSION:
			if (parse_u32("--version", optarg, &o->version))
				return EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_DELETED:
			o->deleted = true;
			break;
		case OPT_FORMAT:
			o->format = optarg;
			break;
		case OPT_ALG:
			o->alg = optarg;
			break;
		case OPT_DATA:
			o->data = true;
			break;
		case OPT_SIGNATURE:
			o->signature = optarg;
			break;
		case OPT_AAD:
			o->aad = optarg;
			break;
		case OPT_DER:
			o->der = true;
			break;
		case OPT_ROTATE_AFTER:
		case OPT_NOTIFY_BEFORE:
		case OPT_EXPIRES_AFTER: {
			static const char *const member[] = { "rotate_after", "notify_before",
							      "expires_after" };
			int64_t secs;

			if (duration_parse(optarg, &secs) < 0)
				return usage_error("--%s: a span such as 90d, 12h or 2w",
						   opts[c - OPT_FILE].name);
			json_object_object_add(m, member[c - OPT_ROTATE_AFTER],
					       json_object_new_int64(secs));
			o->rotation_set = true;
			break;
		}
		case OPT_CLEAR:
			o->rotation_set = true; /* every member 0: the policy is removed */
			break;
		}
	}
	return 0;
}

/* The size of one of r and s of an ECDSA algorithm's curve, 0 for the others. */
static size_t ecdsa_half(const char *alg)
{
	return streq(alg, "ES256") ? 32 : streq(alg, "ES384") ? 48 : streq(alg, "ES512") ? 66 : 0;
}

/* r || s into DER ECDSA-Sig-Value (what openssl pkeyutl and dgst take), a new *pb. */
static int jws_to_der(struct secbuf **pb)
{
	struct secbuf *b = *pb, *d = NULL;
	ECDSA_SIG *sig = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(b->data, (int)(b->len / 2), NULL);
	BIGNUM *s = BN_bin2bn(b->data + b->len / 2, (int)(b->len / 2), NULL);
	unsigned char *p = NULL;
	int n = -1;

	if (sig && r && s && ECDSA_SIG_set0(sig, r, s) == 1) {
		r = s = NULL;
		n = i2d_ECDSA_SIG(sig, &p);
	}
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	if (n <= 0 || secbuf_dup(p, (size_t)n, &d) < 0) {
		OPENSSL_free(p);
		return -EINVAL;
	}
	OPENSSL_free(p);
	secbuf_free(b);
	*pb = d;
	return 0;
}

/* DER ECDSA-Sig-Value into r || s of half bytes each, in place in b. */
static int der_to_jws(struct secbuf *b, size_t half)
{
	const unsigned char *p = b->data;
	ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)b->len);
	const BIGNUM *r, *s;
	int ok;

	if (!sig || p != b->data + b->len || b->cap < 2 * half) {
		ECDSA_SIG_free(sig);
		return -EINVAL;
	}
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, b->data, (int)half) == (int)half &&
	     BN_bn2binpad(s, b->data + half, (int)half) == (int)half;
	ECDSA_SIG_free(sig);
	if (!ok)
		return -EINVAL;
	b->len = 2 * half;
	return 0;
}

/* The input of a use as the request's value: [aad][signature]input. */
static int use_value(const struct cli_verb *kv, struct key_opts *o, struct json_object *req,
		     struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *in = NULL, *sig = NULL, *aad = NULL, *all = NULL;
	size_t max = streq(kv->verb, "wrap")	? KEY_WRAP_INPUT_MAX :
		     streq(kv->verb, "unwrap")	? KEY_WRAPPED_MAX :
		     streq(kv->verb, "decrypt") ? KEY_CIPHERTEXT_MAX :
						  KEY_INPUT_MAX;
	size_t n;
	int r;

	if (!o->alg)
		return usage_error("key %s: --alg is required (vaultctl key show says the type)",
				   kv->verb);
	cli_add_str(req, "alg", o->alg);
	if (o->data)
		json_object_object_add(req, "data", json_object_new_boolean(1));
	if (streq(kv->verb, "verify")) {
		if (!o->signature)
			return usage_error("key verify: --signature FILE is required");
		r = cli_read_input(o->signature, KEY_SIG_MAX * 2, "the signature", &sig);
		if (r != 0)
			return r;
		if (o->der && ecdsa_half(o->alg) && der_to_jws(sig, ecdsa_half(o->alg)) < 0)
			return usage_error("--signature: not a DER ECDSA signature for %s", o->alg);
		if (sig->len == 0 || sig->len > KEY_SIG_MAX)
			return usage_error("--signature: 1 to %u bytes", KEY_SIG_MAX);
		json_object_object_add(req, "signature_len", json_object_new_int64(sig->len));
	}
	if (o->aad) {
		r = cli_read_input(o->aad, KEY_AAD_MAX, "the additional data", &aad);
		if (r != 0)
			return r;
		json_object_object_add(req, "aad_len", json_object_new_int64(aad->len));
	}
	r = cli_read_input(o->file, max, "the input", &in);
	if (r != 0)
		return r;
	n = (sig ? sig->len : 0) + (aad ? aad->len : 0) + in->len;
	r = secbuf_new(n ? n : 1, &all);
	if (r < 0)
		return fail(r, "input");
	if (aad)
		memcpy(all->data, aad->data, aad->len);
	if (sig)
		memcpy(all->data + (aad ? aad->len : 0), sig->data, sig->len);
	memcpy(all->data + n - in->len, in->data, in->len);
	all->len = n;
	*ret = TAKE_PTR(all);
	return 0;
}

/* {"version", "alg", "value": base64} of a use's output. */
static int print_use_json(struct json_object *reply, const struct secbuf *out)
{
	_cleanup_free_ char *b64 = malloc(out->len / 3 * 4 + 8);
	struct json_object *o = json_object_new_object(), *m;

	if (!b64 || !o) {
		json_object_put(o);
		return fail(-ENOMEM, "output");
	}
	ssh_base64(out->data, out->len, b64, true);
	if (json_object_object_get_ex(reply, "version", &m))
		json_object_object_add(o, "version", json_object_get(m));
	cli_add_str(o, "alg", cli_str_of(reply, "alg"));
	cli_add_str(o, "value", b64);
	print_json(o);
	json_object_put(o);
	secure_wipe(b64, strlen(b64));
	return EXIT_OK;
}

static void print_list(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);

		if (!cli_print_deleted(s))
			printf("%s\tversion %s\n", cli_str_of(s, "name"),
			       cli_str_of(s, "current_version"));
	}
}

static void print_versions(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);
		const char *nbf = cli_str_of(v, "not_before"), *exp = cli_str_of(v, "expires");

		printf("%s\t%s\tcreated %s\tnot-before %s\texpires %s\n", cli_str_of(v, "version"),
		       cli_enabled_word(v), cli_str_of(v, "created"), nbf ? nbf : "-",
		       exp ? exp : "-");
	}
}

static void print_show(struct json_object *reply)
{
	static const char *const keys[] = { "name",	  "type",    "protection",	"key_ops",
					    "exportable", "version", "current_version", "enabled",
					    "created",	  "updated", "not_before",	"expires" };

	cli_print_fields(reply, keys, ELEMENTSOF(keys));
}

static bool is_use(const struct cli_verb *kv)
{
	return streq(kv->verb, "sign") || streq(kv->verb, "verify") || streq(kv->verb, "encrypt") ||
	       streq(kv->verb, "decrypt") || streq(kv->verb, "wrap") || streq(kv->verb, "unwrap");
}

/* "rotate-after 30d" ..., a span in days when it is whole days, else in seconds; "none". */
static void print_rotation(struct json_object *reply)
{
	static const char *const names[] = { "rotate_after", "notify_before", "expires_after" };

	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		struct json_object *m = NULL;
		int64_t v = 0;

		if (json_object_object_get_ex(reply, names[i], &m))
			v = json_object_get_int64(m);
		printf("%s\t", names[i]);
		if (v == 0)
			printf("none\n");
		else if (v % 86400 == 0)
			printf("%" PRId64 "d\n", v / 86400);
		else
			printf("%" PRId64 "s\n", v);
	}
}

static const struct cli_errno_status verify_status[] = { { EBADMSG, EXIT_REFUSED }, {} };

static int key_run(struct ctl *ctl, const struct cli_verb *kv, struct key_opts *o, const char *ref,
		   const char *vault, const char *name)
{
	_cleanup_secbuf_ struct secbuf *in = NULL, *out = NULL;
	_cleanup_free_ uint8_t *blob = NULL;
	struct secbuf blob_view = { 0 };
	struct json_object *req, *reply = NULL;
	char what[2 * VAULTFS_NAME_MAX + 32];
	int r;

	req = cli_object_request(o->rotation_set ? "key-rotation-set" : kv->op, vault, name,
				 o->version, o->deleted, o->members);
	if (!req)
		return fail(-ENOMEM, "request");
	if (o->format)
		cli_add_str(req, "format", o->format);

	if (streq(kv->verb, "import"))
		r = cli_read_input(o->file, KEY_IMPORT_MAX, "the private key", &in);
	else if (is_use(kv))
		r = use_value(kv, o, req, &in);
	else
		r = cli_backup_input("key", kv->verb, o->file, &blob, &blob_view);
	if (r != 0) {
		json_object_put(req);
		return r;
	}
	snprintf(what, sizeof(what), "%s '%s'", name ? "key" : "vault", ref);
	/* a signature that does not verify is an answer, not a fault: exit 1 as openssl does */
	r = cli_call(ctl, req, blob ? &blob_view : in, what,
		     streq(kv->verb, "verify") ? verify_status : NULL, &reply, &out);
	if (r != 0)
		return r;

	if (streq(kv->verb, "backup")) {
		r = cli_write_backup(o->file, out);
	} else if (streq(kv->verb, "list")) {
		cli_print_array(reply, "keys", o->json, print_list);
	} else if (streq(kv->verb, "versions")) {
		cli_print_array(reply, "versions", o->json, print_versions);
	} else if (streq(kv->verb, "show")) {
		if (o->json)
			print_json(reply);
		else
			print_show(reply);
	} else if (streq(kv->verb, "rotation") && !o->rotation_set) {
		if (o->json)
			print_json(reply);
		else
			print_rotation(reply);
	} else if (streq(kv->verb, "rotation")) {
		fprintf(stderr, "%s: rotation policy set\n", ref);
	} else if (streq(kv->verb, "verify")) {
		fprintf(stderr, "%s: signature verified (version %s, %s)\n", ref,
			cli_str_of(reply, "version"), cli_str_of(reply, "alg"));
	} else if (out) {
		/* get-public, sign, encrypt, decrypt, wrap, unwrap */
		if (streq(kv->verb, "sign") && o->der && ecdsa_half(o->alg) && jws_to_der(&out) < 0)
			r = fail(-EINVAL, "converting the signature to DER");
		else if (o->json)
			r = print_use_json(reply, out);
		else if (io_write_all(STDOUT_FILENO, out->data, out->len) < 0)
			r = fail(-EIO, "writing the output");
		if (r == 0 && !o->json && (streq(kv->verb, "encrypt") || streq(kv->verb, "wrap")))
			fprintf(stderr, "%s: version %s, %s\n", ref, cli_str_of(reply, "version"),
				cli_str_of(reply, "alg"));
	} else if (streq(kv->verb, "restore")) {
		fprintf(stderr, "%s/%s: restored\n", ref, cli_str_of(reply, "name"));
	} else if (cli_str_of(reply, "version")) {
		fprintf(stderr, "%s: version %s\n", ref, cli_str_of(reply, "version"));
	} else {
		say_done(ref, kv->verb); /* delete, recover, purge, update */
	}
	json_object_put(reply);
	return r;
}

int cmd_key(struct ctl *ctl, int argc, char **argv)
{
	struct key_opts o = {};
	const struct cli_verb *kv = NULL;
	char buf[2 * VAULTFS_NAME_MAX + 4];
	char *vault = NULL, *name = NULL;
	const char *ref = NULL;
	int r;

	if (argc < 2)
		return usage_error("key: create, import, list, show, versions, rotate, update, "
				   "delete, recover, purge, backup, restore, get-public, sign, "
				   "verify, encrypt, decrypt, wrap or unwrap");
	kv = cli_verb_find(key_verbs, ELEMENTSOF(key_verbs), argv[1]);
	if (!kv)
		return usage_error("key: unknown verb '%.32s'", argv[1]);
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;	/* 0: glibc re-initialises its scanning state for the new argv */
	o.members = json_object_new_object();
	if (!o.members)
		return fail(-ENOMEM, "options");
	r = parse_opts(kv, argc, argv, &o);
	if (r == 0)
		r = cli_object_ref("key", kv, argc, argv, buf, sizeof(buf), &ref, &vault, &name);
	if (r == 0 && streq(kv->verb, "create") &&
	    !json_object_object_get_ex(o.members, "type", NULL))
		r = usage_error("key create: --type is required (rsa-2048, rsa-3072, rsa-4096, "
				"ec-p256, ec-p384, ec-p521, ed25519, aes-256)");
	if (r == 0)
		r = key_run(ctl, kv, &o, ref, vault, name);
	json_object_put(o.members);
	return r;
}
