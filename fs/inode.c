/* inode.c: inode numbers to and from what they name (see inode.h). Pure arithmetic. */
#include <errno.h>

#include "fs/inode.h"

#define KIND_SHIFT 60
#define PAYLOAD_MASK ((UINT64_C(1) << KIND_SHIFT) - 1)

int ino_encode(const struct ino *n, uint64_t *ret)
{
	uint64_t payload;

	if (n->kind < INO_ROOT || n->kind >= _INO_KIND_MAX)
		return -EINVAL;
	if (n->kind == INO_ROOT) {
		*ret = 1;
		return 0;
	}
	if (n->id <= 0)
		return -EINVAL;
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

int ino_decode(uint64_t ino, struct ino *ret)
{
	int kind = (int)(ino >> KIND_SHIFT);
	uint64_t payload = ino & PAYLOAD_MASK;
	struct ino n = { .kind = kind };

	if (kind == INO_ROOT) {
		if (ino != 1)
			return -ENOENT;
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
	       kind == INO_KEYVERSIONS || kind == INO_KEYVERDIR;
}

int ino_has_version(int kind)
{
	return kind == INO_VERSION || kind == INO_KEYVERPUB || kind == INO_KEYVERSSH;
}

int ino_is_key_file(int kind)
{
	return kind == INO_KEYPUB || kind == INO_KEYSSH || kind == INO_KEYVERPUB ||
	       kind == INO_KEYVERSSH;
}
