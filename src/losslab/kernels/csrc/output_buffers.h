// Output buffers of the fused CPU kernels: allocation and streaming writes.
//
// A kernel's gradient is as large as its input (512 MB for 4096 x 32768 float32 logits)
// and is written exactly once. On Linux a fresh buffer of that size is a new mmap, and the
// first write to each 4 KB page takes a page fault that zeroes it: filling a fresh 512 MB
// tensor took 0.21 s with 4 KB pages and 0.055 s with 2 MB transparent huge pages on the
// 2-core development VM. With LOSSLAB_HUGE_PAGES=1 large outputs are advised MADV_HUGEPAGE
// before their first write (PyTorch does the same for all its allocations with
// THP_MEM_ALLOC_ENABLE=1). It is off by default: on that VM a huge-page fault sometimes
// cost milliseconds of system time (freshly backed host memory, it seems), so a fused
// composite-Softmax call at 4096 x 32768 took 0.19-0.95 s with the advice against a steady
// 0.28 s without it.
#pragma once

#include <ATen/ATen.h>
#include <ATen/cpu/vec/vec.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
#include <immintrin.h>
#endif

namespace losslab_kernels {

inline bool huge_pages_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("LOSSLAB_HUGE_PAGES");
    return v && std::strcmp(v, "1") == 0;
  }();
  return enabled;
}

// Advise the 2 MB-aligned interior of t's storage (only buffers of at least 4 MB, where
// a whole huge page fits; smaller ones are usually recycled by malloc, already faulted).
inline void advise_huge_pages(const at::Tensor& t) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t(1) << 21;
  const uintptr_t bytes = uintptr_t(t.nbytes());
  if (!huge_pages_enabled() || bytes < 2 * kHuge || !t.device().is_cpu()) return;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(t.data_ptr());
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t last = (begin + bytes) & ~(kHuge - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // advice only: errors ignored
#else
  (void)t;
#endif
}

// A contiguous, uninitialised tensor shaped like `like`, for a kernel to write once.
inline at::Tensor empty_output(const at::Tensor& like) {
  at::Tensor t = at::empty(like.sizes(), like.options().memory_format(at::MemoryFormat::Contiguous));
  advise_huge_pages(t);
  return t;
}

// Store a full vector to p with a non-temporal (streaming) store where p is aligned to
// the vector width: an output written once and not read again by the kernel then goes
// straight to memory, without first reading its cache line (a third less traffic for
// a kernel that reads one input row and writes one gradient row). Call
// streaming_fence() before the written memory is handed to another thread.
template <typename scalar_t>
inline void stream_store(scalar_t* p, const at::vec::Vectorized<scalar_t>& v) {
  constexpr uintptr_t kBytes = sizeof(at::vec::Vectorized<scalar_t>);
  if (reinterpret_cast<uintptr_t>(p) % kBytes != 0) {
    v.store(p);
    return;
  }
#if defined(CPU_CAPABILITY_AVX512)
  if constexpr (std::is_same_v<scalar_t, float> && kBytes == 64) {
    _mm512_stream_ps(p, v);
    return;
  } else if constexpr (std::is_same_v<scalar_t, double> && kBytes == 64) {
    _mm512_stream_pd(p, v);
    return;
  }
#elif defined(CPU_CAPABILITY_AVX2)
  if constexpr (std::is_same_v<scalar_t, float> && kBytes == 32) {
    _mm256_stream_ps(p, v);
    return;
  } else if constexpr (std::is_same_v<scalar_t, double> && kBytes == 32) {
    _mm256_stream_pd(p, v);
    return;
  }
#endif
  v.store(p);
}

inline void streaming_fence() {
#if defined(CPU_CAPABILITY_AVX512) || defined(CPU_CAPABILITY_AVX2)
  _mm_sfence();
#endif
}

}  // namespace losslab_kernels
