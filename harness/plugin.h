/*
 * plugin.h — loading users' implementations from shared libraries
 * (--plugin PATH.so; the ABI is harness/seqbench_plugin.h).
 */
#ifndef SEQBENCH_PLUGIN_LOAD_H
#define SEQBENCH_PLUGIN_LOAD_H

#include <stddef.h>

/* dlopens path, checks its table (symbol, ABI version, structure sizes,
 * families, names, fields) and adds its implementations to the registry.
 * 0, or -1 with one line in err; nothing is added from a plugin that fails
 * any check. Loading the same path twice is refused (its names are taken). */
int plugin_load(const char *path, char *err, size_t n);

struct impl;
/* The path of the plugin that added im, or NULL when none did. */
const char *plugin_of(const struct impl *im);

#endif
