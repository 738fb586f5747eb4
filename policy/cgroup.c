/* cgroup.c: derive unit, slice, user-unit flag, container and pod from a cgroup v2 path. Pure
 * string work: it never reads the filesystem, never allocates, and it never trusts a name made
 * inside a delegated subtree (user@UID.service/..., a container's or a unit's own tree) as
 * anything but that subtree's claim (cgroup.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/limits.h"
#include "policy/cgroup.h"

#define UNIT_NAME_MAX 255u
#define ID_LEN 64u
#define UUID_LEN 36u

static bool has_suffix(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n > k && memcmp(s + n - k, suffix, k) == 0;
}

static bool has_prefix(const char *s, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && memcmp(s, prefix, k) == 0;
}

static bool unit_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr(":_.\\@-", c)))
			return false;
	}
	return n > 0 && n <= UNIT_NAME_MAX;
}

static bool is_slice(const char *s, size_t n)
{
	return has_suffix(s, n, ".slice") && unit_chars(s, n);
}

/* Unit types that own a cgroup (slices apart). */
static bool is_unit(const char *s, size_t n)
{
	static const char *const suffixes[] = { ".service", ".scope", ".socket", ".mount",
						".swap" };

	if (!unit_chars(s, n))
		return false;
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++)
		if (has_suffix(s, n, suffixes[i]))
			return true;
	return false;
}

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* "user@UID.service": 1 and the UID, else 0. */
static int user_manager(const char *s, size_t n, uint32_t *ret_uid)
{
	uint64_t uid = 0;
	size_t i;

	if (!has_prefix(s, n, "user@") || !has_suffix(s, n, ".service"))
		return 0;
	n -= strlen(".service");
	if (n == 5 || n > 5 + 10)
		return 0;
	for (i = 5; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		uid = uid * 10 + (uint64_t)(s[i] - '0');
	}
	if (uid >= UINT32_MAX)
		return 0;
	*ret_uid = (uint32_t)uid;
	return 1;
}

/* [docker-|libpod-|cri-containerd-|crio-]<64 hex>[.scope]: the id, else NULL. */
static const char *container_id(const char *s, size_t n)
{
	static const char *const prefixes[] = { "docker-", "libpod-", "cri-containerd-", "crio-" };

	if (has_suffix(s, n, ".scope"))
		n -= strlen(".scope");
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (has_prefix(s, n, prefixes[i])) {
			s += strlen(prefixes[i]);
			n -= strlen(prefixes[i]);
			break;
		}
	return n == ID_LEN && all_hex(s, n) ? s : NULL;
}

/* 8-4-4-4-12 hex digits, the dashes written as sep. */
static bool is_uuid(const char *s, size_t n, char sep)
{
	if (n != UUID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != sep : !all_hex(s + i, 1))
			return false;
	}
	return true;
}

/* A pod segment: Podman "*libpod_pod_<64 hex>.slice", or "<64 hex>" right below
 * "libpod_parent" (cgroupfs manager: its containers are "libpod-<id>" below it); Kubernetes,
 * systemd driver, "[kubelet-]kubepods[-QOS]-pod<uuid with _>.slice"; Kubernetes, cgroupfs
 * driver, "pod<uuid>". parent is the segment above ("" at the root). Writes the id (with '-')
 * to buf and returns true. */
static bool pod_id(const char *s, size_t n, const char *parent, size_t pn, char buf[ID_LEN + 1])
{
	if (pn == 13 && memcmp(parent, "libpod_parent", 13) == 0 && n == ID_LEN && all_hex(s, n)) {
		memcpy(buf, s, ID_LEN);
		buf[ID_LEN] = '\0';
		return true;
	}
	if (has_suffix(s, n, ".slice")) {
		size_t k = n - strlen(".slice");

		if (k >= ID_LEN + 11 && memcmp(s + k - ID_LEN - 11, "libpod_pod_", 11) == 0 &&
		    all_hex(s + k - ID_LEN, ID_LEN)) {
			memcpy(buf, s + k - ID_LEN, ID_LEN);
			buf[ID_LEN] = '\0';
			return true;
		}
		if (memmem(s, k, "kubepods", 8) && k >= UUID_LEN + 4 &&
		    memcmp(s + k - UUID_LEN - 4, "-pod", 4) == 0 &&
		    is_uuid(s + k - UUID_LEN, UUID_LEN, '_')) {
			for (size_t i = 0; i < UUID_LEN; i++)
				buf[i] = s[k - UUID_LEN + i] == '_' ? '-' : s[k - UUID_LEN + i];
			buf[UUID_LEN] = '\0';
			return true;
		}
		return false;
	}
	if (has_prefix(s, n, "pod") && is_uuid(s + 3, n - 3, '-')) {
		memcpy(buf, s + 3, UUID_LEN);
		buf[UUID_LEN] = '\0';
		return true;
	}
	return false;
}

/* LXC's cgroups: "lxc.payload.NAME" (LXC 4 and later) anywhere, "lxc" (older) at the root.
 * Below them is the container's own tree. */
static bool is_lxc(const char *s, size_t n, bool root)
{
	return has_prefix(s, n, "lxc.payload") || (root && n == 3 && memcmp(s, "lxc", 3) == 0);
}

enum phase {
	PHASE_SLICES,	   /* leading slices */
	PHASE_USER_SLICES, /* below user@UID.service, before the user unit */
	PHASE_INSIDE,	   /* below the unit (or in a tree no unit owns) */
};

/* id (of n bytes) with the delegation prefix, or "?(...)" around both when unknown. */
static void put_id(char buf[CGROUP_ID_MAX], const char *prefix, const char *id, size_t n,
		   bool unknown)
{
	snprintf(buf, CGROUP_ID_MAX, "%s%s%.*s%s", unknown ? "?(" : "", prefix, (int)n, id,
		 unknown ? ")" : "");
}

int cgroup_parse(const char *path, struct cgroup_info *ret)
{
	struct cgroup_info ci = { .slice = "-.slice" };
	enum phase phase = PHASE_SLICES;
	char prefix[26] = ""; /* "user@UID.service/" once delegated */
	const char *parent = "";
	size_t len, pn = 0;
	bool owned = false; /* below a container, a unit or an LXC payload: its workload's tree */
	const char *s;

	if (!path || path[0] != '/')
		return -EINVAL;
	len = strlen(path);
	if (len >= VAULTFS_PATH_MAX)
		return -ENAMETOOLONG;

	for (s = path + 1; *s;) {
		size_t n = (size_t)(strchrnul(s, '/') - s);
		const char *name = s;
		size_t nn = n;
		char pod[ID_LEN + 1];
		bool boundary = false; /* what is below this segment is its workload's */
		const char *id;

		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return -EINVAL;
		if (name[0] == '_') { /* systemd escapes names that could clash this way */
			name++;
			nn--;
		}
		switch (phase) {
		case PHASE_SLICES:
			if (is_slice(name, nn)) {
				snprintf(ci.slice, sizeof(ci.slice), "%.*s", (int)nn, name);
				break;
			}
			phase = PHASE_INSIDE;
			if (!is_unit(name, nn))
				break;
			snprintf(ci.unit, sizeof(ci.unit), "%.*s", (int)nn, name);
			if (user_manager(name, nn, &ci.user_uid)) {
				/* its user's names are named so; the user unit is the boundary */
				ci.delegated = true;
				snprintf(prefix, sizeof(prefix), "%.*s/", (int)nn, name);
				phase = PHASE_USER_SLICES;
				parent = s;
				pn = n;
				s += n + (s[n] == '/');
				continue; /* the manager itself is no container or pod */
			}
			boundary = true;
			break;
		case PHASE_USER_SLICES:
			if (is_slice(name, nn))
				break;
			phase = PHASE_INSIDE;
			if (is_unit(name, nn)) {
				snprintf(ci.unit, sizeof(ci.unit), "%s%.*s", prefix, (int)nn, name);
				ci.user_unit = true;
				boundary = true;
			}
			break;
		case PHASE_INSIDE:
			break;
		}
		if (is_lxc(name, nn, parent[0] == '\0'))
			boundary = true;
		if (pod_id(s, n, parent, pn, pod)) {
			bool unknown = owned || ci.pod[0] || ci.container[0];

			put_id(ci.pod, prefix, pod, strlen(pod), unknown);
			ci.pod_unknown |= unknown;
		} else if ((id = container_id(s, n))) {
			/* the first one, not below a boundary, is the runtime's */
			bool unknown = owned || ci.container[0];

			put_id(ci.container, prefix, id, ID_LEN, unknown); /* a claim: the last */
			ci.container_unknown |= unknown;
			boundary = true;
		}
		owned |= boundary;
		parent = s;
		pn = n;
		s += n + (s[n] == '/');
	}
	*ret = ci;
	return 0;
}
