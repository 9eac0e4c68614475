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
#include "usecase_write.h"
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
route_profile_write_answer(struct app *app, struct write_result *res,
    struct http_response *resp)
{
	route_resource_write_answer(app, profile_resource(), res, resp);
}

void
route_profile_put(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char id[UUID_LEN + 1];

	if (route_profile_id(req, resp, id))
		route_resource_write(app, profile_resource(), id, WRITE_AS_PUT, req, resp);
}

void
route_profile_patch(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char id[UUID_LEN + 1];

	if (route_profile_id(req, resp, id))
		route_resource_write(app, profile_resource(), id, WRITE_AS_PATCH, req,
		    resp);
}

void
route_profile_delete(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char id[UUID_LEN + 1];

	if (route_profile_id(req, resp, id))
		route_resource_delete_row(app, profile_resource(), id, req, resp);
}
