/*
 * The snapshot container: records written come back; every kind of damage
 * (magic, version, architecture, checksums, lengths, truncation) is refused
 * with its own message; the VM description survives the round trip whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "config/vm_json.h"
#include "snapshot/snapfile.h"

#define TAG_A SNAP_TAG('A', 'A', 'A', 'A')
#define TAG_B SNAP_TAG('B', 'B', 'B', 'B')

static void make_image(uint8_t **img, size_t *len)
{
	struct snapw w;
	uint64_t big = 0x1122334455667788ULL;

	snapw_init(&w);
	snapw_put(&w, TAG_A, 0, "hello", 5);
	snapw_put(&w, TAG_A, 1, &big, sizeof(big));
	snapw_put(&w, TAG_B, 7, NULL, 0);
	assert_int_equal(snapw_image(&w, img, len), 0);
	snapw_fini(&w);
}

static int parse(const uint8_t *img, size_t len, struct err *err)
{
	struct snapr r;
	int ret;

	memset(err, 0, sizeof(*err));
	ret = snapr_parse(&r, img, len, err);
	if (ret == 0)
		snapr_fini(&r);
	return ret;
}

/* Rewrites the header's checksum after a deliberate change to the header. */
static void fix_header_crc(uint8_t *img)
{
	uint32_t c = (uint32_t)crc32(0, img, 28);

	memcpy(img + 28, &c, 4);
}

static void test_round_trip(void **state)
{
	uint8_t *img;
	size_t len, n;
	struct snapr r;
	struct err err = { { 0 } };
	uint64_t big = 0;
	const char *p;

	(void)state;
	make_image(&img, &len);
	assert_int_equal(len % 8, 0);
	assert_int_equal(snapr_parse(&r, img, len, &err), 0);
	p = snapr_find(&r, TAG_A, 0, &n);
	assert_non_null(p);
	assert_int_equal(n, 5);
	assert_memory_equal(p, "hello", 5);
	assert_int_equal(snapr_get(&r, TAG_A, 1, &big, sizeof(big), "big", &err), 0);
	assert_true(big == 0x1122334455667788ULL);
	assert_non_null(snapr_find(&r, TAG_B, 7, &n));
	assert_int_equal(n, 0);
	assert_null(snapr_find(&r, TAG_B, 0, &n));
	/* A record of the wrong size is refused, naming it. */
	assert_int_equal(snapr_get(&r, TAG_A, 0, &big, sizeof(big), "greeting", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "greeting"));
	assert_int_equal(snapr_get(&r, TAG_B, 1, &big, sizeof(big), "absent", &err), -EINVAL);
	snapr_fini(&r);
	free(img);
}

static void expect_refusal(uint8_t *img, size_t len, const char *part)
{
	struct err err;

	assert_int_equal(parse(img, len, &err), -EINVAL);
	if (!strstr(err.msg, part))
		fail_msg("'%s' not in '%s'", part, err.msg);
}

static void test_damage_is_refused(void **state)
{
	uint8_t *img, *copy;
	size_t len;
	uint32_t v;

	(void)state;
	make_image(&img, &len);
	copy = malloc(len);

	memcpy(copy, img, len);
	copy[0] = 'X';
	expect_refusal(copy, len, "bad magic");

	memcpy(copy, img, len);
	copy[9] ^= 1; /* version, checksum not fixed */
	expect_refusal(copy, len, "header checksum");

	memcpy(copy, img, len);
	v = 99;
	memcpy(copy + 8, &v, 4);
	fix_header_crc(copy);
	expect_refusal(copy, len, "format version 99");

	memcpy(copy, img, len);
	v = 2;
	memcpy(copy + 12, &v, 4);
	fix_header_crc(copy);
	expect_refusal(copy, len, "another architecture");

	memcpy(copy, img, len);
	copy[len - 9] ^= 0x40; /* a byte of the last record */
	expect_refusal(copy, len, "checksum mismatch");

	expect_refusal(img, len - 8, "announced");
	expect_refusal(img, 10, "too short");
	free(copy);
	free(img);
}

/* A record whose length runs past the body, with both checksums made to match. */
static void test_overrunning_record_is_refused(void **state)
{
	uint8_t *img;
	size_t len;
	uint64_t huge = UINT64_MAX - 3;
	uint32_t c;

	(void)state;
	make_image(&img, &len);
	memcpy(img + 32 + 8, &huge, 8);
	c = (uint32_t)crc32(0, img + 32, (uInt)(len - 32));
	memcpy(img + 24, &c, 4);
	fix_header_crc(img);
	expect_refusal(img, len, "overruns");
	free(img);
}

static void test_writes_to_a_file_and_loads(void **state)
{
	char path[] = "/tmp/ember-snapfile-XXXXXX";
	int fd = mkstemp(path);
	struct snapw w;
	struct snapr r;
	struct err err = { { 0 } };
	size_t n;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	snapw_init(&w);
	snapw_put(&w, TAG_A, 3, "abc", 3);
	assert_int_equal(snapw_write(&w, fd, &err), 0);
	snapw_fini(&w);
	assert_int_equal(snapr_load(&r, fd, &err), 0);
	assert_non_null(snapr_find(&r, TAG_A, 3, &n));
	assert_int_equal(n, 3);
	snapr_fini(&r);
	assert_int_equal(ftruncate(fd, 20), 0);
	assert_int_equal(snapr_load(&r, fd, &err), -EINVAL);
	close(fd);
}

/* Everything the VM is built from comes back, devices in their order. */
static void test_vm_description_round_trip(void **state)
{
	struct vm_config a, b;
	struct err err = { { 0 } };
	struct json_object *o;

	(void)state;
	vm_config_init(&a);
	vm_config_init(&b);
	a.kernel_path = strdup("/k");
	a.cmdline = strdup("console=ttyS0");
	a.cpus = 2;
	a.mem_mib = 256;
	assert_int_equal(vm_config_add_rng(&a, &err), 0);
	assert_int_equal(vm_config_add_disk(&a, "/d.img,readonly,serial=abc,iops=10", &err), 0);
	assert_int_equal(vm_config_add_net(&a, "tap=tap0,mac=06:00:00:00:00:01", &err), 0);
	assert_int_equal(vm_config_set_console(&a, "virtio", &err), 0);
	assert_int_equal(vm_config_add_vsock(&a, "cid=7,uds=/v.sock", &err), 0);
	assert_int_equal(vm_config_set_serial(&a, "file=/s.txt", &err), 0);

	o = vm_json_state_dump(&a);
	assert_int_equal(vm_json_state_load(&b, o, &err), 0);
	json_object_put(o);
	assert_string_equal(b.kernel_path, "/k");
	assert_string_equal(b.cmdline, "console=ttyS0");
	assert_null(b.initrd_path);
	assert_int_equal(b.cpus, 2);
	assert_int_equal(b.mem_mib, 256);
	assert_int_equal(b.serial, SERIAL_FILE);
	assert_string_equal(b.serial_path, "/s.txt");
	assert_true(b.console_virtio);
	assert_int_equal(b.nr_devices, 5);
	assert_int_equal(b.devices[0].kind, VM_DEVICE_RNG);
	assert_int_equal(b.devices[1].kind, VM_DEVICE_DISK);
	assert_string_equal(b.devices[1].disk.path, "/d.img");
	assert_true(b.devices[1].disk.readonly);
	assert_string_equal(b.devices[1].disk.serial, "abc");
	assert_int_equal(b.devices[1].disk.iops, 10);
	assert_int_equal(b.devices[2].kind, VM_DEVICE_NET);
	assert_string_equal(b.devices[2].net.tap, "tap0");
	assert_memory_equal(b.devices[2].net.mac, a.devices[2].net.mac, 6);
	assert_int_equal(b.devices[3].kind, VM_DEVICE_CONSOLE);
	assert_int_equal(b.devices[4].vsock.cid, 7);
	assert_string_equal(b.devices[4].vsock.uds, "/v.sock");
	vm_config_fini(&a);
	vm_config_fini(&b);
}

static void test_bad_vm_description_is_refused(void **state)
{
	static const char *const docs[] = {
		"[]",
		"{\"kernel\": \"/k\"}",
		"{\"kernel\": \"/k\", \"cpus\": 1, \"mem_mib\": 64, \"hugepages\": false, "
		"\"serial\": 9, \"serial_given\": false, \"console_virtio\": false, "
		"\"track_dirty_pages\": false, \"devices\": []}",
		"{\"kernel\": \"/k\", \"cpus\": 1, \"mem_mib\": 64, \"hugepages\": false, "
		"\"serial\": 0, \"serial_given\": false, \"console_virtio\": false, "
		"\"track_dirty_pages\": false, \"devices\": [{\"kind\": 42}]}",
		"{\"kernel\": \"/k\", \"cpus\": 1, \"mem_mib\": 64, \"hugepages\": false, "
		"\"serial\": 0, \"serial_given\": false, \"console_virtio\": false, "
		"\"track_dirty_pages\": false, \"devices\": [{\"kind\": 0, \"path\": 5}]}",
		"{\"kernel\": \"/k\", \"cpus\": 1, \"mem_mib\": 64, \"hugepages\": false, "
		"\"serial\": 0, \"serial_given\": false, \"console_virtio\": false, "
		"\"track_dirty_pages\": false, \"devices\": [{\"kind\": 2, \"tap\": \"t\", "
		"\"mac\": \"zz\", \"bw\": 0, \"ops\": 0}]}",
		"{\"kernel\": \"/k\", \"cpus\": 1, \"mem_mib\": 64, \"hugepages\": false, "
		"\"serial\": 0, \"serial_given\": false, \"console_virtio\": false, "
		"\"track_dirty_pages\": false, \"devices\": [], \"extra\": 1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct vm_config c;
		struct err err = { { 0 } };
		struct json_object *o = json_tokener_parse(docs[i]);

		vm_config_init(&c);
		if (vm_json_state_load(&c, o, &err) != -EINVAL)
			fail_msg("accepted: %s", docs[i]);
		assert_true(err.msg[0] != '\0');
		json_object_put(o);
		vm_config_fini(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_damage_is_refused),
		cmocka_unit_test(test_overrunning_record_is_refused),
		cmocka_unit_test(test_writes_to_a_file_and_loads),
		cmocka_unit_test(test_vm_description_round_trip),
		cmocka_unit_test(test_bad_vm_description_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
