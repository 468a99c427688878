// Program files: a compiled Program as bytes and back.
//
// Layout (every integer little-endian, whatever the host):
//   "ACIMPROG"                          8 bytes, the magic
//   u32 format version                  kProgramFormatVersion
//   u32 section count
//   per section:
//     u8 name length, name              "meta", "chip", "model", "mapping", "quant", "calib"
//     u64 payload length
//     u32 CRC-32 of name, length and payload (the IEEE 802.3 / zlib polynomial)
//     payload
// Payloads:
//   meta     JSON: format version, acim version, model path, mapping options and (informative:
//            the loader takes them from "quant") the calibration options
//   chip     the ChipSpec as TOML (to_toml; parse_chip_spec reads it back exactly)
//   model    the graph as imported, as ONNX bytes (save_onnx_to_bytes)
//   mapping  JSON: every field of Mapping, its layers, digital ops, boundaries and transfers
//   quant    JSON: every field of Quantisation
//   calib    binary: u32 samples; per sample u32 tensors; per tensor u32 name length, name,
//            u64 .npy length, .npy bytes (NumPy format 1.0, as save_npy writes)
// Doubles are JSON numbers in their shortest round-trip form, so they read back bit-exactly;
// NaN and infinities, which JSON lacks, are the strings "nan", "inf" and "-inf".
//
// The loader trusts nothing: every length is checked against the bytes left before it is used,
// every JSON key and type is checked (a missing or mistyped key names the section and the key
// path), and the stored mapping must match what analog_layers computes on the stored model.
#include "acim/program.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <zlib.h>

#include "acim/error.hpp"
#include "acim/onnx.hpp"
#include "acim/passes.hpp"
#include "core/atomic_file.hpp"

// The acim release writing the file (CMakeLists.txt passes PROJECT_VERSION).
#ifndef ACIM_VERSION
#define ACIM_VERSION "unknown"
#endif

namespace acim {

namespace {

using nlohmann::json;

constexpr char kMagic[8] = {'A', 'C', 'I', 'M', 'P', 'R', 'O', 'G'};
constexpr const char* kSections[] = {"meta", "chip", "model", "mapping", "quant", "calib"};
constexpr size_t kSectionCount = std::size(kSections);
// More sections than a file of this format can have: a corrupt count, refused before the loop.
constexpr uint32_t kMaxSections = 64;
// The most chips a mapping may use (as `acim compile --chips` accepts).
constexpr int kMaxChips = 100000;

// ---- CRC-32 (zlib's: the IEEE 802.3 polynomial, as in PNG and Ethernet) --------------------

// Continues a CRC-32 over more bytes: crc32_update(crc32_update(0, a), b) == CRC of a then b.
uint32_t crc32_update(uint32_t crc, std::string_view bytes) {
  uLong c = crc;
  // zlib takes at most uInt bytes per call.
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - at, size_t{1} << 30);
    c = ::crc32(c, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
    at += n;
  }
  return static_cast<uint32_t>(c);
}

// ---- little-endian integers -----------------------------------------------------------------

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xffu);
}

uint64_t get_le(std::string_view in, size_t pos, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[pos + static_cast<size_t>(i)])) << (8 * i);
  return v;
}

// Reads a byte range front to back; running past its end is a parse Error naming `where`.
class Cursor {
 public:
  Cursor(std::string_view bytes, std::string where) : bytes_(bytes), where_(std::move(where)) {}
  size_t left() const { return bytes_.size() - pos_; }
  bool done() const { return pos_ == bytes_.size(); }
  uint64_t uint(int width, const char* what) {
    need(static_cast<size_t>(width), what);
    const uint64_t v = get_le(bytes_, pos_, width);
    pos_ += static_cast<size_t>(width);
    return v;
  }
  std::string_view take(uint64_t n, const char* what) {
    need(n, what);
    std::string_view s = bytes_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return s;
  }
  const std::string& where() const { return where_; }

 private:
  void need(uint64_t n, const char* what) const {
    if (n > left())
      throw Error(ErrorKind::parse, where_,
                  std::string("truncated: ") + what + " needs " + std::to_string(n) +
                      " bytes, only " + std::to_string(left()) + " remain",
                  "the file is truncated or corrupt; compile the model again");
  }
  std::string_view bytes_;
  std::string where_;
  size_t pos_ = 0;
};

// ---- .npy in memory (the calibration inputs) --------------------------------------------------

struct NpyDescr {
  const char* code;
  DType dtype;
};
constexpr NpyDescr kNpyDescrs[] = {
    {"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16}, {"|i1", DType::i8},
    {"|u1", DType::u8},  {"<i2", DType::i16}, {"<u2", DType::u16}, {"<i4", DType::i32},
    {"<u4", DType::u32}, {"<i8", DType::i64}, {"<u8", DType::u64}, {"|b1", DType::boolean},
};

// The .npy 1.0 header save_npy writes: magic, version, u16 length, the dict padded with spaces
// and a newline to a multiple of 64 bytes.
std::string npy_header(const char* descr, const Shape& shape) {
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) dict += std::to_string(shape[i]) + ",";
  if (shape.size() > 1) dict.pop_back();
  dict += "), }";
  const size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  put_le(out, dict.size(), 2);
  return out + dict;
}

std::string npy_bytes(const Tensor& t) {
  const char* descr = nullptr;
  for (const auto& d : kNpyDescrs)
    if (d.dtype == t.dtype()) descr = d.code;
  ACIM_ASSERT(descr != nullptr, "npy_bytes: a dtype without a .npy code");
  std::string out = npy_header(descr, t.shape());
  if (t.nbytes() > 0) out.append(static_cast<const char*>(t.raw()), t.nbytes());
  return out;
}

// Reads back what npy_bytes wrote, and nothing else: the dtype and shape are parsed from the
// header, which must then be exactly the header npy_bytes would write for them.
Tensor tensor_from_npy(std::string_view bytes, const std::string& where) {
  const auto bad = [&](const std::string& what) {
    return Error(ErrorKind::parse, where, "not a valid .npy array: " + what,
                 "the file is corrupt; compile the model again");
  };
  if (bytes.size() < 10 || bytes.substr(0, 8) != std::string_view("\x93NUMPY\x01\x00", 8))
    throw bad("bad magic or version");
  const size_t header_end = 10 + static_cast<size_t>(get_le(bytes, 8, 2));
  if (header_end > bytes.size()) throw bad("truncated header");
  const std::string_view dict = bytes.substr(10, header_end - 10);
  const NpyDescr* descr = nullptr;
  for (const auto& d : kNpyDescrs)
    if (dict.starts_with(std::string("{'descr': '") + d.code + "'")) descr = &d;
  if (!descr) throw bad("unknown dtype");
  const size_t open = dict.find("'shape': (");
  const size_t close = open == std::string_view::npos ? open : dict.find(')', open);
  if (close == std::string_view::npos) throw bad("no shape");
  Shape shape;
  int64_t dim = -1;
  for (char c : dict.substr(open + 10, close - open - 10)) {
    if (c >= '0' && c <= '9') {
      if (dim > (std::numeric_limits<int64_t>::max() - 9) / 10) throw bad("dimension too large");
      dim = (dim < 0 ? 0 : dim * 10) + (c - '0');
    } else if (c == ',' && dim >= 0) {
      shape.push_back(dim);
      dim = -1;
    } else {
      throw bad("malformed shape");
    }
  }
  if (dim >= 0) shape.push_back(dim);
  if (npy_header(descr->code, shape) != bytes.substr(0, header_end)) throw bad("malformed header");
  // The data must be exactly what the shape needs (checked without overflow before allocating).
  const size_t data = bytes.size() - header_end;
  const bool empty = std::find(shape.begin(), shape.end(), 0) != shape.end();
  size_t need = empty ? 0 : dtype_size(descr->dtype);
  bool fits = true;
  for (int64_t d : shape) {
    if (empty || !fits) break;
    if (need > data / static_cast<size_t>(d))
      fits = false;
    else
      need *= static_cast<size_t>(d);
  }
  if (!fits)
    throw bad("shape " + shape_str(shape) + " needs more than its " + std::to_string(data) +
              " bytes of data");
  if (need != data)
    throw bad("shape " + shape_str(shape) + " needs " + std::to_string(need) +
              " bytes of data, the array has " + std::to_string(data));
  Tensor t;
  try {
    t = Tensor(descr->dtype, shape);
  } catch (const Error& e) {
    throw Error(e.kind(), where, e.what_only(), e.fix());
  }
  if (need > 0) std::memcpy(t.raw(), bytes.data() + header_end, need);
  return t;
}

std::string calib_to_bytes(const std::vector<TensorMap>& samples) {
  std::string out;
  put_le(out, samples.size(), 4);
  for (const TensorMap& m : samples) {
    put_le(out, m.size(), 4);
    for (const auto& [name, t] : m) {
      put_le(out, name.size(), 4);
      out += name;
      const std::string npy = npy_bytes(t);
      put_le(out, npy.size(), 8);
      out += npy;
    }
  }
  return out;
}

std::vector<TensorMap> calib_from_bytes(std::string_view bytes, const std::string& where) {
  Cursor c(bytes, where);
  std::vector<TensorMap> samples;
  const uint64_t n = c.uint(4, "the sample count");
  for (uint64_t s = 0; s < n; ++s) {
    TensorMap m;
    const uint64_t k = c.uint(4, "a tensor count");
    for (uint64_t i = 0; i < k; ++i) {
      const std::string name(c.take(c.uint(4, "a name length"), "a tensor name"));
      const std::string tensor_where =
          where + ": sample " + std::to_string(s) + ", tensor '" + name + "'";
      const std::string_view npy = c.take(c.uint(8, "a .npy length"), "a .npy array");
      if (m.count(name))
        throw Error(ErrorKind::parse, tensor_where, "appears twice in one sample",
                    "the file is corrupt; compile the model again");
      m[name] = tensor_from_npy(npy, tensor_where);
    }
    samples.push_back(std::move(m));
  }
  if (!c.done())
    throw Error(ErrorKind::parse, where,
                std::to_string(c.left()) + " bytes follow the last calibration sample",
                "the file is corrupt; compile the model again");
  return samples;
}

// ---- JSON: one field list per struct, walked by a writer and by a reader ----------------------
//
// Each `*_fields(ar, x)` names every field of a struct once; Writer stores them into a JSON
// object, Reader fills them from one, so the two directions cannot drift apart.

json number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

const char* method_name(RangeMethod m) {
  return m == RangeMethod::minmax ? "minmax" : "percentile";
}

class Writer {
 public:
  json obj = json::object();

  void operator()(const char* key, const std::string& v) { obj[key] = v; }
  void operator()(const char* key, int64_t v) { obj[key] = v; }
  void operator()(const char* key, int v) { obj[key] = v; }
  void operator()(const char* key, bool v) { obj[key] = v; }
  void operator()(const char* key, double v) { obj[key] = number(v); }
  void operator()(const char* key, RangeMethod v) { obj[key] = method_name(v); }
  void operator()(const char* key, const std::vector<std::string>& v) { obj[key] = v; }
  void operator()(const char* key, const std::vector<int64_t>& v) { obj[key] = v; }
  void operator()(const char* key, const std::vector<double>& v) {
    json a = json::array();
    for (double x : v) a.push_back(number(x));
    obj[key] = std::move(a);
  }
  void operator()(const char* key, const std::vector<float>& v) {
    json a = json::array();
    for (float x : v) a.push_back(number(static_cast<double>(x)));
    obj[key] = std::move(a);
  }
  template <class T, class Fields>
  void object(const char* key, const T& v, Fields fields) {
    Writer w;
    fields(w, v);
    obj[key] = std::move(w.obj);
  }
  template <class T, class Fields>
  void list(const char* key, const std::vector<T>& v, Fields fields) {
    json a = json::array();
    for (const T& x : v) {
      Writer w;
      fields(w, x);
      a.push_back(std::move(w.obj));
    }
    obj[key] = std::move(a);
  }
};

class Reader {
 public:
  // `where`: "kws.acim: section 'mapping'"; `path`: the key path to `obj` ("layers[2].").
  Reader(const json& obj, std::string where, std::string path)
      : obj_(obj), where_(std::move(where)), path_(std::move(path)) {}

  void operator()(const char* key, std::string& v) { v = string(at(key), key); }
  void operator()(const char* key, int64_t& v) { v = integer(at(key), key); }
  void operator()(const char* key, int& v) {
    const int64_t x = integer(at(key), key);
    if (x < std::numeric_limits<int>::min() || x > std::numeric_limits<int>::max())
      throw wrong(key, "is out of range");
    v = static_cast<int>(x);
  }
  void operator()(const char* key, bool& v) {
    const json& j = at(key);
    if (!j.is_boolean()) throw wrong(key, "is not true or false");
    v = j.get<bool>();
  }
  void operator()(const char* key, double& v) { v = real(at(key), key); }
  void operator()(const char* key, RangeMethod& v) {
    const std::string s = string(at(key), key);
    if (s == "minmax")
      v = RangeMethod::minmax;
    else if (s == "percentile")
      v = RangeMethod::percentile;
    else
      throw wrong(key, "is '" + s + "', not minmax or percentile");
  }
  void operator()(const char* key, std::vector<std::string>& v) { each(key, v, &Reader::string); }
  void operator()(const char* key, std::vector<int64_t>& v) { each(key, v, &Reader::integer); }
  void operator()(const char* key, std::vector<double>& v) { each(key, v, &Reader::real); }
  void operator()(const char* key, std::vector<float>& v) {
    std::vector<double> d;
    each(key, d, &Reader::real);
    v.clear();
    for (size_t i = 0; i < d.size(); ++i) {
      if (std::isfinite(d[i]) && std::fabs(d[i]) > std::numeric_limits<float>::max())
        throw wrong((std::string(key) + "[" + std::to_string(i) + "]").c_str(),
                    "is out of float range");
      v.push_back(static_cast<float>(d[i]));
    }
  }
  template <class T, class Fields>
  void object(const char* key, T& v, Fields fields) {
    const json& j = at(key);
    if (!j.is_object()) throw wrong(key, "is not an object");
    Reader r(j, where_, path_ + key + ".");
    fields(r, v);
  }
  template <class T, class Fields>
  void list(const char* key, std::vector<T>& v, Fields fields) {
    const json& a = at(key);
    if (!a.is_array()) throw wrong(key, "is not a list");
    v.clear();
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string item = path_ + key + "[" + std::to_string(i) + "]";
      if (!a[i].is_object())
        throw Error(ErrorKind::parse, where_, "key '" + item + "' is not an object", kFix);
      Reader r(a[i], where_, item + ".");
      T x{};
      fields(r, x);
      v.push_back(std::move(x));
    }
  }

 private:
  static constexpr const char* kFix = "the file is corrupt or was edited; compile the model again";

  Error wrong(const char* key, const std::string& what) const {
    return Error(ErrorKind::parse, where_, "key '" + path_ + key + "' " + what, kFix);
  }
  const json& at(const char* key) const {
    const auto it = obj_.find(key);
    if (it == obj_.end())
      throw Error(ErrorKind::parse, where_, "missing key '" + path_ + key + "'", kFix);
    return *it;
  }
  std::string string(const json& j, const char* key) const {
    if (!j.is_string()) throw wrong(key, "is not a string");
    return j.get<std::string>();
  }
  int64_t integer(const json& j, const char* key) const {
    if (!j.is_number_integer()) throw wrong(key, "is not an integer");
    if (j.is_number_unsigned() &&
        j.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw wrong(key, "is out of range");
    return j.get<int64_t>();
  }
  double real(const json& j, const char* key) const {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
      const std::string& s = j.get_ref<const std::string&>();
      if (s == "nan") return std::numeric_limits<double>::quiet_NaN();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
    }
    throw wrong(key, "is not a number");
  }
  template <class T>
  void each(const char* key, std::vector<T>& v,
            T (Reader::*element)(const json&, const char*) const) {
    const json& a = at(key);
    if (!a.is_array()) throw wrong(key, "is not a list");
    v.clear();
    for (size_t i = 0; i < a.size(); ++i) {
      const std::string item = std::string(key) + "[" + std::to_string(i) + "]";
      v.push_back((this->*element)(a[i], item.c_str()));
    }
  }

  const json& obj_;
  std::string where_;
  std::string path_;
};

// Field lists. `ar` is a Writer or a Reader; `x` const for writing, mutable for reading.
const auto mapping_options_fields = [](auto& ar, auto& o) {
  ar("model", o.model);
  ar("chips", o.chips);
  ar("chips_auto", o.chips_auto);
  ar("replicate", o.replicate);
};

const auto calibration_fields = [](auto& ar, auto& o) {
  ar("method", o.method);
  ar("percentile", o.percentile);
};

const auto matrix_fields = [](auto& ar, auto& m) {
  ar("role", m.role);
  ar("rows", m.rows);
  ar("cols", m.cols);
  ar("count", m.count);
};

const auto layer_fields = [](auto& ar, auto& l) {
  ar("node", l.node);
  ar("op", l.op);
  ar.list("matrices", l.matrices, matrix_fields);
  ar("groups_packed", l.groups_packed);
  ar("tiles", l.tiles);
  ar("row_blocks", l.row_blocks);
  ar("col_blocks", l.col_blocks);
  ar("partial_sum_adds", l.partial_sum_adds);
  ar("weights", l.weights);
  ar("allocated", l.allocated);
  ar("mvms", l.mvms);
  ar("replication", l.replication);
  ar("output_elements", l.output_elements);
  ar("digital", l.digital);
  ar("chip", l.chip);
  ar("last_chip", l.last_chip);
  ar("first_core", l.first_core);
  ar("last_core", l.last_core);
  ar("array_cores", l.array_cores);
  ar("input_elements", l.input_elements);
  ar("stage", l.stage);
  ar("start_cycle", l.start_cycle);
  ar("finish_cycle", l.finish_cycle);
};

const auto digital_fields = [](auto& ar, auto& d) {
  ar("node", d.node);
  ar("op", d.op);
  ar("unit", d.unit);
  ar("chip", d.chip);
};

const auto boundary_fields = [](auto& ar, auto& b) {
  ar("from", b.from);
  ar("elements", b.elements);
  ar("bytes", b.bytes);
};

const auto transfer_fields = [](auto& ar, auto& t) {
  ar("from", t.from);
  ar("to", t.to);
  ar("from_chip", t.from_chip);
  ar("to_chip", t.to_chip);
  ar("bytes", t.bytes);
  ar("hops", t.hops);
};

const auto mapping_fields = [](auto& ar, auto& m) {
  ar("chip_name", m.chip_name);
  ar("arrays_per_chip", m.arrays_per_chip);
  ar("chips", m.chips);
  ar("tiles", m.tiles);
  ar("arrays_used", m.arrays_used);
  ar("arrays_available", m.arrays_available);
  ar("weights", m.weights);
  ar("allocated", m.allocated);
  ar("cores_used", m.cores_used);
  ar.list("layers", m.layers, layer_fields);
  ar.list("digital", m.digital, digital_fields);
  ar.list("boundaries", m.boundaries, boundary_fields);
  ar("bottleneck_cycles", m.bottleneck_cycles);
  ar("bottleneck_cycles_unreplicated", m.bottleneck_cycles_unreplicated);
  ar("mesh_rows", m.mesh_rows);
  ar("mesh_cols", m.mesh_cols);
  ar("placement", m.placement);
  ar.list("transfers", m.transfers, transfer_fields);
  ar("noc_byte_hops", m.noc_byte_hops);
  ar("noc_byte_hops_row_major", m.noc_byte_hops_row_major);
  ar("latency_cycles", m.latency_cycles);
  ar("interval_cycles", m.interval_cycles);
};

const auto layer_quant_fields = [](auto& ar, auto& q) {
  ar("node", q.node);
  ar("input_range", q.input_range);
  ar("input_min", q.input_min);
  ar("input_max", q.input_max);
  ar("input_source", q.input_source);
  ar("weight_full_scale", q.weight_full_scale);
  ar("weight_bits", q.weight_bits);
  ar("weight_source", q.weight_source);
  ar("weight_sqnr_db", q.weight_sqnr_db);
};

const auto quant_fields = [](auto& ar, auto& q) {
  ar.object("options", q.options, calibration_fields);
  ar("samples", q.samples);
  ar.list("layers", q.layers, layer_quant_fields);
};

// What the loader needs from "meta" (the rest is for people and tools reading the file).
struct Meta {
  int64_t format = 0;
  std::string acim_version;
  std::string model;
  MappingOptions options;
};
const auto meta_fields = [](auto& ar, auto& m) {
  ar("format", m.format);
  ar("acim_version", m.acim_version);
  ar("model", m.model);
  ar.object("mapping_options", m.options, mapping_options_fields);
};

template <class T, class Fields>
std::string to_json_text(const T& v, Fields fields, const std::string& where) {
  Writer w;
  fields(w, v);
  try {
    return w.obj.dump(1);
  } catch (const json::exception&) {  // nlohmann refuses strings that are not UTF-8
    throw Error(ErrorKind::invalid, where, "a name in the program is not valid UTF-8 text",
                "rename the model's nodes and values with UTF-8 names");
  }
}

json parse_json(std::string_view text, const std::string& where) {
  try {
    json j = json::parse(text.begin(), text.end());
    if (!j.is_object()) throw Error(ErrorKind::parse, where, "is not a JSON object");
    return j;
  } catch (const json::exception& e) {
    throw Error(ErrorKind::parse, where, std::string("is not valid JSON: ") + e.what(),
                "the file is corrupt; compile the model again");
  }
}

// ---- checks of the loaded parts against each other --------------------------------------------

bool same_views(const std::vector<MatrixView>& a, const std::vector<MatrixView>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].role != b[i].role || a[i].rows != b[i].rows || a[i].cols != b[i].cols ||
        a[i].count != b[i].count)
      return false;
  return true;
}

// The stored mapping must describe the stored model as this acim maps it: the same analog
// layers, in order, with the same ops and matrix views; digital ops must name nodes of the graph.
void check_mapping(const Program& p, const std::string& where) {
  const std::string fix = "the file is corrupt or was written for another model; compile again";
  const auto mismatch = [&](const std::string& what) {
    return Error(ErrorKind::parse, where, "mapping does not match the stored model: " + what, fix);
  };
  if (p.mapping.chips < 1 || p.mapping.chips > kMaxChips)
    throw mismatch("it uses " + std::to_string(p.mapping.chips) + " chips");
  const int64_t cores = int64_t{p.mapping.chips} * p.chip.cores;
  const int64_t arrays = int64_t{p.mapping.chips} * p.chip.total_arrays();
  const auto on_chip = [&](int64_t chip) { return chip >= 0 && chip < p.mapping.chips; };
  if (p.mapping.cores_used.size() != static_cast<size_t>(p.mapping.chips))
    throw mismatch("cores_used has " + std::to_string(p.mapping.cores_used.size()) +
                   " entries for " + std::to_string(p.mapping.chips) + " chips");
  const std::vector<LayerMapping> expect = analog_layers(p.graph, p.chip);
  std::set<std::string> nodes;
  for (const Node& n : p.graph.nodes) nodes.insert(n.name);
  for (size_t i = 0; i < p.mapping.layers.size(); ++i) {
    const LayerMapping& l = p.mapping.layers[i];
    if (!nodes.count(l.node)) throw mismatch("layer '" + l.node + "' is not a node of the model");
    if (i >= expect.size() || expect[i].node != l.node)
      throw mismatch("layer " + std::to_string(i) + " is '" + l.node + "', the model's is '" +
                     (i < expect.size() ? expect[i].node : std::string("(none)")) + "'");
    if (expect[i].op != l.op || !same_views(expect[i].matrices, l.matrices))
      throw mismatch("layer '" + l.node + "' differs in its op or matrices");
    if (expect[i].tiles != l.tiles || expect[i].groups_packed != l.groups_packed ||
        expect[i].mvms != l.mvms)
      throw mismatch("layer '" + l.node + "' differs in its tiles or MVMs");
    // What the simulator indexes with: chips, copies and array placements in range.
    // (replication is bounded before arrays() multiplies it, so the product cannot overflow)
    bool placed =
        l.replication >= 1 && l.replication <= arrays / std::max<int64_t>(1, l.tiles) &&
        on_chip(l.chip) && on_chip(l.last_chip) && l.chip <= l.last_chip &&
        (l.array_cores.empty() || static_cast<int64_t>(l.array_cores.size()) == l.arrays());
    for (int64_t core : l.array_cores) placed = placed && core >= 0 && core < cores;
    if (!placed)
      throw mismatch("layer '" + l.node + "' has an impossible replication or placement");
  }
  if (expect.size() != p.mapping.layers.size())
    throw mismatch("the model has " + std::to_string(expect.size()) +
                   " analog layers, the mapping " + std::to_string(p.mapping.layers.size()));
  for (const DigitalOp& d : p.mapping.digital)
    if (!nodes.count(d.node) || !on_chip(d.chip))
      throw mismatch("digital op '" + d.node + "' is not a node of the model on one of its chips");
  for (const StageBoundary& b : p.mapping.boundaries)
    if (!on_chip(b.from) || !on_chip(int64_t{b.from} + 1))
      throw mismatch("a stage boundary leaves chip " + std::to_string(b.from));
  for (const Transfer& t : p.mapping.transfers)
    if (!on_chip(t.from_chip) || !on_chip(t.to_chip))
      throw mismatch("the transfer '" + t.from + "' -> '" + t.to +
                     "' names a chip it does not use");
}

// Quantisation: one entry per mapped layer, same order; per-view lists either empty (not
// calibrated) or one value per matrix view; weight scales empty or one per column of each view.
void check_quant(const Program& p, const std::string& where) {
  const auto mismatch = [&](const std::string& what) {
    return Error(ErrorKind::parse, where, "quantisation does not match the mapping: " + what,
                 "the file is corrupt; compile the model again");
  };
  if (p.quant.layers.size() != p.mapping.layers.size())
    throw mismatch(std::to_string(p.quant.layers.size()) + " layers for " +
                   std::to_string(p.mapping.layers.size()) + " mapped layers");
  for (size_t i = 0; i < p.quant.layers.size(); ++i) {
    const LayerQuant& q = p.quant.layers[i];
    const LayerMapping& l = p.mapping.layers[i];
    if (q.node != l.node)
      throw mismatch("layer " + std::to_string(i) + " is '" + q.node + "', mapped '" + l.node +
                     "'");
    const size_t views = l.matrices.size();
    for (size_t n :
         {q.input_range.size(), q.input_min.size(), q.input_max.size(), q.input_source.size()})
      if (n != 0 && n != views)
        throw mismatch("layer '" + q.node + "' has " + std::to_string(n) + " input values for " +
                       std::to_string(views) + " matrices");
    int64_t columns = 0;
    for (const MatrixView& m : l.matrices) columns += m.count * m.cols;
    if (!q.weight_full_scale.empty() && static_cast<int64_t>(q.weight_full_scale.size()) != columns)
      throw mismatch("layer '" + q.node + "' has " + std::to_string(q.weight_full_scale.size()) +
                     " weight scales for " + std::to_string(columns) + " columns");
  }
}

// Reads a program's outer structure front to back from a stream of known size; running past
// its end is a parse Error naming `where` (as Cursor's), a failing read an io Error.
class StreamCursor {
 public:
  StreamCursor(std::istream& in, uint64_t size, std::string where)
      : in_(in), size_(size), where_(std::move(where)) {}
  uint64_t left() const { return size_ - pos_; }
  bool done() const { return pos_ == size_; }
  uint64_t uint(int width, const char* what) {
    const std::string b = take(static_cast<uint64_t>(width), what);
    return get_le(b, 0, width);
  }
  std::string take(uint64_t n, const char* what) {
    if (n > left())
      throw Error(ErrorKind::parse, where_,
                  std::string("truncated: ") + what + " needs " + std::to_string(n) +
                      " bytes, only " + std::to_string(left()) + " remain",
                  "the file is truncated or corrupt; compile the model again");
    std::string s(static_cast<size_t>(n), '\0');
    if (n > 0 && !in_.read(s.data(), static_cast<std::streamsize>(n)))
      throw Error(ErrorKind::io, where_, "cannot read the program",
                  "check that the file is not being changed while acim reads it");
    pos_ += n;
    return s;
  }

 private:
  std::istream& in_;
  uint64_t size_;
  std::string where_;
  uint64_t pos_ = 0;
};

// A read-only stream over bytes in memory (program_from_bytes parses through it, as
// load_program through the file's stream).
class BytesBuf : public std::streambuf {
 public:
  explicit BytesBuf(const std::string& bytes) {
    char* p = const_cast<char*>(bytes.data());  // only read: the get area of an input stream
    setg(p, p, p + bytes.size());
  }
};

// The file's structure from a stream of `size` bytes: each section's payload, checked (CRC,
// duplicates, trailing bytes, missing sections) before any is parsed. Only the sections are
// held, not the file, and parse_sections frees the model's bytes once it is imported.
std::map<std::string, std::string> read_sections(std::istream& in, uint64_t size,
                                                 const std::string& source, uint64_t& version) {
  const std::string fix = "the file is truncated or corrupt; compile the model again";
  StreamCursor c(in, size, source);
  if (size < sizeof kMagic || c.take(sizeof kMagic, "the magic") !=
                                  std::string_view(kMagic, sizeof kMagic))
    throw Error(ErrorKind::parse, source, "is not an acim program (no ACIMPROG magic)",
                "give a file written by `acim compile -o`");
  version = c.uint(4, "the format version");
  if (version > static_cast<uint64_t>(kProgramFormatVersion))
    throw Error(ErrorKind::unsupported, source,
                "written by a newer acim (format " + std::to_string(version) +
                    "); this acim reads format " + std::to_string(kProgramFormatVersion),
                "update acim, or compile the model again with this one");
  if (version == 0) throw Error(ErrorKind::parse, source, "has format version 0", fix);
  const uint64_t count = c.uint(4, "the section count");
  if (count > kMaxSections)
    throw Error(ErrorKind::parse, source,
                "claims " + std::to_string(count) + " sections (at most " +
                    std::to_string(kMaxSections) + ")",
                fix);

  std::map<std::string, std::string> sections;
  for (uint64_t s = 0; s < count; ++s) {
    std::string head = c.take(1, "a section name length");
    const std::string name = c.take(get_le(head, 0, 1), "a section name");
    const std::string length_bytes = c.take(8, "a section length");
    const uint64_t length = get_le(length_bytes, 0, 8);
    head += name + length_bytes;
    const std::string section_where = source + ": section '" + name + "'";
    const uint32_t stored_crc = static_cast<uint32_t>(c.uint(4, "a section checksum"));
    if (length > c.left())
      throw Error(ErrorKind::parse, section_where,
                  "truncated: holds " + std::to_string(c.left()) + " of its " +
                      std::to_string(length) + " bytes",
                  fix);
    std::string payload = c.take(length, "a section");
    if (crc32_update(crc32_update(0, head), payload) != stored_crc)
      throw Error(ErrorKind::parse, section_where, "is corrupt (CRC-32 mismatch)", fix);
    if (!sections.emplace(name, std::move(payload)).second)
      throw Error(ErrorKind::parse, section_where, "appears twice", fix);
  }
  if (!c.done())
    throw Error(ErrorKind::parse, source,
                std::to_string(c.left()) + " bytes follow the last section", fix);
  for (const char* name : kSections)
    if (!sections.count(name))
      throw Error(
          ErrorKind::parse, source,
          std::string("has no '") + name + "' section (" + std::to_string(count) + " sections)",
          fix);
  return sections;
}

// A Program from its checked sections (consumed: each is freed once parsed).
Program parse_sections(std::map<std::string, std::string> sections, uint64_t version,
                       const std::string& source) {
  const std::string fix = "the file is truncated or corrupt; compile the model again";
  const auto where = [&](const char* name) { return source + ": section '" + name + "'"; };
  Program p;
  {
    const json j = parse_json(sections["meta"], where("meta"));
    Meta meta;
    Reader r(j, where("meta"), "");
    meta_fields(r, meta);
    if (meta.format != static_cast<int64_t>(version))
      throw Error(
          ErrorKind::parse, where("meta"),
          "says format " + std::to_string(meta.format) + ", the header " + std::to_string(version),
          fix);
    p.model = meta.model;
    p.options = meta.options;
  }
  p.chip = parse_chip_spec(sections["chip"], where("chip"));
  {
    // The model's bytes (most of the file) are freed as soon as they are parsed.
    std::string model = std::move(sections["model"]);
    sections.erase("model");
    p.source = load_onnx_from_bytes(std::move(model), where("model"));
  }
  p.source.source = source;  // later messages about nodes name the program file
  p.graph = p.source;
  run_default_passes(p.graph);
  {
    const json j = parse_json(sections["mapping"], where("mapping"));
    Reader r(j, where("mapping"), "");
    mapping_fields(r, p.mapping);
  }
  {
    const json j = parse_json(sections["quant"], where("quant"));
    Reader r(j, where("quant"), "");
    quant_fields(r, p.quant);
  }
  p.calibration_set = calib_from_bytes(sections["calib"], where("calib"));
  check_mapping(p, where("mapping"));
  check_quant(p, where("quant"));
  return p;
}

Program program_from_stream(std::istream& in, uint64_t size, const std::string& source) {
  uint64_t version = 0;
  std::map<std::string, std::string> sections = read_sections(in, size, source, version);
  return parse_sections(std::move(sections), version, source);
}

}  // namespace

std::string program_to_bytes(const Program& p) {
  const std::string where = p.model.empty() ? "program" : p.model;
  Meta meta{kProgramFormatVersion, ACIM_VERSION, p.model, p.options};
  Writer meta_writer;
  meta_fields(meta_writer, meta);
  meta_writer.object("calibration", p.quant.options, calibration_fields);
  std::string meta_text;
  try {
    meta_text = meta_writer.obj.dump(1);
  } catch (const json::exception&) {
    throw Error(ErrorKind::invalid, where, "the model path is not valid UTF-8 text");
  }

  const std::string payloads[kSectionCount] = {
      meta_text,
      to_toml(p.chip),
      save_onnx_to_bytes(p.source),
      to_json_text(p.mapping, mapping_fields, where),
      to_json_text(p.quant, quant_fields, where),
      calib_to_bytes(p.calibration_set),
  };
  std::string out(kMagic, sizeof kMagic);
  put_le(out, static_cast<uint64_t>(kProgramFormatVersion), 4);
  put_le(out, kSectionCount, 4);
  for (size_t i = 0; i < kSectionCount; ++i) {
    std::string head;
    put_le(head, std::strlen(kSections[i]), 1);
    head += kSections[i];
    put_le(head, payloads[i].size(), 8);
    out += head;
    put_le(out, crc32_update(crc32_update(0, head), payloads[i]), 4);
    out += payloads[i];
  }
  return out;
}

void save_program(const Program& program, const std::filesystem::path& path) {
  write_file_atomically(path, program_to_bytes(program));
}

Program program_from_bytes(const std::string& bytes, const std::string& source) {
  BytesBuf buf(bytes);
  std::istream in(&buf);
  return program_from_stream(in, bytes.size(), source);
}

// Parsed from the file's stream: the file is never held whole (for a 124 M-weight model that is
// 0.5 GB of peak memory saved). Other files than regular ones (pipes) are read whole first.
Program load_program(const std::filesystem::path& path) {
  const std::string name = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error(ErrorKind::io, name, "cannot open the program: it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::io, name, "cannot open the program",
                "check that the file exists and is readable");
  const std::uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec && std::filesystem::is_regular_file(path, ec))
    return program_from_stream(in, static_cast<uint64_t>(size), name);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw Error(ErrorKind::io, name, "cannot read the program");
  return program_from_bytes(std::move(ss).str(), name);
}

bool is_program_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  char head[sizeof kMagic] = {};
  return in && in.read(head, sizeof head) && std::memcmp(head, kMagic, sizeof kMagic) == 0;
}

std::string program_mapping_json(const Program& program) {
  const Mapping& m = program.mapping;
  const Quantisation& quant = program.quant;
  nlohmann::json j;
  j["chip"] = m.chip_name;
  j["chips"] = m.chips;
  j["arrays_per_chip"] = m.arrays_per_chip;
  j["arrays_available"] = m.arrays_available;
  j["arrays_used"] = m.arrays_used;
  j["arrays_unreplicated"] = m.tiles;
  j["weights"] = m.weights;
  j["utilisation"] = m.utilisation();
  j["cores_used"] = m.cores_used;
  j["bottleneck_cycles"] = m.bottleneck_cycles;
  j["bottleneck_cycles_unreplicated"] = m.bottleneck_cycles_unreplicated;
  j["layers"] = nlohmann::json::array();
  for (const LayerMapping& l : m.layers) {
    nlohmann::json mats = nlohmann::json::array();
    for (const MatrixView& mv : l.matrices)
      mats.push_back(
          {{"role", mv.role}, {"rows", mv.rows}, {"cols", mv.cols}, {"count", mv.count}});
    j["layers"].push_back({{"name", l.node},
                           {"op", l.op},
                           {"matrices", mats},
                           {"groups_packed", l.groups_packed},
                           {"tiles", l.tiles},
                           {"row_blocks", l.row_blocks},
                           {"col_blocks", l.col_blocks},
                           {"partial_sum_adds", l.partial_sum_adds},
                           {"replication", l.replication},
                           {"arrays", l.arrays()},
                           {"weights", l.weights},
                           {"utilisation", l.utilisation()},
                           {"mvms", l.mvms},
                           {"cycles", l.cycles()},
                           {"chip", l.chip},
                           {"last_chip", l.last_chip},
                           {"first_core", l.first_core},
                           {"last_core", l.last_core},
                           {"digital", l.digital}});
    const LayerQuant* q = quant.layer(l.node);
    nlohmann::json& jl = j["layers"].back();
    jl["input_range"] = q ? q->input_range : std::vector<double>{};
    jl["input_source"] = q ? q->input_source : std::vector<std::string>{};
    jl["weight_bits"] = q ? q->weight_bits : 0;
  }
  j["digital"] = nlohmann::json::array();
  for (const DigitalOp& d : m.digital)
    j["digital"].push_back({{"name", d.node}, {"op", d.op}, {"unit", d.unit}, {"chip", d.chip}});
  j["boundaries"] = nlohmann::json::array();
  for (const StageBoundary& b : m.boundaries)
    j["boundaries"].push_back(
        {{"from_chip", b.from}, {"elements", b.elements}, {"bytes", b.bytes}});
  j["placement"] = m.placement;
  j["noc_byte_hops"] = m.noc_byte_hops;
  j["noc_byte_hops_row_major"] = m.noc_byte_hops_row_major;
  j["latency_cycles"] = m.latency_cycles;
  j["interval_cycles"] = m.interval_cycles;
  j["calibration"] = {{"method", calibration_method_name(quant.options)},
                      {"samples", quant.samples}};
  return j.dump();
}

}  // namespace acim
