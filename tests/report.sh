#!/usr/bin/env bash
# report.sh — bench report end to end: a CPU smoke run and a crafted
# database with hostile names become complete report folders (every figure
# as .gp + .dat + non-empty .png + .svg), stored text is HTML-escaped and
# cannot inject gnuplot commands, the same database gives byte-identical
# output, crossovers (a linear-time family's against flash, block-sparse's
# density against dense flash) and run-vs-run ratios are computed, and bad input
# (missing gnuplot, bad databases, a folder that is not a report) gets one
# line, exit 2, and leaves every file as it was.
set -u
source "$(dirname "$0")/lib.bash"

# Every figure complete: .gp, .dat, non-empty .png and .svg; index.html there.
complete() {    # dir
    local d=$1 ok=1 n=0
    [ -s "$d/index.html" ] || ok=0
    for gp in "$d"/*.gp; do
        [ -e "$gp" ] || continue
        n=$((n + 1))
        for ext in dat png svg; do [ -s "${gp%.gp}.$ext" ] || { ok=0; echo "missing ${gp%.gp}.$ext" >&2; }; done
    done
    [ $n -gt 0 ] && [ $ok -eq 1 ] && [ "$(ls "$d"/*.png | wc -l)" -eq $n ]
}

unchanged() {   # file, md5 before
    [ "$(md5sum <"$1")" = "$2" ]
}

"$B" suite smoke --device cpu --db "$t/a.db" --max-time 0.05 --md "$t/a.md" >/dev/null 2>&1
check "smoke database created" [ -s "$t/a.db" ]
a_sum=$(md5sum <"$t/a.db")

# gnuplot missing: PATH without it. Nothing is written, not even a tmp folder.
mkdir "$t/nognuplot"
PATH="$t/nognuplot" "$B" report --db "$t/a.db" --out "$t/np" >"$t/out" 2>"$t/err"; rc=$?
check "without gnuplot: exit 2 (got $rc)" [ $rc -eq 2 ]
check "without gnuplot: one line naming the package (said: $(head -c 200 "$t/err"))" \
    bash -c "[ \$(wc -l <'$t/err') -eq 1 ] && grep -q 'gnuplot not found; install it (Debian: apt-get install gnuplot-nox)' '$t/err'"
check "no report folder without gnuplot" [ -z "$(ls -d "$t"/np* 2>/dev/null)" ]

# Bad databases: refused with one line, each file byte for byte as it was.
bad 2 "No such file" report --db "$t/none.db" --out "$t/x"
head -c 8192 /dev/urandom >"$t/corrupt.db"; sum=$(md5sum <"$t/corrupt.db")
bad 2 "not a SQLite database" report --db "$t/corrupt.db" --out "$t/x"
check "corrupt database untouched" unchanged "$t/corrupt.db" "$sum"
sqlite3 "$t/other.db" 'CREATE TABLE foo (x); INSERT INTO foo VALUES (1)'; sum=$(md5sum <"$t/other.db")
bad 2 "not a seqbench database" report --db "$t/other.db" --out "$t/x"
check "foreign database untouched" unchanged "$t/other.db" "$sum"
cp "$t/a.db" "$t/newer.db"; sqlite3 "$t/newer.db" 'PRAGMA user_version = 99'; sum=$(md5sum <"$t/newer.db")
bad 2 "schema version 99 is newer" report --db "$t/newer.db" --out "$t/x"
check "newer database untouched" unchanged "$t/newer.db" "$sum"
bad 2 "no run with that id" report --db "$t/a.db" --run 999 --out "$t/x"
bad 2 "expected a run id, latest or all" report --db "$t/a.db" --run newest --out "$t/x"
mkdir "$t/mine"; echo keep >"$t/mine/notes.txt"
bad 2 "is not a previous report" report --db "$t/a.db" --out "$t/mine"
check "a folder that is not a report is kept" grep -q keep "$t/mine/notes.txt"
check "bad input wrote no folder" [ -z "$(ls -d "$t"/x* 2>/dev/null)" ]
check "report --help" grep -q "usage: bench report" <("$B" report --help)

have gnuplot command -v gnuplot || { summary; exit; }

# The smoke run: a complete, self-contained, deterministic folder.
"$B" report --db "$t/a.db" --out "$t/r1" >"$t/out" 2>"$t/err"; rc=$?
check "report of the smoke run exits 0 (got $rc: $(head -c 300 "$t/err"))" [ $rc -eq 0 ]
check "smoke report complete" complete "$t/r1"
check "the database was only read" unchanged "$t/a.db" "$a_sum"
check "no -wal or -shm left beside the database" bash -c "[ ! -e '$t/a.db-wal' ] && [ ! -e '$t/a.db-shm' ]"
check "one table per family" [ "$(grep -c '<table class="data">' "$t/r1/index.html")" -ge 2 ]
check "figures inlined as SVG" [ "$(grep -c '<svg' "$t/r1/index.html")" -eq "$(ls "$t"/r1/*.svg | wc -l)" ]
check "figures link their PNG" grep -q 'href="[0-9]*-latency-flash-fp32-causal.png"' "$t/r1/index.html"
check "no external resource" [ "$(grep -Eci '(src|href)="(https?:)?//' "$t/r1/index.html")" -eq 0 ]
check "latency, throughput, decode, speedup, footprint, roofline figures" \
    bash -c "ls '$t/r1' | grep -q latency && ls '$t/r1' | grep -q throughput && ls '$t/r1' | grep -q decode && ls '$t/r1' | grep -q speedup && ls '$t/r1' | grep -q footprint && ls '$t/r1' | grep -q roofline"
check "no crossover figure without a linear-time family, and a note says so" grep -q 'No crossover figure' "$t/r1/index.html"
check "a leftover tmp folder is not left" [ -z "$(ls -d "$t"/r1.* 2>/dev/null)" ]
# Results short of the sample floor or the noise target: drawn, marked, counted.
cp "$t/a.db" "$t/u.db"
sqlite3 "$t/u.db" "UPDATE results SET status = 'ok: few samples (3 of 10)' WHERE id = (SELECT min(id) FROM results WHERE status GLOB 'ok*' AND family = 'flash');
    UPDATE results SET status = 'ok: noisy (ci95 2.3% > 1%)' WHERE id = (SELECT max(id) FROM results WHERE status GLOB 'ok*' AND family = 'flash')"
"$B" report --db "$t/u.db" --out "$t/u" >/dev/null 2>&1
check "an unreliable ok is marked in its table" grep -q '<td class="st st-unreliable">ok</td><td class="err">few samples (3 of 10)</td>' "$t/u/index.html"
check "a noisy ok says its noise" grep -q '<td class="st st-unreliable">ok</td><td class="err">noisy (ci95 2.3% &gt; 1%)</td>' "$t/u/index.html"
check "the counts say how many" grep -q '<span class="st st-unreliable">[1-9][0-9]* few samples or noisy</span>' "$t/u/index.html"
check "they are still drawn: the same figures as the plain run" [ "$(ls "$t"/u/*.svg | wc -l)" -eq "$(ls "$t"/r1/*.svg | wc -l)" ]
"$B" report --db "$t/a.db" --out "$t/new/dir/r2" 2>/dev/null
check "same database, byte-identical report (parent folders made)" diff -r "$t/r1" "$t/new/dir/r2"
cp -r "$t/r1" "$t/r1.keep"
"$B" report --db "$t/a.db" --out "$t/r1" 2>/dev/null; rc=$?
check "a previous report is replaced (exit $rc)" [ $rc -eq 0 ]
check "replaced report byte-identical" diff -r "$t/r1" "$t/r1.keep"
check "gnuplot re-runs a kept script" bash -c "cd '$t/new/dir/r2' && LC_ALL=C.UTF-8 gnuplot 01-*.gp && cmp 01-*.png '$t/r1'/01-*.png"

# A crafted database: hostile text everywhere, a linear-time family whose
# sweep crosses flash, decode rows, a second run.
"$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/h.db" --max-time 0.05 >/dev/null 2>&1
hostile='<script>alert(1)</script>'
sqlite3 "$t/h.db" <<EOF
DELETE FROM samples; DELETE FROM results;
UPDATE runs SET hostname = '$hostile', command = 'bench "q" & ''s $hostile', gpu_name = 'H"100 & <b>',
    peak_tflops = 100, peak_gbps = 2000;
INSERT INTO results (run_id, created_at, case_str, case_key, family, impl, device, dtype, B, N, Nk, H, Hkv,
    D, Dv, causal, status, error, flops, min_bytes, footprint_bytes, median_ms, tflops, gbps, pct_peak, rel_err)
WITH pts(N, f, l) AS (VALUES (1024, 1, 6), (2048, 4, 12), (4096, 16, 24), (8192, 64, 48)),
     impls(fam, impl) AS (VALUES ('flash', 'fa'), ('linear', 'chunked'), ('flash', '$hostile'),
                                 ('flash', 'it''s \`touch $t/pwned\` @x \$y'))
SELECT 1, 'now', printf('%s/%s fp32 N=%d', fam, impl, N), printf('%s fp32 N=%d', fam, N), fam, impl, 'cpu',
    'fp32', 1, N, N, 4, 4, 64, 64, 1, 'ok', NULL, 1e9 * N / 1024, 1e6 * N / 1024, 1000 * N,
    CASE fam WHEN 'flash' THEN f ELSE l END, 0.5, 100, 0.5, 1e-6
FROM pts, impls;
INSERT INTO results (run_id, created_at, case_str, case_key, family, impl, device, dtype, B, N, Nk, H, Hkv,
    D, Dv, causal, status, error, median_ms)
VALUES (1, 'now', 'flash/fa fp32 decode 1', 'flash fp32 N=1 Nk=4096', 'flash', 'fa', 'cpu', 'fp32', 1, 1,
        4096, 4, 4, 64, 64, 1, 'ok', NULL, 0.5),
       (1, 'now', 'flash/fa fp32 decode 2', 'flash fp32 N=1 Nk=8192', 'flash', 'fa', 'cpu', 'fp32', 1, 1,
        8192, 4, 4, 64, 64, 1, 'ok', NULL, 0.9),
       (1, 'now', '$hostile case', '$hostile', 'flash', 'x', 'cpu', 'fp32', 1, 8, 8, 1, 1, 8, 8, 0,
        'error: $hostile', 'a & b "c" ''d'' <e>', NULL),
       (1, 'now', 'mismatch case', 'flash fp32 N=9', 'flash', 'fa', 'cpu', 'fp32', 1, 9, 9, 1, 1, 8, 8, 0,
        'mismatch', 'rel err 0.5 > 1e-5', NULL),
       (1, 'now', 'long', 'flash fp32 N=1024 long', 'flash', printf('%.*c', 3000, 'x'), 'cpu', 'fp32', 1,
        1024, 1024, 4, 4, 64, 64, 1, 'ok', NULL, 2.0),
       (1, 'now', 'newline', 'flash fp32 N=2048 newline', 'flash',
        'a''' || char(10) || 'system(''touch $t/pwned2'')' || char(10) || '#', 'cpu', 'fp32', 1,
        2048, 2048, 4, 4, 64, 64, 1, 'ok', NULL, 2.0);
EOF
check "crafted rows stored" [ "$(sqlite3 "$t/h.db" 'SELECT count(*) FROM results')" -eq 22 ]
"$B" report --db "$t/h.db" --out "$t/h" >"$t/out" 2>"$t/err"; rc=$?
check "report of the crafted database exits 0 (got $rc: $(head -c 300 "$t/err"))" [ $rc -eq 0 ]
check "crafted report complete" complete "$t/h"
check "hostile text never raw in the page" [ "$(grep -c '<script>alert' "$t/h/index.html")" -eq 0 ]
check "one script element: the sorter" [ "$(grep -o '<script' "$t/h/index.html" | wc -l)" -eq 1 ]
check "hostile hostname shown escaped" grep -q '&lt;script&gt;alert(1)&lt;/script&gt;' "$t/h/index.html"
check "quotes and ampersands escaped" grep -q 'a &amp; b &quot;c&quot; &#39;d&#39; &lt;e&gt;' "$t/h/index.html"
check "no <b> from the GPU name" [ "$(grep -c 'H"100 & <b>' "$t/h/index.html")" -eq 0 ]
check "a quote in a name is doubled in the gnuplot script" grep -q "'it''s " "$t/h"/*latency*.gp
check "backquotes in a name run nothing" [ ! -e "$t/pwned" ]
check "a newline in a name starts no gnuplot command" [ ! -e "$t/pwned2" ]
check "mismatch and error rows coloured" bash -c "grep -q 'st st-mismatch\">mismatch' '$t/h/index.html' && grep -q 'st st-error\">error' '$t/h/index.html'"
check "crossover figure drawn" bash -c "ls '$t/h' | grep -q crossover"
check "crossover at N* = 6144 (log-log interpolation)" grep -q '<td class="num">6144</td>' "$t/h/index.html"
check "crossover marked on the plot" grep -q "set label 'N\* = 6144'" "$t/h"/*crossover*.gp
check "roofline has the compute and bandwidth roofs" bash -c "grep -q 'peak1 = 1.000000e+02' '$t/h'/*roofline*.gp && grep -q 'bw1 = 2.000000e+00' '$t/h'/*roofline*.gp"
check "decode figure drawn" bash -c "ls '$t/h' | grep -q decode-flash-fp32"
check "dat files in the fixed format" bash -c "! grep -hv '^#' '$t/h'/*latency*.dat | grep -v '^\$' | grep -vqE '^( -?[0-9]\.[0-9]{6}e[-+][0-9]{2}| NaN)+\$'"

# A block-sparse density sweep beside dense flash in one run: sparse at 25 %
# takes 5 ms, at 50 % 20 ms, flash 10 ms: the crossover is d* = 37.5 %
# (linear in density, log in latency), and 10 % density takes 0.2 of
# flash's time. A window-flash row of the same shape is no dense line.
"$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/s.db" --max-time 0.05 >/dev/null 2>&1
sqlite3 "$t/s.db" <<EOF
DELETE FROM samples; DELETE FROM results;
INSERT INTO results (run_id, created_at, case_str, case_key, family, impl, device, dtype, B, N, Nk, H, Hkv,
    D, Dv, causal, status, flops, min_bytes, median_ms, tflops, pct_peak, shape_json)
WITH pts(d, ms) AS (VALUES (5, 1), (10, 2), (25, 5), (50, 20), (100, 40))
SELECT 1, 'now', printf('sparse/cuda bf16 density=%d', d), printf('sparse bf16 density=%d', d), 'sparse',
    'cuda', 'cuda:0', 'bf16', 8, 16384, 16384, 16, 16, 128, 128, 1, 'ok', 1e12, 1e9, ms, 1.0, 50,
    printf('{"B":8,"N":16384,"Nk":16384,"H":16,"Hkv":16,"D":128,"Dv":128,"causal":1,"pattern":"random","density":%d,"bq":128,"bk":128}', d)
FROM pts;
INSERT INTO results (run_id, created_at, case_str, case_key, family, impl, device, dtype, B, N, Nk, H, Hkv,
    D, Dv, causal, status, flops, min_bytes, median_ms, tflops, pct_peak, shape_json)
VALUES (1, 'now', 'flash/cuda dense', 'flash bf16 dense', 'flash', 'cuda', 'cuda:0', 'bf16', 8, 16384, 16384,
        16, 16, 128, 128, 1, 'ok', 1e12, 1e9, 10, 1.0, 50,
        '{"B":8,"N":16384,"Nk":16384,"H":16,"Hkv":16,"D":128,"Dv":128,"causal":1}'),
       (1, 'now', 'flash/cuda window', 'flash bf16 window', 'flash', 'cuda', 'cuda:0', 'bf16', 8, 16384, 16384,
        16, 16, 128, 128, 1, 'ok', 1e12, 1e9, 3, 1.0, 50,
        '{"B":8,"N":16384,"Nk":16384,"H":16,"Hkv":16,"D":128,"Dv":128,"causal":1,"window":4096,"sink":64}');
EOF
"$B" report --db "$t/s.db" --out "$t/s" >"$t/out" 2>"$t/err"; rc=$?
check "report of a density sweep exits 0 (got $rc: $(head -c 300 "$t/err"))" [ $rc -eq 0 ]
check "density report complete" complete "$t/s"
check "density figure drawn" bash -c "ls '$t/s' | grep -q 'density-bf16-causal'"
check "crossover density d* = 37.5 % tabulated" grep -q '<td class="num">37.5 %</td><td class="num">0.200</td>' "$t/s/index.html"
check "crossover marked on the density plot" grep -q "set label 'd\* = 37.5 %'" "$t/s"/*density*.gp
check "one dense flash line: the windowed row is none" [ "$(grep -c 'flash/cuda (dense)' "$t/s"/*density*.gp)" -ge 1 ]
check "the windowed row's time is not in the figure's data" bash -c "! grep -q '3.000000e+00' '$t/s'/*density*.dat"

# gnuplot failing: one line naming the script, exit 1, no report and no
# half-written folder left behind.
mkdir "$t/badgnuplot"; printf '#!/bin/sh\necho "line 1: bad thing" >&2\nexit 3\n' >"$t/badgnuplot/gnuplot"
chmod +x "$t/badgnuplot/gnuplot"
PATH="$t/badgnuplot:$PATH" "$B" report --db "$t/h.db" --out "$t/fails" >"$t/out" 2>"$t/err"; rc=$?
check "gnuplot failing: exit 1 (got $rc)" [ $rc -eq 1 ]
check "gnuplot failing: one line with its complaint (said: $(head -c 200 "$t/err"))" \
    bash -c "[ \$(wc -l <'$t/err') -eq 1 ] && grep -q 'gnuplot failed on .*exit 3.*bad thing' '$t/err'"
check "gnuplot failing: nothing left" [ -z "$(ls -d "$t"/fails* 2>/dev/null)" ]

# Ctrl-C while drawing (a gnuplot that interrupts bench, then draws): exit
# 130, the previous report kept as it was, no tmp folder left.
mkdir "$t/intgnuplot"; real=$(command -v gnuplot)
printf '#!/bin/sh\nkill -INT $PPID\nexec %s "$@"\n' "$real" >"$t/intgnuplot/gnuplot"
chmod +x "$t/intgnuplot/gnuplot"
PATH="$t/intgnuplot:$PATH" "$B" report --db "$t/h.db" --out "$t/r1" >"$t/out" 2>"$t/err"; rc=$?
check "interrupted: exit 130 (got $rc: $(head -c 200 "$t/err"))" [ $rc -eq 130 ]
check "interrupted: the previous report is untouched" diff -r "$t/r1" "$t/r1.keep"
check "interrupted: no tmp folder left" [ -z "$(ls -d "$t"/r1.tmp* 2>/dev/null)" ]

# A seqbench database with no run yet.
"$B" run flash --impl cpu --N 16 --H 1 --D 64 --db "$t/empty.db" --max-time 0.05 >/dev/null 2>&1
sqlite3 "$t/empty.db" 'DELETE FROM samples; DELETE FROM results; DELETE FROM runs'
bad 2 "holds no runs" report --db "$t/empty.db" --out "$t/x"

# A schema 3 database (optional columns added) and a schema 1 one (kernel_ms
# absent): read by name, absent columns as NULL.
cp "$t/h.db" "$t/v3.db"
for c in shape_json:TEXT flops_minimal:REAL; do    # absent when h.db predates schema 3
    [ "$(sqlite3 "$t/v3.db" "SELECT count(*) FROM pragma_table_info('results') WHERE name = '${c%:*}'")" = 1 ] ||
        sqlite3 "$t/v3.db" "ALTER TABLE results ADD COLUMN ${c%:*} ${c#*:}"
done
sqlite3 "$t/v3.db" "UPDATE results SET flops_minimal = 2e9 WHERE family = 'linear' AND N = 1024; PRAGMA user_version = 3"
"$B" report --db "$t/v3.db" --out "$t/v3/" 2>/dev/null; rc=$?
check "schema 3 database reported (exit $rc), --out with a trailing slash" [ $rc -eq 0 ]
check "schema 3: minimal TFLOP/s from flops_minimal (2e9 FLOP in 6 ms)" grep -q 'data-v="0.333333333">0.333</td>' "$t/v3/index.html"
cp "$t/h.db" "$t/v1.db"
sqlite3 "$t/v1.db" 'DROP INDEX results_case; ALTER TABLE results DROP COLUMN kernel_ms;
    ALTER TABLE results DROP COLUMN shape_json; ALTER TABLE results DROP COLUMN flops_minimal; PRAGMA user_version = 1'
"$B" report --db "$t/v1.db" --out "$t/v1" 2>/dev/null; rc=$?
check "schema 1 database reported (exit $rc)" [ $rc -eq 0 ]

# Several runs: two databases, and --run all on one holding two runs.
cp "$t/a.db" "$t/b.db"
sqlite3 "$t/b.db" "UPDATE results SET median_ms = median_ms * 2; UPDATE runs SET run_uid = 'second', started_at = '2030-01-01T00:00:00Z'"
b_sum=$(md5sum <"$t/b.db")
"$B" report --db "$t/a.db" "$t/b.db" --out "$t/m" >"$t/out" 2>"$t/err"; rc=$?
check "two-database report exits 0 (got $rc: $(head -c 300 "$t/err"))" [ $rc -eq 0 ]
check "two-database report complete" complete "$t/m"
check "both databases untouched" bash -c "[ \"\$(md5sum <'$t/a.db')\" = '$a_sum' ] && [ \"\$(md5sum <'$t/b.db')\" = '$b_sum' ]"
fams=$(sqlite3 "$t/a.db" "SELECT count(DISTINCT family) FROM results WHERE status GLOB 'ok*'")  # ok: few samples/noisy are drawn too
check "ratio bars per family ($fams)" [ "$(ls "$t"/m/*-ratio-*.png | wc -l)" -eq "$fams" ]
check "runs compared section" grep -q 'id="compare"' "$t/m/index.html"
check "geomean table: run 2 is 2.000x run 1" grep -q 'data-v="2">2.000</td>' "$t/m/index.html"
check "ratio bars at 2" bash -c "grep -h '^\"' '$t'/m/*-ratio-flash*.dat | awk '{print \$NF}' | sort -u | grep -qx '2.000000e+00'"
"$B" run flash --impl cpu,ref --N 32 --H 1 --D 64 --db "$t/two.db" --max-time 0.05 >/dev/null 2>&1
"$B" run flash --impl cpu,ref --N 32 --H 1 --D 64 --db "$t/two.db" --max-time 0.05 >/dev/null 2>&1
"$B" report --db "$t/two.db" --run all --out "$t/all" 2>/dev/null; rc=$?
check "--run all exits 0 (got $rc)" [ $rc -eq 0 ]
check "--run all compares the two runs" grep -q 'run 2 / run 1' "$t/all/index.html"
"$B" report --db "$t/two.db" --run 1 --out "$t/one" 2>/dev/null
check "--run ID picks that run only" bash -c "grep -q '1 run from' '$t/one/index.html' && grep -q '<span>2 results:</span>' '$t/one/index.html'"

summary
