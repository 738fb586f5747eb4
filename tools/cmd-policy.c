/* cmd-policy.c: `vaultctl policy check|explain`: validate policy files, and say how the policy
 * decides one request for an identity given by options or read from a live process (--pid).
 * Works without the store: it never opens it, never unseals, never sees a secret value.
 * Exit status: check 0 valid, 2 errors; explain 0 allow, 1 deny, 2 usage or policy errors. */
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <time.h>

#include "policy/policy.h"
#include "tools/vaultctl.h"

static void policy_help(void)
{
	fputs("Usage: vaultctl [-c CONF] policy check [FILE...]\n"
	      "       vaultctl [-c CONF] policy explain OP /VAULT[/OBJECT] [--uid U] [--gid G]\n"
	      "                [--groups A,B] [--cgroup PATH | --unit NAME] [--exe PATH] [--pid PID]\n"
	      "                [--ns host|other] [--json]\n"
	      "\n"
	      "check    validate FILEs (default: every *.policy in the [policy] dir); prints\n"
	      "         \"N rules in M files OK\", or each error as FILE:LINE:COL: message.\n"
	      "         Exit 0 valid, 2 errors.\n"
	      "explain  decide OP on the path with the [policy] dir's rules and print the\n"
	      "         decision, the deciding rule (FILE:LINE or default), every matching rule\n"
	      "         and the identity. --pid reads a live process (uid, gid, groups, cgroup,\n"
	      "         unit, container, pod, exe, ns); the other options set or override fields.\n"
	      "         --ns host: in vaultfsd's (the host's) mount namespace, the default\n"
	      "         without --pid; other: not (a container).\n"
	      "         --unit NAME stands for --cgroup /system.slice/NAME (a system unit).\n"
	      "         --uid NAME also takes the user's gid and groups unless given. A field\n"
	      "         left unknown never satisfies an allow and always satisfies a deny.\n"
	      "         Exit 0 allow, 1 deny, 2 usage or policy errors.\n"
	      "OP is one of list meta read write delete recover purge manage sign verify\n"
	      "encrypt decrypt wrap unwrap. Neither verb needs the store or the daemon.\n",
	      stdout);
}

static int print_diag(const struct policy_diag *d)
{
	if (d->text)
		fputs(d->text, stderr);
	if (d->n_errors > VAULTFS_POLICY_ERRORS_MAX)
		fprintf(stderr, "... and %u more errors\n",
			d->n_errors - VAULTFS_POLICY_ERRORS_MAX);
	fprintf(stderr, "vaultctl: policy rejected: %u error%s\n", d->n_errors,
		d->n_errors == 1 ? "" : "s");
	return EXIT_USAGE;
}

static int policy_check_cmd(struct ctl *ctl, int argc, char **argv)
{
	static const struct option opts[] = { {} };
	_cleanup_policy_ struct policy *p = NULL;
	struct policy_diag d = { 0 };
	int r;

	if (getopt_long(argc, argv, "", opts, NULL) >= 0)
		return usage_error("policy check: unknown option");
	r = policy_new(&p);
	if (r < 0)
		return fail(r, "policy");
	if (optind == argc)
		(void)policy_add_dir(p, ctl->config->policy_dir, &d);
	for (int i = optind; i < argc; i++)
		(void)policy_add_file(p, argv[i], &d);
	r = policy_compile(p);
	if (r < 0 || d.n_errors) {
		r = d.n_errors ? print_diag(&d) : fail(r, "policy");
		policy_diag_done(&d);
		return r;
	}
	printf("%zu rule%s in %zu file%s OK\n", policy_n_rules(p),
	       policy_n_rules(p) == 1 ? "" : "s", policy_n_files(p),
	       policy_n_files(p) == 1 ? "" : "s");
	return EXIT_OK;
}

/* A user or group given as a number or a name. */
static int parse_id(const char *opt, const char *s, bool group, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] >= '0' && s[0] <= '9' && !*end && !errno && v < UINT32_MAX) {
		*ret = (uint32_t)v;
		return 0;
	}
	if (group) {
		struct group *g = getgrnam(s);

		if (g) {
			*ret = g->gr_gid;
			return 0;
		}
	} else {
		struct passwd *pw = getpwnam(s);

		if (pw) {
			*ret = pw->pw_uid;
			return 0;
		}
	}
	return usage_error("%s: no such %s: '%.64s'", opt, group ? "group" : "user", s);
}

static int parse_groups(const char *s, struct identity *id)
{
	gid_t g[VAULTFS_POLICY_GROUPS_MAX];
	_cleanup_free_ char *copy = strdup(s);
	char *save = NULL;
	size_t n = 0;

	if (!copy)
		return fail(-ENOMEM, "--groups");
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		uint32_t v;

		if (n == VAULTFS_POLICY_GROUPS_MAX)
			return usage_error("--groups: at most %u", VAULTFS_POLICY_GROUPS_MAX);
		if (parse_id("--groups", t, true, &v))
			return EXIT_USAGE;
		g[n++] = v;
	}
	(void)identity_set_groups(id, g, n);
	return 0;
}

/* --uid alone: take the gid and groups of the user database, as a login would. */
static void user_defaults(struct identity *id, bool want_gid, bool want_groups)
{
	struct passwd *pw = getpwuid(id->uid);
	gid_t g[VAULTFS_POLICY_GROUPS_MAX];
	int n = VAULTFS_POLICY_GROUPS_MAX;

	if (!pw)
		return;
	if (want_gid)
		identity_set_gid(id, pw->pw_gid);
	if (want_groups && getgrouplist(pw->pw_name, pw->pw_gid, g, &n) >= 0)
		(void)identity_set_groups(id, g, (size_t)n);
}

static struct json_object *json_str_or_null(const struct identity *id, unsigned field,
					    const char *s)
{
	return id->known & field ? json_object_new_string(s) : NULL;
}

static struct json_object *json_fields(unsigned mask)
{
	struct json_object *a = json_object_new_array();

	for (unsigned f = 1; f & (IDENTITY_ALL | IDENTITY_SSH); f <<= 1)
		if (mask & f)
			json_object_array_add(a, json_object_new_string(identity_field_name(f)));
	return a;
}

static struct json_object *json_identity(const struct identity *id)
{
	struct json_object *o = json_object_new_object();
	bool cg = id->known & IDENTITY_CGROUP;

	json_object_object_add(o, "uid",
			       id->known & IDENTITY_UID ? json_object_new_int64(id->uid) : NULL);
	json_object_object_add(o, "gid",
			       id->known & IDENTITY_GID ? json_object_new_int64(id->gid) : NULL);
	if (id->known & IDENTITY_GROUPS) {
		struct json_object *a = json_object_new_array();

		for (uint32_t i = 0; i < id->n_groups; i++)
			json_object_array_add(a, json_object_new_int64(id->groups[i]));
		json_object_object_add(o, "groups", a);
	} else {
		json_object_object_add(o, "groups", NULL);
	}
	json_object_object_add(o, "pid",
			       id->known & IDENTITY_PID ? json_object_new_int64(id->pid) : NULL);
	json_object_object_add(o, "cgroup", json_str_or_null(id, IDENTITY_CGROUP, id->cgroup));
	json_object_object_add(o, "unit", json_str_or_null(id, IDENTITY_CGROUP, id->cg.unit));
	json_object_object_add(o, "user_unit",
			       cg ? json_object_new_boolean(id->cg.user_unit) : NULL);
	json_object_object_add(o, "slice", json_str_or_null(id, IDENTITY_CGROUP, id->cg.slice));
	json_object_object_add(o, "container",
			       json_str_or_null(id, IDENTITY_CGROUP, id->cg.container));
	json_object_object_add(o, "pod", json_str_or_null(id, IDENTITY_CGROUP, id->cg.pod));
	json_object_object_add(o, "container_unknown",
			       cg ? json_object_new_boolean(id->cg.container_unknown) : NULL);
	json_object_object_add(o, "pod_unknown",
			       cg ? json_object_new_boolean(id->cg.pod_unknown) : NULL);
	json_object_object_add(o, "exe", json_str_or_null(id, IDENTITY_EXE, id->exe));
	/* read, but not the file at that path for us: unknown to the policy */
	json_object_object_add(o, "exe_unverified",
			       id->exe_unverified ? json_object_new_string(id->exe) : NULL);
	json_object_object_add(o, "ns",
			       id->known & IDENTITY_NS ?
				       json_object_new_string(id->host ? "host" : "other") :
				       NULL);
	json_object_object_add(o, "verified", json_fields(id->verified));
	return o;
}

static void print_fields(const char *label, unsigned mask)
{
	printf("%s%s", label, mask ? "" : " none");
	for (unsigned f = 1; f & (IDENTITY_ALL | IDENTITY_SSH); f <<= 1)
		if (mask & f)
			printf(" %s", identity_field_name(f));
	putchar('\n');
}

static void print_identity(const struct identity *id)
{
	const char *unknown = "(unknown)";
	bool cg = id->known & IDENTITY_CGROUP;

	puts("identity:");
	if (id->known & IDENTITY_UID)
		printf("  uid: %u\n", id->uid);
	else
		printf("  uid: %s\n", unknown);
	if (id->known & IDENTITY_GID)
		printf("  gid: %u\n", id->gid);
	else
		printf("  gid: %s\n", unknown);
	printf("  groups:");
	if (id->known & IDENTITY_GROUPS)
		for (uint32_t i = 0; i < id->n_groups; i++)
			printf(" %u", id->groups[i]);
	else
		printf(" %s", unknown);
	putchar('\n');
	if (id->known & IDENTITY_PID)
		printf("  pid: %d\n", (int)id->pid);
	printf("  cgroup: %s\n", cg ? id->cgroup : unknown);
	printf("  unit: %s%s\n", cg ? (id->cg.unit[0] ? id->cg.unit : "(none)") : unknown,
	       cg && id->cg.user_unit ? " (user unit)" : "");
	printf("  slice: %s\n", cg ? id->cg.slice : unknown);
	printf("  container: %s%s\n",
	       cg ? (id->cg.container[0] ? id->cg.container : "(none)") : unknown,
	       cg && id->cg.container_unknown ? " (unknown: named below a container or unit)" : "");
	printf("  pod: %s%s\n", cg ? (id->cg.pod[0] ? id->cg.pod : "(none)") : unknown,
	       cg && id->cg.pod_unknown ? " (unknown: named below a container or unit)" : "");
	if (id->exe_unverified)
		printf("  exe: %s (unknown: not verified)\n", id->exe);
	else
		printf("  exe: %s\n", id->known & IDENTITY_EXE ? id->exe : unknown);
	printf("  ns: %s\n", id->known & IDENTITY_NS ? (id->host ? "host" : "other") : unknown);
	print_fields("  verified:", id->verified);
}

static int on_match(const struct policy_rule *r, unsigned assumed, void *ud)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "rule", json_object_new_string(policy_rule_name(r)));
	json_object_object_add(o, "action",
			       json_object_new_string(policy_rule_is_deny(r) ? "deny" : "allow"));
	json_object_object_add(o, "text", json_object_new_string(policy_rule_text(r)));
	json_object_object_add(o, "assumed", json_fields(assumed));
	json_object_array_add(ud, o);
	return 0;
}

static void print_matched(struct json_object *matched)
{
	size_t n = json_object_array_length(matched);

	printf("matched:%s\n", n ? "" : " none");
	for (size_t i = 0; i < n; i++) {
		struct json_object *m = json_object_array_get_idx(matched, i), *v, *a;

		json_object_object_get_ex(m, "rule", &v);
		printf("  %s: ", json_object_get_string(v));
		json_object_object_get_ex(m, "text", &v);
		printf("%s", json_object_get_string(v));
		json_object_object_get_ex(m, "assumed", &a);
		for (size_t k = 0; k < json_object_array_length(a); k++)
			printf("%s%s", k ? " " : "   (assumed to hold, unknown: ",
			       json_object_get_string(json_object_array_get_idx(a, k)));
		printf("%s\n", json_object_array_length(a) ? ")" : "");
	}
}

enum {
	OPT_UID = 0x100,
	OPT_GID,
	OPT_GROUPS,
	OPT_CGROUP,
	OPT_EXE,
	OPT_UNIT,
	OPT_PID,
	OPT_NS,
	OPT_JSON,
};

struct explain_opts {
	const char *uid, *gid, *groups, *cgroup, *exe, *unit, *ns;
	uint32_t pid;
	bool json;
};

static int parse_explain_opts(int argc, char **argv, struct explain_opts *o)
{
	static const struct option opts[] = { { "uid", required_argument, NULL, OPT_UID },
					      { "gid", required_argument, NULL, OPT_GID },
					      { "groups", required_argument, NULL, OPT_GROUPS },
					      { "cgroup", required_argument, NULL, OPT_CGROUP },
					      { "exe", required_argument, NULL, OPT_EXE },
					      { "unit", required_argument, NULL, OPT_UNIT },
					      { "pid", required_argument, NULL, OPT_PID },
					      { "ns", required_argument, NULL, OPT_NS },
					      { "json", no_argument, NULL, OPT_JSON },
					      {} };
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case OPT_UID:
			o->uid = optarg;
			break;
		case OPT_GID:
			o->gid = optarg;
			break;
		case OPT_GROUPS:
			o->groups = optarg;
			break;
		case OPT_CGROUP:
			o->cgroup = optarg;
			break;
		case OPT_EXE:
			o->exe = optarg;
			break;
		case OPT_UNIT:
			o->unit = optarg;
			break;
		case OPT_PID:
			if (parse_u32("--pid", optarg, &o->pid))
				return EXIT_USAGE;
			if (o->pid > INT32_MAX)
				return usage_error("--pid: out of range");
			break;
		case OPT_NS:
			if (!streq(optarg, "host") && !streq(optarg, "other"))
				return usage_error("--ns: host or other, not '%.32s'", optarg);
			o->ns = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		default:
			return usage_error("policy explain: unknown option");
		}
	}
	if (optind + 2 != argc)
		return usage_error("policy explain OP /VAULT[/OBJECT] [options]");
	if (o->unit && o->cgroup)
		return usage_error("policy explain: --unit or --cgroup, not both");
	return 0;
}

/* The identity the options describe. */
static int build_identity(const struct explain_opts *o, struct identity *id)
{
	uint32_t v;
	int r;

	identity_init(id);
	if (o->pid) {
		r = identity_resolve(NULL, id, (pid_t)o->pid, IDENTITY_ALL);
		if (r < 0) {
			fprintf(stderr, "vaultctl: cannot resolve pid %u: %s\n", o->pid,
				strerror(-r));
			return EXIT_REFUSED;
		}
	}
	if (o->uid) {
		if (parse_id("--uid", o->uid, false, &v))
			return EXIT_USAGE;
		identity_set_uid(id, v);
		if (!o->pid)
			user_defaults(id, !o->gid, !o->groups);
	}
	if (o->gid) {
		if (parse_id("--gid", o->gid, true, &v))
			return EXIT_USAGE;
		identity_set_gid(id, v);
	}
	if (o->groups && parse_groups(o->groups, id))
		return EXIT_USAGE;
	if (o->cgroup) {
		r = identity_set_cgroup(id, o->cgroup);
		if (r < 0)
			return usage_error("--cgroup: not an absolute cgroup path: '%.64s'",
					   o->cgroup);
	}
	if (o->unit) {
		/* a system unit's cgroup: what a process of that unit has */
		char path[VAULTFS_PATH_MAX];

		if (strchr(o->unit, '/') || !strchr(o->unit, '.') ||
		    snprintf(path, sizeof(path), "/system.slice/%s", o->unit) >=
			    (int)sizeof(path) ||
		    identity_set_cgroup(id, path) < 0)
			return usage_error("--unit: a unit name such as app.service: '%.64s'",
					   o->unit);
	}
	if (o->exe) {
		r = identity_set_exe(id, o->exe);
		if (r < 0)
			return usage_error("--exe: not an absolute path: '%.64s'", o->exe);
	}
	if (o->ns)
		identity_set_host(id, streq(o->ns, "host"));
	else if (!o->pid)
		identity_set_host(id, true); /* a caller described by options: on the host */
	return 0;
}

/* Near misses: "RULE would allow with COND (the caller: VALUE)", as JSON objects. */
struct near {
	struct json_object *list;
};

static int on_near(const struct policy_rule *r, unsigned cond, void *userdata)
{
	struct near *n = userdata;
	struct json_object *o = json_object_new_object();
	char buf[VAULTFS_POLICY_LINE_MAX];
	const char *c = policy_rule_cond_text(r, cond, buf, sizeof(buf));

	if (!o)
		return -ENOMEM;
	json_object_object_add(o, "rule", json_object_new_string(policy_rule_name(r)));
	json_object_object_add(o, "text", json_object_new_string(policy_rule_text(r)));
	json_object_object_add(o, "unless", json_object_new_string(c ? c : "?"));
	json_object_array_add(n->list, o);
	return json_object_array_length(n->list) >= 8 ? -ECANCELED : 0;
}

static void print_near(struct json_object *list)
{
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *m = json_object_array_get_idx(list, i), *rule, *unless;

		json_object_object_get_ex(m, "rule", &rule);
		json_object_object_get_ex(m, "unless", &unless);
		printf("%s  rule %s would match with %s\n", i ? "" : "near misses:\n",
		       json_object_get_string(rule), json_object_get_string(unless));
	}
}

static int policy_explain_cmd(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_policy_ struct policy *p = NULL;
	_cleanup_free_ struct identity *id = NULL;
	struct policy_diag d = { 0 };
	struct explain_opts o = { 0 };
	struct policy_decision dec;
	struct json_object *out, *matched;
	const char *path;
	unsigned op;
	int r;

	r = parse_explain_opts(argc, argv, &o);
	if (r)
		return r;
	if (policy_op_from_string(argv[optind], &op) < 0)
		return usage_error("policy explain: unknown operation '%.32s'", argv[optind]);
	path = argv[optind + 1];
	id = malloc(sizeof(*id));
	if (!id)
		return fail(-ENOMEM, "policy explain");
	r = build_identity(&o, id);
	if (r)
		return r;
	r = policy_load_dir(ctl->config->policy_dir, &p, &d);
	if (r < 0) {
		r = d.n_errors ? print_diag(&d) : fail(r, "policy");
		policy_diag_done(&d);
		return r;
	}
	matched = json_object_new_array();
	r = policy_explain(p, op, path, id, (int64_t)time(NULL), on_match, matched, &dec);
	if (r < 0) {
		json_object_put(matched);
		return usage_error("policy explain: not a path /VAULT or /VAULT/OBJECT: '%.64s'",
				   path);
	}
	struct near near = { json_object_new_array() };

	if (dec.verdict != POLICY_ALLOW)
		(void)policy_near_misses(p, op, path, id, (int64_t)time(NULL), on_near, &near);
	if (o.json) {
		const char *verdict = dec.verdict == POLICY_ALLOW ? "allow" : "deny";

		out = json_object_new_object();
		json_object_object_add(out, "decision", json_object_new_string(verdict));
		json_object_object_add(out, "rule", json_object_new_string(dec.rule));
		json_object_object_add(out, "op", json_object_new_string(policy_op_name(op)));
		json_object_object_add(out, "path", json_object_new_string(path));
		json_object_object_add(out, "assumed", json_fields(dec.assumed));
		json_object_object_add(out, "matched", matched);
		json_object_object_add(out, "near_misses", near.list);
		json_object_object_add(out, "identity", json_identity(id));
		print_json(out);
		json_object_put(out);
	} else {
		printf("decision: %s %s %s\n", dec.verdict == POLICY_ALLOW ? "allow" : "deny",
		       policy_op_name(op), path);
		printf("rule: %s\n", dec.rule);
		if (dec.assumed)
			print_fields("assumed to hold (unknown):", dec.assumed);
		print_matched(matched);
		print_near(near.list);
		print_identity(id);
		json_object_put(matched);
		json_object_put(near.list);
	}
	return dec.verdict == POLICY_ALLOW ? EXIT_OK : EXIT_REFUSED;
}

/* Ask the daemon to reload its policy set (as SIGHUP does), and say how it went. */
static int policy_reload_cmd(struct ctl *ctl, int argc)
{
	struct json_object *req = request_new("policy-reload"), *reply = NULL, *m;
	struct secbuf *none = NULL;
	int r;

	if (argc != 1)
		return usage_error("policy reload takes no arguments");
	if (!req)
		return fail(-ENOMEM, "policy reload");
	r = ctl_call(ctl, req, NULL, &reply, &none);
	json_object_put(req);
	secbuf_free(none);
	if (r != 0)
		return r;
	r = reply_status(reply, "policy reload");
	if (r == 0 && json_object_object_get_ex(reply, "loaded", &m))
		printf("%s\n", json_object_get_string(m));
	json_object_put(reply);
	return r;
}

int cmd_policy(struct ctl *ctl, int argc, char **argv)
{
	const char *verb;

	if (argc < 2)
		return usage_error("policy: check, explain or reload");
	verb = argv[1];
	argc--, argv++; /* argv[0] is the verb now */
	optind = 0;	/* 0: glibc re-initialises its scanning state for the new argv */
	if (streq(verb, "check"))
		return policy_check_cmd(ctl, argc, argv);
	if (streq(verb, "explain"))
		return policy_explain_cmd(ctl, argc, argv);
	if (streq(verb, "reload"))
		return policy_reload_cmd(ctl, argc);
	if (streq(verb, "help") || streq(verb, "--help") || streq(verb, "-h")) {
		policy_help();
		return EXIT_OK;
	}
	return usage_error("policy: unknown verb '%.32s'", verb);
}
