/* test_theme.c - the shipped themes (the files of themes/) on terminals with few
 * colours (widgets/theme.c, widgets/palette.c): folded to 8 or 16, every
 * element's text keeps a colour of its own, never its background's (a
 * default background is the theme's normal one, or a dark terminal's). */
#include <stdio.h>

#include "tests/lib/harness.h"
#include "widgets/palette.h"
#include "widgets/theme.h"

static void check_theme(const char *name, int depth)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/themes/%s.theme", test_src_dir(), name);
    struct theme th;
    struct ib_error err = {0};
    CHECK_MSG(theme_load_file(&th, path, &err) == 0, "%s: %s", path, err.msg);
    theme_set_current(&th);
    palette_set_depth(depth);
    int nfg, nbg;
    theme_colours(TH_NORMAL, &nfg, &nbg);
    for (int e = 0; e < TH_N; e++) {
        int fg, bg;
        theme_colours((enum th_element)e, &fg, &bg);
        int under = bg >= 0 ? bg : nbg >= 0 ? nbg : 0;
        CHECK_MSG(fg < 0 || fg != under, "%s at %d colours: %s is colour %d on %d", name, depth,
                  theme_element_name((enum th_element)e), fg, under);
        CHECK_MSG(fg < depth && bg < depth, "%s at %d colours: %s is %d on %d", name, depth,
                  theme_element_name((enum th_element)e), fg, bg);
    }
}

TEST(every_element_stays_readable_on_8_and_16_colours)
{
    static const char *const THEMES[] = {"dark", "light", "mono"};
    for (int i = 0; i < 3; i++) {
        check_theme(THEMES[i], 8);
        check_theme(THEMES[i], 16);
    }
}

/* The folds the review found, named: dim greys that used to vanish. */
TEST(light_dim_greys_turn_black_and_dark_ones_white_on_8_colours)
{
    char path[4200];
    struct theme th;
    struct ib_error err = {0};
    snprintf(path, sizeof path, "%s/themes/light.theme", test_src_dir());
    CHECK(theme_load_file(&th, path, &err) == 0);
    theme_set_current(&th);
    palette_set_depth(8);
    int fg, bg;
    static const enum th_element LIGHT[] = {TH_DIM, TH_BORDER, TH_TIMELINE_TODO, TH_PROC_KERNEL,
                                            TH_PROGRESS_TODO};
    for (int i = 0; i < 5; i++) {
        theme_colours(LIGHT[i], &fg, &bg);
        CHECK_INT(fg, 0);
        CHECK_INT(bg, 7);
    }
    snprintf(path, sizeof path, "%s/themes/dark.theme", test_src_dir());
    CHECK(theme_load_file(&th, path, &err) == 0);
    theme_set_current(&th);
    /* On the dark terminal's black: 240 folded to black, moved to white. */
    theme_colours(TH_BORDER, &fg, &bg);
    CHECK_INT(fg, 7);
    theme_colours(TH_TIMELINE_TODO, &fg, &bg);
    CHECK(fg > 0);
}
