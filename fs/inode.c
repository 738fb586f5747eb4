/* inode.c: inode numbers to and from what they name (see inode.h). Pure arithmetic. */
#include <errno.h>

#include "core/limits.h"
#include "fs/inode.h"

#define KIND_SHIFT 60
#define PAYLOAD_MASK ((UINT64_C(1) << KIND_SHIFT) - 1)
/* The certificates' kinds: top value INO_CERTVERDIR, then which one (2 bits), then the view */
#define CERT_TOP INO_CERTVERDIR
#define CERT_SUB_SHIFT 58
#define CERT_VIEW_SHIFT 55
#define CERT_ID_MASK ((UINT64_C(1) << CERT_VIEW_SHIFT) - 1)

_Static_assert(VAULTFS_VERSIONS_MAX < (1u << INO_CERT_VERSION_BITS), "versions fit");
_Static_assert(INO_CERT_OBJECT_BITS + INO_CERT_VERSION_BITS == CERT_VIEW_SHIFT, "bits add up");
_Static_assert(_INO_KIND_MAX - CERT_TOP <= 4 && INO_VIEW_MAX < 8, "certificate kinds fit");

/* The payload of a certificate's kind (below the top 4 bits). */
static int cert_payload(const struct ino *n, uint64_t *ret)
{
	uint64_t p = (uint64_t)(n->kind - CERT_TOP) << CERT_SUB_SHIFT;

	if (n->kind == INO_EVENTS) {
		if (n->view > INO_EVENTS_ALL)
			return -EINVAL;
		p |= (uint64_t)n->view << CERT_VIEW_SHIFT;
	} else if (n->kind != INO_CERTVERDIR) {
		if (n->view < 1 || n->view > INO_VIEW_MAX)
			return -EINVAL;
		p |= (uint64_t)n->view << CERT_VIEW_SHIFT;
	}
	if (n->kind == INO_CERTVERFILE) {
		if ((uint64_t)n->id >> INO_CERT_OBJECT_BITS || n->version == 0 ||
		    n->version >> INO_CERT_VERSION_BITS)
			return -EOVERFLOW;
		p |= (uint64_t)n->id << INO_CERT_VERSION_BITS | n->version;
	} else {
		if ((uint64_t)n->id > CERT_ID_MASK)
			return -EOVERFLOW;
		p |= (uint64_t)n->id;
	}
	*ret = p;
	return 0;
}

int ino_encode(const struct ino *n, uint64_t *ret)
{
	uint64_t payload;
	int r;

	if (n->kind < INO_ROOT || n->kind >= _INO_KIND_MAX)
		return -EINVAL;
	if (n->kind == INO_ROOT) {
		*ret = 1;
		return 0;
	}
	if (n->id <= 0)
		return -EINVAL;
	if (n->kind >= CERT_TOP) {
		r = cert_payload(n, &payload);
		if (r < 0)
			return r;
		*ret = (uint64_t)CERT_TOP << KIND_SHIFT | payload;
		return 0;
	}
	if (ino_has_version(n->kind)) {
		if ((uint64_t)n->id >> INO_OBJECT_BITS || n->version == 0 ||
		    n->version >> INO_VERSION_BITS)
			return -EOVERFLOW;
		payload = (uint64_t)n->id << INO_VERSION_BITS | n->version;
	} else {
		if ((uint64_t)n->id > PAYLOAD_MASK)
			return -EOVERFLOW;
		payload = (uint64_t)n->id;
	}
	*ret = (uint64_t)n->kind << KIND_SHIFT | payload;
	return 0;
}

static int cert_decode(uint64_t payload, struct ino *ret)
{
	struct ino n = { .kind = CERT_TOP + (int)(payload >> CERT_SUB_SHIFT) };
	uint64_t id = payload & CERT_ID_MASK;

	if (n.kind >= _INO_KIND_MAX)
		return -ENOENT;
	n.view = (unsigned)(payload >> CERT_VIEW_SHIFT) & 7u;
	if (n.kind == INO_EVENTS     ? n.view > INO_EVENTS_ALL :
	    n.kind == INO_CERTVERDIR ? n.view != 0 :
				       n.view < 1 || n.view > INO_VIEW_MAX)
		return -ENOENT;
	if (n.kind == INO_CERTVERFILE) {
		n.version = (uint32_t)(id & ((1u << INO_CERT_VERSION_BITS) - 1));
		id >>= INO_CERT_VERSION_BITS;
		if (n.version == 0)
			return -ENOENT;
	}
	n.id = (int64_t)id;
	if (n.id == 0)
		return -ENOENT;
	*ret = n;
	return 0;
}

int ino_decode(uint64_t ino, struct ino *ret)
{
	int kind = (int)(ino >> KIND_SHIFT);
	uint64_t payload = ino & PAYLOAD_MASK;
	struct ino n = { .kind = kind };

	if (kind == INO_ROOT) {
		if (ino != 1)
			return -ENOENT;
	} else if (kind == CERT_TOP) {
		return cert_decode(payload, ret);
	} else if (kind >= _INO_KIND_MAX) {
		return -ENOENT;
	} else if (ino_has_version(kind)) {
		n.id = (int64_t)(payload >> INO_VERSION_BITS);
		n.version = (uint32_t)(payload & ((1u << INO_VERSION_BITS) - 1));
		if (n.id == 0 || n.version == 0)
			return -ENOENT;
	} else {
		n.id = (int64_t)payload;
		if (n.id == 0)
			return -ENOENT;
	}
	*ret = n;
	return 0;
}

int ino_is_dir(int kind)
{
	return kind == INO_ROOT || kind == INO_VAULT || kind == INO_VERSIONS ||
	       kind == INO_METADIR || kind == INO_VERDIR || kind == INO_KEYS ||
	       kind == INO_KEYVERSIONS || kind == INO_KEYVERDIR || kind == INO_CERTVERDIR;
}

int ino_has_version(int kind)
{
	return kind == INO_VERSION || kind == INO_KEYVERPUB || kind == INO_KEYVERSSH ||
	       kind == INO_CERTVERFILE;
}

int ino_is_key_file(int kind)
{
	return kind == INO_KEYPUB || kind == INO_KEYSSH || kind == INO_KEYVERPUB ||
	       kind == INO_KEYVERSSH;
}

int ino_is_cert_file(int kind)
{
	return kind == INO_CERTFILE || kind == INO_CERTVERFILE;
}
