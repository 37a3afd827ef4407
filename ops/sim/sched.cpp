/*
 * sched.cpp — the CPU runner's scheduler (interface and model: sim.h): a
 * grid's blocks one after the other, a block's threads as fibers (one stack
 * each, switched by a few instructions of assembly: the ucontext calls make
 * two system calls per switch, which cost more than the kernels' work) on
 * the calling OS thread, the block barrier, warp collectives, shared
 * memory, and the failure report.
 *
 * Sanitizers. Fiber switches are announced to AddressSanitizer
 * (__sanitizer_start/finish_switch_fiber: it must know which stack is live)
 * and to ThreadSanitizer (__tsan_switch_to_fiber with no_sync: each fiber is
 * a TSan thread and a switch orders nothing). Happens-before between CUDA
 * threads comes only from what orders them on a GPU: a barrier or a
 * collective is a release by every participant on arrival and an acquire
 * on departure, on one of two addresses alternating by generation (a lane
 * that runs ahead into the next collective must not release into the one
 * its peers are still leaving). The block's start and end are ordered with
 * the host. Under TSan this file is built without instrumentation: its own
 * bookkeeping, touched by every fiber, is not the kernel's memory.
 */
#include "sim.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include <vector_functions.h>

#include "runtime.h"
#include "symbols.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define SIM_ASAN 1
#endif
#if defined(SB_SIM_TSAN)
#include <sanitizer/tsan_interface.h>
#define TSAN_RELEASE(a) __tsan_release(a)
#define TSAN_ACQUIRE(a) __tsan_acquire(a)
#else
#define TSAN_RELEASE(a) ((void)(a))
#define TSAN_ACQUIRE(a) ((void)(a))
#endif

/* Static shared memory: the __shared__ variables of every non-template
 * function live in this section (cuda_sim.h). Weak: a binary may have none. */
extern "C" char __start_sb_shared[] __attribute__((weak));
extern "C" char __stop_sb_shared[] __attribute__((weak));

const sb_sim_ids *sb_sim_cur;

namespace {

/* Fiber stacks: kernels keep their "registers" (arrays of a few hundred
 * floats at most) there; AddressSanitizer's redzones grow the frames. */
constexpr size_t STACK_BYTES = 256 << 10;
constexpr size_t GUARD_BYTES = 4096;
constexpr size_t ENTRY_BYTES = 16 << 10;   /* thread_entry's frame and what it calls last */

enum tstate { T_RUN, T_BAR, T_WARP, T_SPIN, T_DONE };

struct sim_thread {
    sb_sim_ids ids;
    void *sp;               /* its saved stack pointer while switched out */
    char *stack;            /* STACK_BYTES above a guard page */
    void *fake_stack;       /* ASan's fake stack of this fiber while switched out */
    void *tsan_fiber;
    tstate st;
    int gen;                /* the barrier or collective generation it waits on */
    sb_sim_loc loc;         /* where it waits */
    sb_sim_async *async;    /* cp.async groups in flight (ptx_sim.cpp) */
    void (*why)(void *, char *, size_t);  /* T_SPIN: what it waits for */
    void *why_arg;
};

/* A warp collective under way: the lanes of `mask` that have reached it. */
struct sim_coll {
    enum sb_sim_collective kind;
    unsigned mask;
    unsigned arrived;       /* 0: this entry is free */
    const void *op;
    sb_sim_warp_fn fn;
    sb_sim_loc loc;
    int id;                 /* instance number: picks the TSan sync address */
    sb_sim_slot *slots[32];
};

/* Lanes of a warp may wait in several collectives at once when their masks
 * differ (a half-warp shuffle in a branch the other half skips): each lane
 * is in at most one. */
constexpr int SYNC_RING = 64;   /* instances in flight per warp, far above what can be */
struct sim_warp {
    unsigned lanes;         /* lanes this warp has (a partial last warp has fewer) */
    sim_coll coll[32];
    int next_id;
    char sync[SYNC_RING];   /* TSan release/acquire addresses, by instance */
};

/* Everything about the launch in progress. */
struct sim_launch {
    const char *kernel;     /* unqualified name */
    dim3 grid, block;
    int nthreads;
    size_t smem;
    char *dyn;              /* dynamic shared memory of the block (16-byte aligned) */
    const std::vector<sb_sim_region> *statics;  /* the kernel's template __shared__ variables */
    std::vector<sim_thread> th;
    std::vector<sim_warp> wp;
    int cur;                /* thread running now, -1 in the scheduler */
    int done;               /* threads that have finished */
    int bar_arrived, bar_gen;
    sb_sim_loc bar_loc;
    char bar_sync[2];
    char block_start, block_end;    /* TSan: the host before/after the block */
    void (*body)(void *);
    void *closure;
};

sim_launch *L;              /* the launch running, NULL outside kernels */
long progress;              /* bumped by anything that may let a waiting thread on */
void *sched_sp;
[[maybe_unused]] void *sched_fake_stack;
[[maybe_unused]] const void *sched_stack_bottom;
[[maybe_unused]] size_t sched_stack_size;
[[maybe_unused]] void *sched_tsan_fiber;

/* Fibers are kept across blocks and launches (their stacks, their TSan
 * contexts): thread index i always runs on fiber i. */
struct fiber_pool {
    std::vector<char *> stacks;
    std::vector<void *> tsan;
} pool;

} // namespace

/* ---- failure reports ----------------------------------------------------------- */

void sb_sim_fail(const sb_sim_loc *where, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fflush(stdout);
    if (L && L->cur >= 0) {
        const sim_thread &t = L->th[(size_t)L->cur];
        fprintf(stderr, "cuda-on-cpu: %s block (%u,%u,%u) thread %d (warp %d, lane %d): %s", L->kernel,
                t.ids.block.x, t.ids.block.y, t.ids.block.z, L->cur, L->cur / 32, L->cur % 32, msg);
    } else if (L) {
        fprintf(stderr, "cuda-on-cpu: %s: %s", L->kernel, msg);
    } else {
        fprintf(stderr, "cuda-on-cpu: %s", msg);
    }
    if (where && where->file_name())
        fprintf(stderr, " at %s:%u", where->file_name(), (unsigned)where->line());
    fputc('\n', stderr);
    abort();
}

/* ---- fibers ---------------------------------------------------------------------- */

/* sb_ctx_switch(&save, to): saves the callee-saved registers and the x87
 * and SSE control words (the System V ABI's callee-saved state) on this
 * stack and its pointer in *save, then resumes the context saved at `to`.
 * A new context is a stack laid out as one switched out (ctx_new). */
#if !defined(__x86_64__)
#error "the CPU runner's fiber switch is written for x86-64"
#endif
extern "C" void sb_ctx_switch(void **save, void *to);
asm(".text\n"
    ".globl sb_ctx_switch\n"
    ".type sb_ctx_switch,@function\n"
    "sb_ctx_switch:\n"
    "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n    pushq %r13\n    pushq %r14\n    pushq %r15\n"
    "    subq $8, %rsp\n    stmxcsr (%rsp)\n    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    ldmxcsr (%rsp)\n    fldcw 4(%rsp)\n    addq $8, %rsp\n"
    "    popq %r15\n    popq %r14\n    popq %r13\n    popq %r12\n    popq %rbx\n    popq %rbp\n"
    "    ret\n"
    ".size sb_ctx_switch,.-sb_ctx_switch\n");

namespace {

/* A context that starts fn(void) on the stack [stack, stack + size): the
 * frame sb_ctx_switch pops (control words, six registers) below fn's
 * address, which its `ret` jumps to with the stack aligned as after a call. */
void *ctx_new(char *stack, size_t size, void (*fn)(void))
{
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = 0;                      /* fn's would-be return address: it never returns */
    *--sp = (uint64_t)fn;           /* popped by ret */
    for (int r = 0; r < 6; r++)
        *--sp = 0;                  /* rbp, rbx, r12-r15 */
    uint32_t ctl[2];
    __asm__ volatile("stmxcsr %0\n fnstcw %1" : "=m"(ctl[0]), "=m"(ctl[1]));
    *--sp = (uint64_t)ctl[0] | (uint64_t)(ctl[1] & 0xFFFF) << 32;
    return sp;
}

const char *coll_name(enum sb_sim_collective k)
{
    static const char *const names[SB_COLL_COUNT] = {
        "__shfl_sync", "__shfl_up_sync", "__shfl_down_sync", "__shfl_xor_sync", "__ballot_sync",
        "__any_sync", "__all_sync", "__syncwarp", "mma.sync", "ldmatrix",
    };
    return names[k];
}

void switch_to_thread(int i)
{
    sim_thread &t = L->th[(size_t)i];
    L->cur = i;
    sb_sim_cur = &t.ids;
#ifdef SIM_ASAN
    __sanitizer_start_switch_fiber(&sched_fake_stack, t.stack, STACK_BYTES);
#endif
#ifdef SB_SIM_TSAN
    __tsan_switch_to_fiber(t.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
    sb_ctx_switch(&sched_sp, t.sp);
#ifdef SIM_ASAN
    __sanitizer_finish_switch_fiber(sched_fake_stack, nullptr, nullptr);
#endif
    L->cur = -1;
    sb_sim_cur = nullptr;
}

/* From the running fiber back to the scheduler; `final`: this fiber is done
 * (ASan then drops its fake stack). */
void switch_to_scheduler(bool final)
{
    sim_thread &t = L->th[(size_t)L->cur];
#ifdef SIM_ASAN
    __sanitizer_start_switch_fiber(final ? nullptr : &t.fake_stack, sched_stack_bottom, sched_stack_size);
#else
    (void)final;
#endif
#ifdef SB_SIM_TSAN
    __tsan_switch_to_fiber(sched_tsan_fiber, __tsan_switch_to_fiber_no_sync);
#endif
    sb_ctx_switch(&t.sp, sched_sp);
#ifdef SIM_ASAN
    __sanitizer_finish_switch_fiber(t.fake_stack, &sched_stack_bottom, &sched_stack_size);
#endif
}

/* Every fiber starts here: the kernel, then the end of the thread. */
void thread_entry(void)
{
#ifdef SIM_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &sched_stack_bottom, &sched_stack_size);
#endif
    TSAN_ACQUIRE(&L->block_start);
    L->body(L->closure);
    sim_thread &t = L->th[(size_t)L->cur];
    sb_sim_async_at_exit(&t.async);
    t.st = T_DONE;
    L->done++;
    progress++;
    /* A thread that exits while others wait for it at a barrier or in a
     * collective that names it: on a GPU, a hang or undefined behaviour. */
    if (L->bar_arrived > 0)
        sb_sim_fail(&L->bar_loc, "exited while %d other threads wait at __syncthreads", L->bar_arrived);
    const sim_warp &w = L->wp[(size_t)L->cur / 32];
    const unsigned bit = 1u << (L->cur % 32);
    for (const sim_coll &c : w.coll)
        if (c.arrived && (c.mask & bit))
            sb_sim_fail(&c.loc, "exited while lanes 0x%08x wait for it in %s (mask 0x%08x)", c.arrived,
                        coll_name(c.kind), c.mask);
    TSAN_RELEASE(&L->block_end);
    switch_to_scheduler(true);
    abort();        /* never resumed */
}

char *stack_for(size_t i)
{
    while (pool.stacks.size() <= i) {
        void *p = mmap(nullptr, STACK_BYTES + GUARD_BYTES, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            sb_sim_fail(nullptr, "out of memory for fiber stacks");
        mprotect(p, GUARD_BYTES, PROT_NONE);    /* a stack overflow faults */
        pool.stacks.push_back((char *)p + GUARD_BYTES);
#ifdef SB_SIM_TSAN
        pool.tsan.push_back(__tsan_create_fiber(0));
#else
        pool.tsan.push_back(nullptr);
#endif
    }
    return pool.stacks[i];
}

/* Fills [p, end) with 0xFF bytes (NaN in fp32, bf16, fp16), leaving out
 * AddressSanitizer's redzones between the arrays. */
void poison_fill(char *p, char *end)
{
#ifdef SIM_ASAN
    while (p < end) {
        char *bad = (char *)__asan_region_is_poisoned(p, (size_t)(end - p));
        char *stop = bad ? bad : end;
        memset(p, 0xFF, (size_t)(stop - p));
        for (p = stop; p < end && __asan_address_is_poisoned(p); p++) {
        }
    }
#else
    memset(p, 0xFF, (size_t)(end - p));
#endif
}

void describe_waits(char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < L->th.size() && k + 80 < n; i++) {
        const sim_thread &t = L->th[i];
        if (t.st == T_BAR || t.st == T_WARP)
            k += (size_t)snprintf(buf + k, n - k, "%sthread %zu at %s %s:%u", k ? "; " : "", i,
                                  t.st == T_BAR ? "__syncthreads" : "a warp collective",
                                  t.loc.file_name(), (unsigned)t.loc.line());
        else if (t.st == T_SPIN) {
            char w[300];
            t.why(t.why_arg, w, sizeof w);
            k += (size_t)snprintf(buf + k, n - k, "%sthread %zu at %s:%u %s", k ? "; " : "", i,
                                  t.loc.file_name(), (unsigned)t.loc.line(), w);
        }
    }
}

void run_block(unsigned bx, unsigned by, unsigned bz)
{
    const int n = L->nthreads;
    poison_fill(__start_sb_shared, __stop_sb_shared);
    for (const sb_sim_region &r : *L->statics)
        poison_fill(r.p, r.p + r.n);
    if (L->dyn)
        poison_fill(L->dyn, L->dyn + L->smem);
    L->done = 0;
    L->bar_arrived = 0;
    for (auto &w : L->wp)
        for (sim_coll &c : w.coll)
            c.arrived = 0;
    for (int i = 0; i < n; i++) {
        sim_thread &t = L->th[(size_t)i];
        t.ids.thread = make_uint3((unsigned)i % L->block.x, (unsigned)i / L->block.x % L->block.y,
                                  (unsigned)i / (L->block.x * L->block.y));
        t.ids.block = make_uint3(bx, by, bz);
        t.ids.block_dim = L->block;
        t.ids.grid_dim = L->grid;
        t.st = T_RUN;
        t.async = nullptr;
        t.stack = stack_for((size_t)i);
        t.tsan_fiber = pool.tsan[(size_t)i];
#ifdef SIM_ASAN
        /* The kernel's frames unpoisoned themselves as they returned; what
         * may be left is the entry's, at the top. */
        __asan_unpoison_memory_region(t.stack + STACK_BYTES - ENTRY_BYTES, ENTRY_BYTES);
#endif
        t.sp = ctx_new(t.stack, STACK_BYTES, thread_entry);
    }
    sb_sim_async_block_begin();
    TSAN_RELEASE(&L->block_start);
    while (L->done < n) {
        bool ran = false;
        const long before = progress;
        for (int i = 0; i < n; i++) {
            const tstate st = L->th[(size_t)i].st;
            if (st == T_RUN || st == T_SPIN) {
                ran = ran || st == T_RUN;
                switch_to_thread(i);
            }
        }
        /* Deadlocked: nothing could run, or only waits that found nothing new. */
        if (!ran && progress == before && L->done < n) {
            char waits[1200];
            describe_waits(waits, sizeof waits);
            sb_sim_fail(nullptr, "block (%u,%u,%u) deadlocked: %s", bx, by, bz, waits);
        }
    }
    TSAN_ACQUIRE(&L->block_end);
    sb_sim_async_block_end();
}

} // namespace

/* ---- block barrier ------------------------------------------------------------------ */

void sb_sim_syncthreads(const sb_sim_loc &loc)
{
    if (!L || L->cur < 0)
        sb_sim_fail(&loc, "__syncthreads outside a kernel");
    sim_thread &t = L->th[(size_t)L->cur];
    if (L->done > 0)
        sb_sim_fail(&loc, "__syncthreads after %d threads of the block exited (the barrier counts "
                    "every thread: divergent code)", L->done);
    if (L->bar_arrived > 0 && (strcmp(L->bar_loc.file_name(), loc.file_name()) != 0 ||
                               L->bar_loc.line() != loc.line()))
        sb_sim_fail(&loc, "__syncthreads here while %d threads wait at the one at %s:%u "
                    "(divergent barriers)", L->bar_arrived, L->bar_loc.file_name(),
                    (unsigned)L->bar_loc.line());
    const int gen = L->bar_gen;
    progress++;
    TSAN_RELEASE(&L->bar_sync[gen & 1]);
    L->bar_loc = loc;
    if (++L->bar_arrived == L->nthreads) {
        L->bar_arrived = 0;
        L->bar_gen++;
        for (auto &o : L->th)
            if (o.st == T_BAR)
                o.st = T_RUN;
    } else {
        t.st = T_BAR;
        t.gen = gen;
        t.loc = loc;
        switch_to_scheduler(false);
    }
    TSAN_ACQUIRE(&L->bar_sync[gen & 1]);
}

void sb_sim_wait_until(bool (*ready)(void *), void (*why)(void *, char *, size_t), void *arg,
                       const sb_sim_loc &loc)
{
    if (!L || L->cur < 0)
        sb_sim_fail(&loc, "a wait outside a kernel");
    sim_thread &t = L->th[(size_t)L->cur];
    while (!ready(arg)) {
        t.st = T_SPIN;
        t.loc = loc;
        t.why = why, t.why_arg = arg;
        switch_to_scheduler(false);
    }
    t.st = T_RUN;
    progress++;
}

void sb_sim_progress(void)
{
    progress++;
}

void sb_sim_each_shared_region(void (*fn)(char *p, size_t n, void *arg), void *arg)
{
    if (!L)
        return;
    if (L->dyn)
        fn(L->dyn, L->smem, arg);
    if ((uintptr_t)__stop_sb_shared != (uintptr_t)__start_sb_shared)
        fn(__start_sb_shared, (size_t)(__stop_sb_shared - __start_sb_shared), arg);
    for (const sb_sim_region &r : *L->statics)
        fn(r.p, r.n, arg);
}

void sb_sim_yield(void)
{
    if (L && L->cur >= 0)
        switch_to_scheduler(false);     /* stays T_RUN: resumed on the next pass */
}

void *sb_sim_dynamic_smem(void)
{
    if (!L || L->cur < 0)
        sb_sim_fail(nullptr, "dynamic shared memory asked for outside a kernel");
    if (!L->dyn)
        sb_sim_fail(nullptr, "the kernel uses dynamic shared memory; the launch gave it 0 bytes");
    return L->dyn;
}

int sb_sim_is_shared(const void *p, size_t n)
{
    const char *c = (const char *)p;
    if (!L)
        return 0;
    if (L->dyn && c >= L->dyn && c + n <= L->dyn + L->smem)
        return 1;
    for (const sb_sim_region &r : *L->statics)
        if (c >= r.p && c + n <= r.p + r.n)
            return 1;
    return c >= __start_sb_shared && c + n <= __stop_sb_shared;
}

/* ---- warp collectives ---------------------------------------------------------------- */

namespace {

/* The lane a shuffle of `kind` reads for lane l, or l itself (its own value). */
int shfl_source(enum sb_sim_collective kind, int l, int arg, int width)
{
    const int base = l & ~(width - 1), top = base + width - 1;
    switch (kind) {
    case SB_COLL_SHFL_IDX: return base + (((arg % width) + width) % width);
    case SB_COLL_SHFL_UP: return l - base >= arg ? l - arg : l;
    case SB_COLL_SHFL_DOWN: return l + arg <= top ? l + arg : l;
    default: {
        const int j = l ^ arg;      /* PTX shfl.bfly: past the segment's end, the own value */
        return j > top ? l : j;
    }
    }
}

void complete_builtin(sim_coll &w, const sb_sim_loc &loc)
{
    const unsigned mask = w.mask;
    if (w.kind <= SB_COLL_SHFL_XOR) {
        const int width = w.slots[__builtin_ctz(mask)]->width;
        if (width < 1 || width > 32 || (width & (width - 1)))
            sb_sim_fail(&loc, "shuffle width %d: must be a power of 2 up to 32", width);
        for (int l = 0; l < 32; l++) {
            if (!(mask & (1u << l)))
                continue;
            sb_sim_slot *s = w.slots[l];
            if (s->width != width)
                sb_sim_fail(&loc, "lanes of one shuffle pass widths %d and %d", width, s->width);
            const int src = shfl_source(w.kind, l, s->arg, width);
            if (!(mask & (1u << src)))
                sb_sim_fail(&loc, "lane %d reads lane %d, which mask 0x%08x leaves out (undefined)", l,
                            src, mask);
            memcpy(s->out, w.slots[src]->in, sizeof s->out);
        }
        return;
    }
    unsigned ballot = 0;
    for (int l = 0; l < 32; l++)
        if ((mask & (1u << l)) && w.slots[l]->in[0])
            ballot |= 1u << l;
    for (int l = 0; l < 32; l++)
        if (mask & (1u << l))
            w.slots[l]->out[0] = w.kind == SB_COLL_BALLOT ? ballot
                               : w.kind == SB_COLL_ANY    ? ballot != 0
                               : w.kind == SB_COLL_ALL    ? ballot == mask
                                                          : 0;
}

} // namespace

void sb_sim_warp_collective(enum sb_sim_collective kind, unsigned mask, sb_sim_slot *slot,
                            const void *op, sb_sim_warp_fn compute, const sb_sim_loc &loc)
{
    if (!L || L->cur < 0)
        sb_sim_fail(&loc, "%s outside a kernel", coll_name(kind));
    const int lane = L->cur % 32;
    sim_thread &t = L->th[(size_t)L->cur];
    sim_warp &w = L->wp[(size_t)L->cur / 32];
    const unsigned bit = 1u << lane;
    if (!(mask & bit))
        sb_sim_fail(&loc, "%s with mask 0x%08x, which leaves out this lane", coll_name(kind), mask);
    if (mask & ~w.lanes)
        sb_sim_fail(&loc, "%s with mask 0x%08x names lanes this warp does not have (0x%08x)",
                    coll_name(kind), mask, w.lanes);
    for (int l = 0; l < 32; l++)
        if ((mask & (1u << l)) && L->th[(size_t)(L->cur - lane + l)].st == T_DONE)
            sb_sim_fail(&loc, "%s with mask 0x%08x names lane %d, which has exited", coll_name(kind),
                        mask, l);
    sim_coll *c = nullptr, *free_c = nullptr;
    for (sim_coll &o : w.coll) {
        if (!o.arrived) {
            free_c = free_c ? free_c : &o;
            continue;
        }
        if (o.mask != mask)
            continue;   /* another collective of other lanes: may proceed on its own */
        if (o.kind != kind || o.loc.line() != loc.line() || strcmp(o.loc.file_name(), loc.file_name()) != 0 ||
            o.op != op)
            sb_sim_fail(&loc, "%s (mask 0x%08x) here while lanes 0x%08x of the same mask wait at %s at %s:%u "
                        "(divergent collectives)", coll_name(kind), mask, o.arrived, coll_name(o.kind),
                        o.loc.file_name(), (unsigned)o.loc.line());
        c = &o;
    }
    if (!c) {
        c = free_c;
        c->kind = kind, c->mask = mask, c->loc = loc, c->op = op, c->fn = compute;
        c->id = w.next_id++;
        for (auto &x : c->slots)
            x = nullptr;
    }
    c->slots[lane] = slot;
    c->arrived |= bit;
    progress++;
    char *sync = &w.sync[c->id % SYNC_RING];
    TSAN_RELEASE(sync);
    if (c->arrived == mask) {
        TSAN_ACQUIRE(sync);
        if (c->fn)
            c->fn(c->op, c->slots, mask);
        else
            complete_builtin(*c, loc);
        TSAN_RELEASE(sync);
        c->arrived = 0;
        for (int l = 0; l < 32; l++)
            if ((mask & (1u << l)) && l != lane)
                L->th[(size_t)(L->cur - lane + l)].st = T_RUN;
        return;
    }
    t.st = T_WARP;
    t.loc = loc;
    switch_to_scheduler(false);
    TSAN_ACQUIRE(sync);
}

unsigned sb_sim_active_mask(void)
{
    if (!L || L->cur < 0)
        sb_sim_fail(nullptr, "__activemask outside a kernel");
    const int w0 = L->cur & ~31;
    unsigned m = 0;
    for (int l = 0; l < 32 && w0 + l < L->nthreads; l++)
        if (L->th[(size_t)(w0 + l)].st != T_DONE)
            m |= 1u << l;
    return m;
}

namespace {
long long macs_launch, macs_taken;      /* the running launch's; since sb_sim_take_macs */
}

void sb_sim_count_macs(long n)
{
    if (L)
        macs_launch += n;   /* one OS thread runs every fiber: no race */
    else
        macs_taken += n;
}

long long sb_sim_take_macs(void)
{
    const long long m = macs_taken;
    macs_taken = 0;
    return m;
}

sb_sim_async **sb_sim_thread_async(void)
{
    if (!L || L->cur < 0)
        sb_sim_fail(nullptr, "an asynchronous copy outside a kernel");
    return &L->th[(size_t)L->cur].async;
}

/* ---- the grid ------------------------------------------------------------------------------ */

namespace {

/* One queued launch: what its run needs, the arguments shared with any
 * graph that holds it. */
struct grid_launch {
    std::string kernel;         /* unqualified name */
    const std::vector<sb_sim_region> *statics;
    sb_sim_kernel_stats *st;
    dim3 grid, block;
    size_t smem;
    void (*body)(void *);
    std::shared_ptr<void> closure;
};

void run_launch(const grid_launch &g)
{
    sb_sim_kernel_stats &st = *g.st;
    st.launches++;
    sim_launch launch{};
    launch.kernel = g.kernel.c_str();
    launch.grid = g.grid, launch.block = g.block, launch.smem = g.smem;
    launch.nthreads = (int)(g.block.x * g.block.y * g.block.z);
    launch.th.resize((size_t)launch.nthreads);
    launch.wp.resize((size_t)(launch.nthreads + 31) / 32);
    for (size_t w = 0; w < launch.wp.size(); w++) {
        const int lanes = launch.nthreads - (int)w * 32 < 32 ? launch.nthreads - (int)w * 32 : 32;
        launch.wp[w].lanes = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
    }
    launch.cur = -1;
    launch.body = g.body, launch.closure = g.closure.get();
    launch.statics = g.statics;
    /* Dynamic shared memory: exactly smem bytes (AddressSanitizer bounds),
     * 16-byte aligned but on purpose not 32 (what CUDA promises is 16). */
    const size_t smem = g.smem;
    char *dyn_base = nullptr;
    if (smem) {
        dyn_base = (char *)aligned_alloc(128, (smem + 16 + 127) / 128 * 128);
        launch.dyn = dyn_base + 16;
#ifdef SIM_ASAN
        __asan_poison_memory_region(dyn_base, 16);
        __asan_poison_memory_region(launch.dyn + smem, (smem + 16 + 127) / 128 * 128 - 16 - smem);
#endif
    }
#ifdef SB_SIM_TSAN
    if (!sched_tsan_fiber)
        sched_tsan_fiber = __tsan_get_current_fiber();
#endif
    L = &launch;
    macs_launch = 0;
    sb_rt_device_memory_access(1);
    for (unsigned z = 0; z < g.grid.z; z++)
        for (unsigned y = 0; y < g.grid.y; y++)
            for (unsigned x = 0; x < g.grid.x; x++) {
                run_block(x, y, z);
                st.blocks++;
                st.threads += launch.nthreads;
            }
    sb_rt_device_memory_access(0);
    L = nullptr;
    st.macs += macs_launch;
    macs_taken += macs_launch;
#ifdef SIM_ASAN
    if (dyn_base)
        __asan_unpoison_memory_region(dyn_base, (smem + 16 + 127) / 128 * 128);
#endif
    free(dyn_base);
}

} // namespace

void sb_sim_run_grid(const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                     void (*body)(void *), void *closure, void (*destroy)(void *))
{
    std::shared_ptr<void> bound(closure, destroy);
    if (L)
        sb_sim_fail(nullptr, "a kernel launched from inside a kernel (dynamic parallelism is not modelled)");
    const char *mangled = sb_rt_symbol(kernel);
    char name[256];
    sb_sim_kernel_name(kernel, name, sizeof name);
    /* The checks of the runtime and the device: a failed one is the launch's error. */
    char why[300];
    const cudaError_t e = sb_rt_check_launch(kernel, mangled, grid, block, smem, stream, why, sizeof why);
    if (e != cudaSuccess) {
        sb_rt_set_error(e, why);
        return;
    }
    sb_sim_kernel_stats &st = sb_sim_stats_of(name, mangled, sb_rt_device_name());
    if (!sb_rt_execute()) {
        st.checked++;
        return;
    }
    const grid_launch g{ name, &sb_sim_kernel_statics(kernel, mangled), &st, grid, block, smem, body,
                         std::move(bound) };
    sb_rt_enqueue(stream, [g] { run_launch(g); });
}
