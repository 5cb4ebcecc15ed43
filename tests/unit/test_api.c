/*
 * The API's routes without HTTP: requests in, status and JSON out, the
 * main thread played by a fake that records the commands it gets.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "api/api.h"
#include "config/vm_json.h"

struct fake {
	enum ctl_cmd last;
	/* The last snapshot command's argument (its strings live only during the call). */
	char snap_path[64], mem_path[64];
	bool resume;
	int result;
	unsigned int calls;
	char cmdline_at_start[256];
	struct vm_config *cfg;
	const struct ctl_migration *posted;
};

static int fake_call(void *ctx, enum ctl_cmd cmd, const void *arg, struct err *err)
{
	struct fake *f = ctx;

	f->last = cmd;
	if (cmd == CTL_SNAPSHOT_CREATE || cmd == CTL_SNAPSHOT_LOAD) {
		const struct ctl_snapshot *s = arg;

		snprintf(f->snap_path, sizeof(f->snap_path), "%s", s->snapshot_path);
		snprintf(f->mem_path, sizeof(f->mem_path), "%s", s->mem_path);
		f->resume = s->resume;
	}
	f->calls++;
	if (cmd == CTL_START)
		snprintf(f->cmdline_at_start, sizeof(f->cmdline_at_start), "%s",
			 f->cfg->cmdline ? f->cfg->cmdline : "");
	if (f->result < 0)
		return err_set(err, f->result, "the fake says no");
	return 0;
}

/* A posted command stays pending until the test answers it with fake_answer(). */
static int fake_post(void *ctx, enum ctl_cmd cmd, const void *arg, ctl_done_fn done, void *cookie,
		     struct err *err)
{
	struct fake *f = ctx;

	f->last = cmd;
	f->calls++;
	f->posted = arg;
	return 0;
}

static int fake_collect(void *ctx, struct err *err)
{
	struct fake *f = ctx;

	f->posted = NULL;
	return f->result < 0 ? err_set(err, f->result, "the fake says no") : 0;
}

struct fixture {
	struct vm_config cfg;
	struct fake fake;
	struct api api;
	struct api_reply r;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vm_config_init(&f->cfg);
	f->fake.cfg = &f->cfg;
	f->api = (struct api){ .cfg = &f->cfg,
			       .id = "vm1",
			       .call = fake_call,
			       .post = fake_post,
			       .collect = fake_collect,
			       .ctx = &f->fake };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->r.body);
	vm_config_fini(&f->cfg);
	free(f);
	return 0;
}

/* Sends a request; returns the status, the body stays in f->r.body. */
static unsigned int req(struct fixture *f, const char *method, const char *path, const char *body)
{
	free(f->r.body);
	api_handle(&f->api, method, path, body ? body : "", body ? strlen(body) : 0, &f->r);
	return f->r.status;
}

static void assert_fault(struct fixture *f, const char *part)
{
	assert_non_null(f->r.body);
	assert_non_null(strstr(f->r.body, "\"fault_message\""));
	if (!strstr(f->r.body, part))
		fail_msg("'%s' not in %s", part, f->r.body);
}

static void test_instance_info(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"id\":\"vm1\""));
	assert_non_null(strstr(f->r.body, "\"state\":\"Not started\""));
	assert_int_equal(req(f, "GET", "/version", NULL), 200);
	assert_non_null(strstr(f->r.body, "firecracker_version"));
}

static void test_getting_started_sequence(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
		req(f, "PUT", "/boot-source",
		    "{\"kernel_image_path\": \"/k/vmlinux\", \"boot_args\": \"console=ttyS0 "
		    "reboot=k panic=1\"}"),
		204);
	assert_int_equal(req(f, "PUT", "/drives/rootfs",
			     "{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r.ext4\", "
			     "\"is_root_device\": true, \"is_read_only\": false}"),
			 204);
	assert_int_equal(req(f, "PUT", "/network-interfaces/net1",
			     "{\"iface_id\": \"net1\", \"guest_mac\": \"06:00:AC:10:00:02\", "
			     "\"host_dev_name\": \"tap0\"}"),
			 204);
	assert_int_equal(req(f, "PUT", "/machine-config",
			     "{\"vcpu_count\": 2, \"mem_size_mib\": 1024, \"smt\": false, "
			     "\"track_dirty_pages\": true}"),
			 204);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	assert_int_equal(f->fake.last, CTL_START);
	/* The root device is on the kernel's command line, as with Firecracker. */
	assert_string_equal(f->fake.cmdline_at_start,
			    "console=ttyS0 reboot=k panic=1 root=/dev/vda rw");
	assert_string_equal(f->cfg.cmdline, "console=ttyS0 reboot=k panic=1");
	assert_int_equal(f->cfg.cpus, 2);
	assert_int_equal(f->cfg.mem_mib, 1024);
	assert_true(f->cfg.track_dirty_pages);
	assert_int_equal(f->cfg.nr_devices, 2);
	assert_string_equal(f->cfg.devices[0].disk.path, "/r.ext4");
	assert_string_equal(f->cfg.devices[1].net.tap, "tap0");
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"state\":\"Running\""));
}

static void test_pre_boot_only_after_start(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 204);
	assert_int_equal(
		req(f, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}"), 400);
	assert_fault(f, "not supported after starting");
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 400);
	assert_fault(f, "already running");
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 204);
	assert_int_equal(f->fake.last, CTL_PAUSE);
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"state\":\"Paused\""));
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Resumed\"}"), 204);
	assert_int_equal(f->fake.last, CTL_RESUME);
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"SendCtrlAltDel\"}"), 204);
	assert_int_equal(f->fake.last, CTL_CTRL_ALT_DEL);
	assert_int_equal(req(f, "PUT", "/ember/power-button", "{}"), 204);
	assert_int_equal(f->fake.last, CTL_POWER_BUTTON);
	assert_int_equal(req(f, "PUT", "/ember/power-button", "{\"hold\": true}"), 400);
}

static void test_start_needs_a_kernel_and_reports_failure(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 400);
	assert_fault(f, "no boot source");
	assert_int_equal(f->fake.calls, 0);
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	f->fake.result = -ENOENT;
	assert_int_equal(req(f, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}"), 400);
	assert_fault(f, "the fake says no");
	/* Still not started: configuration goes on. */
	assert_int_equal(
		req(f, "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}"), 204);
}

static void test_bad_requests(void **state)
{
	static const struct {
		const char *method, *path, *body, *fault;
	} cases[] = {
		{ "GET", "/nope", NULL, "Invalid request method and/or path: GET /nope" },
		{ "DELETE", "/", NULL, "Invalid request method and/or path" },
		{ "PUT", "/drives/", "{}", "Invalid request method and/or path" },
		{ "PUT", "/drives/a/b", "{}", "Invalid request method and/or path" },
		{ "PUT", "/boot-source", NULL, "the body is empty" },
		{ "PUT", "/boot-source", "{", "malformed JSON" },
		{ "PUT", "/boot-source", "[1]", "not an object" },
		{ "PUT", "/boot-source", "{} {}", "text after the object" },
		{ "PUT", "/boot-source", "{\"boot_args\": \"x\"}",
		  "'kernel_image_path' is required" },
		{ "PUT", "/boot-source", "{\"kernel_image_path\": 5}", "must be a string" },
		{ "PUT", "/boot-source", "{\"kernel_image_path\": \"k\", \"x\": 1}",
		  "unknown field 'x'" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 0, \"mem_size_mib\": 64}",
		  "'vcpu_count' must be from 1 to 254" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 1.5, \"mem_size_mib\": 64}",
		  "must be an integer" },
		{ "PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": -1}",
		  "'mem_size_mib' must be from" },
		{ "PUT", "/machine-config",
		  "{\"vcpu_count\": 1, \"mem_size_mib\": 64, \"smt\": true}",
		  "smt is not supported" },
		{ "PUT", "/drives/d1",
		  "{\"drive_id\": \"d2\", \"is_root_device\": false, "
		  "\"path_on_host\": \"/x\"}",
		  "does not match" },
		{ "PUT", "/drives/d1", "{\"drive_id\": \"d1\", \"is_root_device\": false}",
		  "'path_on_host' is required" },
		{ "PUT", "/drives/d1",
		  "{\"drive_id\": \"d1\", \"is_root_device\": \"yes\", "
		  "\"path_on_host\": \"/x\"}",
		  "must be a boolean" },
		{ "PUT", "/network-interfaces/n1",
		  "{\"iface_id\": \"n1\", \"host_dev_name\": \"t\", "
		  "\"guest_mac\": \"07:00:00:00:00:01\"}",
		  "not a unicast MAC" },
		{ "PUT", "/vsock", "{\"guest_cid\": 2, \"uds_path\": \"/v\"}",
		  "'guest_cid' must be" },
		{ "PUT", "/actions", "{\"action_type\": \"Reboot\"}", "action_type must be" },
		{ "PUT", "/actions", "{\"action_type\": \"FlushMetrics\"}", "not configured" },
		{ "PUT", "/metrics", "{\"metrics_path\": \"/nonexistent/m\"}", "No such file" },
		{ "PATCH", "/vm", "{\"state\": \"Paused\"}", "not running" },
		{ "PUT", "/ember/power-button", "{}", "not running" },
		{ "PATCH", "/vm", "{\"state\": \"Sleeping\"}", "state must be Paused or Resumed" },
		{ "PUT", "/snapshot/create", "{}", "'snapshot_path' is required" },
		{ "PUT", "/snapshot/create",
		  "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}", "must be paused" },
		{ "PUT", "/snapshot/create",
		  "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"snapshot_type\": "
		  "\"Diff\"}",
		  "diff snapshots need dirty page tracking" },
		{ "PUT", "/snapshot/create",
		  "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"snapshot_type\": "
		  "\"Half\"}",
		  "must be Full or Diff" },
		{ "PUT", "/snapshot/load", "{\"snapshot_path\": \"/s\"}", "exactly one of" },
		{ "PUT", "/snapshot/load",
		  "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"mem_backend\": "
		  "{\"backend_type\": \"File\", \"backend_path\": \"/m\"}}",
		  "exactly one of" },
		{ "PUT", "/snapshot/load",
		  "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Uffd\", "
		  "\"backend_path\": \"/u\"}}",
		  "Uffd is not supported" },
		{ "PUT", "/snapshot/load",
		  "{\"snapshot_path\": \"/s\", \"mem_backend\": {\"backend_type\": \"Disk\", "
		  "\"backend_path\": \"/u\"}}",
		  "must be File or Uffd" },
		{ "PUT", "/snapshot/load",
		  "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", \"resume_vm\": 1}",
		  "'resume_vm' must be a boolean" },
		{ "PUT", "/logger", "{\"level\": \"Loud\"}", "logger: level must be" },
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned int status = req(f, cases[i].method, cases[i].path, cases[i].body);

		if (status != 400 || !strstr(f->r.body, cases[i].fault))
			fail_msg("%s %s %s: %u %s", cases[i].method, cases[i].path,
				 cases[i].body ? cases[i].body : "", status, f->r.body);
	}
	/* None of them changed anything. */
	assert_int_equal(f->cfg.nr_devices, 0);
	assert_null(f->cfg.kernel_path);
	assert_int_equal(f->fake.calls, 0);
}

static void test_a_drive_is_replaced_by_id_and_root_goes_first(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/drives/data",
			     "{\"drive_id\": \"data\", \"path_on_host\": \"/d1\", "
			     "\"is_root_device\": false, \"rate_limiter\": {\"bandwidth\": "
			     "{\"size\": 1000, \"refill_time\": 100}}}"),
			 204);
	assert_int_equal(f->cfg.devices[0].disk.bw, 10000);
	assert_int_equal(req(f, "PUT", "/drives/root",
			     "{\"drive_id\": \"root\", \"path_on_host\": \"/r\", "
			     "\"is_root_device\": true, \"is_read_only\": true}"),
			 204);
	assert_string_equal(f->cfg.devices[0].id, "root");
	assert_int_equal(req(f, "PUT", "/drives/data",
			     "{\"drive_id\": \"data\", \"path_on_host\": \"/d2\", "
			     "\"is_root_device\": false}"),
			 204);
	assert_int_equal(f->cfg.nr_devices, 2);
	assert_string_equal(f->cfg.devices[1].disk.path, "/d2");
	assert_int_equal(f->cfg.devices[1].disk.bw, 0);
	assert_int_equal(req(f, "PUT", "/drives/other",
			     "{\"drive_id\": \"other\", \"path_on_host\": \"/o\", "
			     "\"is_root_device\": true}"),
			 400);
	assert_fault(f, "a root block device already exists");
	assert_string_equal(vm_config_root_args(&f->cfg), "root=/dev/vda ro");
	assert_int_equal(req(f, "GET", "/vm/config", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"path_on_host\":\"/d2\""));
}

static void test_config_file(void **state)
{
	static const char doc[] =
		"{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"quiet\"},"
		" \"drives\": [{\"drive_id\": \"rootfs\", \"path_on_host\": \"/r\","
		" \"is_root_device\": true, \"is_read_only\": false}],"
		" \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 256},"
		" \"network-interfaces\": [], \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/v\"},"
		" \"entropy\": {}, \"balloon\": null}";
	struct fixture *f = *state;
	struct json_object *o;
	struct err err = { { 0 } };

	assert_int_equal(vm_json_parse(doc, strlen(doc), &o, &err), 0);
	assert_int_equal(vm_json_config_file(&f->cfg, o, NULL, NULL, &err), 0);
	json_object_put(o);
	assert_string_equal(f->cfg.kernel_path, "/k");
	assert_int_equal(f->cfg.cpus, 2);
	assert_int_equal(f->cfg.nr_devices, 3);
	assert_int_equal(f->cfg.devices[1].kind, VM_DEVICE_VSOCK);
	assert_int_equal(f->cfg.devices[2].kind, VM_DEVICE_RNG);
	/* Refusals name the section. */
	assert_int_equal(vm_json_parse("{\"drives\": [1]}", 15, &o, &err), 0);
	assert_int_equal(vm_json_config_file(&f->cfg, o, NULL, NULL, &err), -EINVAL);
	json_object_put(o);
	assert_non_null(strstr(err.msg, "boot-source"));
}

static void test_snapshot_load_then_create(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/snapshot/load",
			     "{\"snapshot_path\": \"/s/vm.snap\", \"mem_backend\": "
			     "{\"backend_type\": \"File\", \"backend_path\": \"/s/vm.mem\"}, "
			     "\"enable_diff_snapshots\": false, \"resume_vm\": false}"),
			 204);
	assert_int_equal(f->fake.last, CTL_SNAPSHOT_LOAD);
	assert_string_equal(f->fake.snap_path, "/s/vm.snap");
	assert_string_equal(f->fake.mem_path, "/s/vm.mem");
	assert_false(f->fake.resume);
	/* Loaded paused: a snapshot may be taken at once, and no second load. */
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"state\":\"Paused\""));
	assert_int_equal(req(f, "PUT", "/snapshot/create",
			     "{\"snapshot_type\": \"Full\", \"snapshot_path\": \"/t/a\", "
			     "\"mem_file_path\": \"/t/b\"}"),
			 204);
	assert_int_equal(f->fake.last, CTL_SNAPSHOT_CREATE);
	assert_string_equal(f->fake.snap_path, "/t/a");
	assert_string_equal(f->fake.mem_path, "/t/b");
	assert_int_equal(req(f, "PUT", "/snapshot/load",
			     "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\"}"),
			 400);
	assert_fault(f, "not supported after starting");
}

static void test_snapshot_load_refused_after_configuration(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
	assert_int_equal(req(f, "PUT", "/snapshot/load",
			     "{\"snapshot_path\": \"/s\", \"mem_file_path\": \"/m\", "
			     "\"resume_vm\": true}"),
			 400);
	assert_fault(f, "after configuring boot resources");
	assert_int_equal(f->fake.calls, 0);
}

/* The main thread's side of a posted migration: some progress, then the end. */
static void fake_migrates(struct fixture *f, uint64_t bytes, int result)
{
	struct migration_stats *st = f->fake.posted->stats;

	st->phase = MIG_PHASE_COPYING;
	st->bytes = bytes;
	st->rounds = 2;
	f->fake.result = result;
}

static void test_a_migration_parks_its_request_and_reports_progress(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "GET", "/ember/migration", NULL), 200);
	assert_string_equal(f->r.body, "{\"state\":\"none\"}");
	f->api.state = API_RUNNING;
	assert_int_equal(req(f, "PUT", "/ember/migration/send", "{\"url\": \"unix:/m.sock\"}"), 0);
	assert_true(api_parked(&f->api));
	assert_int_equal(f->fake.last, CTL_MIGRATE_SEND);
	assert_string_equal(f->fake.posted->url, "unix:/m.sock");
	fake_migrates(f, 8192, 0);
	assert_int_equal(req(f, "GET", "/ember/migration", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"state\":\"copying\""));
	assert_non_null(strstr(f->r.body, "\"role\":\"send\""));
	assert_non_null(strstr(f->r.body, "\"bytes\":8192"));
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_int_equal(req(f, "PATCH", "/vm", "{\"state\": \"Paused\"}"), 400);
	assert_fault(f, "busy: a migration is in progress");
	assert_int_equal(f->fake.calls, 1);

	free(f->r.body);
	api_finish(&f->api, &f->r);
	assert_int_equal(f->r.status, 200);
	assert_non_null(strstr(f->r.body, "\"rounds\":2"));
	assert_false(api_parked(&f->api));
	assert_int_equal(req(f, "GET", "/ember/migration", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"state\":\"completed\""));
}

static void test_a_failed_migration_is_reported_and_frees_the_api(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(req(f, "PUT", "/ember/migration/receive", "{\"url\": \"unix:/m.sock\"}"),
			 0);
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 400);
	assert_fault(f, "busy");
	fake_migrates(f, 4096, -EPROTO);
	free(f->r.body);
	api_finish(&f->api, &f->r);
	assert_int_equal(f->r.status, 400);
	assert_fault(f, "the fake says no");
	assert_int_equal(req(f, "GET", "/ember/migration", NULL), 200);
	assert_non_null(strstr(f->r.body, "\"state\":\"failed\""));
	assert_non_null(strstr(f->r.body, "\"role\":\"receive\""));
	assert_non_null(strstr(f->r.body, "\"error\":\"the fake says no\""));
	assert_int_equal(req(f, "GET", "/", NULL), 200);
	assert_non_null(strstr(f->r.body, "Not started"));
	assert_int_equal(req(f, "PUT", "/boot-source", "{\"kernel_image_path\": \"/k\"}"), 204);
}

static void test_a_migration_url_too_long_is_refused(void **state)
{
	struct fixture *f = *state;
	char body[400];

	snprintf(body, sizeof(body), "{\"url\": \"unix:/%0300d\"}", 0);
	assert_int_equal(req(f, "PUT", "/ember/migration/receive", body), 400);
	assert_fault(f, "longer than 255 bytes");
	assert_false(api_parked(&f->api));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_instance_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_getting_started_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pre_boot_only_after_start, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_needs_a_kernel_and_reports_failure,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_drive_is_replaced_by_id_and_root_goes_first,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_load_then_create, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_migration_parks_its_request_and_reports_progress, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_failed_migration_is_reported_and_frees_the_api, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_migration_url_too_long_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_load_refused_after_configuration,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
