/*
 * The --config-file document and GET /vm/config: any bytes are parsed,
 * applied to a fresh VM description and dumped back without a crash, a
 * leak or an unbounded recursion; a refusal always says why.
 */
#include "config/vm_json.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_object *doc = NULL, *dump;
	struct vm_config cfg;
	struct err err = { { 0 } };
	int ret;

	vm_config_init(&cfg);
	ret = vm_json_parse((const char *)data, size, &doc, &err);
	if (ret == 0)
		ret = vm_json_config_file(&cfg, doc, NULL, NULL, &err);
	FUZZ_CHECK(ret == 0 || err.msg[0] != '\0');
	dump = vm_json_dump(&cfg);
	FUZZ_CHECK(json_object_to_json_string(dump) != NULL);
	json_object_put(dump);
	json_object_put(doc);
	vm_config_fini(&cfg);
	return 0;
}
