# lib.bash — what the shell tests share (sourced, so not named *.sh, which
# tests/run.sh would run as a test): the bench under test ($B), counters,
# check/skip_no_gpu/bad and the summary line tests/run.sh reads, the tools
# make test installs (have, the Pythons and numpy_run), and a scratch folder
# $t removed on exit (kept, and named by $KEEP, when KEEP is set).
B=${BENCH:-bin/bench}
TEST_NAME=$(basename "$0")
pass=0; fail=0; skip=0

check() {   # description, then a command that must succeed
    local what=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $TEST_NAME: $what" >&2; fi
}

# A check that could not run here, with the reason. The only reason
# tests/run.sh accepts is the want of a GPU, so use skip_no_gpu (under
# CI=true any other skip fails the run); a missing tool is no reason to
# skip: `have` installs it or fails.
skip() { skip=$((skip + 1)); echo "SKIP $TEST_NAME: $*" >&2; }
skip_no_gpu() { skip "no GPU: $*"; }

# What the checks run that make test installs (scripts/deps.sh --test), found
# where that script puts it, never taken from PATH alone: `python3` on PATH
# may be another Python (pyenv's, say) without NumPy.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/.tools
PY=${SB_PYTHON:-/usr/bin/python3}       # Debian's: python3-numpy (1.24 on Debian 12), python3-yaml
NUMPY_PYS=("$PY" "$TOOLS/venv/bin/python")  # every NumPy check runs under both: 1.x and 2.x
_deps_ran=0

# have WHAT CMD...: true when CMD succeeds; else runs scripts/deps.sh --test
# once and tries again; else counts a failure naming WHAT.
have() {
    local what=$1; shift
    "$@" >/dev/null 2>&1 && return 0
    if [ $_deps_ran -eq 0 ]; then
        _deps_ran=1
        echo "$TEST_NAME: $what missing: running scripts/deps.sh --test" >&2
        bash "$ROOT/scripts/deps.sh" --test >&2
        "$@" >/dev/null 2>&1 && return 0
    fi
    fail=$((fail + 1)); echo "FAIL $TEST_NAME: $what not found, and scripts/deps.sh --test did not install it" >&2
    return 1
}

# Both NumPy interpreters of NUMPY_PYS, importing NumPy (the second one 2.x).
have_numpy() {
    have "NumPy for $PY" "$PY" -c 'import numpy' &&
        have "NumPy 2 in $TOOLS/venv" "${NUMPY_PYS[1]}" -c 'import numpy, sys; sys.exit(int(numpy.__version__.split(".")[0]) < 2)'
}

# numpy_run SCRIPT ARGS...: the Python check under each NumPy, its counts
# added to this test's: its last line "N passed, M failed", or else one
# "ok …" / "FAIL …" line per case. A crash is a failure whatever passed
# before it.
numpy_run() {
    local py ver rc last p f
    for py in "${NUMPY_PYS[@]}"; do
        ver=$("$py" -c 'import numpy; print(numpy.__version__)' 2>/dev/null)
        "$py" "$@" >"$t/py.out" 2>"$t/py.err"; rc=$?
        last=$(tail -n 1 "$t/py.out")
        if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
            p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}
        else
            p=$(grep -c '^ok' "$t/py.out"); f=$(grep -c '^FAIL' "$t/py.out")
        fi
        pass=$((pass + p)); fail=$((fail + f))
        cat "$t/py.out" "$t/py.err" | grep '^FAIL' | sed "s|^FAIL *|FAIL $TEST_NAME (NumPy $ver): |" | head -n 40 >&2
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
            fail=$((fail + 1))
            echo "FAIL $TEST_NAME (NumPy $ver): $(basename "$1") exited $rc after $p passed:" >&2
            tail -n 5 "$t/py.err" >&2
        fi
    done
}

# One line on stderr, the expected exit code, and the phrase that explains it.
bad() {     # expected-exit, phrase, args...
    local want=$1 phrase=$2; shift 2
    "$B" "$@" >"$t/out" 2>"$t/err"; local rc=$?
    check "bench $* exits $want (got $rc)" [ "$rc" -eq "$want" ]
    check "bench $*: one line on stderr (got $(wc -l <"$t/err"))" [ "$(wc -l <"$t/err")" -eq 1 ]
    check "bench $*: says '$phrase' (said: $(head -c 200 "$t/err"))" grep -q -- "$phrase" "$t/err"
}

# The last line tests/run.sh reads; the exit status says whether all passed.
summary() {
    if [ $skip -gt 0 ]; then echo "$pass passed, $fail failed, $skip skipped"; else echo "$pass passed, $fail failed"; fi
    [ $fail -eq 0 ]
}

t=${KEEP:-$(mktemp -d)}; [ -n "${KEEP:-}" ] || trap 'rm -rf "$t"' EXIT
