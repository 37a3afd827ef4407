#!/usr/bin/env bash
# browser.sh — the report in a real browser: headless Chromium renders the
# smoke run's index.html to a PNG and dumps the DOM after the inline script
# ran. Checks: the page logs nothing to the console (a planted error proves
# the check sees one), one section and one sortable table per family, every
# figure present as inline SVG, and a header click sorts its column.
# Chromium and gnuplot come from scripts/deps.sh --test (make test runs it).
set -u
source "$(dirname "$0")/lib.bash"
find_chromium() { CHROMIUM=$(command -v chromium || command -v chromium-browser); }
have chromium find_chromium && have gnuplot command -v gnuplot && have "python3 (Debian's)" "$PY" -c '' ||
    { summary; exit; }

# Headless, no GPU, no network or first-run work; --no-sandbox because CI
# runs as root.
browse() {  # extra chromium arguments...
    timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-first-run --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --hide-scrollbars \
        --user-data-dir="$(mktemp -d -p "$t")" --enable-logging=stderr --v=0 "$@"
}
# Console output of the page: Chromium logs each message as INFO:CONSOLE,
# uncaught exceptions included. The report's script logs nothing at all.
console() { grep -E ':CONSOLE|Uncaught' "$1"; }

"$B" suite smoke --device cpu --db "$t/a.db" --max-time 0.05 --md "$t/a.md" >/dev/null 2>&1
"$B" report --db "$t/a.db" --out "$t/r" >/dev/null 2>"$t/err"; rc=$?
check "report written (exit $rc: $(head -c 200 "$t/err"))" [ $rc -eq 0 ]
page="file://$t/r/index.html"

browse --window-size=1400,3000 --screenshot="$t/shot.png" "$page" >/dev/null 2>"$t/shot.err"; rc=$?
check "screenshot taken (exit $rc)" [ $rc -eq 0 ]
check "screenshot is a 1400x3000 PNG" \
    [ "$(od -An -tx1 -j16 -N8 "$t/shot.png" 2>/dev/null | tr -d ' \n')" = "00000578"00000bb8 ]
check "screenshot has content ($(stat -c %s "$t/shot.png" 2>/dev/null) bytes)" \
    [ "$(stat -c %s "$t/shot.png" 2>/dev/null || echo 0)" -gt 50000 ]

browse --virtual-time-budget=3000 --dump-dom "$page" >"$t/dom.html" 2>"$t/dom.err"; rc=$?
check "DOM dumped (exit $rc)" [ $rc -eq 0 ]
check "no console message or uncaught error: $(console "$t/dom.err" | head -3)" \
    bash -c "! grep -qE ':CONSOLE|Uncaught' '$t/dom.err' && ! grep -qE ':CONSOLE|Uncaught' '$t/shot.err'"
families=$(sqlite3 "$t/a.db" 'SELECT count(DISTINCT family) FROM results')
check "one section per family ($families)" [ "$(grep -o '<section id="family-[0-9]*"' "$t/dom.html" | wc -l)" -eq "$families" ]
check "one results table per family" [ "$(grep -o '<table class="data">' "$t/dom.html" | wc -l)" -eq "$families" ]
check "every figure inline as SVG" [ "$(grep -o '<svg' "$t/dom.html" | wc -l)" -eq "$(ls "$t"/r/*.svg | wc -l)" ]
check "every figure links its PNG" [ "$(grep -o 'href="[^"]*\.png"' "$t/dom.html" | wc -l)" -eq "$(ls "$t"/r/*.png | wc -l)" ]
check "the sort script ran (headers got titles)" grep -q 'title="sort by median ms"' "$t/dom.html"

# A planted console error is seen: the check above can fail.
sed 's|</body>|<script>undefinedFunction();</script></body>|' "$t/r/index.html" >"$t/r/planted.html"
browse --virtual-time-budget=3000 --dump-dom "file://$t/r/planted.html" >/dev/null 2>"$t/planted.err"
check "a planted error is reported by Chromium" grep -q 'Uncaught ReferenceError' "$t/planted.err"

# A click on "median ms" sorts the first table ascending, rows without a
# value last.
sed 's|</body>|<script>document.querySelectorAll("table.data")[0].tHead.rows[0].cells[5].click();</script></body>|' \
    "$t/r/index.html" >"$t/r/click.html"
browse --virtual-time-budget=3000 --dump-dom "file://$t/r/click.html" >"$t/click.html" 2>/dev/null
check "the clicked header says ascending" grep -q 'aria-sort="ascending"' "$t/click.html"
check "first table sorted by median, empty last" "$PY" - "$t/click.html" <<'EOF'
import re, sys
table = re.search(r'<table class="data">(.*?)</table>', open(sys.argv[1]).read(), re.S).group(1)
rows = re.findall(r'<tr[^>]*>(.*?)</tr>', table.split('<tbody>')[1], re.S)
vals = [re.findall(r'data-v="([^"]*)"', r)[0] for r in rows]
nums = [float(v) for v in vals if v]
ok = nums == sorted(nums) and len(nums) > 1 and all(v == '' for v in vals[len(nums):])
sys.exit(0 if ok else 1)
EOF
summary
