// cuDNN descriptors for convolutions and pooling.
//
// NOTE [Convolutions through cuDNN]
// duet's conv2d is NCHW x KCRS cross-correlation with one stride and one
// zero padding for both spatial dims, no dilation, no groups; max_pool2d
// drops windows that do not fit (floor). The descriptors say exactly that
// (CUDNN_CROSS_CORRELATION, dilation 1, CUDNN_POOLING_MAX with no padding),
// and cuDNN's own output-dimension queries must agree with duet's shape
// inference (tests/unit/test_cuda.cpp checks random configurations here,
// without a GPU). Running them needs a handle, which needs a GPU.
#include <duet/backends/cuda/dnn.h>

#include <string>

#include <duet/graph/error.h>

#ifdef DUET_WITH_CUDA
#include <cudnn.h>

#include <duet/backends/cuda/library.h>
#endif

namespace duet::cuda {

#ifndef DUET_WITH_CUDA

Shape cudnn_conv2d_output(DType, const Shape&, const Shape&, int64_t, int64_t) {
  throw DeviceError("cuDNN: this build has no CUDA backend");
}
Shape cudnn_max_pool2d_output(DType, const Shape&, int64_t, int64_t) {
  throw DeviceError("cuDNN: this build has no CUDA backend");
}

#else

namespace {

#define DUET_STR2(x) #x
#define DUET_STR(x) DUET_STR2(x)

struct Dnn {
  Library lib{{DUET_CUDA_LIBDIR "/libcudnn.so." DUET_STR(CUDNN_MAJOR), "libcudnn.so." DUET_STR(CUDNN_MAJOR)}, "cuDNN"};
#define DUET_DNN_FN(name) decltype(&cudnn##name) name = get<decltype(&cudnn##name)>(lib, "cudnn" #name)
  DUET_DNN_FN(GetErrorString);
  DUET_DNN_FN(CreateTensorDescriptor);
  DUET_DNN_FN(DestroyTensorDescriptor);
  DUET_DNN_FN(SetTensor4dDescriptor);
  DUET_DNN_FN(CreateFilterDescriptor);
  DUET_DNN_FN(DestroyFilterDescriptor);
  DUET_DNN_FN(SetFilter4dDescriptor);
  DUET_DNN_FN(CreateConvolutionDescriptor);
  DUET_DNN_FN(DestroyConvolutionDescriptor);
  DUET_DNN_FN(SetConvolution2dDescriptor);
  DUET_DNN_FN(GetConvolution2dForwardOutputDim);
  DUET_DNN_FN(CreatePoolingDescriptor);
  DUET_DNN_FN(DestroyPoolingDescriptor);
  DUET_DNN_FN(SetPooling2dDescriptor);
  DUET_DNN_FN(GetPooling2dForwardOutputDim);
#undef DUET_DNN_FN
};

const Dnn& dnn() {
  static const Dnn d;
  return d;
}

void check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw DeviceError(std::string("cuDNN: ") + what + ": " + dnn().GetErrorString(s));
}

cudnnDataType_t data_type(DType t) {
  if (t == DType::f32) return CUDNN_DATA_FLOAT;
  if (t == DType::f64) return CUDNN_DATA_DOUBLE;
  throw Error(std::string("cuDNN: no ") + dtype_name(t) + " convolutions");
}

int dim(const Shape& s, int i) { return static_cast<int>(s.dim(i)); }

// Descriptors destroyed on every path.
template <class T, class Destroy>
struct Owned {
  T value{};
  Destroy destroy;
  Owned(T v, Destroy d) : value(v), destroy(d) {}
  Owned(Owned&& o) noexcept : value(o.value), destroy(o.destroy) { o.value = nullptr; }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (value) destroy(value);
  }
};

using TensorDesc = Owned<cudnnTensorDescriptor_t, decltype(&cudnnDestroyTensorDescriptor)>;

// An NCHW tensor descriptor of shape x.
TensorDesc nchw(cudnnDataType_t t, const Shape& x) {
  const Dnn& f = dnn();
  TensorDesc d{nullptr, f.DestroyTensorDescriptor};
  check(f.CreateTensorDescriptor(&d.value), "CreateTensorDescriptor");
  check(f.SetTensor4dDescriptor(d.value, CUDNN_TENSOR_NCHW, t, dim(x, 0), dim(x, 1), dim(x, 2), dim(x, 3)),
        "SetTensor4dDescriptor");
  return d;
}

}  // namespace

Shape cudnn_conv2d_output(DType dtype, const Shape& x, const Shape& w, int64_t stride, int64_t padding) {
  const Dnn& f = dnn();
  cudnnDataType_t t = data_type(dtype);
  TensorDesc xd = nchw(t, x);
  Owned<cudnnFilterDescriptor_t, decltype(f.DestroyFilterDescriptor)> wd{nullptr, f.DestroyFilterDescriptor};
  Owned<cudnnConvolutionDescriptor_t, decltype(f.DestroyConvolutionDescriptor)> cd{nullptr, f.DestroyConvolutionDescriptor};
  check(f.CreateFilterDescriptor(&wd.value), "CreateFilterDescriptor");
  check(f.SetFilter4dDescriptor(wd.value, t, CUDNN_TENSOR_NCHW, dim(w, 0), dim(w, 1), dim(w, 2), dim(w, 3)),
        "SetFilter4dDescriptor");
  check(f.CreateConvolutionDescriptor(&cd.value), "CreateConvolutionDescriptor");
  int p = static_cast<int>(padding), s = static_cast<int>(stride);
  check(f.SetConvolution2dDescriptor(cd.value, p, p, s, s, 1, 1, CUDNN_CROSS_CORRELATION, t), "SetConvolution2dDescriptor");
  int n = 0, c = 0, h = 0, wo = 0;
  check(f.GetConvolution2dForwardOutputDim(cd.value, xd.value, wd.value, &n, &c, &h, &wo), "GetConvolution2dForwardOutputDim");
  return Shape{n, c, h, wo};
}

Shape cudnn_max_pool2d_output(DType dtype, const Shape& x, int64_t kernel, int64_t stride) {
  const Dnn& f = dnn();
  cudnnDataType_t t = data_type(dtype);
  TensorDesc xd = nchw(t, x);
  Owned<cudnnPoolingDescriptor_t, decltype(f.DestroyPoolingDescriptor)> pd{nullptr, f.DestroyPoolingDescriptor};
  check(f.CreatePoolingDescriptor(&pd.value), "CreatePoolingDescriptor");
  int k = static_cast<int>(kernel), s = static_cast<int>(stride == 0 ? kernel : stride);
  check(f.SetPooling2dDescriptor(pd.value, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, k, k, 0, 0, s, s),
        "SetPooling2dDescriptor");
  int n = 0, c = 0, h = 0, w = 0;
  check(f.GetPooling2dForwardOutputDim(pd.value, xd.value, &n, &c, &h, &w), "GetPooling2dForwardOutputDim");
  return Shape{n, c, h, w};
}

#endif

}  // namespace duet::cuda
