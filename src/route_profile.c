/* HTTP for /v1/profiles/{id}. */
#include "autoconf.h"

#include "app.h"
#include "profile.h"
#include "route_profile.h"
#include "route_resource.h"
#include "usecase_write.h"
#include "uuid.h"

bool
route_profile_id(const struct http_request *req, struct http_response *resp,
    char *id)
{
	return route_id(profile_resource(), req->param[0], req->param_len[0],
	    resp, id);
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
		route_resource_write(app, profile_resource(), id, WRITE_AS_PUT,
		    req, resp);
}

void
route_profile_patch(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char id[UUID_LEN + 1];

	if (route_profile_id(req, resp, id))
		route_resource_write(app, profile_resource(), id,
		    WRITE_AS_PATCH, req, resp);
}

void
route_profile_delete(struct app *app, struct http_request *req,
    struct http_response *resp)
{
	char id[UUID_LEN + 1];

	if (route_profile_id(req, resp, id))
		route_resource_delete_row(app, profile_resource(), id, req,
		    resp);
}
