// The exceptions every duet failure is reported as, and DUET_CHECK for
// internal invariants. See NOTE [Errors] in docs/errors.md.
#pragma once

// duet's public headers use C++20 (std::source_location, concepts): say so
// before the first one fails deep inside.
#if __cplusplus < 202002L
#error "duet needs C++20: compile with -std=c++20 (linking duet::duet from find_package(duet) asks for it)"
#endif

#include <source_location>
#include <stdexcept>
#include <string>
#include <string_view>

namespace duet {

// Base of every error duet throws at its users (a std::runtime_error).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError : public Error { using Error::Error; };
class DTypeError : public Error { using Error::Error; };
class TraceError : public Error { using Error::Error; };
class ParseError : public Error { using Error::Error; };
class IOError : public Error { using Error::Error; };
class DeviceError : public Error { using Error::Error; };
// An allocation the host or a device could not satisfy (NOTE [Result sizes]
// in docs/errors.md): names the op or function, the result type, the bytes
// and the user's line. A DeviceError, like PyTorch's OutOfMemoryError is a
// RuntimeError: the device may be the host.
class OutOfMemoryError : public DeviceError { using DeviceError::DeviceError; };
// An index or label outside its range, found when the values are read
// (gather, scatter_add, one_hot, the losses' labels): names the op, the
// value, its position and the range.
class IndexError : public Error { using Error::Error; };

// A source position as errors print it: "file.cpp:42" (the file's base name).
struct SrcLoc {
  const char* file = nullptr;
  unsigned line = 0;
  SrcLoc() = default;
  SrcLoc(const char* f, unsigned l) : file(f), line(l) {}
  SrcLoc(const std::source_location& s)  // NOLINT: implicit by design
      : file(s.file_name()), line(s.line()) {}
  bool known() const { return file != nullptr && *file != 0; }
  std::string str() const;  // "file.cpp:42", or "" when unknown
};

// "op: what (file:line)": the shape of every user-facing error message.
std::string format_error(std::string_view op, const std::string& what, SrcLoc loc);

namespace detail {
[[noreturn]] void check_failed(const char* cond, const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace duet

// Internal invariants (not user errors): reports file and line, throws an
// Error in release builds and aborts in debug builds.
#define DUET_CHECK(cond, msg)                                                      \
  do {                                                                             \
    if (!(cond)) ::duet::detail::check_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)
