/* cgroup.h: what a cgroup v2 path says about the process in it: its systemd unit and slice,
 * whether the unit is a user unit (under a delegated user@UID.service subtree), and the
 * container and pod ids of Docker, Podman, containerd and CRI-O under both the systemd and the
 * cgroupfs drivers (../shared/cgroup-paths.md). Pure: a string in, a struct out.
 *
 * Who made a segment: a container runtime makes the container's cgroup, and may hand the tree
 * below it to the container (systemd's Delegate=, a writable cgroupfs); a unit's tree is the
 * unit's own (with Delegate=, its processes make cgroups there: nspawn, LXC, user@UID.service).
 * So the container is the outermost container-looking segment, the one the runtime made; a
 * container or pod segment below a container, below a unit or below an LXC payload is a name
 * its workload may have made, and the container (or pod) is then unknown. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* "user@4294967295.service/" and a unit name of up to 255 bytes, with its NUL. */
#define CGROUP_UNIT_MAX 288u
/* "user@4294967295.service/" and a 64-hex id, with its NUL. */
#define CGROUP_ID_MAX 96u

struct cgroup_info {
	/* The unit: the first unit under the leading slices ("payments-api.service",
	 * "init.scope", "docker-ID.scope"). Below user@UID.service it is the user unit, named
	 * "user@UID.service/NAME" so it can never be taken for the system unit NAME. "" when the
	 * path holds no unit ("/", "/docker/ID"). */
	char unit[CGROUP_UNIT_MAX];
	/* The innermost slice above the unit ("system.slice"), "-.slice" for none. */
	char slice[CGROUP_UNIT_MAX];
	/* The container id (64 hex) of the outermost container-looking segment, "" for none.
	 * Ids found below user@UID.service (rootless runtimes) are named "user@UID.service/ID":
	 * their user can make such names. When container_unknown, "?(ID)": the innermost id
	 * claimed where no runtime of the host made it, kept for the record. */
	char container[CGROUP_ID_MAX];
	/* The outermost pod: a Kubernetes pod UID (with '-') or a Podman pod id; "" for none.
	 * Named like container below user@UID.service; "?(ID)" when pod_unknown. */
	char pod[CGROUP_ID_MAX];
	bool container_unknown; /* a container segment below a container, unit or LXC payload */
	bool pod_unknown;	/* a pod segment below a container, unit, LXC payload or pod */
	bool user_unit;		/* unit is a user unit */
	bool delegated;		/* the path runs through user@UID.service */
	uint32_t user_uid;	/* that UID, when delegated */
};

/* Derive from path, an absolute cgroup v2 path as in the "0::" line of /proc/PID/cgroup.
 * -EINVAL when it is not absolute or holds "." or ".." segments (a path outside our cgroup
 * namespace), -ENAMETOOLONG past VAULTFS_PATH_MAX. */
int cgroup_parse(const char *path, struct cgroup_info *ret);
