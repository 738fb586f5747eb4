/* cmd-cert.c: `vaultctl cert ...`: each verb becomes one certificate request of core/request.h
 * (ctl_call carries it to the daemon, or runs it here with --offline) and its reply is printed;
 * `cert ca create-root|create-intermediate` are cert create with a CA's usages. Inputs (a PEM or
 * PKCS#12 to import and its password, a chain to merge, a backup) come from files or stdin,
 * never argv; views and CSRs go to stdout raw or into a new file of mode 0600. A private key
 * (an import, a key, pem or p12 view) is held in a secure buffer only, and a password too. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "core/io.h"
#include "core/key.h"
#include "core/timeutil.h"
#include "core/x509.h"
#include "tools/vaultctl.h"

enum {
	OPT_FILE = 0x100,
	OPT_SUBJECT,
	OPT_SAN,
	OPT_TYPE,
	OPT_PROTECTION,
	OPT_EXPORTABLE,
	OPT_REUSE_KEY,
	OPT_VALIDITY,
	OPT_KEY_USAGE,
	OPT_EKU,
	OPT_ISSUER,
	OPT_CA,
	OPT_PATH_LEN,
	OPT_RENEW_BEFORE,
	OPT_RENEW_PERCENT,
	OPT_NOTIFY_BEFORE,
	OPT_NO_RENEW,
	OPT_PASSWORD_FILE,
	OPT_FORMAT,
	OPT_VIEW,
	OPT_VERSION,
	OPT_JSON,
	OPT_DELETED,
	OPT_ENABLED,
	OPT_NOT_BEFORE,
	OPT_EXPIRES,
	OPT_TAG,
	OPT_ACME_DIRECTORY,
	OPT_ACME_CONTACT,
	_OPT_END,
};

/* The letters of the options above, in order: what each verb takes (see cert_verbs). */
static const char letters[] = "fsStPxrVkeicLbpnNwFmvjdEBXgAC";
#define POLICY_LETTERS "sStPxrVkeicLbpnNAC"

static const struct cli_verb cert_verbs[] = {
	{ "create", POLICY_LETTERS, false, "cert-create" },
	{ "import", "fwFx", false, "cert-import" },
	{ "list", "jd", true, "cert-list" },
	{ "show", "vj", false, "cert-show" },
	{ "versions", "j", false, "cert-versions" },
	{ "renew", "", false, "cert-renew" },
	{ "merge", "f", false, "cert-merge" },
	{ "csr", "vf", false, "cert-csr" },
	{ "update", "vEBXg", false, "cert-update" },
	{ "update-policy", POLICY_LETTERS, false, "cert-update-policy" },
	{ "get-policy", "j", false, "cert-get-policy" },
	{ "delete", "", false, "cert-delete" },
	{ "recover", "", false, "cert-recover" },
	{ "purge", "", false, "cert-purge" },
	{ "backup", "f", false, "cert-backup" },
	{ "restore", "f", true, "cert-restore" },
	{ "export", "mvfj", false, "cert-export" },
	/* cert ca create-root|create-intermediate: cert create as a CA */
	{ "create-root", "sStPVkL", false, "cert-create" },
	{ "create-intermediate", "sStPVkiL", false, "cert-create" },
};

struct cert_opts {
	const char *file, *password_file, *format;
	bool json, deleted, ca;
	uint32_t version;
	struct json_object *members; /* request members given by options */
};

/* A span: seconds ("3600"), or a number and a unit s, m, h, d, w or y (365 days). */
static int parse_span(const char *opt, const char *s, int64_t *ret)
{
	size_t n = strlen(s);
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (n && s[0] != '-' && !errno && (*end == '\0' || (streq(end, "y") && v < 1000))) {
		*ret = *end ? (int64_t)v * 365 * 86400 : (int64_t)v;
		return 0;
	}
	if (duration_parse(s, ret) < 0)
		return usage_error("%s: a span such as 90d, 12h, 30m, 10y or seconds, not "
				   "'%.32s'",
				   opt, s);
	return 0;
}

static int add_span(struct json_object *o, const char *key, const char *opt, const char *s)
{
	int64_t v;

	if (parse_span(opt, s, &v))
		return EXIT_USAGE;
	cli_add_int(o, key, v);
	return 0;
}

/* "--san dns:a.example" into {"dns": "a.example"} of the "sans" array. */
static int add_san(struct json_object *m, const char *s)
{
	static const char *const kinds[] = { "dns", "ip", "email", "uri" };
	struct json_object *sans = NULL, *e;
	const char *colon = strchr(s, ':');

	for (size_t i = 0; colon && i < ELEMENTSOF(kinds); i++) {
		if ((size_t)(colon - s) != strlen(kinds[i]) || strncmp(s, kinds[i], colon - s))
			continue;
		if (!json_object_object_get_ex(m, "sans", &sans)) {
			sans = json_object_new_array();
			json_object_object_add(m, "sans", sans);
		}
		if (json_object_array_length(sans) >= X509_SANS_MAX)
			return usage_error("at most %u --san", X509_SANS_MAX);
		e = json_object_new_object();
		cli_add_str(e, kinds[i], colon + 1);
		json_object_array_add(sans, e);
		return 0;
	}
	return usage_error("--san: KIND:VALUE with KIND dns, ip, email or uri "
			   "(dns:www.example, ip:192.0.2.1), not '%.64s'",
			   s);
}

static int parse_opts(const struct cli_verb *cv, int argc, char **argv, struct cert_opts *o)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, OPT_FILE },
		{ "subject", required_argument, NULL, OPT_SUBJECT },
		{ "san", required_argument, NULL, OPT_SAN },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "protection", required_argument, NULL, OPT_PROTECTION },
		{ "exportable", no_argument, NULL, OPT_EXPORTABLE },
		{ "reuse-key", no_argument, NULL, OPT_REUSE_KEY },
		{ "validity", required_argument, NULL, OPT_VALIDITY },
		{ "key-usage", required_argument, NULL, OPT_KEY_USAGE },
		{ "eku", required_argument, NULL, OPT_EKU },
		{ "issuer", required_argument, NULL, OPT_ISSUER },
		{ "ca", no_argument, NULL, OPT_CA },
		{ "path-len", required_argument, NULL, OPT_PATH_LEN },
		{ "renew-before", required_argument, NULL, OPT_RENEW_BEFORE },
		{ "renew-percent", required_argument, NULL, OPT_RENEW_PERCENT },
		{ "notify-before", required_argument, NULL, OPT_NOTIFY_BEFORE },
		{ "no-renew", no_argument, NULL, OPT_NO_RENEW },
		{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "view", required_argument, NULL, OPT_VIEW },
		{ "version", required_argument, NULL, OPT_VERSION },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "deleted", no_argument, NULL, OPT_DELETED },
		{ "enabled", required_argument, NULL, OPT_ENABLED },
		{ "not-before", required_argument, NULL, OPT_NOT_BEFORE },
		{ "expires", required_argument, NULL, OPT_EXPIRES },
		{ "tag", required_argument, NULL, OPT_TAG },
		{ "acme-directory", required_argument, NULL, OPT_ACME_DIRECTORY },
		{ "acme-contact", required_argument, NULL, OPT_ACME_CONTACT },
		{}
	};
	struct json_object *tags = NULL, *m = o->members;
	char *end;
	long v;
	int c;

	_Static_assert(sizeof(letters) - 1 == _OPT_END - OPT_FILE, "one letter per option");
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		if (c < OPT_FILE || c >= _OPT_END || !strchr(cv->opts, letters[c - OPT_FILE]))
			return usage_error("cert %s: unknown or unexpected option", cv->verb);
		switch (c) {
		case OPT_FILE:
			o->file = optarg;
			break;
		case OPT_SUBJECT:
			cli_add_str(m, "subject", optarg);
			break;
		case OPT_SAN:
			if (add_san(m, optarg))
				return EXIT_USAGE;
			break;
		case OPT_TYPE:
			cli_add_str(m, "key_type", optarg);
			break;
		case OPT_PROTECTION:
			cli_add_str(m, "protection", optarg);
			break;
		case OPT_EXPORTABLE:
			json_object_object_add(m, "exportable", json_object_new_boolean(1));
			break;
		case OPT_REUSE_KEY:
			json_object_object_add(m, "reuse_key", json_object_new_boolean(1));
			break;
		case OPT_VALIDITY:
			if (add_span(m, "validity", "--validity", optarg))
				return EXIT_USAGE;
			break;
		case OPT_KEY_USAGE:
			cli_add_str(m, "key_usage", optarg);
			break;
		case OPT_EKU:
			cli_add_str(m, "ext_key_usage", optarg);
			break;
		case OPT_ISSUER:
			cli_add_str(m, "issuer", optarg);
			break;
		case OPT_CA:
			json_object_object_add(m, "is_ca", json_object_new_boolean(1));
			break;
		case OPT_PATH_LEN:
		case OPT_RENEW_PERCENT:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 0 || v > 99)
				return usage_error("--%s: a number 0 to 99",
						   opts[c - OPT_FILE].name);
			cli_add_int(m, c == OPT_PATH_LEN ? "path_len" : "renew_percent", v);
			break;
		case OPT_RENEW_BEFORE:
			if (add_span(m, "renew_before", "--renew-before", optarg))
				return EXIT_USAGE;
			break;
		case OPT_NOTIFY_BEFORE:
			if (add_span(m, "notify_before", "--notify-before", optarg))
				return EXIT_USAGE;
			break;
		case OPT_NO_RENEW:
			cli_add_int(m, "renew_percent", 0);
			cli_add_int(m, "renew_before", 0);
			break;
		case OPT_PASSWORD_FILE:
			o->password_file = optarg;
			break;
		case OPT_FORMAT:
			cli_add_str(m, "format", optarg);
			break;
		case OPT_VIEW:
			cli_add_str(m, "view", optarg);
			o->format = optarg;
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
		case OPT_ENABLED:
			if (cli_add_enabled(m, optarg))
				return EXIT_USAGE;
			break;
		case OPT_NOT_BEFORE:
		case OPT_EXPIRES:
			if (cli_add_time(m, c == OPT_EXPIRES ? "expires" : "not_before",
					 c == OPT_EXPIRES ? "--expires" : "--not-before", optarg,
					 true))
				return EXIT_USAGE;
			break;
		case OPT_TAG:
			if (cli_add_tag(m, &tags, optarg))
				return EXIT_USAGE;
			break;
		case OPT_ACME_DIRECTORY:
			cli_add_str(m, "acme_directory", optarg);
			break;
		case OPT_ACME_CONTACT:
			cli_add_str(m, "acme_contact", optarg);
			break;
		}
	}
	return 0;
}

/* import's value bytes: [password][PEM or PKCS#12], "password_len" in req. The password file's
 * one trailing newline is not the password's. */
static int import_value(struct cert_opts *o, struct json_object *req, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *pw = NULL, *in = NULL, *all = NULL;
	size_t plen = 0;
	int r;

	if (o->password_file) {
		r = cli_read_input(o->password_file, X509_PASSWORD_MAX + 1, "the password", &pw);
		if (r != 0)
			return r;
		plen = pw->len;
		if (plen && pw->data[plen - 1] == '\n')
			plen--;
		if (plen > X509_PASSWORD_MAX)
			return usage_error("--password-file: at most %u bytes", X509_PASSWORD_MAX);
		if (plen)
			cli_add_int(req, "password_len", (int64_t)plen);
	}
	r = cli_read_input(o->file, X509_INPUT_MAX, "the certificate and key", &in);
	if (r != 0)
		return r;
	r = secbuf_new(plen + in->len + 1, &all);
	if (r < 0)
		return fail(r, "input");
	if (plen)
		memcpy(all->data, pw->data, plen);
	memcpy(all->data + plen, in->data, in->len);
	all->len = plen + in->len;
	*ret = TAKE_PTR(all);
	return 0;
}

/* out into a new file of mode 0600 (never over an existing one) or, path NULL, stdout. */
static int write_output(const char *path, const struct secbuf *out)
{
	_cleanup_close_ int fd = -1;
	int r;

	if (!path)
		return io_write_all(STDOUT_FILENO, out->data, out->len) < 0 ?
			       fail(-EIO, "writing the output") :
			       EXIT_OK;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW, 0600);
	if (fd < 0) {
		fprintf(stderr, "vaultctl: cannot create '%s': %m%s\n", path,
			errno == EEXIST ? " (never written over: remove it first)" : "");
		return EXIT_REFUSED;
	}
	r = io_write_all(fd, out->data, out->len);
	if (r >= 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlink(path);
		return fail(r, "writing the output");
	}
	return EXIT_OK;
}

/* --- printing --- */

static void print_list(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *s = json_object_array_get_idx(arr, i);
		const char *exp = cli_str_of(s, "expires");

		if (!cli_print_deleted(s))
			printf("%s\tversion %s\texpires %s\n", cli_str_of(s, "name"),
			       cli_str_of(s, "current_version"), exp ? exp : "-");
	}
}

static void print_versions(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i), *m;
		bool pending =
			json_object_object_get_ex(v, "pending", &m) && json_object_get_boolean(m);
		const char *serial = cli_str_of(v, "serial"), *exp = cli_str_of(v, "not_after");

		printf("%s\t%s\t%s\tserial %s\tcreated %s\tnot-after %s\n",
		       cli_str_of(v, "version"), pending ? "pending" : "issued",
		       cli_enabled_word(v), serial ? serial : "-", cli_str_of(v, "created"),
		       exp ? exp : "-");
	}
}

/* "30d", "12h" or seconds; "none" for 0. */
static void print_span(const char *label, int64_t v)
{
	printf("  %-16s", label);
	if (v == 0)
		printf("none\n");
	else if (v % 86400 == 0)
		printf("%" PRId64 "d\n", v / 86400);
	else if (v % 3600 == 0)
		printf("%" PRId64 "h\n", v / 3600);
	else
		printf("%" PRId64 "s\n", v);
}

static void print_policy(struct json_object *p)
{
	static const char *const keys[] = { "subject",	     "key_type",  "protection",
					    "exportable",    "reuse_key", "key_usage",
					    "ext_key_usage", "issuer",	  "acme_directory",
					    "acme_contact",  "is_ca",	  "path_len" };
	struct json_object *sans = NULL;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const char *s = cli_str_of(p, keys[i]);

		if (s || !strstr(keys[i], "acme"))
			printf("  %-16s%s\n", keys[i], s && *s ? s : "-");
	}
	json_object_object_get_ex(p, "sans", &sans);
	for (size_t i = 0; sans && i < json_object_array_length(sans); i++) {
		struct json_object *e = json_object_array_get_idx(sans, i);

		json_object_object_foreach(e, k, v)
			printf("  %-16s%s:%s\n", "san", k, json_object_get_string(v));
	}
	print_span("validity", cli_int_of(p, "validity"));
	if (cli_int_of(p, "renew_percent"))
		printf("  %-16s%" PRId64 "%% of the lifetime\n", "renew_at",
		       cli_int_of(p, "renew_percent"));
	else if (cli_int_of(p, "renew_before"))
		print_span("renew_before", cli_int_of(p, "renew_before"));
	else
		printf("  %-16snever (by hand: cert renew)\n", "renew");
	print_span("notify_before", cli_int_of(p, "notify_before"));
}

/* The renewal state of show: failures, the last try, the next, the last error. */
static void print_renewal(struct json_object *rn)
{
	int64_t failures = cli_int_of(rn, "failures");
	const char *last = cli_str_of(rn, "last_attempt"), *next = cli_str_of(rn, "next_try");

	if (!failures) {
		printf("%-16s%s\n", "renewal", last ? "ok" : "no attempt recorded");
		if (last)
			printf("  %-16s%s\n", "last_attempt", last);
		return;
	}
	printf("%-16sFAILING: %" PRId64 " failed attempt%s\n", "renewal", failures,
	       failures == 1 ? "" : "s");
	printf("  %-16s%s\n", "last_attempt", last ? last : "-");
	printf("  %-16s%s\n", "next_try", next ? next : "-");
	printf("  %-16s%s\n", "last_error", cli_str_of(rn, "last_error") ?: "-");
}

static void print_show(struct json_object *reply)
{
	static const char *const keys[] = {
		"name",	      "version", "current_version", "pending",	 "source",   "subject",
		"issuer",     "serial",	 "not_before",	    "not_after", "key_type", "protection",
		"exportable", "enabled", "created",	    "updated",
	};
	struct json_object *m;

	cli_print_fields(reply, keys, ELEMENTSOF(keys));
	if (json_object_object_get_ex(reply, "tags", &m) && json_object_object_length(m)) {
		json_object_object_foreach(m, k, v)
			printf("%-16s%s=%s\n", "tag", k, json_object_get_string(v));
	}
	if (json_object_object_get_ex(reply, "policy", &m)) {
		printf("policy (of the next version)\n");
		print_policy(m);
	}
	if (json_object_object_get_ex(reply, "renewal", &m))
		print_renewal(m);
}

/* --- running one verb --- */

/* What an import or a merge was given that does not open or fit (a chain that does not link, the
 * wrong password, a key of no certificate) is bad input (exit 2), not an integrity failure. */
static const struct cli_errno_status bad_input[] = {
	{ EBADMSG, EXIT_USAGE },
	{ ENOKEY, EXIT_USAGE },
	{ EKEYREJECTED, EXIT_USAGE },
	{},
};

/* What an export or a CSR prints: raw, or with --json {"version", "view", "value"} (the PEM
 * text of a certificate view or CSR: never a key view's, which stays out of json-c's heap). */
static int print_out(struct cert_opts *o, struct json_object *reply, const struct secbuf *out)
{
	struct json_object *j;

	if (!o->json)
		return write_output(o->file, out);
	j = json_object_new_object();
	if (!j)
		return fail(-ENOMEM, "output");
	cli_add_int(j, "version", cli_int_of(reply, "version"));
	cli_add_str(j, "view", o->format ? o->format : "crt");
	json_object_object_add(j, "value",
			       json_object_new_string_len((const char *)out->data, (int)out->len));
	print_json(j);
	json_object_put(j);
	return EXIT_OK;
}

static int cert_run(struct ctl *ctl, const struct cli_verb *cv, struct cert_opts *o,
		    const char *ref, const char *vault, const char *name)
{
	_cleanup_secbuf_ struct secbuf *in = NULL, *out = NULL;
	_cleanup_free_ uint8_t *blob = NULL;
	struct secbuf blob_view = { 0 };
	struct json_object *req, *reply = NULL;
	const char *verb = cv->verb;
	char what[2 * VAULTFS_NAME_MAX + 32];
	int r;

	req = cli_object_request(cv->op, vault, name, o->version, o->deleted, o->members);
	if (!req)
		return fail(-ENOMEM, "request");
	if (streq(verb, "import"))
		r = import_value(o, req, &in);
	else if (streq(verb, "merge"))
		r = cli_read_input(o->file, X509_INPUT_MAX, "the chain", &in);
	else
		r = cli_backup_input("cert", verb, o->file, &blob, &blob_view);
	if (r != 0) {
		json_object_put(req);
		return r;
	}
	snprintf(what, sizeof(what), "%s '%s'", name ? "certificate" : "vault", ref);
	r = cli_call(ctl, req, blob ? &blob_view : in, what,
		     streq(verb, "import") || streq(verb, "merge") ? bad_input : NULL, &reply,
		     &out);
	if (r != 0)
		return r;

	if (streq(verb, "backup")) {
		r = cli_write_backup(o->file, out);
	} else if (streq(verb, "list")) {
		cli_print_array(reply, "certificates", o->json, print_list);
	} else if (streq(verb, "versions")) {
		cli_print_array(reply, "versions", o->json, print_versions);
	} else if (streq(verb, "show") || streq(verb, "get-policy")) {
		struct json_object *p = NULL;

		if (o->json)
			print_json(reply);
		else if (streq(verb, "show"))
			print_show(reply);
		else if (json_object_object_get_ex(reply, "policy", &p))
			print_policy(p);
	} else if (out) {
		r = print_out(o, reply, out); /* csr, export */
	} else if (streq(verb, "restore")) {
		fprintf(stderr, "%s/%s: restored\n", ref, cli_str_of(reply, "name"));
	} else if (streq(verb, "update-policy")) {
		fprintf(stderr, "%s: policy set (for the next version)\n", ref);
	} else if (cli_str_of(reply, "version")) {
		struct json_object *m;
		bool pending = json_object_object_get_ex(reply, "pending", &m) &&
			       json_object_get_boolean(m);

		if (pending)
			fprintf(stderr,
				"%s: version %s pending: its CSR waits for the CA "
				"(vaultctl cert csr %s; then cert merge)\n",
				ref, cli_str_of(reply, "version"), ref);
		else if (cli_str_of(reply, "serial"))
			fprintf(stderr, "%s: version %s, serial %s\n", ref,
				cli_str_of(reply, "version"), cli_str_of(reply, "serial"));
		else
			fprintf(stderr, "%s: version %s\n", ref, cli_str_of(reply, "version"));
	}
	json_object_put(reply);
	return r;
}

/* cert ca create-root|create-intermediate: a CA's usages, no EKU, no auto-renewal (a new CA
 * key under what it issued is the operator's call), ten (root) or five years; an intermediate
 * may issue leaves only (path length 0) unless told otherwise. */
static int ca_members(const struct cli_verb *cv, struct json_object *m)
{
	bool root = streq(cv->verb, "create-root");

	if (!json_object_object_get_ex(m, "subject", NULL))
		return usage_error("cert ca %s: --subject is required (\"CN=Example Root CA,"
				   "O=Example\")",
				   cv->verb);
	if (root == json_object_object_get_ex(m, "issuer", NULL))
		return usage_error(root ? "cert ca create-root: a root is self-signed (no "
					  "--issuer)" :
					  "cert ca create-intermediate: --issuer VAULT/ROOT is "
					  "required");
	if (root)
		cli_add_str(m, "issuer", "self");
	json_object_object_add(m, "is_ca", json_object_new_boolean(1));
	if (!json_object_object_get_ex(m, "validity", NULL))
		cli_add_int(m, "validity", (root ? 10 : 5) * 365 * 86400LL);
	if (!root && !json_object_object_get_ex(m, "path_len", NULL))
		cli_add_int(m, "path_len", 0);
	if (!json_object_object_get_ex(m, "key_usage", NULL))
		cli_add_str(m, "key_usage", "keyCertSign,cRLSign,digitalSignature");
	cli_add_str(m, "ext_key_usage", "");
	cli_add_int(m, "renew_percent", 0);
	cli_add_int(m, "renew_before", 0);
	return 0;
}

int cmd_cert(struct ctl *ctl, int argc, char **argv)
{
	struct cert_opts o = {};
	const struct cli_verb *cv = NULL;
	char buf[2 * VAULTFS_NAME_MAX + 4];
	char *vault = NULL, *name = NULL;
	const char *ref = NULL;
	bool ca = argc >= 2 && streq(argv[1], "ca");
	int r;

	if (ca) {
		argc--, argv++;
		if (argc < 2 ||
		    (!streq(argv[1], "create-root") && !streq(argv[1], "create-intermediate")))
			return usage_error("cert ca: create-root or create-intermediate");
	}
	if (argc < 2)
		return usage_error(
			"cert: create, import, list, show, versions, renew, merge, csr, "
			"update, update-policy, get-policy, delete, recover, purge, "
			"backup, restore, export, or ca create-root|create-intermediate");
	for (size_t i = 0; i < ELEMENTSOF(cert_verbs); i++)
		if (streq(argv[1], cert_verbs[i].verb) &&
		    ca == !strncmp(cert_verbs[i].verb, "create-", 7))
			cv = &cert_verbs[i];
	if (!cv)
		return usage_error("cert: unknown verb '%.32s'", argv[1]);
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;	/* 0: glibc re-initialises its scanning state for the new argv */
	o.members = json_object_new_object();
	if (!o.members)
		return fail(-ENOMEM, "options");
	r = parse_opts(cv, argc, argv, &o);
	if (r == 0)
		r = cli_object_ref("cert", cv, argc, argv, buf, sizeof(buf), &ref, &vault, &name);
	if (r == 0 && ca)
		r = ca_members(cv, o.members);
	/* a private key is written raw, never through JSON text (json-c's heap is not wiped) */
	if (r == 0 && o.json && o.format && !streq(o.format, "crt") && !streq(o.format, "chain"))
		r = usage_error("cert export: --json is for the crt and chain views; a key, pem or "
				"p12 view is written raw (--file F)");
	if (r == 0 && streq(cv->verb, "create") &&
	    !json_object_object_get_ex(o.members, "subject", NULL) &&
	    !json_object_object_get_ex(o.members, "sans", NULL))
		r = usage_error("cert create: --subject or --san is required");
	if (r == 0)
		r = cert_run(ctl, cv, &o, ref, vault, name);
	json_object_put(o.members);
	return r;
}
