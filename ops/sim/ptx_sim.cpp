/*
 * ptx_sim.cpp — the CPU side of ops/ptx.cuh's instruction wrappers, strict
 * where the GPU is unforgiving. Built with the sanitizer of the run (the
 * shared and global memory these instructions touch is the kernel's, and
 * ThreadSanitizer must see it); the warp-wide ones run as collectives of
 * the scheduler (sched.cpp), computed once by the last lane to arrive.
 *
 *   mma.sync    all 32 lanes, the same instruction; A, B and C gathered
 *               through the fragment maps of ptx.cuh, products exact and
 *               summed in double, rounded once to fp32 (the tensor core's
 *               own order and rounding of the sum are unspecified; s8 is
 *               exact, wrapping at 32 bits as without .satfinite)
 *   ldmatrix    all 32 lanes; each supplied row address 16-byte aligned and
 *               inside the block's shared memory
 *   cp.async    per thread: dst in shared memory, src inside one device
 *               allocation, both aligned to the copy's size. The
 *               destination is poisoned at issue (0xFF bytes, and
 *               AddressSanitizer-poisoned where its 8-byte granules allow,
 *               so an early read is reported where it happens); the source
 *               is read at issue and again at the wait, which fails if it
 *               changed (the GPU reads it at any time in between); the wait
 *               writes the destination. A thread that ends with copies not
 *               waited for fails.
 *   mbarrier    the barrier's word as ThreadSanitizer sees it: init a
 *               plain store, an arrival an atomic release, a completed wait
 *               an acquire (so an arrival not ordered after the init is a
 *               data race, and a wait orders the arrivals' stores before
 *               what follows it); the rest is async.cpp's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <deque>
#include <map>
#include <vector>

#include "sim.h"
#include "async.h"
#include "../ptx.cuh"


namespace {

/* ---- element decoding (exact) ------------------------------------------------------ */

double bf16_value(uint32_t h)
{
    const uint32_t bits = (h & 0xFFFFu) << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

double f16_value(uint32_t h)
{
    const int sign = (h >> 15) & 1, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return sign ? -v : v;
}

/* OCP FP8 E4M3 (the PTX .e4m3): bias 7, no infinities, S.1111.111 is NaN. */
double e4m3_value(uint32_t b)
{
    const int sign = (b >> 7) & 1, e = (b >> 3) & 15, m = b & 7;
    double v = e == 0 ? ldexp(m, -9) : (e == 15 && m == 7) ? NAN : ldexp(8 + m, e - 10);
    return sign ? -v : v;
}

/* Element v of a fragment held in 32-bit registers r, `per` to a register. */
double elem(int kind, const uint32_t *r, int v)
{
    const int per = sb_mma_per_reg(kind), bits = 32 / per;
    const uint32_t x = (r[v / per] >> (bits * (v % per))) & ((1u << bits) - 1);
    switch (kind) {
    case SB_MMA_M16N8K16_BF16: return bf16_value(x);
    case SB_MMA_M16N8K16_F16: return f16_value(x);
    case SB_MMA_M16N8K32_S8: return (int8_t)x;
    default: return e4m3_value(x);
    }
}

const char *mma_names[SB_MMA_KIND_COUNT] = {
    "mma.m16n8k16.f32.bf16", "mma.m16n8k16.f32.f16", "mma.m16n8k32.s32.s8", "mma.m16n8k32.f32.e4m3",
};
int mma_kinds[SB_MMA_KIND_COUNT] = { 0, 1, 2, 3 };

void mma_compute(const void *op, sb_sim_slot *const slots[32], unsigned mask)
{
    (void)mask;
    const int kind = *(const int *)op, per = sb_mma_per_reg(kind), K = 8 * per;
    double A[16][32], B[32][8], C[16][8];
    int seen_a[16][32] = {}, seen_b[32][8] = {}, seen_c[16][8] = {};
    for (int l = 0; l < 32; l++) {
        const uint32_t *a = (const uint32_t *)slots[l]->ptrs[0];
        const uint32_t *b = (const uint32_t *)slots[l]->ptrs[1];
        const void *c = slots[l]->ptrs[3];
        for (int v = 0; v < 4 * per; v++) {
            const sb_rc e = sb_mma_a_elem(kind, l, v);
            A[e.row][e.col] = elem(kind, a, v);
            seen_a[e.row][e.col]++;
        }
        for (int v = 0; v < 2 * per; v++) {
            const sb_rc e = sb_mma_b_elem(kind, l, v);
            B[e.row][e.col] = elem(kind, b, v);
            seen_b[e.row][e.col]++;
        }
        for (int v = 0; v < 4; v++) {
            const sb_rc e = sb_mma_c_elem(l, v);
            C[e.row][e.col] = kind == SB_MMA_M16N8K32_S8 ? (double)((const int32_t *)c)[v]
                                                         : (double)((const float *)c)[v];
            seen_c[e.row][e.col]++;
        }
    }
    /* The maps are checked against CuTe (tests/cute_layout.cu); this keeps
     * an edited map from going unnoticed in between. */
    for (int i = 0; i < 16; i++)
        for (int k = 0; k < K; k++)
            if (seen_a[i][k] != 1)
                sb_sim_fail(nullptr, "%s: the A map covers (%d,%d) %d times", mma_names[kind], i, k, seen_a[i][k]);
    for (int k = 0; k < K; k++)
        for (int j = 0; j < 8; j++)
            if (seen_b[k][j] != 1)
                sb_sim_fail(nullptr, "%s: the B map covers (%d,%d) %d times", mma_names[kind], k, j, seen_b[k][j]);
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 8; j++)
            if (seen_c[i][j] != 1)
                sb_sim_fail(nullptr, "%s: the C map covers (%d,%d) %d times", mma_names[kind], i, j, seen_c[i][j]);
    for (int l = 0; l < 32; l++) {
        void *d = const_cast<void *>(slots[l]->ptrs[3]);
        for (int v = 0; v < 4; v++) {
            const sb_rc e = sb_mma_c_elem(l, v);
            if (kind == SB_MMA_M16N8K32_S8) {
                int64_t acc = (int64_t)C[e.row][e.col];
                for (int k = 0; k < K; k++)
                    acc += (int64_t)A[e.row][k] * (int64_t)B[k][e.col];
                ((int32_t *)d)[v] = (int32_t)(uint32_t)(uint64_t)acc;
            } else {
                double acc = C[e.row][e.col];
                for (int k = 0; k < K; k++)
                    acc += A[e.row][k] * B[k][e.col];
                ((float *)d)[v] = (float)acc;
            }
        }
    }
}

struct ldm_op {
    int n;
    bool trans;
};
const ldm_op ldm_ops[2][5] = {
    { {}, { 1, false }, { 2, false }, {}, { 4, false } },
    { {}, { 1, true }, { 2, true }, {}, { 4, true } },
};

void ldmatrix_compute(const void *op, sb_sim_slot *const slots[32], unsigned mask)
{
    (void)mask;
    const ldm_op *o = (const ldm_op *)op;
    uint16_t m[4][8][8];    /* [matrix][row][element] */
    for (int i = 0; i < o->n; i++)
        for (int row = 0; row < 8; row++) {
            const int lane = 8 * i + row;
            const void *p = slots[lane]->ptrs[0];
            if ((uintptr_t)p % 16 != 0)
                sb_sim_fail(nullptr, "ldmatrix: lane %d supplies %p for row %d of matrix %d: not 16-byte aligned",
                            lane, p, row, i);
            if (!sb_sim_is_shared(p, 16))
                sb_sim_fail(nullptr, "ldmatrix: lane %d supplies %p for row %d of matrix %d: not in the "
                            "block's shared memory", lane, p, row, i);
            memcpy(m[i][row], p, 16);
        }
    for (int l = 0; l < 32; l++) {
        uint32_t *r = (uint32_t *)const_cast<void *>(slots[l]->ptrs[1]);
        for (int i = 0; i < o->n; i++) {
            uint32_t x = 0;
            for (int e = 0; e < 2; e++) {
                const sb_rc s = sb_ldmatrix_elem(o->trans, l, e);
                x |= (uint32_t)m[i][s.row][s.col] << (16 * e);
            }
            r[i] = x;
        }
    }
}

} // namespace

void sb_sim_mma(int kind, void *d, const uint32_t *a, const uint32_t *b, const sb_sim_loc &loc)
{
    if (kind == SB_MMA_M16N8K32_E4M3 && sb_sim_device_cc() < 89)
        sb_sim_fail(&loc, "mma .e4m3 needs sm_89; the device is sm_%d", sb_sim_device_cc());
    sb_sim_slot s{};
    s.ptrs[0] = a, s.ptrs[1] = b, s.ptrs[3] = d;
    sb_sim_warp_collective(SB_COLL_MMA, 0xffffffffu, &s, &mma_kinds[kind], mma_compute, loc);
}

void sb_sim_ldmatrix(int n, bool trans, uint32_t *r, const void *row, const sb_sim_loc &loc)
{
    sb_sim_slot s{};
    s.ptrs[0] = row, s.ptrs[1] = r;
    sb_sim_warp_collective(SB_COLL_LDMATRIX, 0xffffffffu, &s, &ldm_ops[trans][n], ldmatrix_compute, loc);
}

/* ---- cp.async ------------------------------------------------------------------------------------- */

struct sb_sim_async {
    struct copy {
        char *dst;
        const char *src;
        int bytes, src_bytes;
        unsigned char seen[16];     /* the source at issue */
        sb_sim_loc loc;
    };
    std::vector<copy> open;                 /* not yet committed */
    std::deque<std::vector<copy>> groups;   /* committed, oldest first */
};

namespace {

void poison_dst(char *dst, int bytes)
{
    memset(dst, 0xFF, (size_t)bytes);
    POISON(dst, (size_t)bytes);
}

void complete(const sb_sim_async::copy &c)
{
    if (c.src_bytes && memcmp(c.seen, c.src, (size_t)c.src_bytes) != 0)
        sb_sim_fail(&c.loc, "cp.async: its global source %p changed while the copy was in flight "
                    "(the GPU may read it at any time before the wait)", (const void *)c.src);
    UNPOISON(c.dst, (size_t)c.bytes);
    memcpy(c.dst, c.seen, (size_t)c.src_bytes);
    memset(c.dst + c.src_bytes, 0, (size_t)(c.bytes - c.src_bytes));
}

} // namespace

void sb_sim_cp_async(void *dst, const void *src, int bytes, int src_bytes, const sb_sim_loc &loc)
{
    if (src_bytes < 0 || src_bytes > bytes)
        sb_sim_fail(&loc, "cp.async of %d bytes with src-size %d", bytes, src_bytes);
    if ((uintptr_t)dst % (unsigned)bytes || (uintptr_t)src % (unsigned)bytes)
        sb_sim_fail(&loc, "cp.async of %d bytes: dst %p or src %p not %d-byte aligned", bytes, dst, src, bytes);
    if (!sb_sim_is_shared(dst, (size_t)bytes))
        sb_sim_fail(&loc, "cp.async: dst %p is not in the block's shared memory", dst);
    if (src_bytes && !sb_sim_is_global(src, (size_t)src_bytes))
        sb_sim_fail(&loc, "cp.async: src %p (%d bytes) is not inside a device allocation", src, src_bytes);
    sb_sim_async **a = sb_sim_thread_async();
    if (!*a)
        *a = new sb_sim_async;
    sb_sim_async::copy c{ (char *)dst, (const char *)src, bytes, src_bytes, {}, loc };
    memcpy(c.seen, src, (size_t)src_bytes);
    poison_dst(c.dst, bytes);
    (*a)->open.push_back(c);
}

void sb_sim_cp_async_commit(const sb_sim_loc &loc)
{
    (void)loc;
    sb_sim_async **a = sb_sim_thread_async();
    if (!*a)
        *a = new sb_sim_async;
    (*a)->groups.push_back(std::move((*a)->open));
    (*a)->open.clear();
}

void sb_sim_cp_async_wait(int pending, const sb_sim_loc &loc)
{
    if (pending < 0)
        sb_sim_fail(&loc, "cp.async.wait_group %d", pending);
    sb_sim_async **a = sb_sim_thread_async();
    if (!*a)
        return;
    while ((int)(*a)->groups.size() > pending) {
        for (const auto &c : (*a)->groups.front())
            complete(c);
        (*a)->groups.pop_front();
    }
}

void sb_sim_async_at_exit(sb_sim_async **a)
{
    if (!*a)
        return;
    size_t n = (*a)->open.size();
    const sb_sim_loc *where = n ? &(*a)->open.front().loc : nullptr;
    for (const auto &g : (*a)->groups) {
        if (!where && !g.empty())
            where = &g.front().loc;
        n += g.size();
    }
    if (n)
        sb_sim_fail(where, "the thread ends with %zu cp.async copies not waited for "
                    "(no cp.async.wait_group covers them; the first was issued here)", n);
    delete *a;
    *a = nullptr;
}


/* ---- mbarrier: the word as ThreadSanitizer sees it ---------------------------------------------- */

void sb_sim_mbarrier_init(uint64_t *b, unsigned count, const sb_sim_loc &loc)
{
    sb_sim_async_mbarrier_init(b, count, loc);
    *b = 0;         /* a plain store: every arrival must be ordered after it */
}

uint64_t sb_sim_mbarrier_arrive(uint64_t *b, unsigned tx, const sb_sim_loc &loc)
{
    __atomic_fetch_add(b, 1, __ATOMIC_RELEASE);
    return sb_sim_async_mbarrier_arrive(b, tx, loc);
}

void sb_sim_mbarrier_wait(uint64_t *b, unsigned parity, const sb_sim_loc &loc)
{
    sb_sim_async_mbarrier_wait(b, parity, loc);
    (void)__atomic_load_n(b, __ATOMIC_ACQUIRE);
}
