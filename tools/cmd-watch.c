/* cmd-watch.c: `vaultctl watch [VAULT[/NAME]]... [--json] [--exec CMD [ARGS...]]`: the change
 * stream of vaultfsd (its control socket's `watch`, core/request.h), filtered by the daemon's
 * policy for this caller. Prints each change, or runs CMD once per change with bursts
 * coalesced: the changes of WATCH_COALESCE_MS make one run, and changes during a run make at
 * most one more after it; the lost line ("events lost, re-read the state") runs it too. The
 * last event of a run reaches CMD in its environment (VAULTFS_EVENT, VAULTFS_VAULT,
 * VAULTFS_NAME, VAULTFS_VERSION, and VAULTFS_EVENTS: how many were coalesced), never in its
 * argv; a run that includes the lost line is told VAULTFS_EVENT=lost (vault and name empty). It never receives a value (the stream has none). */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "core/events.h"
#include "core/request.h"
#include "tools/vaultctl.h"

/* Changes this close together make one run of CMD. */
#define WATCH_COALESCE_MS 200
/* How often a running CMD is looked at. */
#define WATCH_CHILD_POLL_MS 20
#define WATCH_BUF (64u * 1024u)

struct watcher {
	int fd;
	bool json;
	char **cmd; /* NULL: print */
	char buf[WATCH_BUF];
	size_t len;
	/* --exec */
	pid_t child;	/* running, 0 none */
	bool pending;	/* changes not yet run for */
	int64_t due_ms; /* when the pending changes are run for */
	unsigned count; /* changes in the pending run */
	bool lost;	/* the lost line is among them: the run is told "lost", not the last */
	char event[32], vault[VAULTFS_NAME_MAX + 1], name[VAULTFS_NAME_MAX + 1], version[16];
};

static int connect_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	_cleanup_close_ int fd = -1;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return negative_errno();
	return TAKE_FD(fd);
}

/* The next line (without its newline, NUL-terminated in place, valid until the next call):
 * 1, 0 at the end of the stream, -errno. */
static int next_line(struct watcher *w, char **ret, size_t *consumed)
{
	char *nl;

	memmove(w->buf, w->buf + *consumed, w->len - *consumed);
	w->len -= *consumed;
	*consumed = 0;
	nl = memchr(w->buf, '\n', w->len);
	if (!nl)
		return 0;
	*nl = '\0';
	*consumed = (size_t)(nl - w->buf) + 1;
	*ret = w->buf;
	return 1;
}

static const char *member(struct json_object *o, const char *key)
{
	struct json_object *m;

	if (!json_object_object_get_ex(o, key, &m) || json_object_is_type(m, json_type_null))
		return "";
	return json_object_get_string(m);
}

static void print_event(const struct watcher *w, const char *line, struct json_object *o)
{
	const char *name = member(o, "name"), *version = member(o, "version");

	if (w->json)
		printf("%s\n", line);
	else if (streq(member(o, "event"), "lost"))
		printf("lost: events lost, re-read the state\n");
	else
		printf("%s %s%s%s %s%s%s\n", member(o, "time"), member(o, "vault"),
		       name[0] ? "/" : "", name, member(o, "event"), version[0] ? " version " : "",
		       version);
	fflush(stdout);
}

static void run_child(struct watcher *w)
{
	char count[16];
	pid_t pid;

	snprintf(count, sizeof(count), "%u", w->count);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "vaultctl: watch: cannot run %s: %s (tried at the next change)\n",
			w->cmd[0], strerror(errno));
		return;
	}
	if (pid == 0) {
		close(w->fd);
		signal(SIGPIPE, SIG_DFL);
		setenv("VAULTFS_EVENT", w->event, 1);
		setenv("VAULTFS_VAULT", w->vault, 1);
		setenv("VAULTFS_NAME", w->name, 1);
		setenv("VAULTFS_VERSION", w->version, 1);
		setenv("VAULTFS_EVENTS", count, 1);
		execvp(w->cmd[0], w->cmd);
		fprintf(stderr, "vaultctl: watch: cannot run %s: %s\n", w->cmd[0], strerror(errno));
		_exit(127);
	}
	w->child = pid;
	w->pending = false;
	w->lost = false;
	w->count = 0;
}

/* A change for --exec: remembered for the next run. */
static void note_event(struct watcher *w, struct json_object *o)
{
	w->lost = w->lost || streq(member(o, "event"), "lost");
	snprintf(w->event, sizeof(w->event), "%s", w->lost ? "lost" : member(o, "event"));
	snprintf(w->vault, sizeof(w->vault), "%s", w->lost ? "" : member(o, "vault"));
	snprintf(w->name, sizeof(w->name), "%s", w->lost ? "" : member(o, "name"));
	snprintf(w->version, sizeof(w->version), "%s", w->lost ? "" : member(o, "version"));
	w->count++;
	if (!w->pending) {
		w->pending = true;
		w->due_ms = clock_ms(CLOCK_MONOTONIC) + WATCH_COALESCE_MS;
	}
}

static void reap(struct watcher *w, bool block)
{
	int status;
	pid_t p;

	if (!w->child)
		return;
	p = waitpid(w->child, &status, block ? 0 : WNOHANG);
	if (p != w->child)
		return;
	w->child = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		fprintf(stderr, "vaultctl: watch: %s exited with status %d\n", w->cmd[0],
			WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "vaultctl: watch: %s killed by signal %d\n", w->cmd[0],
			WTERMSIG(status));
}

/* The stream after the reply: until the daemon ends it (exit status 1) or an error. */
static int stream(struct watcher *w, size_t consumed)
{
	for (;;) {
		struct pollfd pfd = { .fd = w->fd, .events = POLLIN };
		int64_t now = clock_ms(CLOCK_MONOTONIC);
		int timeout = -1, r;
		char *line;

		while ((r = next_line(w, &line, &consumed)) > 0) {
			struct json_object *o = json_tokener_parse(line);

			if (!o)
				continue; /* not a line of ours: skipped */
			if (w->cmd)
				note_event(w, o);
			else
				print_event(w, line, o);
			json_object_put(o);
		}
		if (w->cmd) {
			reap(w, false);
			if (!w->child && w->pending && now >= w->due_ms)
				run_child(w);
			if (w->child)
				timeout = WATCH_CHILD_POLL_MS;
			else if (w->pending)
				timeout = (int)MAX(w->due_ms - now, 0);
		}
		if (w->len == sizeof(w->buf)) /* a line over the cap: not ours */
			w->len = 0;
		r = poll(&pfd, 1, timeout);
		if (r < 0 && errno != EINTR)
			return fail(negative_errno(), "watch");
		if (r <= 0 || !(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		{
			ssize_t got = read(w->fd, w->buf + w->len, sizeof(w->buf) - w->len);

			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				if (w->cmd && w->pending && !w->child)
					run_child(w);
				reap(w, true);
				fprintf(stderr, "vaultctl: watch: vaultfsd ended the stream%s\n",
					got < 0 ? " (error)" : "");
				return EXIT_REFUSED;
			}
			w->len += (size_t)got;
		}
	}
}

int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	_cleanup_free_ struct watcher *w = calloc(1, sizeof(*w));
	struct json_object *req, *targets, *reply;
	size_t consumed = 0;
	int i, r;
	char *line;

	if (!w)
		return fail(-ENOMEM, "watch");
	if (ctl->offline)
		return usage_error("watch needs vaultfsd (the change stream is the daemon's)");
	req = request_new("watch");
	targets = json_object_new_array();
	if (!req || !targets) {
		json_object_put(req);
		json_object_put(targets);
		return fail(-ENOMEM, "watch");
	}
	json_object_object_add(req, "targets", targets);
	for (i = 1; i < argc; i++) {
		if (streq(argv[i], "--json")) {
			w->json = true;
		} else if (streq(argv[i], "--exec")) {
			if (i + 1 >= argc) {
				json_object_put(req);
				return usage_error("watch --exec needs a command");
			}
			w->cmd = argv + i + 1;
			break;
		} else if (argv[i][0] == '-') {
			json_object_put(req);
			return usage_error("watch: unknown option '%.32s'", argv[i]);
		} else {
			json_object_array_add(targets, json_object_new_string(argv[i]));
		}
	}
	if (json_object_array_length(targets) == 0)
		json_object_object_del(req, "targets"); /* every vault this caller may see */
	w->fd = connect_socket(ctl->config->control_socket);
	if (w->fd < 0) {
		json_object_put(req);
		fprintf(stderr, "vaultctl: cannot reach vaultfsd at %s: %s\n",
			ctl->config->control_socket, strerror(-w->fd));
		return EXIT_REFUSED;
	}
	signal(SIGPIPE, SIG_IGN);
	r = request_send(w->fd, req, NULL, 0);
	json_object_put(req);
	if (r < 0) {
		close(w->fd);
		return fail(r, "watch");
	}
	/* the reply line, then the stream */
	for (;;) {
		ssize_t got;

		r = next_line(w, &line, &consumed);
		if (r > 0)
			break;
		got = read(w->fd, w->buf + w->len, sizeof(w->buf) - w->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0 || w->len + (size_t)got == sizeof(w->buf)) {
			close(w->fd);
			fprintf(stderr, "vaultctl: vaultfsd at %s: no reply to watch\n",
				ctl->config->control_socket);
			return EXIT_REFUSED;
		}
		w->len += (size_t)got;
	}
	reply = json_tokener_parse(line);
	r = reply ? reply_status(reply, "watch") : fail(-EPROTO, "watch");
	json_object_put(reply);
	if (r == 0)
		r = stream(w, consumed);
	close(w->fd);
	return r;
}
