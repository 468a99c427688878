// Program: the compiled artefact — the model (as imported), the chip it was compiled for, the
// mapping (arrays, replication, placement, schedule, chips) and the quantisation parameters,
// plus a few calibration inputs the chip uses to set its ADC ranges after programming.
//
//   Program p = compile_program(load_onnx("kws.onnx"), chip_preset("edge-voice"), options);
//   save_program(p, "kws.acim");            // versioned file, written atomically
//   Program q = load_program("kws.acim");   // re-runs the passes on the stored model and checks
//                                           // that the stored mapping still matches it
//
// File format (docs/ARCHITECTURE.md, "Program files"): the magic "ACIMPROG", a format version,
// then named sections, each with its length and CRC-32: "meta" (JSON: versions, model, options),
// "chip" (the ChipSpec as TOML), "model" (the imported graph as ONNX bytes), "mapping" (JSON),
// "quant" (JSON), "calib" (the calibration inputs, .npy bytes). A file from a newer format
// version, a truncated or corrupted file, or one whose mapping does not match its model is an
// Error naming the file and the section.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/executor.hpp"
#include "acim/graph.hpp"
#include "acim/mapping.hpp"
#include "acim/quantize.hpp"

namespace acim {

inline constexpr int kProgramFormatVersion = 1;

struct CompileOptions {
  MappingOptions mapping;
  CalibrationOptions calibration;
  // Model inputs to calibrate the activation ranges on (each a full set of graph inputs). Empty:
  // `random_calibration` random inputs in the declared shapes (unknown dims = 1) from `seed` —
  // float inputs N(0, 1), integer inputs that index a constant table (token ids into an
  // embedding) uniform over its rows; other integer inputs are an error — and a warning says so.
  std::vector<TensorMap> calibration_inputs;
  int random_calibration = 8;
  uint64_t seed = 0;
  // Calibration inputs kept in the Program for the chip's ADC calibration (evenly spaced over
  // calibration_inputs, so the kept ones span a set stored in any order) and for the activity
  // the cost report measures. A
  // layer run once per input (a batch-1 Gemm) calibrates its arrays on this many rows; their ADC
  // ranges get k-sigma headroom (AdcParams::calibration_sigmas), and more inputs estimate the
  // sigma better (MLP on mythic-like, ADC error alone: 6.8 % with 8 random inputs, 2.5 % with 32).
  int keep_calibration = 8;
};

struct Program {
  std::string model;  // where the model came from ("zoo/kws/ds_cnn_s.onnx"), for messages
  Graph source;       // as imported (before passes): what the file stores
  Graph graph;        // after run_default_passes: what `mapping` and `quant` refer to
  ChipSpec chip;
  MappingOptions options;
  Mapping mapping;
  Quantisation quant;
  std::vector<TensorMap> calibration_set;  // inputs for on-chip ADC calibration
  std::vector<std::string> warnings;       // for the user (not stored)
};

// Passes, mapping and quantisation. `imported` is the graph as load_onnx returns it.
Program compile_program(Graph imported, const ChipSpec& chip, const CompileOptions& options);

// Writes the file atomically (a temporary file beside it, then rename): on any error the target
// is untouched. Error(io) names the path.
void save_program(const Program& program, const std::filesystem::path& path);
std::string program_to_bytes(const Program& program);

// Reads a Program file. Errors name the file and what is wrong (ErrorKind::parse for a corrupt
// or truncated file, ErrorKind::unsupported for a newer format version).
Program load_program(const std::filesystem::path& path);
Program program_from_bytes(const std::string& bytes, const std::string& source);

// The Program's mapping and quantisation as JSON text (what `acim compile --json` prints, and
// Program.mapping in Python): chips, arrays, utilisation, the schedule, every analog layer with
// its matrices, blocks, cores and calibrated input ranges, the digital ops, chip boundaries, the
// placement's traffic and the calibration method.
std::string program_mapping_json(const Program& program);

// True when the file starts with the Program magic (how `acim run` tells .acim from .onnx).
bool is_program_file(const std::filesystem::path& path);

}  // namespace acim
