// A progress bar on stderr for work that may take more than a second: shown only when stderr is
// a terminal and only once the work has run for a second, redrawn at most 10 times a second,
// with the rate and the time left; cleared when done.
#pragma once

#include <chrono>
#include <string>

namespace acim::cli {

class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  void update(int64_t done, int64_t total);
  void finish();  // clears the bar (also done by the destructor)

 private:
  std::string label_;
  std::chrono::steady_clock::time_point start_, last_;
  bool tty_ = false;
  bool shown_ = false;
};

}  // namespace acim::cli
