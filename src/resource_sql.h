/* The SQL that makes a database ready for the declared resources. */
#ifndef PC_RESOURCE_SQL_H
#define PC_RESOURCE_SQL_H

#include <stdio.h>

#include "resource.h"
#include "result.h"

/*
 * Print a reviewable migration for builtin (profiles) and every resource
 * of set: each table of set created if missing, every declared column and
 * field_versions added if missing, row-level security with owner policies
 * for the API roles, grants to service_role; and for each resource,
 * builtin included, its row in profilecache.resources (the columns a
 * change may write and their JSON types), which lets profilecache_apply
 * and profilecache_delete (schema/postgres/30_apply.sql, loaded first)
 * reach it, and the triggers that version outside writes. One
 * transaction; idempotent. PC_ERROR when out cannot be written.
 */
enum pc_result resources_sql(const struct resource *builtin,
    const struct resources *set, FILE *out);

#endif
