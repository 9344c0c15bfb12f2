// Tensor's method forms: each forwards to its free function.
#include <duet/runtime/ops.h>

namespace duet {

Tensor Tensor::matmul(const Tensor& o, Loc loc) const { return duet::matmul(*this, o, loc); }
Tensor Tensor::sum(const Axes& a, bool k, Loc loc) const { return duet::sum(*this, a, k, loc); }
Tensor Tensor::mean(const Axes& a, bool k, Loc loc) const { return duet::mean(*this, a, k, loc); }
Tensor Tensor::max(const Axes& a, bool k, Loc loc) const { return duet::max(*this, a, k, loc); }
Tensor Tensor::min(const Axes& a, bool k, Loc loc) const { return duet::min(*this, a, k, loc); }
Tensor Tensor::argmax(int64_t axis, Loc loc) const { return duet::argmax(*this, axis, loc); }
Tensor Tensor::reshape(const Shape& s, Loc loc) const { return duet::reshape(*this, s, loc); }
Tensor Tensor::transpose(const std::vector<int64_t>& p, Loc loc) const { return duet::transpose(*this, p, loc); }
Tensor Tensor::cast(DType d, Loc loc) const { return duet::cast(*this, d, loc); }
Tensor Tensor::exp(Loc loc) const { return duet::exp(*this, loc); }
Tensor Tensor::log(Loc loc) const { return duet::log(*this, loc); }
Tensor Tensor::sqrt(Loc loc) const { return duet::sqrt(*this, loc); }
Tensor Tensor::tanh(Loc loc) const { return duet::tanh(*this, loc); }
Tensor Tensor::sigmoid(Loc loc) const { return duet::sigmoid(*this, loc); }
Tensor Tensor::relu(Loc loc) const { return duet::relu(*this, loc); }
Tensor Tensor::abs(Loc loc) const { return duet::abs(*this, loc); }
Tensor Tensor::square(Loc loc) const { return duet::square(*this, loc); }
Tensor Tensor::rsqrt(Loc loc) const { return duet::rsqrt(*this, loc); }
Tensor Tensor::erf(Loc loc) const { return duet::erf(*this, loc); }
Tensor Tensor::gelu(Loc loc) const { return duet::gelu(*this, loc); }
Tensor Tensor::log1p(Loc loc) const { return duet::log1p(*this, loc); }
Tensor Tensor::softplus(Loc loc) const { return duet::softplus(*this, loc); }
Tensor Tensor::sign(Loc loc) const { return duet::sign(*this, loc); }
Tensor Tensor::softmax(int64_t axis, Loc loc) const { return duet::softmax(*this, axis, loc); }
Tensor Tensor::log_softmax(int64_t axis, Loc loc) const { return duet::log_softmax(*this, axis, loc); }
Tensor Tensor::expand_dims(int64_t axis, Loc loc) const { return duet::expand_dims(*this, axis, loc); }
Tensor Tensor::squeeze(const Axes& a, Loc loc) const { return duet::squeeze(*this, a, loc); }
Tensor Tensor::broadcast_to(const Shape& s, Loc loc) const { return duet::broadcast_to(*this, s, loc); }

}  // namespace duet
