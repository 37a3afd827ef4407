/*
 * ref_run.c — see ref_run.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ref_run.h"

static float round_to(enum dtype dt, double x)
{
    return dt == DT_BF16 ? bf16_round((float)x) : (float)x;
}

int ref_run_all(ref_fn *reference, struct op_ctx *ctx)
{
    const struct shape *s = ctx->shape;
    const int64_t rows = family_out_rows(ctx->io), elems = family_row_elems(ctx->io);
    const int64_t fin = ctx->final && ctx->io->final.ndim ? tensor_numel(&ctx->io->final) : 0;
    double *buf = malloc((size_t)(rows * elems) * sizeof *buf);
    double *fbuf = fin ? malloc((size_t)fin * sizeof *fbuf) : NULL;
    int64_t *idx = malloc((size_t)rows * sizeof *idx);
    if (!buf || !idx || (fin && !fbuf)) {
        free(buf), free(fbuf), free(idx);
        snprintf(ctx->err, sizeof ctx->err, "ref: out of host memory");
        return SB_OOM;
    }
    for (int64_t i = 0; i < rows; i++)
        idx[i] = i;
    reference(s, ctx->scale, ctx->in, idx, rows, buf, fbuf);
    for (int64_t i = 0; i < rows * elems; i++)
        ctx->out[i] = round_to(s->dtype, buf[i]);
    for (int64_t i = 0; i < fin; i++)
        ctx->final[i] = round_to(s->dtype, fbuf[i]);
    free(buf), free(fbuf), free(idx);
    return SB_OK;
}
