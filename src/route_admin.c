/* HTTP for /v1/admin/...: what operators and the database call. */
#include "autoconf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "profile.h"
#include "route_admin.h"
#include "route_auth.h"
#include "usecase_read.h"
#include "uuid.h"

void
route_admin_invalidate(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	struct auth_caller who;
	json_error_t jerr;
	json_t *doc = NULL, *rec;
	const char *type, *id;
	char *body = NULL, *answer;
	size_t len = 0;
	bool deleted;
	enum pc_result r;

	/* No user owns the empty id: only the admin gets through. */
	if (!route_auth_owner(app, req, resp, "", &who))
		goto out;
	if (!http_json_body(req, resp, (size_t)app->cfg.limits_max_body, &body,
	        &len))
		goto out;
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	type = json_string_value(json_object_get(doc, "type"));
	deleted = type != NULL && strcmp(type, "DELETE") == 0;
	rec = json_object_get(doc, deleted ? "old_record" : "record");
	id = json_string_value(json_object_get(rec, "id"));
	if (!json_is_object(doc) || type == NULL || id == NULL ||
	    !uuid_is_canonical(id, strlen(id))) {
		http_error(resp, 400, "bad_webhook",
		    "expected a database webhook body: {\"type\",\"record\"|\"old_record\":{\"id\"}}");
		goto out;
	}
	r = usecase_outside(app, profile_resource(), id, deleted);
	if (r != PC_OK && r != PC_NOTFOUND) {
		http_error_result(resp, r,
		    r == PC_UNAVAILABLE ? "origin_unavailable" : NULL,
		    "the database could not be read; the cached entry was dropped",
		    app->cfg.origin_retry_after);
		goto out;
	}
	if ((answer = malloc(128)) == NULL) {
		http_error(resp, 500, "internal", "out of memory");
		goto out;
	}
	len = (size_t)snprintf(answer, 128, "{\"id\":\"%s\",\"action\":\"%s\"}",
	    id, deleted ? "dropped" : "refreshed");
	http_header_add(resp, "Cache-Control", "no-store");
	http_body(resp, 200, "application/json", answer, len, answer);
out:
	json_decref(doc);
	free(body);
}
