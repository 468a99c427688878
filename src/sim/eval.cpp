// Accuracy on a labelled set: the float reference and K chip instances (include/acim/eval.hpp).
#include "acim/eval.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "acim/error.hpp"
#include "acim/npy.hpp"
#include "acim/sim.hpp"

namespace acim {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<int64_t> labels_of(const Tensor& t, const std::string& file, int64_t n) {
  const bool shape_ok =
      (t.rank() == 1 && t.dim(0) == n) || (t.rank() == 2 && t.dim(0) == n && t.dim(1) == 1);
  if (!shape_ok)
    throw Error(ErrorKind::shape, file,
                "labels have shape " + shape_str(t.shape()) + "; expected [" + std::to_string(n) +
                    "] (one label per sample of the matching _x.npy)");
  if (t.dtype() == DType::f32 || t.dtype() == DType::f64 || t.dtype() == DType::f16 ||
      t.dtype() == DType::boolean)
    throw Error(ErrorKind::invalid, file, "labels are " + dtype_name(t.dtype()),
                "store class indices as an integer array (e.g. numpy int64)");
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(n));
  for (double v : t.to_doubles()) out.push_back(static_cast<int64_t>(v));
  return out;
}

// Correct predictions of a [B, ..., classes] score tensor (argmax over the last dim, one
// prediction per sample: B predictions) against labels[begin, begin + B).
int64_t correct(const Tensor& scores, const std::vector<int64_t>& labels, int64_t begin,
                const std::string& where) {
  if (scores.dtype() != DType::f32 || scores.rank() < 2)
    throw Error(ErrorKind::shape, where,
                "first output is " + dtype_name(scores.dtype()) + shape_str(scores.shape()) +
                    "; eval needs float32 class scores [batch, classes]");
  const int64_t b = scores.dim(0), classes = scores.dim(scores.rank() - 1);
  if (scores.numel() != b * classes)
    throw Error(
        ErrorKind::shape, where,
        "first output " + shape_str(scores.shape()) + " has more than one score vector per sample");
  const float* p = scores.data<float>();
  int64_t ok = 0;
  for (int64_t i = 0; i < b; ++i) {
    const float* row = p + i * classes;
    const int64_t pred = std::max_element(row, row + classes) - row;
    ok += pred == labels[static_cast<size_t>(begin + i)];
  }
  return ok;
}

}  // namespace

LabelledSet load_labelled_set(const std::filesystem::path& dir, const Graph& graph,
                              int64_t num_classes) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    throw Error(ErrorKind::io, dir.string(), "is not a folder",
                "give a folder of NAME_x.npy / NAME_y.npy pairs");
  if (graph.inputs.size() != 1)
    throw Error(
        ErrorKind::unsupported, graph.source.empty() ? graph.name : graph.source,
        "eval needs a model with one input; this one has " + std::to_string(graph.inputs.size()));
  std::vector<std::string> xs, ys;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (ends_with(name, "_x.npy")) xs.push_back(name);
    if (ends_with(name, "_y.npy")) ys.push_back(name);
  }
  if (ec) throw Error(ErrorKind::io, dir.string(), "cannot list the folder: " + ec.message());
  std::sort(xs.begin(), xs.end());
  std::sort(ys.begin(), ys.end());
  if (xs.empty())
    throw Error(ErrorKind::invalid, dir.string(), "holds no NAME_x.npy files",
                "store inputs as NAME_x.npy (samples along dim 0) and labels as NAME_y.npy");
  for (const std::string& y : ys) {
    const std::string x = y.substr(0, y.size() - 6) + "_x.npy";
    if (!std::binary_search(xs.begin(), xs.end(), x))
      throw Error(ErrorKind::invalid, (dir / y).string(), "has no matching " + x);
  }
  const ValueInfo& in = graph.inputs[0];
  LabelledSet set;
  std::vector<Tensor> shards;
  for (const std::string& x : xs) {
    const std::string y = x.substr(0, x.size() - 6) + "_y.npy";
    const std::filesystem::path xp = dir / x, yp = dir / y;
    if (!std::binary_search(ys.begin(), ys.end(), y))
      throw Error(ErrorKind::invalid, xp.string(), "has no matching " + y, "add the labels file");
    Tensor t = load_npy(xp);
    if (t.dtype() != in.dtype || t.rank() < 1)
      throw Error(ErrorKind::shape, xp.string(),
                  "holds " + dtype_name(t.dtype()) + shape_str(t.shape()) +
                      "; the model's input '" + in.name + "' is " + dtype_name(in.dtype) +
                      shape_str(in.shape));
    bool ok = !in.shape_known || static_cast<size_t>(t.rank()) == in.shape.size();
    for (size_t d = 1; ok && in.shape_known && d < in.shape.size(); ++d)
      ok = in.shape[d] < 0 || in.shape[d] == t.dim(static_cast<int>(d));
    if (!ok ||
        (!shards.empty() && !std::equal(t.shape().begin() + 1, t.shape().end(),
                                        shards[0].shape().begin() + 1, shards[0].shape().end())))
      throw Error(ErrorKind::shape, xp.string(),
                  "samples have shape " + shape_str(t.shape()) + "; expected " +
                      shape_str(in.shape) + " with samples along dim 0" +
                      (shards.empty() ? "" : ", like " + xs[0]));
    std::vector<int64_t> l = labels_of(load_npy(yp), yp.string(), t.dim(0));
    for (int64_t v : l)
      if (v < 0 || (num_classes > 0 && v >= num_classes))
        throw Error(ErrorKind::invalid, yp.string(),
                    "label " + std::to_string(v) + " is outside the model's classes 0.." +
                        std::to_string(num_classes - 1));
    set.labels.insert(set.labels.end(), l.begin(), l.end());
    set.files.push_back(xp.string());
    shards.push_back(std::move(t));
  }
  Shape all = shards[0].shape();
  all[0] = set.size();
  set.inputs = Tensor::uninitialized(shards[0].dtype(), all);
  size_t offset = 0;
  for (const Tensor& t : shards) {
    std::memcpy(static_cast<char*>(set.inputs.raw()) + offset, t.raw(), t.nbytes());
    offset += t.nbytes();
  }
  return set;
}

EvalResult evaluate(const Program& program, const LabelledSet& data, const EvalOptions& options) {
  if (options.instances < 1 || options.batch < 1)
    throw Error(ErrorKind::invalid, "eval options", "instances and batch must be >= 1");
  const Graph& g = program.graph;
  const ValueInfo& in = g.inputs.at(0);
  // A model declared with a fixed batch (dim 0 > 0) runs that many samples at a time.
  const bool fixed = in.shape_known && !in.shape.empty() && in.shape[0] > 0;
  const int64_t batch = fixed ? in.shape[0] : options.batch;
  const int64_t n = data.size();
  if (fixed && n % batch != 0)
    throw Error(ErrorKind::shape, program.model,
                "the model's input has a fixed batch of " + std::to_string(batch) +
                    " and the data set has " + std::to_string(n) + " samples (not a multiple)");
  const std::string out_name = g.outputs.at(0).name;
  const int64_t total = n * ((options.float_accuracy ? 0 : 1) + options.instances);
  int64_t done = 0;
  auto run_all = [&](auto&& run) {
    int64_t ok = 0;
    for (int64_t b = 0; b < n; b += batch) {
      const int64_t e = std::min(n, b + batch);
      TensorMap x{{in.name, data.inputs.rows(b, e)}};
      ok += correct(run(x).at(out_name), data.labels, b, program.model);
      done += e - b;
      if (options.progress) options.progress(done, total);
    }
    return n > 0 ? static_cast<double>(ok) / static_cast<double>(n) : 0.0;
  };
  EvalResult r;
  r.samples = n;
  if (options.float_accuracy) {
    r.float_accuracy = *options.float_accuracy;
  } else {
    Executor ref(g);
    r.float_accuracy = run_all([&](const TensorMap& x) { return ref.run(x); });
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < options.instances; ++i) {
    SimOptions so;
    so.seed = options.seed;
    so.instance = i;
    so.ideal = options.ideal;
    so.time_since_programming_s = options.time_since_programming_s;
    ChipInstance chip(program, so);
    r.chip_accuracy.push_back(run_all([&](const TensorMap& x) { return chip.run(x); }));
  }
  r.time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double sum = 0;
  for (double a : r.chip_accuracy) sum += a;
  r.mean = sum / static_cast<double>(r.chip_accuracy.size());
  double ss = 0;
  for (double a : r.chip_accuracy) ss += (a - r.mean) * (a - r.mean);
  r.std = r.chip_accuracy.size() > 1
              ? std::sqrt(ss / static_cast<double>(r.chip_accuracy.size() - 1))
              : 0.0;
  return r;
}

}  // namespace acim
