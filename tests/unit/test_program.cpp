// Program files: compile -> save -> load gives back every field (mapping, quantisation,
// calibration inputs, chip, model), saving the loaded program gives the same bytes, and every
// kind of bad file — truncated anywhere, a flipped byte, another magic, a newer format, a
// missing or mistyped JSON key, a mapping for another model, random damage — is an acim::Error
// of the right kind naming the file (and the section), never a crash.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "acim/rng.hpp"
#include "acim/shape_inference.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace acim {
namespace {

// ---- building programs ----------------------------------------------------------------------

Tensor normal(const Shape& shape, uint64_t seed) {
  Tensor t(DType::f32, shape);
  RandomStream(seed, {0x7e57}).normal(t.data<float>(), static_cast<size_t>(t.numel()));
  return t;
}

// x[1, 40] -> Gemm(40 -> 30, transB) -> Relu -> Gemm(30 -> 10) -> y, as load_onnx returns it.
Graph gemm_graph() {
  Graph g;
  g.name = "two_gemms";
  g.opset = 17;
  g.inputs.push_back(ValueInfo{"x", DType::f32, {1, 40}, true});
  g.outputs.push_back(ValueInfo{"y", DType::f32, {}, false});
  g.initializers["w1"] = normal({30, 40}, 1);
  g.initializers["b1"] = normal({30}, 2);
  g.initializers["w2"] = normal({30, 10}, 3);
  Node fc1;
  fc1.name = "fc1";
  fc1.op_type = "Gemm";
  fc1.inputs = {"x", "w1", "b1"};
  fc1.outputs = {"h"};
  fc1.attrs["transB"] = Attribute{int64_t{1}};
  Node relu;
  relu.name = "relu";
  relu.op_type = "Relu";
  relu.inputs = {"h"};
  relu.outputs = {"r"};
  Node fc2;
  fc2.name = "fc2";
  fc2.op_type = "Gemm";
  fc2.inputs = {"r", "w2"};
  fc2.outputs = {"y"};
  g.nodes = {fc1, relu, fc2};
  infer_shapes(g);
  return g;
}

Program gemm_program() {
  CompileOptions o;
  o.calibration.method = RangeMethod::minmax;
  o.calibration_inputs = {
      {{"x", normal({1, 40}, 10)}}, {{"x", normal({1, 40}, 11)}}, {{"x", normal({1, 40}, 12)}}};
  o.keep_calibration = 2;
  return compile_program(gemm_graph(), chip_preset("edge-voice"), o);
}

Program ds_cnn_program() {
  CompileOptions o;
  o.random_calibration = 2;
  o.seed = 5;
  return compile_program(load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx"),
                         chip_preset("edge-voice"), o);
}

// ---- comparing programs field by field -------------------------------------------------------

// Doubles compared as bits: NaN, -0 and the last ulp all count.
void expect_same_bits(double a, double b, const std::string& what) {
  EXPECT_EQ(std::bit_cast<uint64_t>(a), std::bit_cast<uint64_t>(b))
      << what << ": " << a << " vs " << b;
}
template <class T>
void expect_same_bits(const std::vector<T>& a, const std::vector<T>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t i = 0; i < a.size(); ++i)
    expect_same_bits(static_cast<double>(a[i]), static_cast<double>(b[i]),
                     what + "[" + std::to_string(i) + "]");
}

void expect_same_layer(const LayerMapping& a, const LayerMapping& b) {
  const std::string w = "layer " + a.node;
  EXPECT_EQ(a.node, b.node);
  EXPECT_EQ(a.op, b.op) << w;
  ASSERT_EQ(a.matrices.size(), b.matrices.size()) << w;
  for (size_t i = 0; i < a.matrices.size(); ++i) {
    EXPECT_EQ(a.matrices[i].role, b.matrices[i].role) << w;
    EXPECT_EQ(a.matrices[i].rows, b.matrices[i].rows) << w;
    EXPECT_EQ(a.matrices[i].cols, b.matrices[i].cols) << w;
    EXPECT_EQ(a.matrices[i].count, b.matrices[i].count) << w;
  }
  EXPECT_EQ(a.groups_packed, b.groups_packed) << w;
  EXPECT_EQ(a.tiles, b.tiles) << w;
  EXPECT_EQ(a.row_blocks, b.row_blocks) << w;
  EXPECT_EQ(a.col_blocks, b.col_blocks) << w;
  EXPECT_EQ(a.partial_sum_adds, b.partial_sum_adds) << w;
  EXPECT_EQ(a.weights, b.weights) << w;
  EXPECT_EQ(a.allocated, b.allocated) << w;
  EXPECT_EQ(a.mvms, b.mvms) << w;
  EXPECT_EQ(a.replication, b.replication) << w;
  EXPECT_EQ(a.output_elements, b.output_elements) << w;
  EXPECT_EQ(a.digital, b.digital) << w;
  EXPECT_EQ(a.chip, b.chip) << w;
  EXPECT_EQ(a.last_chip, b.last_chip) << w;
  EXPECT_EQ(a.first_core, b.first_core) << w;
  EXPECT_EQ(a.last_core, b.last_core) << w;
  EXPECT_EQ(a.array_cores, b.array_cores) << w;
  EXPECT_EQ(a.input_elements, b.input_elements) << w;
  EXPECT_EQ(a.stage, b.stage) << w;
  EXPECT_EQ(a.start_cycle, b.start_cycle) << w;
  EXPECT_EQ(a.finish_cycle, b.finish_cycle) << w;
}

void expect_same_mapping(const Mapping& a, const Mapping& b) {
  EXPECT_EQ(a.chip_name, b.chip_name);
  EXPECT_EQ(a.arrays_per_chip, b.arrays_per_chip);
  EXPECT_EQ(a.chips, b.chips);
  EXPECT_EQ(a.tiles, b.tiles);
  EXPECT_EQ(a.arrays_used, b.arrays_used);
  EXPECT_EQ(a.arrays_available, b.arrays_available);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(a.allocated, b.allocated);
  EXPECT_EQ(a.cores_used, b.cores_used);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) expect_same_layer(a.layers[i], b.layers[i]);
  ASSERT_EQ(a.digital.size(), b.digital.size());
  for (size_t i = 0; i < a.digital.size(); ++i) {
    EXPECT_EQ(a.digital[i].node, b.digital[i].node);
    EXPECT_EQ(a.digital[i].op, b.digital[i].op);
    EXPECT_EQ(a.digital[i].unit, b.digital[i].unit);
    EXPECT_EQ(a.digital[i].chip, b.digital[i].chip);
  }
  ASSERT_EQ(a.boundaries.size(), b.boundaries.size());
  for (size_t i = 0; i < a.boundaries.size(); ++i) {
    EXPECT_EQ(a.boundaries[i].from, b.boundaries[i].from);
    EXPECT_EQ(a.boundaries[i].elements, b.boundaries[i].elements);
    EXPECT_EQ(a.boundaries[i].bytes, b.boundaries[i].bytes);
  }
  EXPECT_EQ(a.bottleneck_cycles, b.bottleneck_cycles);
  EXPECT_EQ(a.bottleneck_cycles_unreplicated, b.bottleneck_cycles_unreplicated);
  EXPECT_EQ(a.mesh_rows, b.mesh_rows);
  EXPECT_EQ(a.mesh_cols, b.mesh_cols);
  EXPECT_EQ(a.placement, b.placement);
  ASSERT_EQ(a.transfers.size(), b.transfers.size());
  for (size_t i = 0; i < a.transfers.size(); ++i) {
    EXPECT_EQ(a.transfers[i].from, b.transfers[i].from);
    EXPECT_EQ(a.transfers[i].to, b.transfers[i].to);
    EXPECT_EQ(a.transfers[i].from_chip, b.transfers[i].from_chip);
    EXPECT_EQ(a.transfers[i].to_chip, b.transfers[i].to_chip);
    EXPECT_EQ(a.transfers[i].bytes, b.transfers[i].bytes);
    expect_same_bits(a.transfers[i].hops, b.transfers[i].hops, "transfer hops");
  }
  expect_same_bits(a.noc_byte_hops, b.noc_byte_hops, "noc_byte_hops");
  expect_same_bits(a.noc_byte_hops_row_major, b.noc_byte_hops_row_major, "row major");
  EXPECT_EQ(a.latency_cycles, b.latency_cycles);
  EXPECT_EQ(a.interval_cycles, b.interval_cycles);
}

void expect_same_quant(const Quantisation& a, const Quantisation& b) {
  EXPECT_EQ(a.options.method, b.options.method);
  expect_same_bits(a.options.percentile, b.options.percentile, "percentile");
  EXPECT_EQ(a.samples, b.samples);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerQuant& x = a.layers[i];
    const LayerQuant& y = b.layers[i];
    EXPECT_EQ(x.node, y.node);
    expect_same_bits(x.input_range, y.input_range, x.node + " input_range");
    expect_same_bits(x.input_min, y.input_min, x.node + " input_min");
    expect_same_bits(x.input_max, y.input_max, x.node + " input_max");
    EXPECT_EQ(x.input_source, y.input_source) << x.node;
    expect_same_bits(x.weight_full_scale, y.weight_full_scale, x.node + " weight_full_scale");
    EXPECT_EQ(x.weight_bits, y.weight_bits) << x.node;
    EXPECT_EQ(x.weight_source, y.weight_source) << x.node;
    expect_same_bits(x.weight_sqnr_db, y.weight_sqnr_db, x.node + " sqnr");
  }
}

void expect_same_program(const Program& a, const Program& b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.options.model, b.options.model);
  EXPECT_EQ(a.options.chips, b.options.chips);
  EXPECT_EQ(a.options.chips_auto, b.options.chips_auto);
  EXPECT_EQ(a.options.replicate, b.options.replicate);
  EXPECT_TRUE(a.chip == b.chip);
  // The stored model: the ONNX export is exact (test_onnx_export.cpp), so equal exports mean
  // equal nodes, attributes and initializers; the passes then give the same graph.
  EXPECT_EQ(save_onnx_to_bytes(a.source), save_onnx_to_bytes(b.source));
  ASSERT_EQ(a.graph.nodes.size(), b.graph.nodes.size());
  for (size_t i = 0; i < a.graph.nodes.size(); ++i) {
    EXPECT_EQ(a.graph.nodes[i].name, b.graph.nodes[i].name);
    EXPECT_EQ(a.graph.nodes[i].op_type, b.graph.nodes[i].op_type);
    EXPECT_EQ(a.graph.nodes[i].fused.size(), b.graph.nodes[i].fused.size());
  }
  expect_same_mapping(a.mapping, b.mapping);
  expect_same_quant(a.quant, b.quant);
  ASSERT_EQ(a.calibration_set.size(), b.calibration_set.size());
  for (size_t s = 0; s < a.calibration_set.size(); ++s) {
    ASSERT_EQ(a.calibration_set[s].size(), b.calibration_set[s].size());
    for (const auto& [name, t] : a.calibration_set[s]) {
      ASSERT_TRUE(b.calibration_set[s].count(name)) << name;
      const Tensor& u = b.calibration_set[s].at(name);
      EXPECT_EQ(t.dtype(), u.dtype()) << name;
      ASSERT_EQ(t.shape(), u.shape()) << name;
      EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << name;
    }
  }
}

// ---- the file's framing, re-implemented here to build damaged files ----------------------------

// CRC-32 bit by bit (the table-driven one in program.cpp must agree).
uint32_t crc32(const std::string& bytes) {
  uint32_t c = 0xffffffffu;
  for (char ch : bytes) {
    c ^= static_cast<uint8_t>(ch);
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return ~c;
}

uint64_t le(const std::string& b, size_t pos, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(b[pos + static_cast<size_t>(i)])) << (8 * i);
  return v;
}
void put(std::string& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

struct Section {
  std::string name, payload;
  size_t start = 0, payload_start = 0;  // offsets in the file
};

std::vector<Section> split(const std::string& file) {
  std::vector<Section> out;
  size_t pos = 16;
  const uint64_t count = le(file, 12, 4);
  for (uint64_t i = 0; i < count; ++i) {
    Section s;
    s.start = pos;
    const size_t name_len = static_cast<size_t>(le(file, pos, 1));
    s.name = file.substr(pos + 1, name_len);
    const size_t len = static_cast<size_t>(le(file, pos + 1 + name_len, 8));
    s.payload_start = pos + 1 + name_len + 8 + 4;
    s.payload = file.substr(s.payload_start, len);
    pos = s.payload_start + len;
    out.push_back(s);
  }
  EXPECT_EQ(pos, file.size());
  return out;
}

std::string join(const std::vector<Section>& sections, uint32_t version = 1) {
  std::string out = "ACIMPROG";
  put(out, version, 4);
  put(out, sections.size(), 4);
  for (const Section& s : sections) {
    std::string head;
    put(head, s.name.size(), 1);
    head += s.name;
    put(head, s.payload.size(), 8);
    out += head;
    put(out, crc32(head + s.payload), 4);
    out += s.payload;
  }
  return out;
}

// The file with one section's payload replaced (and its CRC made right again).
std::string with_section(const std::string& file, const std::string& name,
                         const std::string& payload) {
  std::vector<Section> sections = split(file);
  for (Section& s : sections)
    if (s.name == name) s.payload = payload;
  return join(sections);
}

std::string with_json(const std::string& file, const std::string& name,
                      const std::function<void(nlohmann::json&)>& edit) {
  for (const Section& s : split(file))
    if (s.name == name) {
      nlohmann::json j = nlohmann::json::parse(s.payload);
      edit(j);
      return with_section(file, name, j.dump());
    }
  ADD_FAILURE() << "no section " << name;
  return file;
}

// Loading `bytes` as file `name` throws an acim::Error of `kind` whose message has the name and
// every one of `parts`.
void expect_load_error_from(const std::string& bytes, const std::string& name, ErrorKind kind,
                            const std::vector<std::string>& parts) {
  try {
    program_from_bytes(bytes, name);
    ADD_FAILURE() << "loaded without an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    const std::string msg = e.what();
    EXPECT_NE(msg.find(name), std::string::npos) << msg;
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}
void expect_load_error(const std::string& bytes, ErrorKind kind,
                       const std::vector<std::string>& parts) {
  expect_load_error_from(bytes, "bad.acim", kind, parts);
}

using acim::test::TempDir;

// ---- round trips -----------------------------------------------------------------------------

TEST(Program, DsCnnOnEdgeVoiceRoundTrips) {
  const Program p = ds_cnn_program();
  ASSERT_FALSE(p.mapping.layers.empty());
  EXPECT_EQ(p.calibration_set.size(), 2u);
  const std::string bytes = program_to_bytes(p);
  const Program q = program_from_bytes(bytes, "kws.acim");
  expect_same_program(p, q);
  EXPECT_EQ(program_to_bytes(q), bytes);
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
}

TEST(Program, ThreeChipPipelineRoundTrips) {
  // DS-CNN on 16-array chips: three pipeline stages, with the activations crossing between them.
  CompileOptions o;
  o.mapping.chips_auto = true;
  o.random_calibration = 1;
  const Program p = compile_program(
      load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/kws/ds_cnn_s.onnx"),
      load_chip_spec(std::string(ACIM_SOURCE_DIR) + "/tests/data/chips/voice-16.toml"), o);
  ASSERT_EQ(p.mapping.chips, 3);
  ASSERT_EQ(p.mapping.boundaries.size(), 2u);
  const std::string bytes = program_to_bytes(p);
  const Program q = program_from_bytes(bytes, "three.acim");
  expect_same_program(p, q);
  EXPECT_EQ(program_to_bytes(q), bytes);
  // A boundary past the last chip is refused.
  expect_load_error_from(
      with_json(bytes, "mapping", [](nlohmann::json& j) { j["boundaries"][1]["from"] = 2; }),
      "three.acim", ErrorKind::parse, {"stage boundary leaves chip 2"});
}

TEST(Program, KeepsCalibrationInputsEvenlySpacedOverTheSet) {
  // A set stored class by class must not calibrate the chip's ADCs on its first class only.
  CompileOptions o;
  for (int i = 0; i < 10; ++i) o.calibration_inputs.push_back({{"x", normal({1, 40}, 100 + i)}});
  o.keep_calibration = 3;
  const Program p = compile_program(gemm_graph(), chip_preset("edge-voice"), o);
  ASSERT_EQ(p.calibration_set.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    const Tensor& want = o.calibration_inputs[k * 10 / 3].at("x");
    const Tensor& got = p.calibration_set[k].at("x");
    EXPECT_TRUE(std::equal(want.span<float>().begin(), want.span<float>().end(),
                           got.span<float>().begin()))
        << "kept input " << k << " is not input " << k * 10 / 3;
  }
}

TEST(Program, GemmGraphRoundTripsThroughAFile) {
  TempDir dir;
  const Program p = gemm_program();
  ASSERT_EQ(p.mapping.layers.size(), 2u);
  ASSERT_EQ(p.calibration_set.size(), 2u);  // keep_calibration of the 3 given
  const fs::path file = dir.path() / "gemm.acim";
  save_program(p, file);
  EXPECT_TRUE(is_program_file(file));
  EXPECT_FALSE(is_program_file(std::string(ACIM_SOURCE_DIR) + "/zoo/mlp/mlp_mnist.onnx"));
  EXPECT_FALSE(is_program_file(dir.path() / "missing.acim"));
  const Program q = load_program(file);
  expect_same_program(p, q);
  EXPECT_EQ(q.source.source, file.string());  // later messages name the program file
  EXPECT_EQ(program_to_bytes(q), program_to_bytes(p));
  // Nothing else was left in the folder (the temporary file was renamed).
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
}

TEST(Program, EveryFieldAndSpecialDoublesRoundTrip) {
  // Fields the compiler may leave at their defaults today, set to values that must come back
  // exactly: NaN, infinities, -0, denormals, the last bit of a double.
  Program p = gemm_program();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Mapping& m = p.mapping;
  m.placement = "serpentine";
  m.mesh_rows = 3;
  m.mesh_cols = 5;
  m.noc_byte_hops = 0.1 + 0.2;
  m.noc_byte_hops_row_major = std::nextafter(1.0, 2.0);
  m.latency_cycles = 123456789012345;
  m.interval_cycles = 77;
  m.transfers.push_back(Transfer{"", "fc1", 0, 0, 160, 0.0});
  m.transfers.push_back(Transfer{"fc1", "fc2", 0, 0, 30, -0.0});
  for (size_t i = 0; i < m.layers.size(); ++i) {
    LayerMapping& l = m.layers[i];
    l.stage = static_cast<int>(i);
    l.start_cycle = 10 * static_cast<int64_t>(i);
    l.finish_cycle = l.start_cycle + 5;
    l.input_elements = 40;
    l.array_cores.assign(static_cast<size_t>(l.arrays()), static_cast<int64_t>(i) % p.chip.cores);
    l.digital = {"bias", "relu"};
  }
  for (LayerQuant& q : p.quant.layers) {
    const LayerMapping* l = nullptr;
    for (const LayerMapping& x : m.layers)
      if (x.node == q.node) l = &x;
    ASSERT_NE(l, nullptr);
    q.input_range = {nan};
    q.input_min = {-inf};
    q.input_max = {inf};
    q.input_source = {"minmax"};
    q.weight_full_scale.assign(static_cast<size_t>(l->matrices[0].cols * l->matrices[0].count),
                               std::numeric_limits<float>::denorm_min());
    q.weight_full_scale[0] = -0.0f;
    q.weight_full_scale.back() = std::numeric_limits<float>::max();
    q.weight_bits = 7;
    q.weight_source = "qdq";
    q.weight_sqnr_db = 5e-324;
  }
  p.quant.options.percentile = 99.999;
  p.options.chips_auto = true;
  p.options.replicate = false;
  const std::string bytes = program_to_bytes(p);
  const Program q = program_from_bytes(bytes, "special.acim");
  expect_same_program(p, q);
  EXPECT_EQ(program_to_bytes(q), bytes);
}

// ---- bad files -------------------------------------------------------------------------------

class BadProgram : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { file_ = new std::string(program_to_bytes(gemm_program())); }
  static void TearDownTestSuite() {
    delete file_;
    file_ = nullptr;
  }
  static const std::string& file() { return *file_; }

 private:
  static std::string* file_;
};
std::string* BadProgram::file_ = nullptr;

TEST_F(BadProgram, TruncatedAtEverySectionBoundaryAndAtRandomPoints) {
  std::vector<size_t> cuts = {0, 4, 8, 10, 12, 14, 16};
  for (const Section& s : split(file())) {
    cuts.push_back(s.start);              // before the section
    cuts.push_back(s.start + 1);          // inside its name
    cuts.push_back(s.payload_start - 4);  // before its CRC
    cuts.push_back(s.payload_start);      // before its payload
    cuts.push_back(s.payload_start + s.payload.size() / 2);
  }
  const RandomStream rng(3, {0xC07});
  for (uint64_t i = 0; i < 100; ++i)
    cuts.push_back(static_cast<size_t>(rng.uniform_at(i) * static_cast<double>(file().size())));
  for (size_t cut : cuts) {
    ASSERT_LT(cut, file().size());
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expect_load_error(file().substr(0, cut), ErrorKind::parse, {});
  }
  // The message says what is wrong, naming the section when the cut is inside one.
  const Section model = split(file())[2];
  expect_load_error(file().substr(0, model.payload_start + 10), ErrorKind::parse,
                    {"section 'model'", "truncated"});
  expect_load_error(file().substr(0, model.start), ErrorKind::parse, {"truncated"});
}

TEST_F(BadProgram, FlippedByteIsACrcErrorNamingTheSection) {
  for (const Section& s : split(file())) {
    ASSERT_FALSE(s.payload.empty()) << s.name;
    std::string bad = file();
    bad[s.payload_start + s.payload.size() / 2] ^= 0x10;
    expect_load_error(bad, ErrorKind::parse, {"section '" + s.name + "'", "CRC"});
  }
}

TEST_F(BadProgram, WrongMagicAndNewerVersion) {
  std::string other = file();
  other.replace(0, 8, "ACIMPRO!");
  expect_load_error(other, ErrorKind::parse, {"ACIMPROG"});
  expect_load_error(std::string(ACIM_SOURCE_DIR), ErrorKind::parse, {"ACIMPROG"});

  std::string newer = file();
  newer[8] = 2;
  expect_load_error(newer, ErrorKind::unsupported,
                    {"written by a newer acim (format 2); this acim reads format 1"});
  std::string zero = file();
  zero[8] = 0;
  expect_load_error(zero, ErrorKind::parse, {"version 0"});
}

TEST_F(BadProgram, MissingDuplicatedAndTrailingSections) {
  std::vector<Section> sections = split(file());
  sections.pop_back();
  expect_load_error(join(sections), ErrorKind::parse, {"no 'calib' section"});
  sections.push_back(sections[0]);
  expect_load_error(join(sections), ErrorKind::parse, {"section 'meta'", "twice"});
  expect_load_error(file() + "x", ErrorKind::parse, {"1 bytes follow the last section"});
}

TEST_F(BadProgram, MissingOrMistypedJsonKeysNameSectionAndKey) {
  expect_load_error(
      with_json(file(), "mapping", [](nlohmann::json& j) { j["layers"][1].erase("tiles"); }),
      ErrorKind::parse, {"section 'mapping'", "missing key 'layers[1].tiles'"});
  expect_load_error(with_json(file(), "mapping", [](nlohmann::json& j) { j["chips"] = "two"; }),
                    ErrorKind::parse, {"section 'mapping'", "key 'chips' is not an integer"});
  expect_load_error(
      with_json(file(), "mapping",
                [](nlohmann::json& j) { j["layers"][0]["matrices"][0]["rows"] = 1.5; }),
      ErrorKind::parse, {"key 'layers[0].matrices[0].rows' is not an integer"});
  expect_load_error(
      with_json(file(), "quant", [](nlohmann::json& j) { j["options"]["method"] = "median"; }),
      ErrorKind::parse, {"section 'quant'", "options.method", "median"});
  expect_load_error(with_json(file(), "quant", [](nlohmann::json& j) { j.erase("samples"); }),
                    ErrorKind::parse, {"section 'quant'", "missing key 'samples'"});
  expect_load_error(
      with_json(file(), "meta", [](nlohmann::json& j) { j["mapping_options"].erase("chips"); }),
      ErrorKind::parse, {"section 'meta'", "mapping_options.chips"});
  expect_load_error(with_section(file(), "mapping", "{\"layers\": ["), ErrorKind::parse,
                    {"section 'mapping'", "not valid JSON"});
}

TEST_F(BadProgram, MappingForAnotherModelIsRefused) {
  expect_load_error(with_json(file(), "mapping",
                              [](nlohmann::json& j) { j["layers"][0]["node"] = "no_such_node"; }),
                    ErrorKind::parse,
                    {"mapping does not match the stored model", "'no_such_node'"});
  expect_load_error(
      with_json(file(), "mapping",
                [](nlohmann::json& j) { j["layers"][1]["matrices"][0]["cols"] = 11; }),
      ErrorKind::parse, {"mapping does not match the stored model", "fc2"});
  expect_load_error(with_json(file(), "mapping", [](nlohmann::json& j) { j["layers"].erase(1); }),
                    ErrorKind::parse,
                    {"mapping does not match the stored model", "2 analog layers"});
  expect_load_error(
      with_json(file(), "mapping", [](nlohmann::json& j) { j["layers"][0]["replication"] = 0; }),
      ErrorKind::parse, {"impossible replication"});
  expect_load_error(with_json(file(), "mapping",
                              [](nlohmann::json& j) {
                                j["layers"][0]["array_cores"] = nlohmann::json::array({999999});
                              }),
                    ErrorKind::parse, {"placement"});
  // The model section of another model: the mapping no longer matches it.
  const Graph other = load_onnx(std::string(ACIM_SOURCE_DIR) + "/zoo/mlp/mlp_mnist.onnx");
  expect_load_error(with_section(file(), "model", save_onnx_to_bytes(other)), ErrorKind::parse,
                    {"mapping does not match the stored model"});
}

TEST_F(BadProgram, DamagedCalibrationArrays) {
  const std::string calib = split(file())[5].payload;
  // One byte off the end of the last array: its header's shape no longer fits its data.
  expect_load_error(with_section(file(), "calib", calib.substr(0, calib.size() - 1)),
                    ErrorKind::parse, {"section 'calib'"});
  expect_load_error(with_section(file(), "calib", calib + "zz"), ErrorKind::parse,
                    {"section 'calib'", "follow the last calibration sample"});
  std::string huge = calib;
  huge[0] = '\xff';  // sample count 255 + ...: runs out of bytes
  expect_load_error(with_section(file(), "calib", huge), ErrorKind::parse, {"truncated"});
}

TEST_F(BadProgram, RandomDamageBehindValidChecksumsIsAnErrorOrALoad) {
  // Bytes changed inside each section with its CRC fixed up, so the section parsers themselves
  // (JSON, TOML, ONNX, .npy) meet the damage: any outcome but a crash or a foreign exception.
  const RandomStream rng(11, {0xF022});
  const std::vector<Section> sections = split(file());
  uint64_t draw = 0;
  int errors = 0;
  for (const Section& s : sections) {
    for (int trial = 0; trial < 40; ++trial) {
      std::string payload = s.payload;
      const int flips = 1 + static_cast<int>(rng.bits_at(draw++) % 4);
      for (int f = 0; f < flips; ++f) {
        const size_t at = rng.bits_at(draw++) % payload.size();
        payload[at] = static_cast<char>(rng.bits_at(draw++) & 0xff);
      }
      try {
        program_from_bytes(with_section(file(), s.name, payload), "fuzz.acim");
      } catch (const Error& e) {
        ++errors;
        EXPECT_NE(std::string(e.what()).find("fuzz.acim"), std::string::npos) << e.what();
      }
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(ProgramSave, UnwritableTargetLeavesNothingBehind) {
  TempDir dir;
  const Program p = gemm_program();
  // A folder that does not exist.
  try {
    save_program(p, dir.path() / "no_such_dir" / "x.acim");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(std::string(e.what()).find("x.acim"), std::string::npos) << e.what();
  }
  // A target that is a folder: the rename fails, the folder stays, the temporary file goes.
  fs::create_directory(dir.path() / "taken.acim");
  EXPECT_THROW(save_program(p, dir.path() / "taken.acim"), Error);
  EXPECT_TRUE(fs::is_directory(dir.path() / "taken.acim"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator()), 1);
  // An existing program is replaced whole.
  const fs::path file = dir.path() / "p.acim";
  { std::ofstream(file) << "old"; }
  save_program(p, file);
  EXPECT_EQ(program_to_bytes(load_program(file)), program_to_bytes(p));
}

TEST(ProgramLoad, MissingFileAndDirectoryAreIoErrors) {
  TempDir dir;
  try {
    load_program(dir.path() / "none.acim");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::io);
    EXPECT_NE(std::string(e.what()).find("none.acim"), std::string::npos);
  }
  EXPECT_THROW(load_program(dir.path()), Error);
}

}  // namespace
}  // namespace acim
