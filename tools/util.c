/* util.c: vaultctl's shared helpers: exit statuses and error lines (their sentences are
 * core/errtext's), opening the store, reading values (into secure buffers only), parsing
 * options, printing JSON. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "core/errtext.h"
#include "core/fleet-pg.h"
#include "core/io.h"
#include "core/log.h"
#include "core/seal.h"
#include "core/store.h"
#include "core/timeutil.h"
#include "tools/vaultctl.h"

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("vaultctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'vaultctl --help'.\n", stderr);
	return EXIT_USAGE;
}

/* Map an error to an exit status. */
int exit_status(int r)
{
	switch (-r) {
	case 0:
		return EXIT_OK;
	case EINVAL:
	case EMSGSIZE:
	case ENAMETOOLONG:
		return EXIT_USAGE;
	case EBADMSG:
	case ENODEV:
	case ENOKEY:
	case EPROTONOSUPPORT:
	case ENOMEDIUM:
		return EXIT_INTEGRITY;
	default:
		return EXIT_REFUSED;
	}
}

int fail(int r, const char *what)
{
	fprintf(stderr, "vaultctl: %s: %s\n", what, errtext(ERRTEXT_OBJECT, r));
	return exit_status(r);
}

int load_config(struct ctl *ctl)
{
	char err[512];
	int r;

	r = config_load(ctl->config_path, &ctl->config, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "vaultctl: config: %s\n", err);
		return EXIT_USAGE;
	}
	return 0;
}

const char *seal_why(int r)
{
	return errtext(ERRTEXT_SEAL, r);
}

/* Open the store and unseal its master key: the offline path (root, the store's owner). */
int open_kv(struct ctl *ctl, struct kv **ret)
{
	struct store *s = NULL;
	_cleanup_secbuf_ struct secbuf *m = NULL;
	_cleanup_(kv_freep) struct kv *kv = NULL;
	struct seal_epoch ev;
	int r, resealed = 0;

	r = store_open(ctl->config->store_path, 0, &s);
	if (r < 0) {
		log_error_errno(r, "cannot open store '%s': %s", ctl->config->store_path,
				errtext(ERRTEXT_STORE, r));
		return r == -ENOENT || r == -EACCES || r == -EPERM ? EXIT_REFUSED : EXIT_INTEGRITY;
	}
	r = seal_unseal_noda(s, ctl->config, &m, &resealed);
	if (r < 0) {
		char words[LOG_FOREIGN_SUFFIX_MAX];

		store_free(s);
		fprintf(stderr, "vaultctl: cannot unseal the master key: %s%s\n", seal_why(r),
			log_foreign_take(words));
		return EXIT_INTEGRITY;
	}
	if (resealed > 0)
		fprintf(stderr, "vaultctl: re-sealed the master key with noDA\n");
	r = kv_new(s, TAKE_PTR(m), &kv);
	if (r < 0)
		return fail(r, "store");
	r = kv_epoch_open(kv, ctl->config, &ev);
	if (r == -ENODEV) /* the master key came from the keyring cache: go on, said */
		fprintf(stderr, "vaultctl: warning: the TPM is not reachable: the store's rollback "
				"guard is not checked\n");
	else if (r < 0 && r != -EOPNOTSUPP) {
		fprintf(stderr,
			"vaultctl: the store is refused: %s\n"
			"vaultctl: evidence: the store is at epoch %" PRIu64 " (pending %" PRIu64
			"), its TPM counter (NV index 0x%08" PRIx32 ") at %" PRIu64 "\n",
			errtext(ERRTEXT_STORE, r), ev.store_epoch, ev.pending, ev.nv_index,
			ev.tpm_value);
		return r == -ESTALE || r == -EUCLEAN || r == -ENXIO || r == -EBADMSG ?
			       EXIT_INTEGRITY :
			       EXIT_REFUSED;
	}
	*ret = TAKE_PTR(kv);
	return 0;
}

void kv_freep(struct kv **kv)
{
	kv_free(*kv);
}

/* "vault/name" into its parts (pointers into buf). */
int split_ref(const char *ref, char *buf, size_t size, char **ret_vault, char **ret_name)
{
	char *slash;

	if (strlen(ref) >= size)
		return -EINVAL;
	strcpy(buf, ref);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	if (!kv_name_valid(buf) || !kv_name_valid(slash + 1))
		return -EINVAL;
	*ret_vault = buf;
	*ret_name = slash + 1;
	return 0;
}

/* A value buffer's first size; it doubles as bytes arrive, to VAULTFS_VALUE_MAX + 1 at most. */
#define VALUE_BUF_INITIAL 4096u

/* Read the whole value from fd into a secure buffer, refusing more than the cap. The buffer
 * starts at a page and grows by a copy into a larger secure buffer (the old one is wiped as it
 * is freed): a small value takes a page of locked memory, not the cap. */
int read_value(int fd, struct secbuf **ret)
{
	_cleanup_secbuf_ struct secbuf *b = NULL;
	int r;

	r = secbuf_new(VALUE_BUF_INITIAL, &b);
	if (r < 0)
		return r;
	for (;;) {
		size_t got = 0;
		struct secbuf *n;

		/* cap is at most one over the limit: a full buffer of that size is too much */
		r = io_read_all(fd, b->data + b->len, b->cap - b->len, &got);
		if (r == 0) {
			b->len += got;
			break;
		}
		if (r != -EFBIG)
			return r;
		b->len = b->cap;
		if (b->cap > VAULTFS_VALUE_MAX)
			return -EMSGSIZE;
		r = secbuf_new(MIN(2 * b->cap, (size_t)VAULTFS_VALUE_MAX + 1), &n);
		if (r < 0)
			return r;
		memcpy(n->data, b->data, b->len);
		n->len = b->len;
		secbuf_free(b);
		b = n;
	}
	*ret = TAKE_PTR(b);
	return 0;
}

int parse_time_arg(const char *opt, const char *s, bool allow_none, int64_t *ret)
{
	if (allow_none && (streq(s, "never") || streq(s, "none"))) {
		*ret = 0;
		return 0;
	}
	if (time_parse(s, (int64_t)time(NULL), ret) < 0)
		return usage_error("%s: not a time: '%.64s' (RFC 3339 or +30d)", opt, s);
	return 0;
}

int parse_u32(const char *opt, const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || s[0] == '\0' || s[0] == '-' || v == 0 || v > UINT32_MAX)
		return usage_error("%s: not a positive number: '%.32s'", opt, s);
	*ret = (uint32_t)v;
	return 0;
}

void print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						       JSON_C_TO_STRING_NOSLASHESCAPE));
}

int backup_read(const char *path, uint8_t **ret, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *b = NULL;
	size_t len;
	int r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "vaultctl: cannot read '%s': %m\n", path);
		return EXIT_REFUSED;
	}
	b = malloc(VAULTFS_BACKUP_MAX + 1);
	if (!b)
		return fail(-ENOMEM, "reading the backup");
	r = io_read_all(fd, b, VAULTFS_BACKUP_MAX + 1, &len);
	if (r == -EFBIG) {
		fprintf(stderr, "vaultctl: backup larger than %u bytes; nothing written\n",
			VAULTFS_BACKUP_MAX);
		return EXIT_USAGE;
	}
	if (r < 0)
		return fail(r, "reading the backup");
	*ret = TAKE_PTR(b);
	*ret_len = len;
	return 0;
}

int backup_write(const char *path, const struct secbuf *blob)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		fprintf(stderr, "vaultctl: cannot create '%s': %m%s\n", path,
			errno == EEXIST ? " (a backup never overwrites a file)" : "");
		return EXIT_REFUSED;
	}
	r = io_write_all(fd, blob->data, blob->len);
	if (r >= 0 && fsync(fd) < 0)
		r = negative_errno();
	if (r < 0) {
		(void)unlink(path);
		return fail(r, "writing the backup");
	}
	return EXIT_OK;
}

void say_done(const char *ref, const char *verb)
{
	static const struct {
		const char *verb, *done;
	} words[] = {
		{ "create", "created" }, { "delete", "deleted" }, { "recover", "recovered" },
		{ "purge", "purged" },	 { "update", "updated" }, { "restore", "restored" },
	};

	for (size_t i = 0; i < ELEMENTSOF(words); i++)
		if (streq(verb, words[i].verb)) {
			fprintf(stderr, "%s: %s\n", ref, words[i].done);
			return;
		}
	fprintf(stderr, "%s: done\n", ref);
}

int ctl_center_connect(const struct ctl *ctl, struct fleet_pg **ret)
{
	int r = fleet_pg_connect(ctl->config->fleet_conninfo, ret);

	if (r >= 0)
		fleet_pg_set_answer_ms(*ret, ctl->config->fleet_answer * 1000);
	return r;
}
