// Helpers shared by the end-to-end tests of the `acim` command: run the built binary as a user
// would (from the source folder, so relative paths like zoo/... work) and check its output.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace acim::cli_test {

struct Result {
  int status = -1;  // exit code; -1 if killed by a signal
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `acim ARGS` through the shell in ACIM_SOURCE_DIR, stdout and stderr captured.
Result run_acim(const std::string& args);

// The whole file as a string ("" if it cannot be read).
std::string slurp_file(const std::filesystem::path& path);

// A user error: exit status 1, exactly one line on stderr starting "acim: error: ", containing
// each of `must_contain`.
void expect_one_line_error(const Result& r, const std::vector<std::string>& must_contain);

// Each of `must_contain` appears in `text`.
void expect_has(const std::string& text, const std::vector<std::string>& must_contain);

// An empty temporary folder unique to this process and `name` (removed first if present),
// removed with its contents when the TempDir goes out of scope — also when a test fails.
class TempDir {
 public:
  explicit TempDir(const std::string& name);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  operator const std::filesystem::path&() const { return path_; }  // NOLINT: reads as a path
  std::filesystem::path operator/(const std::string& child) const { return path_ / child; }
  std::string string() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace acim::cli_test
