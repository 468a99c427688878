#include <gtest/gtest.h>

#include "acim/tensor.hpp"

namespace acim {

TEST(Tensor, ZeroFilledWithShapeAndDtype) {
  Tensor t(DType::f32, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  for (float v : t.span<float>()) EXPECT_EQ(v, 0.0f);
}

TEST(Tensor, CastConvertsValues) {
  Tensor t = Tensor::from_vector<float>({3}, {1.5f, -2.5f, 0.0f});
  Tensor i = t.cast(DType::i64);
  EXPECT_EQ(i.to_int64s(), (std::vector<int64_t>{1, -2, 0}));
  Tensor b = t.cast(DType::boolean);
  EXPECT_EQ(b.to_int64s(), (std::vector<int64_t>{1, 1, 0}));
}

TEST(Tensor, ReshapeSharesBuffer) {
  Tensor t = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4});
  Tensor r = t.reshaped({4});
  r.data<int32_t>()[0] = 9;
  EXPECT_EQ(t.data<int32_t>()[0], 9);
  Tensor c = t.clone();
  c.data<int32_t>()[0] = 7;
  EXPECT_EQ(t.data<int32_t>()[0], 9);
}

// sole_owner(): no other handle or view shares the buffer (what in-place writers check).
TEST(Tensor, SoleOwnerUntilAViewOrCopyOfTheHandleShares) {
  Tensor t(DType::f32, {2, 3});
  EXPECT_TRUE(t.sole_owner());
  {
    const Tensor view = t.reshaped({6});
    EXPECT_FALSE(t.sole_owner());
    EXPECT_FALSE(view.sole_owner());
  }
  EXPECT_TRUE(t.sole_owner());
  const Tensor handle = t;
  EXPECT_FALSE(t.sole_owner());
  EXPECT_TRUE(t.clone().sole_owner());
}

// A zero dim anywhere makes 0 elements, without overflowing on the huge dims before it (a
// fuzz_onnx finding: an initializer of dims [481040634206845440, 114, ..., 0]); a count that
// does not fit in 64 bits is a limit error, not undefined behaviour.
TEST(Tensor, ShapeNumelOfZeroAndOverflowingShapes) {
  EXPECT_EQ(shape_numel({int64_t{481040634206845440}, 114, 0}), 0);
  EXPECT_EQ(shape_numel({0, int64_t{1} << 62, int64_t{1} << 62}), 0);
  EXPECT_EQ(shape_numel({}), 1);
  EXPECT_EQ(shape_numel({3, 4}), 12);
  EXPECT_THROW(shape_numel({int64_t{481040634206845440}, 114}), Error);
}

TEST(Tensor, HugeTensorIsRefusedWithLimitError) {
  try {
    Tensor t(DType::f32, {1LL << 40, 1LL << 40});
    FAIL() << "expected a limit error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::limit);
    EXPECT_NE(std::string(e.what()).find("[1099511627776,1099511627776]"), std::string::npos);
  }
}

TEST(Tensor, EmptyTensorWithZeroDimIsFine) {
  Tensor t(DType::f32, {0, 1LL << 50});
  EXPECT_EQ(t.numel(), 0);
}

TEST(Tensor, RowsCopyASliceAlongDimZero) {
  Tensor t = Tensor::from_vector<float>({3, 2}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.to_doubles(), (std::vector<double>{3, 4, 5, 6}));
  EXPECT_NE(r.raw(), t.raw());  // a copy, not a view
  EXPECT_EQ(t.rows(2, 2).shape(), (Shape{0, 2}));
}

}  // namespace acim
