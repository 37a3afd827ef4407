/*
 * libload.h — finding and loading a vendor library at run time (dlopen),
 * shared by cuDNN (cudnn_lib.c), CUPTI (cupti.c) and NVML (nvml.c), so that
 * bench never links them: it starts on a machine without them, `ldd
 * bin/bench` names none of them, and what needs one degrades with a reason.
 *
 * A library is looked for, first match wins (the first file that exists is
 * the one used: if it cannot be loaded, that is reported rather than
 * silently passed over):
 *   1. $<env_only>: the path of one file; nothing else is tried
 *   2. the directories of its lib_search, in order (an environment variable
 *      plus a suffix, or a fixed path)
 *   3. Python wheels: each of its wheel directories under the site-packages
 *      of $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local and /usr
 *   4. dlopen(soname): LD_LIBRARY_PATH, bench's RUNPATH, ldconfig
 */
#ifndef SEQBENCH_LIBLOAD_H
#define SEQBENCH_LIBLOAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LIB_SEARCH_MAX 48       /* candidate files of steps 2-3 */
#define LIB_PATH_MAX 512

/* A directory: getenv(env) followed by path, or path alone (env NULL). An
 * unset or empty variable skips the entry. */
struct lib_dir {
    const char *env;
    const char *path;
};

struct lib_search {
    const char *what;           /* "cuDNN", "CUPTI", "NVML": the messages' subject */
    const char *soname;         /* "libcupti.so.13" */
    const char *env_only;       /* step 1's variable, e.g. "SEQBENCH_CUPTI"; NULL none */
    const struct lib_dir *dirs; /* step 2 */
    int n_dirs;
    const char *const *wheels;  /* step 3: "nvidia/cuda_cupti/lib" */
    int n_wheels;
};

/* The candidate files of steps 2-3, in search order (soname appended to
 * each directory). Returns how many (at most LIB_SEARCH_MAX). */
int lib_candidates(const struct lib_search *s, char paths[][LIB_PATH_MAX]);

/* What to dlopen for steps 2-4: the first candidate that exists, else the
 * bare soname (step 4). Step 1 is the caller's: see lib_env_only. */
const char *lib_find(const struct lib_search *s, char *buf, size_t n);

/* $env_only when set and not empty, else NULL. */
const char *lib_env_only(const struct lib_search *s);

/* dlopen(path, RTLD_NOW | RTLD_LOCAL). On success the handle, with the
 * file actually loaded in real (the link map's name). NULL with one line in
 * why: "WHAT not found (...)" when path names a missing file or a bare name
 * the loader cannot find, "WHAT unusable (...)" when a file that exists
 * fails to load. */
void *lib_dlopen(const char *what, const char *path, char *real, size_t rn, char *why, size_t n);

/* A failure under step 1 names the variable that chose the file:
 * "CUPTI not found (PATH: ...)" becomes "CUPTI not found (SEQBENCH_CUPTI=PATH: ...)". */
void lib_env_why(const char *var, const char *inner, char *why, size_t n);

#ifdef __cplusplus
}
#endif

#endif
