/*
 * cupti_lib.h — inside CUPTI's loader: the entry points seqbench calls,
 * as a table of function pointers filled by dlsym (cupti.c), shared with the
 * Range Profiler's file (cupti_counters.c). Only those two include it; they
 * need the CUPTI headers (SB_HAVE_CUPTI) and, for cupti_profiler_host.h's
 * stray #include <string>, the empty header in harness/compat.
 *
 * The types come from the headers with __typeof__, so a pointer cannot
 * drift from its prototype.
 */
#ifndef SEQBENCH_CUPTI_LIB_H
#define SEQBENCH_CUPTI_LIB_H

#ifdef SB_HAVE_CUPTI

#include <pthread.h>

#include <cupti.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_target.h>

#include "cupti.h"
#include "libload.h"

#define CUPTI_LIB_FNS(X)                                                                   \
    X(cuptiGetVersion) X(cuptiGetResultString) X(cuptiGetTimestamp)                        \
    X(cuptiActivityRegisterCallbacks) X(cuptiActivityEnable) X(cuptiActivityDisable)       \
    X(cuptiActivityFlushAll) X(cuptiActivityGetNextRecord)                                 \
    X(cuptiDeviceGetChipName) X(cuptiProfilerInitialize) X(cuptiProfilerDeInitialize)      \
    X(cuptiProfilerDeviceSupported) X(cuptiProfilerGetCounterAvailability)                 \
    X(cuptiRangeProfilerEnable) X(cuptiRangeProfilerDisable) X(cuptiRangeProfilerSetConfig) \
    X(cuptiRangeProfilerStart) X(cuptiRangeProfilerStop) X(cuptiRangeProfilerDecodeData)   \
    X(cuptiRangeProfilerGetCounterDataSize) X(cuptiRangeProfilerCounterDataImageInitialize) \
    X(cuptiRangeProfilerGetCounterDataInfo)                                                \
    X(cuptiProfilerHostInitialize) X(cuptiProfilerHostDeinitialize)                        \
    X(cuptiProfilerHostGetSupportedChips) X(cuptiProfilerHostGetMetricProperties)          \
    X(cuptiProfilerHostConfigAddMetrics) X(cuptiProfilerHostGetConfigImageSize)            \
    X(cuptiProfilerHostGetConfigImage) X(cuptiProfilerHostGetNumOfPasses)                  \
    X(cuptiProfilerHostEvaluateToGpuValues)

struct cupti {
    void *dl;
    char path[LIB_PATH_MAX];    /* the file loaded */
    uint32_t api_version;       /* cuptiGetVersion: 130001 */
    int target_ready;           /* cuptiProfilerInitialize succeeded */
#define CUPTI_LIB_MEMBER(f) __typeof__(&f) f;
    CUPTI_LIB_FNS(CUPTI_LIB_MEMBER)
#undef CUPTI_LIB_MEMBER
};

/* CUPTI_CALL(c, call): evaluates call (a CUptiResult); on failure writes
 * cupti_error_text into err (size n, in scope) and jumps to fail. */
#define CUPTI_CALL(c, call)                                                                \
    do {                                                                                   \
        CUptiResult r_ = (call);                                                           \
        if (r_ != CUPTI_SUCCESS) {                                                         \
            cupti_error_text((c), (int)r_, #call, err, n);                                 \
            rc_ = (int)r_;                                                                 \
            goto fail;                                                                     \
        }                                                                                  \
    } while (0)

#endif /* SB_HAVE_CUPTI */

#endif
