/*
 * cute_layout.cu — the fragment maps of ops/ptx.cuh (which element of the
 * matrix each lane's register holds, which the CPU runner's emulation of
 * mma.sync and ldmatrix uses) against CuTe's MMA and copy traits, an
 * independent statement of the same hardware layouts (CUTLASS, pinned by
 * tests/cute_layout.sh). Host code only: nvcc compiles it on a machine with
 * no GPU. One line per atom, "cute-layout: ok <atom>"; then each mutation
 * of a map (two lanes swapped, .trans dropped) must be caught:
 * "mutation: caught <what>". Prints "N passed, M failed" last.
 *
 * CuTe's conventions: an MMA atom's ALayout maps (thread, value) to the
 * index of an (M, K) tile in column-major order, BLayout to (N, K), CLayout
 * to (M, N); values in register order (as ptx.cuh numbers them). A copy
 * atom's SrcLayout and DstLayout map (thread, bit) to one index space of
 * bits: a bit moves from source (thread, bit) to destination (thread, bit)
 * when both map to the same index. For ldmatrix the source thread 8·i + r
 * holds row r of matrix i (128 bits); the destination thread's bits are its
 * registers in order. A GMMA K-major shared-memory atom (8 rows of a
 * swizzle's width) is a Swizzle<B,4,3> applied to the byte address of an
 * (8, W) row-major layout; TMA writes a box of that width with the mode
 * get_tma_swizzle_bits names, so ptx.cuh's sb_tma_smem_offset must place
 * every element where the atom has it.
 */
#include <cstdio>
#include <cstring>

#include <cute/tensor.hpp>
#include <cute/atom/copy_traits_sm75.hpp>
#include <cute/atom/mma_traits_sm80.hpp>
#include <cute/atom/mma_traits_sm89.hpp>
#include <cute/atom/mma_traits_sm90_gmma.hpp>
#include <cute/atom/copy_traits_sm90_tma_swizzle.hpp>

#include "../ops/ptx.cuh"

using namespace cute;

static int n_pass, n_fail;

/* A mutation applied to ptx.cuh's maps before they are compared. */
enum mutation { NONE, SWAP_LANES_0_1, DROP_TRANS, SHIFT_C_ROW };

static sb_rc ours_a(int kind, int lane, int v, mutation m)
{
    return sb_mma_a_elem(kind, m == SWAP_LANES_0_1 && lane < 2 ? 1 - lane : lane, v);
}

static sb_rc ours_c(int lane, int v, mutation m)
{
    sb_rc r = sb_mma_c_elem(lane, v);
    if (m == SHIFT_C_ROW && lane == 5)
        r.row = (r.row + 8) % 16;
    return r;
}

/* ptx.cuh's A, B and C maps of `kind` against atom traits T; returns the
 * first difference in msg, or "" when all (thread, value) agree. */
template <class T>
static bool mma_agrees(int kind, mutation m, char *msg, size_t n)
{
    constexpr int M = 16, N = 8;
    const auto A = typename T::ALayout{};
    const auto B = typename T::BLayout{};
    const auto C = typename T::CLayout{};
    const int per = sb_mma_per_reg(kind);
    msg[0] = 0;
    if ((int)size<1>(A) != 4 * per || (int)size<1>(B) != 2 * per || (int)size<1>(C) != 4) {
        snprintf(msg, n, "value counts %d/%d/%d, ptx.cuh has %d/%d/4", (int)size<1>(A), (int)size<1>(B),
                 (int)size<1>(C), 4 * per, 2 * per);
        return false;
    }
    for (int t = 0; t < 32; t++) {
        for (int v = 0; v < 4 * per; v++) {
            const int idx = A(t, v);
            const sb_rc o = ours_a(kind, t, v, m);
            if (o.row != idx % M || o.col != idx / M) {
                snprintf(msg, n, "A thread %d value %d: CuTe (%d,%d), ptx.cuh (%d,%d)", t, v, idx % M,
                         idx / M, o.row, o.col);
                return false;
            }
        }
        for (int v = 0; v < 2 * per; v++) {
            const int idx = B(t, v);        /* (n, k) */
            const sb_rc o = sb_mma_b_elem(kind, t, v);
            if (o.col != idx % N || o.row != idx / N) {
                snprintf(msg, n, "B thread %d value %d: CuTe (k %d, n %d), ptx.cuh (k %d, n %d)", t, v,
                         idx / N, idx % N, o.row, o.col);
                return false;
            }
        }
        for (int v = 0; v < 4; v++) {
            const int idx = C(t, v);
            const sb_rc o = ours_c(t, v, m);
            if (o.row != idx % M || o.col != idx / M) {
                snprintf(msg, n, "C thread %d value %d: CuTe (%d,%d), ptx.cuh (%d,%d)", t, v, idx % M,
                         idx / M, o.row, o.col);
                return false;
            }
        }
    }
    return true;
}

/* ptx.cuh's ldmatrix map (NMAT matrices, .trans or not) against copy traits T. */
template <class T>
static bool ldsm_agrees(int nmat, bool trans, mutation m, char *msg, size_t n)
{
    const auto S = typename T::SrcLayout{};
    const auto D = typename T::DstLayout{};
    msg[0] = 0;
    if ((int)size<1>(D) != 32 * nmat) {
        snprintf(msg, n, "%d destination bits per thread, ptx.cuh moves %d", (int)size<1>(D), 32 * nmat);
        return false;
    }
    const bool tr = m == DROP_TRANS ? false : trans;
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < nmat; i++)
            for (int e = 0; e < 2; e++) {
                const sb_rc rc = sb_ldmatrix_elem(tr, lane, e);
                for (int b = 0; b < 16; b++) {
                    const int want = D(lane, 32 * i + 16 * e + b);
                    const int got = S(8 * i + rc.row, 16 * rc.col + b);
                    if (want != got) {
                        snprintf(msg, n, "lane %d register %d half %d bit %d: CuTe's source bit %d, "
                                 "ptx.cuh reads bit %d (row %d, element %d of matrix %d)",
                                 lane, i, e, b, want, got, rc.row, rc.col, i);
                        return false;
                    }
                }
            }
    return true;
}

/* sb_tma_smem_offset with CU_TENSOR_MAP_SWIZZLE_* `mode` against the GMMA
 * K-major atom Atom of element type T (8 rows, their width the swizzle's). */
template <class Atom, class T>
static bool tma_agrees(int mode, bool drop_swizzle, char *msg, size_t n)
{
    const auto atom = Atom{};
    const auto sw = atom.layout_a();        /* Swizzle<B,4,3>, on byte addresses */
    const auto rows = atom.layout_b();      /* (8, W):(W, 1), elements */
    msg[0] = 0;
    const int tma_bits = (int)detail::get_tma_swizzle_bits(sw);
    if (tma_bits != mode) {
        snprintf(msg, n, "CuTe's TMA mode for the atom's swizzle is %d, ptx.cuh uses %d", tma_bits, mode);
        return false;
    }
    const int W = size<1>(rows);
    const unsigned inner = (unsigned)(W * sizeof(T));
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < W; c++) {
            const unsigned want = (unsigned)sw((int)(rows(r, c) * sizeof(T)));
            const unsigned got = sb_tma_smem_offset(drop_swizzle ? 0 : mode, inner, r, (unsigned)(c * sizeof(T)));
            if (want != got) {
                snprintf(msg, n, "row %d element %d: CuTe's byte %u, ptx.cuh's %u", r, c, want, got);
                return false;
            }
        }
    return true;
}

static void report(bool ok, const char *atom, const char *msg)
{
    if (ok) {
        printf("cute-layout: ok %s\n", atom);
        n_pass++;
    } else {
        fprintf(stderr, "FAIL cute_layout: %s: %s\n", atom, msg);
        n_fail++;
    }
}

/* A mutation must make the comparison fail. */
static void expect_caught(bool agreed, const char *what, const char *msg)
{
    if (!agreed) {
        printf("mutation: caught %s (%s)\n", what, msg);
        n_pass++;
    } else {
        fprintf(stderr, "FAIL cute_layout: mutation not caught: %s\n", what);
        n_fail++;
    }
}

int main()
{
    char msg[300];
    report(mma_agrees<MMA_Traits<SM80_16x8x16_F32BF16BF16F32_TN>>(SB_MMA_M16N8K16_BF16, NONE, msg, sizeof msg),
           "mma.m16n8k16.row.col.f32.bf16.bf16.f32 (SM80_16x8x16_F32BF16BF16F32_TN: A, B, C)", msg);
    report(mma_agrees<MMA_Traits<SM80_16x8x16_F32F16F16F32_TN>>(SB_MMA_M16N8K16_F16, NONE, msg, sizeof msg),
           "mma.m16n8k16.row.col.f32.f16.f16.f32 (SM80_16x8x16_F32F16F16F32_TN: A, B, C)", msg);
    report(mma_agrees<MMA_Traits<SM80_16x8x32_S32S8S8S32_TN>>(SB_MMA_M16N8K32_S8, NONE, msg, sizeof msg),
           "mma.m16n8k32.row.col.s32.s8.s8.s32 (SM80_16x8x32_S32S8S8S32_TN: A, B, C)", msg);
    report(mma_agrees<MMA_Traits<SM89_16x8x32_F32E4M3E4M3F32_TN>>(SB_MMA_M16N8K32_E4M3, NONE, msg, sizeof msg),
           "mma.m16n8k32.row.col.f32.e4m3.e4m3.f32 (SM89_16x8x32_F32E4M3E4M3F32_TN: A, B, C)", msg);
    report(ldsm_agrees<Copy_Traits<SM75_U32x1_LDSM_N>>(1, false, NONE, msg, sizeof msg),
           "ldmatrix.m8n8.x1.b16 (SM75_U32x1_LDSM_N)", msg);
    report(ldsm_agrees<Copy_Traits<SM75_U32x2_LDSM_N>>(2, false, NONE, msg, sizeof msg),
           "ldmatrix.m8n8.x2.b16 (SM75_U32x2_LDSM_N)", msg);
    report(ldsm_agrees<Copy_Traits<SM75_U32x4_LDSM_N>>(4, false, NONE, msg, sizeof msg),
           "ldmatrix.m8n8.x4.b16 (SM75_U32x4_LDSM_N)", msg);
    report(ldsm_agrees<Copy_Traits<SM75_U16x2_LDSM_T>>(1, true, NONE, msg, sizeof msg),
           "ldmatrix.m8n8.x1.trans.b16 (SM75_U16x2_LDSM_T)", msg);
    report(ldsm_agrees<Copy_Traits<SM75_U16x4_LDSM_T>>(2, true, NONE, msg, sizeof msg),
           "ldmatrix.m8n8.x2.trans.b16 (SM75_U16x4_LDSM_T)", msg);
    report(ldsm_agrees<Copy_Traits<SM75_U16x8_LDSM_T>>(4, true, NONE, msg, sizeof msg),
           "ldmatrix.m8n8.x4.trans.b16 (SM75_U16x8_LDSM_T)", msg);

    report(tma_agrees<GMMA::Layout_K_INTER_Atom<bfloat16_t>, bfloat16_t>(CU_TENSOR_MAP_SWIZZLE_NONE, false, msg, sizeof msg),
           "TMA box, no swizzle (GMMA::Layout_K_INTER_Atom<bf16>)", msg);
    report(tma_agrees<GMMA::Layout_K_SW32_Atom<bfloat16_t>, bfloat16_t>(CU_TENSOR_MAP_SWIZZLE_32B, false, msg, sizeof msg),
           "TMA box, 32-byte swizzle (GMMA::Layout_K_SW32_Atom<bf16>)", msg);
    report(tma_agrees<GMMA::Layout_K_SW64_Atom<bfloat16_t>, bfloat16_t>(CU_TENSOR_MAP_SWIZZLE_64B, false, msg, sizeof msg),
           "TMA box, 64-byte swizzle (GMMA::Layout_K_SW64_Atom<bf16>)", msg);
    report(tma_agrees<GMMA::Layout_K_SW128_Atom<bfloat16_t>, bfloat16_t>(CU_TENSOR_MAP_SWIZZLE_128B, false, msg, sizeof msg),
           "TMA box, 128-byte swizzle (GMMA::Layout_K_SW128_Atom<bf16>)", msg);
    report(tma_agrees<GMMA::Layout_K_SW128_Atom<tfloat32_t>, float>(CU_TENSOR_MAP_SWIZZLE_128B, false, msg, sizeof msg),
           "TMA box, 128-byte swizzle (GMMA::Layout_K_SW128_Atom<tf32>)", msg);

    bool agreed = mma_agrees<MMA_Traits<SM80_16x8x16_F32BF16BF16F32_TN>>(SB_MMA_M16N8K16_BF16, SWAP_LANES_0_1,
                                                                        msg, sizeof msg);
    expect_caught(agreed, "lanes 0 and 1 swapped in the m16n8k16 bf16 A map", msg);
    agreed = mma_agrees<MMA_Traits<SM80_16x8x32_S32S8S8S32_TN>>(SB_MMA_M16N8K32_S8, SWAP_LANES_0_1, msg,
                                                                sizeof msg);
    expect_caught(agreed, "lanes 0 and 1 swapped in the m16n8k32 s8 A map", msg);
    agreed = mma_agrees<MMA_Traits<SM80_16x8x16_F32BF16BF16F32_TN>>(SB_MMA_M16N8K16_BF16, SHIFT_C_ROW, msg,
                                                                   sizeof msg);
    expect_caught(agreed, "lane 5's accumulator rows moved by 8 in the C map", msg);
    agreed = ldsm_agrees<Copy_Traits<SM75_U16x8_LDSM_T>>(4, true, DROP_TRANS, msg, sizeof msg);
    expect_caught(agreed, ".trans dropped from ldmatrix.x4.trans", msg);
    agreed = tma_agrees<GMMA::Layout_K_SW128_Atom<bfloat16_t>, bfloat16_t>(CU_TENSOR_MAP_SWIZZLE_128B, true, msg,
                                                                           sizeof msg);
    expect_caught(agreed, "the 128-byte swizzle left out of a TMA box's placement", msg);

    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
