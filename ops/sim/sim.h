/*
 * sim.h — the CPU runner's interface: what the CUDA builtins of cuda_sim.h,
 * the instruction wrappers of ops/ptx.cuh, the launch of ops/launch.cuh and
 * the test driver (tests/cuda_on_cpu.cpp) call. Implemented in sched.cpp
 * (threads, barriers, warp collectives, the grid), runtime.cpp (the CUDA
 * runtime API over host memory, the device models), ptx_sim.cpp (tensor-core
 * and async instructions) and cublas.cpp.
 *
 * The model, in one paragraph (docs/cuda-on-cpu.md says what it proves):
 * a launch runs its blocks one after the other; a block's CUDA threads are
 * fibers (one stack each) switched cooperatively on one OS thread, so a
 * thread runs until it reaches a barrier, a warp collective (shuffle, vote,
 * __syncwarp, mma, ldmatrix) or its end. A collective completes when every
 * lane its mask names has reached the same one; a barrier when every thread
 * of the block has. Anything else — threads waiting at different
 * barriers, a lane missing from a mask, a thread that exited while others
 * wait for it, a cp.async still in flight at exit — stops the program with
 * the kernel, block and thread named. Under ThreadSanitizer each fiber is a
 * TSan thread and only barriers and collectives order their memory accesses,
 * so two threads touching the same address between two barriers (one of
 * them writing) is reported as a data race.
 */
#ifndef SEQBENCH_SIM_H
#define SEQBENCH_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <vector_types.h>
#include <driver_types.h>

#include <source_location>

/* The builtins of the thread that runs now (cuda_sim.h maps threadIdx & co.
 * onto them). */
struct sb_sim_ids {
    uint3 thread, block;
    dim3 block_dim, grid_dim;
};
extern const sb_sim_ids *sb_sim_cur;

using sb_sim_loc = std::source_location;

/* ---- errors ---------------------------------------------------------------- */

/* Prints "cuda-on-cpu: KERNEL block (x,y,z) thread t (warp w, lane l): MSG
 * [at FILE:LINE]" on stderr and aborts: a kernel did what the GPU does not
 * allow (or leaves undefined). Outside a kernel the location part is left
 * out. */
[[noreturn]] void sb_sim_fail(const sb_sim_loc *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- block-level ------------------------------------------------------------ */

void sb_sim_syncthreads(const sb_sim_loc &loc);
/* Lets the other threads run (a spinning thread's __nanosleep). */
void sb_sim_yield(void);
/* The launch's dynamic shared memory (16-byte aligned, NaN-filled). */
void *sb_sim_dynamic_smem(void);
/* 1 when [p, p + n) lies in this block's shared memory (static or dynamic). */
int sb_sim_is_shared(const void *p, size_t n);
/* 1 when [p, p + n) lies in one device allocation of the runtime. */
int sb_sim_is_global(const void *p, size_t n);

/* ---- warp-level ------------------------------------------------------------- */

enum sb_sim_collective {
    SB_COLL_SHFL_IDX, SB_COLL_SHFL_UP, SB_COLL_SHFL_DOWN, SB_COLL_SHFL_XOR,
    SB_COLL_BALLOT, SB_COLL_ANY, SB_COLL_ALL, SB_COLL_SYNCWARP,
    SB_COLL_MMA, SB_COLL_LDMATRIX, SB_COLL_COUNT
};

/* What each lane brings to a collective; the completing lane reads every
 * participant's slot and writes every participant's `out`. */
struct sb_sim_slot {
    uint64_t in[2];         /* a shuffle's value (up to 16 bytes), a vote's predicate */
    int arg;                /* source lane, delta or lane mask of a shuffle */
    int width;              /* a shuffle's segment */
    const void *ptrs[4];    /* an instruction's operands (mma: a, b, c, d registers) */
    uint64_t out[2];        /* a shuffle's or vote's result */
};

/* The compute step of an instruction collective, run once by the last lane
 * to arrive: slots[l] is lane l's for every lane l in mask (NULL for the
 * others). */
typedef void (*sb_sim_warp_fn)(const void *op, sb_sim_slot *const slots[32], unsigned mask);

/* This lane enters collective `kind` (op: a kind-specific descriptor, equal
 * in every lane; compute: run when the last lane of `mask` arrives) and
 * returns when it has completed, with *slot's `out` filled. Fails when mask
 * does not hold this lane, names an exited lane, or the lanes of the mask
 * meet at different collectives. */
void sb_sim_warp_collective(enum sb_sim_collective kind, unsigned mask, sb_sim_slot *slot,
                            const void *op, sb_sim_warp_fn compute, const sb_sim_loc &loc);
unsigned sb_sim_active_mask(void);

/* Adds n multiply-adds to the running launch's count (SB_COUNT_MACS), or,
 * outside a kernel, to the count of work the runner's libraries do
 * (cuBLAS's GEMMs). */
void sb_sim_count_macs(long n);
/* Multiply-adds counted since the last call (0 when nothing counts). */
long long sb_sim_take_macs(void);

/* ---- per-thread async state (cp.async groups), kept by the scheduler ------ */

struct sb_sim_async;                    /* ptx_sim.cpp */
sb_sim_async **sb_sim_thread_async(void);
/* Called for every thread when it ends; fails on copies still in flight. */
void sb_sim_async_at_exit(sb_sim_async **a);
/* Called before every block runs and after it ends (ptx_sim.cpp: the
 * block's mbarriers, bulk copies and the async proxy's view of shared
 * memory start afresh; what is left in flight at the end fails). */
void sb_sim_async_block_begin(void);
void sb_sim_async_block_end(void);

/* The running block's shared memory: calls fn for each region (the dynamic
 * arena, the static section, the kernel's template statics). */
void sb_sim_each_shared_region(void (*fn)(char *p, size_t n, void *arg), void *arg);

/* A thread that waits for something other threads (or the wait itself)
 * bring about — an mbarrier phase: calls ready(arg) until it returns true,
 * letting the other threads run in between; when a whole pass over the
 * block finds every live thread waiting and none has made progress, the
 * block is deadlocked and fails, each such thread described by why(). */
void sb_sim_wait_until(bool (*ready)(void *), void (*why)(void *, char *, size_t), void *arg,
                       const sb_sim_loc &loc);
/* Something happened that may let a waiting thread on (an arrival, a copy
 * issued): the deadlock check must not fire this pass. */
void sb_sim_progress(void);
/* The simulated device's compute capability, major * 10 + minor. */
int sb_sim_device_cc(void);

/* ---- the grid ---------------------------------------------------------------- */

/* Makes the checks a real launch makes (the limits of the simulated device
 * and of the kernel's build for it) and queues the grid on `stream`: when
 * the stream's turn comes (runtime.cpp), `body` (the kernel call with its
 * arguments bound in `closure`) runs for every thread of every block. A
 * check that fails sets the runtime's last error as the GPU would, and
 * nothing is queued. `kernel` is the __global__ function (its symbol names
 * it); `destroy` frees the closure once no queue or graph holds it. */
void sb_sim_run_grid(const void *kernel, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                     void (*body)(void *), void *closure, void (*destroy)(void *));

/* The unqualified name of the kernel at `fn` (no template arguments), from
 * its symbol; "?" when it has none. */
const char *sb_sim_kernel_name(const void *fn, char *buf, size_t n);

/* ---- the runtime: device models ---------------------------------------------- */

/* The GPUs the runtime models (runtime.cpp): "H100", "A100", "L40S", "A2",
 * "RTX5090"; NULL past the end. */
const char *sb_sim_device_name(int i);
/* Makes the simulated device that GPU (NULL: $SB_SIM_DEVICE, else H100):
 * its SM count, shared-memory opt-in, registers, and the build of the
 * kernels it loads. 0, or -1 when the name is not modelled. */
int sb_sim_set_device(const char *name);
/* "H100 (sm_90, sm_90a)": the device and the build it runs. */
const char *sb_sim_device(void);
/* 0 when no build of the binary runs on the device (every launch fails
 * with cudaErrorNoKernelImageForDevice). */
int sb_sim_device_runs(void);
/* 0: launches are checked but their blocks are not run (the host code and
 * the launch plans on another GPU); 1 (the default): run. */
void sb_sim_set_execute(int on);

/* Per kernel, what ran: launches and blocks executed, and the launches that
 * were only checked. Calls fn for every kernel launched, in name order. */
struct sb_sim_kernel_stats {
    const char *name;       /* unqualified */
    long launches, blocks, threads;     /* executed */
    long checked;           /* launches checked without running (other GPUs) */
    long long macs;         /* multiply-adds its SB_COUNT_MACS statements counted */
    char devices[64];       /* the GPUs it was launched on, space-separated */
    char variants[256];     /* template instantiations seen, e.g. "<float, 64> <__nv_bfloat16, 128>" */
};
void sb_sim_each_kernel(void (*fn)(const sb_sim_kernel_stats *, void *), void *arg);

/* ---- launching from C++ (ops/launch.cuh, tests) ------------------------------ */

#include <tuple>
#include <type_traits>
#include <utility>

/* kernel<<<grid, block, smem, stream>>>(args...): the arguments are
 * converted to the kernel's parameter types and copied once at the launch,
 * as the runtime does, and every thread calls the kernel on those copies
 * when the stream runs it. */
template <typename... P, typename... A>
static inline void sb_sim_launch(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem,
                                 cudaStream_t stream, A &&...args)
{
    struct bound {
        void (*k)(P...);
        std::tuple<std::decay_t<P>...> params;
    };
    bound *b = new bound{ kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...) };
    sb_sim_run_grid((const void *)kernel, grid, block, smem, stream,
                    [](void *c) {
                        bound *x = static_cast<bound *>(c);
                        std::apply(x->k, x->params);
                    },
                    b, [](void *c) { delete static_cast<bound *>(c); });
}

#endif /* SEQBENCH_SIM_H */
