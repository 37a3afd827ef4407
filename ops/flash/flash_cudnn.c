/*
 * flash_cudnn.c — family "flash", implementation "cudnn": cuDNN's fused
 * scaled-dot-product attention forward, through the backend (graph) C API,
 * from C, with cuDNN loaded at run time (harness/cudnn_lib.h).
 *
 * The math, shapes and formulas are the flash family's (reference/
 * attention.c): q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,Dv], out
 * [B,N,H,Dv], token-major; GQA (head h reads kv head h / (H/Hkv)); causal
 * bottom-right: row i sees key j iff j <= i + Nk - N; bf16 or fp16 in
 * memory, fp32 accumulation. cuDNN takes every tensor as logical [batch,
 * head, token, dim] with any strides whose last is 1, so the token-major
 * tensors go in as they are, by strides, with no copy: q is dims
 * {B,H,N,D}, strides {N·H·D, D, H·D, 1}.
 *
 * Two graphs, chosen as cudnn-frontend 1.23's Graph::sdpa() chooses
 * (flash_cudnn_kind):
 *   unified    one OPERATION_SDPA_FWD descriptor (Q, K, V, O, scale):
 *              cuDNN >= 9.13.1 and no mask;
 *   composite  the graph the runtime fusion engines match as flash
 *              attention, op by op as the frontend's CompositeSDPANode
 *              expands it (the order matters to the pattern matcher):
 *                S = Q·Kᵀ (K passed as Kᵀ: axes 2 and 3 of its dims and
 *                strides swapped) ; S = S·scale ;
 *                [causal] r = row index, c = column index (GEN_INDEX),
 *                [bottom-right, N != Nk] r = r + Nk - N (int32 ADD, SUB),
 *                S = r >= c ? S : -inf (CMP_GE, BINARY_SELECT) ;
 *                M = max(S) ; E = exp(S - M) ; Z = Σ E ; P = E / Z, P in
 *                the I/O dtype (the second matmul's A type must be) ;
 *                O = P·V.
 *              S, E, M, Z are virtual fp32: never in memory.
 * No softmax statistics (LSE) are produced: this is inference, like
 * flash/cuda. If the unified graph gets no engine, the composite one is
 * tried; the row's impl_info names the graph that ran and cuDNN's version.
 *
 * Setup (never timed): support checks, the library, the graph, heuristics
 * mode A (the frontend samples' and FlashInfer's choice), the first engine
 * configuration whose plan finalizes (finalizing may compile kernels with
 * NVRTC), the plan's workspace (a tracked allocation), the variant pack.
 * Run: cudnnSetStream to the harness's stream, cudnnBackendExecute.
 *
 * FLOPs and bytes: the family's. cuDNN's causal kernels skip masked tiles;
 * how many it computes is not reported, so no executed count is claimed.
 *
 * Status: compiled here against cuDNN 9.19's headers; every tensor and
 * operation descriptor of both graphs finalizes against the real library
 * without a GPU (tests/test_cudnn.c). Never run on a GPU: unverified.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/emit.h"
#include "../ops.h"
#include "flash_cudnn.h"

const char *const sdpa_kind_names[2] = { "composite", "unified" };

/* cuDNN's fused attention limits (cudnn-frontend 1.23 sdpa_support_surface.h
 * and cuDNN's support matrix "based on 9.18.1"): head dims multiples of 8 up
 * to 256; decode (one query row) on compute capability 8.x up to 128. */
#define SDPA_DIM_ALIGN 8
#define SDPA_MAX_DIM 256
#define SDPA_MAX_DIM_DECODE_SM8X 128

const char *flash_cudnn_unsupported(const struct shape *s, int cc_major, char *why, size_t n)
{
    if (s->dtype != DT_BF16 && s->dtype != DT_FP16) {
        snprintf(why, n, "cuDNN's fused attention takes bf16 or fp16, not %s", dtype_table[s->dtype].name);
        return why;
    }
    if (s->D % SDPA_DIM_ALIGN || s->Dv % SDPA_DIM_ALIGN || s->D > SDPA_MAX_DIM || s->Dv > SDPA_MAX_DIM) {
        snprintf(why, n, "cuDNN's fused attention needs head dims that are multiples of %d up to %d "
                 "(D=%lld Dv=%lld)", SDPA_DIM_ALIGN, SDPA_MAX_DIM, (long long)s->D, (long long)s->Dv);
        return why;
    }
    if (s->N > INT32_MAX || s->Nk > INT32_MAX) {
        snprintf(why, n, "cuDNN's mask indices are int32: N and Nk must be below 2^31");
        return why;
    }
    if (s->window > 0 || s->sink > 0) {
        /* cuDNN's diagonal band could take the window; the sinks it has no
         * mask for, and the graph here builds neither */
        snprintf(why, n, "a sliding window and sink tokens are not built for cuDNN here");
        return why;
    }
    if (s->causal && s->N > s->Nk) {    /* the family's validator refuses it too */
        snprintf(why, n, "causal needs N <= Nk (bottom-right alignment)");
        return why;
    }
    if (cc_major > 0 && cc_major < 8) {
        snprintf(why, n, "cuDNN's fused attention needs compute capability 8.0 or newer (this GPU: %d.x)",
                 cc_major);
        return why;
    }
    if (cc_major == 8 && s->N == 1 && (s->D > SDPA_MAX_DIM_DECODE_SM8X || s->Dv > SDPA_MAX_DIM_DECODE_SM8X)) {
        snprintf(why, n, "cuDNN's decode (N=1) on compute capability 8.x takes head dims up to %d",
                 SDPA_MAX_DIM_DECODE_SM8X);
        return why;
    }
    return NULL;
}

int flash_cudnn_masked(const struct shape *s)
{
    return s->causal && s->N > 1;
}

enum sdpa_kind flash_cudnn_kind(const struct shape *s, size_t version)
{
#if SDPA_HEADERS_UNIFIED
    if (version >= SDPA_UNIFIED_MIN_VERSION && !flash_cudnn_masked(s))
        return SDPA_UNIFIED;
#else
    (void)s, (void)version;
#endif
    return SDPA_COMPOSITE;
}

#ifndef SB_HAVE_CUDNN

/* Built with CUDA but without cuDNN's headers: a truthful skip. */
#ifdef SB_HAVE_CUDA
#define NO_CUDNN "built without cuDNN (cudnn_graph.h not found at build time; set CUDNN_HOME)"
int flash_cudnn_setup(struct op_ctx *ctx)
{
    snprintf(ctx->err, sizeof ctx->err, NO_CUDNN);
    return SB_UNSUPPORTED;
}
int flash_cudnn_run(struct op_ctx *ctx)
{
    snprintf(ctx->err, sizeof ctx->err, NO_CUDNN);
    return SB_ERROR;
}
int flash_cudnn_fetch(struct op_ctx *ctx) { return flash_cudnn_run(ctx); }
void flash_cudnn_teardown(struct op_ctx *ctx) { (void)ctx; }
int64_t flash_cudnn_workspace_bytes(const struct shape *s) { (void)s; return 0; }
#endif

#else /* SB_HAVE_CUDNN */

#include "../common.h"

typedef cudnnBackendDescriptor_t desc_t;

/* Propagates a failed step's status (its message is already in g->err). */
#define TRY(x)                                                                             \
    do {                                                                                   \
        cudnnStatus_t st_ = (x);                                                           \
        if (st_ != CUDNN_STATUS_SUCCESS)                                                   \
            return st_;                                                                    \
    } while (0)

/* SET(g, d, attr, type, count, value): one attribute, checked where it is
 * set, so a failure names the line. */
#define SET(g, d, attr, type, count, value)                                                \
    CUDNN_CHECK((g)->lib, (g)->err,                                                        \
                (g)->lib->cudnnBackendSetAttribute((d), (attr), (type), (count), (value)))
#define SET_DESC(g, d, attr, value)                                                        \
    SET(g, d, attr, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &(desc_t){ (value) })

/* A new descriptor, owned by g (destroyed by sdpa_graph_destroy). */
static cudnnStatus_t make(struct sdpa_graph *g, cudnnBackendDescriptorType_t type, desc_t *d)
{
    if (g->n_descs == SDPA_MAX_DESCS) {
        snprintf(g->err, sizeof g->err, "flash/cudnn: more than %d descriptors (raise SDPA_MAX_DESCS)",
                 SDPA_MAX_DESCS);
        return CUDNN_STATUS_INTERNAL_ERROR;
    }
    CUDNN_CHECK(g->lib, g->err, g->lib->cudnnBackendCreateDescriptor(type, d));
    g->descs[g->n_descs++] = *d;
    return CUDNN_STATUS_SUCCESS;
}

static cudnnStatus_t finalize(struct sdpa_graph *g, desc_t d)
{
    CUDNN_CHECK(g->lib, g->err, g->lib->cudnnBackendFinalize(d));
    return CUDNN_STATUS_SUCCESS;
}

/* ---- tensors ---------------------------------------------------------------- */

/* A 4-D tensor: logical [batch, head, row, column] dims and their strides. */
struct layout {
    int64_t dim[4], str[4];
};

/* seqbench's token-major [B, T, heads, d] as cuDNN's [B, heads, T, d]. */
static struct layout token_major(int64_t B, int64_t T, int64_t heads, int64_t d)
{
    return (struct layout){ { B, heads, T, d }, { T * heads * d, d, heads * d, 1 } };
}

/* The same memory seen transposed in its last two axes (K as Kᵀ). */
static struct layout transposed(struct layout l)
{
    return (struct layout){ { l.dim[0], l.dim[1], l.dim[3], l.dim[2] },
                            { l.str[0], l.str[1], l.str[3], l.str[2] } };
}

/* A dense row-major [B, H, rows, cols] (the virtual intermediates). */
static struct layout dense(int64_t B, int64_t H, int64_t rows, int64_t cols)
{
    return (struct layout){ { B, H, rows, cols }, { H * rows * cols, rows * cols, cols, 1 } };
}

enum { T_VIRTUAL = 1, T_BY_VALUE = 2 };

/* A finalized tensor descriptor. uid 0: the next virtual uid. 16-byte
 * alignment: the harness's buffers are cudaMalloc'd (256-byte aligned). */
static cudnnStatus_t tensor(struct sdpa_graph *g, int64_t uid, cudnnDataType_t type,
                            const struct layout *l, int flags, desc_t *t)
{
    static const int64_t align = 16;
    const bool is_virtual = flags & T_VIRTUAL, by_value = flags & T_BY_VALUE;
    if (uid == 0)
        uid = g->next_virtual++;
    TRY(make(g, CUDNN_BACKEND_TENSOR_DESCRIPTOR, t));
    SET(g, *t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
    SET(g, *t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, l->dim);
    SET(g, *t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, l->str);
    SET(g, *t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
    SET(g, *t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
    if (is_virtual)
        SET(g, *t, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
    if (by_value)
        SET(g, *t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value);
    return finalize(g, *t);
}

/* A by-value scalar (dims and strides all 1), fed from the host at execute. */
static cudnnStatus_t scalar(struct sdpa_graph *g, int64_t uid, cudnnDataType_t type, desc_t *t)
{
    static const struct layout one = { { 1, 1, 1, 1 }, { 1, 1, 1, 1 } };
    return tensor(g, uid, type, &one, T_BY_VALUE, t);
}

/* ---- operations (as the frontend's MatmulNode, PointwiseNode, ReductionNode) -- */

static cudnnStatus_t add_op(struct sdpa_graph *g, desc_t op)
{
    TRY(finalize(g, op));
    if (g->n_ops == SDPA_MAX_OPS) {
        snprintf(g->err, sizeof g->err, "flash/cudnn: more than %d operations", SDPA_MAX_OPS);
        return CUDNN_STATUS_INTERNAL_ERROR;
    }
    g->ops[g->n_ops++] = op;
    return CUDNN_STATUS_SUCCESS;
}

/* c = a·b over the last two axes, fp32 accumulation. */
static cudnnStatus_t matmul(struct sdpa_graph *g, desc_t a, desc_t b, desc_t c)
{
    const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    desc_t md, op;
    TRY(make(g, CUDNN_BACKEND_MATMUL_DESCRIPTOR, &md));
    SET(g, md, CUDNN_ATTR_MATMUL_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    TRY(finalize(g, md));
    TRY(make(g, CUDNN_BACKEND_OPERATION_MATMUL_DESCRIPTOR, &op));
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_MATMUL_ADESC, a);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_MATMUL_BDESC, b);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_MATMUL_CDESC, c);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_MATMUL_DESC, md);
    return add_op(g, op);
}

/* y = mode(x[, b][, t]) elementwise, computed in prec. axis: GEN_INDEX's
 * axis, else ignored. b and t may be NULL (unary modes; t only for
 * BINARY_SELECT, where y = t ? x : b). */
static cudnnStatus_t pointwise(struct sdpa_graph *g, cudnnPointwiseMode_t mode, cudnnDataType_t prec,
                               int64_t axis, desc_t x, desc_t b, desc_t t, desc_t y)
{
    static const float one = 1.0f;
    desc_t pd, op;
    TRY(make(g, CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &pd));
    SET(g, pd, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
    SET(g, pd, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &prec);
    if (mode == CUDNN_POINTWISE_GEN_INDEX)
        SET(g, pd, CUDNN_ATTR_POINTWISE_AXIS, CUDNN_TYPE_INT64, 1, &axis);
    TRY(finalize(g, pd));
    TRY(make(g, CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, &op));
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, pd);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, x);
    if (b)
        SET_DESC(g, op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, b);
    if (t)
        SET_DESC(g, op, CUDNN_ATTR_OPERATION_POINTWISE_TDESC, t);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, y);
    SET(g, op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA1, CUDNN_TYPE_FLOAT, 1, &one);
    SET(g, op, CUDNN_ATTR_OPERATION_POINTWISE_ALPHA2, CUDNN_TYPE_FLOAT, 1, &one);
    return add_op(g, op);
}

/* y = red(x) over the axes where y's dims are 1, fp32. */
static cudnnStatus_t reduction(struct sdpa_graph *g, cudnnReduceTensorOp_t red, desc_t x, desc_t y)
{
    const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
    desc_t rd, op;
    TRY(make(g, CUDNN_BACKEND_REDUCTION_DESCRIPTOR, &rd));
    SET(g, rd, CUDNN_ATTR_REDUCTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp);
    SET(g, rd, CUDNN_ATTR_REDUCTION_OPERATOR, CUDNN_TYPE_REDUCTION_OPERATOR_TYPE, 1, &red);
    TRY(finalize(g, rd));
    TRY(make(g, CUDNN_BACKEND_OPERATION_REDUCTION_DESCRIPTOR, &op));
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_REDUCTION_DESC, rd);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_REDUCTION_XDESC, x);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_REDUCTION_YDESC, y);
    return add_op(g, op);
}

/* ---- the graphs ---------------------------------------------------------------- */

/* The tensors' type in memory (flash_cudnn_unsupported admits these two). */
static cudnnDataType_t io_type(enum dtype dt)
{
    return dt == DT_BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
}

/* S (virtual fp32 [B,H,N,Nk]) <- S with the scores of keys row i does not see
 * set to -inf: keep iff row + (Nk - N) >= col. Top-left (N = Nk) compares
 * the indices directly, as the frontend's causal_mask does; bottom-right adds
 * Nk and subtracts N as int32 by-value scalars, as causal_mask_bottom_right. */
static cudnnStatus_t sdpa_mask(struct sdpa_graph *g, const struct layout *ls, desc_t *S)
{
    const cudnnDataType_t f32 = CUDNN_DATA_FLOAT, i32 = CUDNN_DATA_INT32;
    desc_t row, col, keep, masked, neg_inf;
    TRY(tensor(g, 0, i32, ls, T_VIRTUAL, &row));
    TRY(tensor(g, 0, i32, ls, T_VIRTUAL, &col));
    TRY(pointwise(g, CUDNN_POINTWISE_GEN_INDEX, f32, 2, *S, NULL, NULL, row));
    TRY(pointwise(g, CUDNN_POINTWISE_GEN_INDEX, f32, 3, *S, NULL, NULL, col));
    if (g->bottom_right) {
        desc_t seq_kv, seq_q, shifted, row2;
        TRY(scalar(g, SDPA_UID_SEQ_KV, i32, &seq_kv));
        TRY(scalar(g, SDPA_UID_SEQ_Q, i32, &seq_q));
        TRY(tensor(g, 0, i32, ls, T_VIRTUAL, &shifted));
        TRY(tensor(g, 0, i32, ls, T_VIRTUAL, &row2));
        TRY(pointwise(g, CUDNN_POINTWISE_ADD, i32, -1, row, seq_kv, NULL, shifted));
        TRY(pointwise(g, CUDNN_POINTWISE_SUB, i32, -1, shifted, seq_q, NULL, row2));
        row = row2;
    }
    TRY(tensor(g, 0, CUDNN_DATA_BOOLEAN, ls, T_VIRTUAL, &keep));
    TRY(pointwise(g, CUDNN_POINTWISE_CMP_GE, CUDNN_DATA_BOOLEAN, -1, row, col, NULL, keep));
    TRY(scalar(g, SDPA_UID_NEG_INF, f32, &neg_inf));
    TRY(tensor(g, 0, f32, ls, T_VIRTUAL, &masked));
    TRY(pointwise(g, CUDNN_POINTWISE_BINARY_SELECT, f32, -1, *S, neg_inf, keep, masked));
    *S = masked;
    return CUDNN_STATUS_SUCCESS;
}

/* P (virtual, I/O dtype) = softmax(S) over the keys, without statistics:
 * the frontend's CompositeSoftmaxNode with no Stats output. */
static cudnnStatus_t sdpa_softmax(struct sdpa_graph *g, const struct shape *s, const struct layout *ls,
                                  desc_t S, desc_t *P)
{
    const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    const struct layout lr = dense(s->B, s->H, s->N, 1);    /* per-row max and sum */
    desc_t M, shifted, E, Z;
    TRY(tensor(g, 0, f32, &lr, T_VIRTUAL, &M));
    TRY(reduction(g, CUDNN_REDUCE_TENSOR_MAX, S, M));
    TRY(tensor(g, 0, f32, ls, T_VIRTUAL, &shifted));
    TRY(pointwise(g, CUDNN_POINTWISE_SUB, f32, -1, S, M, NULL, shifted));
    TRY(tensor(g, 0, f32, ls, T_VIRTUAL, &E));
    TRY(pointwise(g, CUDNN_POINTWISE_EXP, f32, -1, shifted, NULL, NULL, E));
    TRY(tensor(g, 0, f32, &lr, T_VIRTUAL, &Z));
    TRY(reduction(g, CUDNN_REDUCE_TENSOR_ADD, E, Z));
    TRY(tensor(g, 0, io_type(s->dtype), ls, T_VIRTUAL, P));
    return pointwise(g, CUDNN_POINTWISE_DIV, f32, -1, E, Z, NULL, *P);
}

/* The composite graph (header comment). */
static cudnnStatus_t sdpa_composite(struct sdpa_graph *g, const struct shape *s, desc_t Q, desc_t V,
                                    desc_t O, desc_t scale)
{
    const cudnnDataType_t f32 = CUDNN_DATA_FLOAT;
    const struct layout lk = transposed(token_major(s->B, s->Nk, s->Hkv, s->D));
    const struct layout ls = dense(s->B, s->H, s->N, s->Nk);
    desc_t KT, S, scaled, P;
    TRY(tensor(g, SDPA_UID_K, io_type(s->dtype), &lk, 0, &KT));
    TRY(tensor(g, 0, f32, &ls, T_VIRTUAL, &S));
    TRY(matmul(g, Q, KT, S));
    TRY(tensor(g, 0, f32, &ls, T_VIRTUAL, &scaled));
    TRY(pointwise(g, CUDNN_POINTWISE_MUL, f32, -1, S, scale, NULL, scaled));
    S = scaled;
    if (g->masked)
        TRY(sdpa_mask(g, &ls, &S));
    TRY(sdpa_softmax(g, s, &ls, S, &P));
    return matmul(g, P, V, O);
}

/* The unified graph: one OPERATION_SDPA_FWD descriptor, K as it is. */
static cudnnStatus_t sdpa_unified(struct sdpa_graph *g, const struct shape *s, desc_t Q, desc_t V,
                                  desc_t O, desc_t scale)
{
#if SDPA_HEADERS_UNIFIED
    const struct layout lk = token_major(s->B, s->Nk, s->Hkv, s->D);
    desc_t K, op;
    TRY(tensor(g, SDPA_UID_K, io_type(s->dtype), &lk, 0, &K));
    TRY(make(g, CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR, &op));
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, Q);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, K);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, V);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, O);
    SET_DESC(g, op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, scale);
    return add_op(g, op);
#else
    (void)s, (void)Q, (void)V, (void)O, (void)scale;
    snprintf(g->err, sizeof g->err, "the unified SDPA operation needs cuDNN >= 9.13.1 headers");
    return CUDNN_STATUS_NOT_SUPPORTED;
#endif
}

cudnnStatus_t sdpa_graph_build(struct sdpa_graph *g, const struct cudnn_lib *lib,
                               const struct shape *s, double scale, enum sdpa_kind kind)
{
    memset(g, 0, sizeof *g);
    g->lib = lib;
    g->kind = kind;
    g->masked = flash_cudnn_masked(s);
    g->bottom_right = g->masked && s->N != s->Nk;
    g->next_virtual = SDPA_UID_VIRTUAL;
    g->workspace_bytes = g->engine = -1;
    g->scale = (float)scale;
    /* The masked score: -inf from 9.10 on, the lowest float before (what
     * the frontend's get_negative_inf_value() gives each version). */
    g->neg_inf = lib->cudnnGetVersion() >= 91000 ? -INFINITY : -3.40282347e38f;
    g->seq_kv = (int32_t)s->Nk, g->seq_q = (int32_t)s->N;

    const cudnnDataType_t io = io_type(s->dtype);
    const struct layout lq = token_major(s->B, s->N, s->H, s->D);
    const struct layout lv = token_major(s->B, s->Nk, s->Hkv, s->Dv);
    const struct layout lo = token_major(s->B, s->N, s->H, s->Dv);
    desc_t Q, V, O, sc;
    TRY(tensor(g, SDPA_UID_Q, io, &lq, 0, &Q));
    TRY(tensor(g, SDPA_UID_V, io, &lv, 0, &V));
    TRY(tensor(g, SDPA_UID_O, io, &lo, 0, &O));
    TRY(scalar(g, SDPA_UID_SCALE, CUDNN_DATA_FLOAT, &sc));
    return kind == SDPA_UNIFIED ? sdpa_unified(g, s, Q, V, O, sc) : sdpa_composite(g, s, Q, V, O, sc);
}

/* ---- the plan ------------------------------------------------------------------ */

/* The first of the heuristics' configurations whose execution plan
 * finalizes, into g->plan; its rank in g->config_rank. Configurations that
 * fail are destroyed at once (they are not in g's list). */
static cudnnStatus_t sdpa_first_plan(struct sdpa_graph *g, cudnnHandle_t handle, desc_t *cfg,
                                     int64_t count)
{
    cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
    char last_err[sizeof g->err] = "";
    for (int64_t i = 0; i < count; i++) {
        const cudnnBackendDescriptorType_t type = CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR;
        desc_t p;
        CUDNN_CHECK(g->lib, g->err, g->lib->cudnnBackendCreateDescriptor(type, &p));
        cudnnStatus_t st = g->lib->cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_HANDLE,
                                                            CUDNN_TYPE_HANDLE, 1, &handle);
        if (st == CUDNN_STATUS_SUCCESS)
            st = g->lib->cudnnBackendSetAttribute(p, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG,
                                                  CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfg[i]);
        if (st == CUDNN_STATUS_SUCCESS)
            st = g->lib->cudnnBackendFinalize(p);
        if (st == CUDNN_STATUS_SUCCESS) {
            g->descs[g->n_descs++] = p;     /* room: sdpa_plan_build checked */
            g->plan = p;
            g->config_rank = i;
            return CUDNN_STATUS_SUCCESS;
        }
        cudnn_error_text(g->lib, st, "cudnnBackendFinalize(execution plan)", __FILE__, __LINE__,
                         last_err, sizeof last_err);
        last = st;
        g->lib->cudnnBackendDestroyDescriptor(p);
    }
    snprintf(g->err, sizeof g->err, "%lld engine configurations from heuristics mode A, none builds%s%s",
             (long long)count, last_err[0] ? "; last: " : "", last_err);
    return CUDNN_STATUS_CATEGORY(last) == CUDNN_STATUS_NOT_SUPPORTED ? last : CUDNN_STATUS_NOT_SUPPORTED;
}

/* The global index of the engine behind cfg, or -1 (provenance only). */
static int64_t sdpa_engine_index(struct sdpa_graph *g, desc_t cfg)
{
    desc_t engine;
    int64_t n = 0, index = -1;
    if (make(g, CUDNN_BACKEND_ENGINE_DESCRIPTOR, &engine) != CUDNN_STATUS_SUCCESS ||
        g->lib->cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                         1, &n, &engine) != CUDNN_STATUS_SUCCESS ||
        g->lib->cudnnBackendGetAttribute(engine, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, CUDNN_TYPE_INT64, 1,
                                         &n, &index) != CUDNN_STATUS_SUCCESS)
        return -1;
    return index;
}

cudnnStatus_t sdpa_plan_build(struct sdpa_graph *g, cudnnHandle_t handle)
{
    const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
    desc_t graph, heur, cfg[SDPA_MAX_CONFIGS];
    int64_t count = 0, n = 0;
    TRY(make(g, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &graph));
    SET(g, graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, g->n_ops, g->ops);
    SET(g, graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle);
    TRY(finalize(g, graph));
    TRY(make(g, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, &heur));
    SET_DESC(g, heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph);
    SET(g, heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
    TRY(finalize(g, heur));
    const cudnnBackendAttributeType_t any = CUDNN_TYPE_BACKEND_DESCRIPTOR;
    CUDNN_CHECK(g->lib, g->err,
                g->lib->cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, any, 0, &count, NULL));
    g->configs = count;
    if (count > SDPA_MAX_CONFIGS)
        count = SDPA_MAX_CONFIGS;
    if (g->n_descs + count + 4 > SDPA_MAX_DESCS) {      /* configs, plan, engine, pack */
        snprintf(g->err, sizeof g->err, "flash/cudnn: descriptor list full (raise SDPA_MAX_DESCS)");
        return CUDNN_STATUS_INTERNAL_ERROR;
    }
    for (int64_t i = 0; i < count; i++)
        TRY(make(g, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, &cfg[i]));
    CUDNN_CHECK(g->lib, g->err,
                g->lib->cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, any, count, &n, cfg));
    TRY(sdpa_first_plan(g, handle, cfg, n < count ? n : count));
    CUDNN_CHECK(g->lib, g->err,
                g->lib->cudnnBackendGetAttribute(g->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                 CUDNN_TYPE_INT64, 1, &n, &g->workspace_bytes));
    g->engine = sdpa_engine_index(g, cfg[g->config_rank]);
    return CUDNN_STATUS_SUCCESS;
}

void sdpa_graph_destroy(struct sdpa_graph *g)
{
    while (g->n_descs > 0)
        g->lib->cudnnBackendDestroyDescriptor(g->descs[--g->n_descs]);
    g->n_ops = 0;
    g->plan = NULL;
}

/* ---- the implementation -------------------------------------------------------- */

struct flash_cudnn_state {
    struct sdpa_graph g;
    struct attn_dev io;         /* q, k, v, out */
    void *workspace;            /* d_ the plan's, tracked; NULL when it needs none */
    cudnnHandle_t handle;
    desc_t pack;                /* the variant pack (in g's descriptor list) */
};

/* The harness status for a failed cuDNN call: what cuDNN does not support is
 * a skip with the reason, a failed allocation is oom, the rest errors. */
static int sb_status_of(cudnnStatus_t st)
{
    if (CUDNN_STATUS_CATEGORY(st) == CUDNN_STATUS_NOT_SUPPORTED)
        return SB_UNSUPPORTED;
    if (st == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
        st == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
        return SB_OOM;
    return SB_ERROR;
}

/* The graph of `kind` with its plan, into st->g; on failure st->g is
 * destroyed and g.err says why. */
static cudnnStatus_t flash_cudnn_graph(struct flash_cudnn_state *st, const struct cudnn_lib *lib,
                                       const struct op_ctx *ctx, enum sdpa_kind kind)
{
    cudnnStatus_t rc = sdpa_graph_build(&st->g, lib, ctx->shape, ctx->scale, kind);
    if (rc == CUDNN_STATUS_SUCCESS)
        rc = sdpa_plan_build(&st->g, st->handle);
    if (rc != CUDNN_STATUS_SUCCESS)
        sdpa_graph_destroy(&st->g);
    return rc;
}

/* The variant pack: the device tensors, the by-value scalars (host
 * pointers, as the frontend passes them), the workspace. */
static cudnnStatus_t flash_cudnn_pack(struct flash_cudnn_state *st)
{
    struct sdpa_graph *g = &st->g;
    void *ptrs[] = { st->io.q, st->io.k, st->io.v, st->io.out, &g->scale, &g->neg_inf,
                     &g->seq_kv, &g->seq_q };
    const int64_t uids[] = { SDPA_UID_Q, SDPA_UID_K, SDPA_UID_V, SDPA_UID_O, SDPA_UID_SCALE,
                             SDPA_UID_NEG_INF, SDPA_UID_SEQ_KV, SDPA_UID_SEQ_Q };
    _Static_assert(sizeof ptrs / sizeof ptrs[0] == sizeof uids / sizeof uids[0], "one uid per pointer");
    /* Only the uids the graph has: Q..scale always, -inf when masked, the
     * sequence lengths when bottom-right. */
    const int64_t count = g->bottom_right ? 8 : g->masked ? 6 : 5;
    TRY(make(g, CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &st->pack));
    SET(g, st->pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, count, ptrs);
    SET(g, st->pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, count, uids);
    SET(g, st->pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &st->workspace);
    return finalize(g, st->pack);
}

/* ctx->info: which graph ran, on which engine and cuDNN, as JSON. */
static void flash_cudnn_info(struct op_ctx *ctx, const struct flash_cudnn_state *st, const char *fallback)
{
    const struct sdpa_graph *g = &st->g;
    char v[32], h[32], lib[sizeof ctx->info / 2];
    cudnn_version_string(g->lib->version, v, sizeof v);
    cudnn_version_string(CUDNN_VERSION, h, sizeof h);
    if (emit_json_string_buf(lib, sizeof lib, g->lib->path) != 0)
        snprintf(lib, sizeof lib, "null");      /* a path too long to keep: the JSON stays whole */
    const char *mask = !g->masked ? "none" : g->bottom_right ? "bottom_right" : "top_left";
    snprintf(ctx->info, sizeof ctx->info,
             "{\"graph\":\"%s\",%s\"mask\":\"%s\",\"cudnn\":\"%s\",\"cudnn_headers\":\"%s\","
             "\"engine\":%lld,\"config_rank\":%lld,\"configs\":%lld,\"workspace\":%lld,\"lib\":%s}",
             sdpa_kind_names[g->kind], fallback, mask, v, h, (long long)g->engine, (long long)g->config_rank,
             (long long)g->configs, (long long)g->workspace_bytes, lib);
}

/* The steps of setup after the checks; st is freed by the caller on failure. */
static int flash_cudnn_prepare(struct op_ctx *ctx, struct flash_cudnn_state *st, const struct cudnn_lib *lib)
{
    const struct shape *s = ctx->shape;
    const char *fallback = "";
    cudnnStatus_t crc = cudnn_lib_handle(lib, &st->handle, ctx->err, sizeof ctx->err);
    if (crc != CUDNN_STATUS_SUCCESS)
        return sb_status_of(crc);
    enum sdpa_kind kind = flash_cudnn_kind(s, lib->version);
    crc = flash_cudnn_graph(st, lib, ctx, kind);
    if (kind == SDPA_UNIFIED && CUDNN_STATUS_CATEGORY(crc) == CUDNN_STATUS_NOT_SUPPORTED) {
        kind = SDPA_COMPOSITE;          /* the frontend would stop here; the other graph may run */
        fallback = "\"unified\":\"no engine\",";
        crc = flash_cudnn_graph(st, lib, ctx, kind);
    }
    if (crc != CUDNN_STATUS_SUCCESS) {
        const int no_engine = CUDNN_STATUS_CATEGORY(crc) == CUDNN_STATUS_NOT_SUPPORTED;
        snprintf(ctx->err, sizeof ctx->err, "%s%s graph: %.200s",
                 no_engine ? "cuDNN has no engine for this " : "", sdpa_kind_names[kind], st->g.err);
        return sb_status_of(crc);
    }
    int rc = attn_dev_setup(ctx, &st->io);
    if (rc == SB_OK && st->g.workspace_bytes > 0)
        rc = sb_alloc(ctx, &st->workspace, (size_t)st->g.workspace_bytes);
    if (rc != SB_OK)
        return rc;
    if ((crc = flash_cudnn_pack(st)) != CUDNN_STATUS_SUCCESS) {
        snprintf(ctx->err, sizeof ctx->err, "%s", st->g.err);
        return sb_status_of(crc);
    }
    flash_cudnn_info(ctx, st, fallback);
    return SB_OK;
}

int flash_cudnn_setup(struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    if (flash_cudnn_unsupported(s, 0, ctx->err, sizeof ctx->err))
        return SB_UNSUPPORTED;
    const struct cudnn_lib *lib = cudnn_lib_get(ctx->err, sizeof ctx->err);
    if (!lib)
        return SB_UNSUPPORTED;
    if (lib->version == 91000 || lib->version == 91001) {
        snprintf(ctx->err, sizeof ctx->err, "cuDNN 9.10.0 and 9.10.1 have known SDPA forward bugs "
                 "(cudnn-frontend refuses them); use 9.10.2 or newer");
        return SB_UNSUPPORTED;
    }
    if (!ctx->gpu) {
        snprintf(ctx->err, sizeof ctx->err, "no CUDA device");
        return SB_UNSUPPORTED;
    }
    int dev = 0, cc_major = 0;
    SB_CUDA_CHECK(ctx, cudaGetDevice(&dev));
    SB_CUDA_CHECK(ctx, cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, dev));
    if (flash_cudnn_unsupported(s, cc_major, ctx->err, sizeof ctx->err))
        return SB_UNSUPPORTED;

    struct flash_cudnn_state *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(ctx->err, sizeof ctx->err, "flash/cudnn: out of host memory");
        return SB_OOM;
    }
    int rc = flash_cudnn_prepare(ctx, st, lib);
    if (rc != SB_OK) {
        if (st->g.lib)
            sdpa_graph_destroy(&st->g);
        free(st);               /* the harness frees the tracked device buffers */
        return rc;
    }
    ctx->priv = st;
    return SB_OK;
}

/* The stream is set on every run, not once: the handle is the process's,
 * and another cuDNN implementation may have pointed it elsewhere since. */
static cudnnStatus_t flash_cudnn_execute(struct op_ctx *ctx, struct flash_cudnn_state *st)
{
    const struct cudnn_lib *lib = st->g.lib;
    CUDNN_CHECK(lib, ctx->err, lib->cudnnSetStream(st->handle, (cudaStream_t)sb_gpu_stream(ctx)));
    CUDNN_CHECK(lib, ctx->err, lib->cudnnBackendExecute(st->handle, st->g.plan, st->pack));
    return CUDNN_STATUS_SUCCESS;
}

int flash_cudnn_run(struct op_ctx *ctx)
{
    cudnnStatus_t st = flash_cudnn_execute(ctx, ctx->priv);
    return st == CUDNN_STATUS_SUCCESS ? SB_OK : sb_status_of(st);
}

int flash_cudnn_fetch(struct op_ctx *ctx)
{
    return attn_dev_fetch(ctx, &((const struct flash_cudnn_state *)ctx->priv)->io);
}

/* The descriptors go; the device buffers are the harness's to free, the
 * handle is the process's. */
void flash_cudnn_teardown(struct op_ctx *ctx)
{
    struct flash_cudnn_state *st = ctx->priv;
    if (st)
        sdpa_graph_destroy(&st->g);
    free(st);
    ctx->priv = NULL;
}

/* The plan's workspace is known only once the plan is built; setup
 * allocates it through sb_gpu_alloc, so the stored footprint is exact. */
int64_t flash_cudnn_workspace_bytes(const struct shape *s)
{
    (void)s;
    return 0;
}

#endif /* SB_HAVE_CUDNN */
