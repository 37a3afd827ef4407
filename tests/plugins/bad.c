/*
 * bad.c — plugins that bench must refuse with one line and exit 2
 * (tests/plugin.sh builds each with -DBAD=n):
 *   1 another ABI version   2 structs of another size   3 an unknown family
 *   4 a name that exists    5 no run function           6 the same name twice
 *   7 no seqbench_plugin symbol at all
 */
#include "seqbench_plugin.h"

static int run(struct op_ctx *ctx)
{
    (void)ctx;
    return SB_OK;
}

#if BAD == 7
int not_a_plugin = 1;
#else
static const struct sb_plugin_impl impls[] = {
    { .family = BAD == 3 ? "nosuch" : "flash",
      .impl = { .name = BAD == 4 ? "cpu" : "bad", .device = DEV_CPU, .dtypes = DT_BIT(DT_FP32),
                .run = BAD == 5 ? 0 : run } },
    { .family = "flash", .impl = { .name = BAD == 6 ? "bad" : "bad2", .device = DEV_CPU,
                                   .dtypes = DT_BIT(DT_FP32), .run = run } },
};

const struct sb_plugin seqbench_plugin = {
    SB_PLUGIN_HEADER,
#if BAD == 1
    .abi = 99,
#elif BAD == 2
    .impl_size = 8,
#endif
    .name = "bad", .n_impls = 2, .impls = impls,
};
#endif
