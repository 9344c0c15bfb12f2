// Formatting buffer values (see format.h).
#include <duet/backends/format.h>

#include <cstdio>
#include <mutex>

#include <fmt/format.h>

namespace duet {
namespace {

constexpr int64_t kSummarize = 1000;
constexpr int64_t kEdge = 3;

std::string element_str(const void* data, DType dtype, int64_t i) {
  switch (dtype) {
    case DType::b8: return static_cast<const bool*>(data)[i] ? "true" : "false";
    case DType::i32: return fmt::format("{}", static_cast<const int32_t*>(data)[i]);
    case DType::i64: return fmt::format("{}", static_cast<const int64_t*>(data)[i]);
    case DType::f32: return fmt::format("{}", static_cast<const float*>(data)[i]);
    case DType::f64: return fmt::format("{}", static_cast<const double*>(data)[i]);
  }
  return "?";
}

void print_dim(std::string& out, const void* data, DType dtype, const Shape& s, int dim, int64_t offset,
               bool summarize) {
  if (s.rank() == 0) {
    out += element_str(data, dtype, 0);
    return;
  }
  int64_t n = s.dim(dim), stride = 1;
  for (int d = dim + 1; d < s.rank(); ++d) stride *= s.dim(d);
  out += '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && n > 2 * kEdge && i == kEdge) {
      out += "..., ";
      i = n - kEdge - 1;
      continue;
    }
    if (dim + 1 == s.rank()) out += element_str(data, dtype, offset + i);
    else print_dim(out, data, dtype, s, dim + 1, offset + i * stride, summarize);
    if (i + 1 < n) out += ", ";
  }
  out += ']';
}

}  // namespace

std::string render_print(const std::string& format, const std::vector<std::string>& values) {
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    char c = format[i];
    if ((c == '{' || c == '}') && i + 1 < format.size() && format[i + 1] == c) {
      out += c;
      ++i;
    } else if (c == '{' && i + 1 < format.size() && format[i + 1] == '}') {
      out += next < values.size() ? values[next++] : std::string("?");
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

void write_line(const std::string& line) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string format_values(const void* data, DType dtype, const Shape& shape) {
  std::string out;
  print_dim(out, data, dtype, shape, 0, 0, shape.numel() > kSummarize);
  return out;
}

}  // namespace duet
