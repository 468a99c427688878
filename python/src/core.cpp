// acim._core: the nanobind bindings over the public C++ API (include/acim/), wrapped for users
// by python/acim/__init__.py (type hints, docstrings, numpy conveniences).
//
// Arrays: numpy inputs are copied once into acim Tensors (a Tensor owns its buffer); outputs are
// handed to numpy without a copy (the array keeps the Tensor's buffer alive through a capsule).
// Errors: acim::Error arrives as acim.Error (a RuntimeError) with the same message. The GIL is
// released while C++ computes (compile, run, evaluate, MVMs), which may use OpenMP threads.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/crossbar.hpp"
#include "acim/device.hpp"
#include "acim/error.hpp"
#include "acim/eval.hpp"
#include "acim/executor.hpp"
#include "acim/onnx.hpp"
#include "acim/program.hpp"
#include "acim/quantize.hpp"
#include "acim/report.hpp"
#include "acim/sim.hpp"
#include "acim/threads.hpp"
#include "sim/view_arrays.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using InArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

acim::DType dtype_from(const nb::dlpack::dtype& d, const std::string& name) {
  using nb::dlpack::dtype_code;
  const auto code = static_cast<dtype_code>(d.code);
  if (code == dtype_code::Float && d.bits == 32) return acim::DType::f32;
  if (code == dtype_code::Float && d.bits == 64) return acim::DType::f64;
  if (code == dtype_code::Float && d.bits == 16) return acim::DType::f16;
  if (code == dtype_code::Int && d.bits == 8) return acim::DType::i8;
  if (code == dtype_code::Int && d.bits == 16) return acim::DType::i16;
  if (code == dtype_code::Int && d.bits == 32) return acim::DType::i32;
  if (code == dtype_code::Int && d.bits == 64) return acim::DType::i64;
  if (code == dtype_code::UInt && d.bits == 8) return acim::DType::u8;
  if (code == dtype_code::UInt && d.bits == 16) return acim::DType::u16;
  if (code == dtype_code::UInt && d.bits == 32) return acim::DType::u32;
  if (code == dtype_code::UInt && d.bits == 64) return acim::DType::u64;
  if (code == dtype_code::Bool) return acim::DType::boolean;
  throw acim::Error(acim::ErrorKind::unsupported, "array '" + name + "'",
                    "has an element type acim does not handle",
                    "pass float32, float64, a signed or unsigned integer type, or bool");
}

nb::dlpack::dtype dlpack_from(acim::DType dt) {
  switch (dt) {
    case acim::DType::f32:
      return nb::dtype<float>();
    case acim::DType::f64:
      return nb::dtype<double>();
    case acim::DType::f16:
      return {static_cast<uint8_t>(nb::dlpack::dtype_code::Float), 16, 1};
    case acim::DType::i8:
      return nb::dtype<int8_t>();
    case acim::DType::u8:
      return nb::dtype<uint8_t>();
    case acim::DType::i16:
      return nb::dtype<int16_t>();
    case acim::DType::u16:
      return nb::dtype<uint16_t>();
    case acim::DType::i32:
      return nb::dtype<int32_t>();
    case acim::DType::u32:
      return nb::dtype<uint32_t>();
    case acim::DType::i64:
      return nb::dtype<int64_t>();
    case acim::DType::u64:
      return nb::dtype<uint64_t>();
    case acim::DType::boolean:
      return nb::dtype<bool>();
  }
  return nb::dtype<float>();
}

// numpy -> Tensor (one copy: a Tensor owns its buffer).
acim::Tensor to_tensor(const InArray& a, const std::string& name) {
  acim::Shape shape(a.ndim());
  for (size_t i = 0; i < a.ndim(); ++i) shape[i] = static_cast<int64_t>(a.shape(i));
  acim::Tensor t = acim::Tensor::uninitialized(dtype_from(a.dtype(), name), shape);
  if (t.nbytes() > 0) std::memcpy(t.raw(), a.data(), t.nbytes());
  return t;
}

// Tensor -> numpy without a copy: the array owns a Tensor sharing the buffer.
nb::object to_numpy(const acim::Tensor& t) {
  auto* owner = new acim::Tensor(t);
  nb::capsule cap(owner, [](void* p) noexcept { delete static_cast<acim::Tensor*>(p); });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  return nb::cast(nb::ndarray<nb::numpy>(owner->raw(), shape.size(), shape.data(), cap, nullptr,
                                         dlpack_from(t.dtype())));
}

acim::TensorMap to_tensor_map(const std::map<std::string, InArray>& arrays) {
  acim::TensorMap m;
  for (const auto& [name, a] : arrays) m[name] = to_tensor(a, name);
  return m;
}

nb::dict to_dict(const acim::TensorMap& m) {
  nb::dict d;
  for (const auto& [name, t] : m) d[name.c_str()] = to_numpy(t);
  return d;
}

// A float32 matrix [rows, cols] from a numpy array of any rank >= 1 (leading dims flattened).
acim::Tensor to_matrix(const InArray& a, const std::string& name) {
  acim::Tensor t = to_tensor(a, name);
  if (t.dtype() != acim::DType::f32 || t.rank() != 2)
    throw acim::Error(acim::ErrorKind::shape, "array '" + name + "'",
                      "is " + acim::dtype_name(t.dtype()) + " " + acim::shape_str(t.shape()) +
                          ", not a float32 matrix",
                      "pass a 2-D float32 array (numpy.asarray(x, dtype=numpy.float32))");
  return t;
}

// One matrix view (count groups of K x N) on crossbar arrays, cut as the compiler and simulator
// cut it (src/sim/view_arrays.hpp): what acim.torch's analog layers compute with, so that they
// give the simulator's numbers.
class MatrixArrays {
 public:
  MatrixArrays(int64_t k, int64_t n, int64_t count, int64_t array_rows, int64_t array_cols)
      : view_(check(k, n, count, array_rows, array_cols), n, count, array_rows, array_cols, 1) {}
  MatrixArrays(const MatrixArrays&) = delete;  // arrays hold per-instance state: not copied
  MatrixArrays& operator=(const MatrixArrays&) = delete;

  void program(const InArray& weights, const acim::ArrayParams& params, uint64_t seed,
               int64_t instance, int64_t layer, int64_t first_index,
               const std::vector<float>& full_scale) {
    const acim::Tensor w = to_tensor(weights, "weights");
    if (w.dtype() != acim::DType::f32 || w.rank() != 3 || w.dim(0) != view_.count() ||
        w.dim(1) != view_.rows() || w.dim(2) != view_.cols())
      throw acim::Error(acim::ErrorKind::shape, "MatrixArrays.program: weights",
                        "are " + acim::dtype_name(w.dtype()) + " " + acim::shape_str(w.shape()) +
                            ", expected float32 " +
                            acim::shape_str({view_.count(), view_.rows(), view_.cols()}),
                        "pass the groups' K x N matrices stacked as [count, K, N]");
    if (!full_scale.empty() &&
        static_cast<int64_t>(full_scale.size()) != view_.count() * view_.cols())
      throw acim::Error(acim::ErrorKind::shape, "MatrixArrays.program: full_scale",
                        "has " + std::to_string(full_scale.size()) + " entries, expected " +
                            std::to_string(view_.count() * view_.cols()),
                        "pass one full scale per output column of every group, or none");
    params.validate();
    nb::gil_scoped_release release;
    view_.set_weights(w, false);
    view_.program(full_scale, params, seed, instance, layer, first_index, view_.arrays_per_copy());
    programmed_ = true;
  }

  nb::object mvm(const InArray& x, bool capture) {
    check_programmed("mvm");
    const acim::Tensor in = to_matrix(x, "x");
    if (in.dim(1) != view_.count() * view_.rows())
      throw acim::Error(acim::ErrorKind::shape, "MatrixArrays.mvm: x",
                        "has " + std::to_string(in.dim(1)) + " columns, expected count * K = " +
                            std::to_string(view_.count() * view_.rows()),
                        "pass the groups' inputs side by side, [batch, count * K]");
    const int64_t m = in.dim(0), width = view_.count() * view_.cols();
    acim::Tensor y = acim::Tensor::uninitialized(acim::DType::f32, {m, width});
    {
      nb::gil_scoped_release release;
      view_.mvm(in.data<float>(), m, view_.count() * view_.rows(), 0, view_.count(), 0,
                y.data<float>(), width, 0, view_.cols(),
                capture ? acim::sim::MvmMode::capture : acim::sim::MvmMode::analog);
    }
    return to_numpy(y);
  }

  void calibrate(double input_range, int64_t max_rows) {
    check_programmed("calibrate");
    nb::gil_scoped_release release;
    view_.calibrate(input_range, max_rows);
  }

  void set_time(double seconds) {
    check_programmed("set_time");
    nb::gil_scoped_release release;
    view_.set_time(seconds);
  }

  const acim::sim::ViewArrays& view() const { return view_; }

 private:
  static int64_t check(int64_t k, int64_t n, int64_t count, int64_t rows, int64_t cols) {
    if (k < 1 || n < 1 || count < 1 || rows < 1 || cols < 1)
      throw acim::Error(acim::ErrorKind::invalid, "MatrixArrays",
                        "k, n, count, array_rows and array_cols must all be >= 1",
                        "pass the layer's matrix size and the chip's array size");
    return k;
  }
  void check_programmed(const char* what) const {
    if (!programmed_)
      throw acim::Error(acim::ErrorKind::invalid, std::string("MatrixArrays.") + what,
                        "the arrays are not programmed", "call program(weights, ...) first");
  }
  acim::sim::ViewArrays view_;
  bool programmed_ = false;
};

}  // namespace

NB_MODULE(_core, m) {
  m.doc() = "acim C++ core (nanobind bindings); use the `acim` package, not this module.";

  nb::exception<acim::Error>(m, "Error", PyExc_RuntimeError);
  m.def("set_num_threads", &acim::set_num_threads, "n"_a);
  m.def("num_threads", &acim::num_threads);

  // ---- device model -------------------------------------------------------------------------
  nb::enum_<acim::CellType>(m, "CellType")
      .value("ideal", acim::CellType::ideal)
      .value("pcm", acim::CellType::pcm)
      .value("rram", acim::CellType::rram)
      .value("sram_charge", acim::CellType::sram_charge)
      .value("sram_current", acim::CellType::sram_current)
      .value("flash", acim::CellType::flash);
  nb::enum_<acim::Encoding>(m, "Encoding")
      .value("differential", acim::Encoding::differential)
      .value("offset_column", acim::Encoding::offset_column)
      .value("bit_sliced", acim::Encoding::bit_sliced);
  nb::enum_<acim::DacMode>(m, "DacMode")
      .value("amplitude", acim::DacMode::amplitude)
      .value("bit_serial", acim::DacMode::bit_serial)
      .value("pulse_width", acim::DacMode::pulse_width);
  nb::enum_<acim::AdcRange>(m, "AdcRange")
      .value("calibrated", acim::AdcRange::calibrated)
      .value("fixed", acim::AdcRange::fixed);

  nb::class_<acim::CellParams>(m, "CellParams")
      .def_rw("type", &acim::CellParams::type)
      .def_rw("g_min_us", &acim::CellParams::g_min_us)
      .def_rw("g_max_us", &acim::CellParams::g_max_us)
      .def_rw("levels", &acim::CellParams::levels);
  nb::class_<acim::EncodingParams>(m, "EncodingParams")
      .def_rw("scheme", &acim::EncodingParams::scheme)
      .def_rw("bits_per_cell", &acim::EncodingParams::bits_per_cell)
      .def_rw("slices", &acim::EncodingParams::slices)
      .def_rw("per_column_scale", &acim::EncodingParams::per_column_scale);
  nb::class_<acim::DacParams>(m, "DacParams")
      .def_rw("mode", &acim::DacParams::mode)
      .def_rw("bits", &acim::DacParams::bits)
      .def_rw("v_read", &acim::DacParams::v_read);
  nb::class_<acim::AdcParams>(m, "AdcParams")
      .def_rw("bits", &acim::AdcParams::bits)
      .def_rw("range", &acim::AdcParams::range)
      .def_rw("full_scale_ua", &acim::AdcParams::full_scale_ua)
      .def_rw("offset_sigma_lsb", &acim::AdcParams::offset_sigma_lsb)
      .def_rw("gain_sigma_rel", &acim::AdcParams::gain_sigma_rel)
      .def_rw("inl_lsb", &acim::AdcParams::inl_lsb)
      .def_rw("noise_sigma_lsb", &acim::AdcParams::noise_sigma_lsb)
      .def_rw("calibration_sigmas", &acim::AdcParams::calibration_sigmas);
  nb::class_<acim::IrDropParams>(m, "IrDropParams")
      .def_rw("wire_r_ohm", &acim::IrDropParams::wire_r_ohm);
  nb::class_<acim::NonIdealities>(m, "NonIdealities")
      .def_rw("programming", &acim::NonIdealities::programming)
      .def_rw("drift", &acim::NonIdealities::drift)
      .def_rw("read_noise", &acim::NonIdealities::read_noise)
      .def_rw("faults", &acim::NonIdealities::faults)
      .def_rw("dac", &acim::NonIdealities::dac)
      .def_rw("adc", &acim::NonIdealities::adc)
      .def_rw("ir_drop", &acim::NonIdealities::ir_drop)
      .def_rw("temperature", &acim::NonIdealities::temperature);

  nb::class_<acim::ArrayParams>(m, "ArrayParams")
      .def(nb::init<>())
      .def_static(
          "default",
          [](const std::string& cell) {
            return acim::default_array_params(acim::parse_cell_type(cell));
          },
          "cell"_a, "The published defaults of a cell technology: \"pcm\", \"rram\", ...")
      .def("__copy__", [](const acim::ArrayParams& p) { return p; })
      .def_rw("rows", &acim::ArrayParams::rows)
      .def_rw("cols", &acim::ArrayParams::cols)
      .def_rw("parallel_rows", &acim::ArrayParams::parallel_rows)
      .def_rw("cell", &acim::ArrayParams::cell)
      .def_rw("encoding", &acim::ArrayParams::encoding)
      .def_rw("dac", &acim::ArrayParams::dac)
      .def_rw("adc", &acim::ArrayParams::adc)
      .def_rw("ir_drop", &acim::ArrayParams::ir_drop)
      .def_rw("effects", &acim::ArrayParams::effects)
      .def_rw("time_since_programming_s", &acim::ArrayParams::time_since_programming_s)
      .def_rw("drift_compensation", &acim::ArrayParams::drift_compensation)
      .def("validate", &acim::ArrayParams::validate)
      .def("cells_per_weight", &acim::ArrayParams::cells_per_weight)
      .def("logical_cols", &acim::ArrayParams::logical_cols);
  m.def("parse_cell_type", &acim::parse_cell_type, "name"_a);

  nb::class_<acim::CrossbarArray>(m, "CrossbarArray")
      .def(
          "__init__",
          [](acim::CrossbarArray* self, const acim::ArrayParams& params, uint64_t seed,
             const std::vector<uint64_t>& path) {
            acim::RandomStream stream(seed);
            for (uint64_t key : path) stream = stream.child(key);
            new (self) acim::CrossbarArray(params, stream);
          },
          "params"_a, "seed"_a = 0, "path"_a = std::vector<uint64_t>{})
      .def_prop_ro("params", &acim::CrossbarArray::params)
      .def(
          "program",
          [](acim::CrossbarArray& a, const InArray& w, const std::vector<float>& full_scale) {
            const acim::Tensor t = to_matrix(w, "weights");
            nb::gil_scoped_release release;
            a.program(t, full_scale);
          },
          "weights"_a, "column_full_scale"_a = std::vector<float>{})
      .def(
          "calibrate",
          [](acim::CrossbarArray& a, const InArray& x, double input_range) {
            const acim::Tensor t = to_matrix(x, "sample_inputs");
            nb::gil_scoped_release release;
            a.calibrate(t, input_range);
          },
          "sample_inputs"_a, "input_range"_a = 0.0)
      .def(
          "mvm",
          [](acim::CrossbarArray& a, const InArray& x) {
            const acim::Tensor t = to_matrix(x, "inputs");
            acim::Tensor y;
            {
              nb::gil_scoped_release release;
              y = a.mvm(t);
            }
            return to_numpy(y);
          },
          "inputs"_a)
      .def(
          "mvm_reference",
          [](const acim::CrossbarArray& a, const InArray& x) {
            return to_numpy(a.mvm_reference(to_matrix(x, "inputs")));
          },
          "inputs"_a)
      .def("set_time", &acim::CrossbarArray::set_time, "seconds_since_programming"_a,
           nb::call_guard<nb::gil_scoped_release>())
      .def("conductances_us",
           [](const acim::CrossbarArray& a) { return to_numpy(a.conductances_us()); })
      .def("target_conductances_us",
           [](const acim::CrossbarArray& a) { return to_numpy(a.target_conductances_us()); })
      .def_prop_ro("rows_used", &acim::CrossbarArray::rows_used)
      .def_prop_ro("cols_used", &acim::CrossbarArray::cols_used)
      .def_prop_ro("mvm_count", &acim::CrossbarArray::mvm_count);

  nb::class_<MatrixArrays>(m, "MatrixArrays")
      .def(nb::init<int64_t, int64_t, int64_t, int64_t, int64_t>(), "k"_a, "n"_a, "count"_a,
           "array_rows"_a, "array_cols"_a)
      .def("program", &MatrixArrays::program, "weights"_a, "params"_a, "seed"_a, "instance"_a,
           "layer"_a, "first_index"_a = 0, "full_scale"_a = std::vector<float>{},
           "Array b draws from RandomStream(seed, {instance, layer, first_index + b}).")
      .def("mvm", &MatrixArrays::mvm, "x"_a, "capture"_a = false)
      .def("calibrate", &MatrixArrays::calibrate, "input_range"_a, "max_rows"_a = 256)
      .def("set_time", &MatrixArrays::set_time, "seconds"_a)
      .def_prop_ro("arrays", [](const MatrixArrays& a) { return a.view().arrays_per_copy(); })
      .def_prop_ro("groups_per_array",
                   [](const MatrixArrays& a) { return a.view().groups_per_array(); });

  // ---- chip specs -----------------------------------------------------------------------------
  nb::class_<acim::ChipSpec>(m, "ChipSpec")
      .def_static("from_toml", &acim::parse_chip_spec, "text"_a, "source"_a = "<string>")
      .def_static("load", &acim::load_chip_spec, "path"_a)
      .def_static("preset", &acim::chip_preset, "name"_a)
      .def_static("from_name_or_file", &acim::chip_spec_from_name_or_file, "name_or_path"_a)
      .def("to_toml", [](const acim::ChipSpec& s) { return acim::to_toml(s); })
      .def("validate", [](const acim::ChipSpec& s) { acim::validate_chip_spec(s); })
      .def("__eq__", [](const acim::ChipSpec& a, const acim::ChipSpec& b) { return a == b; })
      .def("__copy__", [](const acim::ChipSpec& s) { return s; })
      .def_rw("name", &acim::ChipSpec::name)
      .def_rw("description", &acim::ChipSpec::description)
      .def_rw("technology_nm", &acim::ChipSpec::technology_nm)
      .def_rw("clock_mhz", &acim::ChipSpec::clock_mhz)
      .def_rw("supply_v", &acim::ChipSpec::supply_v)
      .def_rw("cores", &acim::ChipSpec::cores)
      .def_rw("leakage_uw", &acim::ChipSpec::leakage_uw)
      .def_rw("array", &acim::ChipSpec::array)
      .def("total_arrays", &acim::ChipSpec::total_arrays)
      .def("weight_capacity", &acim::ChipSpec::weight_capacity)
      .def("peak_tops", &acim::ChipSpec::peak_tops);
  m.def("chip_preset_names", &acim::chip_preset_names);
  m.def("chip_preset_toml", &acim::chip_preset_toml, "name"_a);

  // ---- programs -------------------------------------------------------------------------------
  nb::class_<acim::Program>(m, "Program")
      .def_ro("model", &acim::Program::model)
      .def_prop_ro("chip", [](const acim::Program& p) { return p.chip; })
      .def_ro("warnings", &acim::Program::warnings)
      .def_prop_ro("mapping",
                   [](const acim::Program& p) {
                     // The same JSON as `acim compile --json` prints, as dicts and lists.
                     return nb::module_::import_("json").attr("loads")(
                         acim::program_mapping_json(p));
                   })
      .def_prop_ro("input_names",
                   [](const acim::Program& p) {
                     std::vector<std::string> names;
                     for (const acim::ValueInfo& v : p.graph.inputs) names.push_back(v.name);
                     return names;
                   })
      .def_prop_ro("output_names",
                   [](const acim::Program& p) {
                     std::vector<std::string> names;
                     for (const acim::ValueInfo& v : p.graph.outputs) names.push_back(v.name);
                     return names;
                   })
      .def("save", &acim::save_program, "path"_a)
      .def_static("load", &acim::load_program, "path"_a)
      .def("to_bytes",
           [](const acim::Program& p) {
             const std::string b = acim::program_to_bytes(p);
             return nb::bytes(b.data(), b.size());
           })
      .def_static(
          "from_bytes",
          [](nb::bytes b, const std::string& source) {
            return acim::program_from_bytes(std::string(b.c_str(), b.size()), source);
          },
          "data"_a, "source"_a = "<bytes>")
      .def(
          "run_reference",
          [](const acim::Program& p, const std::map<std::string, InArray>& inputs) {
            const acim::TensorMap in = to_tensor_map(inputs);
            acim::TensorMap out;
            {
              nb::gil_scoped_release release;
              out = acim::Executor(p.graph).run(in);
            }
            return to_dict(out);
          },
          "inputs"_a);

  m.def(
      "onnx_input_names",
      [](const std::string& model) {
        std::vector<std::string> names;
        for (const acim::ValueInfo& v : acim::load_onnx(model).inputs) names.push_back(v.name);
        return names;
      },
      "model"_a);
  m.def(
      "compile",
      [](const std::string& model, const acim::ChipSpec& chip,
         const std::vector<std::map<std::string, InArray>>& calibration, int random_calibration,
         uint64_t seed, int keep_calibration, int chips, bool chips_auto,
         const std::string& calibration_method) {
        acim::CompileOptions o;
        o.mapping.model = model;
        o.mapping.chips = chips;
        o.mapping.chips_auto = chips_auto;
        o.calibration = acim::parse_calibration_method(calibration_method);
        for (const auto& sample : calibration)
          o.calibration_inputs.push_back(to_tensor_map(sample));
        o.random_calibration = random_calibration;
        o.seed = seed;
        o.keep_calibration = keep_calibration;
        nb::gil_scoped_release release;
        acim::Program p = acim::compile_program(acim::load_onnx(model), chip, o);
        p.model = model;
        return p;
      },
      "model"_a, "chip"_a, "calibration"_a, "random_calibration"_a, "seed"_a, "keep_calibration"_a,
      "chips"_a, "chips_auto"_a, "calibration_method"_a);

  nb::class_<acim::ChipInstance>(m, "ChipInstance")
      .def(
          "__init__",
          [](acim::ChipInstance* self, const acim::Program& p, uint64_t seed, int64_t instance,
             bool ideal, std::optional<double> drift_time, bool digital_precision) {
            acim::SimOptions o;
            o.seed = seed;
            o.instance = instance;
            o.ideal = ideal;
            o.time_since_programming_s = drift_time.value_or(-1.0);
            o.digital_precision = digital_precision;
            nb::gil_scoped_release release;
            new (self) acim::ChipInstance(p, o);
          },
          "program"_a, "seed"_a = 0, "instance"_a = 0, "ideal"_a = false,
          "drift_time"_a = nb::none(), "digital_precision"_a = true,
          "A compiled Program programmed onto one simulated chip instance (acim::ChipInstance).")
      .def(
          "run",
          [](acim::ChipInstance& c, const std::map<std::string, InArray>& inputs) {
            const acim::TensorMap in = to_tensor_map(inputs);
            acim::TensorMap out;
            {
              nb::gil_scoped_release release;
              out = c.run(in);
            }
            return to_dict(out);
          },
          "inputs"_a)
      .def("set_time", &acim::ChipInstance::set_time, "seconds_since_programming"_a,
           nb::call_guard<nb::gil_scoped_release>())
      .def_prop_ro("arrays", &acim::ChipInstance::arrays);

  m.def(
      "evaluate",
      [](const acim::Program& p, const InArray& x, const InArray& y, int instances, uint64_t seed,
         std::optional<double> drift_time, bool ideal, int64_t batch) {
        acim::LabelledSet data;
        data.inputs = to_tensor(x, "x").cast(acim::DType::f32);
        data.labels = to_tensor(y, "y").to_int64s();
        if (data.inputs.rank() < 1 || data.inputs.dim(0) != data.size())
          throw acim::Error(acim::ErrorKind::shape, "evaluate",
                            std::to_string(data.size()) + " labels for inputs of shape " +
                                acim::shape_str(data.inputs.shape()),
                            "pass one label per sample (x: [N, ...], y: [N])");
        acim::EvalOptions o;
        o.instances = instances;
        o.seed = seed;
        o.time_since_programming_s = drift_time.value_or(-1.0);
        o.ideal = ideal;
        o.batch = batch;
        acim::EvalResult r;
        {
          nb::gil_scoped_release release;
          r = acim::evaluate(p, data, o);
        }
        nb::dict d;
        d["samples"] = r.samples;
        d["float_accuracy"] = r.float_accuracy;
        d["chip_accuracy"] = r.chip_accuracy;
        d["mean"] = r.mean;
        d["std"] = r.std;
        d["time_s"] = r.time_s;
        return d;
      },
      "program"_a, "x"_a, "y"_a, "instances"_a, "seed"_a, "drift_time"_a.none(), "ideal"_a,
      "batch"_a);

  m.def(
      "report_json",
      [](const acim::Program& p, const std::vector<std::map<std::string, InArray>>& inputs,
         double rate, const std::string& adc_model, const std::string& html_path) {
        std::vector<acim::TensorMap> in;
        for (const auto& sample : inputs) in.push_back(to_tensor_map(sample));
        acim::ReportOptions o;
        o.rate = rate;
        o.adc_model = adc_model;
        if (!in.empty()) o.activity_source = "inputs";
        nb::gil_scoped_release release;
        const acim::Report r = acim::make_report(p, in.empty() ? p.calibration_set : in, o);
        if (!html_path.empty()) acim::write_report_file(html_path, acim::report_html(r));
        return acim::report_json(r);
      },
      "program"_a, "inputs"_a, "rate"_a, "adc_model"_a, "html_path"_a);
}
