/* acme.c: the `acme` issuer. kv_cert_due makes an ACME certificate's pending version (a key kept
 * in the store and its CSR) and the scan queues it here; a worker thread then has Debian's lego
 * get that CSR signed (`lego --csr ... run`: CSR mode, http-01 by lego's own listener or a
 * webroot) in a private scratch directory (mode 0700, in the daemon's runtime directory), waits
 * for it with a time limit (its process group killed past it), and completes the version with
 * kv_cert_merge, or records the failure (kv_cert_renewal_failed: the backoff). The vault's ACME
 * account key is a secret of the vault (ACME_ACCOUNT_SECRET), written into the scratch directory
 * for the run only; every file there is overwritten with zeros before the directory is removed.
 * Must never: hand the client the certificate's private key (it only ever gets the CSR), keep
 * v->lock while the client runs, or leave an account key on disk. */
#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "core/io.h"
#include "core/log.h"
#include "core/secbuf.h"
#include "core/timeutil.h"
#include "core/util.h"
#include "fs/acme.h"
#include "fs/certs.h"
#include "fs/vaultfs.h"

#define ACME_CLIENT_DEFAULT "/usr/bin/lego"
#define ACME_HTTP_DEFAULT ":80"
#define ACME_RUNTIME_DEFAULT "/run/vaultfs"
/* what is read back from the scratch directory: the chain lego writes, the account key */
#define ACME_CHAIN_MAX (64u << 10)
#define ACME_ACCOUNT_KEY_MAX (16u << 10)
/* the tail of the client's output kept for the failure's reason */
#define ACME_OUTPUT_TAIL 2048u
/* the reason kept with a failure (kv_cert_renewal's last_error) */
#define ACME_REASON_MAX 128u
/* scratch directories are runtime_dir/acme.XXXXXX */
#define ACME_SCRATCH_PREFIX "acme."

struct acme_job {
	char vault[VAULTFS_NAME_MAX + 1];
	char name[VAULTFS_NAME_MAX + 1];
	uint32_t version;
};

struct acme {
	struct vaultfsd *v;
	char *client, *http, *ca_file, *runtime_dir;
	int64_t timeout;
	int stop_fd; /* eventfd: acme_free wakes a wait on the client */
	pthread_t thread;
	bool started;
	pthread_mutex_t mu; /* the queue, busy and stop; never held with v->lock taken after it */
	pthread_cond_t cond;
	struct acme_job queue[ACME_QUEUE_MAX];
	unsigned n_queued;
	struct acme_job running;
	bool busy, stop;
};

/* One run's state in the worker. */
struct acme_run {
	struct acme *a;
	const struct acme_job *job;
	char scratch[VAULTFS_PATH_MAX];
	uint8_t *csr;
	size_t csr_len;
	char *directory, *contact;
	struct secbuf *account; /* the vault's account key; NULL: none yet (lego makes one) */
	char reason[ACME_REASON_MAX];
	char tail[ACME_OUTPUT_TAIL + 1]; /* the client's last output, NUL-terminated */
	size_t tail_len;
};

/* --- the scratch directory --- */

/* snprintf of a path: -ENAMETOOLONG when it does not fit */
static int pathf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static int pathf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* The reason of a failure, for a person (cut to fit). */
static void reasonf(struct acme_run *run, const char *fmt, ...) _printf_(2, 3);
static void reasonf(struct acme_run *run, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(run->reason, sizeof(run->reason), fmt, ap);
	va_end(ap);
}

/* nftw: every regular file zeroed then removed, directories removed on the way out. */
static int wipe_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_DP) {
		(void)rmdir(path);
		return 0;
	}
	if (flag == FTW_F && S_ISREG(st->st_mode)) {
		static const uint8_t zeros[4096];
		int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);

		if (fd >= 0) {
			for (off_t left = st->st_size; left > 0; left -= (off_t)sizeof(zeros))
				if (io_write_all(fd, zeros, MIN((size_t)left, sizeof(zeros))) < 0)
					break;
			(void)fdatasync(fd);
			close(fd);
		}
	}
	(void)unlink(path);
	return 0;
}

static int scratch_remove(const char *dir)
{
	if (nftw(dir, wipe_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
		return negative_errno();
	return access(dir, F_OK) == 0 ? -ENOTEMPTY : 0;
}

/* Directories left by a daemon that died while a client ran (account keys among them). */
static void scratch_remove_stale(const char *runtime_dir)
{
	DIR *d = opendir(runtime_dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[VAULTFS_PATH_MAX];

		if (strncmp(de->d_name, ACME_SCRATCH_PREFIX, strlen(ACME_SCRATCH_PREFIX)) != 0 ||
		    de->d_type != DT_DIR)
			continue;
		if (pathf(path, sizeof(path), "%s/%s", runtime_dir, de->d_name) < 0)
			continue;
		if (scratch_remove(path) < 0)
			log_warning("Could not remove the stale ACME scratch directory '%s'", path);
		else
			log_info("Removed the stale ACME scratch directory '%s'", path);
	}
	closedir(d);
}

/* mkdir -p of rel below base (base exists), each 0700 */
static int mkdir_below(const char *base, const char *rel)
{
	char path[VAULTFS_PATH_MAX];
	int r = pathf(path, sizeof(path), "%s/%s", base, rel);

	if (r < 0)
		return r;
	for (char *p = path + strlen(base) + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return negative_errno();
		*p = c;
		if (!c)
			return 0;
	}
}

static int write_file(const char *path, const void *p, size_t n)
{
	_cleanup_close_ int fd =
		open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return negative_errno();
	return io_write_all(fd, p, n);
}

/* Read a file of at most max bytes into a new secbuf (NUL-terminated). */
static int read_file(const char *path, size_t max, struct secbuf **ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	_cleanup_secbuf_ struct secbuf *b = NULL;
	size_t n;
	int r;

	if (fd < 0)
		return negative_errno();
	r = secbuf_new(max + 2, &b);
	if (r < 0)
		return r;
	r = io_read_all(fd, b->data, max + 1, &n);
	if (r < 0)
		return r;
	if (n > max)
		return -EFBIG;
	b->data[n] = 0;
	b->len = n;
	*ret = TAKE_PTR(b);
	return 0;
}

/* --- what lego is given --- */

/* lego keeps an account at PATH/accounts/HOST/EMAIL/keys/EMAIL.key, HOST the directory URL's
 * host[:port] with ':' as '_' (its accounts storage): the key is put there before the run and
 * read back from there after. The contact is an email lego needs to name the account. */
static int account_key_rel(const char *directory, const char *email, char *buf, size_t size)
{
	char host[256];
	const char *h, *e;
	size_t n;

	if (strncmp(directory, "https://", 8) == 0)
		h = directory + 8;
	else if (strncmp(directory, "http://", 7) == 0)
		h = directory + 7;
	else
		return -EINVAL;
	n = strcspn(h, "/?#");
	if (n == 0 || n >= sizeof(host) || memchr(h, '@', n))
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	for (char *p = host; *p; p++)
		if (*p == ':')
			*p = '_';
	if (!email || !*email || strlen(email) > 254 || !strchr(email, '@'))
		return -EINVAL;
	for (e = email; *e; e++)
		if (!(isalnum((unsigned char)*e) || strchr("@._+-", *e)))
			return -EINVAL;
	return pathf(buf, size, "lego/accounts/%s/%s/keys/%s.key", host, email, email);
}

/* Keep the end of the client's output. */
static void tail_add(struct acme_run *run, const char *p, size_t n)
{
	if (n >= ACME_OUTPUT_TAIL) {
		p += n - ACME_OUTPUT_TAIL;
		n = ACME_OUTPUT_TAIL;
	}
	if (run->tail_len + n > ACME_OUTPUT_TAIL) {
		size_t drop = run->tail_len + n - ACME_OUTPUT_TAIL;

		memmove(run->tail, run->tail + drop, run->tail_len - drop);
		run->tail_len -= drop;
	}
	memcpy(run->tail + run->tail_len, p, n);
	run->tail_len += n;
	run->tail[run->tail_len] = '\0';
}

/* The reason of a failed run: what, then the client's last line that says something (its
 * timestamp cut; its end when too long: the cause is said last), printable ASCII only. */
static void reason_from_output(struct acme_run *run, const char *what)
{
	char line[ACME_REASON_MAX] = "";
	char *best = NULL, *save = NULL;
	size_t room = sizeof(run->reason) - strlen(what) - 3, j = 0, n;

	for (char *l = strtok_r(run->tail, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		while (*l == ' ' || *l == '\t')
			l++;
		if (*l)
			best = l;
	}
	if (best) {
		/* "2026/12/06 05:56:49 " */
		if (strlen(best) > 20 && best[4] == '/' && best[7] == '/' && best[13] == ':')
			best += 20;
		n = strlen(best);
		if (n > room && room > 3) {
			best += n - (room - 3);
			j = str_copy(line, sizeof(line), "...");
		}
		for (; *best && j + 1 < sizeof(line); best++)
			line[j++] = (*best >= 0x20 && *best < 0x7f) ? *best : '?';
		line[j] = '\0';
	}
	reasonf(run, "%s%s%s", what, *line ? ": " : "", line);
}

/* Run lego in the scratch directory; 0 when it exited 0, else -errno with run->reason. */
static int run_client(struct acme_run *run)
{
	struct acme *a = run->a;
	char csr_path[VAULTFS_PATH_MAX], lego_path[VAULTFS_PATH_MAX], ca_env[VAULTFS_PATH_MAX + 32];
	char *argv[20], *envp[4];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int pipefd[2], argc = 0, envc = 0, status = 0, r;
	_cleanup_close_ int pidfd = -1, out = -1;
	int64_t deadline;
	pid_t pid;
	bool killed = false, timed_out = false;

	if (pathf(csr_path, sizeof(csr_path), "%s/req.csr", run->scratch) < 0 ||
	    pathf(lego_path, sizeof(lego_path), "%s/lego", run->scratch) < 0 ||
	    (a->ca_file &&
	     pathf(ca_env, sizeof(ca_env), "LEGO_CA_CERTIFICATES=%s", a->ca_file) < 0))
		return -ENAMETOOLONG;
	argv[argc++] = a->client;
	argv[argc++] = "--path";
	argv[argc++] = lego_path;
	argv[argc++] = "--server";
	argv[argc++] = run->directory;
	argv[argc++] = "--email";
	argv[argc++] = run->contact;
	argv[argc++] = "--accept-tos";
	argv[argc++] = "--csr";
	argv[argc++] = csr_path;
	argv[argc++] = "--http";
	argv[argc++] = a->http[0] == '/' ? "--http.webroot" : "--http.port";
	argv[argc++] = a->http;
	argv[argc++] = "run";
	argv[argc] = NULL;
	envp[envc++] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	if (a->ca_file)
		envp[envc++] = ca_env;
	envp[envc] = NULL;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return negative_errno();
	out = pipefd[0];
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	posix_spawn_file_actions_addchdir_np(&fa, run->scratch);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3); /* none of the daemon's files */
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0); /* its own group: a timeout kills all of it */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETPGROUP);
	r = -posix_spawn(&pid, a->client, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(pipefd[1]);
	if (r < 0) {
		reasonf(run, "cannot run %s: %s", a->client, strerror(-r));
		return r;
	}
	pidfd = pidfd_open(pid, 0);
	if (pidfd < 0) {
		r = negative_errno();
		(void)kill(-pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		reasonf(run, "cannot wait for %s", a->client);
		return r;
	}
	(void)fcntl(out, F_SETFL, O_NONBLOCK);
	deadline = clock_ms(CLOCK_MONOTONIC) + a->timeout * 1000;
	for (;;) {
		struct pollfd pfd[3] = { { .fd = pidfd, .events = POLLIN },
					 { .fd = out, .events = POLLIN },
					 { .fd = a->stop_fd, .events = POLLIN } };
		int64_t left = deadline - clock_ms(CLOCK_MONOTONIC);
		char buf[512];
		ssize_t n;

		if (left <= 0 && !killed) {
			timed_out = killed = true;
			(void)kill(-pid, SIGKILL);
			left = 0;
		}
		if (poll(pfd, 3, killed ? 1000 : (int)MIN(left, 60000)) < 0 && errno != EINTR &&
		    !killed) {
			killed = true; /* cannot wait: do not leave it running */
			(void)kill(-pid, SIGKILL);
		}
		if (out >= 0 && pfd[1].revents) {
			while ((n = read(out, buf, sizeof(buf))) > 0)
				tail_add(run, buf, (size_t)n);
			if (n == 0) {
				close(out);
				out = -1;
			}
		}
		if (pfd[2].revents && !killed) {
			killed = true;
			(void)kill(-pid, SIGKILL);
		}
		if (pfd[0].revents)
			break;
	}
	while (out >= 0) { /* what it wrote last */
		char buf[512];
		ssize_t n = read(out, buf, sizeof(buf));

		if (n <= 0)
			break;
		tail_add(run, buf, (size_t)n);
	}
	if (waitpid(pid, &status, 0) < 0)
		return negative_errno();
	if (timed_out) {
		reasonf(run, "%s did not finish in %" PRId64 " s", a->client, a->timeout);
		return -ETIMEDOUT;
	}
	if (killed) {
		reasonf(run, "stopped with the daemon");
		return -ECANCELED;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	reason_from_output(run, WIFEXITED(status) ? "lego failed" : "lego was killed");
	return -EPROTO;
}

/* The chain lego wrote: certificates/DOMAIN.crt (leaf and issuers; DOMAIN.issuer.crt beside). */
static int read_chain(struct acme_run *run, struct secbuf **ret)
{
	char dir[VAULTFS_PATH_MAX], path[VAULTFS_PATH_MAX + 256];
	DIR *d;
	struct dirent *de;
	int r = -ENOENT;

	r = pathf(dir, sizeof(dir), "%s/lego/certificates", run->scratch);
	if (r < 0)
		return r;
	r = -ENOENT;
	d = opendir(dir);
	if (!d)
		return negative_errno();
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);

		if (n < 5 || !streq(de->d_name + n - 4, ".crt") ||
		    (n > 11 && streq(de->d_name + n - 11, ".issuer.crt")))
			continue;
		r = pathf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (r >= 0)
			r = read_file(path, ACME_CHAIN_MAX, ret);
		break;
	}
	closedir(d);
	return r;
}

/* --- one issuance --- */

/* A record of the daemon's own about vault/name: event "cert-issue-acme" (the certificate) or
 * "set" (the account key it keeps). */
static void record(struct acme *a, const char *event, const char *vault, const char *name,
		   uint32_t version, int err, const char *why)
{
	struct audit_record rec = AUDIT_RECORD_INIT;
	char path[2 * VAULTFS_NAME_MAX + 3];

	snprintf(path, sizeof(path), "/%s/%s", vault, name);
	rec.event = event;
	rec.decision = err ? AUDIT_DENY : AUDIT_ALLOW;
	rec.err = err;
	rec.rule = why;
	rec.vault = vault;
	rec.object = name;
	rec.version = version;
	rec.path = path;
	audit_record_self(&rec);
	if (audit_append(a->v->audit, &rec, NULL) < 0)
		log_warning("%s of /%s/%s not recorded in the audit journal", event, vault, name);
}

/* Under v->lock: what the run needs from the store. 1 to run, 0 nothing to do (no longer
 * pending, deleted), -errno with run->reason. */
static int load_job(struct acme_run *run)
{
	struct kv *kv = run->a->v->kv;
	const struct acme_job *job = run->job;
	struct kv_cert_info info = { 0 };
	int r;

	r = kv_cert_get(kv, job->vault, job->name, job->version, &info);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		reasonf(run, "cannot read the pending version");
		return r;
	}
	if (!info.pending || info.policy.issuer != KV_CERT_ACME || !info.csr) {
		kv_cert_info_done(&info);
		return 0; /* merged meanwhile, or not ours */
	}
	r = -ENOMEM;
	run->csr = malloc(info.csr_len);
	run->directory = info.policy.acme_directory ? strdup(info.policy.acme_directory) : NULL;
	run->contact = info.policy.acme_contact ? strdup(info.policy.acme_contact) : NULL;
	if (!run->csr || (info.policy.acme_directory && !run->directory) ||
	    (info.policy.acme_contact && !run->contact))
		goto out;
	memcpy(run->csr, info.csr, info.csr_len);
	run->csr_len = info.csr_len;
	r = kv_secret_get(kv, job->vault, ACME_ACCOUNT_SECRET, 0, &run->account, NULL);
	if (r == -ENOENT) {
		run->account = NULL;
		r = 1;
	} else if (r < 0) {
		reasonf(run, "cannot read the account key secret /%s/" ACME_ACCOUNT_SECRET,
			job->vault);
	} else {
		r = 1;
	}
out:
	kv_cert_info_done(&info);
	return r;
}

/* Without the lock: the scratch directory, the client, what it made (chain, account key). */
static int issue_unlocked(struct acme_run *run, char *key_rel, size_t key_rel_size,
			  struct secbuf **ret_chain, struct secbuf **ret_account)
{
	struct acme *a = run->a;
	char path[VAULTFS_PATH_MAX + 64];
	int r;

	if (!run->directory) {
		reasonf(run, "the policy names no ACME directory");
		return -EINVAL;
	}
	r = account_key_rel(run->directory, run->contact, key_rel, key_rel_size);
	if (r < 0) {
		reasonf(run, "%s",
			!run->contact ? "the policy names no ACME contact (lego needs an email)" :
					"unusable ACME directory URL or contact email");
		return r;
	}
	r = pathf(run->scratch, sizeof(run->scratch), "%s/" ACME_SCRATCH_PREFIX "XXXXXX",
		  a->runtime_dir);
	if (r < 0 || !mkdtemp(run->scratch)) {
		r = r < 0 ? r : negative_errno();
		run->scratch[0] = '\0';
		reasonf(run, "cannot make a scratch directory in %s", a->runtime_dir);
		return r;
	}
	r = pathf(path, sizeof(path), "%s/req.csr", run->scratch);
	if (r >= 0)
		r = write_file(path, run->csr, run->csr_len);
	if (r >= 0 && run->account) {
		char *slash = strrchr(key_rel, '/');

		*slash = '\0';
		r = mkdir_below(run->scratch, key_rel);
		*slash = '/';
		if (r >= 0)
			r = pathf(path, sizeof(path), "%s/%s", run->scratch, key_rel);
		if (r >= 0)
			r = write_file(path, run->account->data, run->account->len);
	}
	if (r < 0) {
		reasonf(run, "cannot write the scratch directory");
		return r;
	}
	r = run_client(run);
	if (r < 0)
		return r;
	r = read_chain(run, ret_chain);
	if (r < 0) {
		reasonf(run, "lego left no certificate");
		return r;
	}
	if (!run->account) {
		if (pathf(path, sizeof(path), "%s/%s", run->scratch, key_rel) < 0 ||
		    read_file(path, ACME_ACCOUNT_KEY_MAX, ret_account) < 0)
			log_warning("lego made no ACME account key for /%s: a new one next time",
				    run->job->vault);
	}
	return 0;
}

static void issue_one(struct acme *a, const struct acme_job *job)
{
	struct vaultfsd *v = a->v;
	struct acme_run run = { .a = a, .job = job };
	_cleanup_secbuf_ struct secbuf *chain = NULL, *account = NULL;
	char key_rel[VAULTFS_PATH_MAX];
	uint32_t version = 0;
	int r;

	pthread_mutex_lock(&v->lock);
	r = load_job(&run);
	pthread_mutex_unlock(&v->lock);
	if (r == 0)
		goto out;
	if (r > 0)
		r = issue_unlocked(&run, key_rel, sizeof(key_rel), &chain, &account);
	if (run.scratch[0] && scratch_remove(run.scratch) < 0)
		log_error("Could not remove the ACME scratch directory '%s': it holds an account "
			  "key, remove it",
			  run.scratch);

	pthread_mutex_lock(&v->lock);
	if (account) {
		static const struct kv_attrs attrs = { .enabled = 1,
						       .content_type = "application/x-pem-file" };
		uint32_t kv_version = 0;
		int k = kv_secret_set(v->kv, job->vault, ACME_ACCOUNT_SECRET, account->data,
				      account->len, &attrs, &kv_version);

		if (k < 0)
			log_warning_errno(k, "Could not keep the ACME account key of /%s: %m",
					  job->vault);
		else
			record(a, "set", job->vault, ACME_ACCOUNT_SECRET, kv_version, 0,
			       "acme account key made by the client");
	}
	if (r >= 0) {
		r = kv_cert_merge(v->kv, job->vault, job->name, chain->data, chain->len, &version);
		if (r < 0)
			reasonf(&run, "the issued chain does not complete the pending version");
	}
	if (r == -ECANCELED) {
		/* the daemon stops: not a failure of the issuer; the next start tries again */
		log_info("ACME issuance of /%s/%s stopped with the daemon", job->vault, job->name);
	} else if (r == -EALREADY) {
		/* completed meanwhile (a `cert merge` by hand): nothing pending any more */
		log_info("ACME issuance of /%s/%s version %u: completed meanwhile, the chain from "
			 "%s dropped",
			 job->vault, job->name, job->version, run.directory);
	} else if (r >= 0) {
		char why[ACME_REASON_MAX + 16];

		snprintf(why, sizeof(why), "issued by %.*s", (int)ACME_REASON_MAX, run.directory);
		record(a, "cert-issue-acme", job->vault, job->name, version, 0, why);
		certs_changed(v, job->vault, job->name);
		log_info("/%s/%s version %u issued over ACME by %s", job->vault, job->name, version,
			 run.directory);
	} else {
		struct kv_cert_renewal ren = { 0 };
		char when[TIME_FORMAT_MAX] = "?";
		int k;

		k = kv_cert_renewal_failed(v->kv, job->vault, job->name, r, run.reason);
		if (k >= 0 && kv_cert_renewal_get(v->kv, job->vault, job->name, &ren) >= 0) {
			time_format(ren.next_try, when);
			/* tried again when the backoff says, not at the next hourly scan */
			daemon_scan_soon(v, MAX(ren.next_try - (int64_t)time(NULL), 1) * 1000);
		}
		record(a, "cert-issue-acme", job->vault, job->name, job->version, r, run.reason);
		log_warning_errno(r,
				  "ACME issuance of /%s/%s version %u failed: %s (%m); tried "
				  "again at %s",
				  job->vault, job->name, job->version, run.reason, when);
	}
	pthread_mutex_unlock(&v->lock);
out:
	free(run.csr);
	free(run.directory);
	free(run.contact);
	secbuf_free(run.account);
}

/* --- the worker --- */

static void *acme_main(void *arg)
{
	struct acme *a = arg;

	/* A webroot's challenge files must be readable by the web server: lego makes them 0644,
	 * which the daemon's umask 077 would make 0600. This thread (and the clients it starts)
	 * get their own umask, the rest of the daemon keeps 077. */
	if (a->http[0] == '/') {
		if (unshare(CLONE_FS) < 0)
			log_warning_errno(negative_errno(),
					  "ACME: cannot have a umask of its own (%m): "
					  "webroot challenge files stay 0600");
		else
			umask(0022);
	}
	for (;;) {
		struct acme_job job;

		pthread_mutex_lock(&a->mu);
		while (!a->stop && a->n_queued == 0)
			pthread_cond_wait(&a->cond, &a->mu);
		if (a->stop) {
			pthread_mutex_unlock(&a->mu);
			break;
		}
		job = a->queue[0];
		memmove(a->queue, a->queue + 1, --a->n_queued * sizeof(a->queue[0]));
		a->running = job;
		a->busy = true;
		pthread_mutex_unlock(&a->mu);

		issue_one(a, &job);

		pthread_mutex_lock(&a->mu);
		a->busy = false;
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

static bool job_is(const struct acme_job *j, const char *vault, const char *name, uint32_t version)
{
	return j->version == version && streq(j->vault, vault) && streq(j->name, name);
}

int acme_issue(struct acme *a, const char *vault, const char *name, uint32_t version)
{
	struct acme_job *j;
	int r = 0; /* already there */

	if (!a || !kv_name_valid(vault) || !kv_name_valid(name) || version == 0)
		return -EINVAL;
	pthread_mutex_lock(&a->mu);
	if (a->busy && job_is(&a->running, vault, name, version))
		goto out;
	for (unsigned i = 0; i < a->n_queued; i++)
		if (job_is(&a->queue[i], vault, name, version))
			goto out;
	if (a->n_queued == ACME_QUEUE_MAX) {
		r = -ENOSPC;
		goto out;
	}
	j = &a->queue[a->n_queued++];
	str_copy(j->vault, sizeof(j->vault), vault);
	str_copy(j->name, sizeof(j->name), name);
	j->version = version;
	pthread_cond_signal(&a->cond);
	r = 1;
out:
	pthread_mutex_unlock(&a->mu);
	return r;
}

void acme_free(struct acme *a)
{
	if (!a)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->mu);
		(void)eventfd_write(a->stop_fd, 1);
		pthread_join(a->thread, NULL);
	}
	if (a->stop_fd >= 0)
		close(a->stop_fd);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->mu);
	free(a->client);
	free(a->http);
	free(a->ca_file);
	free(a->runtime_dir);
	free(a);
}

static int dup_or(const char *s, const char *def, char **ret)
{
	if (!s && !def) {
		*ret = NULL;
		return 0;
	}
	*ret = strdup(s ? s : def);
	return *ret ? 0 : -ENOMEM;
}

int acme_new(struct vaultfsd *v, const struct acme_options *o, struct acme **ret)
{
	static const struct acme_options none = { 0 };
	struct acme *a;
	sigset_t all, old;
	int r;

	if (!o)
		o = &none;
	if (o->timeout < 0 || (o->http && !*o->http))
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->v = v;
	a->stop_fd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cond, NULL);
	a->timeout = o->timeout ? o->timeout : ACME_TIMEOUT_DEFAULT;
	if ((r = dup_or(o->client, ACME_CLIENT_DEFAULT, &a->client)) < 0 ||
	    (r = dup_or(o->http, ACME_HTTP_DEFAULT, &a->http)) < 0 ||
	    (r = dup_or(o->ca_file, NULL, &a->ca_file)) < 0)
		goto fail;
	if (o->runtime_dir) {
		a->runtime_dir = strdup(o->runtime_dir);
	} else if (v && v->config && v->config->control_socket &&
		   strrchr(v->config->control_socket, '/') > v->config->control_socket) {
		/* the control socket's directory: the daemon's own, on a tmpfs as installed */
		const char *s = v->config->control_socket;

		a->runtime_dir = strndup(s, (size_t)(strrchr(s, '/') - s));
	} else {
		a->runtime_dir = strdup(ACME_RUNTIME_DEFAULT);
	}
	if (!a->runtime_dir) {
		r = -ENOMEM;
		goto fail;
	}
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0) {
		r = negative_errno();
		goto fail;
	}
	scratch_remove_stale(a->runtime_dir);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&a->thread, NULL, acme_main, a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0)
		goto fail;
	a->started = true;
	*ret = a;
	return 0;
fail:
	acme_free(a);
	return r;
}
