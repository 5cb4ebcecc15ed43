/*
 * The VM description in Firecracker's JSON shapes: the bodies of the API's
 * pre-boot PUTs, the --config-file document (the same resources under
 * their names), and GET /vm/config. Field names, types and meanings follow
 * Firecracker's OpenAPI description; anything unknown, mistyped or out of
 * range is refused with a message naming the field, and a refused request
 * leaves the config as it was.
 */
#ifndef EMBER_CONFIG_VM_JSON_H
#define EMBER_CONFIG_VM_JSON_H

#include <json-c/json.h>
#include <stddef.h>

#include "config/vm_config.h"
#include "util/compiler.h"
#include "util/err.h"

#define VM_JSON_MAX_DEPTH 16

/* Parses one JSON object (nothing after it); *out is the caller's to put. */
int vm_json_parse(const char *buf, size_t len, struct json_object **out,
		  struct err *err) __must_check;

/* The pre-boot resources. `id` is the path's id (NULL: from the config file). */
int vm_json_boot_source(struct vm_config *c, struct json_object *o, struct err *err) __must_check;
int vm_json_machine_config(struct vm_config *c, struct json_object *o, bool partial,
			   struct err *err) __must_check;
int vm_json_drive(struct vm_config *c, const char *id, struct json_object *o,
		  struct err *err) __must_check;
int vm_json_net(struct vm_config *c, const char *id, struct json_object *o,
		struct err *err) __must_check;
int vm_json_vsock(struct vm_config *c, struct json_object *o, struct err *err) __must_check;
int vm_json_entropy(struct vm_config *c, struct json_object *o, struct err *err) __must_check;
int vm_json_serial(struct vm_config *c, struct json_object *o, struct err *err) __must_check;

/*
 * A whole --config-file document: boot-source, machine-config, drives,
 * network-interfaces, vsock, entropy (logger and metrics are the caller's:
 * `process` gets each of those objects, may be NULL to refuse them).
 */
int vm_json_config_file(struct vm_config *c, struct json_object *doc,
			int (*process)(const char *key, struct json_object *o, void *ctx,
				       struct err *err),
			void *ctx, struct err *err) __must_check;

/* GET /vm/config: the config as Firecracker's FullVmConfiguration. */
struct json_object *vm_json_dump(const struct vm_config *c);

/*
 * The whole description, as a snapshot keeps it to build the same VM again:
 * ember's own format (every field, devices in their order), not
 * Firecracker's. Loading fills an empty config and checks every field's
 * type; ranges are vm_config_validate()'s business.
 */
struct json_object *vm_json_state_dump(const struct vm_config *c);
int vm_json_state_load(struct vm_config *c, struct json_object *o, struct err *err) __must_check;

/* Checks `o`'s keys against `fields` ("name:type", type one of s i b o a). */
int vm_json_check(struct json_object *o, const char *what, const char *const *fields, size_t n,
		  struct err *err) __must_check;

#endif
