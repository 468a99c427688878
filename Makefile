# The two commands a newcomer needs:
#   make demo   set up, build, and run acim on a bundled model
#   make test   set up, build, and run every test
PRESET ?= release
BUILD  := build/$(PRESET)
ACIM   := $(BUILD)/bin/acim

.PHONY: setup build demo test bench clean

setup:
	@scripts/setup.sh

build: setup
	@[ -f $(BUILD)/CMakeCache.txt ] || cmake --preset $(PRESET) -G Ninja
	cmake --build $(BUILD) -j$$(nproc)

demo: build
	$(ACIM) info zoo/kws/ds_cnn_s.onnx
	$(ACIM) run zoo/kws/ds_cnn_s.onnx --input input=examples/kws_input.npy --output-dir out/demo
	@echo "demo: outputs written to out/demo/"

test: build
	ctest --preset $(PRESET) -j$$(nproc)

bench: build
	scripts/bench_vs_ort.sh

clean:
	rm -rf build out
