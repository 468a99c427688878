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

# The keyword-spotting network: its layers, compiled onto the edge-voice chip, run on a simulated
# chip instance against the float reference, and priced (energy, always-on power, vs digital).
demo: build
	$(ACIM) info zoo/kws/ds_cnn_s.onnx
	@mkdir -p out/demo
	$(ACIM) compile zoo/kws/ds_cnn_s.onnx --chip edge-voice --calibrate examples/kws_input.npy -o out/demo/ds_cnn_s.acim
	$(ACIM) run out/demo/ds_cnn_s.acim --input examples/kws_input.npy --compare --output-dir out/demo
	$(ACIM) report out/demo/ds_cnn_s.acim --rate 50 --html out/demo/report.html
	@echo "demo: program, outputs and report.html written to out/demo/"

test: build
	ctest --preset $(PRESET) -j$$(nproc)

bench: build
	scripts/bench_vs_ort.sh

clean:
	rm -rf build out
