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

struct bulk_out {           /* shared -> global, in a bulk group */
    char *dst;
    const char *src;
    std::vector<char> data;
    sb_sim_loc loc;
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

void complete_out(const bulk_out &c)
{
    for (size_t i = 0; i < c.data.size(); i++)
        if (((const volatile char *)c.src)[i] != c.data[i])
            sb_sim_fail(&c.loc, "the shared source of a bulk store changed before cp.async.bulk.wait_group.read "
                        "let it be reused");
    move(c.dst, c.data.data(), c.data.size());
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
    fill(dst, bytes);
    POISON(dst, bytes);
    if (char *v = view_of((char *)dst, bytes))
        fill(v, bytes);
    m.copies.push_back(std::move(c));
    sb_sim_progress();
}

void sb_sim_bulk_s2g(void *dst, const void *src, unsigned bytes, const sb_sim_loc &loc)
{
    check_bulk(src, dst, bytes, loc);
    check_fenced((const char *)src, bytes, loc);
    bulk_out c{ (char *)dst, (const char *)src, std::vector<char>(bytes), loc };
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
