// Conformance against ONNX's backend node tests (onnx/backend/test/data/node/<test>/): every
// test directory is one parameterised case named after it (--gtest_filter=*conv* works).
// A model acim refuses as unsupported (op, dtype, opset) is skipped with its reason; anything
// else must load, run and match the expected outputs. At the end one summary line is printed,
// followed by the skip reasons with counts (and failures grouped by op, if any).
//
// The data folder comes from ACIM_ONNX_NODE_TESTS, else from asking ACIM_PYTHON (or the
// --python argument) where the onnx package lives. Without it the program exits 77 (skipped).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "acim/executor.hpp"
#include "acim/onnx.hpp"

namespace fs = std::filesystem;

namespace {

std::string g_python;    // from --python or ACIM_PYTHON
fs::path g_data_dir;     // .../onnx/backend/test/data/node
std::string g_data_why;  // why g_data_dir is empty

struct Stats {
  std::map<std::string, int> skip_reasons;                   // reason -> count
  std::map<std::string, std::vector<std::string>> failures;  // op types -> test names
  std::map<std::string, std::string> case_ops;               // test -> its op types
  std::map<std::string, std::string> case_skip;              // test -> skip reason
};
Stats g_stats;

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

void find_data_dir() {
  if (const char* env = std::getenv("ACIM_ONNX_NODE_TESTS"); env && *env) {
    g_data_dir = env;
    if (!fs::is_directory(g_data_dir)) {
      g_data_why = "ACIM_ONNX_NODE_TESTS=" + std::string(env) + " is not a directory";
      g_data_dir.clear();
    }
    return;
  }
  std::string python = g_python;
  if (python.empty())
    if (const char* env = std::getenv("ACIM_PYTHON"); env && *env) python = env;
  if (python.empty()) {
    g_data_why = "set ACIM_ONNX_NODE_TESTS or ACIM_PYTHON (a Python with the onnx package)";
    return;
  }
  const std::string cmd =
      "\"" + python + "\" -c \"import onnx,os;print(os.path.dirname(onnx.__file__))\" 2>/dev/null";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    pclose(p);
  }
  out = trim(out);
  fs::path dir = fs::path(out) / "backend" / "test" / "data" / "node";
  if (out.empty() || !fs::is_directory(dir)) {
    g_data_why = "'" + python + "' has no onnx package with backend test data";
    return;
  }
  g_data_dir = dir;
}

std::vector<std::string> list_cases() {
  std::vector<std::string> cases;
  if (g_data_dir.empty()) return cases;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(g_data_dir, ec))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx"))
      cases.push_back(e.path().filename());
  std::sort(cases.begin(), cases.end());
  return cases;
}

// Float16 bits to float (IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits).
double half_to_double(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0)
    v = std::ldexp(mant, -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = std::ldexp(mant + 1024, exp - 25);
  return sign ? -v : v;
}

std::vector<double> as_doubles(const acim::Tensor& t) {
  if (t.dtype() == acim::DType::f16) {
    std::vector<double> r(static_cast<size_t>(t.numel()));
    const auto* bits = static_cast<const uint16_t*>(t.raw());
    for (size_t i = 0; i < r.size(); ++i) r[i] = half_to_double(bits[i]);
    return r;
  }
  return t.to_doubles();
}

enum class Class { floating, integer, boolean };
Class dtype_class(acim::DType dt) {
  if (acim::dtype_is_float(dt)) return Class::floating;
  if (dt == acim::DType::boolean) return Class::boolean;
  return Class::integer;
}

std::string shape_of(const acim::Tensor& t) {
  return acim::dtype_name(t.dtype()) + acim::shape_str(t.shape());
}

// Compares one output; returns "" when it matches, else what differs.
std::string compare(const acim::Tensor& got, const acim::Tensor& want) {
  if (got.shape() != want.shape())
    return "shape: got " + shape_of(got) + ", expected " + shape_of(want);
  const Class cg = dtype_class(got.dtype());
  const Class cw = dtype_class(want.dtype());
  if (cg != cw) return "dtype: got " + shape_of(got) + ", expected " + shape_of(want);
  const int64_t n = want.numel();
  if (cw == Class::floating) {
    const std::vector<double> a = as_doubles(got);
    const std::vector<double> b = as_doubles(want);
    int bad = 0;
    std::string first;
    for (size_t i = 0; i < b.size(); ++i) {
      bool ok;
      if (std::isnan(b[i]))
        ok = std::isnan(a[i]);
      else if (std::isinf(b[i]))
        ok = a[i] == b[i];
      else
        ok = std::fabs(a[i] - b[i]) <= 1e-4 * std::fabs(b[i]) + 1e-5;
      if (!ok && bad++ == 0) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "element %zu: got %.9g, expected %.9g", i, a[i], b[i]);
        first = buf;
      }
    }
    if (bad) return std::to_string(bad) + " of " + std::to_string(n) + " values differ; " + first;
    return "";
  }
  // Integers and bools exactly, as int64 (uint64 values keep their bits through the cast).
  const std::vector<int64_t> a = got.to_int64s();
  const std::vector<int64_t> b = want.to_int64s();
  int bad = 0;
  std::string first;
  for (int64_t i = 0; i < n; ++i) {
    const auto u = static_cast<size_t>(i);
    const bool ok = a[u] == b[u];
    if (!ok && bad++ == 0)
      first = "element " + std::to_string(i) + ": got " + std::to_string(a[u]) + ", expected " +
              std::to_string(b[u]);
  }
  if (bad) return std::to_string(bad) + " of " + std::to_string(n) + " values differ; " + first;
  return "";
}

// The op type named in an error's "where" ("...: node 'x' (Conv)"), or "".
std::string op_in_where(const std::string& where) {
  const auto close = where.rfind(')');
  const auto open = where.rfind(" (");
  if (close == std::string::npos || open == std::string::npos || open > close) return "";
  return where.substr(open + 2, close - open - 2);
}

// One line per kind of refusal: "op Foo", "op Foo: <what>", "data type bfloat16 ...", ...
std::string skip_reason(const acim::Error& e) {
  const std::string& what = e.what_only();
  const std::string ops_prefix = "unsupported ops: ";
  if (what.rfind(ops_prefix, 0) == 0) {
    // "unsupported ops: A (n1, n2); B (n3)" -> "unsupported op A, B"
    std::string r = "unsupported op ";
    size_t pos = ops_prefix.size();
    bool first = true;
    while (pos < what.size()) {
      const size_t paren = what.find(" (", pos);
      if (paren == std::string::npos) break;
      r += (first ? "" : ", ") + what.substr(pos, paren - pos);
      first = false;
      const size_t next = what.find("; ", paren);
      if (next == std::string::npos) break;
      pos = next + 2;
    }
    return r;
  }
  std::string op = op_in_where(e.where());
  std::string generic = what;
  // Drop the details after the first ": " or " (" (names, numbers, the supported range).
  generic = generic.substr(0, std::min(generic.find(": "), generic.find(" (")));
  return op.empty() ? generic : op + ": " + generic;
}

std::vector<fs::path> numbered(const fs::path& dir, const std::string& stem) {
  std::vector<fs::path> files;
  for (int i = 0;; ++i) {
    fs::path p = dir / (stem + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p);
  }
  return files;
}

class OnnxNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, Matches) {
  const std::string name = GetParam();
  const fs::path dir = g_data_dir / name;
  acim::Graph graph;
  std::string phase = "load";
  try {
    graph = acim::load_onnx(dir / "model.onnx");
    std::string ops;
    std::set<std::string> seen;
    for (const auto& n : graph.nodes)
      if (seen.insert(n.op_type).second) ops += (ops.empty() ? "" : "+") + n.op_type;
    g_stats.case_ops[name] = ops.empty() ? "(constants only)" : ops;

    phase = "prepare";
    acim::Executor exec(graph);
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0)
        sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    ASSERT_FALSE(sets.empty()) << "no test_data_set_* in " << dir;
    for (const auto& set : sets) {
      phase = "read " + set.filename().string();
      const auto in_files = numbered(set, "input");
      const auto out_files = numbered(set, "output");
      ASSERT_EQ(in_files.size(), graph.inputs.size()) << set << ": input files vs graph inputs";
      ASSERT_EQ(out_files.size(), graph.outputs.size()) << set << ": output files vs graph outputs";
      acim::TensorMap inputs;
      for (size_t i = 0; i < in_files.size(); ++i)
        inputs[graph.inputs[i].name] = acim::load_onnx_tensor(in_files[i]);
      phase = "run " + set.filename().string();
      acim::TensorMap outputs = exec.run(inputs);
      phase = "compare " + set.filename().string();
      for (size_t i = 0; i < out_files.size(); ++i) {
        const std::string& oname = graph.outputs[i].name;
        const acim::Tensor want = acim::load_onnx_tensor(out_files[i]);
        auto it = outputs.find(oname);
        ASSERT_TRUE(it != outputs.end()) << "output '" << oname << "' missing";
        const std::string diff = compare(it->second, want);
        EXPECT_TRUE(diff.empty()) << set.filename().string() << " output " << i << " '" << oname
                                  << "': " << diff;
      }
    }
  } catch (const acim::Error& e) {
    if (e.kind() == acim::ErrorKind::unsupported) {
      const std::string reason = skip_reason(e);
      g_stats.case_skip[name] = reason;
      GTEST_SKIP() << reason << " [" << e.what() << "]";
    }
    FAIL() << phase << ": acim::Error(" << acim::error_kind_name(e.kind()) << "): " << e.what();
  } catch (const std::exception& e) {
    FAIL() << phase << ": exception: " << e.what();
  }
}

std::string case_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(OnnxNode, OnnxNodeTest, ::testing::ValuesIn(list_cases()), case_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxNodeTest);

// Counts outcomes as the tests end.
class Summary : public ::testing::EmptyTestEventListener {
 public:
  int ran = 0, passed = 0, failed = 0, skipped = 0;

  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (std::string(info.test_suite_name()) != "OnnxNode/OnnxNodeTest") return;
    ++ran;
    // "Matches/test_abs" -> "test_abs", the parameter the test recorded its outcome under.
    std::string name = info.name();
    name = name.substr(name.find('/') + 1);
    const auto* r = info.result();
    if (r->Skipped()) {
      ++skipped;
      auto it = g_stats.case_skip.find(name);
      ++g_stats.skip_reasons[it == g_stats.case_skip.end() ? "other" : it->second];
    } else if (r->Failed()) {
      ++failed;
      auto it = g_stats.case_ops.find(name);
      g_stats.failures[it == g_stats.case_ops.end() ? "(did not load)" : it->second].push_back(
          name);
    } else {
      ++passed;
    }
  }

  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    std::printf("onnx node tests: %d ran, %d passed, %d failed, %d skipped\n", ran, passed, failed,
                skipped);
    std::vector<std::pair<int, std::string>> reasons;
    for (const auto& [reason, count] : g_stats.skip_reasons) reasons.emplace_back(count, reason);
    std::stable_sort(reasons.begin(), reasons.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [count, reason] : reasons)
      std::printf("  skipped %4d: %s\n", count, reason.c_str());
    for (const auto& [ops, names] : g_stats.failures) {
      std::string list;
      for (size_t i = 0; i < names.size(); ++i) list += (i ? " " : "") + names[i];
      std::printf("  failed  %4zu: %s: %s\n", names.size(), ops.c_str(), list.c_str());
    }
    std::fflush(stdout);
  }
};

}  // namespace

int main(int argc, char** argv) {
  // --python must be known before InitGoogleTest instantiates the parameterised cases.
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--python") == 0) g_python = argv[i + 1];
  find_data_dir();
  ::testing::InitGoogleTest(&argc, argv);
  if (g_data_dir.empty()) {
    std::printf("onnx node tests: skipped: %s\n", g_data_why.c_str());
    return 77;
  }
  auto* summary = new Summary;  // owned by gtest's listener list
  ::testing::UnitTest::GetInstance()->listeners().Append(summary);
  return RUN_ALL_TESTS();
}
