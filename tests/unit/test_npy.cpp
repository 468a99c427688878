#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "acim/npy.hpp"
#include "test_util.hpp"

namespace fs = std::filesystem;

namespace acim {
namespace {

ErrorKind kind_of_load(const fs::path& p) {
  try {
    load_npy(p);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(p.filename().string()), std::string::npos) << e.what();
    return e.kind();
  }
  ADD_FAILURE() << "expected an error loading " << p;
  return ErrorKind::invalid;
}

TEST(Npy, ReadsWhatNumpyWrote) {
  // tests/data/cli/x23.npy = np.arange(-3, 3, dtype=float32).reshape(2, 3)
  Tensor t = load_npy(std::string(ACIM_SOURCE_DIR) + "/tests/data/cli/x23.npy");
  ASSERT_EQ(t.dtype(), DType::f32);
  ASSERT_EQ(t.shape(), (Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data<float>()[i], static_cast<float>(i - 3));
}

TEST(Npy, RoundTripsEveryDtypeAndRank) {
  test::TempDir tmp;
  for (DType dt : {DType::f32, DType::f64, DType::i8, DType::u8, DType::i16, DType::u16, DType::i32,
                   DType::u32, DType::i64, DType::u64, DType::boolean}) {
    for (const Shape& shape : {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 0, 4}, Shape{1, 2, 3, 4}}) {
      Tensor t = Tensor::from_vector<double>(shape, std::vector<double>(static_cast<size_t>(shape_numel(shape)), 0))
                     .cast(dt);
      auto* bytes = static_cast<unsigned char*>(t.raw());
      for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] = static_cast<unsigned char>((i * 37 + 11) % 256);
      if (dt == DType::boolean)
        for (size_t i = 0; i < t.nbytes(); ++i) bytes[i] &= 1;
      fs::path p = tmp.path() / "rt.npy";
      save_npy(p, t);
      Tensor r = load_npy(p);
      ASSERT_EQ(r.dtype(), dt) << dtype_name(dt);
      ASSERT_EQ(r.shape(), shape) << shape_str(shape);
      EXPECT_EQ(0, std::memcmp(r.raw(), t.raw(), t.nbytes())) << dtype_name(dt) << shape_str(shape);
    }
  }
}

TEST(Npy, BadFilesGiveClearErrors) {
  test::TempDir tmp;
  EXPECT_EQ(kind_of_load(tmp.path() / "does_not_exist.npy"), ErrorKind::io);

  fs::path bad_magic = tmp.path() / "bad_magic.npy";
  std::ofstream(bad_magic) << "PK\x03\x04 a zip file, not an npy";
  EXPECT_EQ(kind_of_load(bad_magic), ErrorKind::parse);

  Tensor t = Tensor::from_vector<float>({4}, {1, 2, 3, 4});
  fs::path good = tmp.path() / "good.npy";
  save_npy(good, t);
  std::ifstream in(good, std::ios::binary);
  std::string bytes(std::istreambuf_iterator<char>(in), {});
  fs::path truncated = tmp.path() / "truncated.npy";
  std::ofstream(truncated, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 3));
  EXPECT_EQ(kind_of_load(truncated), ErrorKind::parse);

  std::string fortran = bytes;
  fortran.replace(fortran.find("False"), 5, "True ");
  fs::path fp = tmp.path() / "fortran.npy";
  std::ofstream(fp, std::ios::binary) << fortran;
  EXPECT_EQ(kind_of_load(fp), ErrorKind::unsupported);

  std::string big_endian = bytes;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  fs::path be = tmp.path() / "big_endian.npy";
  std::ofstream(be, std::ios::binary) << big_endian;
  EXPECT_EQ(kind_of_load(be), ErrorKind::unsupported);
}

TEST(Npy, SaveIsAtomicAndLeavesNoTemporaryFiles) {
  test::TempDir tmp;
  const fs::path& dir = tmp.path();
  save_npy(dir / "a.npy", Tensor::from_vector<float>({2}, {1, 2}));
  save_npy(dir / "a.npy", Tensor::from_vector<float>({3}, {1, 2, 3}));  // overwrite
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++n;
    EXPECT_EQ(e.path().filename(), "a.npy");
  }
  EXPECT_EQ(n, 1);
  EXPECT_EQ(load_npy(dir / "a.npy").numel(), 3);
  // Writing into a folder that does not exist fails cleanly and creates nothing.
  EXPECT_THROW(save_npy(dir / "missing" / "b.npy", Tensor::from_vector<float>({1}, {1})), Error);
  EXPECT_FALSE(fs::exists(dir / "missing"));
}

}  // namespace
}  // namespace acim
