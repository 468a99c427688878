// Mapping: which weight matrices of a graph go onto which crossbar arrays of a chip (or of a
// stack of chips), how many copies of each, and what runs on the cores' digital units instead.
//
// Every analog layer is lowered to one or more MatrixViews, K rows (inputs) x N columns
// (outputs), as the array sees them:
//   Conv (any rank)   K = Cin/groups * prod(kernel), N = Cout/groups, one matrix per group
//                     (im2col view); one MVM per output position.
//   Gemm / MatMul     with a constant 2-D weight: K x N (transB handled); one MVM per row of A.
//   LSTM / GRU / RNN  W: K = input size, N = gates*hidden; R: K = hidden, N = gates*hidden
//                     (gates stacked), one of each per direction; one MVM per time step. The gate
//                     arithmetic runs on the digital units.
// Small groups (depthwise conv: each channel's kh*kw x 1 kernel) are packed block-diagonally:
// floor(rows/K) x floor(logical_cols/N) groups per array (the lesser of the two), so a 64-channel
// 3x3 depthwise conv on 256x18 arrays takes ceil(64/18) = 4 arrays instead of 64.
// A matrix larger than an array is split into ceil(K/rows) row blocks (their partial sums are
// added digitally: row_blocks-1 additions per output per MVM) and ceil(N/logical_cols) column
// blocks; each block is one array. Utilisation = weights / (arrays * rows * logical_cols).
//
// Replication balances the layer-pipelined dataflow: while arrays remain, the slowest layers
// (most array cycles per inference = ceil(MVMs / replication)) are doubled, all layers tied at
// the slowest together; it stops when they cannot all be doubled (doubling only some would not
// shorten the bottleneck).
//
// Placement: the cores sit on a grid (core c at row c / mesh_cols, column c % mesh_cols; a mesh
// is ceil(sqrt(cores)) columns by ceil(cores / columns) rows, a bus or a tree one row). Each
// chip's arrays are laid in layer order (copies of one layer together) along an order of its
// cores: the serpentine (boustrophedon: alternate rows reversed) and a generalised Hilbert
// curve are both tried and the one with the fewer byte-hops kept, so consecutive layers sit
// on the same or neighbouring cores. Hops between two cores: mesh, Manhattan distance; bus,
// |i - j|; tree (cores the leaves of a binary tree), 2 * bit_width(i xor j), at most
// 2 * ceil(log2(cores)).
//
// Traffic: a digital node runs on the cores of the latest analog layer (graph order) whose
// output reaches it through digital nodes only. Each analog layer reads its input from there
// (bytes = input_elements at the DAC's resolution), and a digital node's inputs from other
// layers (a residual Add's skip branch) are sent to its cores (bytes = that value's elements).
// A transfer's hops are the mean over every (producer array, consumer array) pair.
//
// Schedule (one inference through the layer pipeline, in array cycles): a layer starts when
// every analog layer it depends on (through digital nodes) has made what its first MVM reads —
// a Conv reading an H-row map needs its first kh (kernel height) rows, ceil(cycles * kh / H) of
// the producer's cycles (rows are made in order; a pooling or stride between them is folded
// into H, a pooling window's overlap ignored), anything else the producer's whole output — and
// finishes cycles() later, but no earlier than one cycle after its last producer. Chip-link and
// network latencies and digital-unit time are not included.
//
// When the layers' arrays (one copy each) exceed one chip, the graph is split in layer order into
// pipeline stages, one per chip, with the activations that cross each boundary made explicit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "acim/chip.hpp"
#include "acim/graph.hpp"

namespace acim {

// One weight matrix as the array sees it (K x N), `count` identical ones (groups, directions).
struct MatrixView {
  std::string role;  // "weight", "group", "W", "R"
  int64_t rows = 0;  // K: inputs
  int64_t cols = 0;  // N: outputs
  int64_t count = 1;
};

// How one K x N matrix splits onto arrays of array_rows x array_cols (logical columns).
struct MatrixTiling {
  int64_t row_blocks = 0;
  int64_t col_blocks = 0;
  int64_t arrays = 0;            // row_blocks * col_blocks
  int64_t partial_sum_adds = 0;  // per output element per MVM: row_blocks - 1
  int64_t weights = 0;           // K * N (cells used, in logical weights)
  int64_t allocated = 0;         // arrays * array_rows * array_cols
};
MatrixTiling tile_matrix(int64_t k, int64_t n, int64_t array_rows, int64_t array_cols);

// Groups of a K x N block-diagonal packing that fit one array (0 or 1: no packing possible).
int64_t groups_per_array(int64_t k, int64_t n, int64_t array_rows, int64_t array_cols);

struct LayerMapping {
  std::string node;  // node name
  std::string op;    // "Conv", "Conv+Relu", "Gemm", "LSTM", ...
  std::vector<MatrixView> matrices;
  int64_t groups_packed = 1;  // groups sharing one array (block-diagonal), 1 = none
  int64_t tiles = 0;          // arrays for one copy of the layer
  int64_t row_blocks = 0;     // of the largest matrix
  int64_t col_blocks = 0;
  int64_t partial_sum_adds = 0;  // digital additions per inference (all outputs, all MVMs)
  int64_t weights = 0;           // logical weights (cells used)
  int64_t allocated = 0;         // logical cells of the tiles
  int64_t mvms = 0;              // MVMs per inference on each tile (output positions, steps)
  int64_t replication = 1;
  int64_t output_elements = 0;            // per inference (for inter-chip traffic)
  std::vector<std::string> digital;       // what this layer also needs from the digital units
  int chip = 0;                           // pipeline stage (chip index)
  int last_chip = 0;                      // > chip when the layer is larger than one chip
  int64_t first_core = 0, last_core = 0;  // cores of the first array (on `chip`) and the last
                                          // (on `last_chip`); see array_cores for all
  // Placement of every array of the layer: copy-major (copy r holds arrays r*tiles ..
  // r*tiles + tiles - 1, in the order the simulator splits the matrices: matrix views in order,
  // then groups/packs, then row blocks, then column blocks). Global core index:
  // chip_index * chip.cores + core.
  std::vector<int64_t> array_cores;
  int64_t input_elements = 0;  // activations read per inference (array inputs, before im2col)
  // Layer-pipelined schedule, in array cycles (one cycle = one MVM on one array) from the moment
  // one inference enters the pipeline.
  int stage = 0;              // position in the pipeline (analog layers in graph order)
  int64_t start_cycle = 0;    // first MVM: its producers have made the data its first MVM reads
  int64_t finish_cycle = 0;   // last MVM done

  int64_t arrays() const { return tiles * replication; }
  int64_t cycles() const { return (mvms + replication - 1) / replication; }  // per inference
  double utilisation() const {
    return allocated > 0 ? static_cast<double>(weights) / static_cast<double>(allocated) : 0.0;
  }
};

// A node the arrays cannot run.
struct DigitalOp {
  std::string node;
  std::string op;
  std::string unit;  // "activation", "pooling", "softmax", "normalization", "vector",
                     // "data movement", or "host" when the chip lacks the unit
  int chip = 0;
};

// Activations crossing from chip `from` to chip from+1 per inference.
struct StageBoundary {
  int from = 0;
  int64_t elements = 0;
  int64_t bytes = 0;  // at the DAC's input resolution (bytes per element = ceil(bits/8))
};

// Activations moved over the on-chip network per inference, from the cores of one analog
// layer (through the digital ops between them, which run on the producer's cores) to the cores of
// the next that reads them, or to the cores where a digital op with inputs from several layers
// runs (a residual Add: the skip branch). `from` is "" for the graph's inputs (entering at core
// 0 of chip 0). One Transfer per (from, to) pair, bytes summed.
struct Transfer {
  std::string from, to;  // analog layer node names
  int from_chip = 0, to_chip = 0;  // from: the producer's last chip; to: the consumer's first
  int64_t bytes = 0;     // per inference, at the DAC's input resolution
  double hops = 0;       // mean network hops over all (producer array, consumer array) pairs on
                         // one chip; 0 when from_chip != to_chip (that is chip-link traffic)
};

struct MappingOptions {
  std::string model;        // for messages ("zoo/resnet/resnet20_cifar.onnx")
  int chips = 0;            // 0: one chip, error if it does not fit; N: at most N chips
  bool chips_auto = false;  // the fewest chips that hold it
  bool replicate = true;
  // Core order the arrays are laid along: "serpentine", "hilbert" or "row-major"; empty: the
  // better (fewer byte-hops) of serpentine and hilbert.
  std::string placement;
};

struct Mapping {
  std::string chip_name;
  int64_t arrays_per_chip = 0;
  int chips = 1;                 // chips used
  int64_t tiles = 0;             // arrays without replication
  int64_t arrays_used = 0;       // with replication
  int64_t arrays_available = 0;  // arrays_per_chip * chips
  int64_t weights = 0;
  int64_t allocated = 0;             // of the used arrays
  std::vector<int64_t> cores_used;   // per chip
  std::vector<LayerMapping> layers;  // analog layers, graph order
  std::vector<DigitalOp> digital;    // digital nodes, graph order
  std::vector<StageBoundary> boundaries;
  int64_t bottleneck_cycles = 0;  // max over layers of cycles()
  int64_t bottleneck_cycles_unreplicated = 0;
  // On-chip network: cores on a mesh_rows x mesh_cols grid (bus/tree: one row).
  int mesh_rows = 1, mesh_cols = 1;
  std::string placement;  // the core order the arrays were laid along: "serpentine",
                          // "hilbert" or "row-major"
  std::vector<Transfer> transfers;  // in graph order of their first use
  double noc_byte_hops = 0;            // sum of bytes * hops over transfers on the same chip
  double noc_byte_hops_row_major = 0;  // the same traffic with plain row-major placement
  // Schedule summary (array cycles): one inference's latency through the pipeline (fill
  // included), and the interval between inferences in steady state (the slowest layer).
  int64_t latency_cycles = 0;
  int64_t interval_cycles = 0;

  double utilisation() const {
    return allocated > 0 ? static_cast<double>(weights) / static_cast<double>(allocated) : 0.0;
  }
};

// Layers that need arrays, in graph order, with tiles but no replication or placement.
// The graph must have been through shape inference (run_default_passes).
std::vector<LayerMapping> analog_layers(const Graph& graph, const ChipSpec& chip);

// Chips a layer-order split needs when each chip holds `capacity` arrays.
int chips_for(const std::vector<LayerMapping>& layers, int64_t capacity);

// Doubles the slowest layers' replication while `budget` arrays suffice (layers' replication
// is reset to 1 first). Returns the arrays used.
int64_t replicate_layers(std::vector<LayerMapping*>& layers, int64_t budget);

// The whole mapping. Throws Error(limit) when the graph needs more chips than allowed:
// "MODEL: needs 37 arrays; chip 'edge-voice' has 16; use --chips 3 (or --chips auto)".
Mapping map_graph(const Graph& graph, const ChipSpec& chip, const MappingOptions& options = {});

}  // namespace acim
