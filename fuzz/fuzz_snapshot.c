/*
 * Snapshot files (and the state a migration sends, the same container): any
 * bytes are checked by the reader without a crash or a leak, and whatever
 * passes has its VM description parsed and dumped again. Input byte 0 picks
 * the mode: odd, the rest is a whole file image; even, the rest is a body
 * wrapped in a valid header with the right checksums, so that the record
 * walk and the description parser see the mutations, not only the CRC.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "config/vm_json.h"
#include "fuzz.h"
#include "snapshot/snapfile.h"
#include "vmm/snapshot.h"

#define TAG_CONFIG SNAP_TAG('C', 'O', 'N', 'F')

static uint8_t *wrap(const uint8_t *body, size_t len, size_t *out_len)
{
	uint8_t *img = malloc(SNAP_HEADER_SIZE + len + 1);
	uint32_t v = SNAP_VERSION, arch = SNAP_ARCH_X86_64, c;
	uint64_t blen = len;

	memcpy(img, SNAP_MAGIC, 8);
	memcpy(img + 8, &v, 4);
	memcpy(img + 12, &arch, 4);
	memcpy(img + 16, &blen, 8);
	c = (uint32_t)crc32(0, body, (uInt)len);
	memcpy(img + 24, &c, 4);
	c = (uint32_t)crc32(0, img, 28);
	memcpy(img + 28, &c, 4);
	memcpy(img + SNAP_HEADER_SIZE, body, len);
	*out_len = SNAP_HEADER_SIZE + len;
	return img;
}

static void use(const struct snapr *r)
{
	struct vm_config cfg;
	struct err err = { { 0 } };
	struct json_object *dump;
	const char *text;
	uint64_t v;
	size_t len;

	for (uint32_t t = 0; t < 4; t++)
		(void)!snapr_get(r, SNAP_TAG('R', 'E', 'G', 'S'), t, &v, sizeof(v), "x", &err);
	text = snapr_find(r, TAG_CONFIG, 0, &len);
	if (!text)
		return;
	vm_config_init(&cfg);
	if (snapshot_parse_description(text, len, &cfg, &err) < 0)
		FUZZ_CHECK(err.msg[0] != '\0');
	dump = vm_json_state_dump(&cfg);
	FUZZ_CHECK(json_object_to_json_string(dump) != NULL);
	json_object_put(dump);
	vm_config_fini(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snapr r;
	struct err err = { { 0 } };
	uint8_t *img;
	size_t len;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		img = malloc(size);
		memcpy(img, data + 1, size - 1);
		len = size - 1;
	} else {
		img = wrap(data + 1, size - 1, &len);
	}
	if (snapr_parse(&r, img, len, &err) == 0) {
		use(&r);
		snapr_fini(&r);
	} else {
		FUZZ_CHECK(err.msg[0] != '\0');
	}
	free(img);
	return 0;
}
