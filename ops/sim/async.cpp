/*
 * async.cpp — the CPU runner's model of the sm_90 asynchronous machinery
 * (ops/ptx.cuh's CPU side; the word of an mbarrier as ThreadSanitizer sees
 * it is ptx_sim.cpp's): per block, its mbarriers, its bulk copies in
 * flight, and the async proxy's view of its shared memory. Under
 * ThreadSanitizer built without instrumentation, and its own moves of
 * kernel memory are volatile loops that TSan does not see either: this is
 * bookkeeping that every thread of the block touches, not the kernel's
 * accesses (the moves stand for the copy engine's, which TSan cannot
 * order; poison and AddressSanitizer catch a read too early instead).
 *
 *   mbarrier    (sm_90) in shared memory, 8-byte aligned, set up by
 *               mbarrier.init before use; a phase completes when its
 *               arrivals and its transaction bytes are all in; a wait on a
 *               parity whose phase never completes (a wrong parity, a
 *               transaction count no copy fulfils) is a deadlock, reported
 *               with the barrier's state.
 *   bulk copies (cp.async.bulk) global -> shared signal an mbarrier with
 *               their bytes; they land, their destination poisoned until
 *               then, only when a wait finds the phase otherwise complete:
 *               as late as the GPU may. One never waited for fails at the
 *               block's end. shared -> global ones read shared memory
 *               through the async proxy: what ordinary stores wrote there
 *               must have been fenced (fence.proxy.async) by then — checked
 *               against a copy of the block's shared memory taken at the
 *               last fence and kept current by the async proxy's own
 *               writes — and must not change before
 *               cp.async.bulk.wait_group.read.
 */
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

/* Byte moves ThreadSanitizer does not see (and the compiler does not turn
 * into memcpy, which it would). */
void move(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((volatile char *)dst)[i] = ((const volatile char *)src)[i];
}

void fill(void *dst, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((volatile char *)dst)[i] = (char)0xFF;
}

/* move() of shared memory, leaving out AddressSanitizer's redzones between
 * the static arrays (their bytes in dst stay as they were). */
void move_unpoisoned(char *dst, const char *src, size_t n)
{
#if defined(__SANITIZE_ADDRESS__)
    size_t i = 0;
    while (i < n) {
        const char *bad = (const char *)__asan_region_is_poisoned(const_cast<char *>(src + i), n - i);
        const size_t stop = bad ? (size_t)(bad - src) : n;
        move(dst + i, src + i, stop - i);
        for (i = stop; i < n && __asan_address_is_poisoned(src + i); i++) {
        }
    }
#else
    move(dst, src, n);
#endif
}

} // namespace

namespace {

struct bulk_in {            /* global -> shared, signalling an mbarrier */
    char *dst;
    std::vector<char> data; /* the source at issue */
    sb_sim_loc loc;
};

struct mbar {
    unsigned count;         /* arrivals per phase */
    unsigned pending;       /* arrivals still due in this phase */
    long long tx;           /* transaction bytes still due in this phase */
    unsigned phase;         /* the phase in progress (its parity: phase & 1) */
    std::vector<bulk_in> copies;    /* issued, not landed */
    sb_sim_loc init_loc;
};

/* What the runner writes into a CUtensorMap's 128 opaque bytes. */
struct tma_desc {
    uint64_t magic;
    char *base;
    uint64_t dims[2];       /* elements per row, rows */
    uint64_t row_bytes;
    uint32_t box[2];
    uint32_t esize;
    int swizzle;
};
constexpr uint64_t TMA_MAGIC = 0x314d53414d544253ull;     /* "SBTMASM1" */
static_assert(sizeof(tma_desc) <= sizeof(CUtensorMap), "the description fits the opaque map");

struct bulk_out {           /* shared -> global, in a bulk group */
    char *dst;              /* NULL: a tensor store, by `map` at (x, y) */
    const char *src;
    std::vector<char> data;
    sb_sim_loc loc;
    tma_desc map;
    int x, y;
};

struct block_async {
    std::map<uintptr_t, mbar> bars;
    /* The async proxy's view of shared memory: its contents at the last
     * fence.proxy.async, updated by the async proxy's own writes. */
    std::map<char *, std::vector<char>> view;
    bool have_view;         /* false: none taken yet, shared memory as the block found it (0xFF) */
    std::map<int, std::deque<std::vector<bulk_out>>> out_groups;   /* per thread, committed */
    std::map<int, std::vector<bulk_out>> out_open;                  /* per thread, not committed */
};
block_async *B;

int thread_index(void)
{
    return (int)(sb_sim_cur->thread.x + sb_sim_cur->block_dim.x *
                 (sb_sim_cur->thread.y + sb_sim_cur->block_dim.y * sb_sim_cur->thread.z));
}

void need_sm90(const char *what, const sb_sim_loc &loc)
{
    if (sb_sim_device_cc() < 90)
        sb_sim_fail(&loc, "%s needs sm_90; the device is sm_%d", what, sb_sim_device_cc());
}

void take_view(char *p, size_t n, void *)
{
    std::vector<char> &v = B->view[p];
    v.resize(n);
    move_unpoisoned(v.data(), p, n);
}

/* The view before any fence: the NaN bytes every block starts with. */
void fresh_view(char *p, size_t n, void *)
{
    B->view[p].assign(n, (char)0xFF);
}

/* The view's copy of [p, p + n), or NULL outside shared memory. */
char *view_of(const char *p, size_t n)
{
    if (!B->have_view) {
        sb_sim_each_shared_region(fresh_view, nullptr);
        B->have_view = true;
    }
    for (auto &kv : B->view)
        if (p >= kv.first && p + n <= kv.first + kv.second.size())
            return kv.second.data() + (p - kv.first);
    return nullptr;
}

mbar &bar_at(uint64_t *b, const char *what, const sb_sim_loc &loc)
{
    auto it = B->bars.find((uintptr_t)b);
    if (it == B->bars.end())
        sb_sim_fail(&loc, "%s on %p, which no mbarrier.init of this block set up", what, (void *)b);
    return it->second;
}

/* Lands the copies of bar's phase and completes it if its arrivals and
 * bytes are all in; true when it completed. */
bool try_complete(uint64_t *b, mbar &m)
{
    if (m.pending != 0)
        return false;
    for (bulk_in &c : m.copies) {
        UNPOISON(c.dst, c.data.size());
        move(c.dst, c.data.data(), c.data.size());
        if (char *v = view_of(c.dst, c.data.size()))
            move(v, c.data.data(), c.data.size());
        m.tx -= (long long)c.data.size();
    }
    m.copies.clear();
    if (m.tx > 0)
        return false;
    if (m.tx < 0)
        sb_sim_fail(&m.init_loc, "mbarrier %p: its copies brought %lld bytes more than expect_tx announced",
                    (void *)b, -m.tx);
    m.phase++;
    m.pending = m.count;
    m.tx = 0;
    sb_sim_progress();
    return true;
}

struct wait_arg {
    uint64_t *b;
    unsigned parity;
    sb_sim_loc loc;
};

bool wait_ready(void *p)
{
    wait_arg *w = (wait_arg *)p;
    mbar &m = bar_at(w->b, "mbarrier.try_wait", w->loc);
    /* The phase in progress has the other parity: the one waited for is over. */
    return (m.phase & 1) != w->parity || try_complete(w->b, m);
}

void wait_why(void *p, char *buf, size_t n)
{
    wait_arg *w = (wait_arg *)p;
    const mbar &m = B->bars[(uintptr_t)w->b];
    snprintf(buf, n, "waits on mbarrier %p for parity %u, which never completes: phase %u in progress, "
             "%u of %u arrivals and %lld transaction bytes still due (a wrong parity, or expect_tx "
             "bytes no copy brings)", (void *)w->b, w->parity, m.phase, m.pending, m.count, m.tx);
}

void check_fenced(const char *src, size_t n, const sb_sim_loc &loc)
{
    const char *v = view_of(src, n);
    if (!v)
        sb_sim_fail(&loc, "cp.async.bulk: source %p (%zu bytes) is not in the block's shared memory",
                    (const void *)src, n);
    for (size_t i = 0; i < n; i++)
        if (v[i] != ((const volatile char *)src)[i])
            sb_sim_fail(&loc, "cp.async.bulk reads shared memory %p (byte %zu of %zu) that ordinary stores "
                        "wrote after the last fence.proxy.async: the async proxy may not see them",
                        (const void *)(src + i), i, n);
}

/* Box element (r, c) of map at box (x, y): its address in global memory,
 * or NULL when it is out of the tensor's bounds. */
char *tma_element(const tma_desc &m, int x, int y, unsigned r, unsigned c)
{
    const int64_t gx = (int64_t)x + c, gy = (int64_t)y + r;
    if (gx < 0 || gy < 0 || gx >= (int64_t)m.dims[0] || gy >= (int64_t)m.dims[1])
        return nullptr;
    return m.base + (uint64_t)gy * m.row_bytes + (uint64_t)gx * m.esize;
}

void complete_out(const bulk_out &c)
{
    for (size_t i = 0; i < c.data.size(); i++)
        if (((const volatile char *)c.src)[i] != c.data[i])
            sb_sim_fail(&c.loc, "the shared source of a bulk store changed before cp.async.bulk.wait_group.read "
                        "let it be reused");
    if (c.dst) {
        move(c.dst, c.data.data(), c.data.size());
        return;
    }
    const tma_desc &m = c.map;
    const unsigned inner = m.box[0] * m.esize;
    for (unsigned r = 0; r < m.box[1]; r++)
        for (unsigned e = 0; e < m.box[0]; e++)
            if (char *g = tma_element(m, c.x, c.y, r, e))
                move(g, c.data.data() + sb_tma_smem_offset(m.swizzle, inner, r, e * m.esize), m.esize);
}

} // namespace

void sb_sim_async_block_begin(void)
{
    if (!B)
        B = new block_async;
    B->bars.clear();
    B->view.clear();
    B->have_view = false;   /* taken on first use: most kernels never need it */
    B->out_groups.clear();
    B->out_open.clear();
}

void sb_sim_async_block_end(void)
{
    for (auto &kv : B->bars)
        if (!kv.second.copies.empty())
            sb_sim_fail(&kv.second.copies.front().loc, "the block ended with %zu bulk copies to shared memory "
                        "never landed: no wait on mbarrier %p saw their phase complete (issued here)",
                        kv.second.copies.size(), (void *)kv.first);
    for (auto &kv : B->out_open)
        if (!kv.second.empty())
            sb_sim_fail(&kv.second.front().loc, "thread %d ended with bulk stores never committed", kv.first);
    for (auto &kv : B->out_groups)
        if (!kv.second.empty())
            sb_sim_fail(&kv.second.front().front().loc, "thread %d ended with bulk stores not waited for "
                        "(cp.async.bulk.wait_group)", kv.first);
}

void sb_sim_async_mbarrier_init(uint64_t *b, unsigned count, const sb_sim_loc &loc)
{
    need_sm90("mbarrier.init", loc);
    if ((uintptr_t)b % 8 || !sb_sim_is_shared(b, 8))
        sb_sim_fail(&loc, "mbarrier.init at %p: an mbarrier is 8 bytes of shared memory, 8-byte aligned", (void *)b);
    if (count == 0 || count >= (1u << 20))
        sb_sim_fail(&loc, "mbarrier.init with count %u (1 .. 2^20 - 1)", count);
    B->bars[(uintptr_t)b] = mbar{ count, count, 0, 0, {}, loc };
    sb_sim_progress();
}

uint64_t sb_sim_async_mbarrier_arrive(uint64_t *b, unsigned tx, const sb_sim_loc &loc)
{
    need_sm90("mbarrier.arrive", loc);
    mbar &m = bar_at(b, "mbarrier.arrive", loc);
    if (m.pending == 0)
        sb_sim_fail(&loc, "mbarrier.arrive on %p: all %u arrivals of phase %u are already in", (void *)b,
                    m.count, m.phase);
    m.tx += tx;
    m.pending--;
    sb_sim_progress();
    return m.phase;         /* the state token: the phase arrived on */
}

void sb_sim_async_mbarrier_wait(uint64_t *b, unsigned parity, const sb_sim_loc &loc)
{
    need_sm90("mbarrier.try_wait.parity", loc);
    if (parity > 1)
        sb_sim_fail(&loc, "mbarrier.try_wait.parity with parity %u (0 or 1)", parity);
    wait_arg w{ b, parity, loc };
    sb_sim_wait_until(wait_ready, wait_why, &w, loc);
}

void sb_sim_fence_proxy_async(const sb_sim_loc &loc)
{
    need_sm90("fence.proxy.async", loc);
    sb_sim_each_shared_region(take_view, nullptr);
    B->have_view = true;
}

/* A copy into shared memory issued on mbarrier m: its destination poisoned
 * (for the async proxy's view too) until it lands. */
static void issue_in(mbar &m, bulk_in &&c)
{
    const size_t bytes = c.data.size();
    fill(c.dst, bytes);
    POISON(c.dst, bytes);
    if (char *v = view_of(c.dst, bytes))
        fill(v, bytes);
    m.copies.push_back(std::move(c));
    sb_sim_progress();
}

/* What every cp.async.bulk takes: sm_90, 16-byte sizes and alignment, the
 * shared side in this block's shared memory, the global side in one
 * device allocation. */
static void check_bulk(const void *shared, const void *global, unsigned bytes, const sb_sim_loc &loc)
{
    need_sm90("cp.async.bulk", loc);
    if (bytes == 0 || bytes % 16 || (uintptr_t)shared % 16 || (uintptr_t)global % 16)
        sb_sim_fail(&loc, "cp.async.bulk of %u bytes between %p and %p: size and both addresses multiples of 16",
                    bytes, shared, global);
    if (!sb_sim_is_shared(shared, bytes))
        sb_sim_fail(&loc, "cp.async.bulk: %p (%u bytes) is not in the block's shared memory", shared, bytes);
    if (!sb_sim_is_global(global, bytes))
        sb_sim_fail(&loc, "cp.async.bulk: %p (%u bytes) is not inside a device allocation", global, bytes);
}

void sb_sim_bulk_g2s(void *dst, const void *src, unsigned bytes, uint64_t *b, const sb_sim_loc &loc)
{
    check_bulk(dst, src, bytes, loc);
    mbar &m = bar_at(b, "cp.async.bulk ... mbarrier::complete_tx", loc);
    bulk_in c{ (char *)dst, std::vector<char>(bytes), loc };
    move(c.data.data(), (const char *)src, bytes);
    issue_in(m, std::move(c));
}

void sb_sim_bulk_s2g(void *dst, const void *src, unsigned bytes, const sb_sim_loc &loc)
{
    check_bulk(src, dst, bytes, loc);
    check_fenced((const char *)src, bytes, loc);
    bulk_out c{ (char *)dst, (const char *)src, std::vector<char>(bytes), loc, {}, 0, 0 };
    move(c.data.data(), (const char *)src, bytes);
    B->out_open[thread_index()].push_back(std::move(c));
}

void sb_sim_bulk_commit(const sb_sim_loc &loc)
{
    need_sm90("cp.async.bulk.commit_group", loc);
    const int t = thread_index();
    B->out_groups[t].push_back(std::move(B->out_open[t]));
    B->out_open[t].clear();
}

void sb_sim_bulk_wait(int pending, const sb_sim_loc &loc)
{
    need_sm90("cp.async.bulk.wait_group", loc);
    auto &g = B->out_groups[thread_index()];
    while ((int)g.size() > pending) {
        for (const bulk_out &c : g.front())
            complete_out(c);
        g.pop_front();
    }
}

/* ---- tensor maps and tensor copies ------------------------------------------------------------ */

namespace {

unsigned tma_esize(CUtensorMapDataType t)
{
    switch (t) {
    case CU_TENSOR_MAP_DATA_TYPE_UINT8: return 1;
    case CU_TENSOR_MAP_DATA_TYPE_UINT16: case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
    case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16: return 2;
    case CU_TENSOR_MAP_DATA_TYPE_UINT32: case CU_TENSOR_MAP_DATA_TYPE_INT32:
    case CU_TENSOR_MAP_DATA_TYPE_FLOAT32: case CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ:
    case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32: case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ: return 4;
    case CU_TENSOR_MAP_DATA_TYPE_UINT64: case CU_TENSOR_MAP_DATA_TYPE_INT64:
    case CU_TENSOR_MAP_DATA_TYPE_FLOAT64: return 8;
    default: return 0;      /* the packed 4- and 6-bit types: not modelled */
    }
}

unsigned swizzle_span(int swizzle)
{
    return swizzle == CU_TENSOR_MAP_SWIZZLE_32B ? 32 : swizzle == CU_TENSOR_MAP_SWIZZLE_64B ? 64
         : swizzle == CU_TENSOR_MAP_SWIZZLE_128B ? 128 : 0;
}

CUresult refuse(const char *why)
{
    fprintf(stderr, "cuda-on-cpu: cuTensorMapEncodeTiled: %s\n", why);
    return CUDA_ERROR_INVALID_VALUE;
}

const tma_desc &desc_of(const CUtensorMap *map, const sb_sim_loc &loc)
{
    const tma_desc *d = (const tma_desc *)map;
    if (d->magic != TMA_MAGIC)
        sb_sim_fail(&loc, "a tensor copy with %p, which cuTensorMapEncodeTiled did not fill", (const void *)map);
    return *d;
}

/* The box's place in shared memory: 128-byte aligned, and to the swizzle
 * pattern's period (8 rows of its span), all of it inside shared memory. */
void check_box(const tma_desc &m, const void *smem, const sb_sim_loc &loc)
{
    const unsigned align = m.swizzle ? 8 * swizzle_span(m.swizzle) : 128;
    if ((uintptr_t)smem % align)
        sb_sim_fail(&loc, "a tensor copy's box at %p in shared memory: %u-byte aligned for its swizzle", smem, align);
    if (!sb_sim_is_shared(smem, (size_t)m.box[0] * m.box[1] * m.esize))
        sb_sim_fail(&loc, "a tensor copy's box at %p (%u bytes) is not in the block's shared memory", smem,
                    m.box[0] * m.box[1] * m.esize);
}

} // namespace

/* cuTensorMapEncodeTiled's checks (its documentation's), for what the
 * runner models: rank 2, element strides 1, no interleave, no L2
 * promotion requirement, swizzle none or 32/64/128 bytes with the box's
 * rows exactly that wide (narrower rows under a swizzle are left out). */
CUresult sb_sim_tensor_map_encode_tiled(CUtensorMap *map, CUtensorMapDataType dtype, cuuint32_t rank, void *base,
                                        const cuuint64_t *dims, const cuuint64_t *strides, const cuuint32_t *box,
                                        const cuuint32_t *estrides, CUtensorMapInterleave interleave,
                                        CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2,
                                        CUtensorMapFloatOOBfill oob)
{
    (void)l2;
    const unsigned es = tma_esize(dtype);
    if (rank != 2 || !es || interleave != CU_TENSOR_MAP_INTERLEAVE_NONE || estrides[0] != 1 || estrides[1] != 1 ||
        oob != CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE || swizzle > CU_TENSOR_MAP_SWIZZLE_128B)
        sb_sim_fail(nullptr, "cuTensorMapEncodeTiled: rank %u, type %d, interleave %d, element strides, swizzle %d "
                    "or out-of-bounds fill %d: not modelled by the CPU runner", rank, (int)dtype, (int)interleave,
                    (int)swizzle, (int)oob);
    if ((uintptr_t)base % 16)
        return refuse("globalAddress not 16-byte aligned");
    for (int i = 0; i < 2; i++)
        if (dims[i] == 0 || dims[i] > (1ull << 32))
            return refuse("a globalDim out of [1, 2^32]");
    if (strides[0] % 16 || strides[0] >= (1ull << 40) || strides[0] < dims[0] * es)
        return refuse("globalStrides[0] not a multiple of 16, under 2^40 and at least a row");
    for (int i = 0; i < 2; i++)
        if (box[i] == 0 || box[i] > 256)
            return refuse("a boxDim out of [1, 256]");
    if (box[0] * es % 16)
        return refuse("boxDim[0] x element size not a multiple of 16 bytes");
    if (swizzle && box[0] * es > swizzle_span(swizzle))
        return refuse("the box's inner dimension is wider than the swizzle");
    if (swizzle && box[0] * es != swizzle_span(swizzle))
        sb_sim_fail(nullptr, "cuTensorMapEncodeTiled: a box row of %u bytes under a %u-byte swizzle: not modelled "
                    "(rows exactly the swizzle's width are)", box[0] * es, swizzle_span(swizzle));
    if (!sb_sim_is_global(base, (size_t)(strides[0] * (dims[1] - 1) + dims[0] * es)))
        sb_sim_fail(nullptr, "cuTensorMapEncodeTiled: the tensor at %p (%llu rows of %llu bytes) is not inside one "
                    "device allocation", base, (unsigned long long)dims[1], (unsigned long long)strides[0]);
    memset(map, 0, sizeof *map);
    tma_desc *d = (tma_desc *)map;
    *d = tma_desc{ TMA_MAGIC, (char *)base, { dims[0], dims[1] }, strides[0], { box[0], box[1] }, es, (int)swizzle };
    return CUDA_SUCCESS;
}

void sb_sim_tma_load_2d(void *dst, const CUtensorMap *map, int x, int y, uint64_t *b, const sb_sim_loc &loc)
{
    need_sm90("cp.async.bulk.tensor", loc);
    const tma_desc &m = desc_of(map, loc);
    check_box(m, dst, loc);
    mbar &bar = bar_at(b, "cp.async.bulk.tensor ... mbarrier::complete_tx", loc);
    const unsigned inner = m.box[0] * m.esize, bytes = inner * m.box[1];
    bulk_in c{ (char *)dst, std::vector<char>(bytes, 0), loc };     /* out of bounds: zero */
    for (unsigned r = 0; r < m.box[1]; r++)
        for (unsigned e = 0; e < m.box[0]; e++)
            if (const char *g = tma_element(m, x, y, r, e))
                move(c.data.data() + sb_tma_smem_offset(m.swizzle, inner, r, e * m.esize), g, m.esize);
    issue_in(bar, std::move(c));
}

void sb_sim_tma_store_2d(const CUtensorMap *map, int x, int y, const void *src, const sb_sim_loc &loc)
{
    need_sm90("cp.async.bulk.tensor", loc);
    const tma_desc &m = desc_of(map, loc);
    check_box(m, src, loc);
    const unsigned bytes = m.box[0] * m.box[1] * m.esize;
    check_fenced((const char *)src, bytes, loc);
    bulk_out c{ nullptr, (const char *)src, std::vector<char>(bytes), loc, m, x, y };
    move(c.data.data(), (const char *)src, bytes);
    B->out_open[thread_index()].push_back(std::move(c));
}
