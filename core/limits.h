/* limits.h: every size a caller controls has its cap here, in one place. */
#pragma once

/* A secret value (bytes). Azure Key Vault allows 25 KiB; we allow a little more for PEM bundles. */
#define VAULTFS_VALUE_MAX (64u * 1024u)
/* Vault and object names: [A-Za-z0-9][A-Za-z0-9._-]{0,126}. */
#define VAULTFS_NAME_MAX 127u
/* Content type, e.g. "application/x-pem-file". */
#define VAULTFS_CONTENT_TYPE_MAX 255u
/* Tags per version, and the length of a tag's key and value. */
#define VAULTFS_TAGS_MAX 15u
#define VAULTFS_TAG_KEY_MAX 64u
#define VAULTFS_TAG_VALUE_MAX 256u
/* Canonical tag text of one version: "key=value\n" lines. */
#define VAULTFS_TAGS_LEN_MAX                                                                       \
	(VAULTFS_TAGS_MAX * (VAULTFS_TAG_KEY_MAX + VAULTFS_TAG_VALUE_MAX + 2u))
/* Versions of one secret. */
#define VAULTFS_VERSIONS_MAX 100000u
/* Config file: whole file and one line. */
#define VAULTFS_CONFIG_MAX (64u * 1024u)
#define VAULTFS_CONFIG_LINE_MAX 4096u
/* Any path we accept from config or argv. */
#define VAULTFS_PATH_MAX 4096u
/* Sealed blobs kept in the store (TPM public+private area, wrapped keys). */
#define VAULTFS_SEALED_MAX 4096u
/* Soft-delete retention, days. */
#define VAULTFS_RETENTION_MIN 7u
#define VAULTFS_RETENTION_MAX 90u
#define VAULTFS_RETENTION_DEFAULT 90u
