// libFuzzer harness: the WAV reader (libsndfile, mix-down, resampling) and the MFCC front end
// and voice gate on what it read. libsndfile reads from a path, so each input is written to a
// per-process temporary file first. acim::Error is the expected answer to a bad file; anything
// else is a finding. Seeds: the bundled keyword clips (examples/kws).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "acim/audio.hpp"
#include "acim/error.hpp"
#include "acim/tensor.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  acim::set_max_tensor_bytes(size_t{64} << 20);  // a header declaring hours of audio: refused
  // Removed when the fuzzer exits normally (its time or run limit), so runs leave nothing behind.
  struct TempFile {
    std::filesystem::path path = std::filesystem::temp_directory_path() /
                                 ("acim_fuzz_wav_" + std::to_string(getpid()) + ".wav");
    ~TempFile() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  };
  static const TempFile file;
  const std::filesystem::path& path = file.path;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const acim::Audio a = acim::read_wav(path);
    acim::Mfcc mfcc;
    (void)mfcc.compute(a.samples);
    (void)acim::vad_gate(a.samples);
  } catch (const acim::Error&) {
  }
  return 0;
}
