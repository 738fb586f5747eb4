/* fleet-pg-conninfo.c: what a [fleet] conninfo says about the way to the center (TCP or a unix
 * socket, TLS verified or not, channel binding, a password), by libpq's own parser, for
 * doctor. It never connects, never keeps or shows a value of it (a password stays in libpq's
 * options, freed here), and never decides: the caller warns. */
#include <errno.h>
#include <libpq-fe.h>
#include <string.h>

#include "fleet-pg-conninfo.h"
#include "log.h"
#include "util.h"

/* 1 when a host list (comma separated, as libpq takes it) names a host reached over TCP: an
 * entry that is not a socket directory (/...) or an abstract socket (@...); an empty entry is
 * libpq's default socket. */
static bool hosts_tcp(const char *list)
{
	for (const char *p = list; p && *p;) {
		size_t n = strcspn(p, ",");

		if (n > 0 && p[0] != '/' && p[0] != '@')
			return true;
		p += n;
		if (*p == ',')
			p++;
	}
	return false;
}

int fleet_pg_conninfo_facts(const char *conninfo, struct fleet_pg_conninfo *ret)
{
	struct fleet_pg_conninfo f = {};
	PQconninfoOption *opts;
	char *err = NULL;

	if (!conninfo)
		return -EINVAL;
	opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		int r = err ? log_foreign(-EINVAL, "libpq", "%.*s", (int)strcspn(err, "\n"), err) :
			      -ENOMEM;

		PQfreemem(err);
		return r;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = o->val;

		if (!v)
			continue;
		if (streq(o->keyword, "hostaddr") && v[0])
			f.tcp = true;
		else if (streq(o->keyword, "host") && hosts_tcp(v))
			f.tcp = true;
		else if (streq(o->keyword, "sslmode"))
			f.verify_full = streq(v, "verify-full");
		else if (streq(o->keyword, "channel_binding"))
			f.channel_binding = streq(v, "require");
		else if (streq(o->keyword, "password"))
			f.password = v[0] != '\0';
	}
	PQconninfoFree(opts);
	*ret = f;
	return 0;
}
