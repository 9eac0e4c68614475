/* Resources declared as data: declarations, request checks, answers from rows. */
#include "autoconf.h"

#include <ini.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "resource.h"
#include "strnum.h"
#include "timefmt.h"
#include "uuid.h"

#define NAME_MAX_LEN 63

static const char *const type_names[] = {
	[FT_TEXT] = "text",
	[FT_BOOLEAN] = "boolean",
	[FT_INTEGER] = "integer",
	[FT_NUMBER] = "number",
	[FT_UUID] = "uuid",
	[FT_TIMESTAMP] = "timestamp",
	[FT_ENUM] = "enum",
	[FT_JSON] = "json",
	[FT_IMAGE] = "image",
};
#define NTYPES (sizeof(type_names) / sizeof(type_names[0]))

static const char *const policy_names[] = {
	[FP_BEHIND] = "behind",
	[FP_THROUGH] = "through",
	[FP_READONLY] = "readonly",
	[FP_SERVER] = "server",
	[FP_COUNTER] = "counter",
};
#define NPOLICIES (sizeof(policy_names) / sizeof(policy_names[0]))

static const char *const user_delta_names[] = {
	[UD_NEGATIVE] = "negative",
	[UD_ANY] = "any",
	[UD_NONE] = "none",
};
#define NUSER_DELTAS (sizeof(user_delta_names) / sizeof(user_delta_names[0]))

/* The declaration keys of a field, and the types each applies to. */
#define T(t) (1u << (t))
static const struct {
	const char *name;
	unsigned types;
} field_keys[] = {
	{ "type", ~0u },
	{ "policy", ~0u },
	{ "min_length", T(FT_TEXT) },
	{ "max_length", T(FT_TEXT) | T(FT_IMAGE) },
	{ "multiline", T(FT_TEXT) },
	{ "pattern", T(FT_TEXT) },
	{ "message", T(FT_TEXT) },
	{ "min", T(FT_INTEGER) | T(FT_NUMBER) },
	{ "max", T(FT_INTEGER) | T(FT_NUMBER) },
	{ "values", T(FT_ENUM) },
	{ "max_bytes", T(FT_JSON) },
	{ "filter", ~0u & ~T(FT_JSON) },
	{ "sort", ~0u & ~T(FT_JSON) },
	{ "user_delta", T(FT_INTEGER) },
};
#define NFIELD_KEYS (sizeof(field_keys) / sizeof(field_keys[0]))

static bool
name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > NAME_MAX_LEN || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (i = 1; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		        (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static struct resource *
find_mut(struct resources *set, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		if (strlen(set->v[i].name) == len &&
		    strncmp(set->v[i].name, name, len) == 0)
			return &set->v[i];
	return NULL;
}

const struct resource *
resources_find(const struct resources *set, const char *name, size_t len)
{
	return find_mut((struct resources *)set, name, len);
}

const struct field *
resource_field(const struct resource *res, const char *name)
{
	size_t i;

	for (i = 0; i < res->nfields; i++)
		if (strcmp(res->fields[i].name, name) == 0)
			return &res->fields[i];
	return NULL;
}

static void
field_free(struct field *f)
{
	size_t i;

	free(f->name);
	free(f->message);
	if (f->has_pattern)
		regfree(&f->pattern);
	for (i = 0; i < f->nvalues; i++)
		free(f->values[i]);
	free(f->values);
}

static void
resource_free(struct resource *res)
{
	size_t i;

	free(res->name);
	free(res->item);
	free(res->table);
	free(res->key_name);
	free(res->owner_name);
	free(res->visibility_name);
	for (i = 0; i < res->nfields; i++)
		field_free(&res->fields[i]);
	free(res->fields);
	free(res->select);
	free(res->unknown_reason);
	free(res->not_found_body);
	free(res->increments_ns);
	free(res->rows_ns);
}

void
resources_free(struct resources *set)
{
	size_t i;

	for (i = 0; i < set->n; i++)
		resource_free(&set->v[i]);
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

static enum pc_result
set_str(char **dst, const char *value, const char *section, const char *name,
    char *err)
{
	if (*dst != NULL) {
		pc_err(err, "[%s] %s is set twice", section, name);
		return PC_INVALID;
	}
	if (*value == '\0') {
		pc_err(err, "[%s] %s is empty", section, name);
		return PC_INVALID;
	}
	if ((*dst = strdup(value)) == NULL) {
		pc_err(err, "out of memory");
		return PC_NOMEM;
	}
	return PC_OK;
}

static enum pc_result
resource_key(struct resources *set, const char *section, const char *rname,
    const char *name, const char *value, char *err)
{
	struct resource *res, *v;
	long long num;

	if (!name_ok(rname, strlen(rname))) {
		pc_err(err,
		    "[%s]: a resource name is 1 to %d characters of a-z, "
		    "0-9 and _, starting with a letter",
		    section, NAME_MAX_LEN);
		return PC_INVALID;
	}
	if ((res = find_mut(set, rname, strlen(rname))) == NULL) {
		if ((v = realloc(set->v, (set->n + 1) * sizeof(*v))) == NULL)
			goto nomem;
		set->v = v;
		res = &set->v[set->n];
		memset(res, 0, sizeof(*res));
		res->fresh_ttl = res->stale_ttl = res->negative_ttl = -1;
		if ((res->name = strdup(rname)) == NULL)
			goto nomem;
		set->n++;
	}
	if (name == NULL)
		return PC_OK;
	if (strcmp(name, "item") == 0) {
		if (!name_ok(value, strlen(value))) {
			pc_err(err,
			    "[%s] item must be a name like the resource's",
			    section);
			return PC_INVALID;
		}
		return set_str(&res->item, value, section, name, err);
	}
	if (strcmp(name, "table") == 0) {
		if (!name_ok(value, strlen(value))) {
			pc_err(err,
			    "[%s] table must be 1 to %d characters of a-z, "
			    "0-9 and _",
			    section, NAME_MAX_LEN);
			return PC_INVALID;
		}
		return set_str(&res->table, value, section, name, err);
	}
	if (strcmp(name, "key") == 0)
		return set_str(&res->key_name, value, section, name, err);
	if (strcmp(name, "owner") == 0)
		return set_str(&res->owner_name, value, section, name, err);
	if (strcmp(name, "visibility") == 0)
		return set_str(&res->visibility_name, value, section, name,
		    err);
	if (strcmp(name, "read") == 0) {
		if (strcmp(value, "public") != 0 &&
		    strcmp(value, "owner") != 0) {
			pc_err(err, "[%s] read must be public or owner",
			    section);
			return PC_INVALID;
		}
		res->owner_reads = strcmp(value, "owner") == 0;
		return PC_OK;
	}
	if (strcmp(name, "fresh_ttl") == 0 || strcmp(name, "stale_ttl") == 0 ||
	    strcmp(name, "negative_ttl") == 0) {
		long *dst = name[0] == 'f' ? &res->fresh_ttl :
		    name[0] == 's'         ? &res->stale_ttl :
		                             &res->negative_ttl;
		if (*dst >= 0) {
			pc_err(err, "[%s] %s is set twice", section, name);
			return PC_INVALID;
		}
		if (strnum_parse(value, name[0] == 'f' ? 1 : 0, 30 * 86400,
		        &num) != PC_OK) {
			pc_err(err,
			    "[%s] %s must be a whole number of seconds up "
			    "to 30 days%s",
			    section, name,
			    name[0] == 'f' ? ", at least 1" : "");
			return PC_INVALID;
		}
		*dst = (long)num;
		return PC_OK;
	}
	pc_err(err, "unknown key [%s] %s", section, name);
	return PC_INVALID;
nomem:
	pc_err(err, "out of memory");
	return PC_NOMEM;
}

static enum pc_result
parse_bool(const char *value, bool *out)
{
	if (strcasecmp(value, "true") == 0 || strcasecmp(value, "yes") == 0 ||
	    strcmp(value, "1") == 0)
		*out = true;
	else if (strcasecmp(value, "false") == 0 ||
	    strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0)
		*out = false;
	else
		return PC_INVALID;
	return PC_OK;
}

static enum pc_result
parse_number(const char *value, double *out)
{
	char *end;

	if (*value == '\0')
		return PC_INVALID;
	*out = strtod(value, &end);
	return *end == '\0' && isfinite(*out) ? PC_OK : PC_INVALID;
}

static enum pc_result
parse_values(struct field *f, const char *value)
{
	const char *p = value, *sep = " \t,";
	size_t n;
	char **v;

	while (*(p += strspn(p, sep)) != '\0') {
		n = strcspn(p, sep);
		if ((v = realloc(f->values, (f->nvalues + 1) * sizeof(*v))) ==
		    NULL)
			return PC_NOMEM;
		f->values = v;
		if ((v[f->nvalues] = strndup(p, n)) == NULL)
			return PC_NOMEM;
		f->nvalues++;
		p += n;
	}
	return f->nvalues > 0 ? PC_OK : PC_INVALID;
}

/*
 * glibc's regcomp copies a bounded repetition out once per count and builds
 * its automaton from the copies, so a short pattern may take seconds and
 * gigabytes to compile ("((a{1,100}){1,100}){1,100}", a long run of stars).
 * A declaration's pattern is kept to what a field check needs: at most
 * PATTERN_MAX bytes, no back-reference (regexec backtracks on those, over
 * what users send), no repetition of a repetition (undefined in POSIX), and
 * at most PATTERN_COST atoms once every repetition is copied out.
 */
#define PATTERN_MAX 256
#define PATTERN_COST 2048
#define PATTERN_DEPTH 16

static const char pattern_too_costly[] =
    "is too costly to compile (bounded repetitions multiply)";

static size_t
pattern_bracket_end(const char *p, size_t i)
{
	i++; /* past '[' */
	if (p[i] == '^')
		i++;
	if (p[i] == ']')
		i++;
	for (; p[i] != '\0'; i++) {
		if (p[i] == '[' &&
		    (p[i + 1] == ':' || p[i + 1] == '.' || p[i + 1] == '=')) {
			const char *end = strchr(p + i + 2, p[i + 1]);

			while (end != NULL && end[1] != ']')
				end = strchr(end + 1, p[i + 1]);
			if (end == NULL)
				return 0;
			i = (size_t)(end - p) + 1;
		} else if (p[i] == ']')
			return i;
	}
	return 0;
}

static const char *
pattern_check(const char *p)
{
	size_t sum[PATTERN_DEPTH + 1] = { 0 }, last[PATTERN_DEPTH + 1] = { 0 };
	size_t i, end, d = 0;
	unsigned long lo, hi;
	bool repeated = false;
	char *q;

	if (strlen(p) > PATTERN_MAX)
		return "is longer than 256 bytes";
	for (i = 0; p[i] != '\0'; i++) {
		switch (p[i]) {
		case '(':
			if (d == PATTERN_DEPTH)
				return "nests groups more than 16 deep";
			d++;
			sum[d] = last[d] = 0;
			repeated = false;
			continue;
		case ')':
			if (d > 0) {
				last[d - 1] = sum[d] + 1;
				d--;
				sum[d] += last[d];
				repeated = false;
				continue;
			}
			break;
		case '|':
			sum[d]++;
			last[d] = 0;
			repeated = false;
			continue;
		case '*':
		case '+':
		case '?':
			if (repeated)
				return "repeats a repetition";
			sum[d] += last[d];
			repeated = true;
			goto costed;
		case '{':
			lo = strtoul(p + i + 1, &q, 10);
			if (q == p + i + 1 ||
			    !(p[i + 1] >= '0' && p[i + 1] <= '9'))
				break;
			hi = lo;
			if (*q == ',' && q[1] >= '0' && q[1] <= '9')
				hi = strtoul(q + 1, &q, 10);
			else if (*q == ',') {
				hi = lo + 1; /* {m,}: m copies and a star */
				q++;
			}
			if (*q != '}')
				break;
			if (repeated)
				return "repeats a repetition";
			if (lo > 255 || hi > 255)
				return "repeats more than 255 times";
			sum[d] += last[d] * (hi > 0 ? hi - 1 : 0);
			last[d] *= hi > 0 ? hi : 1;
			i = (size_t)(q - p);
			repeated = true;
			goto costed;
		case '[':
			if ((end = pattern_bracket_end(p, i)) == 0)
				return NULL; /* regcomp says what is wrong */
			i = end;
			break;
		case '\\':
			if (p[i + 1] >= '1' && p[i + 1] <= '9')
				return "has a back-reference";
			if (p[i + 1] != '\0')
				i++;
			break;
		default:
			break;
		}
		sum[d]++;
		last[d] = 1;
		repeated = false;
costed:
		if (sum[d] > PATTERN_COST)
			return pattern_too_costly;
	}
	return sum[0] > PATTERN_COST ? pattern_too_costly : NULL;
}

static enum pc_result
field_key(struct resources *set, const char *section, const char *spec,
    const char *name, const char *value, char *err)
{
	const char *dot = strchr(spec, '.');
	struct resource *res;
	struct field *f, *nf;
	long long num;
	const char *why;
	char *re;
	size_t i, k;
	int rc;

	if (dot == NULL || !name_ok(dot + 1, strlen(dot + 1))) {
		pc_err(err,
		    "[%s]: a field section is [field RESOURCE.FIELD], the "
		    "field's name 1 to %d characters of a-z, 0-9 and _",
		    section, NAME_MAX_LEN);
		return PC_INVALID;
	}
	/* A [resource] section is needed only for keys of its own: fields
	 * declare their resource (an empty section never reaches a handler). */
	if ((res = find_mut(set, spec, (size_t)(dot - spec))) == NULL) {
		char rname[NAME_MAX_LEN + 1];
		enum pc_result r;

		if ((size_t)(dot - spec) > NAME_MAX_LEN) {
			pc_err(err,
			    "[%s]: a resource name is 1 to %d characters",
			    section, NAME_MAX_LEN);
			return PC_INVALID;
		}
		(void)snprintf(rname, sizeof(rname), "%.*s", (int)(dot - spec),
		    spec);
		if ((r = resource_key(set, section, rname, NULL, NULL, err)) !=
		    PC_OK)
			return r;
		res = find_mut(set, spec, (size_t)(dot - spec));
	}
	if (strcmp(dot + 1, "field_versions") == 0) {
		pc_err(err, "[%s]: field_versions is profilecache's own column",
		    section);
		return PC_INVALID;
	}
	f = NULL;
	for (i = 0; i < res->nfields; i++)
		if (strcmp(res->fields[i].name, dot + 1) == 0)
			f = &res->fields[i];
	if (f == NULL) {
		if ((nf = realloc(res->fields,
		         (res->nfields + 1) * sizeof(*nf))) == NULL)
			goto nomem;
		res->fields = nf;
		f = &res->fields[res->nfields];
		memset(f, 0, sizeof(*f));
		f->min_length = f->max_length = f->max_bytes = -1;
		f->type = (enum field_type) - 1;
		if ((f->name = strdup(dot + 1)) == NULL)
			goto nomem;
		res->nfields++;
	}
	for (k = 0; k < NFIELD_KEYS; k++)
		if (strcmp(field_keys[k].name, name) == 0)
			break;
	if (k == NFIELD_KEYS) {
		pc_err(err, "unknown key [%s] %s", section, name);
		return PC_INVALID;
	}
	if (strcmp(name, "type") == 0) {
		if (f->type != (enum field_type) - 1)
			goto twice;
		for (i = 0; i < NTYPES; i++)
			if (strcmp(type_names[i], value) == 0)
				f->type = (enum field_type)i;
		if (f->type == (enum field_type) - 1) {
			pc_err(err,
			    "[%s] type must be text, boolean, integer, number, "
			    "uuid, timestamp, enum, json or image",
			    section);
			return PC_INVALID;
		}
		return PC_OK;
	}
	if (strcmp(name, "policy") == 0) {
		for (i = 0; i < NPOLICIES; i++)
			if (strcmp(policy_names[i], value) == 0)
				break;
		if (i == NPOLICIES) {
			pc_err(err,
			    "[%s] policy must be behind, through, readonly, "
			    "server or counter",
			    section);
			return PC_INVALID;
		}
		f->policy = (enum field_policy)i;
		return PC_OK;
	}
	if (strcmp(name, "min_length") == 0 ||
	    strcmp(name, "max_length") == 0 || strcmp(name, "max_bytes") == 0) {
		long *dst = name[1] == 'i' ? &f->min_length :
		    name[4] == 'l'         ? &f->max_length :
		                             &f->max_bytes;
		if (*dst >= 0)
			goto twice;
		if (strnum_parse(value, 0, 1L << 20, &num) != PC_OK) {
			pc_err(err,
			    "[%s] %s must be a whole number from 0 to %ld",
			    section, name, 1L << 20);
			return PC_INVALID;
		}
		*dst = (long)num;
		return PC_OK;
	}
	if (strcmp(name, "multiline") == 0 || strcmp(name, "filter") == 0 ||
	    strcmp(name, "sort") == 0) {
		bool *dst = name[0] == 'm' ? &f->multiline :
		    name[0] == 'f'         ? &f->filter :
		                             &f->sort;
		if (parse_bool(value, dst) != PC_OK) {
			pc_err(err, "[%s] %s must be true or false", section,
			    name);
			return PC_INVALID;
		}
		return PC_OK;
	}
	if (strcmp(name, "pattern") == 0) {
		if (f->has_pattern)
			goto twice;
		if ((why = pattern_check(value)) != NULL) {
			pc_err(err, "[%s] pattern %s", section, why);
			return PC_INVALID;
		}
		/* The whole value must match, whatever anchors the pattern has. */
		if (asprintf(&re, "^(%s)$", value) == -1)
			goto nomem;
		rc = regcomp(&f->pattern, re, REG_EXTENDED | REG_NOSUB);
		free(re);
		if (rc != 0) {
			pc_err(err,
			    "[%s] pattern is not a POSIX extended regular "
			    "expression",
			    section);
			return PC_INVALID;
		}
		f->has_pattern = true;
		return PC_OK;
	}
	if (strcmp(name, "message") == 0)
		return set_str(&f->message, value, section, name, err);
	if (strcmp(name, "user_delta") == 0) {
		for (i = 0; i < NUSER_DELTAS; i++)
			if (strcmp(user_delta_names[i], value) == 0)
				break;
		if (i == NUSER_DELTAS) {
			pc_err(err,
			    "[%s] user_delta must be negative, any or none",
			    section);
			return PC_INVALID;
		}
		f->user_delta = (enum field_user_delta)i;
		f->has_user_delta = true;
		return PC_OK;
	}
	if (strcmp(name, "min") == 0 || strcmp(name, "max") == 0) {
		bool *has = name[1] == 'i' ? &f->has_min : &f->has_max;
		if (*has)
			goto twice;
		if (parse_number(value, name[1] == 'i' ? &f->min : &f->max) !=
		    PC_OK) {
			pc_err(err, "[%s] %s must be a number", section, name);
			return PC_INVALID;
		}
		*has = true;
		return PC_OK;
	}
	/* values */
	if (f->nvalues > 0)
		goto twice;
	switch (parse_values(f, value)) {
	case PC_OK:
		return PC_OK;
	case PC_NOMEM:
		goto nomem;
	default:
		pc_err(err, "[%s] values must list at least one value",
		    section);
		return PC_INVALID;
	}
twice:
	pc_err(err, "[%s] %s is set twice", section, name);
	return PC_INVALID;
nomem:
	pc_err(err, "out of memory");
	return PC_NOMEM;
}

enum pc_result
resources_set(struct resources *set, const char *section, const char *name,
    const char *value, char *err)
{
	if (strncmp(section, "resource ", 9) == 0)
		return resource_key(set, section, section + 9, name, value,
		    err);
	if (strncmp(section, "field ", 6) == 0)
		return field_key(set, section, section + 6, name, value, err);
	return PC_NOTFOUND;
}

/* Whether field f may carry the declaration key k, given its type. */
static bool
key_applies(const struct field *f, size_t k)
{
	return (field_keys[k].types & T(f->type)) != 0;
}

static enum pc_result
field_finish(const struct resource *res, const struct field *f, char *err)
{
	const char *bad = NULL;
	size_t k;

	if (f->type == (enum field_type) - 1) {
		pc_err(err, "[field %s.%s] has no type", res->name, f->name);
		return PC_INVALID;
	}
	for (k = 0; k < NFIELD_KEYS && bad == NULL; k++) {
		if (key_applies(f, k))
			continue;
		if ((strcmp(field_keys[k].name, "min_length") == 0 &&
		        f->min_length >= 0) ||
		    (strcmp(field_keys[k].name, "max_length") == 0 &&
		        f->max_length >= 0) ||
		    (strcmp(field_keys[k].name, "multiline") == 0 &&
		        f->multiline) ||
		    (strcmp(field_keys[k].name, "pattern") == 0 &&
		        f->has_pattern) ||
		    (strcmp(field_keys[k].name, "message") == 0 &&
		        f->message != NULL) ||
		    (strcmp(field_keys[k].name, "min") == 0 && f->has_min) ||
		    (strcmp(field_keys[k].name, "max") == 0 && f->has_max) ||
		    (strcmp(field_keys[k].name, "values") == 0 &&
		        f->nvalues > 0) ||
		    (strcmp(field_keys[k].name, "max_bytes") == 0 &&
		        f->max_bytes >= 0) ||
		    (strcmp(field_keys[k].name, "filter") == 0 && f->filter) ||
		    (strcmp(field_keys[k].name, "sort") == 0 && f->sort) ||
		    (strcmp(field_keys[k].name, "user_delta") == 0 &&
		        f->has_user_delta))
			bad = field_keys[k].name;
	}
	if (bad != NULL) {
		pc_err(err, "[field %s.%s] %s does not apply to a %s field",
		    res->name, f->name, bad, type_names[f->type]);
		return PC_INVALID;
	}
	if (f->policy == FP_COUNTER && f->type != FT_INTEGER) {
		pc_err(err, "[field %s.%s] a counter is an integer field",
		    res->name, f->name);
		return PC_INVALID;
	}
	if (f->has_user_delta && f->policy != FP_COUNTER) {
		pc_err(err,
		    "[field %s.%s] user_delta applies to a counter only",
		    res->name, f->name);
		return PC_INVALID;
	}
	if (f->type == FT_ENUM && f->nvalues == 0) {
		pc_err(err, "[field %s.%s] an enum needs values", res->name,
		    f->name);
		return PC_INVALID;
	}
	if (f->has_min && f->has_max && f->min > f->max) {
		pc_err(err, "[field %s.%s] min is above max", res->name,
		    f->name);
		return PC_INVALID;
	}
	if (f->min_length >= 0 && f->max_length >= 0 &&
	    f->min_length > f->max_length) {
		pc_err(err, "[field %s.%s] min_length is above max_length",
		    res->name, f->name);
		return PC_INVALID;
	}
	return PC_OK;
}

/* Resolve a reference to a field of the given type, or fail naming it. */
static enum pc_result
ref_resolve(const struct resource *res, const char *what, const char *name,
    enum field_type type, const struct field **out, char *err)
{
	*out = resource_field(res, name);
	if (*out == NULL || (*out)->type != type) {
		pc_err(err, "[resource %s] %s = %s: no %s field of that name",
		    res->name, what, name, type_names[type]);
		return PC_INVALID;
	}
	return PC_OK;
}

static enum pc_result
resource_build(struct resource *res, char *err)
{
	const struct field *updated;
	enum pc_result r;
	size_t i, n, len;
	char *p;

	if (res->nfields == 0) {
		pc_err(err, "[resource %s] declares no field", res->name);
		return PC_INVALID;
	}
	for (i = 0; i < res->nfields; i++)
		if ((r = field_finish(res, &res->fields[i], err)) != PC_OK)
			return r;
	if ((r = ref_resolve(res, "key",
	         res->key_name != NULL ? res->key_name : "id", FT_UUID,
	         &res->key, err)) != PC_OK)
		return r;
	if (res->key->policy != FP_READONLY && res->key->policy != FP_SERVER) {
		pc_err(err, "[resource %s] its key is readonly or server",
		    res->name);
		return PC_INVALID;
	}
	if (res->owner_name == NULL)
		res->owner = res->key;
	else if (strcmp(res->owner_name, "none") != 0 &&
	    (r = ref_resolve(res, "owner", res->owner_name, FT_UUID,
	         &res->owner, err)) != PC_OK)
		return r;
	/* Nobody may give a row away: the owner is set by profilecache. */
	if (res->owner != NULL && res->owner != res->key &&
	    res->owner->policy != FP_SERVER &&
	    res->owner->policy != FP_READONLY) {
		pc_err(err,
		    "[resource %s] its owner field %s must be policy = server",
		    res->name, res->owner->name);
		return PC_INVALID;
	}
	if (res->owner_reads && res->owner == NULL) {
		pc_err(err, "[resource %s] read = owner needs an owner",
		    res->name);
		return PC_INVALID;
	}
	if (res->visibility_name != NULL &&
	    (r = ref_resolve(res, "visibility", res->visibility_name,
	         FT_BOOLEAN, &res->visibility, err)) != PC_OK)
		return r;
	if ((r = ref_resolve(res, "version", "updated_at", FT_TIMESTAMP,
	         &updated, err)) != PC_OK)
		return r;
	if (updated->policy != FP_SERVER) {
		pc_err(err, "[resource %s] updated_at is a server field",
		    res->name);
		return PC_INVALID;
	}
	if ((res->item == NULL && (res->item = strdup(res->name)) == NULL) ||
	    (res->table == NULL && (res->table = strdup(res->name)) == NULL))
		goto nomem;
	for (i = 0; i < res->nfields; i++)
		if (res->fields[i].policy == FP_COUNTER)
			res->counters = true;
	if (res->counters &&
	    asprintf(&res->increments_ns, "%s/increment", res->item) == -1) {
		res->increments_ns = NULL;
		goto nomem;
	}
	if (asprintf(&res->rows_ns, "%s/row", res->item) == -1) {
		res->rows_ns = NULL;
		goto nomem;
	}

	for (len = sizeof("field_versions"), i = 0; i < res->nfields; i++)
		len += strlen(res->fields[i].name) + 1;
	if ((p = malloc(len)) == NULL)
		goto nomem;
	for (n = 0, i = 0; i < res->nfields; i++)
		n += (size_t)snprintf(p + n, len - n, "%s,",
		    res->fields[i].name);
	(void)snprintf(p + n, len - n, "field_versions");
	res->select = p;

	for (len = sizeof("unknown field; allowed:"), i = 0; i < res->nfields;
	     i++)
		len += strlen(res->fields[i].name) + 2;
	if ((p = res->unknown_reason = malloc(len)) == NULL)
		goto nomem;
	n = (size_t)snprintf(p, len, "unknown field; allowed:");
	for (i = 0; i < res->nfields; i++)
		if (res->fields[i].policy == FP_BEHIND ||
		    res->fields[i].policy == FP_THROUGH)
			n += (size_t)snprintf(p + n, len - n, "%s %s",
			    n > sizeof("unknown field; allowed:") - 1 ? "," :
			                                                "",
			    res->fields[i].name);
	if (asprintf(&res->not_found_body,
	        "{\"error\":{\"code\":\"not_found\",\"message\":\"%s not found\"}}",
	        res->item) == -1) {
		res->not_found_body = NULL;
		goto nomem;
	}
	res->not_found_len = strlen(res->not_found_body);
	return PC_OK;
nomem:
	pc_err(err, "out of memory");
	return PC_NOMEM;
}

enum pc_result
resources_finish(struct resources *set, char *err)
{
	enum pc_result r;
	size_t i, j;

	for (i = 0; i < set->n; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(set->v[i].item ? set->v[i].item :
			                            set->v[i].name,
			        set->v[j].item) == 0) {
				pc_err(err,
				    "[resource %s] has the item name of "
				    "[resource %s]",
				    set->v[i].name, set->v[j].name);
				return PC_INVALID;
			}
		if ((r = resource_build(&set->v[i], err)) != PC_OK)
			return r;
	}
	return PC_OK;
}

struct parse_ctx {
	struct resources *set;
	char *err;
	enum pc_result r;
};

static int
parse_handler(void *user, const char *section, const char *name,
    const char *value)
{
	struct parse_ctx *ctx = user;

	if (ctx->r != PC_OK)
		return 0;
	ctx->r = resources_set(ctx->set, section, name, value, ctx->err);
	if (ctx->r == PC_NOTFOUND) {
		pc_err(ctx->err, "[%s]: not a resource or field section",
		    section);
		ctx->r = PC_INVALID;
	}
	return ctx->r == PC_OK;
}

enum pc_result
resources_parse(struct resources *set, const char *ini, char *err)
{
	struct parse_ctx ctx = { set, err, PC_OK };
	int rc;

	memset(set, 0, sizeof(*set));
	rc = ini_parse_string(ini, parse_handler, &ctx);
	if (ctx.r == PC_OK && rc != 0) {
		pc_err(err, "line %d: syntax error", rc);
		ctx.r = rc == -2 ? PC_NOMEM : PC_INVALID;
	}
	if (ctx.r == PC_OK)
		ctx.r = resources_finish(set, err);
	if (ctx.r != PC_OK)
		resources_free(set);
	return ctx.r;
}

const char *
resource_sync_name(enum resource_sync s)
{
	switch (s) {
	case RESOURCE_SYNCED:
		return "synced";
	case RESOURCE_PENDING:
		return "pending";
	case RESOURCE_FAILED:
		return "failed";
	}
	return "failed";
}

/* --- answers from rows ------------------------------------------------------- */

/* Copy one field of the row into out, normalised; *us gets a timestamp's value. */
static enum pc_result
render_field(const struct field *f, json_t *v, json_t *out, int64_t *us,
    char *err)
{
	char ts[TIMEFMT_LEN];
	json_t *nv;

	*us = -1;
	if (v == NULL || json_is_null(v))
		return json_object_set_new(out, f->name, json_null()) == 0 ?
		    PC_OK :
		    PC_NOMEM;
	switch (f->type) {
	case FT_TEXT:
	case FT_UUID:
	case FT_ENUM:
	case FT_IMAGE:
		if (!json_is_string(v))
			goto bad;
		nv = json_incref(v);
		break;
	case FT_BOOLEAN:
		if (!json_is_boolean(v))
			goto bad;
		nv = json_incref(v);
		break;
	case FT_INTEGER:
		if (!json_is_integer(v))
			goto bad;
		nv = json_incref(v);
		break;
	case FT_NUMBER:
		if (!json_is_number(v))
			goto bad;
		nv = json_incref(v);
		break;
	case FT_JSON:
		nv = json_incref(v);
		break;
	case FT_TIMESTAMP:
		if (!json_is_string(v) ||
		    timefmt_parse(json_string_value(v), json_string_length(v),
		        us) != PC_OK ||
		    timefmt_format(*us, ts) != PC_OK)
			goto bad;
		nv = json_string(ts);
		break;
	default:
		goto bad;
	}
	return json_object_set_new(out, f->name, nv) == 0 ? PC_OK : PC_NOMEM;
bad:
	pc_err(err, "database row: field %s has an unexpected type or format",
	    f->name);
	return PC_INVALID;
}

enum pc_result
resource_render(const struct resource *res, json_t *in, const char *expect_key,
    enum resource_sync sync, json_t *failed, char **body, size_t *body_len,
    struct resource_meta *meta, char *err)
{
	enum pc_result r = PC_INVALID;
	json_t *obj = NULL, *doc = NULL, *v;
	int64_t us;
	size_t i;

	*body = NULL;
	meta->updated_at_us = -1;
	meta->is_private = false;
	v = json_object_get(in, res->key->name);
	if (!json_is_string(v) ||
	    strcmp(json_string_value(v), expect_key) != 0) {
		pc_err(err, "database row has another %s than asked for",
		    res->key->name);
		goto out;
	}
	if ((obj = json_object()) == NULL) {
		r = PC_NOMEM;
		goto out;
	}
	meta->updated_at_us = -1;
	meta->is_private = res->visibility != NULL &&
	    json_is_true(json_object_get(in, res->visibility->name));
	for (i = 0; i < res->nfields; i++) {
		if ((r = render_field(&res->fields[i],
		         json_object_get(in, res->fields[i].name), obj, &us,
		         err)) != PC_OK)
			goto out;
		if (strcmp(res->fields[i].name, "updated_at") == 0)
			meta->updated_at_us = us;
	}
	if (meta->updated_at_us < 0) {
		pc_err(err, "database row has no updated_at");
		r = PC_INVALID;
		goto out;
	}
	r = PC_NOMEM;
	if ((doc = json_object()) == NULL ||
	    json_object_set(doc, res->item, obj) != 0 ||
	    json_object_set_new(doc, "sync",
	        json_string(resource_sync_name(sync))) != 0 ||
	    (failed != NULL && json_object_set(doc, "failed", failed) != 0))
		goto out;
	if ((*body = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
	    NULL)
		goto out;
	*body_len = strlen(*body);
	r = PC_OK;
out:
	json_decref(obj);
	json_decref(doc);
	return r;
}

/* --- request bodies ---------------------------------------------------------- */

/* Number of code points in a valid UTF-8 string (jansson guarantees validity). */
static size_t
utf8_chars(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * Characters display text may not hold, besides the C0 and C1 controls:
 * they are invisible, or reorder the text around them, so that a name
 * shows as something it is not: after U+202E (right-to-left override)
 * "gpj.exe" reads "exe.jpg", and with U+200B (zero-width space) "al<200B>ice"
 * looks exactly like "alice". Clients show these fields as they are.
 *
 * XXX U+200C and U+200D (zero-width non-joiner and joiner) are also needed
 * in Persian and Indic text and join emoji sequences: refused all the same
 * until each field's characters can be configured.
 */
static const struct {
	uint32_t lo, hi;
} invisible[] = {
	{ 0x200b, 0x200f }, /* zero-width space, (non-)joiner, LRM, RLM */
	{ 0x202a, 0x202e }, /* bidi embeddings and overrides */
	{ 0x2060, 0x2060 }, /* word joiner */
	{ 0x2066, 0x2069 }, /* bidi isolates */
	{ 0xfeff, 0xfeff }, /* zero-width no-break space (BOM) */
};

/*
 * The code point starting at s[*i] of a valid UTF-8 string (jansson
 * guarantees validity), advancing *i past it.
 */
static uint32_t
utf8_next(const char *s, size_t len, size_t *i)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp = u[(*i)++];
	int more = cp >= 0xf0 ? 3 : cp >= 0xe0 ? 2 : cp >= 0xc0 ? 1 : 0;

	if (more > 0)
		cp &= 0x3fu >> more;
	for (; more > 0 && *i < len; more--)
		cp = cp << 6 | (u[(*i)++] & 0x3f);
	return cp;
}

/*
 * Why display text s must be refused, or NULL: a C0 or C1 control
 * character or DEL (allow_nl lets newline, carriage return and tab through,
 * for multi-line text), or a bidi control or zero-width character.
 */
static const char *
check_display_text(const char *s, size_t len, bool allow_nl)
{
	size_t i = 0, k;
	uint32_t c;

	while (i < len) {
		c = utf8_next(s, len, &i);
		if ((c < 0x20 &&
		        !(allow_nl && (c == '\n' || c == '\r' || c == '\t'))) ||
		    (c >= 0x7f && c <= 0x9f))
			return "must not contain control characters";
		for (k = 0; k < sizeof(invisible) / sizeof(invisible[0]); k++)
			if (c >= invisible[k].lo && c <= invisible[k].hi)
				return "must not contain bidirectional controls or "
				       "zero-width characters";
	}
	return NULL;
}

static const char *
check_text(const struct field *f, const char *s, size_t len, char *reason)
{
	size_t chars = utf8_chars(s, len);

	if (f->max_length >= 0 && chars > (size_t)f->max_length) {
		if (f->message != NULL)
			return f->message;
		(void)snprintf(reason, RESOURCE_REASON_LEN,
		    "too long (at most %ld characters)", f->max_length);
		return reason;
	}
	if (f->min_length >= 0 && chars < (size_t)f->min_length) {
		if (f->message != NULL)
			return f->message;
		(void)snprintf(reason, RESOURCE_REASON_LEN,
		    "too short (at least %ld characters)", f->min_length);
		return reason;
	}
	/* A NUL inside the value would end the string regexec() sees. */
	if (f->has_pattern &&
	    (strlen(s) != len || regexec(&f->pattern, s, 0, NULL, 0) != 0))
		return f->message != NULL ? f->message :
		                            "does not have the allowed form";
	return check_display_text(s, len, f->multiline);
}

static const char *
check_image(const struct field *f, const char *s, size_t len, char *reason)
{
	size_t i;

	if (f->max_length >= 0 && len > (size_t)f->max_length) {
		(void)snprintf(reason, RESOURCE_REASON_LEN,
		    "too long (at most %ld bytes)", f->max_length);
		return reason;
	}
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return "must be an http or https URL";
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return "must not contain spaces or control characters";
	return NULL;
}

static const char *
check_range(const struct field *f, double d, bool whole, char *reason)
{
	if ((f->has_min && d < f->min) || (f->has_max && d > f->max)) {
		if (f->has_min && f->has_max)
			(void)snprintf(reason, RESOURCE_REASON_LEN,
			    "must be a %s from %.17g "
			    "to %.17g",
			    whole ? "whole number" : "number", f->min, f->max);
		else
			(void)snprintf(reason, RESOURCE_REASON_LEN,
			    "must be %s %.17g",
			    f->has_min ? "at least" : "at most",
			    f->has_min ? f->min : f->max);
		return reason;
	}
	return NULL;
}

static const char *
check_enum(const struct field *f, const char *s, char *reason)
{
	size_t i, n;

	for (i = 0; i < f->nvalues; i++)
		if (strcmp(f->values[i], s) == 0)
			return NULL;
	n = (size_t)snprintf(reason, RESOURCE_REASON_LEN, "must be one of:");
	for (i = 0; i < f->nvalues && n < RESOURCE_REASON_LEN; i++)
		n += (size_t)snprintf(reason + n, RESOURCE_REASON_LEN - n,
		    "%s %s", i > 0 ? "," : "", f->values[i]);
	return reason;
}

UNITTEST const char *
resource_check_value(const struct field *f, json_t *v,
    char reason[RESOURCE_REASON_LEN])
{
	const char *s;
	int64_t us;
	size_t len;
	char *dump;

	if (f->type == FT_BOOLEAN)
		return json_is_boolean(v) ? NULL : "must be true or false";
	if (json_is_null(v))
		return NULL;
	switch (f->type) {
	case FT_INTEGER:
		if (!json_is_integer(v))
			return "must be a whole number or null";
		return check_range(f, (double)json_integer_value(v), true,
		    reason);
	case FT_NUMBER:
		if (!json_is_number(v))
			return "must be a number or null";
		return check_range(f, json_number_value(v), false, reason);
	case FT_JSON:
		if (!json_is_object(v))
			return "must be a JSON object or null";
		if (f->max_bytes >= 0) {
			if ((dump = json_dumps(v, JSON_COMPACT)) == NULL)
				return "cannot be stored";
			len = strlen(dump);
			free(dump);
			if (len > (size_t)f->max_bytes) {
				(void)snprintf(reason, RESOURCE_REASON_LEN,
				    "too large (at most %ld bytes as compact JSON)",
				    f->max_bytes);
				return reason;
			}
		}
		return NULL;
	default:
		break;
	}
	if (!json_is_string(v))
		return "must be a string or null";
	s = json_string_value(v);
	len = json_string_length(v);
	switch (f->type) {
	case FT_TEXT:
		return check_text(f, s, len, reason);
	case FT_IMAGE:
		return check_image(f, s, len, reason);
	case FT_UUID:
		return uuid_is_canonical(s, len) ?
		    NULL :
		    "must be a UUID in lower case (8-4-4-4-12 hex digits)";
	case FT_TIMESTAMP:
		return timefmt_parse(s, len, &us) == PC_OK ?
		    NULL :
		    "must be an RFC 3339 time with a zone";
	case FT_ENUM:
		return check_enum(f, s, reason);
	default:
		return "cannot be written";
	}
}

static bool
writable(const struct field *f)
{
	return f->policy == FP_BEHIND || f->policy == FP_THROUGH;
}

bool
resource_change_writes(const struct resource *res, const struct field *f)
{
	return writable(f) || f->policy == FP_COUNTER ||
	    (f == res->owner && f != res->key);
}

/* The admin also sets a counter outright: an ordinary versioned change. */
static bool
writable_by(const struct field *f, bool admin)
{
	return writable(f) || (admin && f->policy == FP_COUNTER);
}

json_t *
resource_writable_names(const struct resource *res)
{
	json_t *a;
	size_t i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < res->nfields; i++)
		if (writable(&res->fields[i]) &&
		    json_array_append_new(a,
		        json_string(res->fields[i].name)) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

enum pc_result
resource_patch_parse(const struct resource *res, const char *body, size_t len,
    bool replace, bool admin, json_t **patch, json_t **errors)
{
	enum pc_result r = PC_INVALID;
	json_t *in = NULL, *out = NULL, *errs = NULL, *v;
	const struct field *f;
	json_error_t jerr;
	const char *key, *why;
	char reason[RESOURCE_REASON_LEN];
	size_t i;

	*patch = NULL;
	*errors = NULL;
	if ((in = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	        NULL ||
	    !json_is_object(in))
		goto out;
	r = PC_NOMEM;
	if ((out = json_object()) == NULL || (errs = json_object()) == NULL)
		goto out;
	json_object_foreach(in, key, v) {
		f = resource_field(res, key);
		if (f == NULL)
			why = res->unknown_reason;
		else if (f->policy == FP_COUNTER && !admin)
			why = "a counter: send POST .../increments";
		else if (!writable_by(f, admin))
			why = "read-only";
		else
			why = resource_check_value(f, v, reason);
		if (why != NULL) {
			/* Keys are bounded by the body cap; report each once. */
			if (json_object_set_new(errs, key, json_string(why)) !=
			    0)
				goto out;
			continue;
		}
		if (json_object_set(out, key, v) != 0)
			goto out;
	}
	if (replace) {
		for (i = 0; i < res->nfields; i++) {
			f = &res->fields[i];
			if (writable(f) &&
			    json_object_get(in, f->name) == NULL &&
			    json_object_set_new(out, f->name,
			        f->type == FT_BOOLEAN ? json_false() :
			                                json_null()) != 0)
				goto out;
		}
	}
	if (json_object_size(errs) == 0 && json_object_size(out) == 0 &&
	    json_object_set_new(errs, "body",
	        json_string("no editable field given")) != 0)
		goto out;
	if (json_object_size(errs) > 0) {
		*errors = errs;
		errs = NULL;
		r = PC_INVALID;
		goto out;
	}
	*patch = out;
	out = NULL;
	r = PC_OK;
out:
	json_decref(in);
	json_decref(out);
	json_decref(errs);
	return r;
}

bool
resource_patch_names_through(const struct resource *res, json_t *patch)
{
	size_t i;

	for (i = 0; i < res->nfields; i++)
		if (res->fields[i].policy == FP_THROUGH &&
		    json_object_get(patch, res->fields[i].name) != NULL)
			return true;
	return false;
}

bool
resource_patch_needs_origin(const struct resource *res, json_t *patch,
    json_t *row)
{
	const char *name;
	json_t *v, *cur;
	size_t i;

	for (i = 0; i < res->nfields; i++) {
		if (res->fields[i].policy != FP_THROUGH)
			continue;
		name = res->fields[i].name;
		if ((v = json_object_get(patch, name)) == NULL)
			continue;
		cur = row != NULL ? json_object_get(row, name) : NULL;
		if (json_is_null(v) ? cur != NULL && !json_is_null(cur) :
		                      cur == NULL || !json_equal(v, cur))
			return true;
	}
	return false;
}

const char *
resource_apply_fn(const struct resource *res)
{
	return res->builtin ? "apply_profile_changes" : "profilecache_apply";
}

const char *
resource_delete_fn(const struct resource *res)
{
	return res->builtin ? "delete_profile" : "profilecache_delete";
}

char *
resource_apply_args(const struct resource *res, json_t *changes)
{
	json_t *doc;
	char *s = NULL;

	doc = res->builtin ?
	    json_pack("{s:O}", "changes", changes) :
	    json_pack("{s:s,s:O}", "resource", res->item, "changes", changes);
	if (doc != NULL)
		s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}

char *
resource_delete_args(const struct resource *res, const char *id)
{
	json_t *doc;
	char *s = NULL;

	doc = res->builtin ?
	    json_pack("{s:s}", "id", id) :
	    json_pack("{s:s,s:s}", "resource", res->item, "id", id);
	if (doc != NULL)
		s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	return s;
}
