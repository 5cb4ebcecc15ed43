/*
 * The API's routes: an input is a sequence of requests separated by NUL
 * bytes, each "METHOD PATH\nBODY", sent to one fresh instance whose main
 * thread accepts every command. Every reply must be a known status with a
 * JSON body (or none, for 204).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "fuzz.h"

#define FUZZ_MAX_REQUESTS 16

static int accept_all(void *ctx, enum ctl_cmd cmd, const void *arg, struct err *err)
{
	return 0;
}

static void one_request(struct api *a, const char *req, size_t len)
{
	char head[256] = { 0 }, method[16], path[200];
	const char *nl = memchr(req, '\n', len);
	size_t head_len = nl ? (size_t)(nl - req) : len;
	struct api_reply r;

	if (head_len >= sizeof(head))
		return;
	memcpy(head, req, head_len);
	if (sscanf(head, "%15s %199s", method, path) != 2)
		return;
	api_handle(a, method, path, nl ? nl + 1 : "", nl ? len - head_len - 1 : 0, &r);
	FUZZ_CHECK(r.status == 200 || r.status == 204 || r.status == 400 || r.status == 500);
	FUZZ_CHECK((r.status == 204) == (r.body == NULL));
	free(r.body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	struct api a = { .cfg = &cfg, .call = accept_all };
	const char *p = (const char *)data, *end = p + size;

	vm_config_init(&cfg);
	for (int n = 0; p < end && n < FUZZ_MAX_REQUESTS; n++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);

		one_request(&a, p, len);
		p += len + 1;
	}
	vm_config_fini(&cfg);
	return 0;
}
