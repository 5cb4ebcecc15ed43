/*
 * Reading input files (kernels, initrds) safely.
 *
 * A kernel is read into a private buffer (never mapped shared: another
 * process truncating the file must not crash us with SIGBUS), so parsers work
 * on a bounded byte array and check every offset they take from the file
 * against `size`.
 */
#ifndef EMBER_UTIL_FILE_H
#define EMBER_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"
#include "util/err.h"

struct file_view {
	uint8_t *data;
	size_t size;
};

/*
 * Reads a whole regular, non-empty file of at most `max_size` bytes.
 * `what` names it in messages ("kernel").
 */
int file_view_load(struct file_view *fv, const char *path, const char *what, size_t max_size,
		   struct err *err) __must_check;
void file_view_release(struct file_view *fv);

/*
 * Opens a regular, non-empty file for reading and returns its fd (O_CLOEXEC)
 * and size; used to stream large files (initrds) straight into guest RAM.
 */
int file_open_regular(const char *path, const char *what, uint64_t *size,
		      struct err *err) __must_check;

/*
 * Opens an output the user named for logs or metrics: like Firecracker, a
 * file or FIFO that exists already, written in appends, never blocking.
 * Returns the fd or -errno.
 */
int file_open_sink(const char *path) __must_check;

/* Writes all of `len` bytes (retrying short writes and EINTR); 0 or -errno. */
int file_write_all(int fd, const void *data, size_t len) __must_check;

/* Reads exactly `len` bytes at `off`; -EIO (with a message) on a short file. */
int file_read_exact(int fd, void *buf, size_t len, uint64_t off, const char *what,
		    struct err *err) __must_check;

#endif
