# seqbench — one Makefile.
#
#   make              bin/bench (CPU-only when nvcc is not found)
#   make test         every test (installing what they need: scripts/deps.sh
#                     --test); the last line is "N passed, M failed[, K skipped]"
#   make long-context the main job: bench suite long-context -> results/bench.db,
#                     bench report -> results/report/index.html
#   make V=1          show the commands
#   make CUDA_ARCHS="90a"          build fewer GPU targets (CI)
#   make build/ops/flash/flash_fwd.ptx | .sass   inspect a kernel (ptxas -v
#                     output is always in build/ops/<family>/<file>.ptxas)
#
# nvcc is looked up in $(CUDA_HOME)/bin, then on PATH. The CUDA runtime is
# linked statically and cuBLAS dynamically (rpath to the toolkit's lib);
# never -lcuda, so the binary starts on machines with no driver and says so.
# cuDNN is never linked: only its header cudnn_graph.h is needed (looked up
# in $(CUDNN_HOME)/include, the toolkit's include, /usr/include), and
# harness/cudnn_lib.c dlopens libcudnn.so.9 at run time.

CC        ?= gcc
CPU_ARCH  ?= -march=native
OPT       ?= -O3
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(CPU_ARCH) -g -fopenmp \
             -Wall -Wextra -Werror -Wno-error=unknown-pragmas $(CFLAGS)
# harness/ (bench) and report/ (bench report's page and figures) include
# each other's headers; build/ holds the generated version.h.
INCLUDES   = -Iharness -Ireport -Ibuild
LDLIBS_ALL = -fopenmp -Wl,-Bstatic -lsqlite3 -Wl,-Bdynamic -lm -ldl -lpthread

Q := $(if $(V),,@)

# ---- CUDA ------------------------------------------------------------------
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v nvcc 2>/dev/null))
NVCC      := $(wildcard $(CUDA_HOME)/bin/nvcc)
ifeq ($(CUDA_HOME),)
NVCC :=
endif
CUDA_ARCHS ?= 80 89 90a
CUDA_LIB   := $(firstword $(wildcard $(CUDA_HOME)/lib64 $(CUDA_HOME)/lib))
# sm_XX cubins for each arch, plus compute_90 PTX as the JIT path for newer GPUs.
GENCODE    := $(foreach a,$(CUDA_ARCHS),-gencode arch=compute_$(a),code=sm_$(a)) \
              -gencode arch=compute_90,code=compute_90
NVCCFLAGS  ?= -O3 -std=c++17 -lineinfo -Werror all-warnings \
              -Xcompiler -Wall,-Wextra,-Werror -Xptxas -warn-spills,-warn-lmem-usage

HARNESS_SRC   := $(wildcard harness/*.c)
REPORT_SRC    := $(wildcard report/*.c)
REFERENCE_SRC := $(wildcard reference/*.c)
HARNESS_CU    := $(wildcard harness/*.cu)
CU_SRC        := $(wildcard ops/*/*.cu) $(HARNESS_CU)
OPS_C_SRC     := $(wildcard ops/*/*.c)

ifneq ($(NVCC),)
CFLAGS_ALL  += -DSB_HAVE_CUDA -I$(CUDA_HOME)/include
CU_OBJ      := $(CU_SRC:%.cu=build/%.o)
LDLIBS_ALL  += -L$(CUDA_LIB) -lcublas -lcublasLt -lcudart_static -lrt -lstdc++ \
               -Wl,-rpath,'$$ORIGIN/../lib:$(CUDA_LIB)'
CUDA_STATUS := yes ($(NVCC), archs $(CUDA_ARCHS))
CFLAGS_ALL  += -DSB_CUDA_LIB='"$(CUDA_LIB)"'
CUDNN_INC   := $(firstword $(foreach d,$(CUDNN_HOME)/include $(CUDA_HOME)/include /usr/include,\
                 $(if $(wildcard $(d)/cudnn_graph.h),$(d))))
ifneq ($(CUDNN_INC),)
CFLAGS_ALL  += -DSB_HAVE_CUDNN -I$(CUDNN_INC)
CUDNN_STATUS := headers in $(CUDNN_INC); libcudnn.so.9 is loaded at run time
else
CUDNN_STATUS := no (cudnn_graph.h not found; set CUDNN_HOME; flash/cudnn will skip)
endif
# CUPTI (kernel records, counters) and NVTX (the case ranges) come with the
# toolkit's headers; libcupti is loaded at run time, NVTX is header-only.
# cupti_profiler_host.h includes the C++ header <string> (and uses nothing
# from it in C): the two files that include it find an empty one in
# harness/compat.
ifneq ($(wildcard $(CUDA_HOME)/include/cupti.h),)
CFLAGS_ALL  += -DSB_HAVE_CUPTI
CFLAGS_harness/cupti.c := -isystem harness/compat
CFLAGS_harness/cupti_counters.c := -isystem harness/compat
CUPTI_STATUS := headers in $(CUDA_HOME)/include; libcupti.so is loaded at run time
else
CUPTI_STATUS := no (cupti.h not found; no kernel records or counters)
endif
ifneq ($(wildcard $(CUDA_HOME)/include/nvtx3/nvToolsExt.h),)
CFLAGS_ALL  += -DSB_HAVE_NVTX
endif
else
CU_OBJ      :=
CUDA_STATUS := no (CPU-only bench; set CUDA_HOME to build the GPU implementations)
CUDNN_STATUS := no (needs CUDA)
CUPTI_STATUS := no (needs CUDA)
endif

LIB_OBJ  := $(filter-out build/harness/main.o,$(HARNESS_SRC:%.c=build/%.o)) \
            $(REPORT_SRC:%.c=build/%.o) $(REFERENCE_SRC:%.c=build/%.o) $(OPS_C_SRC:%.c=build/%.o) \
            $(CU_OBJ)
TESTS    := $(patsubst tests/%.c,bin/tests/%,$(wildcard tests/test_*.c))
# Stand-ins for the libraries bench loads at run time (tests/fake_*.c):
# NVML with canned answers, CUPTI refusing counters.
FAKE_LIBS := bin/tests/fake/libnvidia-ml.so.1 bin/tests/fake/libcupti.so.13

GNUPLOT_STATUS := $(if $(shell command -v gnuplot 2>/dev/null),yes,no (reports need gnuplot-nox))
SQLITE_STATUS  := $(if $(wildcard /usr/include/sqlite3.h),yes,no (apt-get install libsqlite3-dev))

.PHONY: all test clean found deps test-deps long-context FORCE
all: found bin/bench

# What a fresh Debian machine lacks (compiler, SQLite, gnuplot), installed on
# demand; test-deps adds what the tests need.
deps:
	$(Q)bash scripts/deps.sh
test-deps:
	$(Q)bash scripts/deps.sh --test

found:
	@echo "nvcc:    $(CUDA_STATUS)"
	@echo "cudnn:   $(CUDNN_STATUS)"
	@echo "cupti:   $(CUPTI_STATUS)"
	@echo "sqlite:  $(SQLITE_STATUS)"
	@echo "gnuplot: $(GNUPLOT_STATUS)"
	@echo "openmp:  yes ($(CC) -fopenmp)"

# The commit, the compilers and their flags baked into the binary (stored
# with every run: runs.build_flags, runs.nvcc_version); rewritten only when
# they change. "Cuda compilation tools, release 13.0, V13.0.88" -> 13.0.88.
NVCC_VERSION := $(if $(NVCC),$(shell $(NVCC) --version | sed -n 's/.*release .*, V\([0-9.]*\).*/\1/p'))
build/version.h: FORCE
	@mkdir -p build
	@{ echo '#define SB_VERSION "0.1.0"'; echo '#define SB_GIT_COMMIT "$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)"'; \
	   echo '#define SB_NVCC_VERSION "$(NVCC_VERSION)"'; \
	   echo '#define SB_NVCC_FLAGS "$(if $(NVCC),$(strip $(NVCCFLAGS) $(GENCODE)))"'; \
	   echo '#define SB_BUILD_FLAGS "$(CC) $(OPT) $(CPU_ARCH) -fopenmp$(if $(NVCC),; nvcc $(strip $(NVCCFLAGS) $(GENCODE)))"'; } > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
build/harness/session.o build/harness/ceilings.o build/harness/calibrate.o: build/version.h

# Objects are rebuilt when the flags change (nvcc found or not, CUDA_ARCHS).
build/flags: FORCE
	@mkdir -p build
	@echo '$(CC) $(CFLAGS_ALL) $(INCLUDES) $(NVCCFLAGS) $(GENCODE)' > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@
	@echo '$(CUDA_ARCHS)' > build/cuda_archs

build/%.o: %.c build/flags
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(CFLAGS_$<) $(INCLUDES) -MMD -MP -c $< -o $@

# ptxas's register/spill report for every kernel is kept beside the object;
# tests/kernels.sh fails on any spill.
build/%.o: %.cu build/flags
	@mkdir -p $(dir $@)
	@echo "  NVCC  $<"
	$(Q)$(NVCC) $(NVCCFLAGS) $(GENCODE) -DSB_HAVE_CUDA -Xptxas -v -MMD -MP -c $< -o $@ \
	    2> $(@:.o=.ptxas) || { cat $(@:.o=.ptxas); rm -f $@; exit 1; }

# Plugins (--plugin x.so) call the harness functions harness/plugin.syms
# lists, so bench exports those and nothing else.
bin/bench: build/harness/main.o $(LIB_OBJ) harness/plugin.syms
	@mkdir -p bin
	@echo "  LD    $@"
	$(Q)$(CC) $(filter %.o,$^) -o $@ -Wl,--dynamic-list=harness/plugin.syms $(LDLIBS_ALL)

bin/tests/%: tests/%.c $(LIB_OBJ) $(wildcard tests/*.h)
	@mkdir -p bin/tests
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_ALL) $(INCLUDES) $< $(LIB_OBJ) -o $@ $(LDLIBS_ALL)

bin/tests/fake/libnvidia-ml.so.1: tests/fake_nvml.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) -std=c11 -O1 -Wall -Wextra -Werror -shared -fPIC -Wl,-soname,$(notdir $@) $< -o $@
bin/tests/fake/libcupti.so.13: tests/fake_cupti.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) -std=c11 -O1 -Wall -Wextra -Werror -shared -fPIC -Wl,-soname,$(notdir $@) $< -o $@

# The tests install what their checks need beyond the main job's: NumPy 1.x
# and 2.x, PyYAML, chromium, cuobjdump/nvdisasm (scripts/deps.sh says where).
test: test-deps
	$(Q)$(MAKE) --no-print-directory found bin/bench $(TESTS) $(SIM_BINS) $(FAKE_LIBS)
	$(Q)bash tests/run.sh $(TESTS)

# ---- the CPU runner: every kernel from its source on the CPU -----------------
# Each .cu file of the binary (ops/, harness/) and the runner's test kernels,
# compiled as C++ by g++ with ops/sim/cuda_sim.h, twice: AddressSanitizer +
# UBSan, and ThreadSanitizer; linked with the harness and reference objects
# and the runner (ops/sim/: scheduler, CUDA runtime, cuBLAS) in place of
# libcudart and cuBLAS. The kernels' registers and static shared memory per
# architecture come from the nvcc build's ptxas reports. tests/cuda_on_cpu.sh
# builds and runs them (docs/cuda-on-cpu.md).
ifneq ($(NVCC),)
SIM_CXX      ?= g++
SIM_KINDS    := asan tsan
# plain: no sanitizer (not built by make test; for timing the runner itself)
# -Wno-missing-field-initializers: C++ warns on the harness's C designated
# initializers (MEASURE_DEFAULTS) that leave fields zero, as C intends.
SIM_KINDS_ALL := $(SIM_KINDS) plain
SIM_CU_SRC   := $(CU_SRC) tests/cuda_on_cpu_kernels.cu
SIM_FLAGS    := -std=c++20 -O2 -g -fno-omit-frame-pointer -Wall -Wextra -Wno-unknown-pragmas -Wno-class-memaccess -Wno-missing-field-initializers \
                -I$(CUDA_HOME)/include -Ibuild/sim -I. -DSB_HAVE_CUDA
SIM_SAN_asan := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
                -fsanitize-sections=sb_shared
SIM_SAN_tsan := -fsanitize=thread
SIM_SAN_plain :=
# The runner's own bookkeeping is not instrumented under TSan (sched.cpp says why).
SIM_OWN_asan := $(SIM_SAN_asan)
SIM_OWN_tsan := -DSB_SIM_TSAN
SIM_OWN_plain :=
SIM_HOST_OBJ := $(filter-out build/harness/main.o,$(HARNESS_SRC:%.c=build/%.o)) \
                $(REPORT_SRC:%.c=build/%.o) $(REFERENCE_SRC:%.c=build/%.o) $(OPS_C_SRC:%.c=build/%.o)
# bench's libraries but the two the runner stands in for.
SIM_LDLIBS   := $(filter-out -lcublas -lcudart_static,$(LDLIBS_ALL))
SIM_BINS     := $(SIM_KINDS:%=bin/tests/cuda_on_cpu-%)
SIM_REPORTS  := $(CU_OBJ:.o=.ptxas) build/tests/cuda_on_cpu_kernels.ptxas

# Objects of the runner are rebuilt when its flags change.
build/sim/flags: FORCE
	@mkdir -p build/sim
	@echo '$(SIM_CXX) $(SIM_FLAGS) $(foreach k,$(SIM_KINDS_ALL),$(SIM_SAN_$(k)) $(SIM_OWN_$(k)))' > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@

build/tests/cuda_on_cpu_kernels.ptxas: build/tests/cuda_on_cpu_kernels.o
build/sim/kernel_attrs.inc: $(CU_OBJ) build/tests/cuda_on_cpu_kernels.o ops/sim/kernel_attrs.awk
	@mkdir -p $(dir $@)
	$(Q)awk -f ops/sim/kernel_attrs.awk $(SIM_REPORTS) > $@.tmp && mv $@.tmp $@

define SIM_RULES
build/sim-$(1)/%.o: %.cu build/sim/flags
	@mkdir -p $$(dir $$@)
	@echo "  SIMCC $$< ($(1))"
	$(Q)$(SIM_CXX) $(SIM_FLAGS) $(SIM_SAN_$(1)) -include ops/sim/cuda_sim.h -MMD -MP -x c++ -c $$< -o $$@
build/sim-$(1)/ops/sim/%.o: ops/sim/%.cpp build/sim/flags build/sim/kernel_attrs.inc
	@mkdir -p $$(dir $$@)
	@echo "  SIMCC $$< ($(1))"
	$(Q)$(SIM_CXX) $(SIM_FLAGS) $(SIM_OWN_$(1)) -MMD -MP -c $$< -o $$@
build/sim-$(1)/ops/sim/ptx_sim.o: ops/sim/ptx_sim.cpp build/sim/flags
	@mkdir -p $$(dir $$@)
	@echo "  SIMCC $$< ($(1))"
	$(Q)$(SIM_CXX) $(SIM_FLAGS) $(SIM_SAN_$(1)) -MMD -MP -c $$< -o $$@
build/sim-$(1)/tests/cuda_on_cpu.o: tests/cuda_on_cpu.cpp build/sim/flags
	@mkdir -p $$(dir $$@)
	@echo "  SIMCC $$< ($(1))"
	$(Q)$(SIM_CXX) $(SIM_FLAGS) $(SIM_SAN_$(1)) -MMD -MP -c $$< -o $$@
bin/tests/cuda_on_cpu-$(1): $(SIM_CU_SRC:%.cu=build/sim-$(1)/%.o) build/sim-$(1)/tests/cuda_on_cpu.o \
                           $(patsubst %.cpp,build/sim-$(1)/%.o,$(wildcard ops/sim/*.cpp)) $(SIM_HOST_OBJ)
	@mkdir -p bin/tests
	@echo "  LD    $$@"
	$(Q)$(SIM_CXX) $(SIM_SAN_$(1)) -rdynamic $$^ -o $$@ $(SIM_LDLIBS)
endef
$(foreach k,$(SIM_KINDS_ALL),$(eval $(call SIM_RULES,$(k))))
endif

# The main job: the long-context suite on the default device (cuda:0 when
# present, else the CPU with the suite's CPU caps) into results/bench.db,
# then the report of that run in results/report/ — written whatever the suite
# found (a mismatch is in it); the suite's exit status is the job's.
long-context: deps
	$(Q)$(MAKE) --no-print-directory all
	bin/bench suite long-context; rc=$$?; bin/bench report && exit $$rc

# Inspection targets for one kernel: PTX, SASS, ptxas register/spill report.
build/%.ptx: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -DSB_HAVE_CUDA -gencode arch=compute_90a,code=sm_90a -ptx $< -o $@
# cuobjdump: the toolkit's, else the one make test installs (.tools/bin).
build/%.sass: build/%.o
	$(firstword $(shell command -v cuobjdump) $(wildcard .tools/bin/cuobjdump) cuobjdump) --dump-sass $< > $@

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
