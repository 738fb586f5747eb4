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

static const struct cert_verb {
	const char *verb;
	const char *opts;
	bool vault_only;
	const char *op;
} cert_verbs[] = {
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

static void add_str(struct json_object *o, const char *key, const char *s)
{
	json_object_object_add(o, key, json_object_new_string(s));
}

static void add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

static const char *str_of(struct json_object *o, const char *key)
{
	struct json_object *m;

	if (!json_object_object_get_ex(o, key, &m) || json_object_is_type(m, json_type_null))
		return NULL;
	return json_object_get_string(m);
}

static int64_t int_of(struct json_object *o, const char *key)
{
	struct json_object *m;

	return json_object_object_get_ex(o, key, &m) ? json_object_get_int64(m) : 0;
}

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
	add_int(o, key, v);
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
		add_str(e, kinds[i], colon + 1);
		json_object_array_add(sans, e);
		return 0;
	}
	return usage_error("--san: KIND:VALUE with KIND dns, ip, email or uri "
			   "(dns:www.example, ip:192.0.2.1), not '%.64s'",
			   s);
}

static int parse_opts(const struct cert_verb *cv, int argc, char **argv, struct cert_opts *o)
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
	int64_t t;
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
			add_str(m, "subject", optarg);
			break;
		case OPT_SAN:
			if (add_san(m, optarg))
				return EXIT_USAGE;
			break;
		case OPT_TYPE:
			add_str(m, "key_type", optarg);
			break;
		case OPT_PROTECTION:
			add_str(m, "protection", optarg);
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
			add_str(m, "key_usage", optarg);
			break;
		case OPT_EKU:
			add_str(m, "ext_key_usage", optarg);
			break;
		case OPT_ISSUER:
			add_str(m, "issuer", optarg);
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
			add_int(m, c == OPT_PATH_LEN ? "path_len" : "renew_percent", v);
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
			add_int(m, "renew_percent", 0);
			add_int(m, "renew_before", 0);
			break;
		case OPT_PASSWORD_FILE:
			o->password_file = optarg;
			break;
		case OPT_FORMAT:
			add_str(m, "format", optarg);
			break;
		case OPT_VIEW:
			add_str(m, "view", optarg);
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
			if (!streq(optarg, "yes") && !streq(optarg, "true") &&
			    !streq(optarg, "no") && !streq(optarg, "false"))
				return usage_error("--enabled: yes or no");
			json_object_object_add(m, "enabled",
					       json_object_new_boolean(streq(optarg, "yes") ||
								       streq(optarg, "true")));
			break;
		case OPT_NOT_BEFORE:
		case OPT_EXPIRES:
			if (parse_time_arg(c == OPT_EXPIRES ? "--expires" : "--not-before", optarg,
					   true, &t))
				return EXIT_USAGE;
			add_int(m, c == OPT_EXPIRES ? "expires" : "not_before", t);
			break;
		case OPT_TAG:
			if (!tags) {
				tags = json_object_new_array();
				json_object_object_add(m, "tags", tags);
			}
			if (json_object_array_length(tags) >= VAULTFS_TAGS_MAX)
				return usage_error("at most %u tags", VAULTFS_TAGS_MAX);
			json_object_array_add(tags, json_object_new_string(optarg));
			break;
		case OPT_ACME_DIRECTORY:
			add_str(m, "acme_directory", optarg);
			break;
		case OPT_ACME_CONTACT:
			add_str(m, "acme_contact", optarg);
			break;
		}
	}
	return 0;
}

/* All of path (or stdin when NULL) into a new secure buffer of at most max bytes. */
static int read_input(const char *path, size_t max, const char *what, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd < 0) {
			fprintf(stderr, "vaultctl: cannot read '%s': %m\n", path);
			return EXIT_REFUSED;
		}
	}
	r = secbuf_new(max + 1, &b);
	if (r >= 0)
		r = io_read_all(path ? fd : STDIN_FILENO, b->data, b->cap, &b->len);
	if (r == -EFBIG) {
		fprintf(stderr, "vaultctl: %s larger than %zu bytes\n", what, max);
		return EXIT_USAGE;
	}
	if (r < 0)
		return fail(r, what);
	*ret = TAKE_PTR(b);
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
		r = read_input(o->password_file, X509_PASSWORD_MAX + 1, "the password", &pw);
		if (r != 0)
			return r;
		plen = pw->len;
		if (plen && pw->data[plen - 1] == '\n')
			plen--;
		if (plen > X509_PASSWORD_MAX)
			return usage_error("--password-file: at most %u bytes", X509_PASSWORD_MAX);
		if (plen)
			add_int(req, "password_len", (int64_t)plen);
	}
	r = read_input(o->file, X509_INPUT_MAX, "the certificate and key", &in);
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
		const char *deleted = str_of(s, "deleted"), *exp = str_of(s, "expires");

		if (deleted)
			printf("%s\tversion %s\tdeleted %s\tpurge after %s\n", str_of(s, "name"),
			       str_of(s, "current_version"), deleted, str_of(s, "purge_after"));
		else
			printf("%s\tversion %s\texpires %s\n", str_of(s, "name"),
			       str_of(s, "current_version"), exp ? exp : "-");
	}
}

static void print_versions(struct json_object *arr)
{
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		struct json_object *v = json_object_array_get_idx(arr, i), *m;
		bool pending =
			json_object_object_get_ex(v, "pending", &m) && json_object_get_boolean(m);
		const char *serial = str_of(v, "serial"), *exp = str_of(v, "not_after");

		printf("%s\t%s\t%s\tserial %s\tcreated %s\tnot-after %s\n", str_of(v, "version"),
		       pending ? "pending" : "issued",
		       json_object_object_get_ex(v, "enabled", &m) && json_object_get_boolean(m) ?
			       "enabled" :
			       "disabled",
		       serial ? serial : "-", str_of(v, "created"), exp ? exp : "-");
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
		const char *s = str_of(p, keys[i]);

		if (s || !strstr(keys[i], "acme"))
			printf("  %-16s%s\n", keys[i], s && *s ? s : "-");
	}
	json_object_object_get_ex(p, "sans", &sans);
	for (size_t i = 0; sans && i < json_object_array_length(sans); i++) {
		struct json_object *e = json_object_array_get_idx(sans, i);

		json_object_object_foreach(e, k, v)
			printf("  %-16s%s:%s\n", "san", k, json_object_get_string(v));
	}
	print_span("validity", int_of(p, "validity"));
	if (int_of(p, "renew_percent"))
		printf("  %-16s%" PRId64 "%% of the lifetime\n", "renew_at",
		       int_of(p, "renew_percent"));
	else if (int_of(p, "renew_before"))
		print_span("renew_before", int_of(p, "renew_before"));
	else
		printf("  %-16snever (by hand: cert renew)\n", "renew");
	print_span("notify_before", int_of(p, "notify_before"));
}

/* The renewal state of show: failures, the last try, the next, the last error. */
static void print_renewal(struct json_object *rn)
{
	int64_t failures = int_of(rn, "failures");
	const char *last = str_of(rn, "last_attempt"), *next = str_of(rn, "next_try");

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
	printf("  %-16s%s\n", "last_error", str_of(rn, "last_error") ?: "-");
}

static void print_show(struct json_object *reply)
{
	static const char *const keys[] = {
		"name",	      "version", "current_version", "pending",	 "source",   "subject",
		"issuer",     "serial",	 "not_before",	    "not_after", "key_type", "protection",
		"exportable", "enabled", "created",	    "updated",
	};
	struct json_object *m;

	for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
		const char *s = str_of(reply, keys[i]);

		printf("%-16s%s\n", keys[i], s ? s : "-");
	}
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

/* Send req (taken) with value; 0 and the reply, or an exit status after saying why. What an
 * import or a merge was given that does not open or fit (a chain that does not link, the wrong
 * password, a key of no certificate) is bad input (exit 2), not an integrity failure. */
static int call(struct ctl *ctl, const struct cert_verb *cv, struct json_object *req,
		const struct secbuf *value, const char *what, struct json_object **ret_reply,
		struct secbuf **ret_value)
{
	struct json_object *reply = NULL, *m;
	struct secbuf *out = NULL;
	int r;

	r = ctl_call(ctl, req, value, &reply, &out);
	json_object_put(req);
	if (r != 0)
		return r;
	r = reply_status(reply, what);
	if (r != 0 && (streq(cv->verb, "import") || streq(cv->verb, "merge")) &&
	    json_object_object_get_ex(reply, "errno", &m) &&
	    (json_object_get_int(m) == EBADMSG || json_object_get_int(m) == ENOKEY ||
	     json_object_get_int(m) == EKEYREJECTED))
		r = EXIT_USAGE;
	if (r != 0) {
		json_object_put(reply);
		secbuf_free(out);
		return r;
	}
	*ret_reply = reply;
	*ret_value = out;
	return 0;
}

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
	add_int(j, "version", int_of(reply, "version"));
	add_str(j, "view", o->format ? o->format : "crt");
	json_object_object_add(j, "value",
			       json_object_new_string_len((const char *)out->data, (int)out->len));
	print_json(j);
	json_object_put(j);
	return EXIT_OK;
}

static int cert_run(struct ctl *ctl, const struct cert_verb *cv, struct cert_opts *o,
		    const char *ref, const char *vault, const char *name)
{
	_cleanup_secbuf_ struct secbuf *in = NULL, *out = NULL;
	_cleanup_free_ uint8_t *blob = NULL;
	struct secbuf blob_view = { 0 };
	struct json_object *req, *reply = NULL;
	const char *verb = cv->verb;
	char what[2 * VAULTFS_NAME_MAX + 32];
	int r = 0;

	req = request_new(cv->op);
	if (!req)
		return fail(-ENOMEM, "request");
	add_str(req, "vault", vault);
	if (name)
		add_str(req, "name", name);
	if (o->version)
		add_int(req, "version", o->version);
	if (o->deleted)
		json_object_object_add(req, "deleted", json_object_new_boolean(1));
	json_object_object_foreach(o->members, key, val)
		json_object_object_add(req, key, json_object_get(val));

	if (streq(verb, "import"))
		r = import_value(o, req, &in);
	else if (streq(verb, "merge"))
		r = read_input(o->file, X509_INPUT_MAX, "the chain", &in);
	else if (streq(verb, "restore")) {
		r = o->file ? backup_read(o->file, &blob, &blob_view.len) :
			      usage_error("cert restore VAULT --file F");
		blob_view.data = blob;
		blob_view.cap = blob_view.len;
	} else if (streq(verb, "backup") && !o->file)
		r = usage_error("cert backup VAULT/NAME --file F");
	if (r != 0) {
		json_object_put(req);
		return r;
	}
	snprintf(what, sizeof(what), "%s '%s'", name ? "certificate" : "vault", ref);
	r = call(ctl, cv, req, blob ? &blob_view : in, what, &reply, &out);
	if (r != 0)
		return r;

	if (streq(verb, "backup")) {
		r = out ? backup_write(o->file, out) : fail(-EPROTO, "backup");
	} else if (streq(verb, "list") || streq(verb, "versions")) {
		struct json_object *arr = NULL;

		json_object_object_get_ex(reply, streq(verb, "list") ? "certificates" : "versions",
					  &arr);
		if (o->json)
			print_json(arr);
		else if (streq(verb, "list"))
			print_list(arr);
		else
			print_versions(arr);
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
		fprintf(stderr, "%s/%s: restored\n", ref, str_of(reply, "name"));
	} else if (streq(verb, "update-policy")) {
		fprintf(stderr, "%s: policy set (for the next version)\n", ref);
	} else if (str_of(reply, "version")) {
		struct json_object *m;
		bool pending = json_object_object_get_ex(reply, "pending", &m) &&
			       json_object_get_boolean(m);

		if (pending)
			fprintf(stderr,
				"%s: version %s pending: its CSR waits for the CA "
				"(vaultctl cert csr %s; then cert merge)\n",
				ref, str_of(reply, "version"), ref);
		else if (str_of(reply, "serial"))
			fprintf(stderr, "%s: version %s, serial %s\n", ref,
				str_of(reply, "version"), str_of(reply, "serial"));
		else
			fprintf(stderr, "%s: version %s\n", ref, str_of(reply, "version"));
	}
	json_object_put(reply);
	return r;
}

/* cert ca create-root|create-intermediate: a CA's usages, no EKU, no auto-renewal (a new CA
 * key under what it issued is the operator's call), ten (root) or five years; an intermediate
 * may issue leaves only (path length 0) unless told otherwise. */
static int ca_members(const struct cert_verb *cv, struct json_object *m)
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
		add_str(m, "issuer", "self");
	json_object_object_add(m, "is_ca", json_object_new_boolean(1));
	if (!json_object_object_get_ex(m, "validity", NULL))
		add_int(m, "validity", (root ? 10 : 5) * 365 * 86400LL);
	if (!root && !json_object_object_get_ex(m, "path_len", NULL))
		add_int(m, "path_len", 0);
	if (!json_object_object_get_ex(m, "key_usage", NULL))
		add_str(m, "key_usage", "keyCertSign,cRLSign,digitalSignature");
	add_str(m, "ext_key_usage", "");
	add_int(m, "renew_percent", 0);
	add_int(m, "renew_before", 0);
	return 0;
}

int cmd_cert(struct ctl *ctl, int argc, char **argv)
{
	struct cert_opts o = {};
	const struct cert_verb *cv = NULL;
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
	if (r == 0 && optind + 1 != argc)
		r = usage_error("cert %s takes one %s", cv->verb,
				cv->vault_only ? "VAULT" : "VAULT/NAME");
	if (r == 0) {
		ref = argv[optind];
		if (cv->vault_only) {
			if (!kv_name_valid(ref))
				r = usage_error("invalid vault name '%.160s'", ref);
			vault = (char *)ref;
		} else if (split_ref(ref, buf, sizeof(buf), &vault, &name) < 0) {
			r = usage_error("'%.300s' is not VAULT/NAME (names: [A-Za-z0-9]"
					"[A-Za-z0-9._-]{0,126})",
					ref);
		}
	}
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
