/*
 * A named network of emberd: {"name", "ipv4": "10.0.0.1/24" (the host's
 * address on it), "bridge" (default "em-NAME"), "nat": bool, "dhcp":
 * {"start", "end"}, "autostart": bool}.
 */
#ifndef EMBER_MANAGER_NETWORK_H
#define EMBER_MANAGER_NETWORK_H

#include <json-c/json.h>
#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include "util/compiler.h"
#include "util/err.h"

int net_check(struct json_object *def, struct err *err) __must_check;
void net_bridge_name(struct json_object *def, char out[IFNAMSIZ]);
bool net_is_up(struct json_object *def);

/* Bridge, address, NAT, DHCP (dnsmasq's files in `run`); all or nothing. */
int net_start(struct json_object *def, const char *run, struct err *err) __must_check;
void net_stop(struct json_object *def, const char *run);

/*
 * A persistent tap for a VM interface, on the network's bridge (owned by
 * `owner`/`group` when not NULL: a jailed VM's); and its removal.
 */
int net_attach_tap(struct json_object *def, const char *tap, const uid_t *owner, const gid_t *group,
		   struct err *err) __must_check;
void net_detach_tap(const char *tap);

#endif
