/*
 * flash_cudnn.h — the pieces of flash/cudnn (flash_cudnn.c) that tests
 * drive without a GPU: the support rules, the choice of graph, and the
 * operation graph itself, whose tensor and operation descriptors finalize
 * against the real library with no handle.
 */
#ifndef SEQBENCH_FLASH_CUDNN_H
#define SEQBENCH_FLASH_CUDNN_H

#include <stddef.h>
#include <stdint.h>

#include "../../harness/cudnn_lib.h"
#include "../../harness/seqbench.h"

/* The two ways cudnn-frontend expresses SDPA (and so the two graphs cuDNN's
 * engines recognise): one OPERATION_SDPA_FWD descriptor (cuDNN >= 9.13.1),
 * or a graph of matmul, pointwise and reduction operations that the runtime
 * fusion engines match as flash attention. */
enum sdpa_kind { SDPA_COMPOSITE, SDPA_UNIFIED };
extern const char *const sdpa_kind_names[2];   /* "composite", "unified" */

/* The first cuDNN whose unified SDPA operation the frontend uses; 1 when
 * the headers bench is built with have it. */
#define SDPA_UNIFIED_MIN_VERSION 91301
#if defined(SB_HAVE_CUDNN) && CUDNN_VERSION >= SDPA_UNIFIED_MIN_VERSION
#define SDPA_HEADERS_UNIFIED 1
#else
#define SDPA_HEADERS_UNIFIED 0
#endif

/* Why cuDNN's fused attention cannot take this case, in one line into why
 * (returning why), or NULL when it can. cc_major is the GPU's compute
 * capability major, 0 when unknown (the architecture rules are then not
 * applied). */
const char *flash_cudnn_unsupported(const struct shape *s, int cc_major, char *why, size_t n);

/* The graph for this case and cuDNN version: unified when both the loaded
 * library and the headers have it and the case needs no mask (the unified
 * operation takes masks only from 9.21, whose attributes 9.19's headers
 * lack); composite otherwise. A causal case with N = 1 needs no mask: the
 * one query row sees every key under seqbench's bottom-right alignment. */
enum sdpa_kind flash_cudnn_kind(const struct shape *s, size_t version);

/* 1 when the case's graph carries the causal mask (causal and N > 1). */
int flash_cudnn_masked(const struct shape *s);

#ifdef SB_HAVE_CUDNN

/* Unique ids of the graph's non-virtual tensors (the variant pack's keys);
 * virtual ones are numbered from SDPA_UID_VIRTUAL. */
enum sdpa_uid {
    SDPA_UID_Q = 1, SDPA_UID_K, SDPA_UID_V, SDPA_UID_O,
    SDPA_UID_SCALE,             /* by value: the softmax scale, float */
    SDPA_UID_NEG_INF,           /* by value: the masked score, float */
    SDPA_UID_SEQ_KV,            /* by value: Nk, int32 (bottom-right mask) */
    SDPA_UID_SEQ_Q,             /* by value: N, int32 (bottom-right mask) */
    SDPA_UID_VIRTUAL = 100,
};

/* Descriptors one graph and its plan create at most: the composite graph
 * with the bottom-right mask has 21 tensors and 14 operations (two
 * descriptors each), the plan 4 + the engine configurations it tries. */
#define SDPA_MAX_DESCS 128
#define SDPA_MAX_OPS 16
#define SDPA_MAX_CONFIGS 32     /* heuristics results tried at most */

struct sdpa_graph {
    const struct cudnn_lib *lib;
    enum sdpa_kind kind;
    int masked;                 /* the causal mask ops are in the graph */
    int bottom_right;           /* masked and N != Nk: rows shifted by Nk - N */
    cudnnBackendDescriptor_t descs[SDPA_MAX_DESCS];  /* all created, destroyed in reverse */
    int n_descs;
    cudnnBackendDescriptor_t ops[SDPA_MAX_OPS];     /* the operations, in order */
    int n_ops;
    int64_t next_virtual;       /* the next virtual tensor's uid */
    /* By-value scalars: the variant pack holds pointers to these. */
    float scale, neg_inf;
    int32_t seq_kv, seq_q;
    /* The plan (sdpa_plan_build; needs a handle, so a GPU). */
    cudnnBackendDescriptor_t plan;
    int64_t workspace_bytes;    /* the plan's; -1 before the plan */
    int64_t configs;            /* engine configurations the heuristics offered */
    int64_t config_rank;        /* the one that built (0 = heuristics' first choice) */
    int64_t engine;             /* its global engine index; -1 unknown */
    char err[256];              /* why the last call failed */
};

/* Builds and finalizes every tensor and operation descriptor of the case's
 * graph (q [B,N,H,D], k [B,Nk,Hkv,D], v [B,Nk,Hkv,Dv], out [B,N,H,Dv],
 * token-major, passed by strides). No handle, no GPU. On failure g->err
 * says why; sdpa_graph_destroy() releases what was made either way. */
cudnnStatus_t sdpa_graph_build(struct sdpa_graph *g, const struct cudnn_lib *lib,
                               const struct shape *s, double scale, enum sdpa_kind kind);

/* Operation graph, heuristics (mode A), the first engine configuration
 * whose execution plan finalizes, its workspace size. Needs a handle. A
 * graph no engine takes returns a NOT_SUPPORTED status. */
cudnnStatus_t sdpa_plan_build(struct sdpa_graph *g, cudnnHandle_t handle);

void sdpa_graph_destroy(struct sdpa_graph *g);

#endif /* SB_HAVE_CUDNN */

#endif /* SEQBENCH_FLASH_CUDNN_H */
