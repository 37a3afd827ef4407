/*
 * cudnn_lib.h — cuDNN loaded at run time with dlopen, never linked: bench
 * starts (and runs everything else) on a machine without cuDNN, `ldd
 * bin/bench` names no cuDNN, and an implementation that needs it reports
 * "skipped: cuDNN not found (...)".
 *
 * Only cudnn_graph.h is needed at build time (the backend API's types and
 * prototypes, which the function table below copies with __typeof__, so a
 * signature cannot drift from the header). The Makefile defines
 * SB_HAVE_CUDNN when it finds that header and nvcc; without it only
 * cudnn_lib_describe() exists and says why.
 *
 * Where the library is looked for, first match wins (the first file that
 * exists is the one used: if it cannot be loaded, or lacks a symbol, that is
 * reported rather than silently passed over):
 *   1. $SEQBENCH_CUDNN: the path of one libcudnn.so.9; nothing else is tried
 *   2. $CUDNN_HOME/lib, $CUDNN_HOME/lib64
 *   3. the CUDA toolkit: $CUDA_HOME/lib64, $CUDA_HOME/lib, the build's
 *      toolkit (SB_CUDA_LIB), /usr/local/cuda/lib64
 *   4. Python wheels (nvidia-cudnn-cu13 / -cu12): nvidia/cudnn/lib and
 *      nvidia/cu13/lib under the site-packages of $VIRTUAL_ENV,
 *      $CONDA_PREFIX, ~/.local, /usr/local and /usr
 *   5. dlopen("libcudnn.so.9"): LD_LIBRARY_PATH, bench's RUNPATH, ldconfig
 * libcudnn.so.9 is a small shim that loads its sub-libraries (graph, ops,
 * engines, heuristics) from its own directory, so its path is enough.
 */
#ifndef SEQBENCH_CUDNN_LIB_H
#define SEQBENCH_CUDNN_LIB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One line for `bench env` and the run's env_json: "9.19.0 (PATH; headers
 * 9.19.0)", or why there is none ("not found (...)", "built without ...").
 * Returns 1 when a usable cuDNN was found, else 0. */
int cudnn_lib_describe(char *buf, size_t n);

#ifdef SB_HAVE_CUDNN

#include <cudnn_graph.h>

/* The entry points seqbench calls. */
#define CUDNN_LIB_FNS(X)                                                                   \
    X(cudnnGetVersion) X(cudnnGetErrorString) X(cudnnGetLastErrorString) X(cudnnCreate)    \
    X(cudnnDestroy) X(cudnnSetStream) X(cudnnBackendCreateDescriptor)                      \
    X(cudnnBackendDestroyDescriptor) X(cudnnBackendSetAttribute)                           \
    X(cudnnBackendGetAttribute) X(cudnnBackendFinalize) X(cudnnBackendExecute)

struct cudnn_lib {
    void *dl;               /* dlopen handle */
    char path[512];         /* the file loaded, or the name given to dlopen (step 5) */
    size_t version;         /* cudnnGetVersion(): 91900 for 9.19.0 */
#define CUDNN_LIB_MEMBER(f) __typeof__(&f) f;
    CUDNN_LIB_FNS(CUDNN_LIB_MEMBER)
#undef CUDNN_LIB_MEMBER
};

/* Searches as above and loads into *lib. 0 on success; -1 with one line in
 * why: "cuDNN not found (...)" when no file exists, "cuDNN unusable (...)"
 * when the one found fails to load, lacks an entry point or is not cuDNN
 * CUDNN_MAJOR. Uncached: each call searches again. */
int cudnn_lib_load(struct cudnn_lib *lib, char *why, size_t n);

/* Loads exactly `path` (a file path, or a bare name for dlopen's own
 * search); the same results as cudnn_lib_load. */
int cudnn_lib_open(struct cudnn_lib *lib, const char *path, char *why, size_t n);

/* The process's cuDNN: loaded on the first successful call and kept (a
 * failure is not remembered, so the next call searches again). NULL with
 * why on failure. */
const struct cudnn_lib *cudnn_lib_get(char *why, size_t n);

/* The process's cuDNN handle on the current device, created on the first
 * call (it costs milliseconds and loads the engine libraries) and never
 * destroyed: bench drives one device per process. Needs a GPU. Returns the
 * status of cudnnCreate, with the error text in err. */
cudnnStatus_t cudnn_lib_handle(const struct cudnn_lib *lib, cudnnHandle_t *handle, char *err,
                               size_t n);

/* "9.19.0" from 91900 (cuDNN 9 numbering: major·10000 + minor·100 + patch;
 * cuDNN 8's major·1000 + minor·100 + patch also decoded). */
void cudnn_version_string(size_t version, char *buf, size_t n);

/* One line for a failed call: "cudnnBackendFinalize: CUDNN_STATUS_... (the
 * library's last error message) at FILE:LINE". `call` is the call as written;
 * only the cudnn* function's name is kept. */
void cudnn_error_text(const struct cudnn_lib *lib, cudnnStatus_t st, const char *call,
                      const char *file, int line, char *err, size_t n);

/* CUDNN_CHECK(lib, err, call): evaluates call (a cudnnStatus_t); on
 * failure writes cudnn_error_text into err (a char array: ctx->err, a
 * graph's err) and returns the status from the enclosing function, which
 * returns cudnnStatus_t. */
#define CUDNN_CHECK(lib, err, call)                                                       \
    do {                                                                                  \
        cudnnStatus_t st_ = (call);                                                       \
        if (st_ != CUDNN_STATUS_SUCCESS) {                                                \
            cudnn_error_text((lib), st_, #call, __FILE__, __LINE__, (err), sizeof(err));  \
            return st_;                                                                   \
        }                                                                                 \
    } while (0)

#endif /* SB_HAVE_CUDNN */

#ifdef __cplusplus
}
#endif

#endif /* SEQBENCH_CUDNN_LIB_H */
