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

# Always-on keyword spotting, end to end: the trained DS-CNN (zoo/kws) compiled onto the
# edge-voice chip, bundled audio (examples/kws: one held-out speaker's clip per keyword and a
# 10 s recording) classified through the C++ MFCC front end on a simulated chip instance next to
# the float model, the recording streamed with the voice gate, and the chip's report (energy,
# always-on power, latency, area, vs a digital NPU).
demo: build
	$(ACIM) info zoo/kws/ds_cnn_kws.onnx
	@mkdir -p out/demo
	$(ACIM) compile zoo/kws/ds_cnn_kws.onnx --chip edge-voice --calibrate examples/kws/calibrate.npy -o out/demo/kws.acim
	$(ACIM) kws --program out/demo/kws.acim examples/kws/[!s]*.wav examples/kws/stop.wav
	$(ACIM) kws --program out/demo/kws.acim --stream examples/kws/stream.wav
	$(ACIM) report out/demo/kws.acim --rate 50 --html out/demo/report.html
	@echo "demo: program and report.html written to out/demo/"

test: build
	ctest --preset $(PRESET) -j$$(nproc)

bench: build
	scripts/bench_vs_ort.sh

clean:
	rm -rf build out
