/*
 * npy.h — NumPy .npy files, the format of every tensor `--dump` writes and
 * `--load` reads: version 1.0 written (little-endian, C order); 1.0, 2.0 and
 * 3.0 read, '<f4' as is, '<f8' and '|u1' (uint8) converted to float.
 */
#ifndef SEQBENCH_NPY_H
#define SEQBENCH_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "seqbench.h"

/* What a file's header says. */
struct npy_info {
    int ndim;
    int64_t dims[SB_MAX_DIMS];
    int itemsize;           /* 4: '<f4', 8: '<f8', 1: '|u1' */
    int64_t numel;
};

/* data (numel of dims, each itemsize bytes, NumPy type descr like "<f4")
 * into path; 0, or -1 with err set. */
int npy_write(const char *path, const char *descr, size_t itemsize, const void *data, int ndim,
              const int64_t *dims, char *err, size_t n);
int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *dims,
                  char *err, size_t n);
int npy_write_f64(const char *path, const double *data, int ndim, const int64_t *dims,
                  char *err, size_t n);
/* Float values that are integers 0..255 (a mask) as uint8 ('|u1'); any
 * other value is an error naming the element. */
int npy_write_u8(const char *path, const float *data, int ndim, const int64_t *dims, char *err,
                 size_t n);
int npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *dims,
                  char *err, size_t n);

/* Reads path into a malloc'd float array (*data), checking its shape against
 * want when want is not NULL; info says what the header held. */
int npy_load(const char *path, const struct tensor_spec *want, float **data,
             struct npy_info *info, char *err, size_t n);
/* Reads <f4 (or <f8 or |u1, converted) into a malloc'd float array. */
int npy_read_f32(const char *path, float **data, int *ndim, int64_t dims[SB_MAX_DIMS],
                 char *err, size_t n);

/* "(2, 3)", "(5,)" or "()": a shape as NumPy prints it. */
void npy_dims_format(char *buf, size_t size, int ndim, const int64_t *dims);

#endif
