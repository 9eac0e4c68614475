/* Unit tests for JWT verification, with keys and tokens made by OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jwt.h"
#include "jwt_mint.h"
#include "log.h"

#define NOW 1700000000LL
#define TOKMAX 16384
#define SECRET "test-hs256-secret-0123456789abcdefghijklmnop"
#define SUB "0b7c5f4e-2a1d-4c3b-9e8f-1a2b3c4d5e6f"
#define ISS "https://ref.supabase.co/auth/v1"

/* A Supabase user token's claims: exp an hour after NOW. */
#define USER_CLAIMS \
	"{\"sub\":\"" SUB "\",\"role\":\"authenticated\"," \
	"\"aud\":\"authenticated\",\"iss\":\"" ISS "\",\"iat\":1699999000," \
	"\"exp\":1700003600}"
#define HS_HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define ES_HDR "{\"alg\":\"ES256\",\"typ\":\"JWT\",\"kid\":\"ec-1\"}"
#define RS_HDR "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"rsa-1\"}"

struct fixture {
	char dir[64];
	char secret[96];
	char jwks[96];
	char scratch[96]; /* for files a test writes and removes */
	EVP_PKEY *ec, *ec2, *rsa;
	char ec_jwk[512];     /* ec's public JWK, as written to the JWKS */
	char *rsa_pem;        /* rsa's public key, PEM */
	struct jwt_keys *all; /* secret and JWKS */
	struct jwt_keys *hs;  /* secret only */
	struct jwt_keys *pub; /* JWKS only */
};

static const struct jwt_policy policy = { "authenticated", ISS, 30, 0 };

/* base64url without padding, NUL-terminated. */
static void
b64url(const unsigned char *d, size_t n, char *out, size_t size)
{
	size_t i, len;

	assert_true(4 * ((n + 2) / 3) + 1 <= size);
	len = (size_t)EVP_EncodeBlock((unsigned char *)out, d, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (i = 0; i < len; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
}

/* tok = b64(hdr) "." b64(payload); returns its length. */
static size_t
signing_input(char *tok, const char *hdr, const char *payload)
{
	size_t n;

	b64url((const unsigned char *)hdr, strlen(hdr), tok, TOKMAX);
	n = strlen(tok);
	tok[n++] = '.';
	b64url((const unsigned char *)payload, strlen(payload), tok + n,
	    TOKMAX - n);
	return strlen(tok);
}

static void
append_sig(char *tok, const unsigned char *sig, size_t n)
{
	size_t len = strlen(tok);

	tok[len++] = '.';
	b64url(sig, n, tok + len, TOKMAX - len);
}

/* Decode base64url text (test side, lenient); returns the byte count. */
static int
b64_decode_test(const char *text, unsigned char *out, size_t size)
{
	char std[1024];
	unsigned char tmp[1024];
	size_t i, n = strlen(text), pad = (4 - n % 4) % 4;
	int got;

	assert_true(n + pad < sizeof(std));
	for (i = 0; i < n; i++)
		std[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
	for (i = 0; i < pad; i++)
		std[n + i] = '=';
	got = EVP_DecodeBlock(tmp, (unsigned char *)std, (int)(n + pad));
	assert_true(got >= (int)pad);
	got -= (int)pad;
	assert_true((size_t)got <= size);
	memcpy(out, tmp, (size_t)got);
	return got;
}

static void
mk_hs(char *tok, const char *hdr, const char *payload, const void *key,
    size_t keylen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen;
	size_t n = signing_input(tok, hdr, payload);

	assert_non_null(HMAC(EVP_sha256(), key, (int)keylen,
	    (unsigned char *)tok, n, mac, &maclen));
	append_sig(tok, mac, maclen);
}

/* Sign with pkey: raw r||s for EC (or DER when der is set), PKCS#1 for RSA. */
static void
mk_pk_sig(char *tok, const char *hdr, const char *payload, EVP_PKEY *pkey,
    int der)
{
	unsigned char sig[1024], raw[64];
	const unsigned char *p = sig;
	const BIGNUM *r, *s;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	ECDSA_SIG *es;
	size_t siglen = sizeof(sig), n = signing_input(tok, hdr, payload);

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
	                     pkey),
	    1);
	assert_int_equal(EVP_DigestSign(ctx, sig, &siglen, (unsigned char *)tok,
	                     n),
	    1);
	EVP_MD_CTX_free(ctx);
	if (!EVP_PKEY_is_a(pkey, "EC") || der) {
		append_sig(tok, sig, siglen);
		return;
	}
	assert_non_null(es = d2i_ECDSA_SIG(NULL, &p, (long)siglen));
	ECDSA_SIG_get0(es, &r, &s);
	assert_int_equal(BN_bn2binpad(r, raw, 32), 32);
	assert_int_equal(BN_bn2binpad(s, raw + 32, 32), 32);
	ECDSA_SIG_free(es);
	append_sig(tok, raw, sizeof(raw));
}

static void
mk_pk(char *tok, const char *hdr, const char *payload, EVP_PKEY *pkey)
{
	mk_pk_sig(tok, hdr, payload, pkey, 0);
}

static void
bn_b64(EVP_PKEY *pkey, const char *param, int pad, char *out, size_t size)
{
	unsigned char bin[1024];
	BIGNUM *bn = NULL;
	int n;

	assert_int_equal(EVP_PKEY_get_bn_param(pkey, param, &bn), 1);
	n = pad ? BN_bn2binpad(bn, bin, pad) : BN_bn2bin(bn, bin);
	assert_true(n > 0);
	BN_free(bn);
	b64url(bin, (size_t)n, out, size);
}

static void
ec_jwk(EVP_PKEY *pkey, const char *kid, const char *extra, char *out,
    size_t size)
{
	char x[64], y[64];

	bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, 32, x, sizeof(x));
	bn_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y, sizeof(y));
	snprintf(out, size,
	    "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
	    "\"y\":\"%s\"%s%s%s%s}",
	    x, y, kid != NULL ? ",\"kid\":\"" : "", kid != NULL ? kid : "",
	    kid != NULL ? "\"" : "", extra);
}

static void
rsa_jwk(EVP_PKEY *pkey, const char *kid, char *out, size_t size)
{
	char n[1024], e[16];

	bn_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0, n, sizeof(n));
	bn_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0, e, sizeof(e));
	snprintf(out, size,
	    "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\","
	    "\"kid\":\"%s\",\"alg\":\"RS256\",\"use\":\"sig\"}",
	    n, e, kid);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static char *
pem_of(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem;
	long n;

	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PUBKEY(bio, pkey), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_non_null(pem = strndup(data, (size_t)n));
	BIO_free(bio);
	return pem;
}

static int
group_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char jwks[8192], ec2[512], rsa[2048], err[PC_ERRLEN];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/pc-test-jwt-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->secret, sizeof(f->secret), "%s/jwt.secret", f->dir);
	snprintf(f->jwks, sizeof(f->jwks), "%s/jwks.json", f->dir);
	snprintf(f->scratch, sizeof(f->scratch), "%s/scratch", f->dir);
	if ((f->ec = EVP_EC_gen("P-256")) == NULL ||
	    (f->ec2 = EVP_EC_gen("P-256")) == NULL ||
	    (f->rsa = EVP_RSA_gen(2048)) == NULL)
		return -1;
	write_file(f->secret, SECRET "\n", 0600);
	ec_jwk(f->ec, "ec-1",
	    ",\"alg\":\"ES256\",\"use\":\"sig\","
	    "\"key_ops\":[\"verify\"]",
	    f->ec_jwk, sizeof(f->ec_jwk));
	ec_jwk(f->ec2, "ec-2", "", ec2, sizeof(ec2));
	rsa_jwk(f->rsa, "rsa-1", rsa, sizeof(rsa));
	/* Plus two keys that must be skipped: an Ed25519 and an encryption key. */
	snprintf(jwks, sizeof(jwks),
	    "{\"keys\":[%s,%s,%s,"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\",\"kid\":\"ed\"},"
	    "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AAAA\",\"e\":\"AQAB\"}]}",
	    f->ec_jwk, ec2, rsa);
	write_file(f->jwks, jwks, 0644);
	f->rsa_pem = pem_of(f->rsa);
	if (jwt_keys_load(f->secret, f->jwks, &f->all, err) != PC_OK ||
	    jwt_keys_load(f->secret, NULL, &f->hs, err) != PC_OK ||
	    jwt_keys_load(NULL, f->jwks, &f->pub, err) != PC_OK) {
		fprintf(stderr, "group_setup: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fixture *f = *state;

	jwt_keys_free(f->all);
	jwt_keys_free(f->hs);
	jwt_keys_free(f->pub);
	EVP_PKEY_free(f->ec);
	EVP_PKEY_free(f->ec2);
	EVP_PKEY_free(f->rsa);
	free(f->rsa_pem);
	unlink(f->secret);
	unlink(f->jwks);
	unlink(f->scratch);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* An error message must never quote a secret, a key or the token. */
static void
assert_clean_err(const char *err, const char *tok, size_t len)
{
	char head[17];

	if (strstr(err, SECRET) != NULL || strstr(err, "test-hs256") != NULL)
		fail_msg("error \"%s\" holds the secret", err);
	if (strstr(err, "-----") != NULL || strstr(err, "\"kty\"") != NULL)
		fail_msg("error \"%s\" holds key material", err);
	if (tok != NULL && len >= sizeof(head) - 1) {
		memcpy(head, tok, sizeof(head) - 1);
		head[sizeof(head) - 1] = '\0';
		if (strstr(err, head) != NULL)
			fail_msg("error \"%s\" holds the token", err);
	}
}

static void
accept_len(const struct jwt_keys *k, const char *tok, size_t len,
    const struct jwt_policy *pol, struct jwt_claims *c)
{
	char err[PC_ERRLEN] = "";
	enum pc_result r;

	enum jwt_refusal why = JWT_REFUSAL_EXPIRED;

	r = jwt_verify(k, tok, len, pol, NOW, c, &why, err);
	if (r != PC_OK)
		fail_msg("token refused (%s): %s", pc_result_str(r), err);
	assert_int_equal(why, JWT_REFUSAL_NONE);
}

static void
accept(const struct jwt_keys *k, const char *tok, struct jwt_claims *c)
{
	accept_len(k, tok, strlen(tok), &policy, c);
}

/*
 * Each reason jwt_verify() writes to err, with the refusal it reports: the
 * client is told the refusal, so a reason moved to another is a change of
 * the API.
 */
static const struct {
	const char *reason;
	enum jwt_refusal why;
} reasons[] = {
	{ "empty token", JWT_REFUSAL_MALFORMED },
	{ "token too long", JWT_REFUSAL_MALFORMED },
	{ "not three base64url parts", JWT_REFUSAL_MALFORMED },
	{ "bad header", JWT_REFUSAL_MALFORMED },
	{ "critical header not supported", JWT_REFUSAL_MALFORMED },
	{ "bad token type", JWT_REFUSAL_MALFORMED },
	{ "missing signature", JWT_REFUSAL_MALFORMED },
	{ "bad signature encoding", JWT_REFUSAL_MALFORMED },
	{ "bad payload", JWT_REFUSAL_MALFORMED },
	{ "missing exp", JWT_REFUSAL_MALFORMED },
	{ "bad exp", JWT_REFUSAL_MALFORMED },
	{ "bad nbf", JWT_REFUSAL_MALFORMED },
	{ "bad iat", JWT_REFUSAL_MALFORMED },
	{ "bad sub", JWT_REFUSAL_MALFORMED },
	{ "bad role", JWT_REFUSAL_MALFORMED },
	{ "bad is_anonymous", JWT_REFUSAL_MALFORMED },
	{ "bad aud", JWT_REFUSAL_MALFORMED },
	{ "algorithm not allowed", JWT_REFUSAL_UNSUPPORTED_ALG },
	{ "unknown key", JWT_REFUSAL_UNKNOWN_KEY },
	{ "algorithm does not match key", JWT_REFUSAL_UNKNOWN_KEY },
	{ "bad signature", JWT_REFUSAL_BAD_SIGNATURE },
	{ "expired", JWT_REFUSAL_EXPIRED },
	{ "not yet valid", JWT_REFUSAL_NOT_YET_VALID },
	{ "issued in the future", JWT_REFUSAL_NOT_YET_VALID },
	{ "lifetime too long", JWT_REFUSAL_LIFETIME_TOO_LONG },
	{ "wrong audience", JWT_REFUSAL_WRONG_AUDIENCE },
	{ "wrong issuer", JWT_REFUSAL_WRONG_ISSUER },
};

/* The refusal that goes with err's reason, failing on a reason not listed. */
static enum jwt_refusal
refusal_of(const char *err)
{
	size_t i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(err, reasons[i].reason) == 0)
			return reasons[i].why;
	fail_msg("reason \"%s\" is not in the table", err);
	return JWT_REFUSAL_NONE;
}

/* Expect jwt_verify() to answer want with reason in err, and its refusal. */
static void
refuse_as(const struct jwt_keys *k, const char *tok, size_t len,
    const struct jwt_policy *pol, enum pc_result want, const char *reason)
{
	char err[PC_ERRLEN] = "";
	enum jwt_refusal why = JWT_REFUSAL_NONE;
	struct jwt_claims c;
	enum pc_result r;

	memset(&c, 'x', sizeof(c));
	r = jwt_verify(k, tok, len, pol, NOW, &c, &why, err);
	if (r != want)
		fail_msg("expected refusal \"%s\" (%s), got %s (%s)", reason,
		    pc_result_str(want), pc_result_str(r), err);
	if (strstr(err, reason) == NULL)
		fail_msg("error \"%s\" is not \"%s\"", err, reason);
	assert_int_equal(why, refusal_of(err));
	assert_int_not_equal(why, JWT_REFUSAL_NONE);
	assert_clean_err(err, tok, len);
	assert_string_equal(c.sub, "");
	assert_string_equal(c.role, "");
	assert_int_equal(c.exp, 0);
}

static void
refuse_len(const struct jwt_keys *k, const char *tok, size_t len,
    const struct jwt_policy *pol, const char *reason)
{
	refuse_as(k, tok, len, pol, PC_INVALID, reason);
}

static void
refuse(const struct jwt_keys *k, const char *tok, const char *reason)
{
	refuse_len(k, tok, strlen(tok), &policy, reason);
}

/* A kid that no key has: refused, and worth asking a newer key set about. */
static void
refuse_kid(const struct jwt_keys *k, const char *tok)
{
	refuse_as(k, tok, strlen(tok), &policy, PC_NOTFOUND, "unknown key");
}

static void
test_valid_tokens(void **state)
{
	struct fixture *f = *state;
	struct jwt_claims c;
	char tok[TOKMAX];

	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, tok, &c);
	assert_string_equal(c.sub, SUB);
	assert_string_equal(c.role, "authenticated");
	assert_int_equal(c.exp, 1700003600);
	accept(f->hs, tok, &c);
	refuse(f->pub, tok, "algorithm not allowed");

	/* Supabase names the legacy secret with a kid: it is ignored. */
	mk_hs(tok, "{\"alg\":\"HS256\",\"kid\":\"legacy\"}", USER_CLAIMS,
	    SECRET, strlen(SECRET));
	accept(f->hs, tok, &c);

	mk_pk(tok, ES_HDR, USER_CLAIMS, f->ec);
	memset(&c, 0, sizeof(c));
	accept(f->all, tok, &c);
	assert_string_equal(c.sub, SUB);
	assert_string_equal(c.role, "authenticated");
	assert_int_equal(c.exp, 1700003600);
	accept(f->pub, tok, &c);
	/* With the secret alone, a kid is unknown, without one no key fits. */
	refuse_kid(f->hs, tok);
	mk_pk(tok, "{\"alg\":\"ES256\"}", USER_CLAIMS, f->ec);
	refuse(f->hs, tok, "algorithm not allowed");

	mk_pk(tok, RS_HDR, USER_CLAIMS, f->rsa);
	memset(&c, 0, sizeof(c));
	accept(f->pub, tok, &c);
	assert_string_equal(c.sub, SUB);
	assert_string_equal(c.role, "authenticated");
	assert_int_equal(c.exp, 1700003600);
	refuse_kid(f->hs, tok);
	mk_pk(tok, "{\"alg\":\"RS256\"}", USER_CLAIMS, f->rsa);
	refuse(f->hs, tok, "algorithm not allowed");
}

static void
test_kid(void **state)
{
	struct fixture *f = *state;
	struct jwt_keys *k = NULL;
	struct jwt_claims c;
	char tok[TOKMAX], jwk[512], text[1024], err[PC_ERRLEN];

	/* The second key of the set, by kid and without one (rotation). */
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"ec-2\"}", USER_CLAIMS, f->ec2);
	accept(f->pub, tok, &c);
	mk_pk(tok, "{\"alg\":\"ES256\"}", USER_CLAIMS, f->ec2);
	accept(f->pub, tok, &c);
	mk_pk(tok, "{\"alg\":\"ES256\"}", USER_CLAIMS, f->ec);
	accept(f->pub, tok, &c);
	mk_pk(tok, "{\"alg\":\"RS256\"}", USER_CLAIMS, f->rsa);
	accept(f->pub, tok, &c);

	/* A kid binds the token to that one key. */
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", USER_CLAIMS, f->ec2);
	refuse(f->pub, tok, "bad signature");
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"ec-9\"}", USER_CLAIMS, f->ec);
	refuse_kid(f->pub, tok);
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"\"}", USER_CLAIMS, f->ec);
	refuse_kid(f->pub, tok);
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"ed\"}", USER_CLAIMS, f->ec);
	refuse_kid(f->pub, tok);
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":7}", USER_CLAIMS, f->ec);
	refuse(f->pub, tok, "bad header");
	/* The RSA key's kid on an ES256 token, and the other way round. */
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", USER_CLAIMS, f->ec);
	refuse(f->pub, tok, "algorithm does not match key");
	mk_pk(tok, "{\"alg\":\"RS256\",\"kid\":\"ec-1\"}", USER_CLAIMS, f->rsa);
	refuse(f->pub, tok, "algorithm does not match key");
	/* A JWK without a kid serves only tokens without one. */
	ec_jwk(f->ec, NULL, "", jwk, sizeof(jwk));
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwk);
	write_file(f->scratch, text, 0644);
	assert_int_equal(jwt_keys_load(NULL, f->scratch, &k, err), PC_OK);
	mk_pk(tok, "{\"alg\":\"ES256\"}", USER_CLAIMS, f->ec);
	accept(k, tok, &c);
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"\"}", USER_CLAIMS, f->ec);
	refuse_kid(k, tok);
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"ec-1\"}", USER_CLAIMS, f->ec);
	refuse_kid(k, tok);
	jwt_keys_free(k);
	/* An unlisted key signs nothing that verifies. */
	mk_pk(tok, "{\"alg\":\"RS256\",\"kid\":\"rsa-1\"}", USER_CLAIMS, f->ec);
	refuse(f->pub, tok, "bad signature");
}

static void
test_service_role(void **state)
{
	struct fixture *f = *state;
	const struct jwt_policy no_iss = { "authenticated", NULL, 30, 0 };
	struct jwt_claims c;
	char tok[TOKMAX];

	/* Supabase's service_role key: no aud, no sub, iss "supabase". */
	mk_hs(tok, HS_HDR,
	    "{\"iss\":\"supabase\",\"ref\":\"abcdefgh\","
	    "\"role\":\"service_role\",\"iat\":1699000000,\"exp\":2000000000}",
	    SECRET, strlen(SECRET));
	accept_len(f->hs, tok, strlen(tok), &no_iss, &c);
	assert_string_equal(c.role, "service_role");
	assert_string_equal(c.sub, "");
	/* An issuer, once configured, applies to it too. */
	refuse(f->hs, tok, "wrong issuer");

	/* Only service_role is let off the audience. */
	mk_hs(tok, HS_HDR,
	    "{\"iss\":\"supabase\",\"role\":\"anon\","
	    "\"exp\":2000000000}",
	    SECRET, strlen(SECRET));
	refuse_len(f->hs, tok, strlen(tok), &no_iss, "wrong audience");
	mk_hs(tok, HS_HDR, "{\"role\":\"service_role \",\"exp\":2000000000}",
	    SECRET, strlen(SECRET));
	refuse_len(f->hs, tok, strlen(tok), &no_iss, "bad role");
	mk_hs(tok, HS_HDR, "{\"role\":\"Service_role\",\"exp\":2000000000}",
	    SECRET, strlen(SECRET));
	refuse_len(f->hs, tok, strlen(tok), &no_iss, "wrong audience");
}

/* Sign claims made of USER_CLAIMS' fields with the times given. */
static void
mk_times(char *tok, const struct fixture *f, const char *times)
{
	char payload[512];

	snprintf(payload, sizeof(payload),
	    "{\"sub\":\"" SUB "\",\"role\":"
	    "\"authenticated\",\"aud\":\"authenticated\",\"iss\":\"" ISS
	    "\"%s}",
	    times);
	mk_pk(tok, ES_HDR, payload, f->ec);
}

static void
test_times(void **state)
{
	struct fixture *f = *state;
	const struct jwt_policy strict = { "authenticated", ISS, 0, 0 };
	struct jwt_claims c;
	char tok[TOKMAX];

	/* policy.leeway_s is 30. */
	mk_times(tok, f, ",\"exp\":1699999969");
	refuse(f->pub, tok, "expired");
	mk_times(tok, f, ",\"exp\":1699999970");
	refuse(f->pub, tok, "expired");
	mk_times(tok, f, ",\"exp\":1699999971");
	accept(f->pub, tok, &c);
	assert_int_equal(c.exp, 1699999971);
	refuse_len(f->pub, tok, strlen(tok), &strict, "expired");
	mk_times(tok, f, ",\"exp\":1700000000");
	refuse_len(f->pub, tok, strlen(tok), &strict, "expired");
	mk_times(tok, f, ",\"exp\":1700000001");
	accept_len(f->pub, tok, strlen(tok), &strict, &c);

	mk_times(tok, f, ",\"exp\":1700003600.75");
	accept(f->pub, tok, &c);
	assert_int_equal(c.exp, 1700003600);
	mk_times(tok, f, "");
	refuse(f->pub, tok, "missing exp");
	mk_times(tok, f, ",\"exp\":\"1700003600\"");
	refuse(f->pub, tok, "bad exp");
	mk_times(tok, f, ",\"exp\":true");
	refuse(f->pub, tok, "bad exp");
	mk_times(tok, f, ",\"exp\":null");
	refuse(f->pub, tok, "bad exp");
	mk_times(tok, f, ",\"exp\":1e300");
	refuse(f->pub, tok, "bad exp");
	mk_times(tok, f, ",\"exp\":9223372036854775807");
	accept(f->pub, tok, &c);
	mk_times(tok, f, ",\"exp\":9223372036854775808");
	refuse(f->pub, tok, "bad payload");

	mk_times(tok, f, ",\"exp\":1700003600,\"nbf\":1700000031");
	refuse(f->pub, tok, "not yet valid");
	mk_times(tok, f, ",\"exp\":1700003600,\"nbf\":1700000030");
	accept(f->pub, tok, &c);
	mk_times(tok, f, ",\"exp\":1700003600,\"nbf\":\"soon\"");
	refuse(f->pub, tok, "bad nbf");
	mk_times(tok, f, ",\"exp\":1700003600,\"iat\":1700000031");
	refuse(f->pub, tok, "issued in the future");
	mk_times(tok, f, ",\"exp\":1700003600,\"iat\":1700000030");
	accept(f->pub, tok, &c);
	mk_times(tok, f, ",\"exp\":1700003600,\"iat\":[]");
	refuse(f->pub, tok, "bad iat");
}

static void
test_lifetime(void **state)
{
	struct fixture *f = *state;
	const struct jwt_policy day = { "authenticated", ISS, 30, 86400 };
	struct jwt_claims c;
	char tok[TOKMAX];

	/* exp - iat: a day is the most; when it was issued does not matter. */
	mk_times(tok, f, ",\"iat\":1699990000,\"exp\":1700076400");
	accept_len(f->pub, tok, strlen(tok), &day, &c);
	mk_times(tok, f, ",\"iat\":1699990000,\"exp\":1700076401");
	refuse_len(f->pub, tok, strlen(tok), &day, "lifetime too long");
	mk_times(tok, f, ",\"iat\":1700000000,\"exp\":4611686018427387904");
	refuse_len(f->pub, tok, strlen(tok), &day, "lifetime too long");
	mk_times(tok, f, ",\"iat\":-9223372036854775807,\"exp\":1700003600");
	refuse_len(f->pub, tok, strlen(tok), &day, "lifetime too long");
	mk_times(tok, f, ",\"iat\":1700000000,\"exp\":9223372036854775807");
	refuse_len(f->pub, tok, strlen(tok), &day, "lifetime too long");
	/* Without iat, exp - now, with the leeway (30 s). */
	mk_times(tok, f, ",\"exp\":1700086430");
	accept_len(f->pub, tok, strlen(tok), &day, &c);
	mk_times(tok, f, ",\"exp\":1700086431");
	refuse_len(f->pub, tok, strlen(tok), &day, "lifetime too long");
	mk_times(tok, f, ",\"exp\":9223372036854775807");
	refuse_len(f->pub, tok, strlen(tok), &day, "lifetime too long");
	/* 0 is no limit (the policy above without max_lifetime_s). */
	accept(f->pub, tok, &c);

	/* Supabase's service_role key lives for years: exempt. */
	mk_hs(tok, HS_HDR,
	    "{\"iss\":\"" ISS "\",\"role\":\"service_role\","
	    "\"iat\":1600000000,\"exp\":2000000000}",
	    SECRET, strlen(SECRET));
	accept_len(f->hs, tok, strlen(tok), &day, &c);
	mk_hs(tok, HS_HDR,
	    "{\"iss\":\"" ISS "\",\"role\":\"authenticated\","
	    "\"aud\":\"authenticated\",\"iat\":1600000000,\"exp\":2000000000}",
	    SECRET, strlen(SECRET));
	refuse_len(f->hs, tok, strlen(tok), &day, "lifetime too long");
}

static void
mk_claims(char *tok, const struct fixture *f, const char *claims)
{
	char payload[512];

	snprintf(payload, sizeof(payload), "{\"exp\":1700003600%s}", claims);
	mk_pk(tok, ES_HDR, payload, f->ec);
}

static void
test_aud_iss_sub_role(void **state)
{
	struct fixture *f = *state;
	const struct jwt_policy any = { NULL, NULL, 30, 0 };
	struct jwt_claims c;
	char tok[TOKMAX];

	mk_claims(tok, f,
	    ",\"aud\":[\"other\",\"authenticated\"],\"iss\":\"" ISS "\"");
	accept(f->pub, tok, &c);
	mk_claims(tok, f, ",\"aud\":\"anon\",\"iss\":\"" ISS "\"");
	refuse(f->pub, tok, "wrong audience");
	mk_claims(tok, f, ",\"aud\":[\"other\"],\"iss\":\"" ISS "\"");
	refuse(f->pub, tok, "wrong audience");
	mk_claims(tok, f, ",\"aud\":[],\"iss\":\"" ISS "\"");
	refuse(f->pub, tok, "wrong audience");
	mk_claims(tok, f, ",\"iss\":\"" ISS "\"");
	refuse(f->pub, tok, "wrong audience");
	accept_len(f->pub, tok, strlen(tok), &any, &c);
	mk_claims(tok, f, ",\"aud\":[\"authenticated\",1],\"iss\":\"" ISS "\"");
	refuse(f->pub, tok, "bad aud");
	mk_claims(tok, f, ",\"aud\":{},\"iss\":\"" ISS "\"");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad aud");

	mk_claims(tok, f,
	    ",\"aud\":\"authenticated\",\"iss\":\"https://evil\"");
	refuse(f->pub, tok, "wrong issuer");
	accept_len(f->pub, tok, strlen(tok), &any, &c);
	mk_claims(tok, f, ",\"aud\":\"authenticated\"");
	refuse(f->pub, tok, "wrong issuer");
	mk_claims(tok, f, ",\"aud\":\"authenticated\",\"iss\":1");
	refuse(f->pub, tok, "wrong issuer");

	/* sub and role are copied only when they fit, whole. */
	mk_claims(tok, f,
	    ",\"sub\":\"123456789012345678901234567890123456789"
	    "012345678901234567890123\"");
	accept_len(f->pub, tok, strlen(tok), &any, &c);
	assert_int_equal(strlen(c.sub), 63);
	mk_claims(tok, f,
	    ",\"sub\":\"123456789012345678901234567890123456789"
	    "0123456789012345678901234\"");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad sub");
	mk_claims(tok, f, ",\"sub\":42");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad sub");
	mk_claims(tok, f, ",\"sub\":\"a\\nb\"");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad sub");
	mk_claims(tok, f, ",\"role\":\"1234567890123456789012345678901\"");
	accept_len(f->pub, tok, strlen(tok), &any, &c);
	mk_claims(tok, f, ",\"role\":\"12345678901234567890123456789012\"");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad role");
	mk_claims(tok, f, ",\"role\":null");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad role");
}

/* is_anonymous is copied, a boolean or absent; hs256 says which key verified. */
static void
test_anonymous_and_legacy(void **state)
{
	struct fixture *f = *state;
	const struct jwt_policy any = { NULL, NULL, 30, 0 };
	struct jwt_claims c;
	char tok[TOKMAX];

	mk_claims(tok, f,
	    ",\"sub\":\"" SUB "\",\"role\":\"authenticated\","
	    "\"is_anonymous\":true");
	accept_len(f->pub, tok, strlen(tok), &any, &c);
	assert_true(c.is_anonymous);
	assert_false(c.hs256);
	mk_claims(tok, f, ",\"is_anonymous\":false");
	accept_len(f->pub, tok, strlen(tok), &any, &c);
	assert_false(c.is_anonymous);
	mk_claims(tok, f, "");
	accept_len(f->pub, tok, strlen(tok), &any, &c);
	assert_false(c.is_anonymous);
	mk_claims(tok, f, ",\"is_anonymous\":\"true\"");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad is_anonymous");
	mk_claims(tok, f, ",\"is_anonymous\":1");
	refuse_len(f->pub, tok, strlen(tok), &any, "bad is_anonymous");

	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, tok, &c);
	assert_true(c.hs256);
	mk_pk(tok, ES_HDR, USER_CLAIMS, f->ec);
	accept(f->all, tok, &c);
	assert_false(c.hs256);
}

static void
test_alg_none_and_unknown(void **state)
{
	struct fixture *f = *state;
	static const char *const algs[] = {
		"none",
		"None",
		"NONE",
		"nOnE",
		"",
		"HS512",
		"hs256",
		"ES256K",
		"RS512",
		"PS256",
		"EdDSA",
	};
	char tok[TOKMAX], hdr[128], mac[TOKMAX];
	size_t i, n;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
		    algs[i]);
		n = signing_input(tok, hdr, USER_CLAIMS);
		refuse(f->all, tok, "not three base64url parts");
		tok[n] = '.';
		tok[n + 1] = '\0';
		refuse(f->all, tok, "algorithm not allowed");
		/* With a real HS256 signature over it, too. */
		mk_hs(tok, hdr, USER_CLAIMS, SECRET, strlen(SECRET));
		refuse(f->all, tok, "algorithm not allowed");
	}
	/* The same, untouched but for alg, is accepted: the tests can fail. */
	mk_hs(mac, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, mac, &(struct jwt_claims){ 0 });
	mk_hs(tok, "{\"typ\":\"JWT\"}", USER_CLAIMS, SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad header");
	mk_hs(tok, "{\"alg\":[\"HS256\"]}", USER_CLAIMS, SECRET,
	    strlen(SECRET));
	refuse(f->all, tok, "bad header");
	mk_hs(tok, "{\"alg\":null}", USER_CLAIMS, SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad header");
	/* An HS256 token without its signature. */
	n = signing_input(tok, HS_HDR, USER_CLAIMS);
	tok[n] = '.';
	tok[n + 1] = '\0';
	refuse(f->all, tok, "missing signature");
}

/*
 * The classic key confusion: HMAC with the public key's bytes as the secret.
 * A server that lets the token choose the algorithm accepts it.
 */
static void
test_hs256_with_public_key(void **state)
{
	struct fixture *f = *state;
	struct jwt_keys *k = NULL;
	struct jwt_claims c;
	char tok[TOKMAX], err[PC_ERRLEN];

	mk_hs(tok, "{\"alg\":\"HS256\",\"kid\":\"ec-1\"}", USER_CLAIMS,
	    f->ec_jwk, strlen(f->ec_jwk));
	refuse(f->pub, tok, "algorithm not allowed");
	refuse(f->all, tok, "bad signature");
	/* Control: with those bytes as the configured secret it verifies. */
	write_file(f->scratch, f->ec_jwk, 0600);
	assert_int_equal(jwt_keys_load(f->scratch, NULL, &k, err), PC_OK);
	accept(k, tok, &c);
	jwt_keys_free(k);

	mk_hs(tok, HS_HDR, USER_CLAIMS, f->ec_jwk, strlen(f->ec_jwk));
	refuse(f->pub, tok, "algorithm not allowed");
	mk_hs(tok, "{\"alg\":\"HS256\",\"kid\":\"rsa-1\"}", USER_CLAIMS,
	    f->rsa_pem, strlen(f->rsa_pem));
	refuse(f->pub, tok, "algorithm not allowed");
	mk_hs(tok, HS_HDR, USER_CLAIMS, f->rsa_pem, strlen(f->rsa_pem));
	refuse(f->pub, tok, "algorithm not allowed");
	refuse(f->all, tok, "bad signature");
}

/* Replace part i (0, 1 or 2) of tok with text. */
static void
swap_part(char *tok, int i, const char *text)
{
	char out[TOKMAX], *p = tok, *end;
	int j;

	for (j = 0; j < i; j++)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	snprintf(out, sizeof(out), "%.*s%s%s", (int)(p - tok), tok, text,
	    end != NULL ? end : "");
	memcpy(tok, out, strlen(out) + 1);
}

static void
test_tampered(void **state)
{
	struct fixture *f = *state;
	static const char evil[] =
	    "{\"sub\":\"" SUB "\",\"role\":\"service_role\","
	    "\"aud\":\"authenticated\",\"iss\":\"" ISS "\",\"exp\":1700003600}";
	struct jwt_claims c;
	char tok[TOKMAX], seg[1024], *sig;
	unsigned char raw[96];
	size_t n;

	b64url((const unsigned char *)evil, strlen(evil), seg, sizeof(seg));

	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, tok, &c);
	swap_part(tok, 1, seg);
	refuse(f->all, tok, "bad signature");

	mk_pk(tok, ES_HDR, USER_CLAIMS, f->ec);
	accept(f->pub, tok, &c);
	swap_part(tok, 1, seg);
	refuse(f->pub, tok, "bad signature");

	mk_pk(tok, RS_HDR, USER_CLAIMS, f->rsa);
	accept(f->pub, tok, &c);
	swap_part(tok, 1, seg);
	refuse(f->pub, tok, "bad signature");

	/* One flipped signature bit. */
	mk_pk(tok, RS_HDR, USER_CLAIMS, f->rsa);
	sig = strrchr(tok, '.') + 10;
	*sig = *sig == 'A' ? 'B' : 'A';
	refuse(f->pub, tok, "bad signature");
	mk_pk(tok, ES_HDR, USER_CLAIMS, f->ec);
	sig = strrchr(tok, '.') + 10;
	*sig = *sig == 'A' ? 'B' : 'A';
	refuse(f->pub, tok, "bad signature");

	/* ECDSA: DER (as some signers send) and wrong lengths. */
	mk_pk_sig(tok, ES_HDR, USER_CLAIMS, f->ec, 1);
	refuse(f->pub, tok, "bad signature");
	memset(raw, 1, sizeof(raw));
	for (n = 0; n <= sizeof(raw); n += 1) {
		if (n == 64)
			continue;
		signing_input(tok, ES_HDR, USER_CLAIMS);
		append_sig(tok, raw, n);
		refuse(f->pub, tok,
		    n == 0 ? "missing signature" : "bad signature");
	}
	/* A good signature with bytes after it. */
	mk_pk(tok, ES_HDR, USER_CLAIMS, f->ec);
	accept(f->pub, tok, &c);
	sig = strrchr(tok, '.') + 1;
	assert_int_equal(b64_decode_test(sig, raw, sizeof(raw)), 64);
	raw[64] = 0;
	signing_input(tok, ES_HDR, USER_CLAIMS);
	append_sig(tok, raw, 65);
	refuse(f->pub, tok, "bad signature");
	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	sig = strrchr(tok, '.') + 1;
	assert_int_equal(b64_decode_test(sig, raw, sizeof(raw)), 32);
	signing_input(tok, HS_HDR, USER_CLAIMS);
	append_sig(tok, raw, 33);
	refuse(f->all, tok, "bad signature");
	/* r = s = 0 is a 64-byte signature too. */
	memset(raw, 0, sizeof(raw));
	signing_input(tok, ES_HDR, USER_CLAIMS);
	append_sig(tok, raw, 64);
	refuse(f->pub, tok, "bad signature");

	/* RSA: a signature one byte short, and one byte long. */
	mk_pk(tok, RS_HDR, USER_CLAIMS, f->rsa);
	sig = strrchr(tok, '.') + 1;
	n = strlen(sig);
	sig[n - 4] = '\0'; /* 342 chars: 256 bytes; 338: 253 */
	refuse(f->pub, tok, "bad signature");

	/* HMAC: truncated, and a signature from another token. */
	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	sig = strrchr(tok, '.') + 1;
	sig[40] = '\0';
	refuse(f->all, tok, "bad signature");
	mk_hs(seg, HS_HDR, "{\"exp\":1}", SECRET, strlen(SECRET));
	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	swap_part(tok, 2, strrchr(seg, '.') + 1);
	refuse(f->all, tok, "bad signature");
}

/* USER_CLAIMS with a filler claim of n bytes, in a malloc()ed string. */
static char *
padded_claims(size_t n)
{
	size_t size = n + sizeof(USER_CLAIMS) + 16;
	char *fill = malloc(n + 1), *out = malloc(size);

	assert_non_null(fill);
	assert_non_null(out);
	memset(fill, 'x', n);
	fill[n] = '\0';
	snprintf(out, size, "{\"fill\":\"%s\",%s", fill, USER_CLAIMS + 1);
	free(fill);
	return out;
}

/* Make the last character of a base64url string set an unused bit. */
static void
set_unused_bit(char *p)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *at = strchr(alphabet, *p);

	assert_non_null(at);
	*p = alphabet[(at - alphabet) | 1];
	assert_true(*p != *at);
}

static void
test_malformed(void **state)
{
	struct fixture *f = *state;
	static const char *const shapes[] = {
		"abc",
		"a.b",
		"a.b.c.d",
		".b.c",
		"a..c",
		"..",
		"...",
		".",
	};
	struct jwt_claims c;
	char tok[2 * TOKMAX], good[TOKMAX];
	size_t i, n;

	refuse_len(f->all, "", 0, &policy, "empty token");
	refuse_len(f->all, NULL, 0, &policy, "empty token");
	for (i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++)
		refuse(f->all, shapes[i], "not three base64url parts");

	mk_hs(good, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, good, &c);
	n = strlen(good);

	/* Too many dots: trailing, or a second signature. */
	snprintf(tok, sizeof(tok), "%s.", good);
	refuse(f->all, tok, "not three base64url parts");
	snprintf(tok, sizeof(tok), "%s.%s", good, strrchr(good, '.') + 1);
	refuse(f->all, tok, "not three base64url parts");
	/* The token is len bytes: a NUL inside it, or bytes cut off. */
	memcpy(tok, good, n + 1);
	tok[5] = '\0';
	refuse_len(f->all, tok, n, &policy, "bad header");
	refuse_len(f->all, good, n - 1, &policy, "bad signature");
	refuse_len(f->all, good, 20, &policy, "not three base64url parts");
	/* White space, padding and the standard alphabet are not base64url. */
	snprintf(tok, sizeof(tok), " %s", good);
	refuse(f->all, tok, "bad header");
	snprintf(tok, sizeof(tok), "%s ", good);
	refuse(f->all, tok, "bad signature encoding");
	snprintf(tok, sizeof(tok), "%s=", good);
	refuse(f->all, tok, "bad signature encoding");
	memcpy(tok, good, n + 1);
	tok[3] = '+';
	refuse(f->all, tok, "bad header");
	memcpy(tok, good, n + 1);
	tok[3] = '/';
	refuse(f->all, tok, "bad header");
	memcpy(tok, good, n + 1);
	strrchr(tok, '.')[3] = '%';
	refuse(f->all, tok, "bad signature encoding");
	/* The payload is looked at only once the signature holds. */
	memcpy(tok, good, n + 1);
	strchr(tok, '.')[3] = '/';
	refuse(f->all, tok, "bad signature");
	/* 44 characters decode to 33 bytes; 45 (4n+1) cannot be base64. */
	snprintf(tok, sizeof(tok), "%sA", good);
	refuse(f->all, tok, "bad signature");
	snprintf(tok, sizeof(tok), "%sAA", good);
	refuse(f->all, tok, "bad signature encoding");
	/*
	 * Non-canonical base64url: the HS256 signature's 43rd character has
	 * two unused bits; setting one decodes to the same MAC.
	 */
	memcpy(tok, good, n + 1);
	assert_int_equal(strlen(strrchr(tok, '.') + 1), 43);
	set_unused_bit(tok + n - 1);
	refuse(f->all, tok, "bad signature encoding");

	/* Header and payload are JSON objects without duplicate keys. */
	mk_hs(tok, "[\"HS256\"]", USER_CLAIMS, SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad header");
	mk_hs(tok, "\"HS256\"", USER_CLAIMS, SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad header");
	mk_hs(tok, "{\"alg\":\"HS256\"", USER_CLAIMS, SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad header");
	mk_hs(tok, "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", USER_CLAIMS, SECRET,
	    strlen(SECRET));
	refuse(f->all, tok, "bad header");
	mk_hs(tok, "{\"alg\":\"ES256\",\"alg\":\"HS256\"}", USER_CLAIMS, SECRET,
	    strlen(SECRET));
	refuse(f->all, tok, "bad header");
	mk_hs(tok, HS_HDR, "[1]", SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad payload");
	mk_hs(tok, HS_HDR, "{\"exp\":1700003600", SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad payload");
	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"role\":\"authenticated\","
	    "\"role\":\"service_role\",\"aud\":\"authenticated\",\"iss\":\"" ISS
	    "\",\"exp\":1700003600}",
	    SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad payload");
	mk_hs(tok, HS_HDR, USER_CLAIMS "{}", SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad payload");
	mk_hs(tok, HS_HDR, "{\"sub\":\"a\\u0000b\",\"exp\":1700003600}", SECRET,
	    strlen(SECRET));
	refuse(f->all, tok, "bad payload");
	mk_hs(tok, HS_HDR, USER_CLAIMS " \n", SECRET, strlen(SECRET));
	accept(f->all, tok, &c);

	/* typ, when present, is JWT; crit is never understood. */
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", USER_CLAIMS, SECRET,
	    strlen(SECRET));
	accept(f->all, tok, &c);
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", USER_CLAIMS,
	    SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad token type");
	mk_hs(tok, "{\"alg\":\"HS256\",\"typ\":1}", USER_CLAIMS, SECRET,
	    strlen(SECRET));
	refuse(f->all, tok, "bad token type");
	mk_hs(tok, "{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}",
	    USER_CLAIMS, SECRET, strlen(SECRET));
	refuse(f->all, tok, "critical header");
}

static void
test_size_caps(void **state)
{
	struct fixture *f = *state;
	struct jwt_claims c;
	char tok[TOKMAX], hdr[1200], *claims;
	size_t n;

	/* A header of 1024 bytes passes, one of 1025 does not. */
	memset(hdr, ' ', sizeof(hdr));
	memcpy(hdr, HS_HDR, strlen(HS_HDR));
	hdr[1024] = '\0';
	mk_hs(tok, hdr, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, tok, &c);
	hdr[1024] = ' ';
	hdr[1025] = '\0';
	mk_hs(tok, hdr, USER_CLAIMS, SECRET, strlen(SECRET));
	refuse(f->all, tok, "bad header");

	/* Header 36, signature 43, two dots: 8111 characters of payload. */
	claims = padded_claims(6083 - sizeof(USER_CLAIMS) - 9);
	mk_hs(tok, HS_HDR, claims, SECRET, strlen(SECRET));
	free(claims);
	n = strlen(tok);
	assert_int_equal(n, JWT_TOKEN_MAX);
	accept(f->all, tok, &c);
	claims = padded_claims(6084 - sizeof(USER_CLAIMS) - 9);
	mk_hs(tok, HS_HDR, claims, SECRET, strlen(SECRET));
	free(claims);
	assert_true(strlen(tok) > JWT_TOKEN_MAX);
	refuse(f->all, tok, "token too long");

	memset(tok, 'A', JWT_TOKEN_MAX + 1);
	tok[10] = '.';
	tok[20] = '.';
	refuse_len(f->all, tok, JWT_TOKEN_MAX + 1, &policy, "token too long");
	refuse_len(f->all, tok, (size_t)-1, &policy, "token too long");
}

/* Load keys expecting a refusal whose message holds needle. */
static void
load_fails(const char *secret, const char *jwks, const char *needle)
{
	struct jwt_keys *k = (struct jwt_keys *)1;
	char err[PC_ERRLEN] = "";

	if (jwt_keys_load(secret, jwks, &k, err) == PC_OK)
		fail_msg("keys loaded; expected \"%s\"", needle);
	assert_null(k);
	if (strstr(err, needle) == NULL)
		fail_msg("error \"%s\" does not name \"%s\"", err, needle);
	assert_clean_err(err, NULL, 0);
}

static void
load_ok(const char *secret, const char *jwks)
{
	struct jwt_keys *k = NULL;
	char err[PC_ERRLEN] = "";

	if (jwt_keys_load(secret, jwks, &k, err) != PC_OK)
		fail_msg("keys refused: %s", err);
	assert_non_null(k);
	jwt_keys_free(k);
}

static void
test_load_secret(void **state)
{
	struct fixture *f = *state;

	load_fails(NULL, NULL, "neither");
	load_ok(f->secret, NULL);
	assert_int_equal(chmod(f->secret, 0644), 0);
	load_fails(f->secret, NULL, "world-readable");
	load_fails(f->secret, f->jwks, "world-readable");
	assert_int_equal(chmod(f->secret, 0600), 0);
	load_ok(f->secret, NULL);
	/* RFC 7518 3.2: at least 256 bits. */
	write_file(f->scratch, "test-hs256-0123456789abcdef-0123\n", 0600);
	load_ok(f->scratch, NULL);
	write_file(f->scratch, "test-hs256-0123456789abcdef-012\n", 0600);
	load_fails(f->scratch, NULL, "at least 32 bytes");
	load_fails("/nonexistent/jwt.secret", NULL, "cannot open");
}

/* Write a JWKS holding the given keys, then expect load_fails or load_ok. */
static void
jwks_case(struct fixture *f, const char *keys, const char *needle)
{
	write_file(f->scratch, keys, 0644);
	if (needle != NULL)
		load_fails(NULL, f->scratch, needle);
	else
		load_ok(NULL, f->scratch);
}

static void
test_load_jwks(void **state)
{
	struct fixture *f = *state;
	char text[8192], jwk[2048], *big;
	EVP_PKEY *small;

	/* The good key alone, then with private and unknown members. */
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", f->ec_jwk);
	jwks_case(f, text, NULL);
	ec_jwk(f->ec, "ec-1", ",\"d\":\"AAAA\",\"ext\":true", jwk, sizeof(jwk));
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwk);
	jwks_case(f, text, NULL);

	/* Nothing usable: empty, or only keys of other kinds. */
	jwks_case(f, "{\"keys\":[]}", "no usable key");
	jwks_case(f,
	    "{\"keys\":[{\"kty\":\"oct\",\"k\":\"c2VjcmV0\","
	    "\"alg\":\"HS256\"}]}",
	    "no usable key");
	jwks_case(f,
	    "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
	    "\"x\":\"AAAA\"}]}",
	    "no usable key");
	ec_jwk(f->ec, "e", ",\"use\":\"enc\"", jwk, sizeof(jwk));
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwk);
	jwks_case(f, text, "no usable key");
	ec_jwk(f->ec, "e", ",\"key_ops\":[\"encrypt\"]", jwk, sizeof(jwk));
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwk);
	jwks_case(f, text, "no usable key");
	ec_jwk(f->ec, "e", ",\"alg\":\"ES512\"", jwk, sizeof(jwk));
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwk);
	jwks_case(f, text, "no usable key");
	/* ... which the HS256 secret makes a working setup after all. */
	load_ok(f->secret, f->scratch);

	/* Not a JWKS. */
	jwks_case(f, "", "not valid JSON");
	jwks_case(f, "{\"keys\":[", "not valid JSON");
	jwks_case(f, "[]", "no \"keys\" array");
	jwks_case(f, "{\"keys\":{}}", "no \"keys\" array");
	snprintf(text, sizeof(text), "{\"keys\":[%s],\"keys\":[]}", f->ec_jwk);
	jwks_case(f, text, "not valid JSON");
	jwks_case(f, "{\"keys\":[1]}", "key 0: not an object");
	jwks_case(f, "{\"keys\":[{\"crv\":\"P-256\"}]}", "key 0: no kty");

	/* Malformed keys of a supported kind refuse the file. */
	snprintf(text, sizeof(text), "{\"keys\":[%s,%s]}", f->ec_jwk,
	    f->ec_jwk);
	jwks_case(f, text, "key 1: kid used twice");
	ec_jwk(f->ec, "e", ",\"alg\":\"ES256\",\"crv\":\"P-384\"", jwk,
	    sizeof(jwk));
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwk);
	jwks_case(f, text, "not valid JSON"); /* crv twice */
	jwks_case(f,
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-384\",\"alg\":"
	    "\"ES256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}",
	    "crv does not match");
	jwks_case(f,
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	    "\"AAAA\",\"y\":\"AAAA\"}]}",
	    "bad x or y");
	/* 32 bytes each, but not a point on the curve. */
	jwks_case(f,
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	    "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\",\"y\":"
	    "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"}]}",
	    "not a valid EC public key");
	jwks_case(f,
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
	    "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\",\"y\":"
	    "\"AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE\"}]}",
	    "bad x or y");
	jwks_case(f, "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AAAA\"}]}", "bad e");
	jwks_case(f,
	    "{\"keys\":[{\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\"#\"}]}",
	    "bad n");
	/* 2048 bits but even, and a good modulus with an even exponent. */
	{
		unsigned char even[256];
		char n_even[400];

		memset(even, 0xc5, sizeof(even));
		even[255] = 0x02;
		b64url(even, sizeof(even), n_even, sizeof(n_even));
		snprintf(text, sizeof(text),
		    "{\"keys\":[{\"kty\":\"RSA\","
		    "\"n\":\"%s\",\"e\":\"AQAB\"}]}",
		    n_even);
		jwks_case(f, text, "not a valid RSA public key");
		even[255] = 0x03;
		b64url(even, sizeof(even), n_even, sizeof(n_even));
		snprintf(text, sizeof(text),
		    "{\"keys\":[{\"kty\":\"RSA\","
		    "\"n\":\"%s\",\"e\":\"AQAC\"}]}",
		    n_even);
		jwks_case(f, text, "not a valid RSA public key");
	}
	assert_non_null(small = EVP_RSA_gen(1024));
	rsa_jwk(small, "small", jwk, sizeof(jwk));
	EVP_PKEY_free(small);
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwk);
	jwks_case(f, text, "smaller than 2048 bits");
	snprintf(text, sizeof(text),
	    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
	    "\"kid\":\"\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}");
	jwks_case(f, text, "kid is not");
	jwks_case(f, "{\"keys\":[{\"kty\":\"EC\",\"use\":1}]}", "use is not");

	/* Not a regular file, missing, too large. */
	load_fails(NULL, f->dir, "not a regular file");
	load_fails(NULL, "/nonexistent/jwks.json", "cannot open");
	assert_non_null(big = malloc(JWT_JWKS_MAX + 2));
	snprintf(big, JWT_JWKS_MAX + 2, "{\"keys\":[%s]}", f->ec_jwk);
	memset(big + strlen(big), ' ', JWT_JWKS_MAX + 1 - strlen(big));
	big[JWT_JWKS_MAX] = '\0';
	jwks_case(f, big, NULL);
	big[JWT_JWKS_MAX] = ' ';
	big[JWT_JWKS_MAX + 1] = '\0';
	jwks_case(f, big, "larger than");
	free(big);
}

/* A fetched document, with the secret of other keys. */
static void
test_with_jwks(void **state)
{
	struct fixture *f = *state;
	struct jwt_keys *k = NULL;
	struct jwt_claims c;
	char tok[TOKMAX], hs[TOKMAX], doc[2048], err[PC_ERRLEN] = "";
	const char *url =
	    "https://ref.supabase.co/auth/v1/.well-known/jwks.json";

	snprintf(doc, sizeof(doc), "{\"keys\":[%s]}", f->ec_jwk);
	mk_pk(tok, ES_HDR, USER_CLAIMS, f->ec);
	mk_hs(hs, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));

	/* The secret of base, the keys of the document. */
	assert_int_equal(jwt_keys_with_jwks(f->hs, doc, strlen(doc), "url", url,
	                     &k, err),
	    PC_OK);
	assert_int_equal(jwt_keys_count(k), 1);
	accept(k, tok, &c);
	accept(k, hs, &c);
	refuse_kid(f->hs, tok); /* base is left alone */
	jwt_keys_free(k);

	/* Without a secret, only the document's keys. */
	assert_int_equal(jwt_keys_with_jwks(NULL, doc, strlen(doc), "url", url,
	                     &k, err),
	    PC_OK);
	accept(k, tok, &c);
	refuse(k, hs, "algorithm not allowed");
	jwt_keys_free(k);
	assert_int_equal(jwt_keys_with_jwks(f->pub, doc, strlen(doc), "url",
	                     url, &k, err),
	    PC_OK);
	refuse(k, hs, "algorithm not allowed");
	assert_int_equal(jwt_keys_count(k), 1);
	jwt_keys_free(k);

	/* An empty set: a working setup only with the secret. */
	assert_int_equal(jwt_keys_with_jwks(f->hs, "{\"keys\":[]}", 11, "url",
	                     url, &k, err),
	    PC_OK);
	assert_int_equal(jwt_keys_count(k), 0);
	accept(k, hs, &c);
	refuse_kid(k, tok);
	jwt_keys_free(k);
	k = (struct jwt_keys *)1;
	assert_int_equal(jwt_keys_with_jwks(NULL, "{\"keys\":[]}", 11, "url",
	                     url, &k, err),
	    PC_INVALID);
	assert_null(k);
	assert_non_null(strstr(err, "no usable key"));

	/* Errors name the URL, never the document. */
	assert_int_equal(jwt_keys_with_jwks(f->hs, "<html>", 6, "url", url, &k,
	                     err),
	    PC_INVALID);
	assert_non_null(strstr(err, "JWKS url https://ref.supabase.co/"));
	assert_non_null(strstr(err, "not valid JSON"));
	assert_int_equal(jwt_keys_with_jwks(f->hs, "", 0, "url", url, &k, err),
	    PC_INVALID);
	snprintf(doc, sizeof(doc), "{\"keys\":[%s,%s]}", f->ec_jwk, f->ec_jwk);
	assert_int_equal(jwt_keys_with_jwks(f->hs, doc, strlen(doc), "url", url,
	                     &k, err),
	    PC_INVALID);
	assert_non_null(strstr(err, "key 1: kid used twice"));
	assert_clean_err(err, NULL, 0);
	assert_int_equal(jwt_keys_count(NULL), 0);
}

/* What a refused token's refusal is, one token per refusal. */
static void
expect_refusal(const struct jwt_keys *k, const char *tok,
    const struct jwt_policy *pol, enum jwt_refusal want)
{
	char err[PC_ERRLEN] = "";
	enum jwt_refusal why = JWT_REFUSAL_NONE;
	struct jwt_claims c;
	enum pc_result r;

	r = jwt_verify(k, tok, strlen(tok), pol, NOW, &c, &why, err);
	assert_true(r == PC_INVALID || r == PC_NOTFOUND);
	if (why != want)
		fail_msg("refusal %d (%s), expected %d", (int)why, err,
		    (int)want);
	assert_clean_err(err, tok, strlen(tok));
	/* Without a place for the refusal, the same answer. */
	assert_int_equal(jwt_verify(k, tok, strlen(tok), pol, NOW, &c, NULL,
	                     err),
	    r);
}

static void
test_refusals(void **state)
{
	struct fixture *f = *state;
	const struct jwt_policy day = { "authenticated", ISS, 30, 86400 };
	char tok[TOKMAX], hdr[128];
	size_t n;

	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, tok, &(struct jwt_claims){ 0 });
	expect_refusal(f->all, "not-a-jwt", &policy, JWT_REFUSAL_MALFORMED);
	mk_hs(tok, HS_HDR, "[1,2]", SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_MALFORMED);
	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"aud\":\"authenticated\","
	    "\"iss\":\"" ISS "\"}",
	    SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_MALFORMED);

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\"}");
	n = signing_input(tok, hdr, USER_CLAIMS);
	tok[n] = '.';
	tok[n + 1] = '\0';
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_UNSUPPORTED_ALG);
	mk_hs(tok, "{\"alg\":\"HS512\"}", USER_CLAIMS, SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_UNSUPPORTED_ALG);
	/* HS256 where only a JWKS is configured: no key for the alg. */
	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	expect_refusal(f->pub, tok, &policy, JWT_REFUSAL_UNSUPPORTED_ALG);

	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"ec-9\"}", USER_CLAIMS, f->ec);
	expect_refusal(f->pub, tok, &policy, JWT_REFUSAL_UNKNOWN_KEY);
	mk_pk(tok, "{\"alg\":\"ES256\",\"kid\":\"rsa-1\"}", USER_CLAIMS, f->ec);
	expect_refusal(f->pub, tok, &policy, JWT_REFUSAL_UNKNOWN_KEY);

	mk_hs(tok, HS_HDR, USER_CLAIMS, "another-secret-another-secret-12345",
	    35);
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_BAD_SIGNATURE);
	mk_pk(tok, ES_HDR, USER_CLAIMS, f->ec2);
	expect_refusal(f->pub, tok, &policy, JWT_REFUSAL_BAD_SIGNATURE);
	/* No claim is judged before the signature: expired and forged. */
	mk_hs(tok, HS_HDR, "{\"sub\":\"" SUB "\",\"exp\":1}",
	    "another-secret-another-secret-12345", 35);
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_BAD_SIGNATURE);

	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"aud\":\"authenticated\","
	    "\"iss\":\"" ISS "\",\"exp\":1699990000}",
	    SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_EXPIRED);
	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"aud\":\"authenticated\","
	    "\"iss\":\"" ISS "\",\"nbf\":1700000600,\"exp\":1700003600}",
	    SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_NOT_YET_VALID);
	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"aud\":\"authenticated\","
	    "\"iss\":\"" ISS "\",\"iat\":1700000600,\"exp\":1700003600}",
	    SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_NOT_YET_VALID);
	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"aud\":\"authenticated\","
	    "\"iss\":\"" ISS "\",\"iat\":1700000000,\"exp\":1700172800}",
	    SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &day, JWT_REFUSAL_LIFETIME_TOO_LONG);
	accept(f->all, tok, &(struct jwt_claims){ 0 });
	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"aud\":\"anon\","
	    "\"iss\":\"" ISS "\",\"exp\":1700003600}",
	    SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_WRONG_AUDIENCE);
	mk_hs(tok, HS_HDR,
	    "{\"sub\":\"" SUB "\",\"aud\":\"authenticated\","
	    "\"iss\":\"https://other.supabase.co/auth/v1\","
	    "\"exp\":1700003600}",
	    SECRET, strlen(SECRET));
	expect_refusal(f->all, tok, &policy, JWT_REFUSAL_WRONG_ISSUER);
}

/* What profilecache-admin token mints, jwt_verify() takes. */
static void
test_mint(void **state)
{
	struct fixture *f = *state;
	const struct jwt_policy day = { "authenticated", ISS, 30, 86400 };
	struct jwt_mint m = { .sub = SUB,
		.role = "authenticated",
		.audience = "authenticated",
		.issuer = ISS,
		.iat = NOW - 10,
		.exp = NOW + 3600 };
	char err[PC_ERRLEN] = "", *tok = NULL;
	struct jwt_claims c;

	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_OK);
	assert_non_null(tok);
	accept_len(f->hs, tok, strlen(tok), &day, &c);
	assert_string_equal(c.sub, SUB);
	assert_string_equal(c.role, "authenticated");
	assert_int_equal(c.exp, NOW + 3600);
	assert_true(c.hs256);
	assert_false(c.is_anonymous);
	/* Only the secret signs it. */
	expect_refusal(f->pub, tok, &policy, JWT_REFUSAL_UNSUPPORTED_ALG);
	free(tok);

	m.role = "anon";
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_OK);
	accept(f->hs, tok, &c);
	assert_string_equal(c.role, "anon");
	free(tok);

	/* Claims the verifier refuses come out refused for that reason. */
	m.role = "authenticated";
	m.exp = NOW + 2 * 86400;
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_OK);
	expect_refusal(f->hs, tok, &day, JWT_REFUSAL_LIFETIME_TOO_LONG);
	free(tok);
	m.exp = NOW + 3600;
	m.audience = NULL;
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_OK);
	expect_refusal(f->hs, tok, &policy, JWT_REFUSAL_WRONG_AUDIENCE);
	free(tok);
	m.audience = "authenticated";
	m.issuer = NULL;
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_OK);
	expect_refusal(f->hs, tok, &policy, JWT_REFUSAL_WRONG_ISSUER);
	free(tok);
	m.issuer = ISS;
	assert_int_equal(jwt_mint_hs256("another-secret-another-secret-0123",
	                     34, &m, &tok, err),
	    PC_OK);
	expect_refusal(f->hs, tok, &policy, JWT_REFUSAL_BAD_SIGNATURE);
	free(tok);

	/* What it will not mint. */
	tok = (char *)"x";
	assert_int_equal(jwt_mint_hs256("short", 5, &m, &tok, err), PC_INVALID);
	assert_null(tok);
	assert_null(strstr(err, "short"));
	m.sub = "two words";
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_INVALID);
	m.sub = "";
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_INVALID);
	m.sub = SUB;
	m.role = NULL;
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_INVALID);
	m.role = "authenticated";
	m.exp = m.iat;
	assert_int_equal(jwt_mint_hs256(SECRET, strlen(SECRET), &m, &tok, err),
	    PC_INVALID);
	assert_null(tok);
}

static void
test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	enum jwt_refusal why = JWT_REFUSAL_EXPIRED;
	struct jwt_policy pol = policy;
	struct jwt_claims c;
	char tok[TOKMAX], err[PC_ERRLEN];

	mk_hs(tok, HS_HDR, USER_CLAIMS, SECRET, strlen(SECRET));
	accept(f->all, tok, &c);
	assert_int_equal(jwt_verify(NULL, tok, strlen(tok), &pol, NOW, &c, &why,
	                     err),
	    PC_ERROR);
	assert_int_equal(why, JWT_REFUSAL_NONE);
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), NULL, NOW, &c,
	                     &why, err),
	    PC_ERROR);
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, NOW, NULL,
	                     &why, err),
	    PC_ERROR);
	assert_int_equal(jwt_verify(f->all, NULL, 5, &pol, NOW, &c, &why, err),
	    PC_ERROR);
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, -1, &c,
	                     &why, err),
	    PC_ERROR);
	pol.leeway_s = -1;
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, NOW, &c,
	                     &why, err),
	    PC_ERROR);
	pol.leeway_s = JWT_LEEWAY_MAX + 1;
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, NOW, &c,
	                     &why, err),
	    PC_ERROR);
	pol.leeway_s = JWT_LEEWAY_MAX;
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, NOW, &c,
	                     &why, err),
	    PC_OK);
	pol.max_lifetime_s = -1;
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, NOW, &c,
	                     &why, err),
	    PC_ERROR);
	pol.max_lifetime_s = JWT_LIFETIME_MAX + 1;
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, NOW, &c,
	                     &why, err),
	    PC_ERROR);
	pol.max_lifetime_s = JWT_LIFETIME_MAX;
	assert_int_equal(jwt_verify(f->all, tok, strlen(tok), &pol, NOW, &c,
	                     &why, err),
	    PC_OK);
	jwt_keys_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_tokens),
		cmocka_unit_test(test_kid),
		cmocka_unit_test(test_service_role),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_lifetime),
		cmocka_unit_test(test_aud_iss_sub_role),
		cmocka_unit_test(test_anonymous_and_legacy),
		cmocka_unit_test(test_alg_none_and_unknown),
		cmocka_unit_test(test_hs256_with_public_key),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_size_caps),
		cmocka_unit_test(test_load_secret),
		cmocka_unit_test(test_load_jwks),
		cmocka_unit_test(test_with_jwks),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_mint),
		cmocka_unit_test(test_bad_arguments),
	};

	/* Skipped JWKS keys are logged as warnings; keep the output to cmocka's. */
	log_set_level(LOG_LVL_ERROR);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
