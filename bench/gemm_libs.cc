// The GEMM libraries a training or serving step could call, timed on the
// network's own products in one run (issue 35: measure before choosing).
//
// The products are those of bench/train_vs_torch's MNIST autoencoder,
// 784-1000-500-250-30, at batch B, for each encoder layer (in -> out):
//   forward   y  = x (B x in) * W (in x out)
//   grad W    dW = x^T (in x B) * d (B x out)
//   grad x    dx = d (B x out) * W^T (out x in)
// summed over the four layers, for B in 1, 16, 128, 256, 4096, on 1 and 2
// threads. Contenders: strata's fixed-order kernel (what every product runs
// today), Eigen's GEMM, and, each through its own row-major SGEMM entry
// point, OpenBLAS, BLIS and oneDNN when their Debian libraries are present
// (loaded with dlopen, so that their identically named cblas symbols do not
// collide; a missing library is reported and skipped).
//
// Prints one table, every figure in GFLOP/s and as a fraction of the FMA peak
// measured in the same run, and ends with
//   RESULT fixed_b128_t2=... eigen_b128_t2=... openblas_b128_t2=... ... peak_gflops=...
#include <dlfcn.h>
#include <omp.h>

#include <cstdio>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "bench/machine.h"
#include "core/nn/fixed_order_gemm.h"
#include "core/nn/gemm.h"
#include "core/nn/matrix.h"

namespace {

using strata::Matrix;
using Index = Eigen::Index;

// Row-major C (m x n) = op(A) op(B), the shared shape of every library's call.
struct Product {
  bool trans_a = false, trans_b = false;
  Index m = 0, n = 0, k = 0;
  const float* a = nullptr;
  Index lda = 0;
  const float* b = nullptr;
  Index ldb = 0;
  float* c = nullptr;
  Index ldc = 0;
};

struct Library {
  std::string name;
  std::function<void(int threads)> set_threads;
  std::function<void(const Product&)> run;
};

enum CblasOrder { kRowMajor = 101 };
enum CblasTranspose { kNoTrans = 111, kTrans = 112 };
using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*,
                            int, float, float*, int);
using DnnlSgemm = int (*)(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);

void* Open(const std::vector<const char*>& paths) {
  for (const char* p : paths) {
    if (void* h = dlopen(p, RTLD_NOW | RTLD_LOCAL)) return h;
  }
  return nullptr;
}

std::vector<Library> Libraries() {
  std::vector<Library> libs;
  libs.push_back({"fixed", [](int t) { omp_set_num_threads(t); },
                  [](const Product& p) {
                    // Element (i, j) of op(A) at a[i * row_stride + j * col_stride].
                    const strata::StridedMatrix<float> a =
                        p.trans_a ? strata::StridedMatrix<float>{p.a, p.m, p.k, 1, p.lda}
                                  : strata::StridedMatrix<float>{p.a, p.m, p.k, p.lda, 1};
                    strata::StridedMatrix<float> b =
                        p.trans_b ? strata::StridedMatrix<float>{p.b, p.k, p.n, 1, p.ldb}
                                  : strata::StridedMatrix<float>{p.b, p.k, p.n, p.ldb, 1};
                    const Index extent_threads = strata::SplitThreads(p.m, p.k, p.n, p.n);
                    strata::FixedOrderProduct<float>(a, b, p.c, p.ldc, false,
                                                     strata::SplitFor(p.m, p.n),
                                                     static_cast<int>(extent_threads));
                  }});
  libs.push_back({"eigen", [](int t) { Eigen::setNbThreads(t); },
                  [](const Product& p) {
                    using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic,
                                                   Eigen::RowMajor>;
                    using Stride = Eigen::OuterStride<>;
                    Eigen::Map<RowMajor, 0, Stride> c(p.c, p.m, p.n, Stride(p.ldc));
                    Eigen::Map<const RowMajor, 0, Stride> a(p.a, p.trans_a ? p.k : p.m,
                                                            p.trans_a ? p.m : p.k, Stride(p.lda));
                    Eigen::Map<const RowMajor, 0, Stride> b(p.b, p.trans_b ? p.n : p.k,
                                                            p.trans_b ? p.k : p.n, Stride(p.ldb));
                    if (p.trans_a) {
                      c.noalias() = a.transpose() * b;
                    } else if (p.trans_b) {
                      c.noalias() = a * b.transpose();
                    } else {
                      c.noalias() = a * b;
                    }
                  }});
  const auto cblas = [&](const char* name, const std::vector<const char*>& paths,
                         const char* set_threads_symbol) {
    void* h = Open(paths);
    if (h == nullptr) {
      std::printf("%s: not found (%s), skipped\n", name, dlerror());
      return;
    }
    auto sgemm = reinterpret_cast<CblasSgemm>(dlsym(h, "cblas_sgemm"));
    auto set = reinterpret_cast<void (*)(int)>(dlsym(h, set_threads_symbol));
    if (sgemm == nullptr || set == nullptr) {
      std::printf("%s: no cblas_sgemm or %s, skipped\n", name, set_threads_symbol);
      return;
    }
    libs.push_back({name, [set](int t) { set(t); },
                    [sgemm](const Product& p) {
                      sgemm(kRowMajor, p.trans_a ? kTrans : kNoTrans, p.trans_b ? kTrans : kNoTrans,
                            static_cast<int>(p.m), static_cast<int>(p.n), static_cast<int>(p.k),
                            1.0f, p.a, static_cast<int>(p.lda), p.b, static_cast<int>(p.ldb), 0.0f,
                            p.c, static_cast<int>(p.ldc));
                    }});
  };
  cblas("openblas",
        {"/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0", "libopenblas.so.0"},
        "openblas_set_num_threads");
  cblas("blis", {"/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", "libblis.so.4"},
        "bli_thread_set_num_threads");
  if (void* h = Open({"libdnnl.so.2"})) {
    auto sgemm = reinterpret_cast<DnnlSgemm>(dlsym(h, "dnnl_sgemm"));
    if (sgemm != nullptr) {
      // Debian's oneDNN runs on OpenMP threads.
      libs.push_back({"onednn", [](int t) { omp_set_num_threads(t); },
                      [sgemm](const Product& p) {
                        sgemm(p.trans_a ? 'T' : 'N', p.trans_b ? 'T' : 'N', p.m, p.n, p.k, 1.0f,
                              p.a, p.lda, p.b, p.ldb, 0.0f, p.c, p.ldc);
                      }});
    }
  } else {
    std::printf("onednn: libdnnl.so.2 not found, skipped\n");
  }
  return libs;
}

Matrix Random(Index rows, Index cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Matrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
  return m;
}

}  // namespace

int main() {
  const strata::bench::Machine machine = strata::bench::MeasureMachine();
  std::printf("%s\n", machine.Describe().c_str());
  const std::vector<int> widths = {784, 1000, 500, 250, 30};
  std::vector<Matrix> weights;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    weights.push_back(Random(widths[l], widths[l + 1], 100 + l));
  }
  std::vector<Library> libs = Libraries();
  std::map<std::string, double> result;
  std::printf("%-6s %-7s %-3s", "batch", "product", "thr");
  for (const Library& lib : libs) std::printf(" %16s", lib.name.c_str());
  std::printf("   (GFLOP/s, fraction of the %d-thread FMA peak)\n", machine.threads);
  for (int batch : {1, 16, 128, 256, 4096}) {
    std::vector<Matrix> x, d, y, dw, dx;
    for (size_t l = 0; l + 1 < widths.size(); ++l) {
      x.push_back(Random(batch, widths[l], 10 + l));
      d.push_back(Random(batch, widths[l + 1], 20 + l));
      y.emplace_back(batch, widths[l + 1]);
      dw.emplace_back(widths[l], widths[l + 1]);
      dx.emplace_back(batch, widths[l]);
    }
    for (const char* kind : {"forward", "grad_w", "grad_x"}) {
      const std::string k = kind;
      std::vector<Product> products;
      double flops = 0;
      for (size_t l = 0; l + 1 < widths.size(); ++l) {
        const Index in = widths[l], out = widths[l + 1];
        Product p;
        if (k == "forward") {
          p = {false, false, batch, out, in, x[l].data(), in, weights[l].data(), out,
               y[l].data(), out};
        } else if (k == "grad_w") {
          p = {true, false, in, out, batch, x[l].data(), in, d[l].data(), out, dw[l].data(), out};
        } else {
          p = {false, true, batch, in, out, d[l].data(), out, weights[l].data(), out,
               dx[l].data(), in};
        }
        products.push_back(p);
        flops += 2.0 * static_cast<double>(p.m) * p.n * p.k;
      }
      for (int threads : {1, 2}) {
        std::printf("%-6d %-7s %-3d", batch, kind, threads);
        for (const Library& lib : libs) {
          lib.set_threads(threads);
          const double s = strata::bench::MedianSeconds(
              [&] {
                for (const Product& p : products) lib.run(p);
              },
              batch >= 1024 ? 15 : 2000, 0.6);
          const double gflops = flops / s / 1e9;
          // The peak of the threads used: each thread one core's share.
          const double peak = machine.fma_peak_gflops * threads / machine.threads;
          std::printf(" %9.1f (%4.2f)", gflops, gflops / peak);
          if (batch == 128 || batch == 256 || batch == 16) {
            result[lib.name + "_b" + std::to_string(batch) + "_" + k + "_t" +
                   std::to_string(threads)] = gflops / peak;
          }
        }
        std::printf("\n");
      }
    }
  }
  std::printf("RESULT");
  for (const auto& [name, fraction] : result) {
    if (name.find("_t2") != std::string::npos && name.find("_b128_") != std::string::npos) {
      std::printf(" %s=%.2f", name.c_str(), fraction);
    }
  }
  std::printf(" peak_gflops=%.1f\n", machine.fma_peak_gflops);
  return 0;
}
