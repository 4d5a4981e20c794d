# tinydiff build. `make` builds the library and every program under build/; `make test`
# runs every test and ends with "N passed, N failed[, N skipped]". See README.md.
#
#   make [CUDA=1] [BUILD=dir] [SANITIZE=1]   build (CUDA=1 adds tensor/cuda/ via nvcc)
#   make CUDA=emu BUILD=build-emu            tensor/cuda/ run on the CPU by a host emulation of
#                                            the CUDA runtime (tests/cuda_emu/README.md)
#   make test                                build and run all tests
#   make lessons                             build the lesson programs
#   make bench | bench-compare               benchmarks (tests/bench/)
#   make deps                                install the Debian packages the build needs
#   make data                                fetch MNIST (checksummed) into ./data

MAKEFLAGS += --jobs=$(shell nproc) --output-sync=target

BUILD    ?= build
CXX      ?= g++
NVCC     ?= /usr/local/cuda/bin/nvcc
OPT      ?= -O3 -march=native
# -fno-trapping-math: nothing here reads the floating-point exception flags, and without it
# GCC vectorises a loop with a select (`c ? a : b`, e.g. GELU's and SiLU's exp_approx) only with
# AVX-512's masks: under AVX2 GELU ran 12x slower (tests/bench/README.md). It changes no value
# (unlike -ffast-math, it allows no reordering or approximation).
CXXFLAGS += -std=c++17 $(OPT) -fno-trapping-math -fopenmp -Wall -Wextra -Wno-unused-parameter -Wno-maybe-uninitialized -I. -isystem /usr/include/eigen3 -MMD -MP
LDLIBS   += -fopenmp -lz -lstb -lpthread

ifeq ($(SANITIZE),1)
  CXXFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDLIBS   += -fsanitize=address,undefined
  # -g1: line tables, all a sanitizer's stack trace needs; full -g compiles a third slower.
  OPT      := -O1 -g1
endif

# The library: everything except program entry points and tests.
LIB_DIRS := tensor tensor/cpu autograd autograd/ops nn nn/functional diffusion lessons/common
LIB_SRC  := $(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.cpp)) \
            $(filter-out %/main.cpp,$(wildcard lessons/[0-9][0-9]_*/*.cpp))

# sm_90 (H100/H200) plus its PTX; another GPU: make CUDA=1 CUDA_ARCH=80 (A100), 89 (RTX 40xx)
CUDA_ARCH ?= 90
ifeq ($(CUDA),1)
  CXXFLAGS += -DTINYDIFF_CUDA -I/usr/local/cuda/include
  LDLIBS   += -L/usr/local/cuda/lib64 -lcudart -lcublas
  CU_SRC   := $(wildcard tensor/cuda/*.cu)
  NVFLAGS  := -std=c++17 -O3 -ccbin $(CXX) -DTINYDIFF_CUDA -I. -I/usr/include/eigen3 \
              --expt-relaxed-constexpr -diag-suppress 20012 \
              -gencode arch=compute_$(CUDA_ARCH),code=sm_$(CUDA_ARCH) \
              -gencode arch=compute_$(CUDA_ARCH),code=compute_$(CUDA_ARCH) -MMD -MP
endif

# CUDA=emu: each .cu file becomes a .cpp ($(BUILD)/emu/...) whose kernel launches call the
# emulator, compiled by g++ with the shim headers cuda_runtime.h / cublas_v2.h of tests/cuda_emu
# instead of the toolkit's. No CUDA library is linked and no GPU is needed.
ifeq ($(CUDA),emu)
  CXXFLAGS += -DTINYDIFF_CUDA -DTINYDIFF_CUDA_EMULATED
  CU_SRC   := $(wildcard tensor/cuda/*.cu)
  EMU_SRC  := $(wildcard tests/cuda_emu/*.cpp)
  LIB_SRC  += $(EMU_SRC)
endif

OBJ      := $(BUILD)/obj
LIB_OBJ  := $(LIB_SRC:%.cpp=$(OBJ)/%.o) $(CU_SRC:%.cu=$(OBJ)/%.cu.o)
LIB      := $(BUILD)/libtinydiff.a

TEST_SRC := $(wildcard tests/*.cpp)
TEST_OBJ := $(TEST_SRC:%.cpp=$(OBJ)/%.o)
TEST_BIN := $(BUILD)/tests

BENCH_SRC := $(wildcard tests/bench/*.cpp)
BENCH_BIN := $(if $(BENCH_SRC),$(BUILD)/bench)

# build/lessonNN from lessons/NN_name/main.cpp
LESSON_MAINS := $(wildcard lessons/[0-9][0-9]_*/main.cpp)
LESSON_BINS  := $(foreach m,$(LESSON_MAINS),$(BUILD)/lesson$(shell basename $(dir $(m)) | cut -c1-2))

.PHONY: all lib test lessons bench bench-compare deps data clean student grade

all: deps $(LIB) $(LESSON_BINS) $(TEST_BIN) $(BENCH_BIN)
lib: $(LIB)
lessons: deps $(LESSON_BINS)

$(OBJ)/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@

ifeq ($(CUDA),emu)
# The shim headers come first on the include path. nvcc does not warn when a kernel compares
# the unsigned threadIdx.x with an int, and it reads `#pragma unroll`; g++ would warn on both.
$(OBJ)/%.cu.o: $(BUILD)/emu/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) -Itests/cuda_emu $(CXXFLAGS) -Wno-sign-compare -Wno-unknown-pragmas -c $< -o $@
$(BUILD)/emu/%.cpp: %.cu tests/cuda_emu/rewrite_launches.py
	@mkdir -p $(dir $@)
	python3 tests/cuda_emu/rewrite_launches.py $< $@
.SECONDARY: $(CU_SRC:%.cu=$(BUILD)/emu/%.cpp)
else
$(OBJ)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -c $< -o $@
endif

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(TEST_BIN): $(TEST_OBJ) $(LIB)
	$(CXX) $(CXXFLAGS) $(TEST_OBJ) $(LIB) $(LDLIBS) -o $@

$(BUILD)/bench: $(BENCH_SRC:%.cpp=$(OBJ)/%.o) $(LIB)
	$(CXX) $(CXXFLAGS) $^ $(LDLIBS) -o $@

.SECONDEXPANSION:
$(BUILD)/lesson%: $$(patsubst %.cpp,$(OBJ)/%.o,$$(wildcard lessons/$$*_*/main.cpp)) $(LIB)
	$(CXX) $(CXXFLAGS) $^ $(LDLIBS) -o $@

# Runs every test. The runner prints the summary line last.
test: all
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} ./$(TEST_BIN) $(TEST_ARGS)

bench: deps $(BENCH_BIN)
	./$(BENCH_BIN) $(BENCH_ARGS)

bench-compare: deps $(BENCH_BIN)
	tests/bench/compare.sh $(BUILD)

# Installs the Debian packages the build needs when one is missing (needs root).
DEPS := /usr/include/eigen3/Eigen/Core:libeigen3-dev /usr/include/doctest/doctest.h:doctest-dev \
        /usr/include/stb/stb_image_write.h:libstb-dev /usr/include/zlib.h:zlib1g-dev
MISSING := $(strip $(foreach d,$(DEPS),$(if $(wildcard $(firstword $(subst :, ,$(d)))),,$(lastword $(subst :, ,$(d))))))
deps:
ifneq ($(MISSING),)
	@echo "deps: installing $(MISSING)"
	@if [ "$$(id -u)" -ne 0 ]; then echo "deps: not root; run: sudo apt-get install -y $(MISSING)" >&2; exit 1; fi
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MISSING)
endif

data:
	@lessons/common/fetch_data.sh data

clean:
	rm -rf $(BUILD)

-include $(LIB_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(BENCH_SRC:%.cpp=$(OBJ)/%.d) $(LESSON_MAINS:%.cpp=$(OBJ)/%.d)

# ---- classroom handouts (lessons/README.md; owned by lessons/classroom/) ----
#   make student LESSON=01 OUT=dir   a copy of the tree with lesson 01's exercises stubbed out
#   make grade LESSON=01             builds the tests, scores lesson 01's exercises, writes grade.json
# `student` builds nothing. `grade` exits 0 whatever the score; when the build fails it writes
# a zero grade.json and exits 1.
student:
	@python3 lessons/classroom/make_student.py --lesson "$(LESSON)" --out "$(OUT)"

# The build runs in a fresh make (MAKEFLAGS cleared, command-line variables passed on): this
# Makefile sets its own --jobs, which a nested make would otherwise warn about.
grade:
	@MAKEFLAGS= $(MAKE) --no-print-directory $(MAKEOVERRIDES) $(TEST_BIN) || \
	  { python3 lessons/classroom/grade.py --lesson "$(LESSON)" --build-failed; exit 1; }
	@python3 lessons/classroom/grade.py --lesson "$(LESSON)" --tests $(TEST_BIN)
