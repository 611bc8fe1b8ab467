// Process-wide allocator settings for batch inference and training.
//
//   int main() { strata::KeepBatchBuffersInHeap(); ... }
//
// glibc serves allocations above a (dynamic) threshold with mmap and returns
// them to the kernel on free, so every multi-megabyte batch buffer is
// page-faulted in again on the next call: at 4096 MNIST rows that made Encode
// run at 0.28 of the GEMM ceiling instead of 0.9 (bench/README.md). This
// raises the mmap threshold to its maximum (32 MiB) and lets the heap keep up
// to 128 MiB of freed memory before trimming, and caps malloc arenas at one
// per core (at least 2). Call once, at the start of main,
// before threads start. No-op on other C libraries.
#ifndef STRATA_CORE_NN_ALLOCATOR_H_
#define STRATA_CORE_NN_ALLOCATOR_H_

namespace strata {

void KeepBatchBuffersInHeap();

// Returns freed heap pages to the kernel, including those between live
// blocks (which trimming the heap's top cannot reach). For after one-off
// large work, such as loading models. Thread-safe; no-op on other C libraries.
void ReleaseFreeMemory();

}  // namespace strata

#endif  // STRATA_CORE_NN_ALLOCATOR_H_
