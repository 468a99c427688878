// What the unit tests share: builders to write graphs by hand, and a per-test temporary folder.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "acim/graph.hpp"

namespace acim::test {

inline Node make_node(const std::string& name, const std::string& op,
                      std::vector<std::string> inputs, std::vector<std::string> outputs,
                      std::map<std::string, Attribute> attrs = {}) {
  Node n;
  n.name = name;
  n.op_type = op;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  n.attrs = std::move(attrs);
  return n;
}

// A float32 tensor with every element `v`.
inline Tensor filled(const Shape& shape, float v = 0.5f) {
  Tensor t(DType::f32, shape);
  for (float& x : t.span<float>()) x = v;
  return t;
}

// A fresh, empty folder named after the running test (and this process), removed with its
// contents when the TempDir goes out of scope — also when the test fails.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = std::filesystem::temp_directory_path() /
            ("acim_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace acim::test
