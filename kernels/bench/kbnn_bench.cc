// kbnn_bench: popcount ceiling and bconv2d throughput (G binary-MAC/s) at 1 and 2 threads.
//
//   kbnn_bench [--threads=2] [--min_time=0.3] [--reps=7]
//              [--kernel=auto|scalar|avx2|avx512|neon|reference] [--ukernels]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kbnn/kbnn.h"

namespace kbnn_bench {
#if defined(KBNN_BENCH_X86)
double CeilingAvx2(double seconds, uint64_t* sink);
double CeilingPopcnt(double seconds, uint64_t* sink);
#endif
#if defined(KBNN_BENCH_AVX512)
double CeilingAvx512(double seconds, uint64_t* sink);
#endif

// Portable ceiling: 64-bit XOR + __builtin_popcountll.
double CeilingPortable(double seconds, uint64_t* sink) {
  static uint64_t a[1024], b[1024];
  for (size_t i = 0; i < 1024; ++i) {
    a[i] = i * 0x9E3779B97F4A7C15ull;
    b[i] = i * 0xC2B2AE3D27D4EB4Full + 1;
  }
  uint64_t bits = 0, s0 = 0, s1 = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int rep = 0; rep < 64; ++rep) {
      for (size_t i = 0; i < 1024; i += 2) {
        s0 += __builtin_popcountll(a[i] ^ b[i]);
        s1 += __builtin_popcountll(a[i + 1] ^ b[i + 1]);
      }
      bits += 1024 * 64;
      __asm__ volatile("" : "+r"(s0), "+r"(s1));
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  *sink += s0 + s1;
  return static_cast<double>(bits) / elapsed / 1e9;
}
}  // namespace kbnn_bench

namespace {

struct Layer {
  const char* name;
  int h, w, cin, cout, k;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// G binary-MAC/s of one timed batch of >= min_time seconds.
double TimeOnce(kbnn::BConv2D* op, const std::vector<uint32_t>& in, std::vector<float>* out,
                kbnn::ThreadPool* pool, double macs, double min_time) {
  int iters = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  do {
    op->Run(in.data(), out->data(), pool);
    ++iters;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < min_time);
  return macs * iters / el / 1e9;
}

// Median of `reps` samples of a ceiling loop.
template <class F>
double MedianCeiling(F f, int reps, uint64_t* sink) {
  std::vector<double> v;
  for (int r = 0; r < reps; ++r) v.push_back(f(0.1, sink));
  return Median(v);
}

}  // namespace

// Microkernel throughput on L1-resident data: G binary-MAC/s for a 64-row x 64-col block.
void BenchUkernels(double min_time) {
  std::printf("microkernels (64 rows x 64 weight rows, L1/L2 resident), G binary-MAC/s:\n");
  std::printf("%-28s", "kernel \\ k_words");
  const size_t ks[] = {1, 2, 4, 8, 18, 36, 72, 144};
  for (size_t k : ks) std::printf(" %7zu", k);
  std::printf("\n");
  std::mt19937 rng(1);
  for (const kbnn::BgemmUkernel& uk : kbnn::AvailableBgemmUkernels()) {
    std::printf("%-28s", uk.name);
    for (size_t k : ks) {
      const size_t M = 64, N = 64;
      std::vector<uint32_t> a(M * k), b(N * k);
      for (auto& v : a) v = rng();
      for (auto& v : b) v = rng();
      if (uk.k_major_panel) {  // each panel of nr rows [nr][k] -> [k][nr]
        std::vector<uint32_t> t(b.size());
        for (size_t p0 = 0; p0 < N; p0 += uk.nr)
          for (size_t n = 0; n < static_cast<size_t>(uk.nr); ++n)
            for (size_t j = 0; j < k; ++j) t[p0 * k + j * uk.nr + n] = b[(p0 + n) * k + j];
        b.swap(t);
      }
      std::vector<const uint32_t*> rows(M);
      for (size_t m = 0; m < M; ++m) rows[m] = a.data() + m * k;
      std::vector<int32_t> c(M * N);
      auto run = [&] {
        for (size_t n = 0; n < N; n += uk.nr)
          for (size_t m = 0; m < M; m += uk.mr)
            uk.fn(std::min<size_t>(uk.mr, M - m), std::min<size_t>(uk.nr, N - n), k, rows.data() + m,
                  b.data() + n * k, c.data() + m * N + n, N);
      };
      run();
      std::vector<double> rates;
      for (int r = 0; r < 5; ++r) {
        int iters = 0;
        const auto t0 = std::chrono::steady_clock::now();
        double el = 0;
        do {
          run();
          ++iters;
          el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        } while (el < min_time);
        rates.push_back(static_cast<double>(M) * N * k * 32 * iters / el / 1e9);
      }
      std::printf(" %7.1f", Median(rates));
    }
    std::printf("\n");
  }
  std::printf("\n");
}

int main(int argc, char** argv) {
  int threads = 2, reps = 7;
  bool ukernels = false;
  double min_time = 0.25;
  kbnn::KernelChoice choice = kbnn::KernelChoice::kAuto;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--ukernels") ukernels = true;
    else if (a.rfind("--threads=", 0) == 0) threads = std::atoi(a.c_str() + 10);
    else if (a.rfind("--reps=", 0) == 0) reps = std::atoi(a.c_str() + 7);
    else if (a.rfind("--min_time=", 0) == 0) min_time = std::atof(a.c_str() + 11);
    else if (a.rfind("--kernel=", 0) == 0) {
      const std::string k = a.substr(9);
      choice = k == "reference" ? kbnn::KernelChoice::kReference
             : k == "scalar"    ? kbnn::KernelChoice::kScalar
             : k == "avx2"      ? kbnn::KernelChoice::kAvx2
             : k == "avx512"    ? kbnn::KernelChoice::kAvx512
             : k == "neon"      ? kbnn::KernelChoice::kNeon
                                : kbnn::KernelChoice::kAuto;
      if (choice == kbnn::KernelChoice::kAuto && k != "auto") {
        std::fprintf(stderr, "kbnn_bench: unknown --kernel=%s (auto, reference, scalar, avx2, "
                             "avx512, neon)\n", k.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr,
                   "usage: kbnn_bench [--ukernels] [--threads=N] [--reps=R] [--min_time=S] [--kernel=ISA]\n");
      return 2;
    }
  }
  if (threads < 1) threads = 1;

  uint64_t sink = 0;
  double ceiling = MedianCeiling(kbnn_bench::CeilingPortable, 5, &sink);
  std::printf("popcount ceiling (XOR+popcount over L1-resident data, 1 core):\n");
  std::printf("  %-34s %8.1f G binary-MAC/s\n", "portable __builtin_popcountll", ceiling);
#if defined(KBNN_BENCH_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) {
    const double p = MedianCeiling(kbnn_bench::CeilingPopcnt, 5, &sink);
    const double v = MedianCeiling(kbnn_bench::CeilingAvx2, 5, &sink);
    std::printf("  %-34s %8.1f G binary-MAC/s\n", "x86 POPCNT 64-bit", p);
    std::printf("  %-34s %8.1f G binary-MAC/s\n", "AVX2 PSHUFB nibble LUT", v);
    ceiling = std::max({ceiling, p, v});
  }
#endif
#if defined(KBNN_BENCH_AVX512)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) {
    const double z = MedianCeiling(kbnn_bench::CeilingAvx512, 5, &sink);
    std::printf("  %-34s %8.1f G binary-MAC/s\n", "AVX-512 VPOPCNTQ 4x4 tile", z);
    ceiling = std::max(ceiling, z);
  }
#endif
  std::printf("  ceiling = best of the above       %8.1f G binary-MAC/s per core\n\n", ceiling);
  if (ukernels) BenchUkernels(0.05);

  const Layer layers[] = {
      {"3x3 56x56x64", 56, 56, 64, 64, 3},     {"3x3 28x28x128", 28, 28, 128, 128, 3},
      {"3x3 14x14x256", 14, 14, 256, 256, 3},  {"3x3 7x7x512", 7, 7, 512, 512, 3},
      {"1x1 28x28x256->256", 28, 28, 256, 256, 1},
  };
  kbnn::ThreadPool pool(threads);
  std::printf("bconv2d, bitpacked in -> float out, stride 1, SAME (pad +1), batch 1\n");
  std::printf("%-20s %-24s %10s %7s %10s %7s %8s\n", "layer", "kernel", "1T GMAC/s", "%ceil",
              "2T GMAC/s", "%ceil", "speedup");
  std::mt19937 rng(42);
  for (const Layer& l : layers) {
    kbnn::BConv2DParams p;
    p.input_height = l.h;
    p.input_width = l.w;
    p.channels_in = l.cin;
    p.channels_out = l.cout;
    p.filter_height = p.filter_width = l.k;
    p.padding = kbnn::Padding::kSame;
    p.pad_value = 1;
    p.output.type = kbnn::OutputType::kFloat32;
    p.kernel = choice;
    const size_t fw = static_cast<size_t>(l.cout) * l.k * l.k * kbnn::PackedWords(l.cin);
    std::vector<uint32_t> filters(fw), input(static_cast<size_t>(l.h) * l.w * kbnn::PackedWords(l.cin));
    for (auto& v : filters) v = rng();
    for (auto& v : input) v = rng();
    std::vector<float> mult(l.cout, 0.5f), bias(l.cout, 0.25f);
    const double macs = static_cast<double>(l.h) * l.w * l.cout * l.k * l.k * l.cin;
    // 1-thread and N-thread ops measured in alternation (rep by rep) so that both see the same
    // background load; medians after warm-up.
    std::unique_ptr<kbnn::BConv2D> ops[2];
    std::string kname;
    for (int t = 0; t < 2; ++t) {
      p.num_threads = t == 0 ? 1 : threads;
      kbnn::Status s = kbnn::BConv2D::Create(p, filters.data(), mult.data(), bias.data(), &ops[t]);
      if (!s.ok()) {
        std::fprintf(stderr, "create failed: %s\n", s.message().c_str());
        return 1;
      }
      kname = ops[t]->kernel_name();
    }
    std::vector<float> out(ops[0]->output_elements());
    kbnn::ThreadPool* pools[2] = {nullptr, &pool};
    for (int t = 0; t < 2; ++t)
      for (int i = 0; i < 3; ++i) ops[t]->Run(input.data(), out.data(), pools[t]);  // warm-up
    std::vector<double> samples[2];
    for (int r = 0; r < reps; ++r)
      for (int t = 0; t < 2; ++t)
        samples[t].push_back(TimeOnce(ops[t].get(), input, &out, pools[t], macs, min_time));
    const double rate[2] = {Median(samples[0]), Median(samples[1])};
    std::printf("%-20s %-24s %10.1f %6.1f%% %10.1f %6.1f%% %7.2fx\n", l.name, kname.c_str(),
                rate[0], 100.0 * rate[0] / ceiling, rate[1], 100.0 * rate[1] / (ceiling * threads),
                rate[1] / rate[0]);
  }
  std::printf("\n(2T %%ceil is relative to %d x the per-core ceiling)\n", threads);
  if (sink == 42) std::printf(" ");
  return 0;
}
