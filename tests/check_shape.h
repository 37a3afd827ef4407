/*
 * check_shape.h — a shape from shape words for the tests: the family's
 * defaults for what the words leave out; a failed CHECK when they do not
 * parse. Include after check.h.
 */
#ifndef SEQBENCH_CHECK_SHAPE_H
#define SEQBENCH_CHECK_SHAPE_H

#include "seqbench.h"

static inline struct shape mk(const char *fam, const char *words, enum dtype dt)
{
    struct shape s;
    char err[200];
    shape_unset(&s);
    s.dtype = dt;
    if (shape_parse_words(family_find(fam), words, &s, err, sizeof err) != 0)
        CHECK(0, "%s '%s': %s", fam, words, err);
    return s;
}

#endif
