/*
 * seqbench.h — the operator contract every family and implementation follows.
 *
 * A family (softmax, flash, ...) declares its shape fields, a validator, its
 * FLOP and compulsory-byte formulas, its input and output tensors, a seeded
 * input generator and a reference that can compute any chosen subset of output
 * rows. Implementations are rows of a static table: {name, device, dtypes,
 * setup, run, fetch, teardown, workspace_bytes}. Implementations never time
 * themselves, never print and never exit: they return a status and, on error,
 * write one line into ctx->err.
 *
 * Host tensors are always float32 arrays whose values are already rounded to
 * the case's dtype (so the reference sees exactly what the device sees); GPU
 * implementations convert on upload with sb_gpu_upload().
 *
 * This header is included by C (gcc) and by CUDA C++ (nvcc), hence extern "C".
 */
#ifndef SEQBENCH_H
#define SEQBENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- dtypes --------------------------------------------------------------- */

enum dtype { DT_FP32, DT_BF16, DT_FP16, DT_COUNT };

struct dtype_info {
    const char *name;   /* as on the command line and in the database */
    int bytes;          /* storage size of one element on the device */
    double eps;         /* unit roundoff 2^-p: fp32 2^-24, bf16 2^-8, fp16 2^-11 */
};
extern const struct dtype_info dtype_table[DT_COUNT];

#define DT_BIT(t) (1u << (t))

/* Parses a dtype name; returns -1 when unknown. */
int dtype_parse(const char *name);

/* Rounds a float to the nearest bf16 (round-to-nearest-even), kept as float. */
float bf16_round(float x);
uint16_t bf16_bits(float x);
float bf16_from_bits(uint16_t b);

/* The same for IEEE binary16 (fp16): round to nearest even, subnormals kept,
 * magnitudes from 65520 up to infinity, NaN kept a (quiet) NaN. */
float fp16_round(float x);
uint16_t fp16_bits(float x);
float fp16_from_bits(uint16_t b);

/* x rounded to dt as a float (fp32: x itself): what the device holds. */
float dtype_round(enum dtype dt, float x);

/* ---- shapes --------------------------------------------------------------- */

/* Every shape field any family uses. A family says which ones it reads
 * (family.fields); the others keep their defaults and stay out of its case
 * string. Adding a field = one member here + one row in shape_fields[]. */
struct shape {
    int64_t B;          /* batch */
    int64_t N;          /* query tokens */
    int64_t Nk;         /* key/value tokens (= N unless decode or cross) */
    int64_t H;          /* query heads */
    int64_t Hkv;        /* key/value heads; divides H (GQA/MQA) */
    int64_t D;          /* query/key head dim */
    int64_t Dv;         /* value head dim */
    int64_t causal;     /* 0/1; bottom-right aligned when Nk > N */
    int64_t Hv;         /* value heads of the recurrent families; a multiple of H */
    int64_t chunk;      /* chunk length of the chunked recurrent algorithms */
    int64_t gate;       /* enum gate_kind */
    int64_t state;      /* 0/1: initial state in, final state out */
    int64_t variant;    /* ssm: enum ssm_variant (reference/ssm.h) */
    int64_t Dm;         /* ssm s6: channels (Mamba's d_inner) */
    int64_t P;          /* ssm ssd: head dim */
    int64_t Ds;         /* ssm s6, ssd: state size per channel / head (d_state) */
    int64_t G;          /* ssm s6, ssd: groups sharing B and C */
    int64_t z;          /* ssm s6, ssd: 0/1, output gate y·silu(z) */
    int64_t skip;       /* ssm ssd: 0/1, skip term D·x (s6 always has it) */
    int64_t pattern;    /* sparse: enum sparse_pattern (reference/sparse.h) */
    int64_t density;    /* sparse: percent of the candidate key blocks computed, 0..100 */
    int64_t window;     /* flash, sparse: sliding window of W keys, 0 = none */
    int64_t sink;       /* flash, sparse: the first S keys every query sees, 0 = none */
    int64_t bq, bk;     /* sparse: query and key block sizes of the block mask */
    enum dtype dtype;
};

/* The order is the order of the fields in case strings (new fields go
 * where they read best: no family's string changes, since each prints
 * only its own fields, in this order). */
enum shape_field_id {
    SF_VARIANT, SF_B, SF_N, SF_NK, SF_H, SF_HKV, SF_HV, SF_D, SF_DV, SF_DM, SF_P, SF_DS, SF_G,
    SF_CAUSAL, SF_CHUNK, SF_GATE, SF_Z, SF_SKIP, SF_STATE,
    SF_PATTERN, SF_DENSITY, SF_WINDOW, SF_SINK, SF_BQ, SF_BK,
    SF_COUNT
};
#define SF_BIT(f) (1u << (f))

/* The decay gate of the recurrent families: none; one log-decay per head and
 * token (simple GLA, RetNet, Lightning-2, Gated DeltaNet); one per key
 * dimension (GLA). Spelled by name on the command line, in suites and case
 * strings (gate_names). */
enum gate_kind { GATE_NONE, GATE_HEAD, GATE_KEY, GATE_COUNT };

struct shape_field {
    const char *name;   /* flag name without dashes, key in suites and case strings */
    size_t offset;      /* offsetof(struct shape, ...) */
    int is_flag;        /* printed as a bare word ("causal") when set */
    const char *const *values;  /* named values, NULL-terminated (value = index); NULL: a number */
    const char *help;
};
extern const struct shape_field shape_fields[SF_COUNT];

/* The value a word denotes for field f: a named value's index or a decimal
 * integer >= 0 for numeric fields; -1 when the word is neither. */
int64_t shape_field_parse(int f, const char *word);
/* Writes field f's value as it is spelled ("key", "64"). */
void shape_field_format(int f, int64_t v, char *buf, size_t n);

static inline int64_t *shape_field_ptr(struct shape *s, int f)
{
    return (int64_t *)((char *)s + shape_fields[f].offset);
}
static inline int64_t shape_field_get(const struct shape *s, int f)
{
    return *(const int64_t *)((const char *)s + shape_fields[f].offset);
}

/* A shape whose fields are all unset (-1); shape_fill_defaults() completes it. */
void shape_unset(struct shape *s);

/* ---- tensors -------------------------------------------------------------- */

#define SB_MAX_TENSORS 8
#define SB_MAX_DIMS 4

struct tensor_spec {
    const char *name;           /* file name stem in --dump: "q" -> q.npy */
    int ndim;
    int64_t dims[SB_MAX_DIMS];
    int u8;                     /* 1: integer values 0..255 (the sparse block mask), not
                                   values of the dtype: --dump writes them as uint8 ('|u1'),
                                   --load does not round them; in host memory still floats */
};

struct io_specs {
    int n_in;
    struct tensor_spec in[SB_MAX_TENSORS];
    struct tensor_spec out;     /* out[0] is the row index (e.g. B*N tokens) */
    struct tensor_spec final;   /* a second output checked in full (the recurrent
                                   families' final state); ndim 0 when none */
};

int64_t tensor_numel(const struct tensor_spec *t);
/* *t = {name, ndim, {a, b, c, d}} (dims past ndim are ignored). */
void tensor_spec_set(struct tensor_spec *t, const char *name, int ndim, int64_t a, int64_t b,
                     int64_t c, int64_t d);

/* ---- implementations ------------------------------------------------------ */

enum device_kind { DEV_CPU, DEV_CUDA };

/* Status an implementation returns from setup/run/fetch. */
enum sb_status {
    SB_OK = 0,
    SB_ERROR,           /* ctx->err says why -> "error: ..." */
    SB_OOM,             /* an allocation failed -> "oom" */
    SB_UNSUPPORTED,     /* shape outside what this impl handles -> "skipped: ..." */
};

struct gpu_ctx;         /* harness/gpu.h: device, stream, tracked allocations */
struct gref_case;       /* harness/gpu_ref.h: a case as the device reference sees it */

struct op_ctx {
    const struct shape *shape;
    const struct io_specs *io;
    const float *const *in;     /* host inputs, io->n_in of them, fp32 rounded to dtype */
    float *out;                 /* host output, fp32; the harness poisons it with NaN */
    float *final;               /* host io->final, fp32, poisoned; NULL when none */
    double scale;               /* softmax scale, 1/sqrt(D) */
    int threads;                /* OpenMP threads for CPU implementations */
    void *priv;                 /* implementation state between setup and teardown */
    struct gpu_ctx *gpu;        /* NULL for CPU implementations */
    char err[256];              /* one line, no trailing newline */
    char info[512];             /* what ran, where setup chooses (a library's graph, engine,
                                   version), as a JSON object; "" when nothing to say.
                                   Stored as results.impl_info */
    const void *impl_data;      /* the implementation's impl.data */
    int64_t footprint_bytes;    /* device (or host) bytes the implementation reports it used
                                   where the harness cannot track its allocations (a peer's
                                   worker process); 0: the harness's own count */
};

/* One request for timed runs that the implementation takes itself (impl.sample). */
struct sample_req {
    const char *timing;         /* "cold", "warm", "graph" (GPU) or "cpu" (measure.h) */
    int n;                      /* runs to time */
    int warmup;                 /* 1: warm-up runs, whose times the harness drops */
    double graph_ms;            /* graph: launches per replay so that one lasts about this, */
    int graph_max;              /* and at most this many */
};

struct impl {
    const char *name;
    enum device_kind device;
    unsigned dtypes;            /* DT_BIT() mask */
    const char *status;         /* "verified" or why not, shown by `bench list impls` */
    const char *summary;
    int (*setup)(struct op_ctx *);      /* allocate, upload; not timed; may be NULL */
    int (*run)(struct op_ctx *);        /* the timed operation; repeatable. NULL: not built */
    int (*fetch)(struct op_ctx *);      /* device -> ctx->out; NULL for CPU */
    void (*teardown)(struct op_ctx *);  /* may be NULL */
    int64_t (*workspace_bytes)(const struct shape *);  /* device bytes beyond in/out; may be NULL */
    /* FLOPs the implementation executes where its tiles compute more than
     * the family's algorithmic count (whole diagonal tiles, padded rows,
     * full GEMMs under a causal mask); NULL: the family's flops. */
    double (*flops_executed)(const struct shape *);
    /* Times n runs itself and writes each run's milliseconds to ms[0..n): for
     * an implementation the harness cannot time by calling run() (a peer's
     * worker process, which applies the harness's flush and clock rules on its
     * side). The harness's stopping rule still decides how many (measure.c).
     * NULL: the harness times run(). */
    int (*sample)(struct op_ctx *, const struct sample_req *, double *ms);
    /* 0 when the implementation cannot run on this machine at all (a peer
     * that is not installed), with why (e.g. "ext:fa2 not installed (...)");
     * NULL: always available. Suites and a run without --impl leave out what
     * is unavailable; a case that names it is stored as skipped: why. */
    int (*available)(const struct impl *, char *why, size_t n);
    const void *data;           /* the implementation's own constant data (a peer's
                                   adapter row), passed as op_ctx.impl_data */
};

/* ---- families ------------------------------------------------------------- */

struct tolerance {
    double rel_l2;      /* ||out-ref||_2 / ||ref||_2 over the checked rows */
    double row_rel_l2;  /* the same for the worst single (row, head) (harness/validate.h) */
};

/* One level of the implementations' work decomposition along the N rows of
 * a batch, which validation checks the edges of (harness/validate.c): tiles
 * of len rows whose boundaries are the rows n with (n + offset) % len == 0
 * (counted from the start of each tile of `within` rows when within > 0: the
 * sub-chunks of a chunk). A row's class is its position in its tile. */
struct row_tiling {
    const char *what;   /* "query tile", "diagonal", "chunk", "sub-chunk" */
    int64_t len;
    int64_t offset;     /* 0 .. len-1 */
    int64_t within;     /* 0: tiles run over all N rows */
};
#define SB_MAX_TILINGS 4

struct family {
    const char *name;
    const char *summary;
    unsigned fields;                                    /* SF_BIT() mask of fields it reads */
    /* The fields a shape of the family reads where they depend on the shape
     * (the ssm family's variants, flash's window and sink only when set, the
     * sparse patterns' own parameters), a subset of fields: case strings and
     * shape_json print these. NULL: fields. */
    unsigned (*fields_of)(const struct shape *);
    void (*defaults)(struct shape *);                   /* fill fields still unset (-1) */
    int (*validate)(const struct shape *, char *msg, size_t n); /* 0 ok; msg names the field */
    /* The algorithmic count (a multiply-add is 2): attention's exact
     * unmasked (query, key) pairs, the recurrent families' chunked
     * recurrence over the causal pairs of each chunk. TFLOP/s and % of
     * bound use it, so implementations compare (impl.flops_executed says
     * what each one's tiles really compute). */
    double (*flops)(const struct shape *);
    /* The minimal count where the implementations do more than the
     * definition needs (the recurrent families' recurrent count against the
     * chunked count in flops); NULL: the same as flops. */
    double (*flops_minimal)(const struct shape *);
    double (*min_bytes)(const struct shape *);
    void (*io)(const struct shape *, struct io_specs *);
    void (*inputs)(const struct shape *, uint64_t seed, float *const in[]);
    /* Reference: output rows rows[0..nrows) (index into out.dims[0] flattened
     * with dims[1], i.e. a token (b, n)), each row_elems doubles, into out;
     * and, when io.final has dims, all of it into final (else final is NULL). */
    void (*reference)(const struct shape *, double scale, const float *const in[],
                      const int64_t *rows, int64_t nrows, double *out, double *final);
    double (*row_cost)(const struct shape *, int64_t row); /* reference multiply-adds for a row */
    struct tolerance (*tolerance)(const struct shape *);
    /* Rejects inputs outside the family's domain, as an edited --load
     * folder may hold (a block mask that is not the one its pattern
     * fields make; an ssm A that is not negative, a step size that is not
     * positive): 0 when they are fine, else -1 and one line in msg
     * naming the tensor and the element. NULL: any finite values do. */
    int (*check_inputs)(const struct shape *, const float *const in[], char *msg, size_t n);
    /* The tilings of the N rows that the implementations' kernels use, from
     * the constants they use (tile sizes, chunk length); returns how many
     * (<= SB_MAX_TILINGS). NULL: none seqbench knows of. */
    int (*row_tilings)(const struct shape *, struct row_tiling *t);
    /* Describes the case (shape, scale, inputs) to the device reference,
     * which checks every row of a GPU implementation's output
     * (harness/gpu_ref.h); 0 when it cannot. NULL: the family has none. */
    int (*gpu_ref)(const struct shape *, double scale, const float *const in[],
                   struct gref_case *c);
    const struct impl *impls;
    int n_impls;
    /* Small edge-case shapes `bench verify` and the tests run every
     * implementation on, as shape words ("B=2 N=77 H=2 D=64 causal"; fields
     * left out take the family's defaults), NULL-terminated. */
    const char *const *edge_shapes;
};

/* The fields a shape of family f reads (f->fields_of or f->fields). */
unsigned family_fields(const struct family *f, const struct shape *s);

/* The attention scale a case runs with unless a dump says otherwise:
 * 1/sqrt(D), or 1 for a family without a head dim D (ssm). */
double shape_default_scale(const struct shape *s);

/* Output rows and elements per row for the family's output tensor:
 * rows = dims[0]*dims[1] (B*N tokens), elems = the rest. */
int64_t family_out_rows(const struct io_specs *io);
int64_t family_row_elems(const struct io_specs *io);

/* Reads shape words "B=2 N=77 causal gate=key" into s (which the caller has
 * shape_unset()), then fills the family's defaults. Unknown or foreign
 * fields and bad values: -1 and one line in err. Does not validate. */
int shape_parse_words(const struct family *f, const char *words, struct shape *s, char *err,
                      size_t n);

/* The registry (harness/registry.c). */
extern const struct family *const families[];
extern const int n_families;
const struct family *family_find(const char *name);
/* SEQBENCH_TEST_IMPLS=1 adds the family "selftest" (harness/selftest.c),
 * whose implementations crash, exit or hang on purpose: tests only. */
#define SB_TEST_IMPLS_ENV "SEQBENCH_TEST_IMPLS"
const struct impl *impl_find(const struct family *f, const char *name);

/* A family's implementations: its static table (family.impls), then those
 * added at run time by registry_add_impl (peers, plugins) in the order
 * added. Iterate with these, not family.impls, to see them all. */
int family_n_impls(const struct family *f);
const struct impl *family_impl(const struct family *f, int i);
/* Adds im to f's implementations; im must stay valid for the process.
 * 0, or -1 with one line in err (the name is taken, the table is full). */
#define REGISTRY_MAX_EXTRA 128
int registry_add_impl(const struct family *f, const struct impl *im, char *err, size_t n);
/* impl.available, or 1 when it has none. */
int impl_available(const struct impl *im, char *why, size_t n);

/* Canonical case string, e.g. "flash/cuda bf16 B=8 N=16384 Nk=16384 H=16 Hkv=16
 * D=128 Dv=128 causal". It is the CLI filter, the database key and the report
 * label. impl may be NULL for the shape-only key ("flash bf16 B=8 ..."). */
void case_string(const struct family *f, const char *impl, const struct shape *s,
                 char *buf, size_t n);

/* The family's shape fields as a JSON object in field order, named values
 * as strings: {"B":1,"N":1024,...,"gate":"key","state":0}. */
void shape_json(const struct family *f, const struct shape *s, char *buf, size_t n);

/* The version of every family's inputs(): bump it whenever any generator
 * changes what it produces (a distribution, a range, the stream's order),
 * so results from before and after are never compared as equals. Stored
 * with each run (runs.input_version); `bench compare` refuses to match
 * results of two versions unless --across-inputs. */
#define SB_INPUT_VERSION 1

/* Deterministic random numbers (splitmix64): inputs are a pure function of
 * (family, shape, seed) on every machine. */
static inline uint64_t sb_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [-1, 1). */
static inline float sb_rng_uniform(uint64_t *state)
{
    return (float)((double)(sb_rng_next(state) >> 11) * 0x1.0p-52 - 1.0);
}
/* The i-th (0-based) sb_rng_uniform of a stream that starts at state0,
 * without the i calls before it (splitmix64's state only counts), so a
 * tensor's inputs fill in parallel and equal the sequential stream. */
static inline float sb_rng_uniform_at(uint64_t state0, int64_t i)
{
    uint64_t state = state0 + (uint64_t)i * 0x9E3779B97F4A7C15ull;
    return sb_rng_uniform(&state);
}

/* The start of a tensor's own stream of a case's inputs, from the seed and
 * the tensor's name, so each tensor is the same whatever the others are. */
static inline uint64_t sb_rng_stream(uint64_t seed, const char *name)
{
    uint64_t name_hash = 0;
    for (const char *c = name; *c; c++)
        name_hash = name_hash * 131 + (unsigned char)*c;
    return seed * 0x9E3779B97F4A7C15ull + name_hash * 0xD1B54A32D192ED03ull;
}

#ifdef __cplusplus
}
#endif

#endif /* SEQBENCH_H */
