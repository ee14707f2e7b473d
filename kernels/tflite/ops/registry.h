#pragma once
// The ops the delegate implements: custom op name -> the function that creates its OpKernel
// (ops/op_kernel.h). kbnn's ops (KbnnQuantize, KbnnDequantize, KbnnBconv2d, KbnnBconv2dResidual,
// KbnnBFullyConnected, KbnnBMaxPool2d, KbnnStemConv2d; options: options.h) and Larq Compute
// Engine's (LceQuantize, LceDequantize, LceBconv2d, LceBMaxPool2d; options: lce_options.h), one
// file each in this folder.
#include <cstddef>
#include <memory>

#include "kbnn/status.h"
#include "lce_options.h"
#include "op_kernel.h"
#include "options.h"

namespace kbnn {
namespace delegate {

// True for the names the delegate tries to claim: kbnn's ("Kbnn...") and LCE's ("Lce...").
bool IsClaimableOpName(const char* custom_name);
// True for a name the registry implements, or one of LCE's (whose unknown ops and versions
// ParseLceOptions names in its error).
bool IsKnownOpName(const char* custom_name);

// Parses the options of custom op `custom_name` (registration `version`; `data` may be unaligned
// and untrusted) and, when `out` is not nullptr, creates its kernel. The Status names what is
// wrong with the options.
Status CreateOpKernel(const char* custom_name, int version, const void* data, size_t size,
                      std::unique_ptr<OpKernel>* out);

// The per-op files' factories (options already parsed and range-checked).
std::unique_ptr<OpKernel> CreateKbnnQuantize(const OpOptions& o);
std::unique_ptr<OpKernel> CreateKbnnDequantize(const OpOptions& o);
std::unique_ptr<OpKernel> CreateKbnnBconv2d(const OpOptions& o);  // and KbnnBconv2dResidual
std::unique_ptr<OpKernel> CreateKbnnBFullyConnected(const OpOptions& o);
std::unique_ptr<OpKernel> CreateKbnnBMaxPool2d(const OpOptions& o);
std::unique_ptr<OpKernel> CreateKbnnStemConv2d(const OpOptions& o);
std::unique_ptr<OpKernel> CreateLceQuantize(const lce::LceOptions& o);
std::unique_ptr<OpKernel> CreateLceDequantize(const lce::LceOptions& o);
std::unique_ptr<OpKernel> CreateLceBconv2d(const lce::LceOptions& o);
std::unique_ptr<OpKernel> CreateLceBMaxPool2d(const lce::LceOptions& o);

}  // namespace delegate
}  // namespace kbnn
