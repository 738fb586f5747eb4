/* kv-kind.c: the table of the object kinds kv knows, and the checks of their material. Each
 * entry says only what is particular to its kind; it never touches the store or a key. */
#include "kv-kind.h"

#include "kv.h"
#include "limits.h"

static const struct kv_kind kinds[] = {
	/* a secret's value: any bytes */
	{ .type = OBJECT_SECRET, .name = "secret", .material_max = VAULTFS_VALUE_MAX },
	/* a key's material: its key record (kv-key.c), never served: kv-key.c uses it */
	{ .type = OBJECT_KEY,
	  .name = "key",
	  .material_max = VAULTFS_VALUE_MAX,
	  .check_material = kv_key_check_material },
	/* a certificate's material: its certificate record (kv-cert.c), with its key */
	{ .type = OBJECT_CERT,
	  .name = "certificate",
	  .material_max = VAULTFS_VALUE_MAX,
	  .check_material = kv_cert_check_material },
};

const struct kv_kind *kv_kind_get(int type)
{
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((int)kinds[i].type == type)
			return &kinds[i];
	return NULL;
}
