/* test-ssh-wire.c: OpenSSH's wire forms (core/ssh-wire.h): bounded reads and writes with exact
 * -errnos, key blobs and authorized_keys lines checked against what ssh-keygen printed for the
 * same keys, SPKI round trips for every type, ECDSA mpints (a high bit, a short r), the agent's
 * flags, and verification of real ssh-keygen -Y signatures. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/ssh-wire.h"
#include "core/util.h"
#include "tests/unit/sshtest.h"
#include "tests/unit/testlib.h"

/* base64 text -> bytes (a test's vectors), NUL-free input without newlines */
static size_t unb64(const char *s, uint8_t *out)
{
	size_t n = strlen(s);
	int len = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);

	assert_true(len >= 0);
	while (n > 0 && s[n - 1] == '=') {
		n--;
		len--;
	}
	return (size_t)len;
}

/* Vectors: RFC 8032's first public key; a P-256 and an RSA-1024 key made by ssh-keygen 9.2, with
 * what it printed: the .pub line, `ssh-keygen -e -m PKCS8` (SPKI), `ssh-keygen -l`. */
static const char ed_spki_hex[] = "302a300506032b6570032100d75a980182b10ab7d54bfed3c964073a0ee172"
				  "f3daa62325af021a68f707511a";
static const char ed_line[] =
	"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea rfc8032";
static const char ed_fp[] = "SHA256:bbXpuKG6zhzdmnxq256TlqzFBzRl2f6OOg722cYNbU8";

static const char p256_line[] =
	"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPUtz0PkUz+v6/0OkQpr"
	"vlFY51jXEgQbRyKXOlKqukuO2opSL8u4btvcODYLt+ImtuoS/pJ+oEfB9vMgHUK2UJE= p256";
static const char p256_spki[] = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE9S3PQ+RTP6/r/Q6RCmu+UVjnWNcSB"
				"BtHIpc6Uqq6S47ailIvy7hu29w4Ngu34ia26hL+kn6gR8H28yAdQrZQkQ==";
static const char p256_fp[] = "SHA256:oDWZEzWslYVrHa7jOUYDI7iBZkszWhxFXUFf/r3cMwM";

static const char rsa_line[] =
	"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC+dsOEMAtkl5yNKxuTsNpEtjQZsCmng4uwV9fOo5rslJJqAEO/SrBe"
	"KfOrIBLNpK8qHoTDkURuS0FH1QN1JnuH/PdW4hjtwOKw8xoav/WbvQDFp6zJJuEFcCuCzk2RBbILLaBOjeRfKTkrAbjr"
	"EE15c6vJPrb9Aq1UUf7GlLhFHw== r1024";
static const char rsa_spki[] =
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC+dsOEMAtkl5yNKxuTsNpEtjQZsCmng4uwV9fOo5rslJJqAEO/SrBe"
	"KfOrIBLNpK8qHoTDkURuS0FH1QN1JnuH/PdW4hjtwOKw8xoav/WbvQDFp6zJJuEFcCuCzk2RBbILLaBOjeRfKTkrAbjr"
	"EE15c6vJPrb9Aq1UUf7GlLhFHwIDAQAB";
static const char rsa_fp[] = "SHA256:0gjNDRBLYavWATpp91QosSr/+GOV0K3nrvjDHtK9Vxk";

/* `printf 'hello\n' | ssh-keygen -Y sign -f KEY -n file -` with the two keys above: SSHSIG
 * blobs (r and s of the ECDSA one both have the high bit set) */
static const char p256_sshsig[] =
	"U1NIU0lHAAAAAQAAAGgAAAATZWNkc2Etc2hhMi1uaXN0cDI1NgAAAAhuaXN0cDI1NgAAAEEE9S3PQ+RTP6/r/Q6RCmu"
	"+UVjnWNcSBBtHIpc6Uqq6S47ailIvy7hu29w4Ngu34ia26hL+kn6gR8H28yAdQrZQkQAAAARmaWxlAAAAAAAAAAZzaGE"
	"1MTIAAABlAAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAABKAAAAIQCUCX/0Y9xecws9VIwcb4d3PHrmBxPa84ByC5fGrM"
	"iVyAAAACEA8f906GJdv8r9sF7pXeWysaBZ7Y6vjUr2oDaF8I1p33s=";
static const char rsa_sshsig[] =
	"U1NIU0lHAAAAAQAAAJcAAAAHc3NoLXJzYQAAAAMBAAEAAACBAL52w4QwC2SXnI0rG5Ow2kS2NBmwKaeDi7BX186jmuy"
	"UkmoAQ79KsF4p86sgEs2kryoehMORRG5LQUfVA3Ume4f891biGO3A4rDzGhq/9Zu9AMWnrMkm4QVwK4LOTZEFsgstoE"
	"6N5F8pOSsBuOsQTXlzq8k+tv0CrVRR/saUuEUfAAAABGZpbGUAAAAAAAAABnNoYTUxMgAAAJQAAAAMcnNhLXNoYTItNT"
	"EyAAAAgB9GARLCkt2wIibRAAsi2U2L918OUJHFq4TTcFKxlEP2D4nFDBkZi9/9zl/KHfHPUeM8BQZJ7OOQpzI4jfdh+"
	"vbdF66nPBfnI/2DlvodMsOaW/YbDEpv2B6SvgBYvZr6Rjh29jFWNToKjGbc+ami1waD0qMfJSbAN+GtTJBWIZpd";

static void test_reader(void **state)
{
	const uint8_t in[] = { 7, 0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 9, 'x' };
	struct ssh_reader r = ssh_reader_make(in, sizeof(in)), save;
	const uint8_t *p;
	size_t n;
	uint8_t b;
	uint32_t v;
	bool t;

	(void)state;
	assert_int_equal(ssh_get_u8(&r, &b), 0);
	assert_int_equal(b, 7);
	save = r;
	assert_int_equal(ssh_get_string_eq(&r, "abd"), -ENOENT);
	r = save;
	assert_int_equal(ssh_get_string_eq(&r, "abc"), 0);
	/* a string whose length is past what remains: refused, and nothing consumed */
	save = r;
	assert_int_equal(ssh_get_string(&r, &p, &n), -EBADMSG);
	assert_ptr_equal(r.p, save.p);
	assert_int_equal(r.n, save.n);
	assert_int_equal(ssh_get_u32(&r, &v), 0);
	assert_int_equal(v, 9);
	assert_int_equal(ssh_get_u32(&r, &v), -EBADMSG); /* 1 byte left */
	assert_int_equal(ssh_get_bool(&r, &t), 0);
	assert_true(t);
	assert_int_equal(ssh_get_u8(&r, &b), -EBADMSG);
	assert_int_equal(ssh_get_bytes(&r, 1, &p), -EBADMSG);
	assert_int_equal(ssh_get_bytes(&r, 0, &p), 0);

	/* a length of 0xffffffff on a 64-bit size_t: no wrap */
	{
		const uint8_t big[] = { 0xff, 0xff, 0xff, 0xff, 1, 2 };

		r = ssh_reader_make(big, sizeof(big));
		assert_int_equal(ssh_get_string(&r, &p, &n), -EBADMSG);
	}
}

static void test_mpint(void **state)
{
	const uint8_t neg[] = { 0, 0, 0, 1, 0x80 };
	const uint8_t padded[] = { 0, 0, 0, 3, 0, 0, 0x7f };
	const uint8_t zero[] = { 0, 0, 0, 0 };
	const uint8_t hi[] = { 0x00, 0x00, 0x80, 0x01 }, lo[] = { 0x7f };
	uint8_t out[16];
	struct ssh_writer w = ssh_writer_make(out, sizeof(out));
	struct ssh_reader r;
	const uint8_t *p;
	size_t n;

	(void)state;
	r = ssh_reader_make(neg, sizeof(neg));
	assert_int_equal(ssh_get_mpint(&r, &p, &n), -EBADMSG);
	r = ssh_reader_make(padded, sizeof(padded));
	assert_int_equal(ssh_get_mpint(&r, &p, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(p[0], 0x7f);
	r = ssh_reader_make(zero, sizeof(zero));
	assert_int_equal(ssh_get_mpint(&r, &p, &n), 0);
	assert_int_equal(n, 0);

	/* writing: leading zeros dropped, a zero byte before a high bit, zero is empty */
	assert_int_equal(ssh_put_mpint(&w, hi, sizeof(hi)), 0);
	assert_int_equal(ssh_put_mpint(&w, lo, sizeof(lo)), 0);
	assert_int_equal(ssh_put_mpint(&w, hi, 2), 0);
	assert_int_equal(w.len, 7 + 5 + 4);
	assert_memory_equal(
		out, ((const uint8_t[]){ 0, 0, 0, 3, 0, 0x80, 1, 0, 0, 0, 1, 0x7f, 0, 0, 0, 0 }),
		16);
	/* full: the error sticks */
	assert_int_equal(ssh_put_u8(&w, 1), -EMSGSIZE);
	assert_int_equal(ssh_put_bytes(&w, NULL, 0), -EMSGSIZE);
	assert_int_equal(w.len, 16);
}

static void check_vector(const uint8_t *spki, size_t spki_len, const char *line, const char *fp)
{
	uint8_t blob[SSH_KEY_BLOB_MAX], back[SSH_SPKI_MAX];
	char text[2048], f[SSH_FINGERPRINT_MAX], comment[64];
	size_t blen, backlen;
	const char *sp = strrchr(line, ' ');

	assert_non_null(sp);
	str_copy(comment, sizeof(comment), sp + 1);
	assert_int_equal(ssh_pubkey_line(spki, spki_len, comment, text, sizeof(text)), 0);
	assert_string_equal(text, line);
	assert_int_equal(ssh_key_from_spki(spki, spki_len, blob, sizeof(blob), &blen), 0);
	assert_int_equal(ssh_fingerprint(blob, blen, f), 0);
	assert_string_equal(f, fp);
	assert_int_equal(ssh_key_to_spki(blob, blen, back, sizeof(back), &backlen), 0);
	assert_int_equal(backlen, spki_len);
	assert_memory_equal(back, spki, spki_len);
	/* without a comment; and a line that does not fit */
	assert_int_equal(ssh_pubkey_line(spki, spki_len, NULL, text, sizeof(text)), 0);
	assert_int_equal(strlen(text), (size_t)(sp - line));
	assert_int_equal(ssh_pubkey_line(spki, spki_len, NULL, text, strlen(text)), -EMSGSIZE);
}

static void test_vectors(void **state)
{
	uint8_t spki[1024];
	size_t n;

	(void)state;
	assert_int_equal(hex_decode(ed_spki_hex, 44, spki), 0);
	check_vector(spki, 44, ed_line, ed_fp);
	n = unb64(p256_spki, spki);
	check_vector(spki, n, p256_line, p256_fp);
	n = unb64(rsa_spki, spki);
	check_vector(spki, n, rsa_line, rsa_fp);
	/* a comment with a newline cannot be on a line */
	{
		char text[256];

		assert_int_equal(ssh_pubkey_line(spki, n, "a\nb", text, sizeof(text)), -EINVAL);
	}
}

static void test_every_type(void **state)
{
	static const struct {
		const char *what;
		enum ssh_key_kind kind;
		enum key_alg alg;
	} t[] = {
		{ "ed25519", SSH_KEY_ED25519, KEY_ALG_EDDSA },
		{ "p256", SSH_KEY_ECDSA_P256, KEY_ALG_ES256 },
		{ "p384", SSH_KEY_ECDSA_P384, KEY_ALG_ES384 },
		{ "p521", SSH_KEY_ECDSA_P521, KEY_ALG_ES512 },
		{ "rsa2048", SSH_KEY_RSA, KEY_ALG_RS512 },
	};

	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		EVP_PKEY *pk = sshtest_keygen(t[i].what);
		uint8_t spki[2048], blob[SSH_KEY_BLOB_MAX], back[SSH_SPKI_MAX], data[100];
		uint8_t sig[KEY_SIG_MAX], sigblob[SSH_SIG_BLOB_MAX], jws[KEY_SIG_MAX];
		size_t blen, backlen, siglen = sizeof(sig), sbl, jl;
		enum key_alg alg;
		int n;

		assert_non_null(pk);
		n = sshtest_spki(pk, spki, sizeof(spki));
		assert_true(n > 0);
		assert_int_equal(ssh_key_from_spki(spki, (size_t)n, blob, sizeof(blob), &blen), 0);
		assert_int_equal(ssh_key_blob_kind(blob, blen), t[i].kind);
		assert_int_equal(ssh_key_to_spki(blob, blen, back, sizeof(back), &backlen), 0);
		assert_int_equal(backlen, (size_t)n);
		assert_memory_equal(back, spki, backlen);
		/* a blob too small for the buffer */
		assert_int_equal(ssh_key_from_spki(spki, (size_t)n, blob, blen - 1, &blen),
				 -EMSGSIZE);
		assert_int_equal(ssh_key_to_spki(blob, blen, back, backlen - 1, &backlen),
				 -EMSGSIZE);

		/* a signature made here verifies as ssh would, and not over other data */
		alg = ssh_agent_sign_alg(t[i].kind, 0);
		assert_int_equal(alg, t[i].alg);
		test_fill(data, sizeof(data), (unsigned)i);
		assert_int_equal(sshtest_sign(pk, alg, data, sizeof(data), sig, &siglen), 0);
		assert_int_equal(ssh_sig_from_jws(alg, sig, siglen, sigblob, sizeof(sigblob), &sbl),
				 0);
		assert_int_equal(ssh_sig_verify(blob, blen, sigblob, sbl, data, sizeof(data)), 0);
		data[3] ^= 1;
		assert_int_equal(ssh_sig_verify(blob, blen, sigblob, sbl, data, sizeof(data)),
				 -EBADMSG);
		assert_int_equal(ssh_sig_to_jws(sigblob, sbl, &alg, jws, sizeof(jws), &jl), 0);
		assert_int_equal(alg, t[i].alg);
		assert_int_equal(jl, siglen);
		assert_memory_equal(jws, sig, jl);
		EVP_PKEY_free(pk);
	}
}

static void test_bad_blobs(void **state)
{
	uint8_t spki[1024], blob[SSH_KEY_BLOB_MAX], bad[SSH_KEY_BLOB_MAX], out[SSH_SPKI_MAX];
	size_t n, blen, outlen;

	(void)state;
	n = unb64(p256_spki, spki);
	assert_int_equal(ssh_key_from_spki(spki, n, blob, sizeof(blob), &blen), 0);
	/* every truncation fails */
	for (size_t cut = 0; cut < blen; cut++)
		assert_int_equal(ssh_key_to_spki(blob, cut, out, sizeof(out), &outlen), -EBADMSG);
	/* a trailing byte */
	memcpy(bad, blob, blen);
	bad[blen] = 0;
	assert_int_equal(ssh_key_to_spki(bad, blen + 1, out, sizeof(out), &outlen), -EBADMSG);
	/* the curve string of another curve */
	memcpy(bad, blob, blen);
	bad[4 + 19 + 4 + 7] = '4';
	assert_int_equal(ssh_key_to_spki(bad, blen, out, sizeof(out), &outlen), -EBADMSG);
	/* a compressed point's form byte */
	memcpy(bad, blob, blen);
	bad[4 + 19 + 4 + 8 + 4] = 0x02;
	assert_int_equal(ssh_key_to_spki(bad, blen, out, sizeof(out), &outlen), -EBADMSG);
	/* a string length inside that overruns the blob */
	memcpy(bad, blob, blen);
	bad[4 + 19 + 4 + 8 + 3] = 0x42;
	assert_int_equal(ssh_key_to_spki(bad, blen, out, sizeof(out), &outlen), -EBADMSG);
	/* kinds we do not speak */
	{
		static const uint8_t dss[] = { 0, 0, 0, 7, 's', 's', 'h', '-', 'd', 's', 's' };
		static const char cert[] = "ssh-ed25519-cert-v01@openssh.com";
		struct ssh_writer w = ssh_writer_make(bad, sizeof(bad));

		assert_int_equal(ssh_key_blob_kind(dss, sizeof(dss)), -EOPNOTSUPP);
		ssh_put_cstring(&w, cert);
		assert_int_equal(ssh_key_blob_kind(bad, w.len), -EOPNOTSUPP);
		assert_int_equal(ssh_key_to_spki(bad, w.len, out, sizeof(out), &outlen),
				 -EOPNOTSUPP);
	}
	/* RSA: an even modulus, one too small */
	n = unb64(rsa_spki, spki);
	assert_int_equal(ssh_key_from_spki(spki, n, blob, sizeof(blob), &blen), 0);
	memcpy(bad, blob, blen);
	bad[blen - 1] &= 0xfe;
	assert_int_equal(ssh_key_to_spki(bad, blen, out, sizeof(out), &outlen), -EBADMSG);
	{
		uint8_t m[64];
		static const uint8_t e[] = { 1, 0, 1 };
		struct ssh_writer w = ssh_writer_make(bad, sizeof(bad));

		memset(m, 0xff, sizeof(m)); /* 512 bits */
		ssh_put_cstring(&w, "ssh-rsa");
		ssh_put_mpint(&w, e, sizeof(e));
		ssh_put_mpint(&w, m, sizeof(m));
		assert_int_equal(ssh_key_to_spki(bad, w.len, out, sizeof(out), &outlen),
				 -EOPNOTSUPP);
	}
}

static void test_bad_spki(void **state)
{
	uint8_t spki[1024], bad[1024], blob[SSH_KEY_BLOB_MAX];
	size_t n, blen;

	(void)state;
	n = unb64(rsa_spki, spki);
	for (size_t cut = 0; cut < n; cut++)
		assert_true(ssh_key_from_spki(spki, cut, blob, sizeof(blob), &blen) < 0);
	/* a long-form length where a short one fits (not DER) */
	memcpy(bad, spki, n);
	bad[1] = 0x81; /* was 0x81 0x9f: make the outer length 0x82 0x00 0x9f */
	memmove(bad + 3, bad + 2, n - 2);
	bad[1] = 0x82;
	bad[2] = 0x00;
	assert_int_equal(ssh_key_from_spki(bad, n + 1, blob, sizeof(blob), &blen), -EBADMSG);
	/* a trailing byte after the SPKI */
	memcpy(bad, spki, n);
	bad[n] = 0;
	assert_int_equal(ssh_key_from_spki(bad, n + 1, blob, sizeof(blob), &blen), -EBADMSG);
	/* a compressed P-256 point: another form, not ours */
	{
		static const uint8_t pfx[] = {
			0x30, 0x39, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
			0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
			0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x22, 0x00, 0x02
		};

		memset(bad, 0x11, sizeof(bad));
		memcpy(bad, pfx, sizeof(pfx));
		assert_int_equal(
			ssh_key_from_spki(bad, sizeof(pfx) + 32, blob, sizeof(blob), &blen),
			-EOPNOTSUPP);
	}
	/* an Ed25519 SPKI one byte short or long */
	assert_int_equal(hex_decode(ed_spki_hex, 44, bad), 0);
	assert_int_equal(ssh_key_from_spki(bad, 43, blob, sizeof(blob), &blen), -EBADMSG);
	assert_int_equal(ssh_key_from_spki(bad, 45, blob, sizeof(blob), &blen), -EBADMSG);
}

static void test_flags(void **state)
{
	(void)state;
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_RSA, 0), KEY_ALG_RS512);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_RSA, SSH_AGENT_RSA_SHA2_256), KEY_ALG_RS256);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_RSA, SSH_AGENT_RSA_SHA2_512), KEY_ALG_RS512);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_RSA, 6), KEY_ALG_RS256);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_RSA, 1), KEY_ALG_RS512);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_ED25519, 4), KEY_ALG_EDDSA);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_ECDSA_P256, 2), KEY_ALG_ES256);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_ECDSA_P384, 0), KEY_ALG_ES384);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_ECDSA_P521, 0), KEY_ALG_ES512);
	assert_int_equal(ssh_agent_sign_alg(SSH_KEY_UNKNOWN, 0), KEY_ALG_INVALID);
	assert_string_equal(ssh_sig_name(KEY_ALG_RS256), "rsa-sha2-256");
	assert_string_equal(ssh_sig_name(KEY_ALG_ES512), "ecdsa-sha2-nistp521");
	assert_string_equal(ssh_sig_name(KEY_ALG_EDDSA), "ssh-ed25519");
	assert_null(ssh_sig_name(KEY_ALG_RS384));
	assert_null(ssh_sig_name(KEY_ALG_PS256));
	assert_null(ssh_sig_name(KEY_ALG_INVALID));
}

static void test_ecdsa_sig(void **state)
{
	uint8_t jws[64], blob[256], back[132];
	size_t n, bn;
	enum key_alg alg;

	(void)state;
	/* r with its high bit set: mpint 00 80 ...; s shorter than the curve (three zero bytes) */
	memset(jws, 0x5a, sizeof(jws));
	jws[0] = 0x80;
	jws[32] = jws[33] = jws[34] = 0;
	jws[35] = 0x01;
	assert_int_equal(ssh_sig_from_jws(KEY_ALG_ES256, jws, 64, blob, sizeof(blob), &n), 0);
	/* name(4+19) string(4) r(4+33) s(4+29) */
	assert_int_equal(n, 4 + 19 + 4 + 4 + 33 + 4 + 29);
	assert_memory_equal(blob + 23, ((const uint8_t[]){ 0, 0, 0, 70, 0, 0, 0, 33, 0, 0x80 }),
			    10);
	assert_memory_equal(blob + 23 + 4 + 37, ((const uint8_t[]){ 0, 0, 0, 29, 0x01 }), 5);
	assert_int_equal(ssh_sig_to_jws(blob, n, &alg, back, sizeof(back), &bn), 0);
	assert_int_equal(alg, KEY_ALG_ES256);
	assert_int_equal(bn, 64);
	assert_memory_equal(back, jws, 64);
	assert_int_equal(ssh_sig_to_jws(blob, n, &alg, back, 63, &bn), -EMSGSIZE);
	/* each truncation fails */
	for (size_t cut = 0; cut < n; cut++)
		assert_int_equal(ssh_sig_to_jws(blob, cut, &alg, back, sizeof(back), &bn),
				 -EBADMSG);
	/* wrong JWS lengths and algorithms without an ssh name */
	assert_int_equal(ssh_sig_from_jws(KEY_ALG_ES256, jws, 63, blob, sizeof(blob), &n), -EINVAL);
	assert_int_equal(ssh_sig_from_jws(KEY_ALG_ES384, jws, 64, blob, sizeof(blob), &n), -EINVAL);
	assert_int_equal(ssh_sig_from_jws(KEY_ALG_EDDSA, jws, 63, blob, sizeof(blob), &n), -EINVAL);
	assert_int_equal(ssh_sig_from_jws(KEY_ALG_RS256, jws, 64, blob, sizeof(blob), &n), -EINVAL);
	assert_int_equal(ssh_sig_from_jws(KEY_ALG_RS384, jws, 64, blob, sizeof(blob), &n),
			 -EOPNOTSUPP);
	assert_int_equal(ssh_sig_from_jws(KEY_ALG_ES256, jws, 64, blob, 40, &n), -EMSGSIZE);
	/* an r longer than the curve's size */
	{
		struct ssh_writer w = ssh_writer_make(blob, sizeof(blob));
		uint8_t big[33];

		memset(big, 0x11, sizeof(big));
		ssh_put_cstring(&w, "ecdsa-sha2-nistp256");
		ssh_put_u32(&w, 4 + 33 + 4 + 1);
		ssh_put_mpint(&w, big, 33);
		ssh_put_mpint(&w, big, 1);
		assert_int_equal(ssh_sig_to_jws(blob, w.len, &alg, back, sizeof(back), &bn),
				 -EBADMSG);
	}
	/* the legacy SHA-1 RSA name */
	{
		struct ssh_writer w = ssh_writer_make(blob, sizeof(blob));

		ssh_put_cstring(&w, "ssh-rsa");
		ssh_put_string(&w, jws, 64);
		assert_int_equal(ssh_sig_to_jws(blob, w.len, &alg, back, sizeof(back), &bn),
				 -EOPNOTSUPP);
	}
}

/* Verify a real ssh-keygen -Y signature: rebuild PROTOCOL.sshsig's signed data. */
static void check_sshsig(const char *b64, enum key_alg want)
{
	uint8_t sshsig[1024], data[512], md[64], jws[512];
	struct ssh_reader r;
	struct ssh_writer w = ssh_writer_make(data, sizeof(data));
	const uint8_t *magic, *key, *ns, *res, *hash, *sig;
	size_t n, keylen, nslen, reslen, hashlen, siglen, jl;
	unsigned mdlen;
	uint32_t ver;
	enum key_alg alg;

	n = unb64(b64, sshsig);
	r = ssh_reader_make(sshsig, n);
	assert_int_equal(ssh_get_bytes(&r, 6, &magic), 0);
	assert_memory_equal(magic, "SSHSIG", 6);
	assert_int_equal(ssh_get_u32(&r, &ver), 0);
	assert_int_equal(ver, 1);
	assert_int_equal(ssh_get_string(&r, &key, &keylen), 0);
	assert_int_equal(ssh_get_string(&r, &ns, &nslen), 0);
	assert_int_equal(ssh_get_string(&r, &res, &reslen), 0);
	assert_int_equal(ssh_get_string(&r, &hash, &hashlen), 0);
	assert_int_equal(ssh_get_string(&r, &sig, &siglen), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(ssh_sig_to_jws(sig, siglen, &alg, jws, sizeof(jws), &jl), 0);
	assert_int_equal(alg, want);
	assert_true(EVP_Digest("hello\n", 6, md, &mdlen, EVP_sha512(), NULL));
	ssh_put_bytes(&w, "SSHSIG", 6);
	ssh_put_string(&w, ns, nslen);
	ssh_put_string(&w, res, reslen);
	ssh_put_string(&w, hash, hashlen);
	ssh_put_string(&w, md, mdlen);
	assert_int_equal(w.err, 0);
	assert_int_equal(ssh_sig_verify(key, keylen, sig, siglen, data, w.len), 0);
	data[w.len - 1] ^= 1;
	assert_int_equal(ssh_sig_verify(key, keylen, sig, siglen, data, w.len), -EBADMSG);
}

static void test_verify_real(void **state)
{
	(void)state;
	check_sshsig(p256_sshsig, KEY_ALG_ES256);
	check_sshsig(rsa_sshsig, KEY_ALG_RS512);
}

static void test_verify_mismatch(void **state)
{
	EVP_PKEY *ed = sshtest_keygen("ed25519"), *ec = sshtest_keygen("p256");
	uint8_t spki[256], blob[256], sig[KEY_SIG_MAX], sigblob[256], data[32] = { 1 };
	size_t blen, siglen = sizeof(sig), sbl;
	int n;

	(void)state;
	assert_non_null(ed);
	assert_non_null(ec);
	/* an Ed25519 signature presented for a P-256 key */
	assert_int_equal(sshtest_sign(ed, KEY_ALG_EDDSA, data, sizeof(data), sig, &siglen), 0);
	assert_int_equal(
		ssh_sig_from_jws(KEY_ALG_EDDSA, sig, siglen, sigblob, sizeof(sigblob), &sbl), 0);
	n = sshtest_spki(ec, spki, sizeof(spki));
	assert_int_equal(ssh_key_from_spki(spki, (size_t)n, blob, sizeof(blob), &blen), 0);
	assert_int_equal(ssh_sig_verify(blob, blen, sigblob, sbl, data, sizeof(data)), -EOPNOTSUPP);
	/* a point that is not on the curve */
	blob[blen - 1] ^= 1;
	siglen = sizeof(sig);
	assert_int_equal(sshtest_sign(ec, KEY_ALG_ES256, data, sizeof(data), sig, &siglen), 0);
	assert_int_equal(
		ssh_sig_from_jws(KEY_ALG_ES256, sig, siglen, sigblob, sizeof(sigblob), &sbl), 0);
	assert_int_equal(ssh_sig_verify(blob, blen, sigblob, sbl, data, sizeof(data)), -EBADMSG);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader),	    cmocka_unit_test(test_mpint),
		cmocka_unit_test(test_vectors),	    cmocka_unit_test(test_every_type),
		cmocka_unit_test(test_bad_blobs),   cmocka_unit_test(test_bad_spki),
		cmocka_unit_test(test_flags),	    cmocka_unit_test(test_ecdsa_sig),
		cmocka_unit_test(test_verify_real), cmocka_unit_test(test_verify_mismatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
