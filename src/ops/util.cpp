#include "ops/util.hpp"

#include <algorithm>

namespace acim::ops {

bool broadcast_shapes(const Shape& a, const Shape& b, Shape& out) {
  size_t n = std::max(a.size(), b.size());
  out.assign(n, 1);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da == db)
      out[i] = da;
    else if (da == 1)
      out[i] = db;
    else if (db == 1)
      out[i] = da;
    else if (da < 0 || db < 0)
      out[i] = std::max(da, db);  // the known one, if the unknown turns out to be 1
    else
      return false;
  }
  return true;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const std::string& where) {
  if (axis < -rank || axis >= rank)
    throw Error(ErrorKind::invalid, where,
                "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  return axis < 0 ? axis + rank : axis;
}

void require_f32(const InferContext& ctx, size_t input, DType dt) {
  if (dt != DType::f32)
    ctx.fail(ErrorKind::unsupported,
             "input " + std::to_string(input) + " is " + dtype_name(dt) +
                 "; this op runs in float32 only",
             "export the model with float32 tensors");
}

}  // namespace acim::ops
