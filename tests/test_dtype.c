/*
 * test_dtype.c — the dtype table and its conversions (harness/registry.c):
 * fp16 against an independent rounding in double precision (and against the
 * compiler's _Float16 where it has one) over every exponent, the ties, the
 * subnormals and the overflow edge; every fp16 bit pattern read and written
 * back unchanged; dtype_round dispatching to each dtype.
 */
#include <fenv.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "seqbench.h"

/* x rounded to fp16 in double: the nearest multiple (ties to even) of the
 * spacing at x's binade (2^-24 below 2^-14), infinity from 65520 up. */
static float fp16_round_double(float x)
{
    if (isnan(x) || isinf(x))
        return x;
    const double a = fabs((double)x);
    if (a == 0)
        return x;
    int e = ilogb(a);
    if (e < -14)
        e = -14;
    const double ulp = ldexp(1.0, e - 10);
    const double r = nearbyint(a / ulp) * ulp;      /* the default mode: ties to even */
    const double v = r >= 65536.0 ? INFINITY : r;
    return (float)(x < 0 ? -v : v);
}

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

/* Same value, or both NaN; -0 and +0 differ. */
static int same_float(float a, float b)
{
    return (isnan(a) && isnan(b)) || bits_of(a) == bits_of(b);
}

static void test_fp16_cases(void)
{
    const struct { float x, want; } cases[] = {
        { 1.0f, 1.0f }, { 65504.0f, 65504.0f }, { 65519.99f, 65504.0f }, { 65520.0f, INFINITY },
        { -65520.0f, -INFINITY }, { 1e9f, INFINITY }, { 0x1p-24f, 0x1p-24f },
        { 0x1p-25f, 0.0f },                           /* tie between 0 and 2^-24: even is 0 */
        { 0x1.8p-25f, 0x1p-24f }, { -0x1p-26f, -0.0f },
        { 0x1p-14f - 0x1p-25f, 0x1p-14f },            /* tie between 1023 and 1024 steps: 1024 */
        { 0x1p-14f - 0x1.8p-24f, 0x1p-14f - 0x1p-23f }, /* 1022.5 steps: tie to even 1022 */
        { 1.0f + 0x1p-11f, 1.0f },                    /* tie: even mantissa 0 */
        { 1.0f + 0x3p-11f, 1.0f + 0x1p-9f },          /* tie: odd 1 rounds up to 2 */
        { 1.0f + 0x1p-11f + 0x1p-20f, 1.0f + 0x1p-10f }, { -0.0f, -0.0f }, { INFINITY, INFINITY },
        { 3.14159265f, 3.140625f },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(same_float(fp16_round(cases[i].x), cases[i].want), "fp16_round(%a) = %a, want %a", cases[i].x,
              fp16_round(cases[i].x), cases[i].want);
    CHECK(isnan(fp16_round(NAN)) && (fp16_bits(NAN) & 0x7e00u) == 0x7e00u, "NaN stays a quiet NaN");
    CHECK(dtype_parse("fp16") == DT_FP16 && dtype_table[DT_FP16].bytes == 2 &&
              dtype_table[DT_FP16].eps == 0x1p-11,
          "fp16 in the dtype table");
}

/* Every 16-bit pattern reads as a float that writes back as itself. */
static void test_fp16_all_patterns(void)
{
    int bad = 0, first = -1;
    for (uint32_t b = 0; b <= 0xffffu; b++) {
        const float x = fp16_from_bits((uint16_t)b);
        const int nan = ((b >> 10) & 0x1f) == 0x1f && (b & 0x3ff);
        const uint16_t back = fp16_bits(x);
        int ok = nan ? isnan(x) && (back & 0x7e00u) == 0x7e00u && (back & 0x8000u) == (b & 0x8000u)
                     : back == b && same_float(fp16_round_double(x), x);
        if (!ok && first < 0)
            first = (int)b;
        bad += !ok;
    }
    CHECK(bad == 0, "%d of 65536 fp16 patterns do not round-trip (first 0x%04x)", bad, first);
}

/* Floats across every binade fp16 touches, and the exact midpoints between
 * neighbouring fp16 values (where rounding to even decides), against the
 * double-precision rounding and, where the compiler has it, _Float16. */
static void test_fp16_sweep(void)
{
    fesetround(FE_TONEAREST);
    uint64_t state = 12345;
    int64_t n = 0, bad = 0, bad_f16 = 0;
    float first = 0;
    for (int e = -27; e <= 17; e++)
        for (int k = 0; k < 20000; k++) {
            float x = ldexpf(1.0f + 0.5f * (sb_rng_uniform(&state) + 1.0f), e - 1);
            if (k % 2)
                x = -x;
            if (k % 5 == 0) {       /* a midpoint: an fp16 value plus half its spacing */
                const float h = fp16_round(x);
                const int he = ilogbf(fabsf(h)) < -14 ? -14 : ilogbf(fabsf(h));
                x = isinf(h) ? x : h + copysignf(ldexpf(1.0f, he - 11), h);
            }
            const float got = fp16_round(x);
            n++;
            if (!same_float(got, fp16_round_double(x))) {
                if (!bad)
                    first = x;
                bad++;
            }
#ifdef __FLT16_MAX__
            bad_f16 += !same_float(got, (float)(_Float16)x);
#endif
        }
    CHECK(bad == 0, "%lld of %lld floats round differently from double's rounding (first %a)", (long long)bad,
          (long long)n, first);
#ifdef __FLT16_MAX__
    CHECK(bad_f16 == 0, "%lld of %lld floats round differently from _Float16", (long long)bad_f16,
          (long long)n);
#else
    check_skip("the compiler has no _Float16 to compare with");
#endif
}

static void test_dtype_round(void)
{
    const float x = 1.0f + 0x1p-9f + 0x1p-20f;
    CHECK(dtype_round(DT_FP32, x) == x, "fp32 keeps the value");
    CHECK(dtype_round(DT_BF16, x) == bf16_round(x) && bf16_round(x) == 1.0f, "bf16: %a",
          dtype_round(DT_BF16, x));
    CHECK(dtype_round(DT_FP16, x) == fp16_round(x) && fp16_round(x) == 1.0f + 0x1p-9f, "fp16: %a",
          dtype_round(DT_FP16, x));
}

int main(void)
{
    test_fp16_cases();
    test_fp16_all_patterns();
    test_fp16_sweep();
    test_dtype_round();
    return check_done();
}
