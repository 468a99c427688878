// Bad input of the classes docs/RELIABILITY.md lists, at the library level, each refused with its
// exact ErrorKind: a graph nested deeper than protobuf allows, a cyclic graph, a sweep name that
// would put the default database in another folder, and writes that fail half-way (each writer
// leaves the old file byte for byte and no temporary file). The same inputs through the `acim`
// command, where nothing may be written: tests/cli/test_cli_bad_input.cpp. The models are
// tests/data/cli/make_models.py's.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "acim/audio.hpp"
#include "acim/error.hpp"
#include "acim/npy.hpp"
#include "acim/onnx.hpp"
#include "acim/report.hpp"
#include "acim/sweep.hpp"
#include "test_util.hpp"

namespace acim {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(ACIM_SOURCE_DIR) + "/tests/data/cli/";

// The Error `f` throws (a test failure if it throws none).
Error error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no acim::Error thrown";
  return Error(ErrorKind::invalid, "", "");
}

bool has(const Error& e, const std::string& part) {
  return std::string(e.what()).find(part) != std::string::npos;
}

TEST(Limits, GraphNestedDeeperThanProtobufAllowsIsParse) {
  // 200 graphs, each inside an attribute of the one above; protobuf stops at 100 message levels.
  const Error e = error_of([] { load_onnx(kData + "nested.onnx"); });
  EXPECT_EQ(e.kind(), ErrorKind::parse) << e.what();
  EXPECT_TRUE(has(e, "nested.onnx")) << e.what();
  EXPECT_TRUE(has(e, "nested deeper than protobuf's limit of 100 levels")) << e.what();
}

TEST(Limits, CyclicGraphIsInvalidNamingTheNode) {
  const Error e = error_of([] { load_onnx(kData + "cyclic.onnx"); });
  EXPECT_EQ(e.kind(), ErrorKind::invalid) << e.what();
  EXPECT_TRUE(has(e, "cyclic.onnx")) << e.what();
  EXPECT_TRUE(has(e, "loop_a")) << e.what();
  EXPECT_TRUE(has(e, "acyclic")) << e.what();
}

TEST(Limits, SweepNameWithAFolderIsInvalid) {
  // The name also names the default database (NAME.db): it must not lead out of the folder.
  const auto sweep = [](const std::string& name_toml) {
    return "[sweep]\nname = " + name_toml +
           "\nchip = \"edge-voice\"\nmodel = \"m.onnx\"\ndata = \"d\"\n[parameters]\n"
           "\"array.adc.bits\" = [4, 6]\n";
  };
  for (const std::string name :
       {R"("../up")", R"("/tmp/abs")", R"("a/b")", R"('a\b')", R"("")", R"("tab\there")"}) {
    const Error e = error_of([&] { parse_sweep(sweep(name), "s/sweep.toml"); });
    EXPECT_EQ(e.kind(), ErrorKind::invalid) << name << ": " << e.what();
    EXPECT_TRUE(has(e, "s/sweep.toml:2: key 'sweep.name'")) << e.what();
    EXPECT_TRUE(has(e, "not a plain name")) << e.what();
  }
  EXPECT_EQ(parse_sweep(sweep(R"("kws edge-voice_2.b")"), "s/sweep.toml").name,
            "kws edge-voice_2.b");
}

// While alive: files this process writes may not grow past `bytes` (RLIMIT_FSIZE; the write
// fails with EFBIG, SIGXFSZ ignored), as on a full disk or a quota.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    old_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old_);
    rlimit r = old_;
    r.rlim_cur = bytes;
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &r), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &old_);
    std::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  void (*old_handler_)(int) = nullptr;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Limits, WriteThatFailsHalfWayLeavesTheOldFile) {
  test::TempDir dir;
  const std::string old = "the previous run's file\n";
  constexpr size_t kLimit = 64 * 1024;  // each new file is 128 KiB or more
  const std::vector<float> samples(kLimit, 0.25f);
  const std::vector<std::pair<std::string, std::function<void(const fs::path&)>>> writers = {
      {"out.npy",
       [&](const fs::path& p) {
         save_npy(p, Tensor::from_vector<float>({static_cast<int64_t>(samples.size())}, samples));
       }},
      {"report.html", [&](const fs::path& p) { write_report_file(p, std::string(2 * kLimit, 'x')); }},
      {"clip.wav", [&](const fs::path& p) { write_wav(p, samples, 16000, 1, WavFormat::float32); }},
  };
  for (const auto& entry : writers) {
    // Not a structured binding: Clang 14 (the tsan and fuzz presets) cannot capture one.
    const std::string& name = entry.first;
    const auto& write = entry.second;
    const fs::path p = dir.path() / name;
    std::ofstream(p, std::ios::binary) << old;
    Error e = Error(ErrorKind::invalid, "", "");
    {
      const FileSizeLimit limit(kLimit);
      e = error_of([&] { write(p); });
    }
    EXPECT_EQ(e.kind(), ErrorKind::io) << name << ": " << e.what();
    EXPECT_TRUE(has(e, p.string())) << e.what();
    EXPECT_EQ(slurp(p), old) << name;
    std::vector<std::string> files;
    for (const auto& f : fs::directory_iterator(dir.path())) files.push_back(f.path().filename());
    EXPECT_EQ(files, std::vector<std::string>{name}) << "a temporary file was left beside " << name;
    fs::remove(p);
    // Without the limit the same write succeeds: the failure above was the limit's.
    write(p);
    EXPECT_GT(fs::file_size(p), kLimit) << name;
    fs::remove(p);
  }
}

}  // namespace
}  // namespace acim
