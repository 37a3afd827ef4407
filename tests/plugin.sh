#!/usr/bin/env bash
# plugin.sh — users' own implementations through --plugin PATH.so: the
# worked example of docs/plugins.md (docs/examples/flash_plugin.c), built
# here with gcc, is listed, validated, timed and stored like a built-in
# implementation, in a run, a verify and a suite; every --help names
# --plugin; a library that cannot be loaded, has no table, was built for
# another ABI or against other structures, or names an unknown family, a
# taken name or no run function is one line and exit 2, with nothing run.
set -u
. "$(dirname "$0")/lib.bash"

have "gcc" command -v gcc || { summary; exit; }
so=$t/flash_plugin.so
gcc -O2 -Wall -Wextra -Werror -shared -fPIC -fopenmp -I "$ROOT/harness" \
    "$ROOT/docs/examples/flash_plugin.c" -o "$so" 2>"$t/cc"
check "the example builds without a warning ($(head -c 300 "$t/cc"))" [ -s "$so" ] && [ ! -s "$t/cc" ]

for c in run suite verify list; do
    "$B" "$c" --help >"$t/help" 2>&1
    check "bench $c --help shows --plugin" grep -q -- '--plugin PATH.so' "$t/help"
done

"$B" list impls --plugin "$so" >"$t/impls" 2>"$t/err"; rc=$?
check "list impls --plugin: exit 0 (got $rc: $(head -c 200 "$t/err"))" [ $rc -eq 0 ]
check "list impls --plugin: its row names the library" \
    grep -q "^| flash/plugin-rows | cpu | fp32 bf16 | plugin $so | an example plugin" "$t/impls"
check "list impls without it: no such row" bash -c "! '$B' list impls | grep -q plugin-rows"

"$B" run flash --plugin "$so" --impl plugin-rows,cpu --N 77 --Nk 100 --H 4 --Hkv 2 --D 32 --causal \
    --dtype bf16 --db "$t/p.db" --max-time 0.3 >"$t/out" 2>"$t/err"; rc=$?
check "run --plugin: exit 0 (got $rc: $(head -c 300 "$t/err"))" [ $rc -eq 0 ]
check "run --plugin: the plugin's row is ok beside flash/cpu" \
    bash -c "grep -q '^| flash/plugin-rows bf16 B=1 N=77 Nk=100 H=4 Hkv=2 D=32 Dv=32 causal | ok' '$t/out' &&
             grep -q '^| flash/cpu bf16' '$t/out'"
check "run --plugin: stored, validated, timed" \
    [ "$(sqlite3 "$t/p.db" "SELECT status LIKE 'ok%' AND rel_err < 1e-2 AND n_samples >= 1 AND flops > 0
         FROM results WHERE impl = 'plugin-rows'")" = 1 ]
"$B" verify --plugin "$so" --impl plugin-rows >"$t/out" 2>"$t/err"; rc=$?
check "verify --plugin: every edge shape ok (got $rc: $(tail -n 1 "$t/err"))" \
    bash -c "[ $rc -eq 0 ] && grep -qE '^verify: [1-9][0-9]* ok, 0 failed, 0 skipped' '$t/err'"
printf 'name = plug\n[flash]\nimpls = plugin-rows\nN = 32 48\nH = 2\nD = 16\n' >"$t/plug.suite"
"$B" suite "$t/plug.suite" --plugin "$so" --device cpu --db "$t/s.db" --max-time 0.2 >"$t/out" 2>"$t/err"; rc=$?
check "suite --plugin: exit 0, both cases ok (got $rc: $(tail -n 1 "$t/err"))" \
    bash -c "[ $rc -eq 0 ] && [ \$(sqlite3 '$t/s.db' \"SELECT count(*) FROM results WHERE impl = 'plugin-rows' AND status LIKE 'ok%'\") = 2 ]"
# Isolated, each case is a child bench: it gets the --plugin too.
"$B" suite "$t/plug.suite" --plugin "$so" --device cpu --isolate --db "$t/i.db" --max-time 0.2 >"$t/out" 2>"$t/err"; rc=$?
check "suite --plugin --isolate: the children load it, both cases ok (got $rc: $(tail -n 1 "$t/err"))" \
    bash -c "[ $rc -eq 0 ] && [ \$(sqlite3 '$t/i.db' \"SELECT count(*) FROM results WHERE impl = 'plugin-rows' AND status LIKE 'ok%'\") = 2 ]"

# ---- refused, one line each, exit 2 ---------------------------------------------------
bad 2 "--plugin $t/none.so: cannot load it: " run flash --plugin "$t/none.so" --no-db
echo "not a library" >"$t/text.so"
bad 2 "--plugin $t/text.so: cannot load it: " list impls --plugin "$t/text.so"
declare -A why=(
    [1]="built for plugin ABI 99, this bench has ABI 2"
    [2]="built against another seqbench.h (struct sizes impl 8"
    [3]="implementation 0 (bad): unknown family 'nosuch'"
    [4]="flash/cpu already exists"
    [5]="flash/bad: no run function"
    [6]="flash/bad is named twice"
    [7]="no symbol 'seqbench_plugin' (not a seqbench plugin"
)
for n in 1 2 3 4 5 6 7; do
    gcc -O2 -shared -fPIC -DBAD=$n -I "$ROOT/harness" "$ROOT/tests/plugins/bad.c" -o "$t/bad$n.so"
    bad 2 "${why[$n]}" run flash --plugin "$t/bad$n.so" --impl cpu --no-db
done
bad 2 "flash/plugin-rows already exists" run flash --plugin "$so" --plugin "$so" --no-db
summary
