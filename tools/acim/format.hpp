// Small text-formatting helpers for the command line's tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "acim/tensor.hpp"

namespace acim::cli {

// 5368320 -> "5,368,320"
std::string with_commas(int64_t n);
// 5368320 -> "5.37 M"
std::string si(double n);

// A left/right-aligned text table.
class Table {
 public:
  explicit Table(std::vector<std::string> headers, std::vector<bool> right_align = {});
  void add(std::vector<std::string> row);
  void add_rule();
  std::string str() const;

 private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;  // empty row = rule
};

}  // namespace acim::cli
