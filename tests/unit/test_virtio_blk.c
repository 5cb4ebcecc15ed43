/* virtio-blk: the request parser on hand-made chains, then the device end to end. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <cmocka.h>

#include "virtio/blk.h"
#include "sandbox/seccomp.h"
#include "vmmio.h"

/* ---- the parser ---- */

struct req {
	uint32_t type, reserved;
	uint64_t sector;
};

static uint8_t data[4096], status, range[16];
static struct req hdr;
static struct iovec iov[8], out_data[8];
static struct blk_limits lim = { .sectors = 64,
				 .features = VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
					     VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
					     VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) };

/* A chain of [header][data? readable or writable][status]. */
static struct vq_chain chain3(uint32_t type, uint64_t sector, size_t len, bool data_writable)
{
	struct vq_chain c = { .iov = iov, .cap = 8 };

	hdr = (struct req){ .type = type, .sector = sector };
	iov[0] = (struct iovec){ &hdr, sizeof(hdr) };
	c.n_out = 1;
	c.out_len = sizeof(hdr);
	if (len && data_writable) {
		iov[1] = (struct iovec){ data, len };
		c.n_in = 1;
		c.in_len = (uint32_t)len;
	} else if (len) {
		iov[1] = (struct iovec){ data, len };
		c.n_out = 2;
		c.out_len += (uint32_t)len;
	}
	iov[c.n_out + c.n_in] = (struct iovec){ &status, 1 };
	c.n_in++;
	c.in_len++;
	return c;
}

static void parse(struct vq_chain *c, struct blk_request *r)
{
	assert_int_equal(virtio_blk_parse(c, &lim, r, out_data, 8), 0);
	assert_ptr_equal(r->status_ptr, &status);
}

static void test_parse_read_and_write(void **state)
{
	struct vq_chain c = chain3(VIRTIO_BLK_T_IN, 3, 1024, true);
	struct blk_request r;

	(void)state;
	parse(&c, &r);
	assert_int_equal(r.action, BLK_READ);
	assert_int_equal(r.offset, 3 * 512);
	assert_int_equal(r.len, 1024);
	assert_int_equal(r.ndata, 1);
	assert_ptr_equal(out_data[0].iov_base, data);
	c = chain3(VIRTIO_BLK_T_OUT, 62, 1024, false);
	parse(&c, &r);
	assert_int_equal(r.action, BLK_WRITE);
	assert_int_equal(r.len, 1024);
}

static void test_parse_header_and_data_in_one_buffer(void **state)
{
	uint8_t buf[16 + 512];
	struct req h = { .type = VIRTIO_BLK_T_OUT, .sector = 1 };
	struct vq_chain c = { .iov = iov, .cap = 8, .n_out = 2, .n_in = 1 };
	struct blk_request r;

	(void)state;
	/* The header split over two buffers, the second also holding the data. */
	memcpy(buf, &h, 16);
	iov[0] = (struct iovec){ buf, 5 };
	iov[1] = (struct iovec){ buf + 5, sizeof(buf) - 5 };
	iov[2] = (struct iovec){ &status, 1 };
	c.out_len = sizeof(buf);
	c.in_len = 1;
	parse(&c, &r);
	assert_int_equal(r.action, BLK_WRITE);
	assert_int_equal(r.offset, 512);
	assert_ptr_equal(out_data[0].iov_base, buf + 16);
	assert_int_equal(out_data[0].iov_len, 512);
}

static void expect_done(struct vq_chain c, uint8_t code)
{
	struct blk_request r;

	parse(&c, &r);
	assert_int_equal(r.action, BLK_DONE);
	assert_int_equal(r.status, code);
}

static void test_parse_errors(void **state)
{
	struct vq_chain c;

	(void)state;
	expect_done(chain3(VIRTIO_BLK_T_IN, 0, 100, true), VIRTIO_BLK_S_IOERR);	  /* not sectors */
	expect_done(chain3(VIRTIO_BLK_T_IN, 63, 1024, true), VIRTIO_BLK_S_IOERR); /* past end */
	expect_done(chain3(VIRTIO_BLK_T_IN, 64, 512, true), VIRTIO_BLK_S_IOERR);
	expect_done(chain3(VIRTIO_BLK_T_IN, UINT64_MAX, 512, true), VIRTIO_BLK_S_IOERR);
	expect_done(chain3(99, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
	/* A header shorter than 16 bytes. */
	c = chain3(VIRTIO_BLK_T_IN, 0, 0, false);
	iov[0].iov_len = 8;
	c.out_len = 8;
	expect_done(c, VIRTIO_BLK_S_IOERR);
	/* No writable byte for the status: the driver broke the rules. */
	c = chain3(VIRTIO_BLK_T_OUT, 0, 512, false);
	c.n_in = 0;
	c.in_len = 0;
	assert_int_equal(virtio_blk_parse(&c, &lim, &(struct blk_request){ 0 }, out_data, 8),
			 -EINVAL);
	/* More data segments than the caller has room for. */
	c = chain3(VIRTIO_BLK_T_IN, 0, 1024, true);
	assert_int_equal(virtio_blk_parse(&c, &lim, &(struct blk_request){ 0 }, out_data, 0), 0);
}

static void test_parse_readonly(void **state)
{
	struct blk_limits saved = lim;

	(void)state;
	lim.readonly = true;
	expect_done(chain3(VIRTIO_BLK_T_OUT, 0, 512, false), VIRTIO_BLK_S_IOERR);
	expect_done(chain3(VIRTIO_BLK_T_DISCARD, 0, 16, false), VIRTIO_BLK_S_IOERR);
	lim = saved;
}

static void set_range(uint64_t sector, uint32_t n, uint32_t flags)
{
	memcpy(range, &sector, 8);
	memcpy(range + 8, &n, 4);
	memcpy(range + 12, &flags, 4);
	memcpy(data, range, 16);
}

static void test_parse_discard_and_write_zeroes(void **state)
{
	struct vq_chain c;
	struct blk_request r;

	(void)state;
	set_range(8, 16, 0);
	c = chain3(VIRTIO_BLK_T_DISCARD, 0, 16, false);
	parse(&c, &r);
	assert_int_equal(r.action, BLK_DISCARD);
	assert_int_equal(r.offset, 8 * 512);
	assert_int_equal(r.len, 16 * 512);
	set_range(8, 16, 1);
	expect_done(chain3(VIRTIO_BLK_T_DISCARD, 0, 16, false), VIRTIO_BLK_S_UNSUPP);
	c = chain3(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false);
	parse(&c, &r);
	assert_int_equal(r.action, BLK_WRITE_ZEROES);
	assert_true(r.unmap);
	set_range(60, 8, 0);
	expect_done(chain3(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false), VIRTIO_BLK_S_IOERR);
	set_range(0, 1, 0);
	expect_done(chain3(VIRTIO_BLK_T_DISCARD, 0, 32, false), VIRTIO_BLK_S_IOERR); /* 2 ranges */
	lim.features = 0;
	expect_done(chain3(VIRTIO_BLK_T_DISCARD, 0, 16, false), VIRTIO_BLK_S_UNSUPP);
	expect_done(chain3(VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_UNSUPP);
	lim.features = VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
		       VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
}

static void test_parse_get_id(void **state)
{
	struct vq_chain c = chain3(VIRTIO_BLK_T_GET_ID, 0, 40, true);
	struct blk_request r;

	(void)state;
	parse(&c, &r);
	assert_int_equal(r.action, BLK_GET_ID);
	assert_int_equal(r.len, 20);
}

/* ---- the device, end to end over a temporary image ---- */

#define QSIZE	 16
#define IMG_SECT 128

struct fixture {
	struct vdriver vd;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	char path[64];
};

static void make_image(struct fixture *f)
{
	uint8_t sector[512];
	FILE *fp;

	snprintf(f->path, sizeof(f->path), "/tmp/ember-blk-test-XXXXXX");
	close(mkstemp(f->path));
	fp = fopen(f->path, "w");
	for (unsigned int s = 0; s < IMG_SECT; s++) {
		memset(sector, 0xa0 + (s & 15), sizeof(sector));
		fwrite(sector, 1, sizeof(sector), fp);
	}
	fclose(fp);
}

static int open_disk_opts(struct fixture *f, bool readonly, bool direct)
{
	struct virtio_blk_opts o = { .path = f->path,
				     .readonly = readonly,
				     .direct = direct,
				     .serial = "ember-serial-0123456789" };
	struct err err = { 0 };
	int ret = virtio_blk_create(&f->vd.gm, &o, &f->dev, &err);

	if (ret < 0)
		return ret;
	f->t = vm_attach(f->dev);
	return 0;
}

static int open_disk(struct fixture *f, bool readonly)
{
	return open_disk_opts(f, readonly, false);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vd_init(&f->vd, QSIZE);
	make_image(f);
	assert_int_equal(open_disk(f, false), 0);
	*state = f;
	return 0;
}

static void close_disk(struct fixture *f)
{
	vm_detach(f->dev, f->t);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close_disk(f);
	unlink(f->path);
	vd_fini(&f->vd);
	free(f);
	return 0;
}

static const uint64_t features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
				 VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) |
				 VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
				 VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX);

/* Sends header, data (len bytes at 0x20000) and status; returns the status byte. */
static int blk_request(struct fixture *f, uint32_t type, uint64_t sector, uint32_t len,
		       bool writable, uint32_t *used_len)
{
	struct req *h = vd_ptr(&f->vd, 0x8000);
	uint8_t *st = vd_ptr(&f->vd, 0x9000);
	uint16_t d = 0;

	*h = (struct req){ .type = type, .sector = sector };
	*st = 0xff;
	vd_set_desc(&f->vd, d, 0x8000, 16, VIRTQ_DESC_F_NEXT, d + 1);
	if (len) {
		d++;
		vd_set_desc(&f->vd, d, 0x20000, len,
			    VIRTQ_DESC_F_NEXT | (writable ? VIRTQ_DESC_F_WRITE : 0), d + 1);
	}
	vd_set_desc(&f->vd, d + 1, 0x9000, 1, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->vd, 0);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	if (vm_wait_used(f->t, &f->vd, used_len) != 0)
		return -1;
	return *st;
}

static void read_file(struct fixture *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void test_config_space(void **state)
{
	struct fixture *f = *state;
	uint64_t cap;

	virtio_mmio_ops.read(f->t, 0x100, &cap, 8);
	assert_int_equal(cap, IMG_SECT);
	assert_int_equal(vm_rd(f->t, 0x10c), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(vm_rd(f->t, 0x10) & VIRTIO_BIT(VIRTIO_BLK_F_RO), 0);
}

static void test_read_write_flush(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = vd_ptr(&f->vd, 0x20000), expect[1024], file[1024];
	uint32_t len;

	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_IN, 2, 1024, true, &len), 0);
	assert_int_equal(len, 1025);
	memset(expect, 0xa2, 512);
	memset(expect + 512, 0xa3, 512);
	assert_memory_equal(buf, expect, 1024);
	for (unsigned int i = 0; i < 1024; i++)
		buf[i] = (uint8_t)(i * 7);
	memcpy(expect, buf, 1024);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_OUT, 10, 1024, false, &len), 0);
	assert_int_equal(len, 1);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), 0);
	read_file(f, 10 * 512, file, sizeof(file));
	assert_memory_equal(file, expect, sizeof(file));
	/* Past the end, and an unknown request. */
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_IN, IMG_SECT, 512, true, &len), 1);
	assert_int_equal(blk_request(f, 77, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	uint32_t len;

	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_GET_ID, 0, 20, true, &len), 0);
	assert_int_equal(len, 21);
	assert_memory_equal(vd_ptr(&f->vd, 0x20000), "ember-serial-0123456", 20);
}

static void test_discard_and_write_zeroes(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = vd_ptr(&f->vd, 0x20000), file[512], zero[512] = { 0 };
	uint32_t len;
	struct stat st;

	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	set_range(4, 1, 0);
	memcpy(buf, range, 16);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &len), 0);
	read_file(f, 4 * 512, file, 512);
	assert_memory_equal(file, zero, 512);
	set_range(64, 64, 0);
	memcpy(buf, range, 16);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_DISCARD, 0, 16, false, &len), 0);
	read_file(f, 64 * 512, file, 512);
	assert_memory_equal(file, zero, 512);
	stat(f->path, &st);
	assert_int_equal(st.st_size, IMG_SECT * 512); /* the size stays */
}

static void test_readonly_disk(void **state)
{
	struct fixture *f = *state;
	uint32_t len;
	uint8_t file[512];

	close_disk(f);
	assert_int_equal(open_disk(f, true), 0);
	assert_true(vm_rd(f->t, 0x10) & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_int_equal(vm_setup(f->t, &f->vd,
				  VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_RO), 1),
			 15);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_OUT, 0, 512, false, &len), 1);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_IN, 0, 512, true, &len), 0);
	read_file(f, 0, file, 512);
	assert_int_equal(file[0], 0xa0);
}

static void test_direct_io(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = vd_ptr(&f->vd, 0x20000), file[4096];
	uint32_t len;

	close_disk(f);
	assert_int_equal(open_disk_opts(f, false, true), 0);
	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	memset(buf, 0x5a, 4096);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_OUT, 8, 4096, false, &len), 0);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), 0);
	read_file(f, 8 * 512, file, sizeof(file));
	assert_memory_equal(file, buf, sizeof(file));
	memset(buf, 0, 4096);
	assert_int_equal(blk_request(f, VIRTIO_BLK_T_IN, 8, 4096, true, &len), 0);
	assert_memory_equal(file, buf, sizeof(file));
}

/* 10 requests a second: ten go at once, the eleventh when the clock allows. */
static void test_iops_limit(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = { .path = f->path, .iops = 10, .clock_ns = fake_clock };
	struct timespec pause = { 0, 150 * 1000 * 1000 };
	struct err err = { { 0 } };
	uint32_t len;

	vm_detach(f->dev, f->t);
	fake_clock_set(1000000000ULL);
	assert_int_equal(virtio_blk_create(&f->vd.gm, &o, &f->dev, &err), 0);
	f->t = vm_attach(f->dev);
	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	for (int i = 0; i < 10; i++)
		assert_int_equal(blk_request(f, VIRTIO_BLK_T_IN, 0, 512, true, &len), 0);
	*(uint8_t *)vd_ptr(&f->vd, 0x9000) = 0xff;
	vd_publish(&f->vd, 0);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	nanosleep(&pause, NULL); /* the device's own timer fires; its clock says wait */
	assert_int_equal(vd_take_used(&f->vd, &len), -1);
	fake_clock_set(1100000000ULL);
	assert_int_equal(vm_wait_used(f->t, &f->vd, &len), 0);
	assert_int_equal(*(uint8_t *)vd_ptr(&f->vd, 0x9000), 0);
}

static void test_image_is_locked(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = { .path = f->path };
	struct virtio_dev *second;
	struct err err = { 0 };

	assert_int_equal(virtio_blk_create(&f->vd.gm, &o, &second, &err), -EWOULDBLOCK);
	assert_non_null(strstr(err.msg, "in use"));
	o.readonly = true;
	err.msg[0] = 0;
	assert_int_equal(virtio_blk_create(&f->vd.gm, &o, &second, &err), -EWOULDBLOCK);
}

static void test_bad_images(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_opts o = { .path = "/nonexistent/disk.img" };
	struct virtio_dev *d;
	struct err err = { 0 };

	assert_int_equal(virtio_blk_create(&f->vd.gm, &o, &d, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/disk.img"));
	o.path = "/dev/null";
	err.msg[0] = 0;
	assert_int_equal(virtio_blk_create(&f->vd.gm, &o, &d, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "not a regular file"));
}

static void test_bad_chain_needs_reset(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	/* A request with no device-writable byte for its status. */
	vd_set_desc(&f->vd, 0, 0x8000, 16, 0, 0);
	vd_publish(&f->vd, 0);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(vm_wait_irq(f->t), VIRTIO_INT_CONFIG);
	assert_true(vm_rd(f->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_read_and_write),
		cmocka_unit_test(test_parse_header_and_data_in_one_buffer),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_readonly),
		cmocka_unit_test(test_parse_discard_and_write_zeroes),
		cmocka_unit_test(test_parse_get_id),
		cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_write_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_io, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iops_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_is_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_images, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_chain_needs_reset, setup, teardown),
	};

	/* The device threads run under their seccomp filter, as in ember. */
	seccomp_set_level(SC_LEVEL_MAX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
