# tern: the commands. CMake does the building underneath; see README.md.
#
#   make run          build and start ternd on 127.0.0.1 (foreground)
#   make test         bootstrap, ASan+UBSan build, every test, symbol check,
#                     poll-backend build, Cortex-M4 build, brief fuzz runs
#   make fuzz         run every libFuzzer target (FUZZ_SECONDS each)
#   make bench        benchmarks against reference peers (docs/PERFORMANCE.md)
#   make install      PREFIX=/usr/local: libtern.a, libtern.so, headers, tern.pc
#   make check-symbols  every exported symbol starts with tern_
#   make arm          the stack for a Cortex-M4 without an OS (TERN_NO_SYS=1,
#                     arm-none-eabi-gcc + newlib) into build/arm, the superloop
#                     firmware of examples/mcu linked, code size totals
#   make arm-size     the same with text/data/bss per object

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 300
FUZZ_BRIEF_SECONDS ?= 20
CTEST_TIMEOUT ?= 120

B := build
CMAKE_COMMON := -DCMAKE_EXPORT_COMPILE_COMMANDS=ON

.PHONY: all run test unit fuzz fuzz-brief bench install check-symbols \
        bootstrap release asan poll fuzz-build clean arm arm-size

all: release

bootstrap:
	@bash tools/bootstrap

$(B)/release/CMakeCache.txt:
	cmake -S . -B $(B)/release -DCMAKE_BUILD_TYPE=Release \
	  -DTERN_BUILD_TESTS=OFF $(CMAKE_COMMON)

release: $(B)/release/CMakeCache.txt
	cmake --build $(B)/release -j$(JOBS)

run: release
	@echo "ternd: starting on 127.0.0.1 (Ctrl-C stops it)"
	./$(B)/release/ternd $(ARGS)

$(B)/asan/CMakeCache.txt:
	cmake -S . -B $(B)/asan -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=ON \
	  -DTERN_BUILD_BENCH=OFF $(CMAKE_COMMON)

asan: $(B)/asan/CMakeCache.txt
	cmake --build $(B)/asan -j$(JOBS)

$(B)/poll/CMakeCache.txt:
	cmake -S . -B $(B)/poll -DCMAKE_BUILD_TYPE=Debug -DTERN_SANITIZE=ON \
	  -DTERN_LOOP_POLL=ON -DTERN_BUILD_BENCH=OFF $(CMAKE_COMMON)

poll: $(B)/poll/CMakeCache.txt
	cmake --build $(B)/poll -j$(JOBS)

# The whole test: what CI runs (.ci/run).
test: bootstrap
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory check-symbols
	@bash tools/install-check $(B)/release
	@$(MAKE) --no-print-directory arm
	@$(MAKE) --no-print-directory fuzz-brief

unit: asan poll
	@echo "== tests (epoll backend, ASan+UBSan+LSan) =="
	cd $(B)/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure --timeout $(CTEST_TIMEOUT) -j$(JOBS)
	@echo "== tests (poll backend: loop, net, integration) =="
	cd $(B)/poll && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  ctest --output-on-failure --timeout $(CTEST_TIMEOUT) -j$(JOBS) -L 'loop|net|integ'

check-symbols: release
	@bash tools/check-symbols $(B)/release/libtern.a $(B)/release/libtern.so

$(B)/fuzz/CMakeCache.txt:
	CC=clang cmake -S . -B $(B)/fuzz -DCMAKE_BUILD_TYPE=Debug \
	  -DTERN_BUILD_FUZZ=ON -DTERN_BUILD_TESTS=OFF -DTERN_BUILD_BENCH=OFF \
	  -DTERN_WERROR=OFF \
	  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -g"

fuzz-build: $(B)/fuzz/CMakeCache.txt
	cmake --build $(B)/fuzz -j$(JOBS)

fuzz: fuzz-build
	@bash tools/run-fuzz $(B)/fuzz $(FUZZ_SECONDS)

fuzz-brief: fuzz-build
	@bash tools/run-fuzz $(B)/fuzz $(FUZZ_BRIEF_SECONDS)

# Bare metal: skips loudly (and succeeds) without arm-none-eabi-gcc.
arm:
	@bash tools/arm_build.sh $(B)/arm

arm-size:
	@bash tools/arm_build.sh $(B)/arm --size

bench: release
	@TERN_BOOTSTRAP_BENCH=1 bash tools/bootstrap
	@bash bench/run.sh $(B)/release

install: release
	cmake --install $(B)/release --prefix $(PREFIX)

clean:
	rm -rf $(B)
