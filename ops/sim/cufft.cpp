/*
 * cufft.cpp — the cuFFT calls of the implementations (ops/ssm/conv_fft.cu:
 * batched 1-D real transforms with a caller-provided work area), for the
 * CPU runner, with cuFFT's documented semantics, so the host code's plans,
 * work-area handling and transform order execute against the simulated
 * device as cuBLAS's do (cublas.cpp):
 *
 *   R2C  out[b][k] = Σ_t in[b][t] e^{−2πi·kt/n},  k ≤ n/2   (n reals in,
 *        n/2 + 1 complex out per batch entry, the basic layout: entries
 *        n reals and n/2 + 1 complex values apart)
 *   C2R  out[b][t] = Σ_k X[k] e^{+2πi·kt/n} over the Hermitian extension
 *        of in[b][0 .. n/2] (the imaginary parts of X[0] and X[n/2]
 *        ignored), unnormalised: n times the signal R2C came from
 *
 * Modelled: rank 1, the basic layout (inembed and onembed NULL),
 * out-of-place R2C and C2R in single precision, n a power of two of at
 * least 4. Anything else stops the program saying "not modelled" (it
 * would run on a GPU: the model, not the caller, is short). Checks, as
 * cuFFT makes them: a handle that was never created or is destroyed
 * (CUFFT_INVALID_PLAN), a size or batch below 1 (CUFFT_INVALID_SIZE), a
 * plan executed in the other direction (CUFFT_INVALID_TYPE), a plan whose
 * automatic allocation was turned off executed without a work area
 * (CUFFT_NO_WORKSPACE). Stricter than cuFFT: input, output and work area
 * must each lie inside one device allocation and not overlap, else the
 * program stops naming the operand. What cuFFT leaves undefined is made
 * visible: the work area holds NaN bytes after every call, and C2R's input
 * too (cuFFT documents that an out-of-place C2R overwrites its input).
 *
 * The work area a plan asks for is one complex buffer of its output's
 * size (batch · (n/2 + 1) · 8 bytes; cuFFT's own size is its choice), the
 * same from cufftEstimateMany. Transforms in double (radix 2), rounded once
 * to float. Each call is queued on the plan's stream like a kernel
 * (runtime.cpp) and counts, by FFTW's benchFFT convention that the ssm
 * family's FLOP formula uses, 2.5·n·log2 n FLOPs per real transform:
 * 5·n·log2 n / 4 multiply-adds (sb_sim_count_macs), whole for n ≥ 4.
 * cuFFT's own kernels never run here: its numerics and speed are a GPU's.
 */
#include <cufft.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <complex>
#include <map>
#include <vector>

#include "runtime.h"
#include "sim.h"

namespace {

struct fft_plan {
    bool made;
    int auto_alloc;         /* cuFFT allocates its own work area (the default) */
    cudaStream_t stream;
    cufftType type;
    long long n, batch;
    size_t work;            /* bytes the plan asks for */
    void *area;             /* the caller's work area, or the one allocated for it */
};

std::map<cufftHandle, fft_plan> plans;
cufftHandle next_handle = 1;

fft_plan *plan_of(cufftHandle h)
{
    auto it = plans.find(h);
    return it == plans.end() ? nullptr : &it->second;
}

/* What the model computes of a plan's description; CUFFT_SUCCESS or the
 * error cuFFT gives. Stops the program for what it does not model. */
cufftResult check_layout(const char *fn, int rank, long long n, const void *inembed, const void *onembed,
                         cufftType type, long long batch)
{
    if (rank != 1 || inembed || onembed)
        sb_sim_fail(nullptr, "%s: rank %d%s: not modelled (rank 1, the basic layout)", fn, rank,
                    inembed || onembed ? " with an advanced layout" : "");
    if (n < 1 || batch < 1)
        return CUFFT_INVALID_SIZE;
    if (type != CUFFT_R2C && type != CUFFT_C2R)
        sb_sim_fail(nullptr, "%s: type 0x%x not modelled (R2C and C2R)", fn, (unsigned)type);
    if (n < 4 || (n & (n - 1)))
        sb_sim_fail(nullptr, "%s: n = %lld not modelled (a power of two of at least 4)", fn, n);
    return CUFFT_SUCCESS;
}

size_t work_bytes(long long n, long long batch)
{
    return (size_t)batch * (size_t)(n / 2 + 1) * sizeof(cufftComplex);
}

/* The operand's bytes in one device allocation. */
void check_span(const char *fn, const char *what, const void *p, size_t bytes)
{
    if (!sb_sim_is_global(p, bytes))
        sb_sim_fail(nullptr, "%s: %s %p: %zu bytes not inside one device allocation", fn, what, p, bytes);
}

void check_apart(const char *fn, const char *a, const void *pa, size_t na, const char *b, const void *pb,
                 size_t nb)
{
    const char *x = (const char *)pa, *y = (const char *)pb;
    if (na && nb && x < y + nb && y < x + na)
        sb_sim_fail(nullptr, "%s: %s and %s overlap%s", fn, a, b,
                    strcmp(b, "the work area") ? " (in-place transforms are not modelled)" : "");
}

/* In-place radix-2 transform of x (size a power of two), e^{sign·2πi·kt/n}. */
void fft(std::vector<std::complex<double>> &x, int sign)
{
    const size_t n = x.size();
    for (size_t i = 1, j = 0; i < n; i++) {
        size_t bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j)
            std::swap(x[i], x[j]);
    }
    for (size_t len = 2; len <= n; len <<= 1) {
        for (size_t k = 0; k < len / 2; k++) {
            const double a = sign * 2 * M_PI * (double)k / (double)len;
            const std::complex<double> w(cos(a), sin(a));
            for (size_t i = 0; i < n; i += len) {
                const std::complex<double> u = x[i + k], v = x[i + k + len / 2] * w;
                x[i + k] = u + v;
                x[i + k + len / 2] = u - v;
            }
        }
    }
}

/* The transforms of one call, when the stream runs it. */
void run(const fft_plan p, const void *in, void *out)
{
    const size_t n = (size_t)p.n, nf = n / 2 + 1;
    const bool r2c = p.type == CUFFT_R2C;
    const char *fn = r2c ? "cufftExecR2C" : "cufftExecC2R";
    const size_t in_bytes = (size_t)p.batch * (r2c ? n * sizeof(float) : nf * sizeof(cufftComplex));
    const size_t out_bytes = (size_t)p.batch * (r2c ? nf * sizeof(cufftComplex) : n * sizeof(float));
    sb_rt_device_memory_access(1);
    check_span(fn, "the input", in, in_bytes);
    check_span(fn, "the output", out, out_bytes);
    check_apart(fn, "the input", in, in_bytes, "the output", out, out_bytes);
    if (p.work) {
        check_span(fn, "the work area", p.area, p.work);
        check_apart(fn, "the input", in, in_bytes, "the work area", p.area, p.work);
        check_apart(fn, "the output", out, out_bytes, "the work area", p.area, p.work);
    }
    if (sb_rt_execute()) {
        std::vector<std::complex<double>> x(n);
        for (long long b = 0; b < p.batch; b++) {
            if (r2c) {
                const float *src = (const float *)in + (size_t)b * n;
                for (size_t t = 0; t < n; t++)
                    x[t] = src[t];
                fft(x, -1);
                cufftComplex *dst = (cufftComplex *)out + (size_t)b * nf;
                for (size_t k = 0; k < nf; k++)
                    dst[k] = make_cuComplex((float)x[k].real(), (float)x[k].imag());
            } else {
                const cufftComplex *src = (const cufftComplex *)in + (size_t)b * nf;
                for (size_t k = 0; k < nf; k++)
                    x[k] = std::complex<double>(src[k].x, k == 0 || k == n / 2 ? 0.0 : src[k].y);
                for (size_t k = nf; k < n; k++)
                    x[k] = std::conj(x[n - k]);
                fft(x, +1);
                float *dst = (float *)out + (size_t)b * n;
                for (size_t t = 0; t < n; t++)
                    dst[t] = (float)x[t].real();
            }
        }
        const long long log2n = (long long)__builtin_ctzll((unsigned long long)n);
        sb_sim_count_macs((long)(p.batch * 5 * (long long)n * log2n / 4));
    }
    if (p.work)
        memset(p.area, 0xFF, p.work);
    if (!r2c)
        memset((void *)in, 0xFF, in_bytes);
    sb_rt_device_memory_access(0);
}

cufftResult exec(cufftHandle h, cufftType type, const void *in, void *out)
{
    fft_plan *p = plan_of(h);
    if (!p || !p->made)
        return CUFFT_INVALID_PLAN;
    if (p->type != type)
        return CUFFT_INVALID_TYPE;
    if (p->work && !p->area)
        return CUFFT_NO_WORKSPACE;
    const fft_plan copy = *p;
    sb_rt_enqueue(p->stream, [=] { run(copy, in, out); });
    return CUFFT_SUCCESS;
}

} // namespace

extern "C" {

cufftResult cufftCreate(cufftHandle *handle)
{
    *handle = next_handle++;
    plans[*handle] = fft_plan{ false, 1, nullptr, CUFFT_R2C, 0, 0, 0, nullptr };
    return CUFFT_SUCCESS;
}

cufftResult cufftDestroy(cufftHandle plan)
{
    fft_plan *p = plan_of(plan);
    if (!p)
        return CUFFT_INVALID_PLAN;
    if (p->auto_alloc && p->area)
        cudaFree(p->area);
    plans.erase(plan);
    return CUFFT_SUCCESS;
}

cufftResult cufftSetAutoAllocation(cufftHandle plan, int autoAllocate)
{
    fft_plan *p = plan_of(plan);
    if (!p)
        return CUFFT_INVALID_PLAN;
    if (p->made)        /* only between cufftCreate and the plan's making */
        return CUFFT_INVALID_VALUE;
    p->auto_alloc = autoAllocate;
    return CUFFT_SUCCESS;
}

cufftResult cufftMakePlanMany64(cufftHandle plan, int rank, long long int *n, long long int *inembed,
                                long long int istride, long long int idist, long long int *onembed,
                                long long int ostride, long long int odist, cufftType type,
                                long long int batch, size_t *workSize)
{
    (void)istride, (void)idist, (void)ostride, (void)odist;     /* ignored with the basic layout */
    fft_plan *p = plan_of(plan);
    if (!p || p->made)
        return CUFFT_INVALID_PLAN;
    const cufftResult r = check_layout("cufftMakePlanMany64", rank, n[0], inembed, onembed, type, batch);
    if (r != CUFFT_SUCCESS)
        return r;
    p->type = type, p->n = n[0], p->batch = batch, p->work = work_bytes(n[0], batch);
    if (p->auto_alloc && cudaMalloc(&p->area, p->work) != cudaSuccess)
        return CUFFT_ALLOC_FAILED;
    p->made = true;
    if (workSize)
        *workSize = p->work;
    return CUFFT_SUCCESS;
}

cufftResult cufftEstimateMany(int rank, int *n, int *inembed, int istride, int idist, int *onembed,
                              int ostride, int odist, cufftType type, int batch, size_t *workSize)
{
    (void)istride, (void)idist, (void)ostride, (void)odist;
    const cufftResult r = check_layout("cufftEstimateMany", rank, n[0], inembed, onembed, type, batch);
    if (r == CUFFT_SUCCESS)
        *workSize = work_bytes(n[0], batch);
    return r;
}

cufftResult cufftSetWorkArea(cufftHandle plan, void *workArea)
{
    fft_plan *p = plan_of(plan);
    if (!p)
        return CUFFT_INVALID_PLAN;
    p->area = workArea;
    return CUFFT_SUCCESS;
}

cufftResult cufftSetStream(cufftHandle plan, cudaStream_t stream)
{
    fft_plan *p = plan_of(plan);
    if (!p)
        return CUFFT_INVALID_PLAN;
    p->stream = stream;
    return CUFFT_SUCCESS;
}

cufftResult cufftExecR2C(cufftHandle plan, cufftReal *idata, cufftComplex *odata)
{
    return exec(plan, CUFFT_R2C, idata, odata);
}

cufftResult cufftExecC2R(cufftHandle plan, cufftComplex *idata, cufftReal *odata)
{
    return exec(plan, CUFFT_C2R, idata, odata);
}

} // extern "C"
