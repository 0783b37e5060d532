/* palette.c - see palette.h. */
#include "widgets/palette.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

static int depth;
static unsigned generation = 1;
/* (fg + 1) * 257 + (bg + 1) -> pair; 0 means not allocated yet. */
static int pair_cache[257 * 257];
static int pairs_used;

/* xterm's 16 system colours, as most terminals show them. */
static const unsigned char BASE16[16][3] = {
    {0, 0, 0},     {205, 0, 0},     {0, 205, 0},     {205, 205, 0},   {0, 0, 238}, {205, 0, 205},
    {0, 205, 205}, {229, 229, 229}, {127, 127, 127}, {255, 0, 0},     {0, 255, 0}, {255, 255, 0},
    {92, 92, 255}, {255, 0, 255},   {0, 255, 255},   {255, 255, 255},
};
static const int CUBE[6] = {0, 95, 135, 175, 215, 255};

void palette_set_depth(int d)
{
    depth = d;
    memset(pair_cache, 0, sizeof pair_cache);
    pairs_used = 0;
    generation++;
}

void palette_init(bool no_color)
{
    int d = 0;
    if (!no_color && has_colors()) {
        if (COLORS >= 256)
            d = 256;
        else if (COLORS >= 16)
            d = 16;
        else if (COLORS >= 8)
            d = 8;
    }
    if (d > 0)
        use_default_colors();
    palette_set_depth(d);
}

int palette_depth(void)
{
    return depth;
}

unsigned palette_generation(void)
{
    return generation;
}

void palette_256_to_rgb(int c, int *r, int *g, int *b)
{
    if (c < 0 || c > 255)
        c = 7;
    if (c < 16) {
        *r = BASE16[c][0], *g = BASE16[c][1], *b = BASE16[c][2];
    } else if (c < 232) {
        c -= 16;
        *r = CUBE[c / 36], *g = CUBE[(c / 6) % 6], *b = CUBE[c % 6];
    } else {
        *r = *g = *b = 8 + (c - 232) * 10;
    }
}

static int dist2(int r1, int g1, int b1, int r2, int g2, int b2)
{
    return (r1 - r2) * (r1 - r2) + (g1 - g2) * (g1 - g2) + (b1 - b2) * (b1 - b2);
}

static int cube_index(int v)
{
    if (v < 48)
        return 0;
    if (v < 115)
        return 1;
    return (v - 35) / 40;
}

int palette_rgb_to_256(int r, int g, int b)
{
    int ri = cube_index(r), gi = cube_index(g), bi = cube_index(b);
    int cube = 16 + 36 * ri + 6 * gi + bi;
    int cd = dist2(r, g, b, CUBE[ri], CUBE[gi], CUBE[bi]);
    int avg = (r + g + b) / 3;
    int gray_i = avg > 238 ? 23 : (avg < 8 ? 0 : (avg - 8) / 10);
    int gv = 8 + gray_i * 10;
    int gd = dist2(r, g, b, gv, gv, gv);
    return gd < cd ? 232 + gray_i : cube;
}

static int nearest_of(int c, int n)
{
    int r, g, b;
    palette_256_to_rgb(c, &r, &g, &b);
    int best = 0, bestd = 1 << 30;
    for (int i = 0; i < n; i++) {
        int d = dist2(r, g, b, BASE16[i][0], BASE16[i][1], BASE16[i][2]);
        if (d < bestd)
            bestd = d, best = i;
    }
    return best;
}

int palette_fold(int c)
{
    if (c < 0 || depth == 0)
        return -1;
    if (c > 255)
        c = 255;
    if (depth >= 256 || c < depth)
        return c;
    if (c < 16) /* bright system colour on an 8-colour terminal */
        return c - 8;
    return nearest_of(c, depth);
}

int palette_pair(int fg, int bg)
{
    if (depth == 0 || (fg < 0 && bg < 0))
        return 0;
    if (fg > 255 || fg < -1)
        fg = -1;
    if (bg > 255 || bg < -1)
        bg = -1;
    int key = (fg + 1) * 257 + (bg + 1);
    if (pair_cache[key] > 0)
        return pair_cache[key];
    if (pairs_used + 2 >= COLOR_PAIRS) {
        /* Full: start again rather than let alloc_pair() recolour cells on
         * screen behind our back; the generation tells widgets to redraw. */
        reset_color_pairs();
        memset(pair_cache, 0, sizeof pair_cache);
        pairs_used = 0;
        generation++;
    }
    int p = alloc_pair(fg, bg);
    if (p <= 0)
        return 0;
    pairs_used++;
    pair_cache[key] = p;
    return p;
}
