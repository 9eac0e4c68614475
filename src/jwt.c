/* Supabase JWT verification with OpenSSL: HS256, ES256 and RS256. */
#include "autoconf.h"

/*
 * Tokens are compact JWS (RFC 7515) carrying JWT claims (RFC 7519). libjwt is
 * not used: Debian 12 ships libjwt 1.10, which cannot read a JWKS and takes
 * the algorithm from the token's own header, the root of the "alg: none" and
 * "HS256 signed with the RSA public key" attacks. Here every key is bound to
 * exactly one algorithm when it is loaded; a token's "alg" only selects among
 * the keys so bound, and the HMAC secret can come only from the secret file,
 * never from a JWKS. All cryptography is OpenSSL 3's: HMAC() with
 * CRYPTO_memcmp(), EVP_DigestVerify() for ECDSA and RSA, and public keys built
 * from JWK parameters with EVP_PKEY_fromdata() and checked with
 * EVP_PKEY_public_check(). jansson parses the JSON and refuses duplicate keys.
 *
 * Order of checks in jwt_verify(): size and shape, header, algorithm and key,
 * signature, and only then the payload, so claims from an unauthenticated
 * token are never parsed. Every reason written to err is a fixed string: no
 * part of the token or of a key ever reaches it.
 */

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "config.h"
#include "jwt.h"
#include "log.h"

#define JWT_KEYS_MAX 32 /* usable keys in one JWKS */
#define JWT_KID_MAX 128
#define JWT_HEADER_MAX 1024 /* decoded header bytes */
#define JWT_PAYLOAD_MAX (JWT_TOKEN_MAX / 4 * 3)
#define JWT_RSA_MIN_BITS 2048
#define JWT_RSA_MAX_BYTES 512 /* 4096-bit modulus, and signature */
#define JWT_RSA_E_MAX 8
#define JWT_EC_COORD_MAX 66 /* P-521's, the largest curve coordinate */
#define JWT_SIG_MAX JWT_RSA_MAX_BYTES

/* Scratch for base64url: the longest input padded, and what it decodes to. */
#define B64_TEXT_MAX (JWT_TOKEN_MAX + 4)
#define B64_DATA_MAX (B64_TEXT_MAX / 4 * 3)

enum jwt_kind { JWT_HMAC, JWT_ECDSA, JWT_RSA };

struct jwt_alg {
	const char *name; /* the JWS "alg" */
	enum jwt_kind kind;
	const EVP_MD *(*md)(void);
	const char *crv;   /* ECDSA: the JWK "crv" */
	const char *group; /* ECDSA: OpenSSL's name for that curve */
	size_t coord;      /* ECDSA: bytes of r, s, x and y each */
};

/* What Supabase signs with; adding ES384 or RS512 is one line each. */
static const struct jwt_alg jwt_algs[] = {
	{ .name = "HS256", .kind = JWT_HMAC, .md = EVP_sha256 },
	{ .name = "ES256",
	    .kind = JWT_ECDSA,
	    .md = EVP_sha256,
	    .crv = "P-256",
	    .group = "prime256v1",
	    .coord = 32 },
	{ .name = "RS256", .kind = JWT_RSA, .md = EVP_sha256 },
};
#define NALGS (sizeof(jwt_algs) / sizeof(jwt_algs[0]))

struct jwt_key {
	const struct jwt_alg *alg; /* the one algorithm it verifies */
	char kid[JWT_KID_MAX + 1]; /* empty: the JWK has no kid */
	EVP_PKEY *pkey;
};

struct jwt_keys {
	char *secret; /* HS256; NULL when not configured */
	size_t secret_len;
	struct jwt_key keys[JWT_KEYS_MAX];
	size_t nkeys;
};

/* A slice of the token: one of its three dot-separated parts. */
struct span {
	const char *p;
	size_t n;
};

static const struct jwt_alg *
jwt_alg_find(const char *name, enum jwt_kind kind)
{
	size_t i;

	for (i = 0; i < NALGS; i++)
		if (jwt_algs[i].kind == kind &&
		    strcmp(jwt_algs[i].name, name) == 0)
			return &jwt_algs[i];
	return NULL;
}

/*
 * Decode base64url without padding (RFC 7515 section 2) into out, which holds
 * outmax bytes. Strict: only the URL-safe alphabet, no '=', and only the
 * canonical spelling (unused trailing bits zero), checked by encoding the
 * result again, so one value has exactly one encoding. -1 when invalid or
 * longer than outmax.
 */
static int
b64url_decode(const char *in, size_t inlen, unsigned char *out, size_t outmax,
    size_t *outlen)
{
	unsigned char text[B64_TEXT_MAX + 1], data[B64_DATA_MAX];
	size_t i, n, pad, len;
	int got;

	if (inlen > JWT_TOKEN_MAX || inlen % 4 == 1)
		return -1;
	if (inlen == 0) {
		*outlen = 0;
		return 0;
	}
	for (i = 0; i < inlen; i++) {
		char c = in[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		             (c >= '0' && c <= '9')))
			return -1;
		text[i] = (unsigned char)c;
	}
	pad = (4 - inlen % 4) % 4;
	for (n = inlen; n < inlen + pad; n++)
		text[n] = '=';
	/* EVP_DecodeBlock() counts the padding as zero bytes: take them off. */
	if ((got = EVP_DecodeBlock(data, text, (int)n)) < 0 ||
	    (size_t)got < pad)
		return -1;
	len = (size_t)got - pad;
	if (len > outmax)
		return -1;
	(void)EVP_EncodeBlock(text, data, (int)len);
	for (i = 0; i < inlen; i++) {
		char c = (char)text[i];

		if (c == '+')
			c = '-';
		else if (c == '/')
			c = '_';
		if (c != in[i])
			return -1;
	}
	memcpy(out, data, len);
	*outlen = len;
	return 0;
}

/*
 * Wrap an OSSL_PARAM_BLD's parameters into a public key of the given type
 * ("EC", "RSA") and check it (point on the curve, sane modulus). *out is
 * owned by the caller on PC_OK.
 */
static enum pc_result
pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out,
    char *err)
{
	enum pc_result r = PC_ERROR;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *pkey = NULL;

	*out = NULL;
	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		pc_err(err, "OpenSSL cannot build %s keys", type);
		goto out;
	}
	r = PC_INVALID;
	if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    (check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(check) != 1) {
		pc_err(err, "not a valid %s public key", type);
		goto out;
	}
	*out = pkey;
	pkey = NULL;
	r = PC_OK;
out:
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return r;
}

/* A JWK member that must be a base64url string of 1 to max bytes. */
static int
jwk_bytes(const json_t *jwk, const char *name, unsigned char *out, size_t max,
    size_t *len)
{
	const json_t *v = json_object_get(jwk, name);

	if (!json_is_string(v) ||
	    b64url_decode(json_string_value(v), json_string_length(v), out, max,
	        len) != 0 ||
	    *len == 0)
		return -1;
	return 0;
}

static enum pc_result
jwk_ec(const json_t *jwk, const char *alg_name, struct jwt_key *key, char *err)
{
	enum pc_result r = PC_INVALID;
	unsigned char pt[1 + 2 * JWT_EC_COORD_MAX];
	const struct jwt_alg *alg = NULL;
	const char *crv;
	OSSL_PARAM_BLD *bld = NULL;
	size_t i, xlen, ylen;

	if ((crv = json_string_value(json_object_get(jwk, "crv"))) == NULL) {
		pc_err(err, "EC key without crv");
		goto out;
	}
	for (i = 0; i < NALGS && alg == NULL; i++) {
		if (jwt_algs[i].kind != JWT_ECDSA)
			continue;
		if (alg_name != NULL ? strcmp(jwt_algs[i].name, alg_name) == 0 :
		                       strcmp(jwt_algs[i].crv, crv) == 0)
			alg = &jwt_algs[i];
	}
	if (alg == NULL) {
		r = PC_NOTFOUND;
		pc_err(err, "unsupported EC %s",
		    alg_name != NULL ? "alg" : "crv");
		goto out;
	}
	if (strcmp(alg->crv, crv) != 0) {
		pc_err(err, "crv does not match alg");
		goto out;
	}
	pt[0] = 0x04; /* SEC 1 uncompressed point: x then y */
	if (jwk_bytes(jwk, "x", pt + 1, alg->coord, &xlen) != 0 ||
	    jwk_bytes(jwk, "y", pt + 1 + alg->coord, alg->coord, &ylen) != 0 ||
	    xlen != alg->coord || ylen != alg->coord) {
		pc_err(err, "bad x or y");
		goto out;
	}
	r = PC_ERROR;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	        alg->group, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt,
	        1 + 2 * alg->coord) != 1) {
		pc_err(err, "out of memory");
		goto out;
	}
	if ((r = pkey_from_params("EC", bld, &key->pkey, err)) != PC_OK)
		goto out;
	key->alg = alg;
out:
	OSSL_PARAM_BLD_free(bld);
	return r;
}

static enum pc_result
jwk_rsa(const json_t *jwk, const char *alg_name, struct jwt_key *key, char *err)
{
	enum pc_result r = PC_INVALID;
	unsigned char nb[JWT_RSA_MAX_BYTES], eb[JWT_RSA_E_MAX];
	const struct jwt_alg *alg;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	size_t nlen, elen;

	if ((alg = jwt_alg_find(alg_name != NULL ? alg_name : "RS256",
	         JWT_RSA)) == NULL) {
		r = PC_NOTFOUND;
		pc_err(err, "unsupported RSA alg");
		goto out;
	}
	if (jwk_bytes(jwk, "n", nb, sizeof(nb), &nlen) != 0) {
		pc_err(err, "bad n (or modulus over %d bits)",
		    JWT_RSA_MAX_BYTES * 8);
		goto out;
	}
	if (jwk_bytes(jwk, "e", eb, sizeof(eb), &elen) != 0) {
		pc_err(err, "bad e");
		goto out;
	}
	r = PC_ERROR;
	if ((n = BN_bin2bn(nb, (int)nlen, NULL)) == NULL ||
	    (e = BN_bin2bn(eb, (int)elen, NULL)) == NULL ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1) {
		pc_err(err, "out of memory");
		goto out;
	}
	if ((r = pkey_from_params("RSA", bld, &key->pkey, err)) != PC_OK)
		goto out;
	if (EVP_PKEY_get_bits(key->pkey) < JWT_RSA_MIN_BITS) {
		r = PC_INVALID;
		pc_err(err, "RSA key smaller than %d bits", JWT_RSA_MIN_BITS);
		goto out;
	}
	key->alg = alg;
out:
	if (r != PC_OK) {
		EVP_PKEY_free(key->pkey);
		key->pkey = NULL;
	}
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return r;
}

/* True when the optional JWK member "key_ops" allows "verify". */
static int
jwk_can_verify(const json_t *jwk)
{
	const json_t *ops = json_object_get(jwk, "key_ops"), *op;
	size_t i;

	if (ops == NULL)
		return 1;
	json_array_foreach(ops, i, op) {
		if (json_is_string(op) &&
		    strcmp(json_string_value(op), "verify") == 0)
			return 1;
	}
	return 0;
}

/*
 * Turn one JWK into *key. PC_NOTFOUND: a key of a kind not used here, to be
 * skipped; PC_INVALID: a malformed key. Private members are never looked at.
 */
static enum pc_result
jwk_load(const json_t *jwk, struct jwt_key *key, char *err)
{
	const json_t *v;
	const char *kty, *use, *alg = NULL;
	size_t i, len;

	memset(key, 0, sizeof(*key));
	if (!json_is_object(jwk)) {
		pc_err(err, "not an object");
		return PC_INVALID;
	}
	if ((kty = json_string_value(json_object_get(jwk, "kty"))) == NULL) {
		pc_err(err, "no kty");
		return PC_INVALID;
	}
	if ((v = json_object_get(jwk, "use")) != NULL) {
		if ((use = json_string_value(v)) == NULL) {
			pc_err(err, "use is not a string");
			return PC_INVALID;
		}
		if (strcmp(use, "sig") != 0) {
			pc_err(err, "use is not sig");
			return PC_NOTFOUND;
		}
	}
	if ((v = json_object_get(jwk, "key_ops")) != NULL) {
		if (!json_is_array(v)) {
			pc_err(err, "key_ops is not an array");
			return PC_INVALID;
		}
		if (!jwk_can_verify(jwk)) {
			pc_err(err, "key_ops lacks verify");
			return PC_NOTFOUND;
		}
	}
	if ((v = json_object_get(jwk, "alg")) != NULL &&
	    (alg = json_string_value(v)) == NULL) {
		pc_err(err, "alg is not a string");
		return PC_INVALID;
	}
	if ((v = json_object_get(jwk, "kid")) != NULL) {
		if (!json_is_string(v) || (len = json_string_length(v)) == 0 ||
		    len > JWT_KID_MAX) {
			pc_err(err, "kid is not a string of 1 to %d bytes",
			    JWT_KID_MAX);
			return PC_INVALID;
		}
		for (i = 0; i < len; i++) {
			unsigned char c;

			c = (unsigned char)json_string_value(v)[i];
			if (c < 0x20 || c == 0x7f) {
				pc_err(err, "kid holds control characters");
				return PC_INVALID;
			}
		}
		memcpy(key->kid, json_string_value(v), len);
	}
	if (strcmp(kty, "EC") == 0)
		return jwk_ec(jwk, alg, key, err);
	if (strcmp(kty, "RSA") == 0)
		return jwk_rsa(jwk, alg, key, err);
	/* "oct" lands here too: a JWKS never supplies an HMAC secret. */
	pc_err(err, "unsupported kty");
	return PC_NOTFOUND;
}

/*
 * Add the usable keys of the JWKS document data[0..len) to k. what and name
 * say where it came from ("file" and a path, "url" and a URL) in err and in
 * logs. A document without a usable key is refused unless k holds the
 * secret (Supabase serves {"keys":[]} to projects that still sign with the
 * legacy secret: with the secret alone that is still a working setup).
 */
static enum pc_result
jwt_jwks_add(struct jwt_keys *k, const char *data, size_t len, const char *what,
    const char *name, char *err)
{
	enum pc_result r = PC_INVALID;
	char why[PC_ERRLEN];
	struct jwt_key *key;
	json_error_t jerr;
	json_t *root = NULL, *keys, *jwk;
	size_t i, j;

	if (len == 0 ||
	    (root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	        NULL) {
		/* Not jerr.text: it quotes the document, maybe a private key. */
		pc_err(err, "JWKS %s %s:%d:%d: not valid JSON", what, name,
		    len == 0 ? 1 : jerr.line, len == 0 ? 1 : jerr.column);
		goto out;
	}
	if (!json_is_object(root) ||
	    !json_is_array(keys = json_object_get(root, "keys"))) {
		pc_err(err, "JWKS %s %s: no \"keys\" array", what, name);
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		if (k->nkeys == JWT_KEYS_MAX) {
			pc_err(err, "JWKS %s %s: more than %d usable keys",
			    what, name, JWT_KEYS_MAX);
			goto out;
		}
		key = &k->keys[k->nkeys];
		switch ((r = jwk_load(jwk, key, why))) {
		case PC_OK:
			break;
		case PC_NOTFOUND:
			log_warn("jwks_key_skipped",
			    "%s=%s index=%zu reason=\"%s\"", what, name, i,
			    why);
			continue;
		default:
			pc_err(err, "JWKS %s %s: key %zu: %s", what, name, i,
			    why);
			goto out;
		}
		k->nkeys++;
		r = PC_INVALID;
		for (j = 0; key->kid[0] != '\0' && j < k->nkeys - 1; j++) {
			if (strcmp(k->keys[j].kid, key->kid) == 0) {
				pc_err(err,
				    "JWKS %s %s: key %zu: kid used "
				    "twice",
				    what, name, i);
				goto out;
			}
		}
	}
	r = PC_INVALID;
	if (k->nkeys == 0 && k->secret == NULL) {
		pc_err(err,
		    "JWKS %s %s: no usable key (ES256 P-256 or RS256 "
		    "signing keys)",
		    what, name);
		goto out;
	}
	if (k->nkeys == 0)
		log_warn("jwks_empty", "%s=%s", what, name);
	r = PC_OK;
out:
	json_decref(root);
	return r;
}

enum pc_result
jwt_keys_load(const char *hs256_secret_file, const char *jwks_file,
    struct jwt_keys **out, char *err)
{
	enum pc_result r = PC_INVALID;
	struct jwt_keys *k = NULL;
	struct buf b;

	*out = NULL;
	buf_init(&b, JWT_JWKS_MAX);
	(void)ERR_set_mark();
	if (hs256_secret_file == NULL && jwks_file == NULL) {
		pc_err(err, "neither a JWT secret file nor a JWKS file is set");
		goto out;
	}
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		r = PC_NOMEM;
		pc_err(err, "out of memory");
		goto out;
	}
	if (hs256_secret_file != NULL) {
		if ((r = config_read_secret(hs256_secret_file, &k->secret,
		         err)) != PC_OK)
			goto out;
		k->secret_len = strlen(k->secret);
		r = PC_INVALID;
		if (k->secret_len < JWT_SECRET_MIN) {
			pc_err(err,
			    "secret file %s: an HS256 secret needs "
			    "at least %d bytes",
			    hs256_secret_file, JWT_SECRET_MIN);
			goto out;
		}
	}
	if (jwks_file != NULL &&
	    ((r = buf_read_file(&b, jwks_file, "JWKS file", NULL, err)) !=
	            PC_OK ||
	        (r = jwt_jwks_add(k, b.data, b.len, "file", jwks_file, err)) !=
	            PC_OK))
		goto out;
	*out = k;
	k = NULL;
	r = PC_OK;
out:
	jwt_keys_free(k);
	buf_free(&b);
	(void)ERR_pop_to_mark();
	return r;
}

enum pc_result
jwt_keys_with_jwks(const struct jwt_keys *base, const char *jwks, size_t len,
    const char *what, const char *name, struct jwt_keys **out, char *err)
{
	enum pc_result r = PC_NOMEM;
	struct jwt_keys *k = NULL;

	*out = NULL;
	(void)ERR_set_mark();
	if ((k = calloc(1, sizeof(*k))) == NULL) {
		pc_err(err, "out of memory");
		goto out;
	}
	if (base != NULL && base->secret != NULL) {
		if ((k->secret = malloc(base->secret_len + 1)) == NULL) {
			pc_err(err, "out of memory");
			goto out;
		}
		memcpy(k->secret, base->secret, base->secret_len + 1);
		k->secret_len = base->secret_len;
	}
	if ((r = jwt_jwks_add(k, jwks, len, what, name, err)) != PC_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	jwt_keys_free(k);
	(void)ERR_pop_to_mark();
	return r;
}

size_t
jwt_keys_count(const struct jwt_keys *k)
{
	return k != NULL ? k->nkeys : 0;
}

void
jwt_keys_free(struct jwt_keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	if (k->secret != NULL) {
		explicit_bzero(k->secret, k->secret_len);
		free(k->secret);
	}
	for (i = 0; i < JWT_KEYS_MAX; i++)
		EVP_PKEY_free(k->keys[i].pkey);
	free(k);
}

/*
 * Refuse a token for reason, with the fixed text msg in err: PC_INVALID, for
 * the caller to return.
 */
static enum pc_result
jwt_refuse(enum jwt_refusal *why, enum jwt_refusal reason, char *err,
    const char *msg)
{
	*why = reason;
	pc_err(err, "%s", msg);
	return PC_INVALID;
}

/* Split the token into its three non-empty parts; -1 for any other shape. */
static int
jwt_split(const char *token, size_t len, struct span part[3])
{
	const char *p = token, *end = token + len, *dot;
	int i;

	for (i = 0; i < 3; i++) {
		dot = i < 2 ? memchr(p, '.', (size_t)(end - p)) : NULL;
		if (i < 2 && dot == NULL)
			return -1;
		part[i].p = p;
		part[i].n = (size_t)((i < 2 ? dot : end) - p);
		if (i < 2)
			p = dot + 1;
	}
	/* The signature may be empty only to be refused later, by alg. */
	if (part[0].n == 0 || part[1].n == 0 ||
	    memchr(part[2].p, '.', part[2].n) != NULL)
		return -1;
	return 0;
}

/* Decode one part and parse it as a JSON object, duplicates refused. */
static json_t *
jwt_part_json(const struct span *s, size_t max)
{
	unsigned char data[JWT_PAYLOAD_MAX];
	json_error_t jerr;
	json_t *j;
	size_t len;

	if (max > sizeof(data) ||
	    b64url_decode(s->p, s->n, data, max, &len) != 0)
		return NULL;
	j = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * Check the header: which algorithm, and which kid (*kid points into hdr, or
 * is NULL when the token names none).
 */
static enum pc_result
jwt_header(const json_t *hdr, const struct jwt_alg **alg, const char **kid,
    enum jwt_refusal *why, char *err)
{
	const json_t *v;
	const char *name;
	size_t i;

	*alg = NULL;
	*kid = NULL;
	if ((name = json_string_value(json_object_get(hdr, "alg"))) == NULL)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
		    "bad header");
	for (i = 0; i < NALGS; i++)
		if (strcmp(jwt_algs[i].name, name) == 0)
			*alg = &jwt_algs[i];
	if (*alg == NULL)
		return jwt_refuse(why, JWT_REFUSAL_UNSUPPORTED_ALG, err,
		    "algorithm not allowed");
	/* RFC 7515 4.1.11: no extension is understood here. */
	if (json_object_get(hdr, "crit") != NULL)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
		    "critical header not supported");
	if ((v = json_object_get(hdr, "typ")) != NULL &&
	    (!json_is_string(v) ||
	        strcasecmp(json_string_value(v), "JWT") != 0))
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
		    "bad token type");
	if ((v = json_object_get(hdr, "kid")) != NULL) {
		if (!json_is_string(v))
			return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
			    "bad header");
		*kid = json_string_value(v);
	}
	return PC_OK;
}

static enum pc_result
jwt_check_hmac(const struct jwt_keys *k, const struct jwt_alg *alg,
    const unsigned char *msg, size_t msglen, const unsigned char *sig,
    size_t siglen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	enum pc_result r;

	if (HMAC(alg->md(), k->secret, (int)k->secret_len, msg, msglen, mac,
	        &maclen) == NULL)
		return PC_ERROR;
	r = siglen == maclen && CRYPTO_memcmp(mac, sig, maclen) == 0 ?
	    PC_OK :
	    PC_INVALID;
	OPENSSL_cleanse(mac, sizeof(mac));
	return r;
}

/* JWS carries ECDSA signatures as raw r||s; OpenSSL wants DER. */
static enum pc_result
ecdsa_raw_to_der(const unsigned char *sig, size_t coord, unsigned char **der,
    size_t *derlen)
{
	enum pc_result r = PC_ERROR;
	ECDSA_SIG *es = NULL;
	BIGNUM *br = NULL, *bs = NULL;
	int n;

	*der = NULL;
	if ((es = ECDSA_SIG_new()) == NULL ||
	    (br = BN_bin2bn(sig, (int)coord, NULL)) == NULL ||
	    (bs = BN_bin2bn(sig + coord, (int)coord, NULL)) == NULL ||
	    ECDSA_SIG_set0(es, br, bs) != 1)
		goto out;
	br = bs = NULL; /* owned by es now */
	if ((n = i2d_ECDSA_SIG(es, der)) <= 0)
		goto out;
	*derlen = (size_t)n;
	r = PC_OK;
out:
	BN_free(br);
	BN_free(bs);
	ECDSA_SIG_free(es);
	return r;
}

static enum pc_result
jwt_check_pkey(const struct jwt_key *key, const unsigned char *msg,
    size_t msglen, const unsigned char *sig, size_t siglen)
{
	enum pc_result r = PC_INVALID;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *der = NULL;
	size_t derlen;

	if (key->alg->kind == JWT_ECDSA) {
		if (siglen != 2 * key->alg->coord)
			goto out;
		if ((r = ecdsa_raw_to_der(sig, key->alg->coord, &der,
		         &derlen)) != PC_OK)
			goto out;
		sig = der;
		siglen = derlen;
	} else if (siglen != (size_t)EVP_PKEY_get_size(key->pkey))
		goto out; /* RFC 8017 8.2.2: exactly k bytes */
	r = PC_ERROR;
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestVerifyInit(ctx, NULL, key->alg->md(), NULL, key->pkey) !=
	        1)
		goto out;
	r = EVP_DigestVerify(ctx, sig, siglen, msg, msglen) == 1 ?
	    PC_OK :
	    PC_INVALID;
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	return r;
}

/*
 * Check the signature over msg with the keys bound to alg: the secret for
 * HMAC, else the JWKS key named by kid, or each key of alg when kid is NULL.
 * A kid is looked up before asking whether any key is bound to alg, so a
 * token of a key that a newer set has (the first ES256 key of a project that
 * signed with the secret until now, too) is PC_NOTFOUND.
 */
static enum pc_result
jwt_check_signature(const struct jwt_keys *k, const struct jwt_alg *alg,
    const char *kid, const struct span *input, const struct span *sigpart,
    enum jwt_refusal *why, char *err)
{
	unsigned char sig[JWT_SIG_MAX];
	const unsigned char *msg = (const unsigned char *)input->p;
	const struct jwt_key *named = NULL;
	enum pc_result r = PC_INVALID;
	size_t i, siglen, bound = 0;

	/* The legacy secret has no kid; Supabase may still name one. */
	if (alg->kind != JWT_HMAC && kid != NULL) {
		for (i = 0; i < k->nkeys && named == NULL; i++)
			if (k->keys[i].kid[0] != '\0' &&
			    strcmp(k->keys[i].kid, kid) == 0)
				named = &k->keys[i];
		if (named == NULL) {
			(void)jwt_refuse(why, JWT_REFUSAL_UNKNOWN_KEY, err,
			    "unknown key");
			return PC_NOTFOUND;
		}
		if (named->alg != alg)
			return jwt_refuse(why, JWT_REFUSAL_UNKNOWN_KEY, err,
			    "algorithm does not match key");
	}
	for (i = 0; i < k->nkeys; i++)
		if (k->keys[i].alg == alg)
			bound++;
	if (alg->kind == JWT_HMAC ? k->secret == NULL : bound == 0)
		return jwt_refuse(why, JWT_REFUSAL_UNSUPPORTED_ALG, err,
		    "algorithm not allowed");
	if (sigpart->n == 0)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
		    "missing signature");
	if (b64url_decode(sigpart->p, sigpart->n, sig, sizeof(sig), &siglen) !=
	    0)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
		    "bad signature encoding");
	if (alg->kind == JWT_HMAC)
		r = jwt_check_hmac(k, alg, msg, input->n, sig, siglen);
	else if (named != NULL)
		r = jwt_check_pkey(named, msg, input->n, sig, siglen);
	else {
		for (i = 0; i < k->nkeys && r == PC_INVALID; i++)
			if (k->keys[i].alg == alg)
				r = jwt_check_pkey(&k->keys[i], msg, input->n,
				    sig, siglen);
	}
	if (r == PC_INVALID)
		(void)jwt_refuse(why, JWT_REFUSAL_BAD_SIGNATURE, err,
		    "bad signature");
	else if (r != PC_OK)
		pc_err(err, "signature check failed in OpenSSL");
	return r;
}

/*
 * A NumericDate claim: 1 and *out set when present (a real is truncated),
 * 0 when absent, -1 when not a number in int64 range.
 */
static int
claim_time(const json_t *payload, const char *name, int64_t *out)
{
	const json_t *v = json_object_get(payload, name);
	double d;

	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 1;
	}
	if (!json_is_real(v))
		return -1;
	d = json_real_value(v);
	/* Both bounds are exact doubles; NaN fails either comparison. */
	if (!(d >= -0x1p63 && d < 0x1p63))
		return -1;
	*out = (int64_t)d;
	return 1;
}

/*
 * Copy an optional string claim into dst (size bytes, left empty when the
 * claim is absent). -1 when it is not a string, does not fit, or holds
 * white space or control characters.
 */
static int
claim_string(const json_t *payload, const char *name, char *dst, size_t size)
{
	const json_t *v = json_object_get(payload, name);
	const char *s;
	size_t i, len;

	dst[0] = '\0';
	if (v == NULL)
		return 0;
	if (!json_is_string(v) || (len = json_string_length(v)) >= size)
		return -1;
	s = json_string_value(v);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return -1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 0;
}

/* "aud" is a string or an array of strings: 1 when it holds want. */
static int
claim_aud_has(const json_t *aud, const char *want)
{
	const json_t *v;
	size_t i;
	int found = 0;

	if (aud == NULL)
		return 0;
	if (json_is_string(aud))
		return strcmp(json_string_value(aud), want) == 0;
	if (!json_is_array(aud))
		return -1;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return -1;
		if (strcmp(json_string_value(v), want) == 0)
			found = 1;
	}
	return found;
}

static enum pc_result
jwt_claims_check(const json_t *payload, const struct jwt_policy *policy,
    int64_t now, struct jwt_claims *c, enum jwt_refusal *why, char *err)
{
	const json_t *iss, *anon;
	int64_t t, iat = 0;
	int rc, aud, has_iat;

	if ((rc = claim_time(payload, "exp", &c->exp)) <= 0)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
		    rc == 0 ? "missing exp" : "bad exp");
	/* RFC 7519 4.1.4: refused on or after exp. */
	if (now - policy->leeway_s >= c->exp)
		return jwt_refuse(why, JWT_REFUSAL_EXPIRED, err, "expired");
	if ((rc = claim_time(payload, "nbf", &t)) < 0 ||
	    (rc == 1 && t > now + policy->leeway_s))
		return rc < 0 ?
		    jwt_refuse(why, JWT_REFUSAL_MALFORMED, err, "bad nbf") :
		    jwt_refuse(why, JWT_REFUSAL_NOT_YET_VALID, err,
		        "not yet valid");
	if ((has_iat = claim_time(payload, "iat", &iat)) < 0 ||
	    (has_iat == 1 && iat > now + policy->leeway_s))
		return has_iat < 0 ?
		    jwt_refuse(why, JWT_REFUSAL_MALFORMED, err, "bad iat") :
		    jwt_refuse(why, JWT_REFUSAL_NOT_YET_VALID, err,
		        "issued in the future");
	if (claim_string(payload, "sub", c->sub, sizeof(c->sub)) != 0)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err, "bad sub");
	if (claim_string(payload, "role", c->role, sizeof(c->role)) != 0)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err, "bad role");
	anon = json_object_get(payload, "is_anonymous");
	if (anon != NULL && !json_is_boolean(anon))
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err,
		    "bad is_anonymous");
	c->is_anonymous = json_is_true(anon);
	/*
	 * Nothing here can revoke a token, so its lifetime bounds how long a
	 * leaked one works: one that claims to live longer than the policy
	 * allows (exp 2^62, say) is refused even while it is fresh. The
	 * service role is exempt: Supabase's service_role key is a JWT that is
	 * valid for years. exp > now - leeway here and the policy's bounds
	 * are checked, so neither subtraction can overflow.
	 */
	if (policy->max_lifetime_s > 0 &&
	    strcmp(c->role, "service_role") != 0 &&
	    (has_iat == 1 ?
	            iat < c->exp - policy->max_lifetime_s :
	            c->exp - policy->max_lifetime_s > now + policy->leeway_s))
		return jwt_refuse(why, JWT_REFUSAL_LIFETIME_TOO_LONG, err,
		    "lifetime too long");
	if ((aud = claim_aud_has(json_object_get(payload, "aud"),
	         policy->audience != NULL ? policy->audience : "")) < 0)
		return jwt_refuse(why, JWT_REFUSAL_MALFORMED, err, "bad aud");
	/* Supabase's service_role key carries no aud. */
	if (policy->audience != NULL && aud == 0 &&
	    strcmp(c->role, "service_role") != 0)
		return jwt_refuse(why, JWT_REFUSAL_WRONG_AUDIENCE, err,
		    "wrong audience");
	if (policy->issuer != NULL &&
	    (!json_is_string(iss = json_object_get(payload, "iss")) ||
	        strcmp(json_string_value(iss), policy->issuer) != 0))
		return jwt_refuse(why, JWT_REFUSAL_WRONG_ISSUER, err,
		    "wrong issuer");
	return PC_OK;
}

enum pc_result
jwt_verify(const struct jwt_keys *k, const char *token, size_t len,
    const struct jwt_policy *policy, int64_t now_s, struct jwt_claims *claims,
    enum jwt_refusal *why, char *err)
{
	enum jwt_refusal w = JWT_REFUSAL_NONE;
	enum pc_result r = PC_ERROR;
	const struct jwt_alg *alg;
	struct jwt_claims c;
	struct span part[3], input;
	const char *kid;
	json_t *hdr = NULL, *payload = NULL;

	memset(&c, 0, sizeof(c));
	if (claims != NULL)
		memset(claims, 0, sizeof(*claims));
	(void)ERR_set_mark();
	if (k == NULL || claims == NULL || policy == NULL ||
	    (token == NULL && len > 0) || policy->leeway_s < 0 ||
	    policy->leeway_s > JWT_LEEWAY_MAX || policy->max_lifetime_s < 0 ||
	    policy->max_lifetime_s > JWT_LIFETIME_MAX || now_s < 0 ||
	    now_s > INT64_MAX - JWT_LEEWAY_MAX) {
		pc_err(err, "bad argument");
		goto out;
	}
	if (len == 0) {
		r = jwt_refuse(&w, JWT_REFUSAL_MALFORMED, err, "empty token");
		goto out;
	}
	if (len > JWT_TOKEN_MAX) {
		r = jwt_refuse(&w, JWT_REFUSAL_MALFORMED, err,
		    "token too long");
		goto out;
	}
	if (jwt_split(token, len, part) != 0) {
		r = jwt_refuse(&w, JWT_REFUSAL_MALFORMED, err,
		    "not three base64url parts");
		goto out;
	}
	if ((hdr = jwt_part_json(&part[0], JWT_HEADER_MAX)) == NULL) {
		r = jwt_refuse(&w, JWT_REFUSAL_MALFORMED, err, "bad header");
		goto out;
	}
	if ((r = jwt_header(hdr, &alg, &kid, &w, err)) != PC_OK)
		goto out;
	input.p = token;
	input.n = part[0].n + 1 + part[1].n;
	if ((r = jwt_check_signature(k, alg, kid, &input, &part[2], &w, err)) !=
	    PC_OK)
		goto out;
	if ((payload = jwt_part_json(&part[1], JWT_PAYLOAD_MAX)) == NULL) {
		r = jwt_refuse(&w, JWT_REFUSAL_MALFORMED, err, "bad payload");
		goto out;
	}
	if ((r = jwt_claims_check(payload, policy, now_s, &c, &w, err)) !=
	    PC_OK)
		goto out;
	c.hs256 = alg->kind == JWT_HMAC;
	*claims = c;
out:
	if (why != NULL)
		*why = r == PC_OK || r == PC_ERROR ? JWT_REFUSAL_NONE : w;
	json_decref(payload);
	json_decref(hdr);
	(void)ERR_pop_to_mark();
	return r;
}
