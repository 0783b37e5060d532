#!/bin/sh
# tests/valgrind.sh TEST... - runs unit test programs (built without
# sanitizers) under valgrind's memcheck: any leak or invalid access fails.
# Only the test process itself is checked: children forked by the tests
# (and _exit-ing) would report their parent's memory as theirs.
set -u
pass=0
fail=0
for t in "$@"; do
    log=$(mktemp)
    if valgrind -q --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
        --child-silent-after-fork=yes --log-file="$log.vg" "$t" >"$log" 2>&1; then
        pass=$((pass + 1))
        echo "ok   $t"
    else
        fail=$((fail + 1))
        echo "FAIL $t"
        tail -n 5 "$log"
    fi
    [ -s "$log.vg" ] && { echo "  valgrind says:"; head -n 40 "$log.vg"; }
    rm -f "$log" "$log.vg"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
