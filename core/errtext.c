/* errtext.c: the errno sentences of errtext.h, one table for every topic. Looks nothing up
 * but the table and strerror; must never format a value or a caller's string into a
 * sentence. */
#include <string.h>

#include "errtext.h"
#include "util.h"

static const struct {
	enum errtext_topic topic;
	int err;
	const char *text;
} sentences[] = {
	{ ERRTEXT_OBJECT, ENOENT, "not found" },
	{ ERRTEXT_OBJECT, EEXIST,
	  "already exists (a deleted secret keeps its name until it is purged)" },
	{ ERRTEXT_OBJECT, EKEYREVOKED, "disabled" },
	{ ERRTEXT_OBJECT, EKEYEXPIRED, "expired" },
	{ ERRTEXT_OBJECT, EKEYREJECTED, "not yet valid" },
	{ ERRTEXT_OBJECT, EBADMSG,
	  "integrity check failed: the store was changed outside vaultfs" },
	{ ERRTEXT_OBJECT, ENOTEMPTY, "vault is not empty" },
	{ ERRTEXT_OBJECT, EPERM,
	  "refused: purge protection is on and the retention period has not passed" },
	{ ERRTEXT_OBJECT, EMSGSIZE, "value too large" },
	{ ERRTEXT_OBJECT, EINVAL, "invalid name or attribute" },
	{ ERRTEXT_OBJECT, ENOSPC, "no space (disk full or too many versions)" },
	{ ERRTEXT_OBJECT, EBUSY, "store is busy (locked by another writer)" },
	{ ERRTEXT_OBJECT, EACCES, "permission denied by the policy" },
	{ ERRTEXT_OBJECT, EMEDIUMTYPE, "the backup holds another kind of object than asked for" },
	{ ERRTEXT_OBJECT, EHOSTDOWN,
	  "refused: the fleet's center (PostgreSQL) is away; nothing changed (reads and local "
	  "vaults keep working; fleet changes wait for it)" },
	{ ERRTEXT_OBJECT, ENOKEY,
	  "refused: a host was removed from this fleet vault and it is not rekeyed yet; nothing "
	  "changed: run 'vaultctl fleet rekey VAULT' on a host that holds it" },
	{ ERRTEXT_OBJECT, ETIMEDOUT,
	  "the fleet's center (PostgreSQL) did not answer in time; the change may have been taken "
	  "(if so, it arrives here)" },
	{ ERRTEXT_OBJECT, EIDRM,
	  "the store file was removed or replaced since the daemon opened it: restart vaultfsd" },

	{ ERRTEXT_STORE, EBADMSG, "not a vaultfs store, or corrupt" },
	{ ERRTEXT_STORE, EPERM, "the file must be ours alone (owner, mode 0600)" },
	{ ERRTEXT_STORE, EPROTONOSUPPORT, "made by a newer vaultfs" },
	{ ERRTEXT_STORE, ESTALE,
	  "the store is older than its TPM counter: an older copy was written back (rollback); "
	  "to accept it on purpose: 'vaultctl recover --accept-rollback --recovery-key-file F'" },
	{ ERRTEXT_STORE, EUCLEAN,
	  "the store's rows do not add up to what it last committed: a row was written back, "
	  "removed or lost (a damaged WAL); to accept it on purpose: 'vaultctl recover "
	  "--accept-rollback --recovery-key-file F'" },
	{ ERRTEXT_STORE, ENXIO,
	  "the store's TPM counter is missing: another TPM, or its NV index was removed; to bind "
	  "it to this TPM on purpose: 'vaultctl recover --accept-rollback --recovery-key-file F'" },

	{ ERRTEXT_SEAL, ENODEV, "TPM not reachable" },
	{ ERRTEXT_SEAL, EBADMSG,
	  "sealed key does not open (another TPM, wrong host key, or changed data)" },
	{ ERRTEXT_SEAL, EPERM,
	  "refused (TPM PCR policy not satisfied, or host key file not root-only)" },
	{ ERRTEXT_SEAL, ENOKEY, "host key file missing" },
	{ ERRTEXT_SEAL, ENOMEDIUM, "store not initialised (run 'vaultctl init')" },
	{ ERRTEXT_SEAL, EBUSY, "TPM busy (other clients hold it); try again" },
	{ ERRTEXT_SEAL, ENOLCK, /* TPM_ELOCKOUT */
	  "the TPM is in dictionary-attack lockout (a store sealed before noDA): clear it with "
	  "'tpm2_dictionarylockout --clear-lockout' (or wait)" },

	{ ERRTEXT_JOURNAL, ESTALE,
	  "the journal was removed, replaced or shortened (or its anchor in the store is older "
	  "than the store's epoch: an old anchor written back)" },
	{ ERRTEXT_JOURNAL, EBADMSG,
	  "the journal does not verify or does not match the head anchored in the store (run "
	  "'vaultctl --offline audit verify')" },
	{ ERRTEXT_JOURNAL, ENOSPC, "no space left for the journal" },
	{ ERRTEXT_JOURNAL, EDQUOT, "no space left for the journal" },
	{ ERRTEXT_JOURNAL, ETIMEDOUT, "the journal writer is stuck" },
	{ ERRTEXT_JOURNAL, ELOOP, "the journal path is a symbolic link" },
};

const char *errtext(enum errtext_topic topic, int err)
{
	int e = err < 0 ? -err : err;

	for (size_t i = 0; i < ELEMENTSOF(sentences); i++)
		if (sentences[i].topic == topic && sentences[i].err == e)
			return sentences[i].text;
	return strerror(e);
}
