// Errors. A user's mistake (bad file, unsupported op, shape mismatch, a limit exceeded) is an
// acim::Error carrying where it happened and what to do; the CLI prints it as one line and exits
// non-zero. A bug in acim itself is an internal assertion (ACIM_ASSERT), never a user error.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace acim {

enum class ErrorKind {
  io,           // a file cannot be opened, read or written
  parse,        // a file is not what it claims to be (truncated, malformed)
  unsupported,  // a valid input acim does not handle (op, dtype, opset)
  shape,        // shapes or dtypes that do not fit together
  invalid,      // a value out of range, a missing name, a bad argument
  limit,        // a configured resource limit would be exceeded
};

std::string_view error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  // where: the file, node or key the problem is in ("model.onnx: node 'conv1' (Conv)").
  // what: what is wrong. fix: what the user should do instead (may be empty).
  Error(ErrorKind kind, std::string where, std::string what, std::string fix = {});

  ErrorKind kind() const { return kind_; }
  const std::string& where() const { return where_; }
  const std::string& what_only() const { return what_; }
  const std::string& fix() const { return fix_; }

 private:
  ErrorKind kind_;
  std::string where_;
  std::string what_;
  std::string fix_;
};

[[noreturn]] void internal_assert_fail(const char* cond, const char* file, int line,
                                       std::string_view msg);

}  // namespace acim

// An internal invariant: if it fails, acim has a bug.
#define ACIM_ASSERT(cond, msg)                                               \
  do {                                                                       \
    if (!(cond)) ::acim::internal_assert_fail(#cond, __FILE__, __LINE__, msg); \
  } while (0)
