// Strings made valid UTF-8 for the results file (results/h5utf8.h).
#include "results/h5utf8.h"
#include <stdlib.h>
#include <string.h>
#include "engine/util.h"

// Length of the valid UTF-8 sequence at p, 0 if there is none (overlong, surrogate, > U+10FFFF).
static int utf8_seq(const unsigned char *p) {
    if (p[0] < 0x80) return 1;
    int n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 && p[0] < 0xe0 ? 2 : 0;
    if (n == 4 && p[0] > 0xf4) return 0;
    for (int i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) return 0;
    if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))) return 0;
    return n;
}

// The file declares its strings UTF-8 and h5netcdf decodes them, but hosts, messages and labels may
// hold any bytes: invalid ones become '?'. Returns the strings to write; *owned the copies made.
const char **h5_utf8_strings(const void *data, size_t n, char ***owned) {
    const char *const *in = data;
    const char **out = xmalloc((n + 1) * sizeof(char *));
    *owned = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const unsigned char *s = (const unsigned char *)(in[i] ? in[i] : "");
        size_t k = 0, len = strlen((const char *)s);
        int m;
        while (k < len && (m = utf8_seq(s + k)) > 0) k += (size_t)m;
        out[i] = (const char *)s;
        if (k == len) continue;
        char *c = xmalloc(len + 1);
        size_t o = 0;
        for (k = 0; k < len;) {
            m = utf8_seq(s + k);
            if (m > 0) { memcpy(c + o, s + k, (size_t)m); o += (size_t)m; k += (size_t)m; }
            else { c[o++] = '?'; k++; }
        }
        c[o] = 0;
        out[i] = (*owned)[i] = c;
    }
    return out;
}

void h5_utf8_free(char **owned, const char **strs, size_t n) {
    for (size_t i = 0; i < n; i++) free(owned[i]);
    free(owned);
    free(strs);
}
