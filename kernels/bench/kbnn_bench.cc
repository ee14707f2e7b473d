// kbnn_bench: popcount ceiling and bconv2d throughput (G binary-MAC/s) at 1 and 2 threads.
//
//   kbnn_bench [--threads=2] [--min_time=0.3] [--reps=7]
//              [--kernel=auto|scalar|avx2|avx512|neon|reference] [--ukernels]
//              [--output=float|bitpacked|int8] [--layer=I]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
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

// CPU time of the whole process (all threads), in seconds. Time while other processes hold
// the core does not count, so MACs per CPU-second stay meaningful on a loaded machine where
// wall-clock G/s do not (hardware cycle counters are often missing in VMs).
double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

struct Rate {
  double per_second = 0;  // G binary-MAC/s (wall clock)
  double per_cpu = 0;     // G binary-MAC per CPU-second (summed over all threads)
};

struct Layer {
  const char* name;
  int h, w, cin, cout, k;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Rates of one timed batch of >= min_time seconds.
Rate TimeOnce(kbnn::BConv2D* op, const std::vector<uint32_t>& in, std::vector<uint8_t>* out,
              kbnn::ThreadPool* pool, double macs, double min_time) {
  int iters = 0;
  const double c0 = CpuSeconds();  // a system call: only around the batch, not per run
  const auto t0 = std::chrono::steady_clock::now();
  double el = 0;
  do {
    op->Run(in.data(), out->data(), pool);
    ++iters;
    el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (el < min_time);
  const double cpu = CpuSeconds() - c0;
  Rate r;
  r.per_second = macs * iters / el / 1e9;
  r.per_cpu = macs * iters / cpu / 1e9;
  return r;
}

// Medians of `reps` samples of a ceiling loop.
template <class F>
Rate MedianCeiling(F f, int reps, uint64_t* sink) {
  std::vector<double> s, c;
  for (int r = 0; r < reps; ++r) {
    const double c0 = CpuSeconds();
    const auto t0 = std::chrono::steady_clock::now();
    const double g = f(0.1, sink);
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    s.push_back(g);
    c.push_back(g * el / (CpuSeconds() - c0));
  }
  return {Median(s), Median(c)};
}

void PrintCeiling(const char* name, Rate r) {
  std::printf("  %-34s %8.1f G binary-MAC/s (wall) %8.1f per CPU-second\n", name, r.per_second,
              r.per_cpu);
}

}  // namespace

// Microkernel throughput on L1-resident data: G binary-MAC/s for a 64-row x 64-col block.
void BenchUkernels(double min_time) {
  std::printf(
      "microkernels (64 rows x 64 weight rows, L1/L2 resident), G binary-MAC per "
      "CPU-second:\n");
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
            uk.fn(std::min<size_t>(uk.mr, M - m), std::min<size_t>(uk.nr, N - n), k,
                  rows.data() + m, b.data() + n * k, c.data() + m * N + n, N);
      };
      run();
      std::vector<double> rates;
      for (int r = 0; r < 5; ++r) {
        int iters = 0;
        const double c0 = CpuSeconds();
        double el = 0;
        do {  // batches of 50 runs: CpuSeconds() is a system call, as slow as a short run
          for (int i = 0; i < 50; ++i) run();
          iters += 50;
          el = CpuSeconds() - c0;
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
  kbnn::OutputType output = kbnn::OutputType::kFloat32;
  int only_layer = -1;  // --layer=I: only the I-th layer of the table (0-based)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--ukernels") ukernels = true;
    else if (a.rfind("--threads=", 0) == 0) threads = std::atoi(a.c_str() + 10);
    else if (a.rfind("--reps=", 0) == 0) reps = std::atoi(a.c_str() + 7);
    else if (a.rfind("--min_time=", 0) == 0) min_time = std::atof(a.c_str() + 11);
    else if (a.rfind("--layer=", 0) == 0) only_layer = std::atoi(a.c_str() + 8);
    else if (a == "--output=float") output = kbnn::OutputType::kFloat32;
    else if (a == "--output=bitpacked") output = kbnn::OutputType::kBitpacked;
    else if (a == "--output=int8") output = kbnn::OutputType::kInt8;
    else if (a.rfind("--kernel=", 0) == 0) {
      const std::string k = a.substr(9);
      choice = k == "reference" ? kbnn::KernelChoice::kReference
               : k == "scalar"  ? kbnn::KernelChoice::kScalar
               : k == "avx2"    ? kbnn::KernelChoice::kAvx2
               : k == "avx512"  ? kbnn::KernelChoice::kAvx512
               : k == "neon"    ? kbnn::KernelChoice::kNeon
                                : kbnn::KernelChoice::kAuto;
      if (choice == kbnn::KernelChoice::kAuto && k != "auto") {
        std::fprintf(stderr,
                     "kbnn_bench: unknown --kernel=%s (auto, reference, scalar, avx2, "
                     "avx512, neon)\n",
                     k.c_str());
        return 2;
      }
    } else {
      std::fprintf(
          stderr,
          "usage: kbnn_bench [--ukernels] [--threads=N] [--reps=R] [--min_time=S] [--kernel=ISA]"
          " [--output=float|bitpacked|int8] [--layer=I]\n");
      return 2;
    }
  }
  if (threads < 1) threads = 1;

  uint64_t sink = 0;
  std::printf("popcount ceiling (XOR+popcount over L1-resident data, 1 core):\n");
  Rate ceiling = MedianCeiling(kbnn_bench::CeilingPortable, 5, &sink);
  PrintCeiling("portable __builtin_popcountll", ceiling);
  auto best = [&](Rate r) {
    ceiling.per_second = std::max(ceiling.per_second, r.per_second);
    ceiling.per_cpu = std::max(ceiling.per_cpu, r.per_cpu);
  };
#if defined(KBNN_BENCH_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) {
    const Rate p = MedianCeiling(kbnn_bench::CeilingPopcnt, 5, &sink);
    PrintCeiling("x86 POPCNT 64-bit", p);
    const Rate v = MedianCeiling(kbnn_bench::CeilingAvx2, 5, &sink);
    PrintCeiling("AVX2 PSHUFB nibble LUT", v);
    best(p);
    best(v);
  }
#endif
#if defined(KBNN_BENCH_AVX512)
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq")) {
    const Rate z = MedianCeiling(kbnn_bench::CeilingAvx512, 5, &sink);
    PrintCeiling("AVX-512 VPOPCNTQ 4x4 tile", z);
    best(z);
  }
#endif
  PrintCeiling("ceiling = best of the above", ceiling);
  std::printf("\n");
  if (ukernels) BenchUkernels(0.05);

  const Layer layers[] = {
      {"3x3 56x56x64", 56, 56, 64, 64, 3},         {"3x3 28x28x128", 28, 28, 128, 128, 3},
      {"3x3 14x14x256", 14, 14, 256, 256, 3},      {"3x3 7x7x512", 7, 7, 512, 512, 3},
      {"1x1 28x28x256->256", 28, 28, 256, 256, 1},
  };
  kbnn::ThreadPool pool(threads);
  std::printf(
      "bconv2d, bitpacked in -> %s out, stride 1, SAME (pad +1), batch 1; %%ceil = of the "
      "best ceiling above, wall clock (G/s) and per CPU-second\n",
      kbnn::ToString(output));
  std::printf("%-20s %-30s %9s %6s %8s %6s | %9s %6s %6s %7s\n", "layer", "kernel", "1T GMAC/s",
              "%ceil", "G/cpu-s", "%ceil", "2T GMAC/s", "%ceil", "%ceil", "speedup");
  std::mt19937 rng(42);
  for (const Layer& l : layers) {
    if (only_layer >= 0 && &l - layers != only_layer) continue;
    kbnn::BConv2DParams p;
    p.input_height = l.h;
    p.input_width = l.w;
    p.channels_in = l.cin;
    p.channels_out = l.cout;
    p.filter_height = p.filter_width = l.k;
    p.padding = kbnn::Padding::kSame;
    p.pad_value = 1;
    p.output.type = output;
    p.output.int8_scale = 0.5f;
    p.kernel = choice;
    const size_t fw = static_cast<size_t>(l.cout) * l.k * l.k * kbnn::PackedWords(l.cin);
    std::vector<uint32_t> filters(fw),
        input(static_cast<size_t>(l.h) * l.w * kbnn::PackedWords(l.cin));
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
    std::vector<uint8_t> out(ops[0]->output_bytes());
    kbnn::ThreadPool* pools[2] = {nullptr, &pool};
    for (int t = 0; t < 2; ++t)
      for (int i = 0; i < 3; ++i) ops[t]->Run(input.data(), out.data(), pools[t]);  // warm-up
    std::vector<double> wall[2], cpu[2];
    for (int r = 0; r < reps; ++r) {
      for (int t = 0; t < 2; ++t) {
        const Rate x = TimeOnce(ops[t].get(), input, &out, pools[t], macs, min_time);
        wall[t].push_back(x.per_second);
        cpu[t].push_back(x.per_cpu);
      }
    }
    const double rate[2] = {Median(wall[0]), Median(wall[1])};
    const double per_cpu[2] = {Median(cpu[0]), Median(cpu[1])};
    auto pct = [](double x, double c) { return c > 0 ? 100.0 * x / c : 0.0; };
    std::printf("%-20s %-30s %9.1f %5.1f%% %8.1f %5.1f%% | %9.1f %5.1f%% %5.1f%% %6.2fx\n", l.name,
                kname.c_str(), rate[0], pct(rate[0], ceiling.per_second), per_cpu[0],
                pct(per_cpu[0], ceiling.per_cpu), rate[1],
                pct(rate[1], ceiling.per_second * threads), pct(per_cpu[1], ceiling.per_cpu),
                rate[1] / rate[0]);
  }
  std::printf(
      "\n(2T: %%ceil of %d x the per-core ceiling (wall), and MACs per CPU-second summed "
      "over all threads (spinning counts) vs the per-core ceiling)\n",
      threads);
  if (sink == 42) std::printf(" ");
  return 0;
}
