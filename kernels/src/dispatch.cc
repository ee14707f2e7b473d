// CPU detection -> one table of ISAs and their microkernels. Best ISA first.
#include "kbnn/dispatch.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "ukernels/ukernels.h"

#if defined(__linux__) && (defined(__arm__) || defined(__aarch64__))
#include <sys/auxv.h>
#endif
#if defined(KBNN_HAVE_X86_AVX512)
#include <cpuid.h>
#endif

namespace kbnn {
namespace {

bool AlwaysAvailable() { return true; }

#if defined(KBNN_HAVE_X86_AVX2)
bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
}
#endif

#if defined(KBNN_HAVE_X86_AVX512)
// AVX-512 F/VL/BW/VPOPCNTDQ in the CPU, and the OS saves the opmask and zmm state (XCR0 bits
// 1, 2, 5, 6, 7; read with XGETBV, which needs CPUID.1:ECX.OSXSAVE).
bool HasAvx512Vpopcnt() {
  __builtin_cpu_init();
  if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vpopcntdq") &&
        __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt"))) {
    return false;
  }
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || (ecx & (1u << 27)) == 0) return false;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  constexpr unsigned kZmmState = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6) | (1u << 7);
  return (lo & kZmmState) == kZmmState;
}
#endif

#if defined(KBNN_HAVE_NEON_ARMV7)
bool HasNeonArmv7() {
#if defined(__ARM_NEON)
  return true;
#elif defined(__linux__) && defined(__arm__)
  return (getauxval(AT_HWCAP) & (1ul << 12)) != 0;  // HWCAP_NEON
#else
  return false;
#endif
}
#endif

// The ISAs' rows, each a function that sets IsaConfig's fields by name (a field left out keeps
// its default: nullptr microkernel = the portable one).

// A binary GEMM microkernel's description (BgemmUkernel's first fields, in their order).
constexpr BgemmUkernel Bgemm(const char* name, BgemmUkernelFn fn, int mr, int nr, const char* isa) {
  return BgemmUkernel{name, fn, mr, nr, isa};
}

// A row with one binary GEMM microkernel for every k and no other microkernels.
constexpr IsaConfig Isa(const char* isa, bool (*available)(), BgemmUkernel bgemm) {
  IsaConfig c;
  c.isa = isa;
  c.available = available;
  c.bgemm = bgemm;
  c.bgemm_small_k = bgemm;
  return c;
}

constexpr StemGemmUkernel StemGemm(const char* name, StemGemmUkernelFn fn, int mr, int nr, int kr,
                                   const char* isa) {
  StemGemmUkernel u;
  u.name = name;
  u.fn = fn;
  u.mr = mr;
  u.nr = nr;
  u.kr = kr;
  u.isa = isa;
  return u;
}
constexpr StemGemmUkernel kStemGemmScalar =
    StemGemm("qs8_gemm_2x8__scalar", kbnn_qs8_gemm_2x8__scalar, 2, 8, 1, "scalar");

#if defined(KBNN_HAVE_NEON_AARCH64) && defined(KBNN_HAVE_AARCH64_DOTPROD)
// SDOT (ARMv8.2 dotprod, optional): the kernel's CPU check is the OS's HWCAP_ASIMDDP bit.
bool HasDotProd() {
#if defined(__linux__)
  return (getauxval(AT_HWCAP) & (1ul << 20)) != 0;  // HWCAP_ASIMDDP
#else
  return false;
#endif
}
constexpr StemGemmUkernel StemGemmNeonDot() {
  StemGemmUkernel u = StemGemm("qs8_gemm_4x8c4__aarch64_neondot", nullptr, 4, 8, 4, "neon");
  u.fn_i8 = kbnn_qs8_gemm_4x8c4__aarch64_neondot;
  return u;
}
constexpr StemGemmUkernel kStemGemmNeonDot = StemGemmNeonDot();
#endif

#if defined(KBNN_HAVE_NEON_AARCH64)
// Register-accumulator bgemms: 6x4 on row-major panels (128-bit steps) from k_words 32 on; 12x8
// on k-major panels (32-bit steps, no k tail) up to 31 words, where the 6x4's partial last step
// costs more (instruction counts under QEMU: benchmarks/README.md).
constexpr IsaConfig NeonAarch64Config() {
  IsaConfig c =
      Isa("neon", AlwaysAvailable,
          Bgemm("b32_bgemm_6x4__aarch64_neon", kbnn_b32_bgemm_6x4__aarch64_neon, 6, 4, "neon"));
  c.bgemm_small_k =
      Bgemm("b32_bgemm_12x8__aarch64_neon", kbnn_b32_bgemm_12x8__aarch64_neon, 12, 8, "neon");
  c.bgemm_small_k.k_major_panel = true;
  c.small_k_max_words = 31;
  c.bitpack_f32 = kbnn_f32_bitpack__aarch64_neon;
  c.bitpack_f32_threshold = kbnn_f32_bitpack_threshold__aarch64_neon;
  c.output_f32 = kbnn_output_f32__aarch64_neon;
  c.output_int8 = kbnn_output_int8__aarch64_neon;
  c.output_bits = kbnn_output_bits__aarch64_neon;
  c.output_f32_residual = kbnn_output_f32_residual__aarch64_neon;
  c.stem_gemm =
      StemGemm("qs8_gemm_4x8__aarch64_neon", kbnn_qs8_gemm_4x8__aarch64_neon, 4, 8, 1, "neon");
  return c;
}
#endif

#if defined(KBNN_HAVE_NEON_ARMV7)
// Output transforms: only the integer (bitpacked) one; ARMv7 NEON float arithmetic flushes
// subnormals to zero, so the float / int8 / fused ones stay portable (output-bits-armv7-neon.cc).
constexpr IsaConfig NeonArmv7Config() {
  IsaConfig c =
      Isa("neon", HasNeonArmv7,
          Bgemm("b32_bgemm_4x4__armv7_neon", kbnn_b32_bgemm_4x4__armv7_neon, 4, 4, "neon"));
  c.bitpack_f32 = kbnn_f32_bitpack__armv7_neon;
  c.bitpack_f32_threshold = kbnn_f32_bitpack_threshold__armv7_neon;
  c.output_bits = kbnn_output_bits__armv7_neon;
  return c;
}
#endif

#if defined(KBNN_HAVE_X86_AVX512)
// 8x32 broadcast kernel on k-major weight panels for every k (no reduction, no k tail).
constexpr IsaConfig Avx512Config() {
  BgemmUkernel gemm =
      Bgemm("b32_bgemm_8x32__avx512vpopcnt", kbnn_b32_bgemm_8x32__avx512vpopcnt, 8, 32, "avx512");
  gemm.k_major_panel = true;
  gemm.fn_segmented = kbnn_b32_bgemm_8x32__avx512vpopcnt_seg;
  IsaConfig c = Isa("avx512", HasAvx512Vpopcnt, gemm);
  c.bitpack_f32 = kbnn_f32_bitpack__avx512;
  c.bitpack_f32_threshold = kbnn_f32_bitpack_threshold__avx512;
  c.output_f32 = kbnn_output_f32__avx512;
  c.output_int8 = kbnn_output_int8__avx512;
  c.output_bits = kbnn_output_bits__avx512;
  c.output_f32_residual = kbnn_output_f32_residual__avx512;
  c.stem_gemm = StemGemm("qs8_gemm_4x16c2__avx2", kbnn_qs8_gemm_4x16c2__avx2, 4, 16, 2, "avx2");
  return c;
}
#endif

#if defined(KBNN_HAVE_X86_AVX2)
// 4x8 pair-streaming AVX2 everywhere except k_words == 1 (<= 32 channels of a 1x1 layer), where
// scalar POPCNT is faster (measured with kbnn_bench --ukernels).
constexpr IsaConfig Avx2Config() {
  IsaConfig c =
      Isa("avx2", HasAvx2, Bgemm("b32_bgemm_4x8__avx2", kbnn_b32_bgemm_4x8__avx2, 4, 8, "avx2"));
  c.bgemm_small_k = Bgemm("b32_bgemm_2x4__popcnt", kbnn_b32_bgemm_2x4__popcnt, 2, 4, "popcnt");
  c.small_k_max_words = 1;
  c.bitpack_f32 = kbnn_f32_bitpack__avx2;
  c.bitpack_f32_threshold = kbnn_f32_bitpack_threshold__avx2;
  c.stem_gemm = StemGemm("qs8_gemm_4x16c2__avx2", kbnn_qs8_gemm_4x16c2__avx2, 4, 16, 2, "avx2");
  return c;
}
#endif

constexpr IsaConfig ScalarConfig() {
  IsaConfig c = Isa("scalar", AlwaysAvailable,
                    Bgemm("b32_bgemm_2x4__scalar", kbnn_b32_bgemm_2x4__scalar, 2, 4, "scalar"));
  c.bitpack_f32 = kbnn_f32_bitpack__scalar;
  c.bitpack_f32_threshold = kbnn_f32_bitpack_threshold__scalar;
  return c;
}

constexpr IsaConfig kIsaTable[] = {
#if defined(KBNN_HAVE_NEON_AARCH64)
    NeonAarch64Config(),
#endif
#if defined(KBNN_HAVE_NEON_ARMV7)
    NeonArmv7Config(),
#endif
#if defined(KBNN_HAVE_X86_AVX512)
    Avx512Config(),
#endif
#if defined(KBNN_HAVE_X86_AVX2)
    Avx2Config(),
#endif
    ScalarConfig(),
};

constexpr char kReferenceName[] = "reference";

// Forced ISA: nullptr = none, &kForceReference = reference, else a table row.
constexpr IsaConfig kForceReference = Isa(kReferenceName, AlwaysAvailable, BgemmUkernel());
std::atomic<const IsaConfig*> g_forced{nullptr};

const IsaConfig* FindAvailable(const char* isa) {
  for (const IsaConfig& c : kIsaTable) {
    if (std::strcmp(c.isa, isa) == 0 && c.available()) return &c;
  }
  return nullptr;
}

bool KnownName(const char* isa) {
  return std::strcmp(isa, "scalar") == 0 || std::strcmp(isa, "avx2") == 0 ||
         std::strcmp(isa, "avx512") == 0 || std::strcmp(isa, "neon") == 0;
}

const IsaConfig* Best() {
  for (const IsaConfig& c : kIsaTable) {
    if (c.available()) return &c;
  }
  return &kIsaTable[sizeof(kIsaTable) / sizeof(kIsaTable[0]) - 1];
}

// Resolves a name; *config = nullptr for "reference".
Status ResolveName(const char* isa, const char* origin, const IsaConfig** config) {
  if (std::strcmp(isa, kReferenceName) == 0) {
    *config = nullptr;
    return Status::Ok();
  }
  if (std::strcmp(isa, "auto") == 0 || isa[0] == '\0') {
    *config = Best();
    return Status::Ok();
  }
  const IsaConfig* c = FindAvailable(isa);
  if (c == nullptr) {
    std::string msg = std::string(origin) + ": ISA '" + isa + "' is ";
    msg += KnownName(isa) ? "not available on this CPU/build" : "unknown";
    msg += " (available: reference";
    for (const std::string& s : AvailableIsas()) msg += ", " + s;
    msg += ")";
    return Status::Unavailable(msg);
  }
  *config = c;
  return Status::Ok();
}

}  // namespace

std::vector<std::string> AvailableIsas() {
  std::vector<std::string> out;
  for (const IsaConfig& c : kIsaTable) {
    if (c.available()) out.emplace_back(c.isa);
  }
  return out;
}

std::vector<BgemmUkernel> AvailableBgemmUkernels() {
  std::vector<BgemmUkernel> out;
  auto add = [&](const BgemmUkernel& u) {
    for (const BgemmUkernel& e : out) {
      if (e.fn == u.fn) return;
    }
    out.push_back(u);
  };
  for (const IsaConfig& c : kIsaTable) {
    if (!c.available()) continue;
    add(c.bgemm);
    add(c.bgemm_small_k);
  }
  return out;
}

std::vector<StemGemmUkernel> AvailableStemGemmUkernels() {
  std::vector<StemGemmUkernel> out{kStemGemmScalar};
  for (const IsaConfig& c : kIsaTable) {
    if (!c.available() || c.stem_gemm.fn == nullptr) continue;
    bool seen = false;
    for (const StemGemmUkernel& e : out) seen = seen || e.fn == c.stem_gemm.fn;
    if (!seen) out.push_back(c.stem_gemm);
  }
#if defined(KBNN_HAVE_NEON_AARCH64) && defined(KBNN_HAVE_AARCH64_DOTPROD)
  if (HasDotProd()) out.push_back(kStemGemmNeonDot);
#endif
  return out;
}

const StemGemmUkernel* StemGemmOf(const IsaConfig* config) {
  if (config == nullptr) return nullptr;
#if defined(KBNN_HAVE_NEON_AARCH64) && defined(KBNN_HAVE_AARCH64_DOTPROD)
  // The NEON row's SDOT upgrade, where the CPU has it (the SMLAL kernel stays the baseline).
  if (std::strcmp(config->isa, "neon") == 0 && HasDotProd()) return &kStemGemmNeonDot;
#endif
  return config->stem_gemm.fn != nullptr ? &config->stem_gemm : &kStemGemmScalar;
}

Status SetForcedIsa(const char* isa) {
  if (isa == nullptr || isa[0] == '\0' || std::strcmp(isa, "auto") == 0) {
    g_forced.store(nullptr);
    return Status::Ok();
  }
  const IsaConfig* c = nullptr;
  Status s = ResolveName(isa, "SetForcedIsa", &c);
  if (!s.ok()) return s;
  g_forced.store(c == nullptr ? &kForceReference : c);
  return Status::Ok();
}

Status ResolveKernel(KernelChoice choice, const IsaConfig** config) {
  switch (choice) {
    case KernelChoice::kReference: *config = nullptr; return Status::Ok();
    case KernelChoice::kScalar: return ResolveName("scalar", "KernelChoice", config);
    case KernelChoice::kAvx2: return ResolveName("avx2", "KernelChoice", config);
    case KernelChoice::kNeon: return ResolveName("neon", "KernelChoice", config);
    case KernelChoice::kAvx512: return ResolveName("avx512", "KernelChoice", config);
    case KernelChoice::kAuto: break;
    default: return Status::InvalidArgument("unknown KernelChoice enum value");
  }
  const IsaConfig* forced = g_forced.load();
  if (forced != nullptr) {
    *config = forced == &kForceReference ? nullptr : forced;
    return Status::Ok();
  }
  const char* env = std::getenv("KBNN_KERNEL");
  if (env != nullptr) return ResolveName(env, "KBNN_KERNEL", config);
  *config = Best();
  return Status::Ok();
}

const char* SelectedIsa() {
  const IsaConfig* c = nullptr;
  if (!ResolveKernel(KernelChoice::kAuto, &c).ok()) c = Best();
  return c == nullptr ? kReferenceName : c->isa;
}

}  // namespace kbnn
