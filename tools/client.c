/* client.c: how vaultctl carries a request of core/request.h. By default to vaultfsd over the
 * control socket, where the daemon's policy decides; with --offline it runs the same
 * request_exec here on the store, as the store's owner (root), recorded in the journal as
 * "vaultctl --offline". Without a daemon and without --offline it says so and does nothing:
 * there is no silent fallback. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "core/audit.h"
#include "core/errtext.h"
#include "core/fleet-sync.h"
#include "core/kv-fleet.h"
#include "core/request.h"
#include "tools/vaultctl.h"

struct json_object *request_new(const char *op)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "v", json_object_new_int(REQUEST_VERSION));
	json_object_object_add(o, "op", json_object_new_string(op));
	return o;
}

/* Connect to the daemon's socket: the fd, or -errno (-ENAMETOOLONG for a path too long). */
static int connect_daemon(const char *path, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* A connection the daemon turned away before reading it ("accepted": false: its caps on
 * connections, fs/control.c) is tried again, backing off, for at most this long. */
#define RETRY_MS 10000
#define RETRY_FIRST_MS 10
#define RETRY_MAX_MS 250

static bool turned_away(struct json_object *reply)
{
	struct json_object *o;

	return json_object_object_get_ex(reply, "accepted", &o) &&
	       json_object_is_type(o, json_type_boolean) && !json_object_get_boolean(o);
}

/* One connection, one request: 0 with the reply, 1 turned away (try again; unless last, then
 * the refusal is the reply), or -errno. */
static int call_once(struct ctl *ctl, struct json_object *req, const struct secbuf *value,
		     bool last, struct json_object **ret_reply, struct secbuf **ret_value)
{
	_cleanup_close_ int fd = -1;
	struct json_object *reply = NULL;
	struct secbuf *out = NULL;
	int r, k;

	r = connect_daemon(ctl->config->control_socket, &fd);
	if (r < 0)
		return r == -ENAMETOOLONG ? r : -ENOTCONN;
	r = request_send(fd, req, value ? value->data : NULL, value ? value->len : 0);
	/* a daemon that turned us away may have closed before taking all we sent: its reply
	 * is there to read all the same */
	k = request_recv(fd, &reply, &out);
	if (k < 0)
		return r < 0 ? r : k;
	if (!last && turned_away(reply)) {
		json_object_put(reply);
		secbuf_free(out);
		return 1;
	}
	*ret_reply = reply;
	*ret_value = out;
	return 0;
}

int ctl_call_daemon(struct ctl *ctl, struct json_object *req, const struct secbuf *value,
		    struct json_object **ret_reply, struct secbuf **ret_value)
{
	unsigned waited = 0, pause = RETRY_FIRST_MS;
	int r;

	srand((unsigned)getpid());
	for (;;) {
		r = call_once(ctl, req, value, waited >= RETRY_MS, ret_reply, ret_value);
		if (r <= 0)
			break;
		/* a pause of pause/2 to pause ms, so that clients turned away together spread */
		{
			unsigned ms = pause / 2 + (unsigned)rand() % (pause / 2 + 1);
			struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

			(void)nanosleep(&ts, NULL);
			waited += ms;
			pause = MIN(2 * pause, RETRY_MAX_MS);
		}
	}
	return r;
}

/* --- offline: the request runs here, as ours --- */

static int offline_authorize(void *ud, unsigned op, const char *path, const char **ret_rule)
{
	(void)ud, (void)op, (void)path;
	*ret_rule = CTL_OFFLINE_RULE;
	return 0;
}

static bool offline_visible(void *ud, const char *path)
{
	(void)ud, (void)path;
	return true;
}

static void offline_identify(void *ud, struct audit_record *rec)
{
	ctl_identify(ud, rec);
}

static int call_offline(struct ctl *ctl, struct json_object *req, const struct secbuf *value,
			struct json_object **ret_reply, struct secbuf **ret_value)
{
	_cleanup_(kv_freep) struct kv *kv = NULL;
	_cleanup_audit_ struct audit *au = NULL;
	_cleanup_(fleet_sync_freep) struct fleet_sync *fs = NULL;
	struct ctl_self self;
	const struct request_caller caller = {
		.authorize = offline_authorize,
		.visible = offline_visible,
		.identify = offline_identify,
		.ud = &self,
	};
	struct request_env env = { .caller = &caller };
	int r;

	r = open_kv(ctl, &kv);
	if (r != 0)
		return r;
	r = ctl_audit_open(ctl, kv, &au);
	if (r != 0)
		return r;
	/* a change to a fleet vault goes to the center first (kv-fleet.h); a host that has not
	 * joined, or whose fleet state does not load, has its fleet changes refused */
	if (ctl->config->fleet_conninfo && fleet_sync_new(ctl->config, kv, NULL, &fs) >= 0)
		kv_fleet_hook(kv, fleet_sync_commit, fs);
	env.kv = kv;
	env.audit = au;
	env.tcti = ctl->config->tcti;
	r = request_exec(&env, req, value, ret_reply, ret_value);
	if (r < 0)
		return fail(r, "request");
	return 0;
}

int ctl_call(struct ctl *ctl, struct json_object *req, const struct secbuf *value,
	     struct json_object **ret_reply, struct secbuf **ret_value)
{
	int r;

	if (ctl->offline)
		return call_offline(ctl, req, value, ret_reply, ret_value);
	r = ctl_call_daemon(ctl, req, value, ret_reply, ret_value);
	if (r == -ENAMETOOLONG) {
		fprintf(stderr, "vaultctl: control socket path too long: %s\n",
			ctl->config->control_socket);
		return EXIT_USAGE;
	}
	if (r == -ENOTCONN) {
		fprintf(stderr,
			"vaultctl: cannot reach vaultfsd at %s; is it running? "
			"'vaultctl --offline' works on the store directly\n",
			ctl->config->control_socket);
		return EXIT_REFUSED;
	}
	if (r < 0) {
		fprintf(stderr, "vaultctl: vaultfsd at %s: %s\n", ctl->config->control_socket,
			r == -EPROTO ?
				"reply is not a vaultfs message (another program or version?)" :
			r == -ECONNRESET || r == -EPIPE ? "the daemon closed the connection" :
							  strerror(-r));
		return EXIT_REFUSED;
	}
	return 0;
}

int reply_status(struct json_object *reply, const char *what)
{
	struct json_object *o;
	int e;

	if (json_object_object_get_ex(reply, "ok", &o) && json_object_get_boolean(o))
		return EXIT_OK;
	e = json_object_object_get_ex(reply, "errno", &o) ? json_object_get_int(o) : EIO;
	if (e <= 0)
		e = EIO;
	fprintf(stderr, "vaultctl: %s: %s\n", what,
		json_object_object_get_ex(reply, "error", &o) ? json_object_get_string(o) :
								errtext(ERRTEXT_OBJECT, e));
	return exit_status(-e);
}
