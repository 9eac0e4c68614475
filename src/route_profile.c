/* HTTP for /v1/profiles/{id}. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "profile.h"
#include "route_auth.h"
#include "route_profile.h"
#include "route_resource.h"
#include "timefmt.h"
#include "usecase_profile_write.h"
#include "uuid.h"

/* Seconds to wait past max_pending_bytes: cron runs the flusher every
 * minute (etc/crontab.example). */
#define PENDING_RETRY_AFTER_S 60

bool
route_profile_id(const struct http_request *req, struct http_response *resp,
    char *id)
{
	if (!uuid_is_canonical(req->param[0], req->param_len[0])) {
		http_error(resp, 400, "invalid_id",
		    "profile id must be a UUID in canonical lower-case form");
		return false;
	}
	memcpy(id, req->param[0], UUID_LEN);
	id[UUID_LEN] = '\0';
	return true;
}

void
route_profile_get(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char id[UUID_LEN + 1];

	if (route_profile_id(req, resp, id))
		route_resource_read(app, profile_resource(), id, req, resp);
}

void
route_profile_write_answer(struct app *app, struct profile_write_result *res,
    struct http_response *resp)
{
	struct cache_entry *e = &res->entry;
	char etag[HTTP_ETAG_LEN];

	char ts[TIMEFMT_LEN], *body;
	int n;

	switch (res->outcome) {
	case WRITE_PENDING:
	case WRITE_SYNCED:
		if (e->raw == NULL) {
			/* Durable, but the profile is not known (the database was
			 * away) or could not be rendered: the change's version. */
			if (timefmt_format(res->version_us, ts) != PC_OK ||
			    (body = malloc(128)) == NULL) {
				http_error(resp, 500, "internal", "out of memory");
				return;
			}
			n = snprintf(body, 128, "{\"profile\":null,\"sync\":\"pending\","
			    "\"updated_at\":\"%s\"}", ts);
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
		http_error(resp, 404, "not_found", "profile not found");
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
		http_error(resp, 429, "pending_budget_exceeded",
		    "too many of this profile's changes are still waiting to reach "
		    "the database; try again later");
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

/* PUT and PATCH: the same checks in the same order, then the write. */
static void
profile_write(struct app *app, struct http_request *req,
    struct http_response *resp, bool replace)
{
	struct profile_write_result res;
	struct http_if_match im;
	struct auth_caller who;
	struct profile_write w;
	json_t *patch = NULL, *errors = NULL, *allowed;
	char id[UUID_LEN + 1], *body = NULL;
	size_t len = 0;

	memset(&res, 0, sizeof(res));
	if (!route_profile_id(req, resp, id) ||
	    !route_auth_owner(app, req, resp, id, &who))
		goto out;
	if (!http_json_body(req, resp, (size_t)app->cfg.limits_max_body, &body, &len))
		goto out;
	if (!route_auth_admit_write(app, &who, resp))
		goto out;
	if (profile_patch_parse(body, len, replace, &patch, &errors) != PC_OK) {
		if (errors != NULL) {
			allowed = profile_editable_names();
			http_error_fields(resp, 422, "invalid_fields",
			    "some fields are invalid", errors, allowed);
			json_decref(allowed);
		} else
			http_error(resp, 400, "invalid_json",
			    "the body must be one JSON object");
		goto out;
	}
	http_if_match_parse(http_request_header(req, "HTTP_IF_MATCH"), &im);
	w.id = id;
	w.replace = replace;
	w.patch = patch;
	w.if_match = &im;
	w.max_pending = route_auth_max_pending(app, &who);
	usecase_profile_write(app, &w, &res);
	route_profile_write_answer(app, &res, resp);
out:
	profile_write_result_release(&res);
	json_decref(patch);
	json_decref(errors);
	free(body);
}

void
route_profile_put(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	profile_write(app, req, resp, true);
}

void
route_profile_patch(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	profile_write(app, req, resp, false);
}

void
route_profile_delete(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	struct auth_caller who;
	char id[UUID_LEN + 1];

	if (!route_profile_id(req, resp, id) ||
	    !route_auth_owner(app, req, resp, id, &who))
		return;
	switch (usecase_profile_delete(app, id)) {
	case DELETE_DONE:
		http_body(resp, 204, NULL, NULL, 0, NULL);
		return;
	case DELETE_NOT_FOUND:
		http_error(resp, 404, "not_found", "profile not found");
		return;
	case DELETE_UNAVAILABLE:
		http_header_add(resp, "Retry-After", "%ld", app->cfg.origin_retry_after);
		http_error(resp, 503, "unavailable",
		    "the database is unavailable; nothing was deleted");
		return;
	case DELETE_ERROR:
		break;
	}
	http_error(resp, 500, "internal", "the profile could not be deleted");
}
