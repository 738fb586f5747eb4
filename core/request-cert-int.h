/* request-cert-int.h: what the two files of the certificate requests share: request-cert.c
 * (the verbs: decide, record, run, reply) and request-cert-members.c (the members of a request
 * checked, and a policy as JSON). Never included outside core/request-cert*.c. */
#pragma once

#include "request-int.h"

/* What one certificate verb is: its op and members, the policy ops it needs, what it does. */
struct cert_verb {
	struct request_op op;
	unsigned policy; /* POLICY_OP_*, all needed */
	enum verb_kind kind;
	int (*fn)(struct request_ctx *q);
};

/* The certificate members of a request, checked before anything is decided. */
struct request_cert {
	const struct cert_verb *verb;
	struct kv_cert_policy pol; /* create, update-policy */
	struct x509_san sans[X509_SANS_MAX];
	char issuer_name[2 * VAULTFS_NAME_MAX + 2];
	char subject[72];	/* create without one: "CN=" the first dns or ip SAN */
	enum kv_cert_view view; /* export */
	bool p12;		/* import */
	struct secbuf *password;
	struct kv_cert_info base; /* update-policy: the policy it changes (its strings) */
	bool missing;		  /* update-policy: no such certificate (said once decided) */
	const uint8_t *in;	  /* into q->value, after the password */
	size_t n;
	char event[32];
};

const char *cert_op_name(const struct request_ctx *q);
/* "self", "vault-ca", "external", "imported", "acme". */
const char *cert_issuer_word(enum kv_cert_issuer i);
/* The policy as JSON, as get-policy and show give it and create takes it. */
struct json_object *cert_policy_json(const struct kv_cert_policy *p);
/* The members of a create (create: from the defaults) or update-policy into p: -EINVAL with
 * q->msg for a bad one. */
int cert_get_policy(struct request_ctx *q, struct kv_cert_policy *p, bool create);
/* The value bytes of import: [password][input]. */
int cert_get_import(struct request_ctx *q);
/* export's view, and the policy op it needs. */
int cert_get_view(struct request_ctx *q, unsigned *ret_policy);
/* A new certificate's policy before its members: EC P-256, a year, TLS usages, self, 80 %. */
extern const struct kv_cert_policy cert_policy_defaults;
