/* config.c: parse the INI configuration file. Lines are `[section]`, `key = value`, blank or
 * `#`/`;` comments. Values are plain strings (no quoting); trailing comments are not stripped,
 * so a value may hold '#'. Relative paths become absolute against the config file's directory.
 * Never reads anything but the file it is given. */
#include <ctype.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "config.h"
#include "fleet-pg.h"
#include "fleet.h"
#include "io.h"
#include "limits.h"
#include "seal.h"
#include "timeutil.h"
#include "tpm.h"
#include "util.h"

static int set_str(char **dst, const char *v)
{
	char *s = strdup(v);

	if (!s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int config_new_default(struct config **ret)
{
	struct config *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->audit_sync = AUDIT_SYNC_BATCH;
	c->hide_unreadable = true;
	c->audit_rotate_size = 64ull << 20;
	c->near_expiry = 30 * 86400;
	c->expiry_scan = 3600;
	c->fleet_pull = 30;
	c->fleet_audit_check = 30;
	c->fleet_answer = FLEET_PG_ANSWER_MS / 1000;
	if (set_str(&c->path, CONFIG_DEFAULT_PATH) < 0 ||
	    set_str(&c->store_path, "/var/lib/vaultfs/vault.db") < 0 ||
	    set_str(&c->sealer, "tpm2") < 0 || set_str(&c->tcti, "device:/dev/tpmrm0") < 0 ||
	    set_str(&c->host_key, "/var/lib/vaultfs/host.key") < 0 ||
	    set_str(&c->mountpoint, "/vault") < 0 ||
	    set_str(&c->policy_dir, "/etc/vaultfs/policy.d") < 0 ||
	    set_str(&c->audit_path, "/var/log/vaultfs/audit.jsonl") < 0 ||
	    set_str(&c->control_socket, "/run/vaultfs/control.sock") < 0) {
		config_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

void config_free(struct config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->store_path);
	free(c->sealer);
	free(c->tcti);
	free(c->host_key);
	free(c->mountpoint);
	free(c->policy_dir);
	free(c->audit_path);
	free(c->control_socket);
	free(c->agent_socket);
	free(c->stamp_dir);
	free(c->acme_client);
	free(c->acme_http);
	free(c->acme_ca_file);
	free(c->fleet_conninfo);
	free(c->fleet_host);
	free(c);
}

static char *strip(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* A path value: absolute as is, relative against dir. */
static int set_path(char **dst, const char *dir, const char *v)
{
	_cleanup_free_ char *p = NULL;

	if (v[0] == '\0')
		return -EINVAL;
	if (v[0] == '/')
		return set_str(dst, v);
	if (asprintf(&p, "%s/%s", dir, v) < 0)
		return -ENOMEM;
	if (strlen(p) >= VAULTFS_PATH_MAX)
		return -ENAMETOOLONG;
	free(*dst);
	*dst = TAKE_PTR(p);
	return 0;
}

static int parse_uint(const char *v, unsigned max, unsigned *ret)
{
	char *end;
	unsigned long n;

	if (!isdigit((unsigned char)v[0]))
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n > max)
		return -EINVAL;
	*ret = (unsigned)n;
	return 0;
}

static int parse_bool(const char *v, bool *ret)
{
	if (streq(v, "yes") || streq(v, "true") || streq(v, "1") || streq(v, "on"))
		*ret = true;
	else if (streq(v, "no") || streq(v, "false") || streq(v, "0") || streq(v, "off"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

/* A size in bytes: digits with an optional K, M or G (powers of 1024). */
static int parse_size(const char *v, uint64_t *ret)
{
	uint64_t n = 0, mult = 1;
	const char *p = v;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case '\0':
		break;
	case 'K':
		mult = 1ull << 10;
		break;
	case 'M':
		mult = 1ull << 20;
		break;
	case 'G':
		mult = 1ull << 30;
		break;
	default:
		return -EINVAL;
	}
	if (*p && p[1])
		return -EINVAL;
	if (n > (1ull << 50) / mult)
		return -EINVAL;
	*ret = n * mult;
	return 0;
}

/* A span of seconds (duration_parse's forms) within [min, max]. */
static int parse_interval(const char *v, int64_t min, int64_t max, int64_t *ret)
{
	int64_t n;

	if (duration_parse(v, &n) < 0 || n < min || n > max)
		return -EINVAL;
	*ret = n;
	return 0;
}

/* One key of one section. Returns -ENOENT for an unknown key, -EINVAL for a bad value. */
static int apply(struct config *c, const char *dir, const char *sec, const char *key, const char *v)
{
	if (streq(sec, "store") && streq(key, "path"))
		return set_path(&c->store_path, dir, v);
	if (streq(sec, "seal")) {
		if (streq(key, "sealer")) {
			if (!seal_sealer_valid(v))
				return -EINVAL;
			return set_str(&c->sealer, v);
		}
		if (streq(key, "tcti"))
			return v[0] ? set_str(&c->tcti, v) : -EINVAL;
		if (streq(key, "pcrs"))
			return tpm_parse_pcrs(v, &c->pcr_mask);
		if (streq(key, "host_key"))
			return set_path(&c->host_key, dir, v);
		if (streq(key, "keyring_timeout"))
			return parse_uint(v, 30u * 24 * 3600, &c->keyring_timeout);
	}
	if (streq(sec, "fs") && streq(key, "mountpoint"))
		return set_path(&c->mountpoint, dir, v);
	if (streq(sec, "fs") && streq(key, "hide_unreadable"))
		return parse_bool(v, &c->hide_unreadable);
	if (streq(sec, "policy") && streq(key, "dir"))
		return set_path(&c->policy_dir, dir, v);
	if (streq(sec, "audit")) {
		if (streq(key, "path"))
			return set_path(&c->audit_path, dir, v);
		if (streq(key, "sync")) {
			if (streq(v, "always"))
				c->audit_sync = AUDIT_SYNC_ALWAYS;
			else if (streq(v, "batch"))
				c->audit_sync = AUDIT_SYNC_BATCH;
			else if (streq(v, "none"))
				c->audit_sync = AUDIT_SYNC_NONE;
			else
				return -EINVAL;
			return 0;
		}
		if (streq(key, "rotate_size"))
			return parse_size(v, &c->audit_rotate_size);
	}
	if (streq(sec, "control") && streq(key, "socket"))
		return set_path(&c->control_socket, dir, v);
	if (streq(sec, "agent") && streq(key, "socket")) {
		if (v[0])
			return set_path(&c->agent_socket, dir, v);
		free(c->agent_socket); /* empty: off */
		c->agent_socket = NULL;
		return 0;
	}
	if (streq(sec, "events") && streq(key, "stamp_dir")) {
		if (v[0])
			return set_path(&c->stamp_dir, dir, v);
		free(c->stamp_dir); /* empty: off */
		c->stamp_dir = NULL;
		return 0;
	}
	if (streq(sec, "lifecycle") && streq(key, "near_expiry"))
		return duration_parse(v, &c->near_expiry);
	if (streq(sec, "lifecycle") && streq(key, "scan_interval"))
		return duration_parse(v, &c->expiry_scan) < 0 || c->expiry_scan == 0 ? -EINVAL : 0;
	if (streq(sec, "acme")) {
		if (streq(key, "client"))
			return v[0] ? set_path(&c->acme_client, dir, v) : -EINVAL;
		if (streq(key, "http")) /* a listener's [ADDR]:PORT, or an absolute webroot */
			return v[0] == '/' || strchr(v, ':') ? set_str(&c->acme_http, v) : -EINVAL;
		if (streq(key, "ca_file"))
			return v[0] ? set_path(&c->acme_ca_file, dir, v) : -EINVAL;
		if (streq(key, "timeout"))
			return duration_parse(v, &c->acme_timeout);
	}
	if (streq(sec, "fleet")) {
		if (streq(key, "conninfo")) /* libpq parses it at connect, and says what is wrong */
			return v[0] ? set_str(&c->fleet_conninfo, v) : -EINVAL;
		if (streq(key, "host"))
			return fleet_host_name_valid(v) ? set_str(&c->fleet_host, v) : -EINVAL;
		if (streq(key, "pull_interval"))
			return parse_interval(v, CONFIG_FLEET_INTERVAL_MIN,
					      CONFIG_FLEET_INTERVAL_MAX, &c->fleet_pull);
		if (streq(key, "audit_check_interval"))
			return parse_interval(v, CONFIG_FLEET_INTERVAL_MIN,
					      CONFIG_FLEET_INTERVAL_MAX, &c->fleet_audit_check);
		if (streq(key, "answer_timeout"))
			return parse_interval(v, CONFIG_FLEET_ANSWER_MIN, CONFIG_FLEET_ANSWER_MAX,
					      &c->fleet_answer);
	}
	return -ENOENT;
}

static bool known_section(const char *s)
{
	static const char *const sections[] = { "store", "seal",    "fs",	 "policy",
						"audit", "control", "lifecycle", "agent",
						"acme",	 "fleet",   "events" };

	for (size_t i = 0; i < ELEMENTSOF(sections); i++)
		if (streq(s, sections[i]))
			return true;
	return false;
}

static int fail(char *err, size_t errlen, const char *path, unsigned line, int r, const char *fmt,
		...) _printf_(6, 7);
static int fail(char *err, size_t errlen, const char *path, unsigned line, int r, const char *fmt,
		...)
{
	char msg[256];
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		if (line)
			snprintf(err, errlen, "%s:%u: %s", path, line, msg);
		else
			snprintf(err, errlen, "%s: %s", path, msg);
	}
	return r;
}

/* Read the whole file (NUL-terminated), refusing anything but a regular file of sane size. */
static int read_file(const char *path, char **ret)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t n = 0;
	int r;

	fd = open(path,
		  O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK); /* a FIFO must not block us */
	if (fd < 0)
		return negative_errno();
	if (fstat(fd, &st) < 0)
		return negative_errno();
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if (st.st_size > (off_t)VAULTFS_CONFIG_MAX)
		return -EFBIG;
	buf = malloc(VAULTFS_CONFIG_MAX + 2);
	if (!buf)
		return -ENOMEM;
	r = io_read_all(fd, buf, VAULTFS_CONFIG_MAX + 1, &n); /* -EFBIG past the cap */
	if (r < 0)
		return r;
	if (memchr(buf, '\0', n))
		return -EINVAL;
	buf[n] = '\0';
	*ret = TAKE_PTR(buf);
	return 0;
}

int config_load(const char *path, struct config **ret, char *err, size_t errlen)
{
	_cleanup_config_ struct config *c = NULL;
	_cleanup_free_ char *text = NULL, *dir = NULL, *abspath = NULL;
	char section[32] = "";
	char *line, *next;
	unsigned lineno = 0;
	int r;

	if (err && errlen)
		err[0] = '\0';
	/* resolve once, then read what was resolved: the directory that relative paths are
	 * taken against is the one of the file actually read */
	abspath = realpath(path, NULL);
	if (!abspath)
		return fail(err, errlen, path, 0, negative_errno(), "cannot read: %s",
			    strerror(errno));
	r = read_file(abspath, &text);
	if (r == -EFBIG)
		return fail(err, errlen, path, 0, r, "larger than %u bytes", VAULTFS_CONFIG_MAX);
	if (r == -EINVAL)
		return fail(err, errlen, path, 0, r, "not a text file");
	if (r < 0)
		return fail(err, errlen, path, 0, r, "cannot read: %s", strerror(-r));

	dir = strdup(abspath);
	if (!dir)
		return -ENOMEM;
	*strrchr(dir, '/') = '\0';
	if (dir[0] == '\0')
		strcpy(dir, "/");

	r = config_new_default(&c);
	if (r < 0)
		return r;
	r = set_str(&c->path, abspath);
	if (r < 0)
		return r;

	for (line = text; line; line = next) {
		char *s, *eq;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strlen(line) > VAULTFS_CONFIG_LINE_MAX)
			return fail(err, errlen, path, lineno, -EINVAL, "line too long");
		s = strip(line);
		if (s[0] == '\0' || s[0] == '#' || s[0] == ';')
			continue;
		for (char *p = s; *p; p++)
			if (iscntrl((unsigned char)*p) && *p != '\t')
				return fail(err, errlen, path, lineno, -EINVAL,
					    "control character");
		if (s[0] == '[') {
			char *e = strchr(s, ']');

			if (!e || strip(e + 1)[0] != '\0')
				return fail(err, errlen, path, lineno, -EINVAL,
					    "malformed section header");
			*e = '\0';
			s = strip(s + 1);
			if (!known_section(s))
				return fail(err, errlen, path, lineno, -EINVAL,
					    "unknown section [%.32s]", s);
			snprintf(section, sizeof(section), "%s", s);
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			return fail(err, errlen, path, lineno, -EINVAL, "expected key = value");
		*eq = '\0';
		if (section[0] == '\0')
			return fail(err, errlen, path, lineno, -EINVAL, "key outside a section");
		r = apply(c, dir, section, strip(s), strip(eq + 1));
		if (r == -ENOENT)
			return fail(err, errlen, path, lineno, -EINVAL,
				    "unknown key '%.64s' in [%s]", strip(s), section);
		if (r == -ENOMEM)
			return r;
		if (r < 0)
			return fail(err, errlen, path, lineno, -EINVAL, "bad value for '%.64s'",
				    strip(s));
	}
	*ret = TAKE_PTR(c);
	return 0;
}
