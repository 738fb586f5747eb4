/* vaultfsd: the /vault filesystem daemon. Unseals the master key, loads the policies, opens the
 * audit journal, mounts the FUSE filesystem (or takes a live session over: from systemd's
 * descriptor store, or from the running daemon with --takeover, handover.h) and serves it in the
 * foreground until SIGTERM or SIGINT, when it unmounts cleanly (under the descriptor store it
 * leaves the session to the next start), or until it hands the session over; SIGHUP reloads
 * the policies (a broken set is refused and the old one stays; both outcomes are recorded).
 * Tells systemd READY=1 once the mount is live. Two threads serve: one reads FUSE requests
 * blocking and answers each (as the kernel's round trip is fastest: no poll between requests),
 * the main one runs the control socket, the expiry scan and the signals; they share the store
 * handle, the policy and the rest of struct vfs under its one lock, taken per FUSE request,
 * control dispatch, scan pass and reload. The audit journal has its own writer thread, the
 * kernel cache invalidations theirs. Never logs a secret. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <systemd/sd-daemon.h>

#include "core/errtext.h"
#include "core/harden.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/util.h"
#include "fs/acme.h"
#include "fs/agent-server.h"
#include "fs/budget.h"
#include "fs/certs.h"
#include "fs/commit.h"
#include "fs/control.h"
#include "fs/events.h"
#include "fs/fleet.h"
#include "fs/fleet-audit.h"
#include "fs/handover.h"
#include "fs/notify.h"
#include "fs/ops-int.h"
#include "fs/vaultfs.h"

/* Set by the signal handlers, read by the loop; signals are blocked except inside ppoll, so
 * the loop sees each one before it reads the next request. */
struct signals {
	volatile sig_atomic_t stop;
	volatile sig_atomic_t reload;
};

/* The handlers need somewhere to write: the only file-scope state, and only flags. */
static struct signals sig;

static void on_stop(int signo)
{
	(void)signo;
	sig.stop = 1;
}

static void on_reload(int signo)
{
	(void)signo;
	sig.reload = 1;
}

static int install_signals(sigset_t *ret_waitmask)
{
	struct sigaction sa = { 0 };
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &block, ret_waitmask) < 0)
		return negative_errno();
	sigdelset(ret_waitmask, SIGTERM);
	sigdelset(ret_waitmask, SIGINT);
	sigdelset(ret_waitmask, SIGHUP);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return negative_errno();
	sa.sa_handler = on_reload;
	if (sigaction(SIGHUP, &sa, NULL) < 0)
		return negative_errno();
	return 0;
}

/* notify the FUSE thread to stop: how long one wait for it lasts before it is signalled again
 * (a signal sent just before it blocks in read is not seen by that read) */
#define FUSE_STOP_POLL_MS 50

/* How long the serving daemon waits for a new one to adopt the session it was given. */
#define HANDOVER_ANSWER_MS 30000
/* How long a new daemon waits for the old one to let go of its sockets. */
#define HANDOVER_CLOSE_MS 10000

/* The daemon's start and stop: the mount point is where it happened (path=), decided by no
 * rule. */
static int mount_event(struct vaultfsd *v, const char *event, int err, const char *mountpoint)
{
	struct audit_record rec = AUDIT_RECORD_INIT;

	rec.event = event;
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.path = mountpoint;
	audit_record_self(&rec);
	return audit_append(v->audit, &rec, NULL);
}

/* Load the policy set of the configured directory. A missing directory is an empty set:
 * default deny. */
static int load_policy(const struct config *c, struct policy **ret, struct policy_diag *diag)
{
	struct stat st;

	if (stat(c->policy_dir, &st) < 0 && errno == ENOENT) {
		log_warning("Policy directory '%s' does not exist: every request is denied",
			    c->policy_dir);
		return policy_parse_buffer("(none)", "", 0, ret, diag);
	}
	return policy_load_dir(c->policy_dir, ret, diag);
}

/* Reload the policy set (SIGHUP, `vaultctl policy reload`). A set that does not load is
 * refused and the old one stays; both outcomes are recorded. msg gets the first error. */
static int reload_policy(struct vaultfsd *v, char *msg, size_t size)
{
	struct policy_diag diag = { 0 };
	struct policy *p = NULL;
	char rule[256];
	int r;

	r = load_policy(v->config, &p, &diag);
	if (r < 0) {
		/* the old set stays: a broken file must not open or close anything */
		snprintf(rule, sizeof(rule), "%.*s", (int)strcspn(diag.text ? diag.text : "", "\n"),
			 diag.text ? diag.text : strerror(-r));
		log_error("Policy reload refused, the old policy stays: %s", rule);
		(void)daemon_event(v, "policy-reload", r, rule);
		snprintf(msg, size, "policy refused, the old one stays: %s", rule);
		policy_diag_done(&diag);
		return r;
	}
	snprintf(rule, sizeof(rule), "%zu rules in %zu files", policy_n_rules(p),
		 policy_n_files(p));
	r = daemon_event(v, "policy-reload", 0, rule);
	if (r < 0) {
		log_error("Policy reload not recorded in the audit journal: the old policy stays");
		snprintf(msg, size, "cannot write the audit journal: the old policy stays");
		policy_free(p);
		return -EIO;
	}
	policy_free(v->policy);
	v->policy = p;
	log_info("Policy reloaded: %s", rule);
	snprintf(msg, size, "%s", rule);
	return 0;
}

/* What the operator must hear of the journal, looked at once a second by the main loop (any
 * writer's failure shows in the handle's health): the first failure and each change of it,
 * that it is written again, and the file system going below or back above the reserve kept
 * for allowed records. */
struct journal_watch {
	int err;	    /* the failure last said, 0 none */
	bool below_reserve; /* last said */
	uint64_t dropped;   /* records the systemd journal did not take, as last looked at */
	bool dropping;	    /* said that it does not take them */
};

static void journal_watch(struct vaultfsd *v, struct journal_watch *w)
{
	struct audit_health h = { 0 };
	int r = audit_health(v->audit, &h), err = h.error	     ? h.error :
						  h.failing_since_us ? h.last_error :
								       0;

	if (err < 0 && err != w->err)
		log_error_errno(err,
				"The audit journal cannot be written: %s; opens are refused "
				"(EIO) until it can",
				errtext(ERRTEXT_JOURNAL, err));
	else if (err == 0 && w->err < 0)
		log_info("The audit journal is written again");
	w->err = err;
	/* the systemd journal's copy (best effort): that it stopped taking records, and again */
	if (h.journal_dropped > w->dropped && !w->dropping) {
		log_warning("The systemd journal does not take the audit records sent to it: they "
			    "are not sent until it does (the audit file has them all)");
		w->dropping = true;
	} else if (w->dropping && !h.journal_stalled) {
		log_info("The systemd journal takes audit records again (%" PRIu64
			 " not taken; the audit file has them all)",
			 h.journal_dropped);
		w->dropping = false;
	}
	w->dropped = h.journal_dropped;
	if (r < 0)
		return; /* no free-space figure this time */
	if (h.below_reserve && !w->below_reserve)
		log_warning("The audit journal's file system is nearly full (%" PRIu64
			    " bytes free, "
			    "%" PRIu64 " kept for allowed records): refusals are only counted now",
			    h.free_bytes, h.reserve_bytes);
	else if (!h.below_reserve && w->below_reserve)
		log_info("The audit journal's file system has room again: refusals are recorded");
	w->below_reserve = h.below_reserve;
}

/* The FUSE thread: read a request (blocking, no lock held), answer it under the lock. Ends
 * when the session is unmounted or told to exit (fuse_thread_stop), and says so on done_fd. */
struct fuse_thread {
	struct vaultfsd *v;
	struct fuse_session *se;
	int done_fd;	  /* eventfd the main loop polls */
	int result;	  /* 0 unmounted or told to stop, else the -errno that ended it */
	atomic_bool stop; /* end after the request being answered, leaving the session as it is */
	bool sweep;	  /* answer EIO below the first request read (handover_sweep) */
	pthread_t thread;
};

/* SIGUSR1 wakes the FUSE thread out of read(2) (EINTR): it has no other effect. */
static void on_wake(int signo)
{
	(void)signo;
}

/* The one FUSE thread. It must stay one: open.c answers an allowed read open before it writes
 * the open's record, and counts on no other request being served in between; a read held for
 * its record's sync (journal `always`) counts on its interrupt being read by the thread that
 * holds it; and the handle table is this thread's. What would make it wait (a fleet commit)
 * goes to a thread of its own (commit.h). */
static void *fuse_main(void *arg)
{
	struct fuse_thread *t = arg;
	struct fuse_buf buf = { 0 };
	sigset_t wake;

	sigemptyset(&wake);
	sigaddset(&wake, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &wake, NULL);
	/* stop, not fuse_session_exit, ends a pause for a hand-over: once the session is exited,
	 * libfuse drops a request its read returned (lib/fuse_lowlevel.c, receive_buf), and the
	 * kernel would keep it unanswered */
	while (!atomic_load(&t->stop) && !fuse_session_exited(t->se)) {
		int r = fuse_session_receive_buf(t->se, &buf);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r <= 0) { /* 0: unmounted from outside */
			t->result = r;
			break;
		}
		if (t->sweep && buf.mem && !(buf.flags & FUSE_BUF_IS_FD)) {
			handover_sweep(fuse_session_fd(t->se),
				       ((const struct fuse_in_header *)buf.mem)->unique);
			t->sweep = false;
		}
		pthread_mutex_lock(&t->v->lock);
		fuse_session_process_buf(t->se, &buf);
		pthread_mutex_unlock(&t->v->lock);
	}
	free(buf.mem);
	(void)eventfd_write(t->done_fd, 1);
	return NULL;
}

/* Start the FUSE thread with every signal blocked but its wake-up. */
static int fuse_thread_start(struct fuse_thread *t)
{
	struct sigaction sa = { .sa_handler = on_wake }; /* no SA_RESTART: read returns EINTR */
	sigset_t all, old;
	int r;

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) < 0)
		return negative_errno();
	t->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->done_fd < 0)
		return negative_errno();
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&t->thread, NULL, fuse_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		close(t->done_fd);
		t->done_fd = -1;
	}
	return r;
}

/* Tell the FUSE thread to end and wait for it: the request it is answering is finished. With
 * exit, the session is ended too; without, it stays as it is (a hand-over: requests wait in the
 * kernel). */
static void fuse_thread_end(struct fuse_thread *t, bool exit)
{
	atomic_store(&t->stop, true);
	if (exit)
		fuse_session_exit(t->se);
	for (;;) {
		struct timespec ts;

		pthread_kill(t->thread, SIGUSR1);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += FUSE_STOP_POLL_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		if (pthread_timedjoin_np(t->thread, NULL, &ts) == 0)
			break;
	}
	close(t->done_fd);
	t->done_fd = -1;
}

static void fuse_thread_stop(struct fuse_thread *t)
{
	fuse_thread_end(t, true);
}

/* The hand-over socket (handover.h): the new daemon that connected gets the session; true when
 * it took it (the FUSE thread has stopped and serve ends), false when this one serves on. */
static bool give_session(struct fuse_thread *ft, int listen_fd, int state_fd, int *ret_conn)
{
	int conn = -1, r;

	r = handover_accept(listen_fd, &conn);
	if (r < 0) {
		if (r != -EAGAIN)
			log_warning_errno(r, "Hand-over request refused: %m");
		return false;
	}
	log_info("A new vaultfsd asks for the session: pausing the FUSE requests");
	fuse_thread_end(ft, false); /* the request being answered is finished */
	/* the invalidation thread too (it may answer requests as it ends), and the descriptor
	 * blocking again (its flags are the new daemon's too) */
	notify_stop(ft->v->notify);
	ft->v->notify = NULL;
	/* the commits waiting for the center made and answered (their handles are this
	 * process's: they end with it) */
	committer_stop(ft->v->committer);
	ft->v->committer = NULL;
	/* and the fleet's sync: the new daemon applies what comes from the center */
	fleet_stop(ft->v->fleet);
	ft->v->fleet = NULL;
	fleet_audit_stop(ft->v->fleet_audit, false); /* the new daemon ships from the center's */
	ft->v->fleet_audit = NULL;
	r = handover_blocking(fuse_session_fd(ft->se));
	if (r >= 0)
		r = handover_send(conn, fuse_session_fd(ft->se), state_fd);
	if (r >= 0)
		r = handover_wait_answer(conn, HANDOVER_ANSWER_MS);
	if (r >= 0) {
		*ret_conn = conn;
		return true;
	}
	log_warning_errno(r, "The new vaultfsd did not take the session (%m): serving on");
	close(conn);
	r = notify_start(ft->se, &ft->v->notify);
	if (r < 0)
		log_warning_errno(r, "No cache invalidations from now on: %m");
	r = fleet_start(ft->v, &ft->v->fleet);
	if (r < 0)
		log_warning_errno(r, "No fleet sync from now on: %m");
	r = fleet_audit_start(ft->v, &ft->v->fleet_audit);
	if (r < 0)
		log_warning_errno(r, "No central audit from now on: %m");
	r = committer_start(ft->v, &ft->v->committer);
	if (r < 0) /* commits are made on the FUSE thread, as a local vault's */
		log_warning_errno(r, "Fleet commits will hold the FUSE thread: %m");
	atomic_store(&ft->stop, false);
	r = fuse_thread_start(ft);
	if (r < 0) /* the loop sees done_fd gone: nothing left to serve with */
		log_error_errno(r, "Failed to restart the FUSE thread: %m");
	return false;
}

/* Serve until told to stop or unmounted: the FUSE thread answers requests; this thread runs
 * control requests, the expiry scan and signals (delivered only inside ppoll, so they are seen
 * between two steps, never in one), each step under the daemon's lock. */
struct serve_opts {
	int handover_fd; /* the hand-over socket, -1 none */
	int state_fd;	 /* the state file given with the session */
	bool sweep;	 /* see struct fuse_thread */
	int given_conn;	 /* out: the hand-over connection, once the session was given */
};

static int serve(struct vaultfsd *v, struct fuse_session *se, struct control *ctl,
		 struct agent_server *agent, const sigset_t *waitmask, struct serve_opts *o)
{
	_cleanup_free_ struct pollfd *pfd = NULL;
	struct fuse_thread ft = { .v = v, .se = se, .done_fd = -1, .sweep = o->sweep };
	struct journal_watch jw = { 0 };
	int64_t next_scan = 0, next_watch = 0;
	int r = 0;

	o->given_conn = -1;
	pfd = calloc(2 + control_max_fds() + agent_server_max_fds(), sizeof(*pfd));
	if (!pfd)
		return -ENOMEM;
	r = fuse_thread_start(&ft);
	if (r < 0)
		return r;
	for (;;) {
		int64_t now = clock_ms(CLOCK_MONOTONIC), wait;
		struct timespec ts;
		size_t n = 1, nctl = 0;

		if (sig.stop)
			break;
		if (sig.reload) {
			char msg[256];

			sig.reload = 0;
			pthread_mutex_lock(&v->lock);
			(void)reload_policy(v, msg, sizeof(msg));
			pthread_mutex_unlock(&v->lock);
		}
		if (v->scan_by_ms) {
			next_scan = MIN(next_scan, v->scan_by_ms);
			v->scan_by_ms = 0;
		}
		if (now >= next_scan) {
			bool more;

			pthread_mutex_lock(&v->lock);
			more = daemon_scan(v);
			ops_reap(v);
			pthread_mutex_unlock(&v->lock);
			next_scan = now + (more ? 0 : v->config->expiry_scan * 1000);
		}
		if (now >= next_watch) {
			journal_watch(v, &jw);
			pthread_mutex_lock(&v->lock);
			epoch_tick(v, now);
			pthread_mutex_unlock(&v->lock);
			next_watch = now + 1000;
		}
		pfd[0] = (struct pollfd){ .fd = ft.done_fd, .events = POLLIN };
		if (ctl)
			n += nctl = control_pollfds(ctl, pfd + 1);
		if (agent)
			n += agent_server_pollfds(agent, pfd + 1 + nctl);
		pfd[n] = (struct pollfd){ .fd = o->handover_fd, .events = POLLIN };
		wait = MIN(next_scan, next_watch) - now;
		if (ctl && control_timeout_ms(ctl) >= 0)
			wait = MIN(wait, (int64_t)control_timeout_ms(ctl));
		if (agent && agent_server_timeout_ms(agent) >= 0)
			wait = MIN(wait, (int64_t)agent_server_timeout_ms(agent));
		ts = (struct timespec){ .tv_sec = wait / 1000, .tv_nsec = (wait % 1000) * 1000000 };
		r = ppoll(pfd, n + 1, &ts, waitmask); /* a negative fd (no hand-over) is skipped */
		if (r < 0) {
			if (errno == EINTR) {
				r = 0;
				continue;
			}
			r = negative_errno();
			break;
		}
		r = 0;
		if (pfd[0].revents) /* the FUSE thread ended: unmounted from outside, or failed */
			break;
		if (pfd[n].revents) {
			if (give_session(&ft, o->handover_fd, o->state_fd, &o->given_conn))
				return 0; /* the FUSE thread has ended; the new daemon serves */
			if (ft.done_fd < 0) {
				r = -EIO;
				break;
			}
		}
		if (ctl) {
			pthread_mutex_lock(&v->lock);
			control_dispatch(ctl, pfd + 1, nctl);
			pthread_mutex_unlock(&v->lock);
		}
		if (agent) {
			pthread_mutex_lock(&v->lock);
			agent_server_dispatch(agent, pfd + 1 + nctl, n - 1 - nctl);
			pthread_mutex_unlock(&v->lock);
		}
	}
	fuse_thread_stop(&ft);
	if (r == 0 && ft.result < 0 && ft.result != -EINTR)
		r = ft.result;
	return r;
}

static int open_everything(struct vaultfsd *v, const struct config *c)
{
	_cleanup_secbuf_ struct secbuf *master = NULL, *akey = NULL;
	struct audit_options ao = { .sync = c->audit_sync,
				    .rotate_size = c->audit_rotate_size,
				    .store_path = c->store_path,
				    .lease = true };
	struct policy_diag diag = { 0 };
	struct store *s = NULL;
	int r, resealed = 0;

	r = store_open(c->store_path, 0, &s);
	if (r < 0)
		return log_error_errno(r, "Failed to open the store '%s': %s", c->store_path,
				       errtext(ERRTEXT_STORE, r));
	/* a store sealed before noDA is sealed again with it, once unsealed */
	r = seal_unseal_noda(s, c, &master, &resealed);
	if (r < 0) {
		store_free(s);
		return log_error_errno(r,
				       "Failed to unseal the master key (sealer per the store, "
				       "tcti %s): %s",
				       c->tcti, errtext(ERRTEXT_SEAL, r));
	}
	r = kv_new(s, TAKE_PTR(master), &v->kv);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the store: %m");
	r = epoch_check(v, &ao); /* refuses a store rolled back; the journal's epochs */
	if (r < 0)
		return r;
	r = identity_cache_new(&v->ids);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the cgroup memo: %m");
	r = budget_new(VAULTFS_READ_BYTES_UID_MAX, VAULTFS_READ_BYTES_MAX, &v->reads);
	if (r < 0)
		return log_error_errno(r, "Failed to set up the read budget: %m");
	r = load_policy(c, &v->policy, &diag);
	if (r < 0) {
		log_error("Failed to load the policy from '%s':\n%s", c->policy_dir,
			  diag.text ? diag.text : strerror(-r));
		policy_diag_done(&diag);
		return r;
	}
	policy_diag_done(&diag);
	r = kv_derive_key(v->kv, AUDIT_KEY_LABEL, &akey);
	if (r < 0)
		return log_error_errno(r, "Failed to derive the audit key: %m");
	r = audit_open(c->audit_path, &ao, akey->data, &v->audit);
	if (r < 0)
		return log_error_errno(r, "Failed to open the audit journal '%s': %s",
				       c->audit_path, errtext(ERRTEXT_JOURNAL, r));
	epoch_advance(v, "start");
	if (resealed > 0) {
		log_info("Re-sealed the master key with noDA (it was sealed before noDA)");
		(void)daemon_event(v, "reseal", 0, "tpm-noda");
	} else if (resealed < 0) {
		log_warning_errno(resealed,
				  "Could not re-seal the master key with noDA (tried again "
				  "at the next start): %m");
	}
	return 0;
}

/* The daemon: its context for the requests (what userdata points to) and what the session
 * negotiated, as the init callback saw it (handover.h: a new process must end with the same). */
struct daemon {
	struct vaultfsd v;
	struct handover_conn conn;
	bool have_conn;
};

static struct daemon *daemon_of(void *userdata)
{
	return (struct daemon *)((char *)userdata - offsetof(struct daemon, v));
}

static void daemon_init(void *userdata, struct fuse_conn_info *ci)
{
	struct daemon *d = daemon_of(userdata);

	vfs_ops.init(userdata, ci);
	handover_conn_from(ci, &d->conn);
	d->have_conn = true;
}

/* A session on the operations of ops.c, the init callback noting what was negotiated. */
static struct fuse_session *session_new(struct daemon *d, const char *argv0, bool debug)
{
	char *fargv[] = { (char *)argv0, "-o", "allow_other,fsname=vaultfs,subtype=vaultfs",
			  debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(debug ? 4 : 3, fargv);
	struct fuse_lowlevel_ops ops = vfs_ops;
	struct fuse_session *se;

	ops.init = daemon_init;
	se = fuse_session_new(&args, &ops, sizeof(ops), &d->v);
	fuse_opt_free_args(&args);
	return se;
}

/* Mount afresh and answer the kernel's FUSE_INIT here, keeping its arguments and what was
 * negotiated in a new state file (*ret_state). */
static int mount_fresh(struct daemon *d, struct fuse_session *se, int *ret_state)
{
	const struct config *c = d->v.config;
	struct fuse_buf buf = { 0 };
	const struct fuse_in_header *ih;
	int r;

	if (fuse_session_mount(se, c->mountpoint) != 0)
		return log_error_errno(-EIO, "Failed to mount at '%s'", c->mountpoint);
	/* the kernel sends FUSE_INIT as the mount is made: the first request */
	do
		r = fuse_session_receive_buf(se, &buf);
	while (r == -EINTR);
	ih = buf.mem;
	if (r <= 0 || (buf.flags & FUSE_BUF_IS_FD) || buf.size < sizeof(*ih) ||
	    ih->opcode != FUSE_INIT) {
		free(buf.mem);
		return log_error_errno(r < 0 ? r : -EPROTO,
				       "The kernel's first FUSE request was not INIT");
	}
	fuse_session_process_buf(se, &buf);
	if (fuse_session_exited(se) || !d->have_conn) {
		free(buf.mem);
		return log_error_errno(-EPROTO, "Failed to set up the session at '%s'",
				       c->mountpoint);
	}
	r = handover_state_new(c->mountpoint, ih + 1, buf.size - sizeof(*ih), &d->conn, ret_state);
	free(buf.mem);
	if (r < 0) { /* served all the same, as before hand-overs existed */
		log_warning_errno(r,
				  "No hand-over state for '%s' (%m): a restart or --takeover will "
				  "mount afresh",
				  c->mountpoint);
		*ret_state = -1;
	}
	return 0;
}

/* Serve the mount whose /dev/fuse descriptor (fuse_fd, taken) and state file were handed to
 * us: check both, replay the INIT, check the negotiation. *ret_se is the session (owning
 * fuse_fd) on success; fuse_fd is closed on failure. */
static int adopt(struct daemon *d, const char *argv0, bool debug, int fuse_fd, int state_fd,
		 struct handover_state *st, struct fuse_session **ret_se)
{
	const struct config *c = d->v.config;
	struct fuse_session *se = NULL;
	const char *why = NULL;
	char fdpath[32];
	int r;

	r = handover_state_read(state_fd, st);
	if (r < 0)
		why = "its state file is unreadable or of another format";
	else
		r = handover_check(fuse_fd, st, c->mountpoint, &why);
	if (r >= 0) {
		se = session_new(d, argv0, debug);
		if (!se) {
			r = -EIO;
			why = "no FUSE session";
		}
	}
	if (r >= 0) {
		r = handover_blocking(fuse_fd); /* as a process that ended left it, or not */
		why = "its flags cannot be set";
	}
	if (r >= 0) {
		snprintf(fdpath, sizeof(fdpath), "/dev/fd/%d", fuse_fd);
		if (fuse_session_mount(se, fdpath) != 0) { /* takes fuse_fd: the session's now */
			r = -EIO;
			why = "libfuse refused the descriptor";
		} else {
			fuse_fd = -1;
		}
	}
	if (r >= 0) {
		r = handover_replay_init(se, st);
		if (r >= 0 && (!d->have_conn || handover_conn_check(st, &d->conn) < 0)) {
			r = -EPROTO;
			why = "this vaultfsd negotiates other FUSE options than the one that mounted";
			log_error(
				"Negotiated want %#x capable %#x max_write %u max_readahead %u, "
				"the mount has want %#x capable %#x max_write %u max_readahead %u",
				d->conn.want, d->conn.capable, d->conn.max_write,
				d->conn.max_readahead, st->conn.want, st->conn.capable,
				st->conn.max_write, st->conn.max_readahead);
		} else if (r < 0) {
			why = "the saved FUSE_INIT was refused";
		}
	}
	if (r < 0) {
		log_error_errno(r, "Cannot serve the session handed over for '%s': %s",
				c->mountpoint, why);
		if (se)
			fuse_session_destroy(se);
		if (fuse_fd >= 0)
			close(fuse_fd);
		return r;
	}
	*ret_se = se;
	return 0;
}

/* How the session came. */
enum { MOUNT_FRESH, MOUNT_FDSTORE, MOUNT_TAKEOVER };

static void help(void)
{
	printf("Usage: vaultfsd [-c CONF] [-d] [--takeover]\n"
	       "Serve the vault at the configured mountpoint until SIGTERM or SIGINT.\n"
	       "SIGHUP reloads the policies.\n\n"
	       "  -c, --config CONF   configuration file (default %s)\n"
	       "  -d, --debug         FUSE debug output\n"
	       "      --takeover      take the mount over from the vaultfsd serving it (an upgrade\n"
	       "                      without systemd): it stops and exits, the mount stays\n"
	       "  -h, --help          this text\n",
	       CONFIG_DEFAULT_PATH);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "debug", no_argument, NULL, 'd' },
					      { "help", no_argument, NULL, 'h' },
					      { "takeover", no_argument, NULL, 'T' },
					      {} };
	const char *config_path = CONFIG_DEFAULT_PATH;
	struct config *c = NULL;
	struct daemon d = { .v = { .lock = PTHREAD_MUTEX_INITIALIZER } };
	struct vaultfsd *v = &d.v;
	struct fuse_session *se = NULL;
	struct control *ctl = NULL;
	struct agent_server *agent = NULL;
	struct handover_state st;
	struct serve_opts so = { .handover_fd = -1, .state_fd = -1, .given_conn = -1 };
	sigset_t waitmask;
	bool debug = false, mounted = false, takeover = false, stored = false, served = false;
	int how = MOUNT_FRESH, fuse_fd = -1, conn = -1;
	uint32_t generation = 1;
	const char *failed = NULL;
	char err[512], hpath[108] = "";
	int opt, r;

	log_set_ident("vaultfsd");
	while ((opt = getopt_long(argc, argv, "c:dhf", opts, NULL)) >= 0) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 'f': /* always in the foreground */
			break;
		case 'h':
			help();
			return 0;
		case 'T':
			takeover = true;
			break;
		default:
			fprintf(stderr, "Try 'vaultfsd --help'.\n");
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "vaultfsd: no arguments expected. Try 'vaultfsd --help'.\n");
		return 2;
	}
	/* no core dumps, no ptrace by our uid, nothing paged out, private files */
	r = harden_process(HARDEN_MLOCK, &failed);
	if (r < 0)
		log_warning_errno(r, "Hardening: %s failed (%m)%s", failed,
				  streq(failed, "mlockall") ?
					  "; secrets stay in their own locked buffers" :
					  "");
	r = config_load(config_path, &c, err, sizeof(err));
	if (r < 0) {
		log_error("config: %s", err);
		return 2;
	}
	v->config = c;
	v->hide_unreadable = c->hide_unreadable;
	v->started = (int64_t)time(NULL);
	if (handover_socket_path(c->control_socket, hpath, sizeof(hpath)) < 0)
		hpath[0] = '\0';
	r = install_signals(&waitmask);
	if (r < 0) {
		log_error_errno(r, "Failed to set up signals: %m");
		goto out;
	}
	/* everything slow (unseal, store, journal) before the session is taken: the pause the
	 * readers see is the hand-over alone */
	r = open_everything(v, c);
	if (r < 0)
		goto out;

	if (takeover) {
		if (!hpath[0]) {
			r = log_error_errno(-ENAMETOOLONG, "No hand-over socket path beside '%s'",
					    c->control_socket);
			goto out;
		}
		r = handover_request(hpath, &conn, &fuse_fd, &so.state_fd);
		if (r < 0) {
			log_error_errno(r, "Failed to take the session over through '%s': %m%s",
					hpath,
					r == -ENOENT || r == -ECONNREFUSED ?
						" (is a vaultfsd serving this configuration?)" :
						"");
			goto out;
		}
		how = MOUNT_TAKEOVER;
	} else {
		r = handover_fdstore_take(&fuse_fd, &so.state_fd);
		if (r > 0)
			how = MOUNT_FDSTORE;
	}
	if (how != MOUNT_FRESH) {
		r = adopt(&d, argv[0], debug, fuse_fd, so.state_fd, &st, &se);
		fuse_fd = -1;
		if (r < 0 && how == MOUNT_TAKEOVER) {
			(void)handover_answer(conn, false); /* the old daemon serves on */
			goto out;
		}
		if (r < 0) {
			/* systemd's store held a session this process cannot serve: drop it and
			 * mount afresh over the detached one */
			log_warning("Detaching the mount at '%s' and mounting afresh",
				    c->mountpoint);
			handover_fdstore_drop();
			(void)umount2(c->mountpoint, MNT_DETACH);
			close(so.state_fd);
			so.state_fd = -1;
			d.have_conn = false;
			how = MOUNT_FRESH;
		} else {
			generation = st.generation + 1 > 0xffff ? 1 : st.generation + 1;
			r = handover_state_set_generation(so.state_fd, generation);
			if (r < 0)
				log_warning_errno(
					r, "Could not note generation %u in the state file: %m",
					generation);
			mounted = true;
		}
	}
	if (how == MOUNT_FRESH) {
		struct stat sb;

		/* a mount left by a vaultfsd that died answers ENOTCONN: detach it, or the new
		 * mount cannot be made (only a dead FUSE mount gives ENOTCONN) */
		if (stat(c->mountpoint, &sb) < 0 && errno == ENOTCONN) {
			log_warning("Detaching a dead mount at '%s' (a vaultfsd that did not stop "
				    "cleanly)",
				    c->mountpoint);
			(void)umount2(c->mountpoint, MNT_DETACH);
		}
		if (mkdir(c->mountpoint, 0755) == 0) {
			/* our umask is 077; others must reach the mount point */
			(void)chmod(c->mountpoint, 0755);
		} else if (errno != EEXIST) {
			r = log_error_errno(negative_errno(),
					    "Failed to create mountpoint '%s': %m", c->mountpoint);
			goto out;
		}
		se = session_new(&d, argv[0], debug);
		if (!se) {
			r = log_error_errno(-EIO, "Failed to create the FUSE session");
			goto out;
		}
		r = mount_fresh(&d, se, &so.state_fd);
		if (r < 0)
			goto out;
		mounted = true;
		/* systemd keeps the session for the next start (FileDescriptorStoreMax=) */
		stored = so.state_fd >= 0 &&
			 handover_fdstore_put(fuse_session_fd(se), so.state_fd) > 0;
	} else if (how == MOUNT_FDSTORE) {
		stored = true;
		/* requests the last process read and never answered (it crashed) are still on the
		 * connection: queued again, or failed with EIO where the kernel cannot (< 6.9) */
		r = handover_resend(fuse_session_fd(se));
		if (r == -EINVAL)
			so.sweep = true;
		else if (r < 0)
			log_warning_errno(r, "Could not have the kernel resend requests: %m");
	}
	/* handles (and numbers of files not committed yet) of earlier processes are told from
	 * ours by the generation */
	handles_init((uint16_t)generation);
	v->next_pending = (uint64_t)generation << 40;
	r = notify_start(se, &v->notify);
	if (r < 0) {
		log_error_errno(r, "Failed to start the cache invalidation thread: %m");
		goto out;
	}
	r = events_start(v, se, c->stamp_dir, &v->events);
	if (r < 0) {
		log_error_errno(r, "Failed to start the change stream: %m");
		goto out;
	}
	if (how == MOUNT_TAKEOVER) {
		/* the old daemon removes its sockets and exits once it hears we serve */
		(void)handover_answer(conn, true);
		if (handover_wait_closed(conn, HANDOVER_CLOSE_MS) < 0)
			log_warning("The old vaultfsd has not let go of its sockets yet");
		close(conn);
		conn = -1;
	}
	r = control_open(v, c->control_socket, reload_policy, &ctl);
	if (r < 0) {
		log_error_errno(r, "Failed to open the control socket '%s': %s", c->control_socket,
				r == -EADDRINUSE ? "another vaultfsd serves it" :
				r == -EEXIST	 ? "a file that is not a socket is in the way" :
						   strerror(-r));
		goto out;
	}
	if (c->agent_socket) {
		r = agent_server_open(v, c->agent_socket, &agent);
		if (r < 0) {
			log_error_errno(r, "Failed to open the agent socket '%s': %s",
					c->agent_socket,
					r == -EADDRINUSE ? "another program serves it" :
					r == -EEXIST ? "a file that is not a socket is in the way" :
						       strerror(-r));
			goto out;
		}
	}
	if (hpath[0] && geteuid() == 0 && so.state_fd >= 0) {
		r = handover_listen(hpath, &so.handover_fd);
		if (r < 0)
			log_warning_errno(r,
					  "No hand-over socket at '%s' (%m): `vaultfsd --takeover` "
					  "cannot take this session",
					  hpath);
	}
	r = acme_new(v,
		     &(struct acme_options){ .client = c->acme_client,
					     .http = c->acme_http,
					     .ca_file = c->acme_ca_file,
					     .timeout = c->acme_timeout },
		     &v->acme);
	if (r < 0) {
		log_error_errno(r, "Failed to start the ACME issuer: %m");
		goto out;
	}
	r = fleet_start(v, &v->fleet); /* [fleet] conninfo set: the sync thread (fs/fleet.c) */
	if (r < 0) {
		log_error_errno(r, "Failed to start the fleet's sync: %m");
		goto out;
	}
	r = fleet_audit_start(v, &v->fleet_audit); /* the journal shipped (fs/fleet-audit.c) */
	if (r < 0) {
		log_error_errno(r, "Failed to start the central audit: %m");
		goto out;
	}
	r = committer_start(v, &v->committer); /* fleet vaults' commits off the FUSE thread */
	if (r < 0) {
		log_error_errno(r, "Failed to start the committer: %m");
		goto out;
	}
	(void)mount_event(v,
			  how == MOUNT_FRESH   ? "start" :
			  how == MOUNT_FDSTORE ? "restart" :
						 "takeover",
			  0, c->mountpoint);
	log_info("Serving %s%s", c->mountpoint,
		 how == MOUNT_FDSTORE  ? " (the session systemd kept)" :
		 how == MOUNT_TAKEOVER ? " (taken over)" :
					 "");
	(void)sd_notifyf(0, "READY=1\nSTATUS=Serving %s", c->mountpoint);
	r = serve(v, se, ctl, agent, &waitmask, &so);
	served = true;
	if (so.given_conn >= 0) {
		/* the new daemon serves the session: let go of the sockets it waits for first,
		 * then record */
		agent_server_free(TAKE_PTR(agent));
		control_free(TAKE_PTR(ctl));
		if (so.handover_fd >= 0) {
			close(TAKE_FD(so.handover_fd));
			(void)unlink(hpath);
		}
		close(TAKE_FD(so.given_conn));
		mounted = false; /* not unmounted: it is the new daemon's */
		(void)mount_event(v, "handover", 0, c->mountpoint);
		log_info("Handed %s over to a new vaultfsd", c->mountpoint);
	} else {
		(void)sd_notify(0, "STOPPING=1");
		if (r < 0)
			log_error_errno(r, "Serving failed: %m");
		(void)mount_event(v, "stop", r, c->mountpoint);
	}
out:
	/* the threads that may be inside a fleet commit with the lock let go (ACME's worker, the
	 * control socket's) end before the fleet's state goes */
	acme_free(v->acme); /* kills a client still running; takes the lock: not held here */
	agent_server_free(agent);
	control_free(ctl);
	committer_stop(v->committer); /* the FUSE thread has ended: it hands nothing more */
	v->committer = NULL;
	/* ships the records written up to now (the stop's) when the center is there; joins */
	fleet_audit_stop(v->fleet_audit, true);
	v->fleet_audit = NULL;
	/* joins the sync thread; takes the lock: not held here */
	fleet_stop(v->fleet);
	v->fleet = NULL;
	if (so.handover_fd >= 0) {
		close(so.handover_fd);
		(void)unlink(hpath);
	}
	if (conn >= 0)
		close(conn);
	/* reads held for their record's sync (journal `always`) are answered before the session
	 * goes */
	handles_settle(v);
	/* after control_free (its watchers), before the unmount: reads still waiting are answered
	 * with the lost line (after a hand-over, by this process, or by the next from the kernel's
	 * resend) */
	events_stop(v->events);
	v->events = NULL;
	notify_stop(v->notify); /* before the unmount closes the session's fd */
	v->notify = NULL;
	if (se && mounted && stored && served && (sig.stop || r < 0)) {
		/* systemd holds the session: a restart (or the start after a failure) serves it
		 * on; a stop has the unit's ExecStopPost detach it. Unmounted from outside, it is
		 * dropped from the store below. */
		log_info("Stopped serving %s; systemd keeps the session for the next start",
			 c->mountpoint);
		mounted = false;
	}
	if (se) {
		bool own = how == MOUNT_FRESH;

		if (mounted && own)
			fuse_session_unmount(se);
		fuse_session_destroy(se);
		if (mounted && !own) /* adopted: libfuse knows no mountpoint to unmount */
			(void)umount2(c->mountpoint, MNT_DETACH);
		if (mounted) {
			if (stored)
				handover_fdstore_drop();
			log_info("Stopped: %s unmounted%s", c->mountpoint,
				 r < 0 ? " after a failure" : "");
		}
	}
	if (so.state_fd >= 0)
		close(so.state_fd);
	ops_done(v);
	handles_done();
	budget_free(v->reads);
	v->reads = NULL;
	audit_free(v->audit);
	policy_free(v->policy);
	identity_cache_free(v->ids);
	kv_free(v->kv);
	config_free(c);
	return r < 0 ? 1 : 0;
}
