# lib.bash — what the shell tests share (sourced, so not named *.sh, which
# tests/run.sh would run as a test): the bench under test ($B), counters,
# check/skip/bad and the summary line tests/run.sh reads, and a scratch
# folder $t removed on exit (kept, and named by $KEEP, when KEEP is set).
B=${BENCH:-bin/bench}
TEST_NAME=$(basename "$0")
pass=0; fail=0; skip=0

check() {   # description, then a command that must succeed
    local what=$1; shift
    if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL $TEST_NAME: $what" >&2; fi
}

skip() { skip=$((skip + 1)); echo "SKIP $TEST_NAME: $*" >&2; }

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
