// cuBLASLt matmul descriptors for duet's matmuls.
//
// NOTE [Matmul through cuBLASLt]
// duet's tensors are row-major; cuBLASLt's matrices column-major. A row-major
// [r, c] buffer is the column-major [c, r] matrix, so C = A x B is computed as
// C^T = B^T x A^T: cuBLASLt's A is duet's B (n x k, ld n), its B is duet's A
// (k x m, ld k), its C is n x m with ld n, no transposes. A bias over duet's
// last dim (n) is then per row of cuBLASLt's C: CUBLASLT_EPILOGUE_BIAS. A
// batch is a strided batch (stride 0 for a broadcast operand). f32 computes
// in CUBLAS_COMPUTE_32F (not TF32: the CPU's precision), f64 in 64F.
#include <duet/backends/cuda/blaslt.h>

#include <duet/graph/error.h>

#ifdef DUET_WITH_CUDA
#include <cublasLt.h>

#include <duet/backends/cuda/library.h>
#endif

namespace duet::cuda {

std::string lt_epilogue_unsupported(const std::string& activation) {
  if (activation.empty() || activation == "none" || activation == "relu") return "";
  if (activation == "gelu") return "cuBLASLt's GELU is the tanh approximation; duet's gelu is the erf form";
  return "cuBLASLt has no " + activation + " epilogue";
}

#ifndef DUET_WITH_CUDA

LtMatmul::LtMatmul(const LtMatmulSpec&) { throw DeviceError("cuBLASLt: this build has no CUDA backend"); }
LtMatmul::~LtMatmul() = default;
LtDescription LtMatmul::describe() const { return {}; }

#else

namespace {

struct Lt {
  Library lib{{DUET_CUDA_LIBDIR "/libcublasLt.so." DUET_CUDA_MAJOR, "libcublasLt.so." DUET_CUDA_MAJOR}, "cuBLASLt"};
#define DUET_LT_FN(name) decltype(&cublasLt##name) name = get<decltype(&cublasLt##name)>(lib, "cublasLt" #name)
  DUET_LT_FN(MatmulDescCreate);
  DUET_LT_FN(MatmulDescDestroy);
  DUET_LT_FN(MatmulDescSetAttribute);
  DUET_LT_FN(MatmulDescGetAttribute);
  DUET_LT_FN(MatrixLayoutCreate);
  DUET_LT_FN(MatrixLayoutDestroy);
  DUET_LT_FN(MatrixLayoutSetAttribute);
  DUET_LT_FN(MatrixLayoutGetAttribute);
#undef DUET_LT_FN
};

const Lt& lt() {
  static const Lt l;  // a DeviceError on first use if cuBLASLt is missing; retried next time
  return l;
}

void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw DeviceError(std::string("cuBLASLt: ") + what + " failed (status " + std::to_string(s) + ")");
}

std::string epilogue_name(cublasLtEpilogue_t e) {
  switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: return "DEFAULT";
    case CUBLASLT_EPILOGUE_RELU: return "RELU";
    case CUBLASLT_EPILOGUE_BIAS: return "BIAS";
    case CUBLASLT_EPILOGUE_RELU_BIAS: return "RELU_BIAS";
    default: return "epilogue " + std::to_string(static_cast<int>(e));
  }
}
std::string compute_name(cublasComputeType_t c) {
  switch (c) {
    case CUBLAS_COMPUTE_32F: return "32F";
    case CUBLAS_COMPUTE_32F_FAST_TF32: return "32F_FAST_TF32";
    case CUBLAS_COMPUTE_64F: return "64F";
    default: return "compute " + std::to_string(static_cast<int>(c));
  }
}
std::string data_name(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_32F: return "R_32F";
    case CUDA_R_64F: return "R_64F";
    default: return "data " + std::to_string(static_cast<int>(t));
  }
}

}  // namespace

LtMatmul::LtMatmul(const LtMatmulSpec& s) {
  if (s.dtype != DType::f32 && s.dtype != DType::f64)
    throw Error(std::string("cuBLASLt: matmul of ") + dtype_name(s.dtype) + " runs as a generated kernel, not cuBLASLt");
  const Lt& f = lt();
  const bool f64 = s.dtype == DType::f64;
  const cudaDataType_t data = f64 ? CUDA_R_64F : CUDA_R_32F;
  cublasLtMatmulDesc_t desc = nullptr;
  check(f.MatmulDescCreate(&desc, f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F, data), "MatmulDescCreate");
  desc_ = desc;
  cublasLtEpilogue_t ep = s.epilogue == LtEpilogue::bias        ? CUBLASLT_EPILOGUE_BIAS
                          : s.epilogue == LtEpilogue::relu      ? CUBLASLT_EPILOGUE_RELU
                          : s.epilogue == LtEpilogue::relu_bias ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                                : CUBLASLT_EPILOGUE_DEFAULT;
  check(f.MatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep), "set EPILOGUE");
  // NOTE [Matmul through cuBLASLt]: cuBLASLt's (A, B, C) = duet's (B, A, C), transposed views.
  struct Shape2 { uint64_t rows, cols; int64_t ld, stride; };
  const Shape2 shapes[3] = {
      {static_cast<uint64_t>(s.n), static_cast<uint64_t>(s.k), s.n, s.b_batched ? s.k * s.n : 0},
      {static_cast<uint64_t>(s.k), static_cast<uint64_t>(s.m), s.k, s.a_batched ? s.m * s.k : 0},
      {static_cast<uint64_t>(s.n), static_cast<uint64_t>(s.m), s.n, s.m * s.n}};
  for (int i = 0; i < 3; ++i) {
    cublasLtMatrixLayout_t l = nullptr;
    check(f.MatrixLayoutCreate(&l, data, shapes[i].rows, shapes[i].cols, shapes[i].ld), "MatrixLayoutCreate");
    layout_[i] = l;
    int32_t batch = static_cast<int32_t>(s.batch);
    check(f.MatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch), "set BATCH_COUNT");
    int64_t stride = shapes[i].stride;
    check(f.MatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride),
          "set STRIDED_BATCH_OFFSET");
  }
}

LtMatmul::~LtMatmul() {
  const Lt& f = lt();
  for (void* l : layout_)
    if (l) f.MatrixLayoutDestroy(static_cast<cublasLtMatrixLayout_t>(l));
  if (desc_) f.MatmulDescDestroy(static_cast<cublasLtMatmulDesc_t>(desc_));
}

LtDescription LtMatmul::describe() const {
  const Lt& f = lt();
  LtDescription d;
  auto desc = static_cast<cublasLtMatmulDesc_t>(desc_);
  size_t written = 0;
  cublasLtEpilogue_t ep{};
  check(f.MatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep, &written), "get EPILOGUE");
  cublasComputeType_t compute{};
  check(f.MatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, &compute, sizeof compute, &written),
        "get COMPUTE_TYPE");
  cudaDataType_t scale{};
  check(f.MatmulDescGetAttribute(desc, CUBLASLT_MATMUL_DESC_SCALE_TYPE, &scale, sizeof scale, &written), "get SCALE_TYPE");
  d.epilogue = epilogue_name(ep);
  d.compute = compute_name(compute);
  d.scale = data_name(scale);
  LtLayout* out[3] = {&d.a, &d.b, &d.c};
  for (int i = 0; i < 3; ++i) {
    auto l = static_cast<cublasLtMatrixLayout_t>(layout_[i]);
    check(f.MatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_ROWS, &out[i]->rows, sizeof out[i]->rows, &written), "get ROWS");
    check(f.MatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_COLS, &out[i]->cols, sizeof out[i]->cols, &written), "get COLS");
    check(f.MatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_LD, &out[i]->ld, sizeof out[i]->ld, &written), "get LD");
    check(f.MatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &out[i]->batch, sizeof out[i]->batch, &written),
          "get BATCH_COUNT");
    check(f.MatrixLayoutGetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &out[i]->batch_stride,
                                     sizeof out[i]->batch_stride, &written),
          "get STRIDED_BATCH_OFFSET");
  }
  return d;
}

#endif

}  // namespace duet::cuda
