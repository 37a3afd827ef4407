/*
 * dump.h — tensor I/O for `bench run --dump DIR` and `--load DIR`.
 *
 * DIR/case.json   family, impl, dtype (original and stored), every shape
 *                 field, scale, seed, the canonical case string
 * DIR/<input>.npy one per input, named by the family's io specs (q, k, v...)
 * DIR/out.npy     the implementation's output
 * DIR/ref.npy     the reference's output for the rows it computed, shape
 *                 [rows, ...row dims]; DIR/ref_rows.npy (int64) lists the
 *                 rows when sampled (absent when every row was computed)
 *
 * Low-precision tensors are written upcast exactly to float32 ("<f4");
 * case.json names "stored_dtype": "float32" and the original "dtype".
 * Integer inputs (tensor_spec.u8: the sparse block mask) are written as
 * uint8 ("|u1"). --load reads '<f4', '<f8' and '|u1' files alike and has
 * the family's check_inputs judge the values.
 */
#ifndef SEQBENCH_DUMP_H
#define SEQBENCH_DUMP_H

#include <stddef.h>
#include <stdint.h>

#include "npy.h"
#include "seqbench.h"

struct dump_case {
    const struct family *family;
    const char *impl;
    const struct shape *shape;
    double scale;
    uint64_t seed;
    const struct io_specs *io;
    const float *const *in;
    const float *out;           /* may be NULL (not run) */
    const int64_t *ref_rows;    /* the rows ref holds */
    int64_t n_ref_rows;
    int sampled;                /* 1: write ref_rows.npy */
    const double *ref;          /* n_ref_rows x row_elems; may be NULL */
    const float *final;         /* io->final when it has dims; may be NULL (not run) */
    const double *ref_final;    /* its reference, in full; may be NULL */
};

/* Creates DIR (and parents) if needed; writes everything above. */
int dump_write(const char *dir, const struct dump_case *c, char *err, size_t n);

struct loaded_case {
    char family[32];
    char impl[32];
    struct shape shape;
    double scale;
    uint64_t seed;
    int n_in;
    float *in[SB_MAX_TENSORS];  /* malloc'd, checked against the family's io specs */
};

/* Reads DIR/case.json and the input .npy files; a missing file, a shape that
 * disagrees with case.json, inputs the family's check_inputs refuses, or an
 * unknown family is one line in err. */
int dump_load(const char *dir, struct loaded_case *lc, char *err, size_t n);
void loaded_case_free(struct loaded_case *lc);

#endif
