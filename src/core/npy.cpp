// NumPy .npy reader/writer. Format: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// magic "\x93NUMPY", version (major, minor), header length (uint16 for 1.0, uint32 for 2.0/3.0),
// then a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}, padded with
// spaces and a newline to a multiple of 64 bytes, then the raw array data.
#include "acim/npy.hpp"

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/atomic_file.hpp"

namespace acim {

namespace {

struct Descr {
  const char* code;
  DType dtype;
};
constexpr Descr kDescrs[] = {
    {"<f4", DType::f32}, {"<f8", DType::f64}, {"<f2", DType::f16}, {"|i1", DType::i8},
    {"|u1", DType::u8},  {"<i2", DType::i16}, {"<u2", DType::u16}, {"<i4", DType::i32},
    {"<u4", DType::u32}, {"<i8", DType::i64}, {"<u8", DType::u64}, {"|b1", DType::boolean},
};

std::string descr_of(DType dt) {
  for (const auto& d : kDescrs)
    if (d.dtype == dt) return d.code;
  return "?";
}

// Value of `key` in the header dict, as the raw text up to the next top-level ',' or '}'.
std::string dict_value(const std::string& header, const std::string& key, const std::string& where) {
  auto k = header.find("'" + key + "'");
  if (k == std::string::npos)
    throw Error(ErrorKind::parse, where, "the .npy header has no '" + key + "' entry");
  auto colon = header.find(':', k);
  if (colon == std::string::npos)
    throw Error(ErrorKind::parse, where, "malformed .npy header");
  size_t i = colon + 1;
  while (i < header.size() && header[i] == ' ') ++i;
  int depth = 0;
  size_t start = i;
  for (; i < header.size(); ++i) {
    char c = header[i];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  return header.substr(start, i - start);
}

}  // namespace

Tensor load_npy(const std::filesystem::path& path) {
  const std::string where = path.string();
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(ErrorKind::io, where, "cannot open file", "check the path");
  char magic[8];
  if (!f.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
    throw Error(ErrorKind::parse, where, "not a .npy file (bad magic)",
                "save arrays with numpy.save");
  int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!f.read(reinterpret_cast<char*>(b), 2))
      throw Error(ErrorKind::parse, where, "truncated .npy header");
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!f.read(reinterpret_cast<char*>(b), 4))
      throw Error(ErrorKind::parse, where, "truncated .npy header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  } else {
    throw Error(ErrorKind::unsupported, where,
                ".npy format version " + std::to_string(major) + " is not supported");
  }
  if (header_len > (1u << 20)) throw Error(ErrorKind::parse, where, "implausible .npy header length");
  std::string header(header_len, '\0');
  if (!f.read(header.data(), header_len))
    throw Error(ErrorKind::parse, where, "truncated .npy header");

  std::string descr = dict_value(header, "descr", where);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    throw Error(ErrorKind::parse, where, "malformed 'descr' in .npy header");
  descr = descr.substr(1, descr.size() - 2);
  if (descr == "=f4") descr = "<f4";  // native order on a little-endian machine
  const Descr* found = nullptr;
  for (const auto& d : kDescrs)
    if (descr == d.code || (descr.size() == 3 && descr[0] == '<' && d.code[0] == '|' &&
                            descr.substr(1) == std::string(d.code + 1)))
      found = &d;
  if (!found)
    throw Error(ErrorKind::unsupported, where, "array dtype '" + descr + "' is not supported",
                "save as little-endian float32, float64, int8..int64, uint8..uint64 or bool");
  if (dict_value(header, "fortran_order", where).find("True") != std::string::npos)
    throw Error(ErrorKind::unsupported, where, "Fortran-ordered arrays are not supported",
                "save numpy.ascontiguousarray(x)");

  std::string shape_text = dict_value(header, "shape", where);
  Shape shape;
  {
    std::string digits;
    for (char c : shape_text) {
      if (c >= '0' && c <= '9') {
        digits += c;
      } else if (c == ',' || c == ')') {
        if (!digits.empty()) {
          if (digits.size() > 18) throw Error(ErrorKind::parse, where, "dimension too large");
          shape.push_back(std::stoll(digits));
          digits.clear();
        }
      } else if (c != '(' && c != ' ' && c != 'L') {
        throw Error(ErrorKind::parse, where, "malformed 'shape' in .npy header: " + shape_text);
      }
    }
  }
  Tensor t;
  try {
    t = Tensor(found->dtype, shape);
  } catch (const Error& e) {
    throw Error(e.kind(), where, e.what_only(), e.fix());
  }
  if (t.nbytes() && !f.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes())))
    throw Error(ErrorKind::parse, where,
                "truncated: the header declares " + shape_str(shape) + " (" +
                    std::to_string(t.nbytes()) + " bytes of data) but the file is shorter");
  return t;
}

void save_npy(const std::filesystem::path& path, const Tensor& tensor) {
  std::string header = "{'descr': '" + descr_of(tensor.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape().size(); ++i)
    header += std::to_string(tensor.shape()[i]) + ",";
  if (tensor.shape().size() > 1) header.pop_back();
  header += "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>((header.size() >> 8) & 0xff);
  bytes += header;
  bytes.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  write_file_atomically(path, bytes);
}

}  // namespace acim
