// The LLVM IR of one op of a kernel body (codegen/kernel_ir.h), from the
// op's scalar semantics (graph/scalar.h, mirrored op by op): shared by the
// CPU generator (codegen/llvm/generate.cpp) and the GPU generator
// (codegen/gpu/ptx.cpp), which depend on it and never on each other.
#pragma once

#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <duet/codegen/emit/math.h>
#include <duet/codegen/kernel_ir.h>
#include <duet/graph/error.h>

namespace duet::codegen::emit {

inline llvm::Type* memory_type(llvm::LLVMContext& ctx, DType t) {
  switch (t) {
    case DType::b8: return llvm::Type::getInt8Ty(ctx);
    case DType::i32: return llvm::Type::getInt32Ty(ctx);
    case DType::i64: return llvm::Type::getInt64Ty(ctx);
    case DType::f32: return llvm::Type::getFloatTy(ctx);
    case DType::f64: return llvm::Type::getDoubleTy(ctx);
  }
  return nullptr;
}

// The value a reduction starts from, as the eager kernel: 0, or the lowest /
// highest finite value for max / min.
inline llvm::Value* reduction_identity(llvm::IRBuilder<>& b, const std::string& op, DType t, llvm::Type* acc_type) {
  if (op == "sum" || op == "mean") return llvm::Constant::getNullValue(acc_type);
  const bool max = op == "max";
  switch (t) {
    case DType::f32: return llvm::ConstantFP::get(acc_type, max ? -std::numeric_limits<float>::max() : std::numeric_limits<float>::max());
    case DType::f64: return llvm::ConstantFP::get(acc_type, max ? -std::numeric_limits<double>::max() : std::numeric_limits<double>::max());
    case DType::i32: return llvm::ConstantInt::getSigned(acc_type, max ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max());
    case DType::i64: return llvm::ConstantInt::getSigned(acc_type, max ? std::numeric_limits<int64_t>::min() : std::numeric_limits<int64_t>::max());
    case DType::b8: break;
  }
  return llvm::Constant::getNullValue(acc_type);
}

class Emitter {
 public:
  // lanes: 0 for scalar code (the loop vectorizer widens it), else the width
  // of the explicit vectors every value has. libm_prefix names the library
  // behind f64 transcendentals and pow: "" for the host's libm, "__nv_" for
  // CUDA's libdevice (NVPTX kernels, ptx.cpp).
  Emitter(llvm::Module& m, llvm::IRBuilder<>& b, bool avx512, unsigned lanes = 0, std::string libm_prefix = "")
      : m_(m), b_(b), avx512_(avx512), lanes_(lanes), libm_prefix_(std::move(libm_prefix)) {}

  // b8 lives as i1 in registers, i8 in memory.
  llvm::Value* load(llvm::Value* ptr, DType t, llvm::MDNode* group) {
    auto* v = b_.CreateLoad(memory_type(m_.getContext(), t), ptr);
    if (group) v->setMetadata(llvm::LLVMContext::MD_access_group, group);
    return t == DType::b8 ? b_.CreateICmpNE(v, b_.getInt8(0)) : static_cast<llvm::Value*>(v);
  }
  void store(llvm::Value* v, llvm::Value* ptr, DType t, llvm::MDNode* group) {
    if (t == DType::b8) v = b_.CreateZExt(v, b_.getInt8Ty());
    auto* s = b_.CreateStore(v, ptr);
    s->setMetadata(llvm::LLVMContext::MD_access_group, group);
  }

  llvm::Value* op(const BodySpec::Op& n, const std::vector<llvm::Value*>& in) {
    const DType t = n.operand;
    const bool fp = is_floating(t);
    llvm::Value* a = in[0];
    llvm::Value* x = in.size() > 1 ? in[1] : nullptr;
    switch (n.scalar) {
      case ScalarOp::neg: return fp ? b_.CreateFSub(zero(t), a) : b_.CreateSub(zero(t), a);  // 0 - a, as scalar.h
      case ScalarOp::abs: return fp ? b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a)
                                    : b_.CreateSelect(b_.CreateICmpSLT(a, zero(t)), b_.CreateSub(zero(t), a), a);
      case ScalarOp::square: return fp ? b_.CreateFMul(a, a) : b_.CreateMul(a, a);
      case ScalarOp::exp: return t == DType::f32 ? emit_exp_f32(b_, a, avx512_) : libm("exp", a);
      case ScalarOp::log: return t == DType::f32 ? emit_log_f32(b_, a) : libm("log", a);
      case ScalarOp::sqrt: return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, a);
      case ScalarOp::rsqrt: return b_.CreateFDiv(one(t), b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, a));
      case ScalarOp::tanh: return t == DType::f32 ? emit_tanh_f32(b_, a, avx512_) : libm("tanh", a);
      case ScalarOp::sigmoid: {
        llvm::Value* na = b_.CreateFNeg(a);
        llvm::Value* e = t == DType::f32 ? emit_exp_f32(b_, na, avx512_) : libm("exp", na);
        return b_.CreateFDiv(one(t), b_.CreateFAdd(one(t), e));
      }
      case ScalarOp::relu:  // a < 0 ? 0 : a (NaN stays)
        return b_.CreateSelect(fp ? b_.CreateFCmpOLT(a, zero(t)) : b_.CreateICmpSLT(a, zero(t)), zero(t), a);
      case ScalarOp::gelu: {
        llvm::Value* k = llvm::ConstantFP::get(a->getType(), 0.70710678118654752440);
        llvm::Value* half = llvm::ConstantFP::get(a->getType(), 0.5);
        llvm::Value* arg = b_.CreateFMul(a, k);
        llvm::Value* e = t == DType::f32 ? emit_erf_f32(b_, arg, avx512_) : libm("erf", arg, true);
        return b_.CreateFMul(b_.CreateFMul(half, a), b_.CreateFAdd(one(t), e));
      }
      case ScalarOp::erf: return t == DType::f32 ? emit_erf_f32(b_, a, avx512_) : libm("erf", a, true);
      case ScalarOp::gelu_tanh: case ScalarOp::log1p: case ScalarOp::softplus: case ScalarOp::sign:
        return composite(n.scalar, a, t);
      case ScalarOp::sin: return in_f64("sin", a, t);
      case ScalarOp::cos: return in_f64("cos", a, t);
      case ScalarOp::logical_not: return b_.CreateNot(a);
      case ScalarOp::add: return fp ? b_.CreateFAdd(a, x) : b_.CreateAdd(a, x);
      case ScalarOp::sub: return fp ? b_.CreateFSub(a, x) : b_.CreateSub(a, x);
      case ScalarOp::mul: return fp ? b_.CreateFMul(a, x) : b_.CreateMul(a, x);
      case ScalarOp::div: {
        if (fp) return b_.CreateFDiv(a, x);
        // x / 0 == 0, MIN / -1 == MIN (0 - a, wrapping): divide by a safe 1 there.
        llvm::Value* is0 = b_.CreateICmpEQ(x, zero(t));
        llvm::Value* ism1 = b_.CreateICmpEQ(x, llvm::ConstantInt::getSigned(a->getType(), -1));
        llvm::Value* q = b_.CreateSDiv(a, b_.CreateSelect(b_.CreateOr(is0, ism1), one(t), x));
        return b_.CreateSelect(is0, zero(t), b_.CreateSelect(ism1, b_.CreateSub(zero(t), a), q));
      }
      case ScalarOp::mod: {
        if (fp) return b_.CreateFRem(a, x);  // fmod: the dividend's sign
        llvm::Value* bad = b_.CreateOr(b_.CreateICmpEQ(x, zero(t)),
                                       b_.CreateICmpEQ(x, llvm::ConstantInt::getSigned(a->getType(), -1)));
        return b_.CreateSelect(bad, zero(t), b_.CreateSRem(a, b_.CreateSelect(bad, one(t), x)));
      }
      case ScalarOp::pow: return libm(t == DType::f32 ? "powf" : "pow", a, false, x);
      case ScalarOp::maximum:
      case ScalarOp::minimum: {
        bool max = n.scalar == ScalarOp::maximum;
        llvm::Value* pick = fp ? (max ? b_.CreateFCmpOGT(a, x) : b_.CreateFCmpOLT(a, x))
                               : (max ? b_.CreateICmpSGT(a, x) : b_.CreateICmpSLT(a, x));
        llvm::Value* r = b_.CreateSelect(pick, a, x);
        if (!fp) return r;
        // NaN propagates: a's first, then b's.
        r = b_.CreateSelect(b_.CreateFCmpUNO(x, x), x, r);
        return b_.CreateSelect(b_.CreateFCmpUNO(a, a), a, r);
      }
      case ScalarOp::logical_and: return b_.CreateAnd(a, x);
      case ScalarOp::logical_or: return b_.CreateOr(a, x);
      case ScalarOp::less: return cmp(t, a, x, llvm::CmpInst::FCMP_OLT, llvm::CmpInst::ICMP_SLT, llvm::CmpInst::ICMP_ULT);
      case ScalarOp::less_equal: return cmp(t, a, x, llvm::CmpInst::FCMP_OLE, llvm::CmpInst::ICMP_SLE, llvm::CmpInst::ICMP_ULE);
      case ScalarOp::greater: return cmp(t, a, x, llvm::CmpInst::FCMP_OGT, llvm::CmpInst::ICMP_SGT, llvm::CmpInst::ICMP_UGT);
      case ScalarOp::greater_equal: return cmp(t, a, x, llvm::CmpInst::FCMP_OGE, llvm::CmpInst::ICMP_SGE, llvm::CmpInst::ICMP_UGE);
      case ScalarOp::equal: return cmp(t, a, x, llvm::CmpInst::FCMP_OEQ, llvm::CmpInst::ICMP_EQ, llvm::CmpInst::ICMP_EQ);
      case ScalarOp::not_equal: return cmp(t, a, x, llvm::CmpInst::FCMP_UNE, llvm::CmpInst::ICMP_NE, llvm::CmpInst::ICMP_NE);
      case ScalarOp::where: return b_.CreateSelect(in[0], in[1], in[2]);
      case ScalarOp::cast: return cast(a, n.operand, n.result);
      case ScalarOp::none:
      case ScalarOp::count_: break;
    }
    throw Error("codegen: no IR for op " + n.name);
  }

 private:
  // The unary ops scalar.h writes in terms of others, operation for
  // operation as there.
  llvm::Value* composite(ScalarOp s, llvm::Value* a, DType t) {
    switch (s) {
      case ScalarOp::gelu_tanh: {
        llvm::Value* cube = b_.CreateFMul(b_.CreateFMul(a, a), a);
        llvm::Value* inner = b_.CreateFMul(b_.CreateFAdd(a, b_.CreateFMul(cube, real(a, 0.044715))),
                                           real(a, 0.79788456080286535588));
        llvm::Value* th = t == DType::f32 ? emit_tanh_f32(b_, inner, avx512_) : libm("tanh", inner);
        return b_.CreateFMul(b_.CreateFMul(real(a, 0.5), a), b_.CreateFAdd(one(t), th));
      }
      case ScalarOp::log1p: return log1p(a, t);
      case ScalarOp::softplus: {  // max(x, 0) + log1p(e^-|x|); NaN stays
        llvm::Value* m = b_.CreateSelect(b_.CreateFCmpOGT(a, zero(t)), a, zero(t));
        llvm::Value* na = b_.CreateFNeg(b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a));
        llvm::Value* e = t == DType::f32 ? emit_exp_f32(b_, na, avx512_) : libm("exp", na);
        return b_.CreateSelect(b_.CreateFCmpUNO(a, a), a, b_.CreateFAdd(m, log1p(e, t)));
      }
      case ScalarOp::sign: {  // 1, -1, or the value itself (zeros and NaN)
        const bool fp = is_floating(t);
        llvm::Value* minus_one = fp ? real(a, -1.0) : llvm::ConstantInt::getSigned(a->getType(), -1);
        llvm::Value* pos = fp ? b_.CreateFCmpOGT(a, zero(t)) : b_.CreateICmpSGT(a, zero(t));
        llvm::Value* negative = fp ? b_.CreateFCmpOLT(a, zero(t)) : b_.CreateICmpSLT(a, zero(t));
        return b_.CreateSelect(pos, one(t), b_.CreateSelect(negative, minus_one, a));
      }
      default: break;
    }
    throw Error("codegen: no composite IR for a scalar op");
  }
  // libm's f64 `name` of a; an f32 a is widened and the result rounded back
  // (scalar_math::sin, cos).
  llvm::Value* in_f64(const char* name, llvm::Value* a, DType t) {
    if (t != DType::f32) return libm(name, a);
    llvm::Value* wide = b_.CreateFPExt(a, a->getType()->getWithNewType(b_.getDoubleTy()));
    return b_.CreateFPTrunc(libm(name, wide), a->getType());
  }
  // A floating constant of a's type (a splat where a is a vector).
  static llvm::Value* real(llvm::Value* a, double v) { return llvm::ConstantFP::get(a->getType(), v); }
  // scalar_math::log1p: f32 as log(u) * (x / (u - 1)), u = 1 + x; f64 libm's.
  llvm::Value* log1p(llvm::Value* a, DType t) {
    if (t != DType::f32) return libm("log1p", a);
    llvm::Value* u = b_.CreateFAdd(one(t), a);
    llvm::Value* d = b_.CreateFSub(u, one(t));
    llvm::Value* r = b_.CreateFMul(emit_log_f32(b_, u), b_.CreateFDiv(a, d));
    r = b_.CreateSelect(b_.CreateFCmpOEQ(d, zero(t)), a, r);
    return b_.CreateSelect(b_.CreateFCmpOEQ(a, real(a, std::numeric_limits<double>::infinity())), a, r);
  }
  llvm::Value* zero(DType t) { return llvm::Constant::getNullValue(register_type(t)); }
  llvm::Value* one(DType t) {
    llvm::Type* ty = register_type(t);
    return ty->isFPOrFPVectorTy() ? llvm::ConstantFP::get(ty, 1.0) : llvm::ConstantInt::get(ty, 1);
  }
  llvm::Type* register_type(DType t) {
    llvm::Type* scalar = t == DType::b8 ? b_.getInt1Ty() : memory_type(m_.getContext(), t);
    return lanes_ ? llvm::FixedVectorType::get(scalar, lanes_) : scalar;
  }
  llvm::Value* cmp(DType t, llvm::Value* a, llvm::Value* x, llvm::CmpInst::Predicate f, llvm::CmpInst::Predicate s,
                   llvm::CmpInst::Predicate u) {
    if (is_floating(t)) return b_.CreateFCmp(f, a, x);
    return b_.CreateICmp(t == DType::b8 ? u : s, a, x);
  }
  // A libm function of one (or two) arguments of a's type.
  llvm::Value* libm(const char* name, llvm::Value* a, bool readnone = true, llvm::Value* x = nullptr) {
    std::vector<llvm::Type*> params(x ? 2 : 1, a->getType());
    llvm::FunctionCallee f =
        m_.getOrInsertFunction(libm_prefix_ + name, llvm::FunctionType::get(a->getType(), params, false));
    if (auto* fn = llvm::dyn_cast<llvm::Function>(f.getCallee())) {
      if (readnone) fn->setOnlyAccessesArgMemory();
      fn->setDoesNotThrow();
      fn->setWillReturn();
    }
    return x ? b_.CreateCall(f, {a, x}) : b_.CreateCall(f, {a});
  }
  llvm::Value* cast(llvm::Value* v, DType from, DType to) {
    llvm::Type* ty = register_type(to);
    if (from == to) return v;
    if (to == DType::b8)  // != 0 (NaN counts as true)
      return is_floating(from) ? b_.CreateFCmpUNE(v, llvm::ConstantFP::get(v->getType(), 0.0))
                               : b_.CreateICmpNE(v, llvm::Constant::getNullValue(v->getType()));
    if (from == DType::b8) return is_floating(to) ? b_.CreateUIToFP(v, ty) : b_.CreateZExt(v, ty);
    if (is_floating(from) && is_floating(to)) return b_.CreateFPCast(v, ty);
    if (is_floating(from))  // saturating, NaN -> 0
      return b_.CreateIntrinsic(llvm::Intrinsic::fptosi_sat, {ty, v->getType()}, {v});
    if (is_floating(to)) return b_.CreateSIToFP(v, ty);
    return b_.CreateSExtOrTrunc(v, ty);
  }

  llvm::Module& m_;
  llvm::IRBuilder<>& b_;
  bool avx512_;
  unsigned lanes_;
  std::string libm_prefix_;
};


}  // namespace duet::codegen::emit
