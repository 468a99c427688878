// IR drop: the resistance of the row and column wires makes cells far from the drivers and the
// sense amplifiers see less voltage.
//
// Circuit (both models). Cell (i, j) is a conductance g[i][j] between row node r(i, j) and column
// node c(i, j). Every cell owns one wire segment of wire_r_ohm on its row and one on its column:
//   row i:    driver v_row[i] -R- r(i,0) -R- r(i,1) -R- ... -R- r(i,cols-1)   (open end)
//   column j: c(0,j) -R- c(1,j) -R- ... -R- c(rows-1,j) -R- sense node at 0 V (virtual ground)
// so a row has `cols` segments and a column `rows` segments. The column current is the current
// through the last segment into the sense node. With wire_r_ohm = 0 both models give exactly
// I_j = sum_i v_row[i] * g[i][j].
//
// Units: g in µS, v in V, currents in µA (1 µS * 1 V = 1 µA), wire_r_ohm in ohm, so a wire
// segment is a conductance of 1e6 / wire_r_ohm µS and a current of I µA drops I * r * 1e-6 V.
#pragma once

#include <vector>

namespace acim {

// Fast first-order model: effective conductances g_eff (µS, [rows, cols] row-major) such that
// column currents ≈ v · g_eff, computed once per programming from g (µS). Assumes all rows are
// driven at the same voltage (the worst, dense case) and evaluates the wire drops with the
// nominal (drop-free) cell currents: exact to first order in r for that input, with an error of
// order (relative drop)^2. With rho = r * 1e-6 (V per µA):
//   row drop fraction at cell (i, j): a_ij = rho * sum_m g[i][m] * (min(m, j) + 1)
//     (segment k of row i carries the currents of cells k..cols-1; node j is behind segments
//     0..j),
//   column drop fraction:            b_ij = rho * sum_l g[l][j] * (rows - max(l, i))
//     (segment l of column j carries the currents of cells 0..l; node i is above segments
//     i..rows-1),
//   g_eff[i][j] = g[i][j] * max(0, 1 - a_ij - b_ij).
// O(rows * cols). Throws Error(invalid) for a negative or non-finite wire_r_ohm.
void ir_drop_effective_conductances(const float* g_us, int rows, int cols, double wire_r_ohm,
                                    float* g_eff_us);

// The exact nodal solve (see the circuit above) for one input vector.
struct IrDropSolution {
  std::vector<double> col_current_ua;  // [cols] current into each column's sense node
  std::vector<double> row_current_ua;  // [rows] current out of each row driver
  std::vector<double> cell_volts;      // [rows * cols] voltage across each cell, r - c
  int iterations = 0;                  // conjugate-gradient iterations used
};

// Solves the SPD nodal system (2 * rows * cols unknowns, in double) by conjugate gradients with
// a block-Jacobi preconditioner (each row wire and each column wire is a tridiagonal block,
// solved exactly), to a relative residual of 1e-13. Serial and deterministic. For small arrays
// (validates the first-order model); cost grows as about (rows * cols)^1.5.
// Throws Error(invalid) for a negative or non-finite wire_r_ohm or a negative / non-finite
// conductance, Error(limit) if it fails to converge.
IrDropSolution ir_drop_nodal_solve(const float* g_us, int rows, int cols, double wire_r_ohm,
                                   const float* v_row);

// The column currents (µA) of ir_drop_nodal_solve.
std::vector<double> ir_drop_nodal_currents(const float* g_us, int rows, int cols, double wire_r_ohm,
                                           const float* v_row);

}  // namespace acim
