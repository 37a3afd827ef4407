/*
 * ptx.cuh — every GPU instruction the kernels need that C++ has no word
 * for, one small wrapper each (kernels never write `asm` themselves):
 * mma.sync, ldmatrix, cp.async (sm_80); mbarrier, fence.proxy.async, the
 * bulk copies and 2-D tensor copies (TMA, sm_90); %globaltimer.
 *
 *   GPU side  the instruction, inline PTX, under __CUDA_ARCH__;
 *   CPU side  ops/sim/ptx_sim.cpp, a strict emulation that follows the PTX
 *             ISA section named in each comment: warp-wide instructions
 *             wait for all 32 lanes (a lane missing, or at another
 *             instruction, stops the program), operands must lie where the
 *             ISA says (shared memory, alignment), an asynchronous copy's
 *             destination reads as poison until the wait that covers it;
 *   layouts   which matrix element each lane's register holds, as
 *             constexpr functions both sides share; tests/cute_layout.cu
 *             checks them against CuTe's MMA and copy traits.
 *
 * Fragment registers hold their elements in order from the low bits: a
 * 32-bit register of two bf16 holds the lower-addressed (lower-index)
 * element in bits 0..15, as a 32-bit load of two adjacent bf16 gives.
 */
#ifndef SEQBENCH_OPS_PTX_CUH
#define SEQBENCH_OPS_PTX_CUH

#include <cuda.h>             /* CUtensorMap and its enums (types only: nothing links libcuda) */
#include <cuda_runtime_api.h>
#include <stdint.h>
#include <time.h>

#if !defined(__CUDACC__)
#include "sim/sim.h"
/* The CPU side reports the kernel's line: the call site, as a default
 * argument (absent from the GPU build). */
#define SB_PTX_LOC , const sb_sim_loc &loc = sb_sim_loc::current()
#define SB_PTX_LOC_FIRST const sb_sim_loc &loc = sb_sim_loc::current()
#else
#define SB_PTX_LOC
#define SB_PTX_LOC_FIRST
#endif

/* ---- fragment layouts ----------------------------------------------------------------- */

/* The mma.sync shapes wrapped here (PTX ISA 9.7.14.5, "Matrix fragments
 * for mma.m16n8k16" and "for mma.m16n8k32"). */
enum sb_mma_kind {
    SB_MMA_M16N8K16_BF16,   /* f32 += bf16 · bf16, sm_80+ */
    SB_MMA_M16N8K16_F16,    /* f32 += f16 · f16, sm_80+ */
    SB_MMA_M16N8K32_S8,     /* s32 += s8 · s8, sm_80+ */
    SB_MMA_M16N8K32_E4M3,   /* f32 += e4m3 · e4m3, sm_89+ */
    SB_MMA_KIND_COUNT
};

struct sb_rc {
    int row, col;
};

/* Elements per 32-bit register of the A and B fragments: 2 (16-bit
 * types) or 4 (8-bit types); the K of the shape is 8 times that. */
__host__ __device__ constexpr int sb_mma_per_reg(int kind)
{
    return kind == SB_MMA_M16N8K32_S8 || kind == SB_MMA_M16N8K32_E4M3 ? 4 : 2;
}

/* A (16 × K, row-major as the ISA draws it): lane's element v (0 .. 4·per - 1,
 * register v / per) is A[row][col]. Lane = 4·groupID + threadID_in_group. */
__host__ __device__ constexpr sb_rc sb_mma_a_elem(int kind, int lane, int v)
{
    const int g = lane / 4, t = lane % 4, per = sb_mma_per_reg(kind);
    return { g + 8 * (v / per % 2), per * t + v % per + 4 * per * (v / (2 * per)) };
}

/* B (K × 8): lane's element v (0 .. 2·per - 1) is B[row = k][col = n]. */
__host__ __device__ constexpr sb_rc sb_mma_b_elem(int kind, int lane, int v)
{
    const int g = lane / 4, t = lane % 4, per = sb_mma_per_reg(kind);
    return { per * t + v % per + 4 * per * (v / per), g };
}

/* C and D (16 × 8, 4 values of 32 bits): lane's value v is C[row][col]. */
__host__ __device__ constexpr sb_rc sb_mma_c_elem(int lane, int v)
{
    return { lane / 4 + 8 * (v / 2), 2 * (lane % 4) + v % 2 };
}

/* ldmatrix .m8n8 .b16 (PTX ISA 9.7.9.26): register i of lane gets two
 * 16-bit elements (e = 0 in the low half) of matrix i; each of the 8 rows
 * of matrix i is read from the address lane 8·i + row supplies. For lane,
 * i, e: .row = the row read (= the supplying lane % 8), .col = the element
 * of that row. Without .trans lane l holds row l/4, elements 2(l%4) + e;
 * with .trans the transpose: rows 2(l%4) + e, element l/4. */
__host__ __device__ constexpr sb_rc sb_ldmatrix_elem(bool trans, int lane, int e)
{
    return trans ? sb_rc{ 2 * (lane % 4) + e, lane / 4 } : sb_rc{ lane / 4, 2 * (lane % 4) + e };
}

/* ---- the CPU side ------------------------------------------------------------------------ */

#if !defined(__CUDACC__)
void sb_sim_mma(int kind, void *d, const uint32_t *a, const uint32_t *b, const sb_sim_loc &loc);
void sb_sim_ldmatrix(int n, bool trans, uint32_t *r, const void *row, const sb_sim_loc &loc);
void sb_sim_cp_async(void *dst, const void *src, int bytes, int src_bytes, const sb_sim_loc &loc);
void sb_sim_cp_async_commit(const sb_sim_loc &loc);
void sb_sim_cp_async_wait(int pending, const sb_sim_loc &loc);
void sb_sim_mbarrier_init(uint64_t *bar, unsigned count, const sb_sim_loc &loc);
uint64_t sb_sim_mbarrier_arrive(uint64_t *bar, unsigned tx_bytes, const sb_sim_loc &loc);
void sb_sim_mbarrier_wait(uint64_t *bar, unsigned parity, const sb_sim_loc &loc);
void sb_sim_fence_proxy_async(const sb_sim_loc &loc);
void sb_sim_bulk_g2s(void *dst, const void *src, unsigned bytes, uint64_t *bar, const sb_sim_loc &loc);
void sb_sim_bulk_s2g(void *dst, const void *src, unsigned bytes, const sb_sim_loc &loc);
void sb_sim_bulk_commit(const sb_sim_loc &loc);
void sb_sim_bulk_wait(int pending, const sb_sim_loc &loc);
void sb_sim_tma_load_2d(void *dst, const CUtensorMap *map, int x, int y, uint64_t *bar, const sb_sim_loc &loc);
void sb_sim_tma_store_2d(const CUtensorMap *map, int x, int y, const void *src, const sb_sim_loc &loc);
#endif

/* ---- mma.sync (PTX ISA 9.7.14.5.14 "mma") ---------------------------------------------------- */

/* One lane's share of the multiply-adds of an m16n8k16 (16·8·16 for the
 * warp): what a kernel counts beside each such call (SB_COUNT_MACS). */
#define SB_MMA_M16N8K16_LANE_MACS (16 * 8 * 16 / 32)

/* d += a · b: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, every
 * lane of the warp at once (sm_80+). a: 4 registers of the A fragment,
 * b: 2 of B (layouts above); d: the 4 accumulators. */
static __device__ __forceinline__ void sb_mma_m16n8k16_bf16(float d[4], const uint32_t a[4],
                                                            const uint32_t b[2] SB_PTX_LOC)
{
#if defined(__CUDA_ARCH__)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif !defined(__CUDACC__)
    sb_sim_mma(SB_MMA_M16N8K16_BF16, d, a, b, loc);
#endif
}

/* d += a · b: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 (sm_80+). */
static __device__ __forceinline__ void sb_mma_m16n8k16_f16(float d[4], const uint32_t a[4],
                                                           const uint32_t b[2] SB_PTX_LOC)
{
#if defined(__CUDA_ARCH__)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif !defined(__CUDACC__)
    sb_sim_mma(SB_MMA_M16N8K16_F16, d, a, b, loc);
#endif
}

/* d += a · b: mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 (sm_80+),
 * wrapping on overflow (no .satfinite). */
static __device__ __forceinline__ void sb_mma_m16n8k32_s8(int32_t d[4], const uint32_t a[4],
                                                          const uint32_t b[2] SB_PTX_LOC)
{
#if defined(__CUDA_ARCH__)
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif !defined(__CUDACC__)
    sb_sim_mma(SB_MMA_M16N8K32_S8, d, a, b, loc);
#endif
}

/* d += a · b: mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 (sm_89+;
 * the sm_80 build traps). */
static __device__ __forceinline__ void sb_mma_m16n8k32_e4m3(float d[4], const uint32_t a[4],
                                                            const uint32_t b[2] SB_PTX_LOC)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 890
    asm volatile("mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_mma(SB_MMA_M16N8K32_E4M3, d, a, b, loc);
#endif
}

/* ---- ldmatrix (PTX ISA 9.7.9.26 "ldmatrix") ----------------------------------------------------- */

/* N (1, 2, 4) 8×8 matrices of 16-bit elements from shared memory, every lane
 * of the warp at once: lane 8·i + r supplies the address of row r of
 * matrix i (16-byte aligned; lanes past 8·N supply nothing), register i
 * receives the elements sb_ldmatrix_elem names. TRANS: .trans. */
template <int N, bool TRANS>
static __device__ __forceinline__ void sb_ldmatrix(uint32_t r[N], const void *row SB_PTX_LOC)
{
    static_assert(N == 1 || N == 2 || N == 4, "ldmatrix loads 1, 2 or 4 matrices");
#if defined(__CUDA_ARCH__)
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(row));
    if constexpr (N == 1 && !TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(s));
    else if constexpr (N == 1)
        asm volatile("ldmatrix.sync.aligned.m8n8.x1.trans.shared.b16 {%0}, [%1];\n" : "=r"(r[0]) : "r"(s));
    else if constexpr (N == 2 && !TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
                     : "=r"(r[0]), "=r"(r[1]) : "r"(s));
    else if constexpr (N == 2)
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0, %1}, [%2];\n"
                     : "=r"(r[0]), "=r"(r[1]) : "r"(s));
    else if constexpr (!TRANS)
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
    else
        asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                     : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(s));
#elif !defined(__CUDACC__)
    sb_sim_ldmatrix(N, TRANS, r, row, loc);
#endif
}

/* ---- cp.async (PTX ISA 9.7.9.25.3 "cp.async", "cp.async.commit_group",
 * "cp.async.wait_group") ------------------------------------------------------------------------- */

/* Starts copying BYTES (4, 8 or 16) from global src to shared dst, both
 * aligned to BYTES; only src_bytes (0..BYTES) are read, the rest of dst
 * is zero-filled (a tile's ragged edge). The copy joins this thread's
 * current group; dst must not be read before a wait covers that group. */
template <int BYTES>
static __device__ __forceinline__ void sb_cp_async(void *dst, const void *src,
                                                   int src_bytes = BYTES SB_PTX_LOC)
{
    static_assert(BYTES == 4 || BYTES == 8 || BYTES == 16, "cp.async copies 4, 8 or 16 bytes");
#if defined(__CUDA_ARCH__)
    const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
    if constexpr (BYTES == 16)       /* .cg: L2 only, for data read once per block */
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\n" ::"r"(s), "l"(src), "n"(BYTES),
                     "r"(src_bytes));
#elif !defined(__CUDACC__)
    sb_sim_cp_async(dst, src, BYTES, src_bytes, loc);
#endif
}

/* Closes this thread's current group of cp.async (an empty one too). */
static __device__ __forceinline__ void sb_cp_async_commit(SB_PTX_LOC_FIRST)
{
#if defined(__CUDA_ARCH__)
    asm volatile("cp.async.commit_group;\n" ::);
#elif !defined(__CUDACC__)
    sb_sim_cp_async_commit(loc);
#endif
}

/* Waits until at most PENDING of this thread's committed groups are still
 * in flight: the older ones' destinations are then written, for this
 * thread (other threads see them after a barrier). */
template <int PENDING>
static __device__ __forceinline__ void sb_cp_async_wait(SB_PTX_LOC_FIRST)
{
#if defined(__CUDA_ARCH__)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING));
#elif !defined(__CUDACC__)
    sb_sim_cp_async_wait(PENDING, loc);
#endif
}

/* ---- mbarrier (PTX ISA 9.7.13.15 "mbarrier"; sm_90 for expect_tx and
 * try_wait, which these use) --------------------------------------------------------------------
 * An mbarrier is 8 bytes of shared memory, 8-byte aligned. A phase
 * completes when `count` arrivals and every transaction byte announced with
 * expect_tx have come in; then the next phase begins, of the other parity.
 * The GPU side traps on architectures before sm_90. */

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define SB_SM90_PTX 1
#endif

/* mbarrier.init.shared::cta.b64: count arrivals per phase (the first
 * phase has parity 0). Other threads may use it after a __syncthreads. */
static __device__ __forceinline__ void sb_mbarrier_init(uint64_t *bar, unsigned count SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(
                     static_cast<unsigned>(__cvta_generic_to_shared(bar))), "r"(count));
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_mbarrier_init(bar, count, loc);
#endif
}

/* mbarrier.arrive.shared::cta.b64: one arrival; returns the state token. */
static __device__ __forceinline__ uint64_t sb_mbarrier_arrive(uint64_t *bar SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    uint64_t state;
    asm volatile("mbarrier.arrive.shared::cta.b64 %0, [%1];\n"
                 : "=l"(state) : "r"(static_cast<unsigned>(__cvta_generic_to_shared(bar))));
    return state;
#elif defined(__CUDA_ARCH__)
    __trap();
    return 0;
#elif !defined(__CUDACC__)
    return sb_sim_mbarrier_arrive(bar, 0, loc);
#endif
}

/* mbarrier.arrive.expect_tx.shared::cta.b64: announces tx_bytes the phase
 * also waits for (the bulk copies that signal it), then one arrival. */
static __device__ __forceinline__ uint64_t sb_mbarrier_arrive_expect_tx(uint64_t *bar,
                                                                        unsigned tx_bytes SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    uint64_t state;
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 %0, [%1], %2;\n"
                 : "=l"(state)
                 : "r"(static_cast<unsigned>(__cvta_generic_to_shared(bar))), "r"(tx_bytes));
    return state;
#elif defined(__CUDA_ARCH__)
    __trap();
    return 0;
#elif !defined(__CUDACC__)
    return sb_sim_mbarrier_arrive(bar, tx_bytes, loc);
#endif
}

/* Waits until the phase of the given parity has completed: a loop of
 * mbarrier.try_wait.parity.shared::cta.b64. (Parity 1 on a fresh barrier
 * names the phase before the first: it returns at once.) */
static __device__ __forceinline__ void sb_mbarrier_wait(uint64_t *bar, unsigned parity SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    asm volatile("{\n"
                 ".reg .pred p;\n"
                 "WAIT:\n"
                 "mbarrier.try_wait.parity.shared::cta.b64 p, [%0], %1;\n"
                 "@!p bra WAIT;\n"
                 "}\n" ::"r"(static_cast<unsigned>(__cvta_generic_to_shared(bar))),
                 "r"(parity));
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_mbarrier_wait(bar, parity, loc);
#endif
}

/* fence.proxy.async.shared::cta (PTX ISA 9.7.13.4 "membar/fence"): this
 * thread's ordinary stores to shared memory become visible to the async
 * proxy (bulk and tensor copies reading shared memory, wgmma). */
static __device__ __forceinline__ void sb_fence_proxy_async(SB_PTX_LOC_FIRST)
{
#if defined(SB_SM90_PTX)
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_fence_proxy_async(loc);
#endif
}

/* ---- bulk copies (PTX ISA 9.7.9.25.4 "cp.async.bulk") -------------------------------------------
 * bytes a multiple of 16, both addresses 16-byte aligned. */

/* Global -> shared, completing `bytes` transaction bytes of bar's current
 * phase: cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.
 * dst must not be read before a wait on bar sees that phase complete. */
static __device__ __forceinline__ void sb_bulk_copy_g2s(void *dst, const void *src, unsigned bytes,
                                                        uint64_t *bar SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n"
                 ::"r"(static_cast<unsigned>(__cvta_generic_to_shared(dst))), "l"(src), "r"(bytes),
                 "r"(static_cast<unsigned>(__cvta_generic_to_shared(bar)))
                 : "memory");
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_bulk_g2s(dst, src, bytes, bar, loc);
#endif
}

/* Shared -> global, in this thread's current bulk group:
 * cp.async.bulk.global.shared::cta.bulk_group. src is read by the async
 * proxy: ordinary stores to it need a fence.proxy.async first. */
static __device__ __forceinline__ void sb_bulk_copy_s2g(void *dst, const void *src,
                                                        unsigned bytes SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;\n"
                 ::"l"(dst), "r"(static_cast<unsigned>(__cvta_generic_to_shared(src))), "r"(bytes)
                 : "memory");
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_bulk_s2g(dst, src, bytes, loc);
#endif
}

/* cp.async.bulk.commit_group: closes this thread's current bulk group. */
static __device__ __forceinline__ void sb_bulk_commit(SB_PTX_LOC_FIRST)
{
#if defined(SB_SM90_PTX)
    asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_bulk_commit(loc);
#endif
}

/* cp.async.bulk.wait_group.read PENDING: at most PENDING of this thread's
 * bulk groups still read their shared sources (the older ones' may be
 * written again). */
template <int PENDING>
static __device__ __forceinline__ void sb_bulk_wait_read(SB_PTX_LOC_FIRST)
{
#if defined(SB_SM90_PTX)
    asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(PENDING) : "memory");
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_bulk_wait(PENDING, loc);
#endif
}

/* ---- tensor copies (TMA; PTX ISA 9.7.9.27 "cp.async.bulk.tensor") --------------------------------
 * A 2-D tensor in global memory, described on the host by a CUtensorMap
 * (sb_tensor_map_2d), moved a box at a time between global memory and a
 * dense box in shared memory, optionally swizzled. */

/* The byte a box element lands on in shared memory: the box's rows packed
 * (row r at r · inner_bytes), then the swizzle mode's pattern, which XORs
 * the 16-byte chunk index (address bits 4..) with the row within a group of
 * 8 (bits 7..): 1, 2 or 3 bits for CU_TENSOR_MAP_SWIZZLE_32B, 64B, 128B.
 * The box in shared memory is aligned to the pattern's period (256, 512,
 * 1024 bytes), so offsets and address bits agree. tests/cute_layout.cu
 * checks it against CuTe's Swizzle<B,4,3> and its GMMA K-major atoms. */
__host__ __device__ constexpr unsigned sb_tma_smem_offset(int swizzle, unsigned inner_bytes, unsigned r,
                                                           unsigned byte_in_row)
{
    const unsigned off = r * inner_bytes + byte_in_row;
    const unsigned bits = swizzle == CU_TENSOR_MAP_SWIZZLE_32B   ? 1
                        : swizzle == CU_TENSOR_MAP_SWIZZLE_64B   ? 2
                        : swizzle == CU_TENSOR_MAP_SWIZZLE_128B  ? 3
                                                                 : 0;
    return off ^ (((off >> 7) & ((1u << bits) - 1)) << 4);
}

/* Fills *map for a row-major 2-D tensor at base: dims[0] elements per row
 * (innermost), dims[1] rows, rows row_bytes apart; boxes of box[0] x box[1]
 * elements; swizzle a CU_TENSOR_MAP_SWIZZLE_* mode; out-of-bounds elements
 * of a box read as zero. Through the driver's cuTensorMapEncodeTiled (its
 * entry point asked of the runtime: the binary does not link libcuda),
 * which the CPU runner provides too. cudaSuccess or the error; a refusal
 * by the driver is cudaErrorInvalidValue. */
static inline cudaError_t sb_tensor_map_2d(CUtensorMap *map, CUtensorMapDataType dtype, const void *base,
                                           const uint64_t dims[2], uint64_t row_bytes,
                                           const uint32_t box[2], CUtensorMapSwizzle swizzle)
{
    typedef CUresult (*encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *, const cuuint64_t *,
                                  const cuuint64_t *, const cuuint32_t *, const cuuint32_t *,
                                  CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion,
                                  CUtensorMapFloatOOBfill);
    void *fn = nullptr;
    enum cudaDriverEntryPointQueryResult q;
    cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q);
    if (e != cudaSuccess)
        return e;
    if (q != cudaDriverEntryPointSuccess || !fn)
        return cudaErrorNotSupported;
    const cuuint64_t gdim[2] = { dims[0], dims[1] }, gstride[1] = { row_bytes };
    const cuuint32_t bdim[2] = { box[0], box[1] }, estride[2] = { 1, 1 };
    const CUresult r = ((encode_fn)fn)(map, dtype, 2, const_cast<void *>(base), gdim, gstride, bdim, estride,
                                       CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle, CU_TENSOR_MAP_L2_PROMOTION_NONE,
                                       CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    return r == CUDA_SUCCESS ? cudaSuccess : cudaErrorInvalidValue;
}

/* Box (x, y) — its first element's column and row, either may be negative
 * or past the end: those elements read as zero — into shared memory at dst,
 * completing the box's bytes (all of them, out-of-bounds ones too) on bar:
 * cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.
 * map: the kernel's __grid_constant__ parameter. */
static __device__ __forceinline__ void sb_tma_load_2d(void *dst, const CUtensorMap *map, int x, int y,
                                                      uint64_t *bar SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
                 " [%0], [%1, {%2, %3}], [%4];\n"
                 ::"r"(static_cast<unsigned>(__cvta_generic_to_shared(dst))), "l"(reinterpret_cast<uint64_t>(map)),
                 "r"(x), "r"(y), "r"(static_cast<unsigned>(__cvta_generic_to_shared(bar)))
                 : "memory");
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_tma_load_2d(dst, map, x, y, bar, loc);
#endif
}

/* The box in shared memory at src to box (x, y) of the tensor, in this
 * thread's bulk group (its in-bounds elements only):
 * cp.async.bulk.tensor.2d.global.shared::cta.bulk_group. src is read by the
 * async proxy: ordinary stores to it need a fence.proxy.async first. */
static __device__ __forceinline__ void sb_tma_store_2d(const CUtensorMap *map, int x, int y,
                                                       const void *src SB_PTX_LOC)
{
#if defined(SB_SM90_PTX)
    asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%1, %2}], [%3];\n"
                 ::"l"(reinterpret_cast<uint64_t>(map)), "r"(x), "r"(y),
                 "r"(static_cast<unsigned>(__cvta_generic_to_shared(src)))
                 : "memory");
#elif defined(__CUDA_ARCH__)
    __trap();
#elif !defined(__CUDACC__)
    sb_sim_tma_store_2d(map, x, y, src, loc);
#endif
}

/* ---- timers (PTX ISA 10 "Special Registers": %globaltimer) -------------------------------- */

/* Nanoseconds of the GPU's global timer, a 64-bit counter common to every
 * SM (%globaltimer); on the CPU, the host's monotonic clock. For polling
 * loops with a timeout, not for timing kernels (its resolution is coarse
 * on some GPUs). */
static __device__ __forceinline__ uint64_t sb_globaltimer_ns(void)
{
#if defined(__CUDA_ARCH__)
    uint64_t t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    return t;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

#endif /* SEQBENCH_OPS_PTX_CUH */
