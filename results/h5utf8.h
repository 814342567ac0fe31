// The results file declares its strings UTF-8 and h5netcdf decodes them, but hosts, messages and
// labels may hold any bytes: h5write.c writes every string through these.
#pragma once
#include <stddef.h>

// The n strings of data (const char *[n], NULL read as "") with invalid bytes replaced by '?': the
// array to write; *owned holds the copies made. Free both with h5_utf8_free.
const char **h5_utf8_strings(const void *data, size_t n, char ***owned);
void h5_utf8_free(char **owned, const char **strs, size_t n);
