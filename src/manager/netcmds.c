/* emberd's network commands: net-define, net-undefine, net-start, net-destroy, net-list, net-info.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "manager/emberd.h"
#include "manager/network.h"
#include "manager/store.h"
#include "util/log.h"

struct mnet *emberd_net_find(struct emberd *d, const char *name)
{
	for (struct mnet *n = d->nets; n; n = n->next)
		if (!strcmp(n->name, name))
			return n;
	return NULL;
}

static struct mnet *net_new(struct emberd *d, const char *name, struct json_object *def)
{
	struct mnet *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	snprintf(n->name, sizeof(n->name), "%.*s", MGR_NAME_MAX, name);
	n->def = def;
	n->next = d->nets;
	d->nets = n;
	return n;
}

static void net_free(struct emberd *d, struct mnet *n)
{
	struct mnet **pp = &d->nets;

	while (*pp != n)
		pp = &(*pp)->next;
	*pp = n->next;
	json_object_put(n->def);
	free(n);
}

static char *net_run_dir(struct emberd *d, const struct mnet *n)
{
	return store_path(d->dir, "netrun/%s", n->name);
}

/* The running VMs attached to `n`. */
static struct json_object *net_users(struct emberd *d, const struct mnet *n)
{
	struct json_object *users = json_object_new_array();

	for (struct mvm *m = d->vms; m; m = m->next) {
		struct json_object *net = json_object_object_get(m->def, "network");

		if ((m->state == MVM_RUNNING || m->state == MVM_PAUSED) && net &&
		    !strcmp(json_object_get_string(net), n->name))
			json_object_array_add(users, json_object_new_string(m->name));
	}
	return users;
}

static struct json_object *net_summary(struct emberd *d, const struct mnet *n)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_object_get(n->def, "autostart");
	char br[IFNAMSIZ];

	net_bridge_name(n->def, br);
	json_object_object_add(o, "name", json_object_new_string(n->name));
	json_object_object_add(o, "state",
			       json_object_new_string(net_is_up(n->def) ? "active" : "inactive"));
	json_object_object_add(o, "bridge", json_object_new_string(br));
	json_object_object_add(o, "ipv4", json_object_get(json_object_object_get(n->def, "ipv4")));
	json_object_object_add(o, "autostart",
			       json_object_new_boolean(a && json_object_get_boolean(a)));
	json_object_object_add(o, "vms", net_users(d, n));
	return o;
}

static int net_define(struct emberd *d, struct json_object *args, struct json_object **out,
		      struct err *err)
{
	struct json_object *def = args ? json_object_object_get(args, "definition") : NULL;
	const char *name;
	struct mnet *n;
	char *path;
	int ret = def ? net_check(def, err) : err_set(err, -EINVAL, "'definition' is required");

	if (ret < 0)
		return ret;
	name = json_object_get_string(json_object_object_get(def, "name"));
	n = emberd_net_find(d, name);
	if (n && net_is_up(n->def))
		return err_set(err, -EBUSY, "network '%s' is active: destroy it first", name);
	path = store_path(d->dir, "networks/%s.json", name);
	ret = path ? store_write_json(path, def, err) : err_set(err, -ENOMEM, "out of memory");
	free(path);
	if (ret < 0)
		return ret;
	*out = json_object_new_object();
	json_object_object_add(*out, "created", json_object_new_boolean(n == NULL));
	if (n) {
		json_object_put(n->def);
		n->def = json_object_get(def);
	} else if (!net_new(d, name, json_object_get(def))) {
		return err_set(err, -ENOMEM, "out of memory");
	}
	emberd_event(d, "net-defined", name, NULL);
	return 0;
}

static int net_undefine(struct emberd *d, struct mnet *n, struct err *err)
{
	char *path, name[MGR_NAME_MAX + 1];

	if (net_is_up(n->def))
		return err_set(err, -EBUSY, "network '%s' is active: destroy it first", n->name);
	path = store_path(d->dir, "networks/%s.json", n->name);
	if (path && unlink(path) < 0 && errno != ENOENT) {
		int ret = err_set(err, -errno, "'%s': %s", path, strerror(errno));

		free(path);
		return ret;
	}
	free(path);
	snprintf(name, sizeof(name), "%s", n->name);
	net_free(d, n);
	emberd_event(d, "net-undefined", name, NULL);
	return 0;
}

int emberd_net_start(struct emberd *d, struct mnet *n, struct err *err)
{
	char *run = net_run_dir(d, n);
	int ret;

	if (net_is_up(n->def)) {
		free(run);
		return err_set(err, -EALREADY, "network '%s' is already active", n->name);
	}
	ret = run ? net_start(n->def, run, err) : err_set(err, -ENOMEM, "out of memory");
	free(run);
	if (ret == 0)
		emberd_event(d, "net-started", n->name, NULL);
	return ret;
}

static int net_destroy(struct emberd *d, struct mnet *n, struct err *err)
{
	struct json_object *users = net_users(d, n);
	size_t used = json_object_array_length(users);
	char *run;

	json_object_put(users);
	if (!net_is_up(n->def))
		return err_set(err, -EINVAL, "network '%s' is not active", n->name);
	if (used)
		return err_set(err, -EBUSY, "network '%s' has %zu running VM(s)", n->name, used);
	run = net_run_dir(d, n);
	if (run)
		net_stop(n->def, run);
	free(run);
	emberd_event(d, "net-destroyed", n->name, NULL);
	return 0;
}

int emberd_net_command(struct emberd *d, const char *cmd, struct json_object *args,
		       struct json_object **out, struct err *err)
{
	struct json_object *a, *v;
	const char *name;
	struct mnet *n;

	if (!strcmp(cmd, "net-define"))
		return net_define(d, args, out, err);
	if (!strcmp(cmd, "net-list")) {
		v = args ? json_object_object_get(args, "all") : NULL;
		a = json_object_new_array();
		for (n = d->nets; n; n = n->next)
			if ((v && json_object_get_boolean(v)) || net_is_up(n->def))
				json_object_array_add(a, net_summary(d, n));
		*out = a;
		return 0;
	}
	name = emberd_arg_string(args, "name");
	if (!name)
		return err_set(err, -EINVAL, "'name' is required");
	n = emberd_net_find(d, name);
	if (!n)
		return err_set(err, -ENOENT, "no network named '%s'", name);
	if (!strcmp(cmd, "net-info")) {
		*out = net_summary(d, n);
		json_object_object_add(*out, "definition", json_object_get(n->def));
		return 0;
	}
	if (!strcmp(cmd, "net-start"))
		return emberd_net_start(d, n, err);
	if (!strcmp(cmd, "net-destroy"))
		return net_destroy(d, n, err);
	if (!strcmp(cmd, "net-undefine"))
		return net_undefine(d, n, err);
	return err_set(err, -EINVAL, "unknown command '%s'", cmd);
}

int emberd_load_nets(struct emberd *d, struct err *err)
{
	char *path = store_path(d->dir, "networks");
	DIR *dir = path ? opendir(path) : NULL;
	struct dirent *e;

	if (!dir) {
		int ret =
			err_set(err, -errno, "'%s': %s", path ? path : "networks", strerror(errno));

		free(path);
		return ret;
	}
	while ((e = readdir(dir))) {
		struct json_object *def = NULL;
		struct err bad = { { 0 } };
		size_t len = strlen(e->d_name);
		char *file;

		if (e->d_name[0] == '.' || len < 6 || strcmp(e->d_name + len - 5, ".json"))
			continue;
		file = store_path(path, "%s", e->d_name);
		if (file && store_read_json(file, &def, &bad) == 0 && net_check(def, &bad) == 0)
			net_new(d, json_object_get_string(json_object_object_get(def, "name")),
				def);
		else
			log_warn("emberd: skipping network '%s': %s", e->d_name, bad.msg);
		free(file);
	}
	closedir(dir);
	free(path);
	return 0;
}

void emberd_autostart_nets(struct emberd *d)
{
	for (struct mnet *n = d->nets; n; n = n->next) {
		struct json_object *a = json_object_object_get(n->def, "autostart");
		struct err err = { { 0 } };

		if (a && json_object_get_boolean(a) && !net_is_up(n->def) &&
		    emberd_net_start(d, n, &err) < 0)
			log_warn("emberd: autostart: %s", err.msg);
	}
}

void emberd_forget_nets(struct emberd *d)
{
	while (d->nets)
		net_free(d, d->nets);
}
