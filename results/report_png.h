// A PNG of RGB pixels, as base64 text for a data: URI (the large-grid heatmap): stored deflate blocks
// (no compression library needed; the picture is at most a few hundred pixels a side).
#pragma once
// rgb[(y * w + x) * 3 + c]; returns a malloc'd NUL-terminated base64 string.
char *png_rgb_base64(const unsigned char *rgb, int w, int h);
