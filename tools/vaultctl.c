/* vaultctl: administer a vaultfs store. main() parses the global options and hands the rest to
 * the command of each noun (cmd-*.c). Exit status: 0 ok, 1 refused or not found, 2 usage or
 * bad input, 3 integrity or seal failure. Never prints or logs a secret value except the raw
 * bytes `secret get` was asked for, and the recovery key at init. */
#include <getopt.h>
#include <stdio.h>

#include "core/harden.h"
#include "core/log.h"
#include "tools/vaultctl.h"

static void freep_config(struct config **c)
{
	config_free(*c);
}

static const struct {
	const char *name;
	int (*run)(struct ctl *ctl, int argc, char **argv);
} nouns[] = {
	{ "init", cmd_init },	  { "recover", cmd_recover }, { "vault", cmd_vault },
	{ "secret", cmd_secret }, { "audit", cmd_audit },     { "policy", cmd_policy },
	{ "status", cmd_status }, { "doctor", cmd_doctor },   { "keyring", cmd_keyring },
	{ "key", cmd_key },	  { "cert", cmd_cert },	      { "fleet", cmd_fleet },
	{ "watch", cmd_watch },
};

static void help(void)
{
	fputs("Usage: vaultctl [-c CONF] [--offline] COMMAND ...\n"
	      "\n"
	      "Requests go to vaultfsd over its control socket and its policy decides them;\n"
	      "--offline runs them here on the store (root), recorded as vaultctl --offline.\n"
	      "\n"
	      "  init [--sealer tpm2|host|tpm2+host] [--tpm-pcrs 7] [--recovery-key-file F]\n"
	      "  recover --recovery-key-file F\n"
	      "  vault create NAME [--retention-days 7..90] [--max-versions N]\n"
	      "  vault update NAME [--purge-protection on] (never off again)\n"
	      "                    [--max-versions N|none] (secrets keep their N newest)\n"
	      "  vault delete NAME\n"
	      "  vault list [--json]\n"
	      "  secret set VAULT/NAME [--file F] [--content-type T] [--tag K=V]...\n"
	      "             [--not-before T] [--expires T] [--disabled]   (value from stdin or F)\n"
	      "  secret get VAULT/NAME [--version N]\n"
	      "  secret list VAULT [--deleted] [--expiring 30d] [--json]\n"
	      "  secret versions VAULT/NAME [--json]\n"
	      "  secret update VAULT/NAME [--version N] [--enabled yes|no] [--expires T|never]\n"
	      "             [--not-before T|none] [--tag K=V]...   (any --tag replaces all tags)\n"
	      "  secret delete|recover|purge VAULT/NAME\n"
	      "  secret backup VAULT/NAME --file F   (all versions, for this store only)\n"
	      "  secret restore VAULT --file F\n"
	      "  secret rollback VAULT/NAME --to N   (a new version of N's bytes, in the daemon)\n"
	      "  key create VAULT/NAME --type rsa-2048|rsa-3072|rsa-4096|ec-p256|ec-p384|ec-p521|\n"
	      "             ed25519|aes-256 [--protection software|tpm] [--ops sign,verify,...]\n"
	      "             [--exportable] [--not-before T] [--expires T] [--disabled]\n"
	      "             [--tag K=V]...\n"
	      "  key import VAULT/NAME [--file F] [--ops ...] [--exportable] [...]\n"
	      "             (a PEM, OpenSSH or JWK private key from stdin or F)\n"
	      "  key list VAULT [--deleted] [--json]\n"
	      "  key show VAULT/NAME [--version N] [--json]\n"
	      "  key versions VAULT/NAME [--json]\n"
	      "  key rotate VAULT/NAME [--not-before T] [--expires T] [--disabled] [--tag K=V]...\n"
	      "  key rotation VAULT/NAME [--rotate-after D] [--notify-before D] [--expires-after D]\n"
	      "                       [--clear] [--json]   (D: 90d, 12h, 2w; none: show it)\n"
	      "  key update VAULT/NAME [--version N] [--enabled yes|no] [--expires T|never] ...\n"
	      "  key delete|recover|purge VAULT/NAME\n"
	      "  key backup VAULT/NAME --file F      key restore VAULT --file F\n"
	      "  key get-public VAULT/NAME [--version N] [--format pem|der|ssh]\n"
	      "  key sign VAULT/NAME --alg A [--data] [--version N] [--file F] [--der] [--json]\n"
	      "  key verify VAULT/NAME --alg A --signature F [--der] [--data] [--version N]\n"
	      "             [--file F]   (exit 0 verified, 1 not)\n"
	      "  key encrypt|wrap VAULT/NAME --alg A [--aad F] [--file F] [--json]\n"
	      "             (the version that made it on stderr, or in --json)\n"
	      "  key decrypt|unwrap VAULT/NAME --alg A [--version N] [--aad F] [--file F]\n"
	      "             [--json]\n"
	      "             (input from stdin or F, output raw on stdout)\n"
	      "  cert create VAULT/NAME --subject S [--san dns:H|ip:A|email:E|uri:U]...\n"
	      "             [--type ec-p256|rsa-2048|...] [--protection software|tpm]\n"
	      "             [--exportable] [--reuse-key] [--validity 90d] [--key-usage L]\n"
	      "             [--eku serverAuth,...] [--issuer self|VAULT/CA|external|acme]\n"
	      "             [--acme-directory URL] [--acme-contact EMAIL] [--ca [--path-len N]]\n"
	      "             [--renew-before D | --renew-percent P | --no-renew]\n"
	      "             [--notify-before D]   (D: 90d, 12h, 30m, 10y or seconds)\n"
	      "  cert ca create-root VAULT/NAME --subject S [--type T] [--protection P]\n"
	      "             [--validity 10y] [--path-len N]\n"
	      "  cert ca create-intermediate VAULT/NAME --issuer VAULT/ROOT --subject S [...]\n"
	      "  cert import VAULT/NAME [--file F] [--format pem|p12] [--password-file F]\n"
	      "             [--exportable]   (a PEM of key + chain, or a PKCS#12)\n"
	      "  cert list VAULT [--deleted] [--json]\n"
	      "  cert show VAULT/NAME [--version N] [--json]   (with the renewal state)\n"
	      "  cert versions VAULT/NAME [--json]\n"
	      "  cert renew VAULT/NAME\n"
	      "  cert csr VAULT/NAME [--file F]      cert merge VAULT/NAME [--file F]\n"
	      "  cert update VAULT/NAME [--version N] [--enabled yes|no] [--tag K=V]...\n"
	      "  cert update-policy VAULT/NAME [create's options]   (for the next version)\n"
	      "  cert get-policy VAULT/NAME [--json]\n"
	      "  cert delete|recover|purge VAULT/NAME\n"
	      "  cert backup VAULT/NAME --file F     cert restore VAULT --file F\n"
	      "  cert export VAULT/NAME [--view crt|chain|key|pem|p12] [--version N]\n"
	      "             [--file F] [--json]   (F: a new file, mode 0600)\n"
	      "  keyring load VAULT/NAME --description D [--type logon|user] [--keyring @u|@us|@s|ID]\n"
	      "             [--timeout 12h] [--format raw|fscrypt] [--version N]\n"
	      "             (the value as a kernel key: logon by default, into @u by default)\n"
	      "  fleet join [--anchor SHA256:...]\n"
	      "  fleet approve HOST [--vault V]... [--fingerprint SHA256:... | --trust-center]\n"
	      "  fleet remove HOST\n"
	      "  fleet rekey VAULT   (also: vault rekey VAULT)\n"
	      "  fleet status [--json]\n"
	      "  policy check [FILE...]\n"
	      "  policy reload   (the daemon loads its policy directory again)\n"
	      "  policy explain OP /VAULT[/OBJECT] [--uid U] [--gid G] [--groups A,B]\n"
	      "             [--cgroup PATH | --unit NAME] [--exe PATH] [--pid PID] [--json]\n"
	      "             (exit 0 allow, 1 deny; 'vaultctl policy help' says more)\n"
	      "  audit verify [FILE...]\n"
	      "  audit show [--since T] [--until T] [--uid U] [--vault V] [--decision allow|deny]\n"
	      "             [--event E] [--json] [--follow | --fleet [--host H]]\n"
	      "  watch [VAULT[/NAME]]... [--json] [--exec CMD [ARGS...]]\n"
	      "             (each change the policy lets you see; --exec: CMD once per change,\n"
	      "             bursts coalesced, the event in VAULTFS_EVENT, _VAULT, _NAME)\n"
	      "  status            daemon, mount, store, sealer, TPM, journal head, policy\n"
	      "  doctor            checks with advice (as root: unseals, verifies the journal)\n"
	      "\n"
	      "Times are RFC 3339 (2027-01-01T00:00:00Z) or relative (+30d, +12h, -1d).\n"
	      "Default config: " CONFIG_DEFAULT_PATH "\n"
	      "Exit status: 0 ok, 1 refused or not found, 2 usage or bad input,\n"
	      "             3 integrity or seal failure.\n",
	      stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, NULL, 'c' },
					      { "offline", no_argument, NULL, 'o' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	_cleanup_(freep_config) struct config *config = NULL;
	struct ctl ctl = { .config_path = CONFIG_DEFAULT_PATH };
	const char *cmd;
	int c, r;

	log_set_ident("vaultctl");
	/* we may hold the master key: no core dumps, no ptrace by others of our uid (a failure
	 * is not worth refusing a status query over) */
	(void)harden_process(0, NULL);

	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) >= 0) {
		switch (c) {
		case 'c':
			ctl.config_path = optarg;
			break;
		case 'o':
			ctl.offline = true;
			break;
		case 'h':
			help();
			return EXIT_OK;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	cmd = argv[optind];
	r = load_config(&ctl);
	if (r)
		return r;
	config = ctl.config;
	argc -= optind;
	argv += optind;
	optind = 0; /* 0: glibc re-initialises its scanning state for the new argv */
	for (size_t i = 0; i < ELEMENTSOF(nouns); i++)
		if (streq(cmd, nouns[i].name))
			return nouns[i].run(&ctl, argc, argv);
	return usage_error("unknown command '%.32s'", cmd);
}
