// Autocast with a chosen dtype. tch 0.24 exposes only `at::autocast::set_enabled` (CUDA, float16); caco needs bf16
// and the CPU device too, so these three functions call libtorch's per-device autocast API directly.
// Exceptions never cross into Rust: each function returns 0 on success, 1 on failure.
#include <ATen/autocast_mode.h>

static c10::DeviceType device_of(int cuda) { return cuda ? c10::DeviceType::CUDA : c10::DeviceType::CPU; }

extern "C" {

// Enables (or disables) autocast on CPU (`cuda` = 0) or CUDA with dtype bf16 (`bf16` = 1) or fp16; writes the
// previous state to `was_enabled` / `was_bf16` so the caller can restore it.
int caco_autocast_set(int cuda, int enabled, int bf16, int* was_enabled, int* was_bf16) {
  try {
    auto device = device_of(cuda);
    *was_enabled = at::autocast::is_autocast_enabled(device) ? 1 : 0;
    *was_bf16 = at::autocast::get_autocast_dtype(device) == at::kBFloat16 ? 1 : 0;
    at::autocast::set_autocast_dtype(device, bf16 ? at::kBFloat16 : at::kHalf);
    at::autocast::set_autocast_enabled(device, enabled != 0);
    return 0;
  } catch (...) {
    return 1;
  }
}

// Nesting depth bookkeeping of libtorch's autocast cache (as torch.autocast does on entry and exit).
int caco_autocast_enter() {
  try {
    at::autocast::increment_nesting();
    return 0;
  } catch (...) {
    return 1;
  }
}

int caco_autocast_exit() {
  try {
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    return 0;
  } catch (...) {
    return 1;
  }
}
}
