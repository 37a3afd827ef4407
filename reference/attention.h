/*
 * attention.h — what the softmax and flash families share: they compute the
 * same function, O = softmax(scale·QKᵀ + mask)·V, so they share the shape
 * rules, the formulas, the inputs and the reference (reference/attention.c).
 * They differ only in how the implementations get there.
 */
#ifndef SEQBENCH_ATTENTION_H
#define SEQBENCH_ATTENTION_H

#include <stdint.h>

#include "../harness/seqbench.h"

#define ATTN_FIELDS                                                              \
    (SF_BIT(SF_B) | SF_BIT(SF_N) | SF_BIT(SF_NK) | SF_BIT(SF_H) | SF_BIT(SF_HKV) | \
     SF_BIT(SF_D) | SF_BIT(SF_DV) | SF_BIT(SF_CAUSAL))
/* flash's mask options, in its case strings only when set */
#define ATTN_MASK_FIELDS (SF_BIT(SF_WINDOW) | SF_BIT(SF_SINK))

void attn_defaults(struct shape *s);
int attn_validate(const struct shape *s, char *msg, size_t n);
double attn_flops(const struct shape *s);
double attn_min_bytes(const struct shape *s);
void attn_io(const struct shape *s, struct io_specs *io);
void attn_inputs(const struct shape *s, uint64_t seed, float *const in[]);
void attn_reference(const struct shape *s, double scale, const float *const in[],
                    const int64_t *rows, int64_t nrows, double *out, double *final);

/* The keys query row n of batch b, head h sees, as sorted, disjoint,
 * non-empty spans [iv[2c], iv[2c+1]), c < the count returned (<= max). */
struct attn_spans {
    int64_t (*fn)(const struct shape *s, const float *const in[], int64_t b, int64_t h,
                  int64_t n, int64_t *iv);
    int64_t max;
};
/* The shape's own mask (causal, window, sink: ops/flash/flash_tiles.h's
 * flash_visible), at most 2 spans: the sinks and the window. */
int64_t attn_mask_spans(const struct shape *s, const float *const in[], int64_t b, int64_t h,
                        int64_t n, int64_t *iv);
/* The reference over the keys sp lists (attn_reference: attn_mask_spans).
 * A row that sees no key is 0. */
void attn_reference_spans(const struct shape *s, double scale, const float *const in[],
                          const struct attn_spans *sp, const int64_t *rows, int64_t nrows,
                          double *out);
/* Edge shapes of both families (softmax's edge_shapes; flash adds its
 * window's to them). */
#define ATTN_EDGE_SHAPES                                                                      \
    "B=1 N=1 Nk=1 H=1 Hkv=1 D=64",              /* the smallest case */                      \
    "B=2 N=1 Nk=4099 H=8 Hkv=2 D=128 causal",   /* decode, GQA, Nk not a multiple of the tile */ \
    "B=1 N=1 Nk=512 H=4 Hkv=1 D=64",            /* decode, MQA */                            \
    "B=2 N=77 Nk=77 H=2 Hkv=2 D=64 causal",     /* N not a multiple of the tile, causal */  \
    "B=1 N=200 Nk=333 H=4 Hkv=2 D=128 causal",  /* Nk > N causal (bottom-right), GQA */      \
    "B=1 N=130 Nk=130 H=3 Hkv=3 D=128",         /* two tiles plus two rows */               \
    "B=3 N=64 Nk=64 H=2 Hkv=1 D=64 causal",     /* exact tile, MQA, batch > 1 */            \
    "B=1 N=257 Nk=1000 H=2 Hkv=2 D=128"         /* cross attention, long Nk */
extern const char *const attn_edge_shapes[];
double attn_row_cost(const struct shape *s, int64_t row);
struct tolerance attn_tolerance(const struct shape *s);
int attn_gpu_ref(const struct shape *s, double scale, const float *const in[],
                 struct gref_case *c);

/* Keys up to the last one query row n (0-based) sees: all Nk, or with the
 * causal mask aligned bottom-right, n + (Nk - N) + 1 (a window then hides
 * all but the last W and the sinks). */
static inline int64_t attn_kv_end(const struct shape *s, int64_t n)
{
    return s->causal ? n + (s->Nk - s->N) + 1 : s->Nk;
}

/* Multiply-adds the reference has executed since the counter was last
 * cleared; tests compare it with the FLOP formula. */
extern int64_t attn_ref_macs;
/* Multiply-adds flash/cpu's micro-kernels executed (tests compare them with
 * its flops_executed). */
extern int64_t flash_cpu_macs;

/* The `ref` implementation: every row through attn_reference, or through
 * another family's reference (the sparse family's). */
typedef void attn_reference_fn(const struct shape *, double, const float *const[],
                               const int64_t *, int64_t, double *, double *);
int attn_ref_run(struct op_ctx *ctx);
int attn_ref_run_with(struct op_ctx *ctx, attn_reference_fn *reference);

#endif
