#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config/vm_config.h"

static void test_parse_u64(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(parse_u64("128", 1, 1024, &v), 0);
	assert_int_equal(v, 128);
	assert_int_equal(parse_u64("0", 1, 1024, &v), -ERANGE);
	assert_int_equal(parse_u64("1025", 1, 1024, &v), -ERANGE);
	assert_int_equal(parse_u64("-1", 0, 1024, &v), -EINVAL);
	assert_int_equal(parse_u64("+1", 0, 1024, &v), -EINVAL);
	assert_int_equal(parse_u64(" 1", 0, 1024, &v), -EINVAL);
	assert_int_equal(parse_u64("1x", 0, 1024, &v), -EINVAL);
	assert_int_equal(parse_u64("", 0, 1024, &v), -EINVAL);
	assert_int_equal(parse_u64(NULL, 0, 1024, &v), -EINVAL);
	assert_int_equal(parse_u64("99999999999999999999999", 0, UINT64_MAX, &v), -ERANGE);
}

static void test_defaults_and_validation(void **state)
{
	struct vm_config c;
	struct err e = { { 0 } };

	(void)state;
	vm_config_init(&c);
	assert_int_equal(c.cpus, 1);
	assert_int_equal(c.mem_mib, 128);
	assert_int_equal(c.serial, SERIAL_STDIO);
	assert_int_equal(vm_config_validate(&c, 254, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "--kernel"));
	c.kernel_path = strdup("vmlinux");
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_config_validate(&c, 254, &e), 0);
	c.cpus = 255;
	assert_int_equal(vm_config_validate(&c, 254, &e), -ERANGE);
	c.cpus = 0;
	assert_int_equal(vm_config_validate(&c, 254, &e), -ERANGE);
	c.cpus = 2;
	c.mem_mib = 4;
	assert_int_equal(vm_config_validate(&c, 254, &e), -ERANGE);
	c.mem_mib = VM_CONFIG_MAX_MEM_MIB + 1ULL;
	assert_int_equal(vm_config_validate(&c, 254, &e), -ERANGE);
	c.mem_mib = 129;
	c.hugepages = true;
	assert_int_equal(vm_config_validate(&c, 254, &e), -EINVAL);
	vm_config_fini(&c);
}

static void test_serial_spec(void **state)
{
	struct vm_config c;
	struct err e = { { 0 } };

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_set_serial(&c, "none", &e), 0);
	assert_int_equal(c.serial, SERIAL_NONE);
	assert_int_equal(vm_config_set_serial(&c, "file=/tmp/x.log", &e), 0);
	assert_int_equal(c.serial, SERIAL_FILE);
	assert_string_equal(c.serial_path, "/tmp/x.log");
	assert_int_equal(vm_config_set_serial(&c, "stdio", &e), 0);
	assert_int_equal(c.serial, SERIAL_STDIO);
	assert_null(c.serial_path);
	assert_int_equal(vm_config_set_serial(&c, "file=", &e), -EINVAL);
	memset(&e, 0, sizeof(e));
	assert_int_equal(vm_config_set_serial(&c, "tcp:1234", &e), -EINVAL);
	assert_non_null(strstr(e.msg, "tcp:1234"));
	vm_config_fini(&c);
}

static void test_devices_in_order(void **state)
{
	struct vm_config c;
	struct err err = { { 0 } };

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_add_disk(&c, "root.img", &err), 0);
	assert_int_equal(vm_config_add_rng(&c, &err), 0);
	assert_int_equal(vm_config_add_disk(&c,
					    "data.img,readonly,cache=none,serial=d-1,bw=1048576,"
					    "iops=100",
					    &err),
			 0);
	assert_int_equal(c.nr_devices, 3);
	assert_int_equal(c.devices[0].kind, VM_DEVICE_DISK);
	assert_string_equal(c.devices[0].disk.path, "root.img");
	assert_false(c.devices[0].disk.readonly);
	assert_null(c.devices[0].disk.serial);
	assert_int_equal(c.devices[1].kind, VM_DEVICE_RNG);
	assert_string_equal(c.devices[2].disk.path, "data.img");
	assert_true(c.devices[2].disk.readonly);
	assert_true(c.devices[2].disk.direct);
	assert_string_equal(c.devices[2].disk.serial, "d-1");
	assert_int_equal(c.devices[2].disk.bw, 1048576);
	assert_int_equal(c.devices[2].disk.iops, 100);
	assert_int_equal(c.devices[0].disk.bw, 0);
	assert_int_equal(vm_config_add_rng(&c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "twice"));
	vm_config_fini(&c);
}

static void test_net_specs(void **state)
{
	static const char *const bad[] = {
		"",
		"tap=",
		"mac=06:00:00:00:00:01",
		"tap=t0,mac=07:00:00:00:00:01",
		"tap=t0,mac=06:00:00:00:00:1",
		"tap=t0,mac=06:00:00:00:00:01:",
		"tap=t0,mac=+6:00:00:00:00:01",
		"tap=t0,queues=2",
		"tap=t0,bw=0",
		"tap=t0,pps=x",
	};
	struct vm_config c;
	struct err err = { { 0 } };

	(void)state;
	vm_config_init(&c);
	assert_int_equal(
		vm_config_add_net(&c, "tap=tap0,mac=06:00:AC:10:00:02,bw=125000,pps=50", &err), 0);
	assert_int_equal(c.devices[0].net.bw, 125000);
	assert_int_equal(c.devices[0].net.pps, 50);
	assert_int_equal(c.devices[0].kind, VM_DEVICE_NET);
	assert_string_equal(c.devices[0].net.tap, "tap0");
	assert_true(c.devices[0].net.has_mac);
	assert_memory_equal(c.devices[0].net.mac, ((uint8_t[]){ 6, 0, 0xac, 0x10, 0, 2 }), 6);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err.msg[0] = 0;
		assert_int_equal(vm_config_add_net(&c, bad[i], &err), -EINVAL);
		assert_true(err.msg[0] != 0);
	}
	assert_int_equal(c.nr_devices, 1); /* a failed add leaves nothing behind */
	vm_config_fini(&c);
}

static void test_vsock_specs(void **state)
{
	static const char *const bad[] = {
		"",
		"uds=/v",
		"cid=2,uds=/v",
		"cid=4294967295,uds=/v",
		"cid=x,uds=/v",
		"cid=3,uds=",
		"cid=3,uds=/v,guest=1",
	};
	struct vm_config c;
	struct err err = { { 0 } };

	(void)state;
	vm_config_init(&c);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		err.msg[0] = 0;
		assert_int_equal(vm_config_add_vsock(&c, bad[i], &err), -EINVAL);
		assert_true(err.msg[0] != 0);
	}
	assert_int_equal(c.nr_devices, 0);
	assert_int_equal(vm_config_add_vsock(&c, "cid=4294967294,uds=/run/v.sock", &err), 0);
	assert_int_equal(c.devices[0].kind, VM_DEVICE_VSOCK);
	assert_int_equal(c.devices[0].vsock.cid, 4294967294u);
	assert_string_equal(c.devices[0].vsock.uds, "/run/v.sock");
	err.msg[0] = 0;
	assert_int_equal(vm_config_add_vsock(&c, "cid=5,uds=/w", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "twice"));
	vm_config_fini(&c);
	/* Without uds= the kernel's vhost-vsock serves the device. */
	vm_config_init(&c);
	assert_int_equal(vm_config_add_vsock(&c, "cid=3", &err), 0);
	assert_null(c.devices[0].vsock.uds);
	vm_config_fini(&c);
}

static void test_bad_disk_specs(void **state)
{
	static const char *const bad[] = {
		"",
		",ro",
		"a.img,rw",
		"a.img,cache=",
		"a.img,serial=",
		"a.img,serial=x\ty",
		"a.img,serial=0123456789abcdefghijk",
		"a.img,bw=0",
		"a.img,iops=-1",
		"a.img,bw=1M",
		"a.img,iops=10000000001",
	};
	struct vm_config c;

	(void)state;
	vm_config_init(&c);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct err err = { { 0 } };

		assert_int_equal(vm_config_add_disk(&c, bad[i], &err), -EINVAL);
		assert_true(err.msg[0] != 0);
	}
	vm_config_fini(&c);
}

/* A snapshot load's overrides: the interface's tap and the vsock's path, nothing else. */
static void test_load_overrides(void **state)
{
	struct vm_config c;
	struct err err = { { 0 } };

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_add_net(&c, "tap=tap-old,mac=06:00:00:00:00:01", &err), 0);
	c.devices[0].id = strdup("eth0");
	assert_int_equal(vm_config_override_vsock_uds(&c, "/tmp/v.sock", &err), -ENOENT);
	assert_int_equal(vm_config_add_vsock(&c, "cid=3,uds=/tmp/old.sock", &err), 0);
	assert_int_equal(vm_config_override_tap(&c, "eth1", "tap-new", &err), -ENOENT);
	assert_int_equal(vm_config_override_tap(&c, "eth0", "", &err), -EINVAL);
	assert_int_equal(vm_config_override_tap(&c, "eth0", "tap-new", &err), 0);
	assert_string_equal(c.devices[0].net.tap, "tap-new");
	assert_true(c.devices[0].net.has_mac); /* the rest stays */
	assert_int_equal(vm_config_override_vsock_uds(&c, "/tmp/new.sock", &err), 0);
	assert_string_equal(c.devices[1].vsock.uds, "/tmp/new.sock");
	vm_config_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_defaults_and_validation),
		cmocka_unit_test(test_serial_spec),
		cmocka_unit_test(test_devices_in_order),
		cmocka_unit_test(test_bad_disk_specs),
		cmocka_unit_test(test_net_specs),
		cmocka_unit_test(test_vsock_specs),
		cmocka_unit_test(test_load_overrides),

	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
