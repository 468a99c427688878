#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace acim::cli {

Progress::Progress(std::string label)
    : label_(std::move(label)), start_(std::chrono::steady_clock::now()), last_(start_),
      tty_(isatty(STDERR_FILENO) != 0) {}

Progress::~Progress() {
  finish();
}

void Progress::update(int64_t done, int64_t total) {
  if (!tty_ || total <= 0) return;
  const auto now = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (elapsed < 1.0 || (shown_ && now - last_ < std::chrono::milliseconds(100) && done < total)) return;
  last_ = now;
  shown_ = true;
  constexpr int kWidth = 30;
  const double f = static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(f * kWidth);
  char bar[kWidth + 1];
  for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
  bar[kWidth] = '\0';
  const double left = done > 0 ? elapsed * static_cast<double>(total - done) / static_cast<double>(done) : 0.0;
  std::fprintf(stderr, "\r%s [%s] %3.0f%%  %lld/%lld  %.0f/s  %.0f s left  ", label_.c_str(), bar,
               100.0 * f, static_cast<long long>(done), static_cast<long long>(total),
               static_cast<double>(done) / elapsed, left);
  std::fflush(stderr);
}

void Progress::finish() {
  if (!shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace acim::cli
