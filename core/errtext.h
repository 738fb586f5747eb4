/* errtext.h: the one home of vaultfs's errno sentences: what an -errno means where it came
 * from, for a person (vaultctl's messages, the control socket's error replies, vaultfsd's log).
 * The same errno says different things by topic (EBADMSG: a row that fails its MAC, a sealed
 * key that does not open, a journal that does not verify), so a sentence is asked for with its
 * topic. An errno without a sentence of its own is strerror's. Never names a value. */
#pragma once

enum errtext_topic {
	ERRTEXT_OBJECT,	 /* kv.h and the management requests: vaults, secrets, the protocol */
	ERRTEXT_STORE,	 /* opening the store file (store_open) */
	ERRTEXT_SEAL,	 /* unsealing or sealing the master key (seal.h) */
	ERRTEXT_JOURNAL, /* opening or writing the audit journal (audit.h) */
};

/* A sentence for err (negative or positive errno) of topic; static text, never NULL. */
const char *errtext(enum errtext_topic topic, int err);
