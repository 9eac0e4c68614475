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
#include "usecase_read.h"
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

void
route_resource_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	const struct resource *res;
	char id[UUID_LEN + 1];

	res = resources_find(&app->cfg.resources, req->param[0], req->param_len[0]);
	if (res == NULL) {
		http_error(resp, 404, "not_found", "no such resource");
		return;
	}
	if (!uuid_is_canonical(req->param[1], req->param_len[1])) {
		http_error(resp, 400, "invalid_id",
		    "the id must be a UUID in canonical lower-case form");
		return;
	}
	memcpy(id, req->param[1], UUID_LEN);
	id[UUID_LEN] = '\0';
	route_resource_read(app, res, id, req, resp);
}
