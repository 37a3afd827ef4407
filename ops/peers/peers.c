/*
 * peers.c — the peers: other projects' implementations of seqbench's
 * families, each run by a Python adapter (ops/peers/<module>.py) in a
 * worker process (harness/peer.h, docs/peers.md). One row per peer; bench
 * shows each as <family>/ext:<name>.
 *
 * Conventions the adapters hold to, so a peer's row computes exactly the
 * function of its family: seqbench's causal mask is aligned bottom-right
 * (key j visible to query i iff j <= i + Nk - N). FlashAttention 2 and 3,
 * cuDNN and FlashInfer's decode align it so too; PyTorch's is_causal is
 * top-left, so where N != Nk the SDPA adapters pass the bottom-right mask
 * explicitly (causal_lower_right, or a boolean mask) or skip with the
 * reason; with N = 1 every key is visible either way. A window and sinks
 * (flash) go as an explicit mask or FlashAttention's window_size, or skip.
 * The sparse family's block mask goes to FlexAttention as a BlockMask of
 * the same blocks. fp32 runs with TF32 off. The recurrent families' gates are log-space, as in
 * flash-linear-attention.
 *
 * Workspaces are estimates of what each library allocates beyond the
 * inputs and the output (the harness counts those), from its algorithm:
 * a materialised score matrix for SDPA's math backend, the softmax
 * statistics (4 bytes per query row and head) for the fused kernels, the
 * per-chunk states for flash-linear-attention's chunked kernels.
 */
#include "../../harness/peer.h"

#define ATTN_DTYPES (DT_BIT(DT_FP32) | DT_BIT(DT_BF16) | DT_BIT(DT_FP16))
#define HALF_DTYPES (DT_BIT(DT_BF16) | DT_BIT(DT_FP16))
#define GPU_UNVERIFIED "unverified: never run on a GPU"

#define TORCH_DISTS "torch numpy"
#define TORCH_INSTALL "scripts/peers.sh, or pip install torch numpy"
#define FLA_DISTS "torch numpy triton fla-core|flash-linear-attention"
#define FLA_INSTALL "scripts/peers.sh, or pip install fla-core (Python and Triton, no build)"

/* The softmax statistics (log-sum-exp) the fused kernels keep, fp32. */
static int64_t lse_bytes(const struct shape *s)
{
    return 4 * s->B * s->H * s->N;
}

/* An explicit bottom-right mask, one byte per (query, key), where the SDPA
 * adapters pass one (causal, 1 < N != Nk). */
static int64_t mask_bytes(const struct shape *s)
{
    return s->causal && s->N > 1 && s->N != s->Nk ? s->N * s->Nk : 0;
}

/* SDPA's math backend: the scores and the probabilities in the dtype, and
 * the fp32 softmax between them, per (batch, head, query, key). */
static int64_t sdpa_math_bytes(const struct shape *s)
{
    const int64_t elem = s->dtype == DT_FP32 ? 4 : 2;
    return s->B * s->H * s->N * s->Nk * (2 * elem + 4) + mask_bytes(s);
}

static int64_t sdpa_fused_bytes(const struct shape *s)
{
    return lse_bytes(s) + mask_bytes(s);
}

/* FlashInfer's wrappers take a caller-owned float workspace; its docs ask
 * for 128 MiB. */
static int64_t flashinfer_bytes(const struct shape *s)
{
    (void)s;
    return (int64_t)128 << 20;
}

/* flash-linear-attention's chunked kernels: a fp32 D x Dv state per chunk
 * of 64 tokens and value head, and fp32 intermediates of the chunk
 * products (gate cumsums, the delta rule's w and u) per token. */
static int64_t fla_bytes(const struct shape *s)
{
    const int64_t chunks = (s->N + 63) / 64;
    return 4 * s->B * s->Hv * (chunks * s->D * s->Dv + 2 * s->N * (s->D + s->Dv));
}

/* mamba_ssm's selective scan: the x checkpoint its forward keeps for the
 * backward, fp32 [B, Dm, chunks of 2048 tokens, 2·Ds]. */
static int64_t mamba_scan_bytes(const struct shape *s)
{
    return 4 * s->B * s->Dm * ((s->N + 2047) / 2048) * 2 * s->Ds;
}

/* chunk_simple_gla on the ssd recurrence: the copies prepared for it (q, k
 * at H heads and v = dt·x in bf16, g in fp32) and its fp32 per-chunk states. */
static int64_t fla_ssd_bytes(const struct shape *s)
{
    const int64_t tok = s->B * s->N, chunks = (s->N + 63) / 64;
    return 2 * tok * s->H * (2 * s->Ds + s->P) + 4 * tok * s->H + 4 * s->B * s->H * chunks * s->Ds * s->P;
}

/* FlexAttention: the softmax statistics, and the BlockMask's int32 block
 * lists (counts and indices, partial and full: 2·(QB + QB·KB) per mask row),
 * expanded over the batch and heads as views. */
static int64_t flex_bytes(const struct shape *s)
{
    const int64_t qb = (s->N + s->bq - 1) / s->bq, kb = (s->Nk + s->bk - 1) / s->bk;
    return lse_bytes(s) + 4 * 2 * s->B * s->H * (qb + qb * kb);
}

const struct peer_adapter peer_adapters[] = {
    /* flash: PyTorch's scaled_dot_product_attention, each backend pinned */
    { .family = "flash", .name = "sdpa-flash", .device = DEV_CUDA, .dtypes = HALF_DTYPES,
      .module = "torch_sdpa", .variant = "flash", .dists = TORCH_DISTS,
      .install = TORCH_INSTALL, .status = GPU_UNVERIFIED,
      .summary = "PyTorch SDPA, FLASH_ATTENTION backend (FlashAttention 2 kernels in torch)",
      .workspace_bytes = sdpa_fused_bytes },
    { .family = "flash", .name = "sdpa-efficient", .device = DEV_CUDA, .dtypes = ATTN_DTYPES,
      .module = "torch_sdpa", .variant = "efficient", .dists = TORCH_DISTS,
      .install = TORCH_INSTALL, .status = GPU_UNVERIFIED,
      .summary = "PyTorch SDPA, EFFICIENT_ATTENTION backend (xFormers' memory-efficient kernels)",
      .workspace_bytes = sdpa_fused_bytes },
    { .family = "flash", .name = "sdpa-cudnn", .device = DEV_CUDA, .dtypes = HALF_DTYPES,
      .module = "torch_sdpa", .variant = "cudnn", .dists = TORCH_DISTS,
      .install = TORCH_INSTALL, .status = GPU_UNVERIFIED,
      .summary = "PyTorch SDPA, CUDNN_ATTENTION backend (cuDNN's fused attention via torch)",
      .workspace_bytes = sdpa_fused_bytes },
    { .family = "flash", .name = "sdpa-math", .device = DEV_CUDA, .dtypes = ATTN_DTYPES,
      .module = "torch_sdpa", .variant = "math", .dists = TORCH_DISTS,
      .install = TORCH_INSTALL, .status = GPU_UNVERIFIED,
      .summary = "PyTorch SDPA, MATH backend (scores materialised, eager ops)",
      .workspace_bytes = sdpa_math_bytes },
    { .family = "flash", .name = "torch-cpu", .device = DEV_CPU, .dtypes = ATTN_DTYPES,
      .module = "torch_sdpa", .variant = "cpu", .dists = TORCH_DISTS,
      .install = TORCH_INSTALL, .status = "verified on the CPU (bench verify, torch 2.15.0)",
      .summary = "PyTorch SDPA on the CPU (torch's own choice of CPU kernel)" },
    /* flash: FlashAttention */
    { .family = "flash", .name = "fa2", .device = DEV_CUDA, .dtypes = HALF_DTYPES,
      .module = "flash_attn2", .variant = "", .dists = "torch numpy flash-attn",
      .install = "a source build only (PyPI has no wheel): pip install flash-attn "
                 "--no-build-isolation, with nvcc and torch installed",
      .status = GPU_UNVERIFIED, .summary = "FlashAttention 2, flash_attn_func",
      .workspace_bytes = lse_bytes },
    { .family = "flash", .name = "fa3", .device = DEV_CUDA, .dtypes = HALF_DTYPES,
      .module = "flash_attn3", .variant = "", .dists = "torch numpy flash_attn_3",
      .install = "a source build only: python setup.py install in flash-attention's hopper/ "
                 "folder (Hopper GPUs)",
      .status = GPU_UNVERIFIED, .summary = "FlashAttention 3 (Hopper), flash_attn_interface",
      .workspace_bytes = lse_bytes },
    /* flash decode: FlashInfer */
    { .family = "flash", .name = "flashinfer", .device = DEV_CUDA, .dtypes = HALF_DTYPES,
      .module = "flashinfer_decode", .variant = "single", .dists = "torch numpy flashinfer-python",
      .install = "scripts/peers.sh, or pip install flashinfer-python (it compiles its kernels with "
                 "nvcc at first use)",
      .status = GPU_UNVERIFIED,
      .summary = "FlashInfer single_decode_with_kv_cache (decode: N = 1, B = 1)",
      .workspace_bytes = flashinfer_bytes },
    { .family = "flash", .name = "flashinfer-paged", .device = DEV_CUDA, .dtypes = HALF_DTYPES,
      .module = "flashinfer_decode", .variant = "paged", .dists = "torch numpy flashinfer-python",
      .install = "scripts/peers.sh, or pip install flashinfer-python (it compiles its kernels with "
                 "nvcc at first use)",
      .status = GPU_UNVERIFIED,
      .summary = "FlashInfer BatchDecodeWithPagedKVCacheWrapper (decode: N = 1; 16-token pages)",
      .workspace_bytes = flashinfer_bytes },
    /* sparse: PyTorch's FlexAttention with the case's block mask */
    { .family = "sparse", .name = "flex", .device = DEV_CUDA, .dtypes = ATTN_DTYPES,
      .module = "flex_attention", .variant = "", .dists = TORCH_DISTS,
      .install = TORCH_INSTALL " (FlexAttention: torch 2.5 or newer)", .status = GPU_UNVERIFIED,
      .summary = "PyTorch FlexAttention, compiled, BlockMask from the block mask (bq x bk)",
      .workspace_bytes = flex_bytes },
    /* the recurrent families: flash-linear-attention's chunked kernels */
    { .family = "linear", .name = "fla-chunk", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
      .module = "fla_chunk", .variant = "linear", .dists = FLA_DISTS, .install = FLA_INSTALL,
      .status = GPU_UNVERIFIED, .summary = "flash-linear-attention chunk_linear_attn (unnormalised)",
      .workspace_bytes = fla_bytes },
    { .family = "gated", .name = "fla-simple-gla", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
      .module = "fla_chunk", .variant = "simple_gla", .dists = FLA_DISTS, .install = FLA_INSTALL,
      .status = GPU_UNVERIFIED, .summary = "flash-linear-attention chunk_simple_gla (gate=head)",
      .workspace_bytes = fla_bytes },
    { .family = "gated", .name = "fla-gla", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
      .module = "fla_chunk", .variant = "gla", .dists = FLA_DISTS, .install = FLA_INSTALL,
      .status = GPU_UNVERIFIED, .summary = "flash-linear-attention chunk_gla (gate=key)",
      .workspace_bytes = fla_bytes },
    { .family = "delta", .name = "fla-delta", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
      .module = "fla_chunk", .variant = "delta", .dists = FLA_DISTS, .install = FLA_INSTALL,
      .status = GPU_UNVERIFIED, .summary = "flash-linear-attention chunk_delta_rule (gate=none)",
      .workspace_bytes = fla_bytes },
    { .family = "delta", .name = "fla-gated-delta", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
      .module = "fla_chunk", .variant = "gated_delta", .dists = FLA_DISTS, .install = FLA_INSTALL,
      .status = GPU_UNVERIFIED,
      .summary = "flash-linear-attention chunk_gated_delta_rule (gate=head)",
      .workspace_bytes = fla_bytes },
    /* ssm: Mamba's selective scan; Mamba-2's SSD as simple GLA */
    { .family = "ssm", .name = "mamba-ssm", .device = DEV_CUDA, .dtypes = DT_BIT(DT_FP32) | DT_BIT(DT_BF16),
      .module = "ssm_peers", .variant = "mamba_s6", .dists = "torch numpy mamba-ssm",
      .install = "a source build only: pip install mamba-ssm --no-build-isolation, with nvcc and "
                 "torch installed",
      .status = GPU_UNVERIFIED,
      .summary = "mamba_ssm selective_scan_fn (variant s6; no h0)",
      .workspace_bytes = mamba_scan_bytes },
    { .family = "ssm", .name = "fla-ssd", .device = DEV_CUDA, .dtypes = DT_BIT(DT_BF16),
      .module = "ssm_peers", .variant = "fla_ssd", .dists = FLA_DISTS, .install = FLA_INSTALL,
      .status = GPU_UNVERIFIED,
      .summary = "flash-linear-attention chunk_simple_gla on the ssd recurrence (no D, no z)",
      .workspace_bytes = fla_ssd_bytes },
};
const int n_peer_adapters = (int)(sizeof peer_adapters / sizeof peer_adapters[0]);
