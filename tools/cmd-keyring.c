/* cmd-keyring.c: `vaultctl keyring load`: a secret's value placed in a kernel keyring as a
 * "logon" key (the kernel uses it, userspace can never read it back: what dm-crypt and fscrypt
 * look up) or a "user" key, raw or as fscrypt's v1 key payload. The value is fetched exactly as
 * `secret get` fetches it (request secret-get: the daemon decides it under `read` and records
 * it), and everything is checked before it is fetched, so a usage error reads nothing. Material
 * from another source (an AES key's, decided under `unwrap`) goes through load_material, which
 * takes a secure buffer. The value lives only in secure buffers: never on argv, in the
 * environment, on standard output (which gets the key's serial number) or in an error. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include <keyutils.h>

#include "core/keyring.h"
#include "core/timeutil.h"
#include "tools/vaultctl.h"

/* What to make of the material: checked by keyring_load_prepare before anything is fetched. */
struct keyring_load {
	const char *type;    /* "logon" (default) or "user" */
	const char *desc;    /* the key's description (for fscrypt: fsdesc) */
	const char *keyring; /* a spec of keyring_spec_parse, "@u" by default */
	unsigned timeout;    /* seconds; 0: none */
	bool fscrypt;	     /* the material is an fscrypt v1 key, made into struct fscrypt_key */
	char fsdesc[KEYRING_FSCRYPT_DESC_MAX];
};

static int keyring_error(int r, const struct keyring_load *l)
{
	switch (-r) {
	case EXDEV:
		return usage_error(
			"--keyring %s dies with vaultctl (the process and thread keyrings "
			"last as long as the process): use @u (the default), @us or @s",
			l->keyring);
	case EOPNOTSUPP:
		return usage_error("--keyring @g: the kernel has no group keyrings; use @u, @us or "
				   "@s");
	case EINVAL:
		return usage_error("--keyring: '%.64s' is not a keyring: " KEYRING_SPEC_USAGE,
				   l->keyring);
	case ENOKEY:
		fprintf(stderr,
			"vaultctl: keyring %s: no such keyring (or it was revoked or has "
			"expired)\n",
			l->keyring);
		return EXIT_REFUSED;
	case ENOTDIR:
		fprintf(stderr, "vaultctl: keyring %s: that key is not a keyring\n", l->keyring);
		return EXIT_REFUSED;
	case EACCES:
		fprintf(stderr, "vaultctl: keyring %s: no permission to add keys to it\n",
			l->keyring);
		return EXIT_REFUSED;
	case EDQUOT:
		fprintf(stderr,
			"vaultctl: keyring %s: the key quota of uid %u is full (see "
			"/proc/key-users and the sysctls kernel.keys.maxkeys and maxbytes)\n",
			l->keyring, (unsigned)getuid());
		return EXIT_REFUSED;
	default:
		fprintf(stderr, "vaultctl: keyring %s: cannot add the key: %s\n", l->keyring,
			strerror(-r));
		return exit_status(r);
	}
}

/* Check everything that can be checked without the material: 0 or an exit status after
 * saying why. */
static int keyring_load_prepare(struct keyring_load *l)
{
	int32_t id = 0, serial = 0, us = 0;
	int r;

	if (!streq(l->type, "logon") && !streq(l->type, "user"))
		return usage_error("--type: logon or user, not '%.32s'", l->type);
	if (l->fscrypt) {
		if (!streq(l->type, "logon"))
			return usage_error("--format fscrypt: fscrypt looks up logon keys only; "
					   "leave out --type user");
		if (!l->desc || keyring_fscrypt_desc(l->desc, l->fsdesc) < 0)
			return usage_error("--format fscrypt needs --description with the policy's "
					   "key descriptor: 16 hex digits as `e4crypt set_policy` "
					   "takes them, alone or after 'fscrypt:' or 'ext4:' (not "
					   "'%.64s')",
					   l->desc ? l->desc : "");
		l->desc = l->fsdesc;
	}
	if (!l->desc)
		return usage_error("keyring load needs --description (the name the kernel or the "
				   "program finds the key by)");
	r = keyring_desc_check(l->type, l->desc);
	if (r == -EDOM)
		return usage_error(
			"--description '%.64s': a logon key's description needs a "
			"prefix naming its user, as in 'cryptsetup:NAME' or "
			"'fscrypt:DESCRIPTOR' (the kernel refuses one without 'prefix:')",
			l->desc);
	if (r < 0)
		return usage_error("--description: 1 to 255 printable ASCII characters");
	r = keyring_spec_parse(l->keyring, &id);
	if (r < 0)
		return keyring_error(r, l);
	r = keyring_spec_resolve(id, &serial);
	if (r < 0)
		return keyring_error(r, l);
	if (id == KEY_SPEC_SESSION_KEYRING &&
	    keyring_spec_resolve(KEY_SPEC_USER_SESSION_KEYRING, &us) == 0 && us == serial)
		fprintf(stderr, "vaultctl: note: no session keyring here (no login session): @s is "
				"the user-session keyring @us, which processes without a session "
				"keyring search\n");
	return 0;
}

/* Place material as l says: 0 or an exit status after saying why. Prints the serial. */
static int load_material(const struct keyring_load *l, const struct secbuf *material,
			 const char *what)
{
	_cleanup_secbuf_ struct secbuf *key = NULL, *payload = NULL;
	const struct secbuf *p = material;
	int32_t serial = 0;
	int r;

	if (l->fscrypt) {
		r = keyring_fscrypt_key(material, &key);
		if (r == -EMSGSIZE || r == -EINVAL) {
			fprintf(stderr,
				"vaultctl: %s: not an fscrypt key: it must be %u bytes "
				"(AES-256-XTS), raw or as %u hex digits (a newline after "
				"them is allowed); it is %zu bytes%s\n",
				what, KEYRING_FSCRYPT_KEY_SIZE, 2 * KEYRING_FSCRYPT_KEY_SIZE,
				material->len, r == -EINVAL ? ", not all hex digits" : "");
			return EXIT_USAGE;
		}
		if (r == 0)
			r = keyring_fscrypt_payload(key, &payload);
		if (r < 0)
			return fail(r, what);
		p = payload;
	} else if (material->len == 0) {
		fprintf(stderr, "vaultctl: %s: the value is empty: a key needs at least one byte\n",
			what);
		return EXIT_USAGE;
	}
	r = keyring_add(l->type, l->desc, l->keyring, p, l->timeout, &serial);
	if (r == -EMSGSIZE) {
		fprintf(stderr,
			"vaultctl: %s: a %s key holds at most 32767 bytes; the value has "
			"%zu\n",
			what, l->type, p->len);
		return EXIT_USAGE;
	}
	if (r < 0)
		return keyring_error(r, l);
	printf("%" PRId32 "\n", serial);
	fprintf(stderr, "%s: %s key '%s' (serial %" PRId32 ") in %s\n", what, l->type, l->desc,
		serial, l->keyring);
	return EXIT_OK;
}

/* The value of a secret as `secret get` has it: 0 with it, or an exit status. */
static int fetch_secret(struct ctl *ctl, const char *vault, const char *name, uint32_t version,
			const char *what, struct secbuf **ret)
{
	struct json_object *req, *reply = NULL;
	struct secbuf *out = NULL;
	int r;

	req = request_new("secret-get");
	if (!req)
		return fail(-ENOMEM, what);
	json_object_object_add(req, "vault", json_object_new_string(vault));
	json_object_object_add(req, "name", json_object_new_string(name));
	if (version)
		json_object_object_add(req, "version", json_object_new_int64(version));
	r = ctl_call(ctl, req, NULL, &reply, &out);
	json_object_put(req);
	if (r != 0)
		return r;
	r = reply_status(reply, what);
	json_object_put(reply);
	if (r == 0 && !out)
		r = fail(-EPROTO, what);
	if (r != 0) {
		secbuf_free(out);
		return r;
	}
	*ret = out;
	return 0;
}

/* --timeout: seconds, or a span of duration_parse (90s, 15m, 12h, 30d, 2w). */
static int parse_timeout(const char *s, unsigned *ret)
{
	int64_t secs = -1;

	if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) <= 10)
			secs = strtoll(s, NULL, 10);
	} else if (duration_parse(s, &secs) < 0) {
		secs = -1;
	}
	if (secs <= 0 || secs > UINT_MAX)
		return usage_error("--timeout: at least 1 s, at most %u s: seconds, or 90s, 15m, "
				   "12h, 30d, 2w (not '%.32s')",
				   UINT_MAX, s);
	*ret = (unsigned)secs;
	return 0;
}

static int keyring_load_cmd(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { { "type", required_argument, NULL, 't' },
					      { "description", required_argument, NULL, 'd' },
					      { "keyring", required_argument, NULL, 'k' },
					      { "timeout", required_argument, NULL, 'T' },
					      { "format", required_argument, NULL, 'f' },
					      { "version", required_argument, NULL, 'v' },
					      {} };
	struct keyring_load l = { .type = "logon", .keyring = "@u" };
	_cleanup_secbuf_ struct secbuf *value = NULL;
	char buf[2 * VAULTFS_NAME_MAX + 4], what[2 * VAULTFS_NAME_MAX + 16];
	char *vault = NULL, *name = NULL;
	uint32_t version = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 't':
			l.type = optarg;
			break;
		case 'd':
			l.desc = optarg;
			break;
		case 'k':
			l.keyring = optarg;
			break;
		case 'T':
			if (parse_timeout(optarg, &l.timeout))
				return EXIT_USAGE;
			break;
		case 'f':
			if (!streq(optarg, "raw") && !streq(optarg, "fscrypt"))
				return usage_error("--format: raw or fscrypt, not '%.32s'", optarg);
			l.fscrypt = streq(optarg, "fscrypt");
			break;
		case 'v':
			if (parse_u32("--version", optarg, &version))
				return EXIT_USAGE;
			break;
		default:
			return usage_error("keyring load: unknown or unexpected option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("keyring load takes one VAULT/NAME");
	if (split_ref(argv[optind], buf, sizeof(buf), &vault, &name) < 0)
		return usage_error("'%.300s' is not VAULT/NAME (names: [A-Za-z0-9][A-Za-z0-9._-]"
				   "{0,126})",
				   argv[optind]);
	r = keyring_load_prepare(&l);
	if (r != 0)
		return r;
	snprintf(what, sizeof(what), "secret '%s/%s'", vault, name);
	r = fetch_secret(ctl, vault, name, version, what, &value);
	if (r != 0)
		return r;
	return load_material(&l, value, what);
}

int cmd_keyring(struct ctl *ctl, int argc, char **argv)
{
	if (argc < 2)
		return usage_error("keyring: load");
	if (!streq(argv[1], "load"))
		return usage_error("keyring: unknown verb '%.32s'", argv[1]);
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;	/* 0: glibc re-initialises its scanning state for the new argv */
	return keyring_load_cmd(ctl, argc, argv);
}
