// The text of a buffer's values: [[1, 2], [3, 4]], floats in their shortest
// round-trip form, large tensors summarized with "...". Shared by tensor
// printing and the print op's host step.
#pragma once

#include <string>
#include <vector>

#include <duet/graph/types.h>

namespace duet {

std::string format_values(const void* data, DType dtype, const Shape& shape);

// The text of a print: its format with each "{}" replaced by the next value
// ("{{" and "}}" are literal braces).
std::string render_print(const std::string& format, const std::vector<std::string>& values);
// Writes one whole line to stdout (lines from many threads never interleave).
void write_line(const std::string& line);

}  // namespace duet
