/*
 * Scheduling and limits through Linux, as the classic stack does: a VM's
 * ember process in its own cgroup, ember/NAME (v2, or the v1 controllers of
 * a hybrid host), with the definition's "limits" (cpu_quota_pct: percent of
 * one CPU, cpu_weight and io_weight: 1-10000, memory_max_mib, cpuset: a CPU
 * list), and each vCPU thread pinned to its "vcpu_pinning" CPU list.
 */
#ifndef EMBER_MANAGER_LIMITS_H
#define EMBER_MANAGER_LIMITS_H

#include <json-c/json.h>
#include <sched.h>
#include <sys/types.h>

#include "util/compiler.h"
#include "util/err.h"

/* "0-3,6" into a set; -EINVAL when it is not a CPU list. */
int cpulist_parse(const char *s, cpu_set_t *set) __must_check;

/* Checks a definition's "limits" and "vcpu_pinning" (types and ranges). */
int limits_check(struct json_object *def, struct err *err) __must_check;
int limits_check_one(const char *key, struct json_object *value, struct err *err) __must_check;

/* Puts the new process `pid` in its cgroup with the limits set (none: nothing to do). */
int limits_join(const char *name, struct json_object *def, pid_t pid, struct err *err) __must_check;

/* Changes one limit of a running VM. */
int limits_set(const char *name, const char *key, struct json_object *value,
	       struct err *err) __must_check;

/* Pins the vCPU threads of ember `pid` as the definition says, or one of them. */
int limits_pin(pid_t pid, struct json_object *def, struct err *err) __must_check;
int limits_pin_vcpu(pid_t pid, unsigned int vcpu, const char *cpus, struct err *err) __must_check;

/* The VM's cgroup goes once its process ended. */
void limits_remove(const char *name);

#endif
