/*
 * symbols.cpp — what the CPU runner reads from the executable's symbols:
 * a kernel's name (the unqualified name of its symbol, as a SASS listing
 * shows it, and its template arguments), its template __shared__ variables,
 * and the statistics kept per kernel name.
 */
#include <cxxabi.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "runtime.h"
#include "symbols.h"

namespace {

/* A kernel's static __shared__ variables. The section above holds those of
 * ordinary functions, but a template's function-local statics are COMDAT
 * and GCC keeps them out of any named section; their symbols name them
 * ("_ZZ" + the kernel's mangled name without "_Z" + "E" + the variable),
 * so the symbol table of the executable finds them. */
struct static_sym {
    std::string name;
    char *addr;
    size_t size;
};
std::vector<static_sym> statics;       /* every "_ZZ..." object of the executable, by name */
std::map<const void *, std::vector<sb_sim_region>> kernel_statics;

int main_object_base(struct dl_phdr_info *info, size_t, void *out)
{
    *(uintptr_t *)out = info->dlpi_addr;   /* the first object is the executable */
    return 1;
}

void load_statics(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    uintptr_t base = 0;
    dl_iterate_phdr(main_object_base, &base);
    const int fd = open("/proc/self/exe", O_RDONLY);
    if (fd < 0)
        return;
    const off_t len = lseek(fd, 0, SEEK_END);
    char *f = (char *)mmap(nullptr, (size_t)len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (f == MAP_FAILED)
        return;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_SYMTAB)
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(f + sh[i].sh_offset);
        const char *str = f + sh[sh[i].sh_link].sh_offset;
        for (size_t k = 0; k < sh[i].sh_size / sizeof *sym; k++)
            if (ELF64_ST_TYPE(sym[k].st_info) == STT_OBJECT && sym[k].st_size &&
                strncmp(str + sym[k].st_name, "_ZZ", 3) == 0)
                statics.push_back({ str + sym[k].st_name, (char *)(base + sym[k].st_value),
                                    (size_t)sym[k].st_size });
    }
    munmap(f, (size_t)len);
    std::sort(statics.begin(), statics.end(),
              [](const static_sym &a, const static_sym &b) { return a.name < b.name; });
}

} // namespace

const std::vector<sb_sim_region> &sb_sim_kernel_statics(const void *kernel, const char *mangled)
{
    auto it = kernel_statics.find(kernel);
    if (it != kernel_statics.end())
        return it->second;
    std::vector<sb_sim_region> &r = kernel_statics[kernel];
    if (mangled && strncmp(mangled, "_Z", 2) == 0) {
        load_statics();
        const std::string prefix = std::string("_ZZ") + (mangled + 2) + "E";
        auto lo = std::lower_bound(statics.begin(), statics.end(), prefix,
                                   [](const static_sym &a, const std::string &p) { return a.name < p; });
        for (; lo != statics.end() && lo->name.compare(0, prefix.size(), prefix) == 0; ++lo)
            r.push_back({ lo->addr, lo->size });
    }
    return r;
}


/* ---- kernel names and statistics --------------------------------------------------------- */

namespace {

/* "flash_fwd_kernel" from "_Z16flash_fwd_kernelIfLi64EEvPKT_...", the last
 * component of a nested name, or an extern "C" name as it is. */
std::string plain_name(const char *m)
{
    if (strncmp(m, "_Z", 2) != 0)
        return m;
    const char *p = m + 2;
    bool nested = *p == 'N';
    if (nested)
        p++;
    std::string last;
    while (*p >= '0' && *p <= '9') {
        char *end;
        const long len = strtol(p, &end, 10);
        if ((long)strlen(end) < len)
            break;
        last.assign(end, (size_t)len);
        p = end + len;
        if (!nested || *p == 'E' || *p == 'I')
            break;
    }
    return last.empty() ? std::string(m) : last;
}

/* "<float, 64>" from the demangled name, or "". */
std::string template_args(const char *m)
{
    int status = 0;
    char *d = abi::__cxa_demangle(m, nullptr, nullptr, &status);
    std::string r;
    if (d && status == 0) {
        const std::string s(d);
        const size_t lt = s.find('<'), paren = s.find('(');
        if (lt != std::string::npos && (paren == std::string::npos || lt < paren)) {
            int depth = 0;
            size_t i = lt;
            for (; i < s.size(); i++) {
                depth += s[i] == '<' ? 1 : s[i] == '>' ? -1 : 0;
                if (depth == 0)
                    break;
            }
            r = s.substr(lt, i - lt + 1);
        }
    }
    free(d);
    return r;
}

struct stats_entry {
    sb_sim_kernel_stats s;
    std::string devices, variants;
};
std::map<std::string, stats_entry> stats;

void add_word(std::string &list, const std::string &w)
{
    if (w.empty())
        return;
    if ((" " + list + " ").find(" " + w + " ") == std::string::npos)
        list += (list.empty() ? "" : " ") + w;
}

} // namespace

sb_sim_kernel_stats &sb_sim_stats_of(const char *name, const char *mangled, const char *device)
{
    stats_entry &st = stats[name];
    add_word(st.devices, device);
    if (mangled) {
        std::string w;          /* one word per variant in the list */
        for (char c : template_args(mangled))
            if (c != ' ')
                w += c;
        add_word(st.variants, w);
    }
    return st.s;
}

const char *sb_sim_kernel_name(const void *fn, char *buf, size_t n)
{
    const char *m = sb_rt_symbol(fn);
    if (m)
        snprintf(buf, n, "%s", plain_name(m).c_str());
    else
        snprintf(buf, n, "?");
    return buf;
}

void sb_sim_each_kernel(void (*fn)(const sb_sim_kernel_stats *, void *), void *arg)
{
    for (auto &kv : stats) {
        stats_entry &e = kv.second;
        e.s.name = kv.first.c_str();
        snprintf(e.s.devices, sizeof e.s.devices, "%s", e.devices.c_str());
        snprintf(e.s.variants, sizeof e.s.variants, "%s", e.variants.c_str());
        fn(&e.s, arg);
    }
}

