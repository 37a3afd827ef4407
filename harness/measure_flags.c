/*
 * measure_flags.c — see measure_flags.h.
 */
#include <math.h>
#include <string.h>

#include "measure_flags.h"

void measure_flags_init(struct measure_flags *m)
{
    const struct measure_opts d = MEASURE_DEFAULTS;
    *m = (struct measure_flags){ .max_time = d.max_seconds, .min_samples = d.min_samples,
                                 .target = d.target_rel };
}

int measure_flags_apply(const char *cmd, const struct measure_flags *m, struct measure_opts *o)
{
    int timing = TIMING_COLD;
    if (m->timing && (timing = timing_parse(m->timing)) < 0) {
        cli_error("%s: --timing '%s': expected cold, warm, graph or kernel", cmd, m->timing);
        return EXIT_USAGE;
    }
    if (m->warm && m->timing && timing != TIMING_WARM) {
        cli_error("%s: --warm is --timing warm; it contradicts --timing %s", cmd, m->timing);
        return EXIT_USAGE;
    }
    if (!(m->max_time > 0 && isfinite(m->max_time))) {
        cli_error("%s: --max-time %g: expected a positive number of seconds", cmd, m->max_time);
        return EXIT_USAGE;
    }
    if (m->min_samples < 1 || m->min_samples > o->max_samples) {
        cli_error("%s: --min-samples %lld: expected 1 to %d", cmd, (long long)m->min_samples,
                  o->max_samples);
        return EXIT_USAGE;
    }
    if (!(m->target >= 0 && m->target < 1)) {
        cli_error("%s: --target %g: expected a fraction from 0 to under 1, e.g. 0.01", cmd,
                  m->target);
        return EXIT_USAGE;
    }
    o->timing = m->warm ? TIMING_WARM : (enum timing)timing;
    o->max_seconds = m->max_time;
    o->min_samples = (int)m->min_samples;
    o->target_rel = m->target;
    return 0;
}
