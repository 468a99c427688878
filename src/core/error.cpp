#include "acim/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace acim {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::io: return "io";
    case ErrorKind::parse: return "parse";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::shape: return "shape";
    case ErrorKind::invalid: return "invalid";
    case ErrorKind::limit: return "limit";
  }
  return "unknown";
}

static std::string compose(const std::string& where, const std::string& what,
                           const std::string& fix) {
  std::string s = where.empty() ? what : where + ": " + what;
  if (!fix.empty()) s += " (" + fix + ")";
  return s;
}

Error::Error(ErrorKind kind, std::string where, std::string what, std::string fix)
    : std::runtime_error(compose(where, what, fix)),
      kind_(kind),
      where_(std::move(where)),
      what_(std::move(what)),
      fix_(std::move(fix)) {}

void internal_assert_fail(const char* cond, const char* file, int line, std::string_view msg) {
  std::fprintf(stderr, "acim: internal error at %s:%d: %s (%.*s); please report this bug\n",
               file, line, cond, static_cast<int>(msg.size()), msg.data());
  std::abort();
}

}  // namespace acim
