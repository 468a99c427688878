// SKELETON (being written): see include/acim/program.hpp.
#include "acim/program.hpp"

#include "acim/error.hpp"

namespace acim {

void save_program(const Program&, const std::filesystem::path& path) {
  throw Error(ErrorKind::unsupported, path.string(), "not written yet");
}
std::string program_to_bytes(const Program&) {
  throw Error(ErrorKind::unsupported, "program", "not written yet");
}
Program load_program(const std::filesystem::path& path) {
  throw Error(ErrorKind::unsupported, path.string(), "not written yet");
}
Program program_from_bytes(const std::string&, const std::string& source) {
  throw Error(ErrorKind::unsupported, source, "not written yet");
}
bool is_program_file(const std::filesystem::path&) {
  return false;
}

}  // namespace acim
