/* app.c - entry of the workbench. (Being built; see issue 5.) */
#include <stdio.h>

#include "tui/tui.h"

int tui_run(const struct tui_options *opts)
{
    (void)opts;
    fprintf(stderr, "iotbench: the workbench is not built yet; use the subcommands "
                    "(iotbench -h)\n");
    return 1;
}
