/* doctor.h: what `vaultctl doctor`'s files share (tools/cmd-status.c runs the checks of the
 * host; tools/doctor-fleet.c those of the fleet). */
#pragma once

#include <json-c/json.h>

#include "tools/vaultctl.h"

struct doctor {
	unsigned failed, warned;
};

/* One check's line: level 0 ok, 1 WARN, 2 FAIL, with advice printed for a WARN or FAIL. */
void doctor_check(struct doctor *d, int level, const char *what, const char *advice);
/* The fleet's checks ([fleet] conninfo set); st: the daemon's status, NULL without one. */
void doctor_fleet(struct doctor *d, struct ctl *ctl, struct json_object *st);
