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

/*
 * Whether who may see row id of res while it is hidden: the admin, or the
 * row's owner (the key itself, or the owner field of the cached row).
 */
static bool
may_read_hidden(const struct resource *res, const struct cache_entry *e,
    const char *id, const struct auth_caller *who)
{
	const char *owner;
	json_t *row;
	bool ok;

	if (who->admin)
		return true;
	if (res->owner == NULL)
		return false;
	if (res->owner == res->key)
		return route_auth_may_read(who, id);
	if ((row = usecase_entry_row(res, e)) == NULL)
		return false;
	owner = json_string_value(json_object_get(row, res->owner->name));
	ok = owner != NULL && route_auth_may_read(who, owner);
	json_decref(row);
	return ok;
}

void
route_resource_read(struct app *app, const struct resource *res, const char *id,
    struct http_request *req, struct http_response *resp)
{
	struct read_result rd;
	struct cache_entry *e = &rd.entry;
	struct auth_caller who;
	char etag[HTTP_ETAG_LEN], arg[sizeof(resp->after_arg)];

	usecase_read(app, res, id, &rd);
	switch (rd.result) {
	case PC_OK:
		break;
	case PC_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld", app->cfg.origin_retry_after);
		http_error(resp, 503, "origin_unavailable",
		    "the database is unavailable and this row is not cached");
		goto out;
	default:
		http_error(resp, 502, "bad_origin_answer",
		    "the database answered in an unexpected way");
		goto out;
	}

	metrics_add(rd.source == READ_HIT ? MC_CACHE_HIT : rd.source == READ_STALE ?
	    MC_CACHE_STALE : MC_CACHE_MISS, 1);
	http_vary_add(resp, "Authorization");
	http_vary_add(resp, "apikey");
	if (rd.refresh) {
		(void)snprintf(arg, sizeof(arg), "%s/%s", res->name, id);
		http_after(resp, refresh_after, arg);
	}
	/*
	 * A hidden row must look missing in every byte to anyone who may not
	 * see it: the same status, body and headers as a row that does not
	 * exist, or the difference tells that the id has one. So a 404 has
	 * no X-Cache either: a hidden row's entry stays fresh for fresh_ttl
	 * and may be STALE, a not-found one lives negative_ttl and never is.
	 */
	if ((e->flags & CACHE_F_PRIVATE) &&
	    (route_auth_check(app, req, &who) != AUTH_OK ||
	    !may_read_hidden(res, e, id, &who)))
		e->flags |= CACHE_F_NOTFOUND;
	if (e->flags & CACHE_F_NOTFOUND) {
		http_header_add(resp, "Cache-Control", "no-cache");
		http_body(resp, 404, "application/json", res->not_found_body,
		    res->not_found_len, NULL);
		goto out;
	}
	http_header_add(resp, "X-Cache", "%s", source_names[rd.source]);
	/* A hidden row shown to its owner: no shared cache may keep it. */
	http_header_add(resp, "Cache-Control", "%s",
	    e->flags & CACHE_F_PRIVATE ? "private, no-cache" : "no-cache");
	http_etag_format(e->tag, etag);
	http_header_add(resp, "ETag", "%s", etag);
	if (http_etag_match(http_request_header(req, "HTTP_IF_NONE_MATCH"), etag)) {
		http_body(resp, 304, NULL, NULL, 0, NULL);
		goto out;
	}
	/* The response takes over the cached value; the body points into it. */
	http_body(resp, 200, "application/json", e->body, e->body_len, e->raw);
	e->raw = NULL;
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
	struct cache_entry *e = &res->entry;
	char etag[HTTP_ETAG_LEN], ts[TIMEFMT_LEN], msg[96], *body;
	int n;

	switch (res->outcome) {
	case WRITE_PENDING:
	case WRITE_SYNCED:
		if (e->raw == NULL) {
			/* Durable, but the row is not known (the database was
			 * away) or could not be rendered: the change's version. */
			if (timefmt_format(res->version_us, ts) != PC_OK ||
			    (body = malloc(192)) == NULL) {
				http_error(resp, 500, "internal", "out of memory");
				return;
			}
			n = snprintf(body, 192, "{\"%s\":null,\"sync\":\"pending\","
			    "\"updated_at\":\"%s\"}", rs->item, ts);
			http_header_add(resp, "Cache-Control", "no-store");
			http_body(resp, 202, "application/json", body, (size_t)n, body);
			return;
		}
		http_etag_format(e->tag, etag);
		http_header_add(resp, "ETag", "%s", etag);
		http_header_add(resp, "Cache-Control", "no-store");
		http_body(resp, res->outcome == WRITE_PENDING ? 202 : 200,
		    "application/json", e->body, e->body_len, e->raw);
		e->raw = NULL;
		return;
	case WRITE_NOT_FOUND:
		/* The bytes of a read's 404: a hidden row answers the same. */
		http_body(resp, 404, "application/json", rs->not_found_body,
		    rs->not_found_len, NULL);
		return;
	case WRITE_FORBIDDEN:
		(void)snprintf(msg, sizeof(msg), "only the owner may change this %s",
		    rs->item);
		http_error(resp, 403, "forbidden", msg);
		return;
	case WRITE_EXISTS:
		(void)snprintf(msg, sizeof(msg), "a %s with this id exists", rs->item);
		http_error(resp, 409, "already_exists", msg);
		return;
	case WRITE_PRECONDITION:
		http_error(resp, 412, "precondition_failed",
		    "If-Match does not match the current version");
		return;
	case WRITE_USERNAME_TAKEN:
		http_error(resp, 409, "username_taken", "that username is taken");
		return;
	case WRITE_REJECTED:
		http_error(resp, 422, res->reject_code, res->reject_message);
		return;
	case WRITE_OVER_BUDGET:
		/* Pending changes leave when the flusher has run (every minute). */
		http_header_add(resp, "Retry-After", "%d", PENDING_RETRY_AFTER_S);
		(void)snprintf(msg, sizeof(msg), "too many of this %s's changes are "
		    "still waiting to reach the database; try again later", rs->item);
		http_error(resp, 429, "pending_budget_exceeded", msg);
		return;
	case WRITE_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld", app->cfg.origin_retry_after);
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
	if (!route_auth_owner(app, req, resp, rs->owner == rs->key ? id : NULL, who))
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
		    "%s id must be a UUID in canonical lower-case form", res->item);
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

	if ((doc = json_loadb(*body, *len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(doc) || (k = json_object_get(doc, rs->key->name)) == NULL) {
		json_decref(doc);
		return true;	/* the parse that follows answers a bad body */
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
	if (!http_json_body(req, resp, (size_t)app->cfg.limits_max_body, &body, &len))
		goto out;
	if (!route_auth_admit_write(app, &who, resp))
		goto out;
	w.new_id = as == WRITE_AS_POST;
	if (as == WRITE_AS_POST && !post_key(rs, &body, &len, key, &w.new_id, resp))
		goto out;
	if (resource_patch_parse(rs, body, len, as != WRITE_AS_PATCH, &patch,
	    &errors) != PC_OK) {
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
	if (as == WRITE_AS_POST && (res.outcome == WRITE_PENDING ||
	    res.outcome == WRITE_SYNCED))
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
		(void)snprintf(msg, sizeof(msg), "only the owner may delete this %s",
		    rs->item);
		http_error(resp, 403, "forbidden", msg);
		return;
	case DELETE_NOT_FOUND:
		http_body(resp, 404, "application/json", rs->not_found_body,
		    rs->not_found_len, NULL);
		return;
	case DELETE_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld", app->cfg.origin_retry_after);
		http_error(resp, 503, "unavailable",
		    "the database is unavailable; nothing was deleted");
		return;
	case DELETE_ERROR:
		break;
	}
	(void)snprintf(msg, sizeof(msg), "the %s could not be deleted", rs->item);
	http_error(resp, 500, "internal", msg);
}

/* The declared resource of /v1/{resource}...; NULL with 404. */
static const struct resource *
declared(struct app *app, struct http_request *req, struct http_response *resp)
{
	const struct resource *res;

	res = resources_find(&app->cfg.resources, req->param[0], req->param_len[0]);
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

	return res != NULL && route_id(res, req->param[1], req->param_len[1], resp,
	    id) ? res : NULL;
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
		(void)snprintf(err, sizeof(err), "only your own rows are listed: "
		    "filter by %s=eq.YOUR-USER-ID with your token", res->owner->name);
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
		http_header_add(resp, "Cache-Control", "%s", out.personal || res->owner_reads ?
		    "private, no-cache" : "no-cache");
		http_body(resp, 200, "application/json", out.body, out.len, out.body);
		out.body = NULL;
		break;
	case PC_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld", app->cfg.origin_retry_after);
		http_error(resp, 503, "origin_unavailable",
		    "the database is unavailable and this list is not cached");
		break;
	default:
		http_error(resp, 502, "bad_origin_answer",
		    "the database answered in an unexpected way");
		break;
	}
	list_result_release(&out);
}
