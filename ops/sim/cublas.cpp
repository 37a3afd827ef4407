/*
 * cublas.cpp — the cuBLAS calls of the implementations (softmax_cublas.cu:
 * cublasGemmBatchedEx and the handle around it), for the CPU runner, with
 * cuBLAS's documented semantics and argument checks, so the host code's
 * argument lists execute against the simulated device:
 *
 *   C_i = alpha · op(A_i) · op(B_i) + beta · C_i,  i < batchCount,
 *   column-major, op(X) = X or Xᵀ; A_i is m × k after op, stored with
 *   leading dimension lda >= max(1, rows as stored), likewise B_i, C_i.
 *
 * Checks, as cuBLAS makes them (CUBLAS_STATUS_INVALID_VALUE): negative
 * sizes, leading dimensions under their minimum; (NOT_SUPPORTED): a type
 * combination this file does not compute. Stricter than cuBLAS, which
 * would read out of bounds: the pointer arrays must lie in device memory
 * and every matrix's span (lda·(cols - 1) + rows elements) inside one
 * allocation, else the program stops naming the operand and batch index.
 * Products and sums in double, rounded once to C's type (cuBLAS's own
 * order and precision of the sum are its choice: within the family's
 * tolerance). Pointer mode host only (the default, what the callers use).
 * The call is queued on the handle's stream like a kernel (runtime.cpp),
 * and counts its m·n·k multiply-adds per batch entry (sb_sim_count_macs).
 */
#include <cublas_v2.h>
#include <cuda_bf16.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <set>

#include "runtime.h"
#include "sim.h"

struct cublasContext {
    cudaStream_t stream;
};

namespace {

std::set<cublasHandle_t> handles;

size_t type_bytes(cudaDataType t)
{
    return t == CUDA_R_32F ? 4 : t == CUDA_R_16BF || t == CUDA_R_16F ? 2 : 0;
}

double load(const void *p, cudaDataType t, size_t i)
{
    if (t == CUDA_R_32F)
        return ((const float *)p)[i];
    uint16_t h;
    memcpy(&h, (const char *)p + 2 * i, 2);
    if (t == CUDA_R_16BF) {
        const uint32_t bits = (uint32_t)h << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    __half_raw r;
    r.x = h;
    return __half2float(__half(r));
}

void store(void *p, cudaDataType t, size_t i, double v)
{
    if (t == CUDA_R_32F)
        ((float *)p)[i] = (float)v;
    else if (t == CUDA_R_16BF)
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn((float)v);
    else
        ((__half *)p)[i] = __float2half_rn((float)v);
}

/* The operand's span: rows × cols stored column-major with leading dimension ld. */
void check_span(const char *what, int b, const void *p, int rows, int cols, int ld, cudaDataType t)
{
    const size_t elems = rows && cols ? (size_t)ld * (size_t)(cols - 1) + (size_t)rows : 0;
    if (elems && !sb_sim_is_global(p, elems * type_bytes(t)))
        sb_sim_fail(nullptr, "cublasGemmBatchedEx: %s[%d] = %p: %d x %d with ld %d (%zu elements) is not "
                    "inside one device allocation", what, b, p, rows, cols, ld, elems);
}

} // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t *handle)
{
    *handle = new cublasContext{ nullptr };
    handles.insert(*handle);
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle)
{
    if (!handles.erase(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream)
{
    if (!handles.count(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetVersion_v2(cublasHandle_t handle, int *version)
{
    (void)handle;
    *version = CUBLAS_VERSION;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetProperty(libraryPropertyType type, int *value)
{
    *value = type == MAJOR_VERSION ? CUBLAS_VER_MAJOR : type == MINOR_VERSION ? CUBLAS_VER_MINOR
                                                                             : CUBLAS_VER_PATCH;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusName(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

const char *cublasGetStatusString(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid value was used as an argument";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    default: return "unknown status (CPU runner)";
    }
}

cublasStatus_t cublasGemmBatchedEx(cublasHandle_t handle, cublasOperation_t transa,
                                   cublasOperation_t transb, int m, int n, int k, const void *alpha,
                                   const void *const Aarray[], cudaDataType Atype, int lda,
                                   const void *const Barray[], cudaDataType Btype, int ldb,
                                   const void *beta, void *const Carray[], cudaDataType Ctype, int ldc,
                                   int batchCount, cublasComputeType_t computeType,
                                   cublasGemmAlgo_t algo)
{
    (void)algo;
    if (!handles.count(handle))
        return CUBLAS_STATUS_NOT_INITIALIZED;
    const bool ta = transa != CUBLAS_OP_N, tb = transb != CUBLAS_OP_N;
    const int a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    if (m < 0 || n < 0 || k < 0 || batchCount < 0 || lda < (a_rows > 1 ? a_rows : 1) ||
        ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1) ||
        (transa != CUBLAS_OP_N && transa != CUBLAS_OP_T) || (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T))
        return CUBLAS_STATUS_INVALID_VALUE;
    const bool types_ok = computeType == CUBLAS_COMPUTE_32F && Atype == Btype &&
                          type_bytes(Atype) && type_bytes(Ctype) &&
                          (Ctype == Atype || Ctype == CUDA_R_32F);
    if (!types_ok)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    if (m == 0 || n == 0 || batchCount == 0)
        return CUBLAS_STATUS_SUCCESS;
    /* alpha and beta are read now (host pointer mode), the rest when the
     * stream runs the call: the pointer arrays and matrices are device
     * memory the stream's earlier work may still be writing. */
    const double al = *(const float *)alpha, be = *(const float *)beta;
    sb_rt_enqueue(handle->stream, [=] {
        sb_rt_device_memory_access(1);
        for (const auto &arr : { (const void *)Aarray, (const void *)Barray, (const void *)Carray })
            if (!sb_sim_is_global(arr, (size_t)batchCount * sizeof(void *)))
                sb_sim_fail(nullptr, "cublasGemmBatchedEx: a pointer array %p of %d entries is not in device memory",
                            arr, batchCount);
        for (int bi = 0; bi < batchCount; bi++) {
            const void *A = Aarray[bi], *B = Barray[bi];
            void *C = Carray[bi];
            check_span("A", bi, A, a_rows, a_cols, lda, Atype);
            check_span("B", bi, B, b_rows, b_cols, ldb, Btype);
            check_span("C", bi, C, m, n, ldc, Ctype);
            for (int j = 0; j < n; j++)
                for (int i = 0; i < m; i++) {
                    double acc = 0;
                    for (int p = 0; p < k; p++) {
                        const double a = load(A, Atype, ta ? (size_t)p + (size_t)i * lda : (size_t)i + (size_t)p * lda);
                        const double b = load(B, Btype, tb ? (size_t)j + (size_t)p * ldb : (size_t)p + (size_t)j * ldb);
                        acc += a * b;
                    }
                    const size_t ci = (size_t)i + (size_t)j * ldc;
                    /* beta = 0: C is not read (it may hold NaN), as in BLAS. */
                    store(C, Ctype, ci, al * acc + (be != 0 ? be * load(C, Ctype, ci) : 0.0));
                }
        }
        /* The multiply-adds a GEMM executes, for the implementation's
         * executed count (tests/cuda_on_cpu.cpp). */
        sb_sim_count_macs((long)m * n * k * batchCount);
        sb_rt_device_memory_access(0);
    });
    return CUBLAS_STATUS_SUCCESS;
}

} // extern "C"
