/* HDF5 helpers shared by the dataset files (src/data/h5data.c, text_h5.c);
 * not installed. label names the format in messages ("h5 dataset",
 * "text h5"): every error reads "<label>: <path>: <problem>". */
#ifndef IBX_DATA_H5_INTERNAL_H
#define IBX_DATA_H5_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

/* Turns off HDF5's own error printing (errors are returned, not printed). */
void ibxh5_quiet(void);

/* ---- writing ---- */
/* Scalar NUL-terminated string attribute name = value on obj. */
int ibxh5_write_str_attr(hid_t obj, const char *name, const char *value, const char *label,
                         const char *path);
/* Scalar numeric attribute stored as ftype, *v given as mtype. */
int ibxh5_write_num_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v,
                         const char *label, const char *path);
/* Whole contiguous dataset /name of the given rank and dims. */
int ibxh5_write_data(hid_t file, const char *name, hid_t ftype, hid_t mtype, int rank,
                     const hsize_t *dims, const void *data, const char *label, const char *path);
/* n strings as fixed-length, NUL-padded strings [n]; each element is as long
 * as the longest string plus extra bytes (extra = 1 keeps a NUL), at least 1. */
int ibxh5_write_strings(hid_t file, const char *name, char *const *s, int n, size_t extra,
                        const char *label, const char *path);

/* ---- reading ---- */
/* Opens path read-only after checking that it can be opened and is HDF5;
 * *file_size gets its size in bytes (0 when unknown). */
int ibxh5_open_read(const char *path, const char *label, hid_t *file, size_t *file_size);
/* 1 and the value (truncated to cap) when obj has a fixed-length string
 * attribute name (under 1 MiB); else 0 and out = "". */
int ibxh5_read_str_attr(hid_t obj, const char *name, char *out, size_t cap);
/* 1 when obj has a one-element attribute name, read as mtype into *v. */
int ibxh5_read_num_attr(hid_t obj, const char *name, hid_t mtype, void *v);
/* Size in bytes of one chunk of a dataset with elements of elem bytes
 * created with dcpl: 0 when not chunked, -1 when its chunk cannot be read. */
double ibxh5_chunk_bytes(hid_t dcpl, size_t elem);
/* Reads rows [first, first + count) along dim 0 (all of the other dims). */
int ibxh5_read_rows(hid_t file, const char *name, hid_t mtype, hsize_t first, hsize_t count,
                    void *out, const char *label, const char *path);
/* Reads /name, one-dimensional fixed-length strings, which must hold expect
 * entries, into *out (expect malloc'd strings; free with ibxh5_free_strings). */
int ibxh5_read_strings(hid_t file, const char *name, hsize_t expect, char ***out,
                       const char *label, const char *path);
void ibxh5_free_strings(char **s, hsize_t n);

/* ---- checksums (zlib crc32; start from crc32(0, NULL, 0)) ---- */
/* Continues crc over n int32 values as little-endian bytes. */
uint32_t ibxh5_crc_i32(uint32_t crc, const int32_t *v, size_t n);
/* crc32 of n bytes (any n, fed to zlib in pieces of at most 1 GiB). */
uint32_t ibxh5_crc_bytes(const void *p, size_t n);

#endif
