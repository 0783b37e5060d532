/* test_layout.c - where the workbench puts things (widgets/layout.c), as pure
 * functions of the terminal size: no overlaps, nothing off screen, tiles
 * covering their area, and a clear "too small" below the minimum. */
#include "tests/lib/harness.h"
#include "widgets/layout.h"

static bool inside(struct rect in, struct rect outer)
{
    return in.y >= outer.y && in.x >= outer.x && in.y + in.h <= outer.y + outer.h &&
           in.x + in.w <= outer.x + outer.w;
}

static bool overlap(struct rect a, struct rect b)
{
    if (a.h <= 0 || a.w <= 0 || b.h <= 0 || b.w <= 0)
        return false;
    return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

TEST(screen_120x40_with_and_without_consoles)
{
    struct layout l;
    struct layout_opts o = {true, true, false, 0, false, false};
    layout_screen(40, 120, &o, &l);
    struct rect screen = {0, 0, 40, 120};
    CHECK(!l.too_small);
    CHECK_INT(l.header.y, 0);
    CHECK_INT(l.status.y, 39);
    CHECK(l.nav.w >= 24 && l.nav.w <= 48);
    CHECK_INT(l.detail.x, l.nav.w + 1);
    CHECK_INT(l.detail.x + l.detail.w, 120);
    CHECK_INT(l.detail.h, 38);
    CHECK_INT(l.consoles.h, 0);
    o.n_consoles = 2;
    layout_screen(40, 120, &o, &l);
    CHECK(l.consoles.h > 20);
    CHECK(!overlap(l.detail, l.consoles));
    CHECK(!overlap(l.nav, l.consoles));
    CHECK(inside(l.consoles, screen));
    CHECK_INT(l.detail.y + l.detail.h, l.consoles.y);
}

TEST(zoom_takes_the_whole_body)
{
    struct layout l;
    struct layout_opts o = {true, true, true, 3, false, false};
    layout_screen(24, 80, &o, &l);
    CHECK_INT(l.consoles.y, 1);
    CHECK_INT(l.consoles.h, 22);
    CHECK_INT(l.consoles.w, 80);
    CHECK_INT(l.nav.w, 0);
    CHECK_INT(l.detail.h, 0);
}

TEST(a_tool_in_the_detail_pane_gets_more_height_and_can_zoom)
{
    struct layout l;
    struct layout_opts o = {true, true, false, 2, false, false};
    layout_screen(40, 120, &o, &l);
    int plain = l.detail.h;
    o.detail_big = true; /* processes or the debugger above the consoles */
    layout_screen(40, 120, &o, &l);
    CHECK(l.detail.h > plain);
    CHECK_INT(l.detail.h, 38 * 3 / 5);
    CHECK(l.consoles.h >= 6);
    CHECK_INT(l.detail.y + l.detail.h, l.consoles.y);
    /* The smallest terminal still leaves the consoles their rows. */
    layout_screen(LAYOUT_MIN_ROWS, LAYOUT_MIN_COLS, &o, &l);
    CHECK(!l.too_small);
    CHECK(l.detail.h >= 8 && l.consoles.h >= 6);
    o.zoom_detail = true;
    layout_screen(24, 80, &o, &l);
    CHECK_INT(l.detail.y, 1);
    CHECK_INT(l.detail.h, 22);
    CHECK_INT(l.detail.w, 80);
    CHECK_INT(l.nav.w, 0);
    CHECK_INT(l.consoles.h, 0);
}

TEST(too_small_below_the_minimum)
{
    struct layout l;
    struct layout_opts o = {true, true, false, 1, false, false};
    layout_screen(12, 40, &o, &l);
    CHECK(l.too_small);
    layout_screen(LAYOUT_MIN_ROWS, LAYOUT_MIN_COLS, &o, &l);
    CHECK(!l.too_small);
    layout_screen(24, 80, &o, &l);
    CHECK(!l.too_small);
}

TEST(tiles_cover_their_area_without_overlap)
{
    struct rect area = {5, 30, 30, 90};
    for (int mode = 0; mode < TILES_N_MODES; mode++) {
        for (int n = 1; n <= 4; n++) {
            struct rect t[LAYOUT_MAX_TILES];
            int k = layout_tiles((enum tiles_mode)mode, n, area, t);
            CHECK(k >= 1 && k <= n);
            long cells = 0;
            for (int i = 0; i < k; i++) {
                CHECK(inside(t[i], area));
                CHECK(t[i].h >= 2 && t[i].w >= 10);
                cells += (long)t[i].h * t[i].w;
                for (int j = 0; j < i; j++)
                    CHECK(!overlap(t[i], t[j]));
            }
            /* Only separator columns (at most 3) are left over. */
            CHECK(cells >= (long)area.h * (area.w - 3));
        }
    }
}

TEST(side_by_side_and_stacked_and_grid_shapes)
{
    struct rect area = {0, 0, 40, 101};
    struct rect t[4];
    CHECK_INT(layout_tiles(TILES_SIDE, 2, area, t), 2);
    CHECK_INT(t[0].y, t[1].y);
    CHECK_INT(t[0].w + 1 + t[1].w, 101);
    CHECK_INT(layout_tiles(TILES_STACK, 2, area, t), 2);
    CHECK_INT(t[0].x, t[1].x);
    CHECK_INT(t[0].h + t[1].h, 40);
    CHECK_INT(layout_tiles(TILES_GRID, 4, area, t), 4);
    CHECK_INT(t[0].y, t[1].y);
    CHECK_INT(t[2].y, t[3].y);
    CHECK_INT(t[0].x, t[2].x);
    CHECK(t[2].y > t[0].y);
    CHECK_INT(layout_tiles(TILES_ONE, 4, area, t), 1);
    CHECK_INT(t[0].w, 101);
    CHECK_INT(layout_mode_parse("grid"), TILES_GRID);
    CHECK_INT(layout_mode_parse("nope"), -1);
}
