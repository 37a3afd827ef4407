/*
 * runtime.cpp — the CUDA runtime API as the CPU runner provides it: the
 * functions the harness (harness/gpu.c) and the implementations' host code
 * (ops/ *.cu) call, with the real headers' signatures, so both run
 * unchanged against a simulated device instead of libcudart.
 *
 *   device      one, modelled on a real GPU (table below: SM count,
 *               shared-memory opt-in, registers, L2, clocks);
 *               sb_sim_set_device() switches it, as plugging in another
 *               GPU would (function attributes start afresh)
 *   kernels     the attributes ptxas gave each kernel in the build that
 *               device loads (registers, static shared memory), from the
 *               ptxas reports of the build (build/sim/kernel_attrs.inc,
 *               made by the Makefile): a device no build runs on cannot
 *               launch anything, as on a GPU
 *   memory      cudaMalloc (and a pool's cudaMallocFromPoolAsync, with the
 *               driver's accounting: below) maps fresh pages per allocation, 256-byte
 *               aligned, its end against an unmapped guard page, and keeps
 *               them inaccessible except while a kernel or a copy of the
 *               runtime runs: host code that dereferences a device pointer
 *               faults. Under AddressSanitizer the slack around the
 *               requested bytes is poisoned, so a kernel's access one byte
 *               past an allocation is reported where it happens
 *   streams     work queued on a stream (launches, async copies and
 *               memsets, event records, cuBLAS calls) runs in order when
 *               the host waits for it: cudaStreamSynchronize,
 *               cudaEventSynchronize, cudaDeviceSynchronize, cudaFree, a
 *               synchronous copy or memset (the legacy stream and the
 *               blocking streams), a copy into pageable host memory. That
 *               is one schedule a GPU may take (as late as the API
 *               allows), so a kernel whose input the host writes after the
 *               launch but before the wait, such as the harness's blocking
 *               kernel's release word, sees it, and code that reads results
 *               without waiting reads what was there before. Events record
 *               the host clock when their turn comes: the time of the work
 *               queued between two of them as the CPU ran it
 *   host memory cudaHostAlloc: pinned, mapped (unified addressing: its
 *               device pointer is its host pointer), always accessible;
 *               copies to and from it are asynchronous
 *   graphs      stream capture records the queued work instead of running
 *               it; a launched graph queues it again. While a capture that
 *               is not cudaStreamCaptureModeRelaxed is under way, the
 *               calls CUDA deems unsafe then (allocation, freeing,
 *               synchronisation, synchronous copies) fail with
 *               cudaErrorStreamCaptureUnsupported and invalidate it
 *   errors      the last error as the runtime keeps it: a launch that breaks
 *               a limit sets it (cudaGetLastError reads and clears it)
 *
 * Anything a real runtime would reject with an error is rejected here with
 * the same error; a copy or memset outside any allocation stops the
 * program (sb_sim_fail): on a GPU it is an illegal address or worse.
 */
#include <cuda_runtime_api.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "async.h"
#include "runtime.h"
#include "sim.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SIM_ASAN 1
#endif

namespace {

/* ---- the device models ------------------------------------------------------------- */

/* Limits per compute capability (CUDA C++ Programming Guide, "Technical
 * Specifications per Compute Capability"), each on a real part: what a plan
 * made for that GPU must fit. The A2 is there for its 10 SMs (a grid that
 * fills it takes few blocks, so the CPU can run the plans made for a full
 * GPU) and because it runs the sm_80 build, as every 8.x part does when its
 * own architecture is not built. */
struct device_model {
    const char *name;           /* what sb_sim_set_device takes */
    int major, minor;
    int sms;
    int smem_optin;             /* cudaDevAttrMaxSharedMemoryPerBlockOptin */
    int smem_per_sm;
    int threads_per_sm;
    int blocks_per_sm;
    int l2_bytes;
    int clock_khz, mem_clock_khz, bus_bits;
    size_t mem_bytes;
};

const device_model models[] = {
    { "H100", 9, 0, 132, 232448, 233472, 2048, 32, 50 << 20, 1980000, 2619000, 5120, (size_t)80 << 30 },
    { "A100", 8, 0, 108, 166912, 167936, 2048, 32, 40 << 20, 1410000, 1593000, 5120, (size_t)80 << 30 },
    { "L40S", 8, 9, 142, 101376, 102400, 1536, 24, 96 << 20, 2520000, 9001000, 384, (size_t)48 << 30 },
    { "A2", 8, 6, 10, 101376, 102400, 1536, 16, 2 << 20, 1770000, 6251000, 128, (size_t)16 << 30 },
    { "RTX5090", 12, 0, 170, 101376, 102400, 1536, 32, 96 << 20, 2407000, 14001000, 512, (size_t)32 << 30 },
};
constexpr int REGS_PER_BLOCK = 65536;
constexpr int MAX_THREADS_PER_BLOCK = 1024;
constexpr int DEFAULT_DYN_SMEM = 48 << 10;     /* without cudaFuncAttributeMaxDynamicSharedMemorySize */

/* ---- the kernels' builds: ptxas's report per (kernel, architecture) ---------------- */

struct kernel_attr {
    const char *mangled, *arch;
    int regs;
    int smem;                   /* static shared memory bytes */
};
const kernel_attr kernel_attrs[] = {
#include "kernel_attrs.inc"
    { nullptr, nullptr, 0, 0 },
};

const device_model *dev;        /* the simulated device */
char image[16];                 /* the build it runs: "sm_90a", "sm_80"; "" none */
int jit;                        /* 1: no SASS for it, the compute_90 PTX is JIT-compiled */
int execute = 1;
cudaError_t last_error = cudaSuccess;

/* Opt-ins made with cudaFuncSetAttribute on this device. */
std::map<const void *, int> dyn_smem_attr;

int built(const char *arch)
{
    for (const kernel_attr *a = kernel_attrs; a->mangled; a++)
        if (strcmp(a->arch, arch) == 0)
            return 1;
    return 0;
}

/* The cubin a device of compute capability major.minor loads, as the CUDA
 * driver picks it: sm_XYa only on X.Y itself, else the newest sm_XZ of the
 * same major with Z <= Y; failing both, the compute_90 PTX every build
 * embeds (Makefile GENCODE), JIT-compiled on 9.0 and newer. Its registers
 * are then the driver's choice: the sm_90a (or sm_90) report stands in. */
void select_image(void)
{
    char a[16];
    image[0] = 0, jit = 0;
    snprintf(a, sizeof a, "sm_%d%da", dev->major, dev->minor);
    if (built(a)) {
        snprintf(image, sizeof image, "%s", a);
        return;
    }
    for (int m = dev->minor; m >= 0; m--) {
        snprintf(a, sizeof a, "sm_%d%d", dev->major, m);
        if (built(a)) {
            snprintf(image, sizeof image, "%s", a);
            return;
        }
    }
    if (dev->major >= 9)
        for (const char *proxy : { "sm_90a", "sm_90" })
            if (built(proxy)) {
                snprintf(image, sizeof image, "%s", proxy);
                jit = 1;
                return;
            }
}

const kernel_attr *attr_for(const char *mangled)
{
    if (!mangled || !image[0])
        return nullptr;
    for (const kernel_attr *a = kernel_attrs; a->mangled; a++)
        if (strcmp(a->arch, image) == 0 && strcmp(a->mangled, mangled) == 0)
            return a;
    return nullptr;
}

/* Threads per block the kernel's registers allow: registers go to warps in
 * units of 256 (a thread's count rounded up to 8), and a block's warps
 * share REGS_PER_BLOCK. */
int max_threads_for(int regs)
{
    const int per_warp = ((regs + 7) / 8 * 8 * 32 + 255) / 256 * 256;
    const int warps = per_warp ? REGS_PER_BLOCK / per_warp : 32;
    return warps * 32 < MAX_THREADS_PER_BLOCK ? warps * 32 : MAX_THREADS_PER_BLOCK;
}

/* ---- device memory ------------------------------------------------------------------ */

struct allocation {
    char *map;                  /* the mapping: guard page, data pages, guard page */
    size_t map_len;
    char *data;                 /* the data pages */
    size_t data_len;
    char *ptr;                  /* what cudaMalloc returned */
    size_t size;
};
std::map<uintptr_t, allocation> allocs;     /* by ptr */
size_t allocated;
int open_depth;                 /* > 0: device memory accessible */
const size_t page = (size_t)sysconf(_SC_PAGESIZE);

const allocation *alloc_of(const void *p, size_t n)
{
    auto it = allocs.upper_bound((uintptr_t)p);
    if (it == allocs.begin())
        return nullptr;
    --it;
    const allocation &a = it->second;
    const char *c = (const char *)p;
    return c >= a.ptr && c + n <= a.ptr + a.size && c + n >= c ? &a : nullptr;
}

void protect(const allocation &a, int open)
{
    mprotect(a.data, a.data_len, open ? PROT_READ | PROT_WRITE : PROT_NONE);
}

double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

cudaError_t ret(cudaError_t e)
{
    if (e != cudaSuccess)
        last_error = e;
    return e;
}

void ensure_device(void)
{
    if (!dev)
        sb_sim_set_device(nullptr);
}

} // namespace

/* Streams, events and graphs are opaque to the API: complete the types the
 * headers leave open. */
struct CUgraph_st {
    std::vector<std::function<void()>> ops;     /* the captured work, in order */
};
struct CUgraphExec_st {
    std::vector<std::function<void()>> ops;
};
struct CUstream_st {
    unsigned flags;
    std::deque<std::function<void()>> work;     /* queued, not yet run */
    CUgraph_st *capture;                        /* the graph being captured, or NULL */
    enum cudaStreamCaptureMode capture_mode;
    bool capture_invalid;                       /* an unsafe call was made during it */
};
struct CUevent_st {
    double t;
    int state;                  /* 0: never recorded, 1: recorded, not yet reached, 2: reached */
    CUstream_st *stream;        /* where it was last recorded */
    unsigned long seq;          /* records made: only the last one's turn counts */
};

namespace {

std::set<cudaStream_t> streams;
CUstream_st legacy{ 0, {}, nullptr, cudaStreamCaptureModeGlobal, false };

int stream_ok(cudaStream_t s)
{
    return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread || streams.count(s);
}

/* The queue of s (the legacy stream for NULL and its aliases). */
CUstream_st *queue_of(cudaStream_t s)
{
    return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread ? &legacy : s;
}

void drain(CUstream_st *q)
{
    while (!q->work.empty()) {
        std::function<void()> op = std::move(q->work.front());
        q->work.pop_front();
        op();
    }
}

/* What the legacy stream waits for: itself and every blocking stream. */
void drain_legacy(void)
{
    for (cudaStream_t s : streams)
        if (!(s->flags & cudaStreamNonBlocking))
            drain(s);
    drain(&legacy);
}

void drain_all(void)
{
    for (cudaStream_t s : streams)
        drain(s);
    drain(&legacy);
}

/* A call CUDA deems unsafe during a capture (cudaMalloc, cudaFree, the
 * synchronising calls): while a capture in global or thread-local mode is
 * under way (one thread here makes every call) it is refused, and the
 * capture is invalidated: its cudaStreamEndCapture fails. */
cudaError_t capture_forbids(void)
{
    bool any = false;
    for (cudaStream_t s : streams)
        if (s->capture && s->capture_mode != cudaStreamCaptureModeRelaxed)
            s->capture_invalid = any = true;
    return any ? ret(cudaErrorStreamCaptureUnsupported) : cudaSuccess;
}

/* Pinned host memory (cudaHostAlloc): size by address. */
std::map<uintptr_t, size_t> host_allocs;

bool pinned(const void *p, size_t n)
{
    auto it = host_allocs.upper_bound((uintptr_t)p);
    if (it == host_allocs.begin())
        return false;
    --it;
    return (uintptr_t)p >= it->first && (uintptr_t)p + n <= it->first + it->second;
}

} // namespace

/* ---- the runner's side --------------------------------------------------------------- */

const char *sb_sim_device_name(int i)
{
    return i >= 0 && i < (int)(sizeof models / sizeof models[0]) ? models[i].name : nullptr;
}

int sb_sim_set_device(const char *name)
{
    if (!name)
        name = getenv("SB_SIM_DEVICE") ? getenv("SB_SIM_DEVICE") : "H100";
    for (const device_model &m : models)
        if (strcmp(m.name, name) == 0) {
            dev = &m;
            dyn_smem_attr.clear();
            select_image();
            return 0;
        }
    return -1;
}

const char *sb_sim_device(void)
{
    static char buf[96];
    ensure_device();
    snprintf(buf, sizeof buf, "%s (sm_%d%d, %s)", dev->name, dev->major, dev->minor,
             !image[0] ? "no build runs on it" : jit ? "compute_90 PTX, JIT" : image);
    return buf;
}

const char *sb_rt_device_name(void)
{
    ensure_device();
    return dev->name;
}

int sb_sim_device_cc(void)
{
    ensure_device();
    return dev->major * 10 + dev->minor;
}

int sb_sim_device_runs(void)
{
    ensure_device();
    return image[0] != 0;
}

void sb_sim_set_execute(int on)
{
    execute = on;
}

int sb_rt_execute(void)
{
    return execute;
}

void sb_rt_set_error(cudaError_t e, const char *why)
{
    static std::set<std::string> said;
    last_error = e;
    if (why && said.insert(why).second)
        fprintf(stderr, "cuda-on-cpu: %s: %s\n", cudaGetErrorName(e), why);
}

const char *sb_rt_symbol(const void *fn)
{
    Dl_info info;
    return dladdr(fn, &info) && info.dli_sname ? info.dli_sname : nullptr;
}

int sb_sim_is_global(const void *p, size_t n)
{
    return alloc_of(p, n) != nullptr;
}

void sb_rt_device_memory_access(int open)
{
    if (open ? open_depth++ == 0 : --open_depth == 0)
        for (auto &kv : allocs)
            protect(kv.second, open);
}

void sb_rt_enqueue(cudaStream_t s, std::function<void()> op)
{
    CUstream_st *q = queue_of(s);
    if (q->capture)
        q->capture->ops.push_back(std::move(op));
    else
        q->work.push_back(std::move(op));
}

cudaError_t sb_rt_check_launch(const void *kernel, const char *mangled, dim3 grid, dim3 block,
                               size_t smem, cudaStream_t stream, char *why, size_t n)
{
    ensure_device();
    char name[256];
    sb_sim_kernel_name(kernel, name, sizeof name);
    const unsigned long threads = (unsigned long)block.x * block.y * block.z;
    if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 ||
        block.z > 64 || threads > MAX_THREADS_PER_BLOCK) {
        snprintf(why, n, "%s: block (%u,%u,%u): at most (1024,1024,64) and 1024 threads", name,
                 block.x, block.y, block.z);
        return cudaErrorInvalidConfiguration;
    }
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
        grid.z > 65535) {
        snprintf(why, n, "%s: grid (%u,%u,%u): each of x in [1, 2^31-1], y, z in [1, 65535]", name,
                 grid.x, grid.y, grid.z);
        return cudaErrorInvalidConfiguration;
    }
    if (!stream_ok(stream)) {
        snprintf(why, n, "%s: launched on a stream this runtime never created", name);
        return cudaErrorInvalidResourceHandle;
    }
    const kernel_attr *a = attr_for(mangled);
    if (!a) {
        snprintf(why, n, "%s: no build of it runs on %s (sm_%d%d)", name, dev->name, dev->major, dev->minor);
        return cudaErrorNoKernelImageForDevice;
    }
    if ((int)threads > max_threads_for(a->regs)) {
        snprintf(why, n, "%s: %lu threads of %d registers each (%s build): over %d registers per block",
                 name, threads, a->regs, image, REGS_PER_BLOCK);
        return cudaErrorLaunchOutOfResources;
    }
    const auto it = dyn_smem_attr.find(kernel);
    const int allowed = it != dyn_smem_attr.end() ? it->second : DEFAULT_DYN_SMEM - a->smem;
    if (smem > (size_t)allowed) {
        snprintf(why, n, "%s: %zu bytes of dynamic shared memory, the kernel is opted in to %d on %s",
                 name, smem, allowed, dev->name);
        return cudaErrorInvalidValue;
    }
    if (smem + (size_t)a->smem > (size_t)dev->smem_optin) {
        snprintf(why, n, "%s: %zu + %d (static) bytes of shared memory, %s allows %d", name, smem,
                 a->smem, dev->name, dev->smem_optin);
        return cudaErrorInvalidValue;
    }
    return cudaSuccess;
}

/* ---- the CUDA runtime API ---------------------------------------------------------------- */

extern "C" {

cudaError_t cudaGetDeviceCount(int *count)
{
    ensure_device();
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    ensure_device();
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    ensure_device();
    return ret(device == 0 ? cudaSuccess : cudaErrorInvalidDevice);
}

cudaError_t cudaDriverGetVersion(int *v)
{
    *v = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v)
{
    *v = CUDART_VERSION;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    ensure_device();
    if (device != 0)
        return ret(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMultiProcessorCount: *value = dev->sms; break;
    case cudaDevAttrComputeCapabilityMajor: *value = dev->major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = dev->minor; break;
    case cudaDevAttrL2CacheSize: *value = dev->l2_bytes; break;
    case cudaDevAttrClockRate: *value = dev->clock_khz; break;
    case cudaDevAttrMemoryClockRate: *value = dev->mem_clock_khz; break;
    case cudaDevAttrGlobalMemoryBusWidth: *value = dev->bus_bits; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = dev->smem_optin; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = DEFAULT_DYN_SMEM; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = dev->smem_per_sm; break;
    case cudaDevAttrMaxRegistersPerBlock: *value = REGS_PER_BLOCK; break;
    case cudaDevAttrMaxRegistersPerMultiprocessor: *value = REGS_PER_BLOCK; break;
    case cudaDevAttrMaxThreadsPerBlock: *value = MAX_THREADS_PER_BLOCK; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = dev->threads_per_sm; break;
    case cudaDevAttrMaxBlocksPerMultiprocessor: *value = dev->blocks_per_sm; break;
    case cudaDevAttrWarpSize: *value = 32; break;
    case cudaDevAttrMaxGridDimX: *value = 2147483647; break;
    case cudaDevAttrMaxGridDimY: case cudaDevAttrMaxGridDimZ: *value = 65535; break;
    case cudaDevAttrMaxBlockDimX: case cudaDevAttrMaxBlockDimY: *value = 1024; break;
    case cudaDevAttrMaxBlockDimZ: *value = 64; break;
    default:
        /* Not modelled: code that asks must be taught here first. */
        return ret(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int device)
{
    ensure_device();
    if (device != 0)
        return ret(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", dev->name);
    memcpy(p->uuid.bytes, "seqbench-cpu-sim", 16);
    p->totalGlobalMem = dev->mem_bytes;
    p->sharedMemPerBlock = DEFAULT_DYN_SMEM;
    p->sharedMemPerBlockOptin = (size_t)dev->smem_optin;
    p->sharedMemPerMultiprocessor = (size_t)dev->smem_per_sm;
    p->regsPerBlock = REGS_PER_BLOCK;
    p->regsPerMultiprocessor = REGS_PER_BLOCK;
    p->warpSize = 32;
    p->maxThreadsPerBlock = MAX_THREADS_PER_BLOCK;
    p->maxThreadsPerMultiProcessor = dev->threads_per_sm;
    p->maxBlocksPerMultiProcessor = dev->blocks_per_sm;
    p->maxThreadsDim[0] = p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 2147483647, p->maxGridSize[1] = p->maxGridSize[2] = 65535;
    p->major = dev->major, p->minor = dev->minor;
    p->multiProcessorCount = dev->sms;
    p->l2CacheSize = dev->l2_bytes;
    p->memoryBusWidth = dev->bus_bits;
    return cudaSuccess;
}

cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *fa, const void *fn)
{
    ensure_device();
    const kernel_attr *a = attr_for(sb_rt_symbol(fn));
    if (!a)
        return ret(cudaErrorNoKernelImageForDevice);
    memset(fa, 0, sizeof *fa);
    fa->numRegs = a->regs;
    fa->sharedSizeBytes = (size_t)a->smem;
    fa->maxThreadsPerBlock = max_threads_for(a->regs);
    const auto it = dyn_smem_attr.find(fn);
    fa->maxDynamicSharedSizeBytes = it != dyn_smem_attr.end() ? it->second : DEFAULT_DYN_SMEM - a->smem;
    fa->ptxVersion = fa->binaryVersion = dev->major * 10 + dev->minor;
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *fn, enum cudaFuncAttribute attr, int value)
{
    struct cudaFuncAttributes fa;
    cudaError_t e = cudaFuncGetAttributes(&fa, fn);
    if (e != cudaSuccess)
        return e;
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
        return ret(cudaErrorInvalidValue);      /* not modelled */
    if (value < 0 || (size_t)value + fa.sharedSizeBytes > (size_t)dev->smem_optin)
        return ret(cudaErrorInvalidValue);
    dyn_smem_attr[fn] = value;
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void)
{
    const cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError(void)
{
    return last_error;
}

/* Maps one allocation of size bytes (see the header: memory). */
static cudaError_t alloc_now(void **p, size_t size)
{
    if (allocated + size > dev->mem_bytes)
        return ret(cudaErrorMemoryAllocation);
    const size_t span = (size + 255) / 256 * 256;
    const size_t data_len = (span + page - 1) / page * page;
    const size_t map_len = data_len + 2 * page;
    char *m = (char *)mmap(nullptr, map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return ret(cudaErrorMemoryAllocation);
    allocation a{ m, map_len, m + page, data_len, m + page + data_len - span, size };
    protect(a, open_depth > 0);
#ifdef SIM_ASAN
    /* Exact bounds: the slack before and after the requested bytes. */
    __asan_poison_memory_region(a.data, (size_t)(a.ptr - a.data));
    __asan_poison_memory_region(a.ptr + size, span - size);
#endif
    allocs[(uintptr_t)a.ptr] = a;
    allocated += size;
    *p = a.ptr;
    return cudaSuccess;
}

/* Unmaps the allocation at p, which must be one; false if it is not. */
static bool free_now(void *p)
{
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end())
        return false;
#ifdef SIM_ASAN
    __asan_unpoison_memory_region(it->second.data, it->second.data_len);
#endif
    munmap(it->second.map, it->second.map_len);
    allocated -= it->second.size;
    allocs.erase(it);
    return true;
}

cudaError_t cudaMalloc(void **p, size_t size)
{
    ensure_device();
    *p = nullptr;
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    return alloc_now(p, size);
}

cudaError_t cudaFree(void *p)
{
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    drain_all();            /* cudaFree waits for the device: no queued work may still use p */
    if (!p)
        return cudaSuccess;
    return free_now(p) ? cudaSuccess : ret(cudaErrorInvalidValue);
}

/* ---- stream-ordered memory pools ---------------------------------------------------- */

/* A pool (cudaMemPoolCreate) hands out ordinary allocations of the runner
 * (guard pages, closed to the host), so its memory is as strict as
 * cudaMalloc's. Its accounting is the driver's: bytes in use, bytes
 * reserved (in use, or freed and kept for reuse below the release
 * threshold), and the high-water mark of each. Reserved bytes are not free
 * to the rest of the device (cudaMemGetInfo) until cudaMemPoolTrimTo
 * releases them. Not modelled: the driver's reservation granularity (2 MiB
 * chunks), so reserved bytes here are the sum of the allocations' sizes. */
struct CUmemPoolHandle_st {
    int device;
    uint64_t used, used_high, reserved, reserved_high;
    uint64_t threshold;         /* cudaMemPoolAttrReleaseThreshold */
};
namespace {
std::set<cudaMemPool_t> pools;
std::map<void *, std::pair<cudaMemPool_t, size_t>> pool_allocs;    /* live, by pointer */

/* Freed bytes the pool keeps beyond its threshold go back to the device. */
void pool_release(cudaMemPool_t pool, uint64_t keep)
{
    const uint64_t floor = pool->used > keep ? pool->used : keep;
    if (pool->reserved > floor) {
        allocated -= pool->reserved - floor;
        pool->reserved = floor;
    }
}

/* p's allocation returns to its pool (or, not a pool's, is freed). */
void pool_free_now(void *p)
{
    auto it = pool_allocs.find(p);
    if (it == pool_allocs.end()) {
        if (!free_now(p))
            sb_sim_fail(nullptr, "cudaFreeAsync(%p): not an allocation of this device", p);
        return;
    }
    cudaMemPool_t pool = it->second.first;
    const size_t size = it->second.second;
    pool_allocs.erase(it);
    free_now(p);
    allocated += size;                      /* still reserved by the pool */
    pool->used -= size;
    pool_release(pool, pool->threshold);
}
} /* namespace */

cudaError_t cudaMemPoolCreate(cudaMemPool_t *pool, const struct cudaMemPoolProps *props)
{
    ensure_device();
    int n = 0;
    cudaGetDeviceCount(&n);
    if (!pool || !props || props->allocType != cudaMemAllocationTypePinned ||
        props->location.type != cudaMemLocationTypeDevice || props->location.id < 0 || props->location.id >= n)
        return ret(cudaErrorInvalidValue);
    *pool = new CUmemPoolHandle_st{ props->location.id, 0, 0, 0, 0, 0 };
    pools.insert(*pool);
    return cudaSuccess;
}

cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool)
{
    if (!pools.count(pool))
        return ret(cudaErrorInvalidValue);
    drain_all();
    for (auto it = pool_allocs.begin(); it != pool_allocs.end();)     /* still in use: freed with it */
        if (it->second.first == pool) {
            void *p = it->first;
            ++it;
            pool_free_now(p);
        } else {
            ++it;
        }
    pool_release(pool, 0);
    pools.erase(pool);
    delete pool;
    return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value)
{
    if (!pools.count(pool) || !value)
        return ret(cudaErrorInvalidValue);
    const uint64_t v = *(uint64_t *)value;
    switch (attr) {
    case cudaMemPoolAttrReleaseThreshold:
        pool->threshold = v;
        return cudaSuccess;
    case cudaMemPoolAttrUsedMemHigh:            /* may only be reset: to the current use */
    case cudaMemPoolAttrReservedMemHigh:
        if (v != 0)
            return ret(cudaErrorInvalidValue);
        if (attr == cudaMemPoolAttrUsedMemHigh)
            pool->used_high = pool->used;
        else
            pool->reserved_high = pool->reserved;
        return cudaSuccess;
    default:
        return ret(cudaErrorInvalidValue);      /* not modelled: refused, not ignored */
    }
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value)
{
    if (!pools.count(pool) || !value)
        return ret(cudaErrorInvalidValue);
    uint64_t *v = (uint64_t *)value;
    switch (attr) {
    case cudaMemPoolAttrReleaseThreshold: *v = pool->threshold; return cudaSuccess;
    case cudaMemPoolAttrUsedMemCurrent: *v = pool->used; return cudaSuccess;
    case cudaMemPoolAttrUsedMemHigh: *v = pool->used_high; return cudaSuccess;
    case cudaMemPoolAttrReservedMemCurrent: *v = pool->reserved; return cudaSuccess;
    case cudaMemPoolAttrReservedMemHigh: *v = pool->reserved_high; return cudaSuccess;
    default: return ret(cudaErrorInvalidValue);
    }
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t min_keep)
{
    if (!pools.count(pool))
        return ret(cudaErrorInvalidValue);
    pool_release(pool, min_keep);
    return cudaSuccess;
}

/* The allocation is made at the call: the memory is ready sooner than the
 * stream order promises, which no correct program can tell. Its free is
 * queued on the stream, so a kernel queued before it still finds it. */
cudaError_t cudaMallocFromPoolAsync(void **p, size_t size, cudaMemPool_t pool, cudaStream_t stream)
{
    ensure_device();
    if (!p || !pools.count(pool) || !stream_ok(stream))
        return ret(!stream_ok(stream) ? cudaErrorInvalidResourceHandle : cudaErrorInvalidValue);
    *p = nullptr;
    /* Reserved bytes not in use are reused before the device gives more. */
    const uint64_t spare = pool->reserved - pool->used;
    const uint64_t reuse = spare < size ? spare : size;
    allocated -= reuse;
    const cudaError_t e = alloc_now(p, size);
    if (e != cudaSuccess) {
        allocated += reuse;
        return e;
    }
    pool_allocs[*p] = { pool, size };
    pool->used += size;
    pool->reserved += size - reuse;
    if (pool->used > pool->used_high)
        pool->used_high = pool->used;
    if (pool->reserved > pool->reserved_high)
        pool->reserved_high = pool->reserved;
    return cudaSuccess;
}

cudaError_t cudaFreeAsync(void *p, cudaStream_t stream)
{
    if (!stream_ok(stream))
        return ret(cudaErrorInvalidResourceHandle);
    if (!p)
        return cudaSuccess;
    if (!pool_allocs.count(p) && !alloc_of(p, 1))
        return ret(cudaErrorInvalidValue);
    sb_rt_enqueue(stream, [=] { pool_free_now(p); });
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total)
{
    ensure_device();
    *total = dev->mem_bytes;
    *free_b = dev->mem_bytes - allocated;
    return cudaSuccess;
}

/* The checks of a copy: each side that kind names device memory lies
 * inside one allocation, else the program stops (on a GPU: an illegal
 * address or worse). */
static void copy_check(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
    const allocation *d = alloc_of(dst, n), *s = alloc_of(src, n);
    const bool want_d = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool want_s = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if (kind != cudaMemcpyDefault && kind != cudaMemcpyHostToHost &&
        ((want_d && !d) || (want_s && !s)))
        sb_sim_fail(nullptr, "cudaMemcpy of %zu bytes (kind %d): %s %p is not inside a device allocation",
                    n, (int)kind, want_d && !d ? "destination" : "source", want_d && !d ? dst : src);
}

static void copy_now(void *dst, const void *src, size_t n)
{
    sb_rt_device_memory_access(1);
    memcpy(dst, src, n);
    sb_rt_device_memory_access(0);
}

/* Asynchronous between device memory and pinned memory. From pageable
 * host memory the bytes are staged at the call (the caller may reuse its
 * buffer at once); into pageable host memory the call returns when the
 * copy is done (the stream's earlier work first), as the CUDA runtime
 * documents. A capture takes only the asynchronous kinds. */
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                            cudaStream_t stream)
{
    if (!stream_ok(stream))
        return ret(cudaErrorInvalidResourceHandle);
    if (n == 0)
        return cudaSuccess;
    copy_check(dst, src, n, kind);
    CUstream_st *q = queue_of(stream);
    const bool dst_async = alloc_of(dst, n) || pinned(dst, n);
    const bool src_async = alloc_of(src, n) || pinned(src, n);
    if (dst_async && src_async) {
        sb_rt_enqueue(stream, [=] { copy_now(dst, src, n); });
        return cudaSuccess;
    }
    if (q->capture) {
        q->capture_invalid = true;
        return ret(cudaErrorStreamCaptureUnsupported);
    }
    if (dst_async) {
        std::shared_ptr<std::vector<char>> staged =
            std::make_shared<std::vector<char>>((const char *)src, (const char *)src + n);
        sb_rt_enqueue(stream, [=] { copy_now(dst, staged->data(), n); });
        return cudaSuccess;
    }
    drain(q);
    copy_now(dst, src, n);
    return cudaSuccess;
}

/* The legacy stream's copy: after the work it waits for, done on return. */
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind)
{
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    if (n == 0)
        return cudaSuccess;
    copy_check(dst, src, n, kind);
    drain_legacy();
    copy_now(dst, src, n);
    return cudaSuccess;
}

static void memset_check(void *dst, size_t n)
{
    if (n && !alloc_of(dst, n))
        sb_sim_fail(nullptr, "cudaMemset of %zu bytes at %p: not inside a device allocation", n, dst);
}

static void memset_now(void *dst, int value, size_t n)
{
    sb_rt_device_memory_access(1);
    memset(dst, value, n);
    sb_rt_device_memory_access(0);
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t n, cudaStream_t stream)
{
    if (!stream_ok(stream))
        return ret(cudaErrorInvalidResourceHandle);
    memset_check(dst, n);
    sb_rt_enqueue(stream, [=] { memset_now(dst, value, n); });
    return cudaSuccess;
}

cudaError_t cudaMemset(void *dst, int value, size_t n)
{
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    memset_check(dst, n);
    drain_legacy();
    memset_now(dst, value, n);
    return cudaSuccess;
}

/* Pinned, mapped host memory: page-aligned as the runtime's. */
cudaError_t cudaHostAlloc(void **p, size_t size, unsigned int flags)
{
    (void)flags;            /* portable, mapped, write-combined: all the same here */
    *p = nullptr;
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    const size_t bytes = (size ? size + page - 1 : page) / page * page;
    if (!(*p = aligned_alloc(page, bytes)))
        return ret(cudaErrorMemoryAllocation);
    host_allocs[(uintptr_t)*p] = size ? size : 1;
    return cudaSuccess;
}

/* Unified addressing: the device address of pinned memory is its host
 * address. Memory cudaHostAlloc did not return has none. */
cudaError_t cudaHostGetDevicePointer(void **pDevice, void *pHost, unsigned int flags)
{
    *pDevice = nullptr;
    if (flags != 0 || !pinned(pHost, 1))
        return ret(cudaErrorInvalidValue);
    *pDevice = pHost;
    return cudaSuccess;
}

cudaError_t cudaFreeHost(void *p)
{
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    drain_all();
    if (!p)
        return cudaSuccess;
    if (!host_allocs.erase((uintptr_t)p))
        return ret(cudaErrorInvalidValue);
    free(p);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    *s = new CUstream_st{ flags, {}, nullptr, cudaStreamCaptureModeGlobal, false };
    streams.insert(*s);
    return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t *s)
{
    return cudaStreamCreateWithFlags(s, 0);
}

/* Its queued work still runs, as on a GPU. */
cudaError_t cudaStreamDestroy(cudaStream_t s)
{
    if (!streams.count(s))
        return ret(cudaErrorInvalidResourceHandle);
    drain(s);
    delete s->capture;
    streams.erase(s);
    delete s;
    return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t s)
{
    if (!stream_ok(s))
        return ret(cudaErrorInvalidResourceHandle);
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    drain(queue_of(s));
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void)
{
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    drain_all();
    return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t *e)
{
    *e = new CUevent_st{ 0, 0, nullptr, 0 };
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t e)
{
    if (e->state == 1)
        drain(e->stream);   /* its queued record must not outlive it */
    delete e;
    return cudaSuccess;
}

/* The host clock when the stream reaches the record. In a capture the
 * record is captured with the rest (the graph's replay records it). */
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s)
{
    if (!stream_ok(s))
        return ret(cudaErrorInvalidResourceHandle);
    const unsigned long seq = ++e->seq;
    e->state = 1, e->stream = queue_of(s);
    sb_rt_enqueue(s, [e, seq] {
        if (e->seq == seq)
            e->t = now_ms(), e->state = 2;
    });
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t e)
{
    if (capture_forbids() != cudaSuccess)
        return cudaErrorStreamCaptureUnsupported;
    if (e->state == 1)
        drain(e->stream);
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b)
{
    if (!a->state || !b->state)
        return ret(cudaErrorInvalidResourceHandle);
    if (a->state != 2 || b->state != 2)
        return ret(cudaErrorNotReady);
    *ms = (float)(b->t - a->t);
    return cudaSuccess;
}

/* ---- stream capture and graphs ---- */

cudaError_t cudaStreamBeginCapture(cudaStream_t s, enum cudaStreamCaptureMode mode)
{
    if (!stream_ok(s))
        return ret(cudaErrorInvalidResourceHandle);
    CUstream_st *q = queue_of(s);
    if (q == &legacy)
        return ret(cudaErrorStreamCaptureUnsupported);     /* the legacy stream cannot be captured */
    if (q->capture)
        return ret(cudaErrorIllegalState);
    q->capture = new CUgraph_st;
    q->capture_mode = mode;
    q->capture_invalid = false;
    return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *graph)
{
    *graph = nullptr;
    if (!stream_ok(s))
        return ret(cudaErrorInvalidResourceHandle);
    CUstream_st *q = queue_of(s);
    if (!q->capture)
        return ret(cudaErrorIllegalState);
    CUgraph_st *g = q->capture;
    q->capture = nullptr;
    if (q->capture_invalid) {
        delete g;
        return ret(cudaErrorStreamCaptureInvalidated);
    }
    *graph = g;
    return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph, unsigned long long flags)
{
    (void)flags;
    *exec = new CUgraphExec_st{ graph->ops };
    return cudaSuccess;
}

cudaError_t cudaGraphUpload(cudaGraphExec_t exec, cudaStream_t s)
{
    (void)exec;
    return ret(stream_ok(s) ? cudaSuccess : cudaErrorInvalidResourceHandle);
}

/* The captured work, queued again in its order. */
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s)
{
    if (!stream_ok(s))
        return ret(cudaErrorInvalidResourceHandle);
    for (const std::function<void()> &op : exec->ops)
        sb_rt_enqueue(s, op);
    return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete exec;            /* queued replays keep their own copies of the work */
    return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete graph;
    return cudaSuccess;
}

/* The driver's entry points the implementations ask for: the runner's
 * cuTensorMapEncodeTiled; anything else is not found. */
cudaError_t cudaGetDriverEntryPointByVersion(const char *symbol, void **fn, unsigned int version,
                                             unsigned long long flags, cudaDriverEntryPointQueryResult *q)
{
    (void)version, (void)flags;
    const bool known = strcmp(symbol, "cuTensorMapEncodeTiled") == 0;
    *fn = known ? (void *)sb_sim_tensor_map_encode_tiled : nullptr;
    if (q)
        *q = known ? cudaDriverEntryPointSuccess : cudaDriverEntryPointSymbolNotFound;
    return cudaSuccess;
}

const char *cudaGetErrorName(cudaError_t e)
{
    switch (e) {
#define E(x) case x: return #x;
    E(cudaSuccess) E(cudaErrorInvalidValue) E(cudaErrorMemoryAllocation)
    E(cudaErrorInvalidConfiguration) E(cudaErrorInvalidDevice) E(cudaErrorNoKernelImageForDevice)
    E(cudaErrorInvalidResourceHandle) E(cudaErrorLaunchOutOfResources)
    E(cudaErrorInvalidDeviceFunction) E(cudaErrorNoDevice) E(cudaErrorInsufficientDriver)
    E(cudaErrorIllegalAddress) E(cudaErrorLaunchFailure) E(cudaErrorNotSupported)
    E(cudaErrorNotReady) E(cudaErrorIllegalState) E(cudaErrorStreamCaptureUnsupported)
    E(cudaErrorStreamCaptureInvalidated)
#undef E
    default: return "cudaErrorUnknown";
    }
}

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoKernelImageForDevice: return "no kernel image is available for execution on the device";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    default: return "unknown error (CPU runner)";
    }
}

} // extern "C"
