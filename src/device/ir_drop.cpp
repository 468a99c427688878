#include "device/ir_drop.hpp"

#include <cmath>
#include <string>

#include "acim/error.hpp"

namespace acim {

namespace {

void check_wire_r(double wire_r_ohm) {
  if (!std::isfinite(wire_r_ohm) || wire_r_ohm < 0) {
    throw Error(ErrorKind::invalid, "ir_drop.wire_r_ohm",
                "is " + std::to_string(wire_r_ohm) + " ohm, must be finite and >= 0",
                "use 0 to turn IR drop off; typical values are 0.1..10 ohm per cell");
  }
}

void check_conductances(const float* g, size_t n) {
  for (size_t k = 0; k < n; ++k) {
    if (!std::isfinite(g[k]) || g[k] < 0) {
      throw Error(ErrorKind::invalid, "ir drop conductance " + std::to_string(k),
                  "is " + std::to_string(g[k]) + " µS, must be finite and >= 0",
                  "conductances must be programmed from finite weights");
    }
  }
}

// One tridiagonal chain of the block-Jacobi preconditioner: diagonal d[k], off-diagonals -w
// (w = wire conductance). Stores the Thomas-algorithm factors.
struct Chain {
  std::vector<double> c;          // c'_k = -w / denom_k
  std::vector<double> inv_denom;  // 1 / denom_k
};

void chain_factor(const double* d, size_t n, double w, Chain* ch) {
  ch->c.resize(n);
  ch->inv_denom.resize(n);
  double prev_c = 0;
  for (size_t k = 0; k < n; ++k) {
    double denom = d[k] + w * prev_c;  // d_k - (-w) * c'_{k-1}
    ch->inv_denom[k] = 1.0 / denom;
    ch->c[k] = -w / denom;
    prev_c = ch->c[k];
  }
}

// Solves the chain for r (stride `stride` in r and z) into z.
void chain_solve(const Chain& ch, double w, const double* r, double* z, size_t n, size_t stride) {
  double prev = 0;
  for (size_t k = 0; k < n; ++k) {
    prev = (r[k * stride] + w * prev) * ch.inv_denom[k];
    z[k * stride] = prev;
  }
  for (size_t k = n - 1; k-- > 0;) z[k * stride] -= ch.c[k] * z[(k + 1) * stride];
}

}  // namespace

void ir_drop_effective_conductances(const float* g_us, int rows, int cols, double wire_r_ohm,
                                    float* g_eff_us) {
  check_wire_r(wire_r_ohm);
  ACIM_ASSERT(rows >= 0 && cols >= 0, "negative array size");
  const size_t R = static_cast<size_t>(rows), C = static_cast<size_t>(cols);
  if (wire_r_ohm == 0) {
    for (size_t k = 0; k < R * C; ++k) g_eff_us[k] = g_us[k];
    return;
  }
  const double rho = wire_r_ohm * 1e-6;  // V per µA
  std::vector<double> drop(R * C, 0.0);
  // Row drops: a_ij = rho * (S_i(j) + (j + 1) * T_i(j)), S_i(j) = sum_{m<=j} g_im (m + 1),
  // T_i(j) = sum_{m>j} g_im.
  for (size_t i = 0; i < R; ++i) {
    const float* g = g_us + i * C;
    double total = 0;
    for (size_t m = 0; m < C; ++m) total += g[m];
    double s = 0, prefix = 0;
    for (size_t j = 0; j < C; ++j) {
      s += g[j] * static_cast<double>(j + 1);
      prefix += g[j];
      drop[i * C + j] = rho * (s + static_cast<double>(j + 1) * (total - prefix));
    }
  }
  // Column drops: b_ij = rho * ((rows - i) * P_j(i) + Q_j(i)), P_j(i) = sum_{l<=i} g_lj,
  // Q_j(i) = sum_{l>i} g_lj (rows - l).
  std::vector<double> p(C, 0.0), q(C, 0.0);
  for (size_t l = 0; l < R; ++l) {
    for (size_t j = 0; j < C; ++j) q[j] += g_us[l * C + j] * static_cast<double>(R - l);
  }
  for (size_t i = 0; i < R; ++i) {
    for (size_t j = 0; j < C; ++j) {
      double g = g_us[i * C + j];
      p[j] += g;
      q[j] -= g * static_cast<double>(R - i);
      drop[i * C + j] += rho * (static_cast<double>(R - i) * p[j] + q[j]);
    }
  }
  for (size_t k = 0; k < R * C; ++k) {
    double f = 1.0 - drop[k];
    g_eff_us[k] = static_cast<float>(g_us[k] * (f > 0 ? f : 0.0));
  }
}

IrDropSolution ir_drop_nodal_solve(const float* g_us, int rows, int cols, double wire_r_ohm,
                                   const float* v_row) {
  check_wire_r(wire_r_ohm);
  ACIM_ASSERT(rows >= 0 && cols >= 0, "negative array size");
  const size_t R = static_cast<size_t>(rows), C = static_cast<size_t>(cols);
  check_conductances(g_us, R * C);
  for (size_t i = 0; i < R; ++i) {
    if (!std::isfinite(v_row[i])) {
      throw Error(ErrorKind::invalid, "ir drop row voltage " + std::to_string(i), "is not finite",
                  "drive the rows with finite inputs");
    }
  }
  IrDropSolution sol;
  sol.col_current_ua.assign(C, 0.0);
  sol.row_current_ua.assign(R, 0.0);
  sol.cell_volts.assign(R * C, 0.0);
  if (R == 0 || C == 0) return sol;
  if (wire_r_ohm == 0) {
    for (size_t i = 0; i < R; ++i) {
      for (size_t j = 0; j < C; ++j) {
        double cur = static_cast<double>(v_row[i]) * g_us[i * C + j];
        sol.col_current_ua[j] += cur;
        sol.row_current_ua[i] += cur;
        sol.cell_volts[i * C + j] = v_row[i];
      }
    }
    return sol;
  }
  const double w = 1e6 / wire_r_ohm;  // wire segment conductance (µS)
  const size_t n = R * C;             // row nodes [0, n), column nodes [n, 2n), index i*C + j

  // Diagonals of the nodal matrix.
  std::vector<double> diag(2 * n);
  for (size_t i = 0; i < R; ++i) {
    for (size_t j = 0; j < C; ++j) {
      double g = g_us[i * C + j];
      diag[i * C + j] = w + (j + 1 < C ? w : 0.0) + g;
      diag[n + i * C + j] = w + (i > 0 ? w : 0.0) + g;
    }
  }
  // y = A x.
  auto apply = [&](const std::vector<double>& x, std::vector<double>& y) {
    for (size_t i = 0; i < R; ++i) {
      for (size_t j = 0; j < C; ++j) {
        size_t k = i * C + j;
        double g = g_us[k];
        double yr = diag[k] * x[k] - g * x[n + k];
        if (j > 0) yr -= w * x[k - 1];
        if (j + 1 < C) yr -= w * x[k + 1];
        double yc = diag[n + k] * x[n + k] - g * x[k];
        if (i > 0) yc -= w * x[n + k - C];
        if (i + 1 < R) yc -= w * x[n + k + C];
        y[k] = yr;
        y[n + k] = yc;
      }
    }
  };
  // Block-Jacobi preconditioner: one tridiagonal block per row wire and per column wire.
  std::vector<Chain> row_chains(R), col_chains(C);
  std::vector<double> tmp(R > C ? R : C);
  for (size_t i = 0; i < R; ++i) chain_factor(&diag[i * C], C, w, &row_chains[i]);
  for (size_t j = 0; j < C; ++j) {
    for (size_t i = 0; i < R; ++i) tmp[i] = diag[n + i * C + j];
    chain_factor(tmp.data(), R, w, &col_chains[j]);
  }
  auto precondition = [&](const std::vector<double>& r, std::vector<double>& z) {
    for (size_t i = 0; i < R; ++i) chain_solve(row_chains[i], w, &r[i * C], &z[i * C], C, 1);
    for (size_t j = 0; j < C; ++j) chain_solve(col_chains[j], w, &r[n + j], &z[n + j], R, C);
  };
  auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t k = 0; k < a.size(); ++k) s += a[k] * b[k];
    return s;
  };

  // Right-hand side: the drivers feed r(i, 0) through one segment.
  std::vector<double> b(2 * n, 0.0);
  for (size_t i = 0; i < R; ++i) b[i * C] = w * v_row[i];
  const double b_norm = std::sqrt(dot(b, b));
  std::vector<double> x(2 * n, 0.0), r = b, z(2 * n), p(2 * n), ap(2 * n);
  int it = 0;
  if (b_norm > 0) {
    precondition(r, z);
    p = z;
    double rz = dot(r, z);
    const int max_it = 1000 + static_cast<int>(4 * (R + C));
    const double tol = 1e-13 * b_norm;
    for (;;) {
      if (std::sqrt(dot(r, r)) <= tol) break;
      if (it >= max_it) {
        throw Error(ErrorKind::limit, "ir drop nodal solve",
                    "did not converge in " + std::to_string(max_it) + " iterations",
                    "use the first-order IR-drop model for this array");
      }
      apply(p, ap);
      double alpha = rz / dot(p, ap);
      for (size_t k = 0; k < 2 * n; ++k) {
        x[k] += alpha * p[k];
        r[k] -= alpha * ap[k];
      }
      precondition(r, z);
      double rz_new = dot(r, z);
      double beta = rz_new / rz;
      rz = rz_new;
      for (size_t k = 0; k < 2 * n; ++k) p[k] = z[k] + beta * p[k];
      ++it;
    }
  }
  sol.iterations = it;
  for (size_t j = 0; j < C; ++j) sol.col_current_ua[j] = w * x[n + (R - 1) * C + j];
  for (size_t i = 0; i < R; ++i) sol.row_current_ua[i] = w * (v_row[i] - x[i * C]);
  for (size_t k = 0; k < n; ++k) sol.cell_volts[k] = x[k] - x[n + k];
  return sol;
}

std::vector<double> ir_drop_nodal_currents(const float* g_us, int rows, int cols, double wire_r_ohm,
                                           const float* v_row) {
  return ir_drop_nodal_solve(g_us, rows, cols, wire_r_ohm, v_row).col_current_ua;
}

}  // namespace acim
