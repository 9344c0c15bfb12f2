// safetensors: an 8-byte little-endian header size, a JSON header mapping
// each name to {dtype, shape, data_offsets}, then the raw row-major data.
#include <duet/runtime/checkpoint.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <duet/runtime/device.h>
#include <duet/runtime/ops.h>

namespace duet {
namespace {

const char* st_dtype(DType t) {
  switch (t) {
    case DType::b8: return "BOOL";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::f32: return "F32";
    case DType::f64: return "F64";
  }
  return "?";
}

bool parse_st_dtype(const std::string& s, DType* out) {
  for (DType t : {DType::b8, DType::i32, DType::i64, DType::f32, DType::f64})
    if (s == st_dtype(t)) {
      *out = t;
      return true;
    }
  return false;
}

// A name per variable, in order: its own when free, else the first free
// "name_1", "name_2", ... (never one another variable is called).
std::vector<std::string> unique_names(const std::vector<Variable>& variables) {
  std::set<std::string> taken;
  for (const Variable& v : variables) taken.insert(v.name().empty() ? "variable" : v.name());
  std::set<std::string> used;
  std::vector<std::string> out;
  for (const Variable& v : variables) {
    std::string base = v.name().empty() ? "variable" : v.name();
    std::string name = base;
    for (int k = 1; used.count(name) || (name != base && taken.count(name)); ++k) name = fmt::format("{}_{}", base, k);
    used.insert(name);
    out.push_back(name);
  }
  return out;
}

}  // namespace

void save_checkpoint(const std::string& path, const std::vector<Variable>& variables) {
  std::vector<std::string> names = unique_names(variables);
  std::vector<Tensor> values;
  nlohmann::json header = nlohmann::json::object();
  size_t offset = 0;
  for (size_t i = 0; i < variables.size(); ++i) {
    Tensor t = variables[i].concrete_value();
    if (!t.device().is_cpu()) t = t.cpu();
    size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
    header[names[i]] = {{"dtype", st_dtype(t.dtype())},
                        {"shape", t.shape().vec()},
                        {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    values.push_back(t);
  }
  header["__metadata__"] = {{"format", "duet"}};
  std::string text = header.dump();
  while (text.size() % 8) text += ' ';  // the data starts 8-byte aligned
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IOError(fmt::format("save_checkpoint: cannot write '{}'", tmp));
    uint64_t n = text.size();
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(le), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Tensor& t : values)
      out.write(static_cast<const char*>(t.data_ptr()),
                static_cast<std::streamsize>(static_cast<size_t>(t.numel()) * dtype_size(t.dtype())));
    out.flush();
    if (!out) throw IOError(fmt::format("save_checkpoint: writing '{}' failed", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IOError(fmt::format("save_checkpoint: cannot rename '{}' to '{}': {}", tmp, path, ec.message()));
}

void restore_checkpoint(const std::string& path, const std::vector<Variable>& variables) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError(fmt::format("restore_checkpoint: cannot open '{}'", path));
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto damaged = [&](const std::string& what) {
    return IOError(fmt::format("restore_checkpoint: '{}' is damaged: {}", path, what));
  };
  if (bytes.size() < 8) throw damaged("shorter than its 8-byte header size");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8) throw damaged(fmt::format("the header claims {} bytes, the file has {}", n, bytes.size() - 8));
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    throw damaged(std::string("the header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw damaged("the header is not a JSON object");
  const size_t data_begin = 8 + n, data_size = bytes.size() - data_begin;
  std::vector<std::string> names = unique_names(variables);
  std::vector<Tensor> loaded;
  // Check and build every tensor first; assign only when all are good.
  for (size_t i = 0; i < variables.size(); ++i) {
    const Variable& v = variables[i];
    if (!header.contains(names[i]))
      throw IOError(fmt::format("restore_checkpoint: '{}' has no entry '{}'", path, names[i]));
    const nlohmann::json& e = header[names[i]];
    try {
      DType dtype;
      if (!parse_st_dtype(e.at("dtype").get<std::string>(), &dtype))
        throw damaged(fmt::format("entry '{}' has the unknown dtype {}", names[i], e.at("dtype").dump()));
      // Whole numbers only: nlohmann converts a JSON real like -9.2e19 with
      // a plain cast, which is undefined behaviour out of range (found by fuzz_saved).
      for (const char* key : {"shape", "data_offsets"})
        for (const nlohmann::json& d : e.at(key))
          if (!d.is_number_integer())
            throw damaged(fmt::format("entry '{}' has the {} {}: not a list of whole numbers", names[i], key,
                                      e.at(key).dump()));
      std::vector<int64_t> shape = e.at("shape").get<std::vector<int64_t>>();
      std::vector<uint64_t> offsets = e.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        throw damaged(fmt::format("entry '{}' points outside the data", names[i]));
      Shape s(shape);
      if (dtype != v.dtype() || !(s == v.shape()))
        throw Error(fmt::format("restore_checkpoint: '{}' holds '{}' as {}, but the variable is {}", path, names[i],
                                TensorType{dtype, s}.str(), TensorType{v.dtype(), v.shape()}.str()));
      size_t want = static_cast<size_t>(s.numel()) * dtype_size(dtype);
      if (offsets[1] - offsets[0] != want)
        throw damaged(fmt::format("entry '{}' holds {} bytes, its shape needs {}", names[i], offsets[1] - offsets[0], want));
      Tensor t = [&] {
        DeviceScope on_host(Device::cpu());  // filled here, then moved to the variable's device
        return zeros(s, dtype);
      }();
      if (want) std::memcpy(const_cast<void*>(t.data_ptr()), bytes.data() + data_begin + offsets[0], want);
      loaded.push_back(t);
    } catch (const nlohmann::json::exception& ex) {
      throw damaged(fmt::format("entry '{}' is malformed ({})", names[i], ex.what()));
    }
  }
  for (size_t i = 0; i < variables.size(); ++i) variables[i].assign(loaded[i].to(variables[i].device()));
}

}  // namespace duet
