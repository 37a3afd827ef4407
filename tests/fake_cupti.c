/*
 * fake_cupti.c — a stand-in libcupti.so.13 for tests/test_cupti.c: every
 * entry point harness/cupti.c loads, each returning FAKE_CUPTI_RESULT (35,
 * CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, by default): a driver that refuses
 * counters to this user, on a machine without a GPU. cuptiGetVersion and
 * cuptiGetResultString answer as CUPTI 13.0 does. Built by the Makefile
 * into bin/tests/fake/.
 */
#include <stdint.h>
#include <stdlib.h>

static int result(void)
{
    const char *r = getenv("FAKE_CUPTI_RESULT");
    return r ? atoi(r) : 35;
}

int cuptiGetVersion(uint32_t *v) { *v = 130001; return 0; }
int cuptiGetResultString(int r, const char **s)
{
    *s = r == 35 ? "CUPTI_ERROR_INSUFFICIENT_PRIVILEGES" : r == 43 ? "CUPTI_ERROR_MIG_DEVICE_NOT_SUPPORTED"
                                                                   : "CUPTI_ERROR_UNKNOWN";
    return 0;
}
int cuptiGetTimestamp(uint64_t *t) { *t = 0; return 0; }

#define FAKE(name) int name(void *p) { (void)p; return result(); }
FAKE(cuptiActivityRegisterCallbacks) FAKE(cuptiActivityEnable) FAKE(cuptiActivityDisable)
FAKE(cuptiActivityFlushAll) FAKE(cuptiActivityGetNextRecord) FAKE(cuptiDeviceGetChipName)
FAKE(cuptiProfilerInitialize) FAKE(cuptiProfilerDeInitialize) FAKE(cuptiProfilerDeviceSupported)
FAKE(cuptiProfilerGetCounterAvailability) FAKE(cuptiRangeProfilerEnable) FAKE(cuptiRangeProfilerDisable)
FAKE(cuptiRangeProfilerSetConfig) FAKE(cuptiRangeProfilerStart) FAKE(cuptiRangeProfilerStop)
FAKE(cuptiRangeProfilerDecodeData) FAKE(cuptiRangeProfilerGetCounterDataSize)
FAKE(cuptiRangeProfilerCounterDataImageInitialize) FAKE(cuptiRangeProfilerGetCounterDataInfo)
FAKE(cuptiProfilerHostInitialize) FAKE(cuptiProfilerHostDeinitialize) FAKE(cuptiProfilerHostGetSupportedChips)
FAKE(cuptiProfilerHostGetMetricProperties) FAKE(cuptiProfilerHostConfigAddMetrics)
FAKE(cuptiProfilerHostGetConfigImageSize) FAKE(cuptiProfilerHostGetConfigImage)
FAKE(cuptiProfilerHostGetNumOfPasses) FAKE(cuptiProfilerHostEvaluateToGpuValues)
