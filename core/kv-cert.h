/* kv-cert.h: what kv-cert.c adds to kv.h's certificate interface for the file system, which
 * asks at every lookup, stat and open: a version's head without parsing its leaf, the size of
 * a view without the view. Its own header only until kv.h (not this change's to edit) takes
 * the declarations. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "kv.h"

/* The exact length kv_cert_view would give now (without a PKCS#12's NUL, as its len), with
 * kv_cert_view's checks and errors, computed without making the view but for .p12 (made with
 * few PBKDF2 iterations, measured and wiped: x509_export_p12_size). */
int kv_cert_view_size(struct kv *kv, const char *vault, const char *name, uint32_t version,
		      enum kv_cert_view view, size_t *ret);

/* kv_cert_get without what needs the certificate parsed or the policy read: info, version,
 * pending, source, key_type, protection, exportable, spki and (issued) chain are set; policy,
 * csr, serial, subject, issuer and the dates are left empty. kv_cert_info_done frees it. */
int kv_cert_head(struct kv *kv, const char *vault, const char *name, uint32_t version,
		 struct kv_cert_info *ret);
