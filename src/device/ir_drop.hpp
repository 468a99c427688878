// IR drop: the resistance of the row and column wires makes cells far from the drivers and the
// sense amplifiers see less voltage. Rows are driven at column 0; columns are sensed at row
// rows-1 (virtual ground); every wire segment between neighbouring cells has wire_r_ohm.
#pragma once

#include <vector>

namespace acim {

// Fast first-order model: effective conductances g_eff (µS, [rows, cols] row-major) such that
// column currents ≈ v · g_eff, computed once per programming from g (µS). Assumes all rows are
// driven at the same voltage when estimating the column-wire drops (the worst, dense case).
void ir_drop_effective_conductances(const float* g_us, int rows, int cols, double wire_r_ohm,
                                    float* g_eff_us);

// Exact nodal solve of the full resistive network for one input vector v (volts, one per row):
// returns the current (µA) into each column's sense node. For small arrays (validates the
// first-order model); cost grows as (rows * cols)^1.5.
std::vector<double> ir_drop_nodal_currents(const float* g_us, int rows, int cols,
                                           double wire_r_ohm, const float* v_row);

}  // namespace acim
