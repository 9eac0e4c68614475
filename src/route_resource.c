/* HTTP for /v1/{resource}/{id}: the rows of declared resources. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "metrics.h"
#include "resource.h"
#include "route_auth.h"
#include "route_resource.h"
#include "timefmt.h"
#include "usecase_increment.h"
#include "usecase_list.h"
#include "usecase_read.h"
#include "usecase_write.h"
#include "uuid.h"

static const char *const source_names[] = {
	[READ_HIT] = "HIT",
	[READ_MISS] = "MISS",
	[READ_STALE] = "STALE",
};

/* A stale answer sent, refresh its entry: arg is "{resource}/{id}". */
static void
refresh_after(struct app *app, const char *arg)
{
	size_t n = strcspn(arg, "/");
	const struct resource *res = app_resource(app, arg, n);

	if (res != NULL && arg[n] == '/')
		usecase_refresh(app, res, arg + n + 1);
}

const struct resource *
route_resource_of(const struct app *app, const char *path)
{
	const char *name;

	if (strncmp(path, "/v1/", 4) != 0)
		return NULL;
	name = path + 4;
	return resources_find(&app->cfg.resources, name, strcspn(name, "/"));
}

void
route_resource_read(struct app *app, const struct resource *res, const char *id,
    struct http_request *req, struct http_response *resp)
{
	struct read_result rd;
	struct auth_caller who;
	char etag[HTTP_ETAG_LEN], arg[sizeof(resp->after_arg)];

	usecase_read(app, res, id, &rd);
	if (rd.result != PC_OK) {
		http_error_result(resp, rd.result,
		    rd.result == PC_UNAVAILABLE ? "origin_unavailable" : NULL,
		    rd.result == PC_UNAVAILABLE ?
		        "the database is unavailable and this row is not cached" :
		        "the row could not be read",
		    app->cfg.origin_retry_after);
		goto out;
	}

	metrics_add(rd.source == READ_HIT ? MC_CACHE_HIT :
	        rd.source == READ_STALE   ? MC_CACHE_STALE :
	                                    MC_CACHE_MISS,
	    1);
	http_vary_add(resp, "Authorization");
	http_vary_add(resp, "apikey");
	if (rd.refresh) {
		(void)snprintf(arg, sizeof(arg), "%s/%s", res->name, id);
		http_after(resp, refresh_after, arg);
	}
	/*
	 * A hidden row must look missing in every byte to anyone who may not
	 * see it (the admin, or its owner): the same status, body and headers
	 * as a row that does not exist, or the difference tells that the id
	 * has one. So a 404 has no X-Cache either: a hidden row's entry stays
	 * fresh for fresh_ttl and may be STALE, a not-found one lives
	 * negative_ttl and never is.
	 */
	if (rd.hidden &&
	    (route_auth_check(app, req, &who) != AUTH_OK ||
	        !(who.admin ||
	            (rd.owner[0] != '\0' &&
	                route_auth_may_read(&who, rd.owner)))))
		rd.found = false;
	if (!rd.found) {
		http_header_add(resp, "Cache-Control", "no-cache");
		http_body(resp, 404, "application/json", res->not_found_body,
		    res->not_found_len, NULL);
		goto out;
	}
	http_header_add(resp, "X-Cache", "%s", source_names[rd.source]);
	/* A hidden row shown to its owner: no shared cache may keep it. */
	http_header_add(resp, "Cache-Control", "%s",
	    rd.hidden ? "private, no-cache" : "no-cache");
	http_etag_format(rd.answer.tag, etag);
	http_header_add(resp, "ETag", "%s", etag);
	if (http_etag_match(http_request_header(req, "HTTP_IF_NONE_MATCH"),
	        etag)) {
		http_body(resp, 304, NULL, NULL, 0, NULL);
		goto out;
	}
	/* The response takes over the answer's bytes; the body points into them. */
	http_body(resp, 200, "application/json", rd.answer.body,
	    rd.answer.body_len, rd.answer.raw);
	rd.answer.raw = NULL;
out:
	read_result_release(&rd);
}

/* Seconds to wait past max_pending_bytes: cron runs the flusher every
 * minute (etc/crontab.example). */
#define PENDING_RETRY_AFTER_S 60

void
route_resource_write_answer(struct app *app, const struct resource *rs,
    struct write_result *res, struct http_response *resp)
{
	struct answer *a = &res->answer;
	char etag[HTTP_ETAG_LEN], ts[TIMEFMT_LEN], msg[96], *body;
	int n;

	switch (res->outcome) {
	case WRITE_PENDING:
	case WRITE_SYNCED:
		if (a->raw == NULL) {
			/* Durable, but the row is not known (the database was
			 * away) or could not be rendered: the change's version. */
			if (timefmt_format(res->version_us, ts) != PC_OK ||
			    (body = malloc(192)) == NULL) {
				http_error(resp, 500, "internal",
				    "out of memory");
				return;
			}
			n = snprintf(body, 192,
			    "{\"%s\":null,\"sync\":\"pending\","
			    "\"updated_at\":\"%s\"}",
			    rs->item, ts);
			http_header_add(resp, "Cache-Control", "no-store");
			http_body(resp, 202, "application/json", body,
			    (size_t)n, body);
			return;
		}
		http_etag_format(a->tag, etag);
		http_header_add(resp, "ETag", "%s", etag);
		http_header_add(resp, "Cache-Control", "no-store");
		http_body(resp, res->outcome == WRITE_PENDING ? 202 : 200,
		    "application/json", a->body, a->body_len, a->raw);
		a->raw = NULL;
		return;
	case WRITE_NOT_FOUND:
		/* The bytes of a read's 404: a hidden row answers the same. */
		http_body(resp, 404, "application/json", rs->not_found_body,
		    rs->not_found_len, NULL);
		return;
	case WRITE_FORBIDDEN:
		(void)snprintf(msg, sizeof(msg),
		    "only the owner may change this %s", rs->item);
		http_error(resp, 403, "forbidden", msg);
		return;
	case WRITE_EXISTS:
		(void)snprintf(msg, sizeof(msg), "a %s with this id exists",
		    rs->item);
		http_error(resp, 409, "already_exists", msg);
		return;
	case WRITE_PRECONDITION:
		http_error(resp, 412, "precondition_failed",
		    "If-Match does not match the current version");
		return;
	case WRITE_USERNAME_TAKEN:
		http_error(resp, 409, "username_taken",
		    "that username is taken");
		return;
	case WRITE_REJECTED:
		http_error(resp, 422, res->reject_code, res->reject_message);
		return;
	case WRITE_OVER_BUDGET:
		/* Pending changes leave when the flusher has run (every minute). */
		http_header_add(resp, "Retry-After", "%d",
		    PENDING_RETRY_AFTER_S);
		(void)snprintf(msg, sizeof(msg),
		    "too many of this %s's changes are "
		    "still waiting to reach the database; try again later",
		    rs->item);
		http_error(resp, 429, "pending_budget_exceeded", msg);
		return;
	case WRITE_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld",
		    app->cfg.origin_retry_after);
		http_error(resp, 503, "unavailable",
		    "the change could not be made durable; nothing was changed");
		return;
	case WRITE_ERROR:
		break;
	}
	http_error(resp, 500, "internal", "the change could not be completed");
}

/*
 * Who may write row id of rs: the admin, or a signed-in user who is its
 * owner (the key itself), or, when the owner is a field of its own, any
 * signed-in user (the use-case then checks the row's owner field). *actor:
 * the user's id, NULL for the admin.
 */
static bool
may_write(struct app *app, const struct resource *rs, const char *id,
    struct http_request *req, struct http_response *resp,
    struct auth_caller *who, const char **actor)
{
	if (!route_auth_owner(app, req, resp, rs->owner == rs->key ? id : NULL,
	        who))
		return false;
	*actor = who->admin ? NULL : who->claims.sub;
	return true;
}

bool
route_id(const struct resource *res, const char *s, size_t len,
    struct http_response *resp, char *id)
{
	char msg[96];

	if (!uuid_is_canonical(s, len)) {
		(void)snprintf(msg, sizeof(msg),
		    "%s id must be a UUID in canonical lower-case form",
		    res->item);
		http_error(resp, 400, "invalid_id", msg);
		return false;
	}
	memcpy(id, s, UUID_LEN);
	id[UUID_LEN] = '\0';
	return true;
}

/*
 * A POST's body may choose the new row's id: its key field, taken out of
 * the body (*body and *len are replaced) into id. False with 400 when it
 * is not a canonical UUID.
 */
static bool
post_key(const struct resource *rs, char **body, size_t *len, char *id,
    bool *new_id, struct http_response *resp)
{
	json_error_t jerr;
	json_t *doc, *k;
	char *s;

	if ((doc = json_loadb(*body, *len, JSON_REJECT_DUPLICATES, &jerr)) ==
	        NULL ||
	    !json_is_object(doc) ||
	    (k = json_object_get(doc, rs->key->name)) == NULL) {
		json_decref(doc);
		return true; /* the parse that follows answers a bad body */
	}
	if (!route_id(rs, json_is_string(k) ? json_string_value(k) : "",
	        json_string_length(k), resp, id)) {
		json_decref(doc);
		return false;
	}
	(void)json_object_del(doc, rs->key->name);
	s = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (s == NULL) {
		http_error(resp, 500, "internal", "out of memory");
		return false;
	}
	free(*body);
	*body = s;
	*len = strlen(s);
	*new_id = false;
	return true;
}

void
route_resource_write(struct app *app, const struct resource *rs, const char *id,
    enum write_as as, struct http_request *req, struct http_response *resp)
{
	struct write_result res;
	struct http_if_match im;
	struct auth_caller who;
	struct write_request w;
	json_t *patch = NULL, *errors = NULL, *allowed;
	char *body = NULL, key[UUID_LEN + 1];
	size_t len = 0;

	memset(&res, 0, sizeof(res));
	memset(&w, 0, sizeof(w));
	memcpy(key, id, sizeof(key));
	if (!may_write(app, rs, id, req, resp, &who, &w.actor))
		goto out;
	if (!http_json_body(req, resp, (size_t)app->cfg.limits_max_body, &body,
	        &len))
		goto out;
	if (!route_auth_admit_write(app, &who, resp))
		goto out;
	w.new_id = as == WRITE_AS_POST;
	if (as == WRITE_AS_POST &&
	    !post_key(rs, &body, &len, key, &w.new_id, resp))
		goto out;
	if (resource_patch_parse(rs, body, len, as != WRITE_AS_PATCH,
	        w.actor == NULL, &patch, &errors) != PC_OK) {
		if (errors != NULL) {
			allowed = resource_writable_names(rs);
			http_error_fields(resp, 422, "invalid_fields",
			    "some fields are invalid", errors, allowed);
			json_decref(allowed);
		} else
			http_error(resp, 400, "invalid_json",
			    "the body must be one JSON object");
		goto out;
	}
	http_if_match_parse(http_request_header(req, "HTTP_IF_MATCH"), &im);
	w.res = rs;
	w.id = key;
	w.replace = as != WRITE_AS_PATCH;
	w.create = as == WRITE_AS_POST;
	w.patch = patch;
	w.if_match = &im;
	w.max_pending = route_auth_max_pending(app, &who);
	usecase_write(app, &w, &res);
	if (as == WRITE_AS_POST &&
	    (res.outcome == WRITE_PENDING || res.outcome == WRITE_SYNCED))
		http_header_add(resp, "Location", "%s/%s", rs->name, key);
	route_resource_write_answer(app, rs, &res, resp);
	/* Created in the database: 201 (a CGI server makes 200 with a
	 * Location a redirect). */
	if (as == WRITE_AS_POST && resp->status == 200)
		resp->status = 201;
out:
	write_result_release(&res);
	json_decref(patch);
	json_decref(errors);
	free(body);
}

void
route_resource_delete_row(struct app *app, const struct resource *rs,
    const char *id, struct http_request *req, struct http_response *resp)
{
	struct auth_caller who;
	const char *actor;
	char msg[96];

	if (!may_write(app, rs, id, req, resp, &who, &actor) ||
	    (!rs->builtin && !route_auth_admit_write(app, &who, resp)))
		return;
	switch (usecase_delete(app, rs, id, actor)) {
	case DELETE_DONE:
		http_body(resp, 204, NULL, NULL, 0, NULL);
		return;
	case DELETE_FORBIDDEN:
		(void)snprintf(msg, sizeof(msg),
		    "only the owner may delete this %s", rs->item);
		http_error(resp, 403, "forbidden", msg);
		return;
	case DELETE_NOT_FOUND:
		http_body(resp, 404, "application/json", rs->not_found_body,
		    rs->not_found_len, NULL);
		return;
	case DELETE_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld",
		    app->cfg.origin_retry_after);
		http_error(resp, 503, "unavailable",
		    "the database is unavailable; nothing was deleted");
		return;
	case DELETE_ERROR:
		break;
	}
	(void)snprintf(msg, sizeof(msg), "the %s could not be deleted",
	    rs->item);
	http_error(resp, 500, "internal", msg);
}

/* The declared resource of /v1/{resource}...; NULL with 404. */
static const struct resource *
declared(struct app *app, struct http_request *req, struct http_response *resp)
{
	const struct resource *res;

	res = resources_find(&app->cfg.resources, req->param[0],
	    req->param_len[0]);
	if (res == NULL)
		http_error(resp, 404, "not_found", "no such resource");
	return res;
}

/* The declared resource and the id of /v1/{resource}/{id}; NULL with 400/404. */
static const struct resource *
resource_and_id(struct app *app, struct http_request *req,
    struct http_response *resp, char *id)
{
	const struct resource *res = declared(app, req, resp);

	return res != NULL &&
	        route_id(res, req->param[1], req->param_len[1], resp, id) ?
	    res :
	    NULL;
}

void
route_resource_put(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	char id[UUID_LEN + 1];

	if ((res = resource_and_id(app, req, resp, id)) != NULL)
		route_resource_write(app, res, id, WRITE_AS_PUT, req, resp);
}

void
route_resource_patch(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	char id[UUID_LEN + 1];

	if ((res = resource_and_id(app, req, resp, id)) != NULL)
		route_resource_write(app, res, id, WRITE_AS_PATCH, req, resp);
}

void
route_resource_delete(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	char id[UUID_LEN + 1];

	if ((res = resource_and_id(app, req, resp, id)) != NULL)
		route_resource_delete_row(app, res, id, req, resp);
}

void
route_resource_post(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	char id[UUID_LEN + 1];

	if ((res = declared(app, req, resp)) == NULL)
		return;
	uuid_v4(id);
	route_resource_write(app, res, id, WRITE_AS_POST, req, resp);
}

/* A delta this large is a mistake, and sums of them stay far from overflow. */
#define DELTA_MAX INT64_C(1000000000000000)

/*
 * The body of POST .../increments: {"field": a counter (may be left out
 * when there is only one), "delta": a non-zero whole number}. False with
 * 422 (or 400 for what is not a JSON object).
 */
static bool
increment_body(const struct resource *res, const char *body, size_t len,
    struct increment_request *in, struct http_response *resp)
{
	const struct field *f = NULL;
	json_t *doc, *errs, *v;
	json_error_t jerr;
	const char *k;
	size_t i, n;

	if ((doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	        NULL ||
	    !json_is_object(doc)) {
		json_decref(doc);
		http_error(resp, 400, "invalid_json",
		    "the body must be a JSON object");
		return false;
	}
	if ((errs = json_object()) == NULL) {
		json_decref(doc);
		http_error(resp, 500, "internal", "out of memory");
		return false;
	}
	json_object_foreach(doc, k, v)
		if (strcmp(k, "field") != 0 && strcmp(k, "delta") != 0)
			(void)json_object_set_new(errs, k,
			    json_string(
			        "unknown field; allowed: field, delta"));
	if ((v = json_object_get(doc, "field")) != NULL) {
		f = json_is_string(v) ?
		    resource_field(res, json_string_value(v)) :
		    NULL;
		if (f == NULL || f->policy != FP_COUNTER)
			(void)json_object_set_new(errs, "field",
			    json_string("not a counter"));
	} else {
		for (i = 0, n = 0; i < res->nfields; i++)
			if (res->fields[i].policy == FP_COUNTER && n++ == 0)
				f = &res->fields[i];
		if (n > 1) {
			f = NULL;
			(void)json_object_set_new(errs, "field",
			    json_string(
			        "required: this resource has more than one counter"));
		}
	}
	v = json_object_get(doc, "delta");
	if (!json_is_integer(v) || json_integer_value(v) == 0 ||
	    json_integer_value(v) > DELTA_MAX ||
	    json_integer_value(v) < -DELTA_MAX)
		(void)json_object_set_new(errs, "delta",
		    json_string(
		        "required: a whole number, not 0, of at most 10^15 either way"));
	in->field = f;
	in->delta = json_integer_value(v);
	json_decref(doc);
	if (json_object_size(errs) > 0 || f == NULL) {
		http_error_fields(resp, 422, "invalid_fields",
		    "some fields are invalid", errs, NULL);
		json_decref(errs);
		return false;
	}
	json_decref(errs);
	return true;
}

static void
increment_answer(struct app *app, const struct resource *res,
    const struct increment_request *in, struct increment_result *out,
    struct http_response *resp)
{
	char msg[160];

	switch (out->outcome) {
	case INCREMENT_REPEATED:
		http_header_add(resp, "Idempotent-Replayed", "true");
		/* FALLTHROUGH */
	case INCREMENT_PENDING:
		/* The response frees the body. */
		http_body(resp, 202, "application/json", out->body,
		    out->body_len, out->body);
		out->body = NULL;
		return;
	case INCREMENT_BELOW_MIN:
		(void)snprintf(msg, sizeof(msg), "%s would fall below %.0f",
		    in->field->name, in->field->min);
		http_error(resp, 409, "insufficient_balance", msg);
		return;
	case INCREMENT_ABOVE_MAX:
		(void)snprintf(msg, sizeof(msg), "%s would pass %.0f",
		    in->field->name, in->field->max);
		http_error(resp, 409, "over_limit", msg);
		return;
	case INCREMENT_KEY_REUSED:
		http_error(resp, 422, "idempotency_key_reused",
		    "this Idempotency-Key was sent with another increment");
		return;
	case INCREMENT_NOT_FOUND:
		http_body(resp, 404, "application/json", res->not_found_body,
		    res->not_found_len, NULL);
		return;
	case INCREMENT_FORBIDDEN:
		(void)snprintf(msg, sizeof(msg),
		    "%s: this increment is the admin's to make",
		    in->field->name);
		http_error(resp, 403, "forbidden", msg);
		return;
	case INCREMENT_OVER_BUDGET:
		http_header_add(resp, "Retry-After", "%d",
		    PENDING_RETRY_AFTER_S);
		(void)snprintf(msg, sizeof(msg),
		    "too many of this %s's changes are "
		    "still waiting to reach the database; try again later",
		    res->item);
		http_error(resp, 429, "pending_budget_exceeded", msg);
		return;
	case INCREMENT_BUSY:
		http_header_add(resp, "Retry-After", "1");
		http_error(resp, 503, "busy",
		    "other increments of this row are being made; "
		    "nothing was changed");
		return;
	case INCREMENT_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld",
		    app->cfg.origin_retry_after);
		http_error(resp, 503, "unavailable",
		    "the increment could not be checked or made durable; nothing was changed");
		return;
	case INCREMENT_ERROR:
		break;
	}
	http_error(resp, 500, "internal",
	    "the increment could not be completed");
}

void
route_resource_increment(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	struct increment_request in = { 0 };
	struct increment_result out = { 0 };
	struct auth_caller who;
	const struct resource *res;
	const char *key;
	char id[UUID_LEN + 1], *body = NULL;
	size_t len = 0;

	if ((res = resource_and_id(app, req, resp, id)) == NULL)
		return;
	if (!res->counters) {
		http_error(resp, 404, "not_found",
		    "this resource has no counter");
		return;
	}
	if (!may_write(app, res, id, req, resp, &who, &in.actor))
		return;
	key = http_request_header(req, "HTTP_IDEMPOTENCY_KEY");
	if (key == NULL || !increment_key_valid(key, strlen(key))) {
		http_error(resp, 400,
		    key == NULL ? "idempotency_key_required" :
		                  "invalid_idempotency_key",
		    "an increment needs an Idempotency-Key "
		    "header: 1 to 64 of A-Z, a-z, 0-9, -, _, . and : (a UUID will do)");
		return;
	}
	if (!http_json_body(req, resp, (size_t)app->cfg.limits_max_body, &body,
	        &len))
		return;
	if (!route_auth_admit_write(app, &who, resp) ||
	    !increment_body(res, body, len, &in, resp))
		goto out;
	in.res = res;
	in.id = id;
	in.key = key;
	in.max_pending = route_auth_max_pending(app, &who);
	usecase_increment(app, &in, &out);
	increment_answer(app, res, &in, &out, resp);
out:
	increment_result_release(&out);
	free(body);
}

void
route_resource_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	char id[UUID_LEN + 1];

	if ((res = resource_and_id(app, req, resp, id)) != NULL)
		route_resource_read(app, res, id, req, resp);
}

void
route_resource_list(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	struct list_result out;
	struct list_query q;
	struct auth_caller who;
	const char *viewer = NULL;
	char err[PC_ERRLEN];
	bool admin = false;

	if ((res = declared(app, req, resp)) == NULL)
		return;
	if (list_query_parse(res, req->query, &q, err) != PC_OK) {
		http_error(resp, 400, "invalid_query", err);
		return;
	}
	/* Who asks decides which hidden rows show: a bad token is no one. */
	if (route_auth_check(app, req, &who) == AUTH_OK) {
		admin = who.admin;
		/* As for a single row: a signed-in user (role authenticated). */
		if (!admin && strcmp(who.claims.role, "authenticated") == 0)
			viewer = who.claims.sub;
	}
	if (res->owner_reads && !admin && !list_query_owned_by(&q, viewer)) {
		(void)snprintf(err, sizeof(err),
		    "only your own rows are listed: "
		    "filter by %s=eq.YOUR-USER-ID with your token",
		    res->owner->name);
		http_error(resp, 403, "forbidden", err);
		return;
	}
	usecase_list(app, &q, viewer, admin, &out);
	http_vary_add(resp, "Authorization");
	http_vary_add(resp, "apikey");
	switch (out.result) {
	case PC_OK:
		/* No X-Cache: it would tell whether someone else just asked. */
		metrics_add(out.hit ? MC_CACHE_HIT : MC_CACHE_MISS, 1);
		http_header_add(resp, "Cache-Control", "%s",
		    out.personal || res->owner_reads ? "private, no-cache" :
		                                       "no-cache");
		http_body(resp, 200, "application/json", out.body, out.len,
		    out.body);
		out.body = NULL;
		break;
	default:
		http_error_result(resp, out.result,
		    out.result == PC_UNAVAILABLE ? "origin_unavailable" : NULL,
		    out.result == PC_UNAVAILABLE ?
		        "the database is unavailable and this list is not cached" :
		        "the list could not be read",
		    app->cfg.origin_retry_after);
		break;
	}
	list_result_release(&out);
}
