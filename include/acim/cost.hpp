// Cost model of a compiled Program: every event one inference causes on the chip, counted in
// closed form from the mapping (no per-MVM loops: pricing a ResNet-50-sized Program is a few
// thousand multiplications), then priced with the ChipSpec's per-event energies and times, the
// data's activity factors and a swappable ADC model; plus the same graph priced on a digital NPU
// so the analog advantage is a ratio, not a claim.
//
//   Events e = count_events(program.graph, program.mapping, program.chip);
//   auto act = measure_activity(program, program.calibration_set);  // from real tensors
//   CostReport r = price(program, act);
//   DigitalBaseline d = price_digital_baseline(program.graph, program.chip,
//                                              baseline_at(program.chip, 5));
//
// Event model (per inference, per analog layer; a "tile" is one array of one copy of the layer,
// holding r_used rows x c_used weight columns; every tile of the layer is activated once per MVM,
// replicas only share the MVMs out):
//   steps        = array.dac.bits - 1 input bit planes if the DAC is bit-serial, else 1 (as
//                  ChipSpec::mvm_time_ns and the DAC model count them);
//   row groups   = ceil(r_used / parallel_rows) when parallel_rows limits the rows driven at once;
//   array reads  = tiles x MVMs x steps x row groups (one settle/integrate of the array each);
//   DAC drives   = r_used x steps x MVMs per tile (each row driven once per input bit plane);
//   ADC convs    = c_used x signals-per-column x steps x row groups x MVMs per tile, where the
//                  encoding's signal (one differential pair, or a column against the shared
//                  reference) is one conversion and a bit-sliced weight has `slices` signals;
//   shift-adds   = ADC conversions - c_used x MVMs: the converted values of one output (its
//                  slices, input bit planes and row groups) are combined into one by the tile's
//                  shift-and-add unit (m values take m - 1 additions);
//   accumulates  = LayerMapping::partial_sum_adds (row blocks, and W + R of recurrent layers);
//   buffers      = the im2col input vector of every matrix view per MVM read from the core buffer
//                  and written into the tile buffers; every array reads its r_used inputs from
//                  its tile buffer per MVM; the layer's outputs written to the core buffer; all at
//                  the DAC's input resolution (ceil(dac.bits / 8) bytes per element);
//   vector ops   = the layer's fused digital work (bias, activations: one lane-op per output
//                  element; recurrent gate arithmetic: see gate_ops in src/cost/events.cpp).
// Digital nodes (Mapping::digital) cost lane-ops on the vector unit: one per output element for
// element-wise ops, window x outputs for pooling, a few per element for softmax and
// normalisation, and one per MAC for products of two activations (attention's MatMuls); pure
// views (Reshape, Flatten, ...) are free, data movement (Transpose, Concat, ...) is one buffer
// read and write per element, and ops the chip lacks a unit for run on the host (counted, not
// priced). NoC bytes x hops from Mapping::transfers (same-chip), chip-to-chip bits from
// Mapping::boundaries, leakage over the inference latency.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/executor.hpp"
#include "acim/graph.hpp"
#include "acim/mapping.hpp"
#include "acim/program.hpp"
#include "acim/quantize.hpp"

namespace acim {

// ---------------------------------------------------------------------------------------------
// Events

struct LayerEvents {
  std::string node, op;
  int64_t mvms = 0;               // MVMs per inference on every tile
  int64_t tile_activations = 0;   // tiles x MVMs (one MVM on one array)
  int64_t array_reads = 0;        // x input bit planes x row groups
  int64_t dac_drives = 0;
  int64_t adc_conversions = 0;
  int64_t shift_adds = 0;
  int64_t partial_sum_adds = 0;
  int64_t core_buffer_read_bytes = 0;
  int64_t core_buffer_write_bytes = 0;
  int64_t tile_buffer_read_bytes = 0;
  int64_t tile_buffer_write_bytes = 0;
  int64_t vector_lane_ops = 0;  // fused digital work (bias, activation, gates)
  int64_t vector_ops = 0;       // the same in vector operations (lanes at a time)
  int64_t macs = 0;             // weights x MVMs
  int64_t input_bytes = 0;      // the layer's input tensor at the DAC resolution (buffer fit)
};

struct DigitalEvents {
  std::string node, op, unit;  // unit as in DigitalOp ("activation", ..., "host")
  int64_t lane_ops = 0;        // element operations on the vector unit (0 on the host)
  int64_t vector_ops = 0;      // ceil(lane_ops / vector_lanes)
  int64_t buffer_bytes = 0;    // data movement: bytes read and, again, written
  int64_t host_elements = 0;   // output elements of a node the chip cannot run
  int64_t macs = 0;  // products done digitally: of two activations, or grouped convolutions
};

struct Events {
  std::vector<LayerEvents> layers;    // Mapping::layers order
  std::vector<DigitalEvents> digital;  // Mapping::digital order
  double noc_byte_hops = 0;           // on-chip network, bytes x mesh hops
  int64_t chip_link_bits = 0;         // between stacked chips
  int chips = 1;

  LayerEvents total() const;  // sums of the layers' counts (node "total")
  int64_t digital_lane_ops() const;
  int64_t host_elements() const;
};

// Counts every event of one inference. `graph` is the graph the mapping was made from (after
// run_default_passes). Closed form: time independent of MVM counts.
Events count_events(const Graph& graph, const Mapping& mapping, const ChipSpec& chip);

// ---------------------------------------------------------------------------------------------
// Data-dependent activity

// Activity of one analog layer's data (fractions in [0, 1]).
//   input_activity   what the row drivers switch: for a bit-serial DAC the fraction of the
//                    magnitude bits of the quantised inputs that are 1; for amplitude or
//                    pulse-width DACs the mean |x_q| / input range;
//   weight_fill      mean cell conductance relative to g_max as the encoding programs it (mean
//                    |w| / column full scale; for bit slices the fraction of 1-digits);
//   column_activity  mean column current relative to full scale, input_activity x weight_fill
//                    (inputs and weights taken as independent).
struct LayerActivity {
  std::string node;
  double input_activity = 0.5;
  double weight_fill = 0.5;
  double column_activity = 0.25;
  int64_t samples = 0;  // input sets measured over; 0 = defaults
};

// The per-event energies of the spec are taken to hold at these (random-data) activities.
inline constexpr double kReferenceInputActivity = 0.5;
inline constexpr double kReferenceColumnActivity = 0.25;
// Static share of an array activation's energy (precharge, bias, sense amplifiers): the rest
// scales with column current, E(c) = E_spec * (s + (1 - s) c) / (s + (1 - s) c_ref). With
// s = 1 / 2.3 the energy at full-scale current is 2.3x that at zero current: CiMLoop's measured
// data dependence of up to 2.3x on one macro (Andrulis et al., ISPASS 2024). DAC energy is all
// dynamic (a driver with a 0 bit, or a zero-width pulse, switches nothing): E = E_spec * a /
// a_ref. ADC (SAR) energy is taken as independent of the data.
inline constexpr double kArrayStaticShare = 1.0 / 2.3;

// Runs the reference executor over `inputs` (each a full set of graph inputs; e.g.
// Program::calibration_set) watching each analog layer's input (RunHooks), and returns one entry
// per Mapping::layers entry. The DAC range is the layer's calibrated input range
// (Quantisation), or the largest |x| seen when it has none. Without inputs: defaults, with
// weight_fill still measured from the weights.
std::vector<LayerActivity> measure_activity(const Graph& graph, const Mapping& mapping,
                                            const Quantisation& quant, const ChipSpec& chip,
                                            const std::vector<TensorMap>& inputs);
std::vector<LayerActivity> measure_activity(const Program& program,
                                            const std::vector<TensorMap>& inputs);

// ---------------------------------------------------------------------------------------------
// ADC models (ChipSpec::cost.adc_model)

// Walden: FoM_W (fJ per conversion step) * 2^bits, in pJ.
double walden_adc_energy_pj(int bits, double fom_fj);
// Murmann survey bound (FACTS.md): E = 1 / (2 * 10^((FoM_S - SNDR) / 10)) J with
// SNDR = 6.02 bits + 1.76 dB and FoM_S = min(302.7 - 6.46 ln f_s, 180.1) dB; in pJ.
double murmann_bound_adc_energy_pj(int bits, double sample_rate_hz);
// ZigZag-IMC fitted SAR model (28 nm; FACTS.md): (100 B + 0.001 4^B) fF * V^2, in pJ; area
// 10^(-0.0369 B + 1.206) * 2^B um^2 at 28 nm, scaled by (node / 28)^2.
double fitted_adc_energy_pj(int bits, double supply_v);
double fitted_adc_area_um2(int bits, int technology_nm);

struct AdcCost {
  double energy_pj = 0;  // per conversion
  double area_um2 = 0;   // per ADC
  std::string model;     // the spec's adc_model
  std::string source;    // where the numbers come from, for reports
};
// The ADC energy and area the spec's cost.adc_model gives (Error(invalid) naming cost.adc_model
// for an unknown model or table entry).
AdcCost adc_cost(const ChipSpec& chip);

// ---------------------------------------------------------------------------------------------
// Pricing

enum class CostComponent {
  array,
  dac,
  adc,
  shift_add,
  accumulate,
  digital,
  buffer,
  noc,
  chip_link,
  leakage
};
inline constexpr int kCostComponents = 10;
std::string cost_component_name(CostComponent c);  // "array", "dac", ...

struct EnergyBreakdown {
  std::array<double, kCostComponents> pj{};  // by CostComponent
  double& operator[](CostComponent c) { return pj[static_cast<size_t>(c)]; }
  double operator[](CostComponent c) const { return pj[static_cast<size_t>(c)]; }
  double total_pj() const;
  EnergyBreakdown& operator+=(const EnergyBreakdown& o);
};

struct LayerCost {
  std::string node, op;
  EnergyBreakdown energy;   // its events; its fused digital work under "digital"
  int64_t cycles = 0;       // LayerMapping::cycles(): MVMs per tile after replication
  double compute_ns = 0;    // cycles x ChipSpec::mvm_time_ns()
  double digital_ns = 0;    // its fused vector work
  double stall_ns = 0;      // input spilled from a full core buffer (see price())
  double start_ns = 0, finish_ns = 0;  // in the pipeline schedule (0, 0 when none is recorded)
  LayerActivity activity;   // what priced it
};

struct DigitalCost {
  std::string node, op, unit;
  double energy_pj = 0;  // vector lane-ops and buffer traffic
  double time_ns = 0;    // vector operations x op_time_ns
};

struct AreaBreakdown {
  double arrays_um2 = 0, adcs_um2 = 0, dacs_um2 = 0, shift_add_um2 = 0, digital_um2 = 0,
         buffers_um2 = 0, routers_um2 = 0;
  double total_um2() const;
};

struct CostReport {
  std::string chip;
  int chips = 1;
  Events events;
  std::vector<LayerCost> layers;
  std::vector<DigitalCost> digital;
  EnergyBreakdown energy;  // per inference, all components (leakage over latency included)
  double latency_ns = 0;   // one inference through the pipeline
  double interval_ns = 0;  // between inferences in steady state (the slowest stage)
  double inferences_per_s = 0;
  double mvm_time_ns = 0;
  int64_t macs = 0;         // analog + digital multiply-accumulates per inference
  double peak_tops = 0;     // all chips' arrays busy (ChipSpec::peak_tops)
  double effective_tops = 0;  // 2 x MACs x inferences/s
  double tops_per_w = 0;      // 2 x MACs / energy per inference
  double tops_per_mm2 = 0;    // effective TOPS / area
  AreaBreakdown area;         // of all chips used
  double weight_utilisation = 0;  // weights / cells of the arrays used
  double array_utilisation = 0;   // arrays used / arrays available
  double busy_fraction = 0;       // array-cycles used / (arrays available x interval cycles)
  AdcCost adc;
  double leakage_uw = 0;          // of all chips used, scaled
  std::vector<std::string> notes;  // what the model assumed or could not price

  double energy_pj() const { return energy.total_pj(); }
  double dynamic_energy_pj() const { return energy.total_pj() - energy[CostComponent::leakage]; }
  // Always-on average power at `rate` inferences per second: leakage + rate x dynamic energy
  // (leakage is on all the time, so it is not counted again per inference). Error(invalid) when
  // the rate is negative or beyond inferences_per_s.
  double average_power_uw(double rate) const;
};

// Prices one inference. `activity` by node name (from measure_activity); layers without an
// entry take the reference activities, so a spec's per-event energies are reproduced exactly.
//
// Timing: a layer computes for cycles() x mvm_time_ns; the pipeline's latency and interval come
// from the mapping's schedule (latency_cycles, interval_cycles; without one, the layers run one
// after another and the interval is the slowest layer), plus every digital node's vector time
// on the critical path (each its own pipeline stage for the interval), plus the chip links'
// serialisation and latency. Stalls: when a layer's input tensor is larger than the core buffers
// of the cores it occupies, the excess is spilled and refilled once through the buffer's ports
// (width_bits / 8 bytes x ports per access_time_ns), adding that time to the layer and one extra
// write and read of the excess to its buffer energy. Shift-adds and accumulations are taken as
// overlapped with the next MVM, and on-chip network transfers with compute.
CostReport price(const Graph& graph, const Mapping& mapping, const ChipSpec& chip,
                 const std::vector<LayerActivity>& activity = {});
CostReport price(const Program& program, const std::vector<LayerActivity>& activity = {});

// ---------------------------------------------------------------------------------------------
// Digital baseline

// A digital NPU running the same graph at 8-bit integer precision: MAC arrays (8-bit multiply,
// 32-bit accumulate), an on-chip SRAM holding the weights, DRAM for weights that do not fit; its
// static power is that SRAM's retention leakage (logic leakage is not modelled).
struct DigitalBaselineOptions {
  int technology_nm = 22;
  double supply_v = 0.8;
  // Operand reuse in the MAC array's registers: every SRAM read of a weight or an input feeds
  // `reuse` MACs (a 16 x 16 systolic array's row/column broadcast).
  int reuse = 16;
  // On-chip weight SRAM (KiB); 0: as many bytes as the analog chip(s) hold weights (8-bit), so
  // both designs keep the same weights on chip.
  double sram_kib = 0;
  // The SRAM's retention leakage (nW per KiB). Default 3.13 nW/kB, measured in retention at
  // 0.5 V with adaptive body bias in 55 nm deeply-depleted-channel CMOS (Pons et al., "A 0.5 V
  // 2.5 uW/MHz Microcontroller with Analog-Assisted Adaptive Body Bias PVT Compensation with
  // 3.13 nW/kB SRAM Retention in 55 nm Deeply-Depleted Channel CMOS"): a low published figure,
  // not scaled with the node, so that the analog chip's always-on advantage is not overstated.
  double sram_leakage_nw_per_kib = 3.13;
};

// Options at `technology_nm`: below 10 nm (other than the chip's own node) a 0.7 V supply
// (assumed: the 7 nm nominal supply of Stillmaker & Baas's tables), else the chip's supply_v.
DigitalBaselineOptions baseline_at(const ChipSpec& chip, int technology_nm);

// Energy of a 45 nm, 0.9 V operation (Horowitz, ISSCC 2014) at another node and supply:
// Stillmaker & Baas, "Scaling equations for the accurate prediction of CMOS device performance
// from 180 nm to 7 nm", Integration 58 (2017), energy polynomials a V^2 + b V + c per node,
// interpolated log-log between their nodes (130 ... 7 nm) and extrapolated with the 10-to-7 nm
// slope below 7 nm.
double energy_scale_from_45nm(double technology_nm, double supply_v);

struct DigitalBaseline {
  int technology_nm = 0;
  double supply_v = 0;
  double scale = 1;           // energy_scale_from_45nm
  int64_t macs = 0;
  int64_t weight_bytes = 0;   // 8-bit weights (all constant inputs)
  int64_t sram_bytes = 0;     // on-chip SRAM
  int64_t sram_read_bytes = 0, sram_write_bytes = 0, dram_read_bytes = 0;
  double mac_pj = 0;          // per MAC, scaled
  double sram_pj_per_byte = 0;
  double dram_pj_per_byte = 0;
  double mac_energy_pj = 0, sram_energy_pj = 0, dram_energy_pj = 0;
  double energy_pj() const { return mac_energy_pj + sram_energy_pj + dram_energy_pj; }
  // Static power: the SRAM's retention leakage, on all the time. Not in energy_pj() (the
  // baseline has no latency model to spread it over); always-on power adds it.
  double leakage_uw = 0;
  // Always-on average power at `rate` inferences per second: leakage + rate x energy.
  double average_power_uw(double rate) const { return leakage_uw + rate * energy_pj() * 1e-6; }
};

// MACs and parameters from describe(graph) (include/acim/model_info.hpp). `chip` sizes the
// default SRAM (DigitalBaselineOptions::sram_kib = 0).
DigitalBaseline price_digital_baseline(const Graph& graph, const ChipSpec& chip,
                                       const DigitalBaselineOptions& options, int chips = 1);

}  // namespace acim
