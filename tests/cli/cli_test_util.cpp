#include "cli_test_util.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace fs = std::filesystem;

namespace acim::cli_test {

std::string slurp_file(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

Result run_acim(const std::string& args) {
  static int counter = 0;
  static const TempDir dir("test");  // removed at exit
  fs::path out = dir / ("out" + std::to_string(counter));
  fs::path err = dir / ("err" + std::to_string(counter++));
  std::string cmd = "cd " + std::string(ACIM_SOURCE_DIR) + " && " + std::string(ACIM_BIN) + " " +
                    args + " >" + out.string() + " 2>" + err.string();
  int raw = std::system(cmd.c_str());
  Result r;
  if (WIFEXITED(raw)) r.status = WEXITSTATUS(raw);
  r.out = slurp_file(out);
  r.err = slurp_file(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

void expect_one_line_error(const Result& r, const std::vector<std::string>& must_contain) {
  EXPECT_EQ(r.status, 1) << r.err;
  int lines = 0;
  for (char c : r.err) lines += c == '\n';
  EXPECT_EQ(lines, 1) << r.err;
  EXPECT_EQ(r.err.rfind("acim: error: ", 0), 0u) << r.err;
  for (const auto& s : must_contain)
    EXPECT_NE(r.err.find(s), std::string::npos) << "missing '" << s << "' in: " << r.err;
}

void expect_has(const std::string& text, const std::vector<std::string>& must_contain) {
  for (const auto& s : must_contain)
    EXPECT_NE(text.find(s), std::string::npos) << "missing '" << s << "' in:\n" << text;
}

TempDir::TempDir(const std::string& name)
    : path_(fs::temp_directory_path() / ("acim_cli_" + name + "_" + std::to_string(::getpid()))) {
  fs::remove_all(path_);
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

}  // namespace acim::cli_test
