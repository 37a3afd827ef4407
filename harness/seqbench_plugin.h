/*
 * seqbench_plugin.h — what a plugin exports: a shared library that adds
 * implementations to seqbench's families (bench run|suite|verify|list
 * --plugin PATH.so). docs/plugins.md has a worked example.
 *
 * A plugin defines one object with default visibility,
 *
 *     const struct sb_plugin seqbench_plugin = {
 *         SB_PLUGIN_HEADER, .name = "mine", .n_impls = 1, .impls = my_impls,
 *     };
 *
 * whose implementations follow the contract of seqbench.h (struct impl:
 * setup, run, fetch, teardown, workspace_bytes; never time, print or exit)
 * and are validated, timed and stored like seqbench's own. bench checks the
 * ABI version and the sizes of the structures the plugin was compiled with
 * before it reads anything else, so a plugin built against another
 * seqbench.h is refused with one line, never run. The harness functions a
 * GPU implementation uses (sb_gpu_alloc, sb_gpu_stream, sb_gpu_upload, ...)
 * are exported by bench for plugins to call (harness/plugin.syms).
 *
 * SB_PLUGIN_ABI changes whenever struct impl, struct op_ctx, struct shape
 * or struct sb_plugin change in a way an old plugin would misread.
 */
#ifndef SEQBENCH_PLUGIN_H
#define SEQBENCH_PLUGIN_H

#include <stdint.h>

#include "seqbench.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SB_PLUGIN_ABI 2     /* 2: struct shape's sparse and window fields */
#define SB_PLUGIN_SYMBOL "seqbench_plugin"

struct sb_plugin_impl {
    const char *family;         /* an existing family: "flash", "gated", ... */
    struct impl impl;           /* its name must be new in that family */
};

struct sb_plugin {
    uint32_t abi;               /* SB_PLUGIN_ABI as the plugin was built */
    uint32_t impl_size;         /* sizeof(struct impl), sizeof(struct op_ctx), */
    uint32_t ctx_size;          /* sizeof(struct shape) there */
    uint32_t shape_size;
    const char *name;           /* shown by bench list impls */
    int n_impls;
    const struct sb_plugin_impl *impls;
};

/* The first fields of every plugin's table. */
#define SB_PLUGIN_HEADER                                                            \
    .abi = SB_PLUGIN_ABI, .impl_size = sizeof(struct impl),                         \
    .ctx_size = sizeof(struct op_ctx), .shape_size = sizeof(struct shape)

#ifdef __cplusplus
}
#endif

#endif
