# kernel_attrs.awk — ptxas -v reports (build/**/*.ptxas) to the rows of
# ops/sim/runtime.cpp's kernel table: { "mangled name", "sm_XY", registers,
# static shared memory bytes }. A kernel's entry line names it and its
# architecture; its "Used N registers[, ..., S bytes smem]" line follows.
/Compiling entry function/ {
    match($0, /function '[^']*'/); fn = substr($0, RSTART + 10, RLENGTH - 11)
    match($0, /for '[^']*'/); arch = substr($0, RSTART + 5, RLENGTH - 6)
    next
}
/Used [0-9]+ registers/ && fn != "" {
    regs = $0; sub(/.*Used /, "", regs); sub(/ registers.*/, "", regs)
    smem = 0
    if (match($0, /[0-9]+ bytes smem/)) { smem = substr($0, RSTART, RLENGTH); sub(/ .*/, "", smem) }
    printf "    { \"%s\", \"%s\", %d, %d },\n", fn, arch, regs, smem
    fn = ""
}
