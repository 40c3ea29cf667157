// The text forms of IR v11 shared by the writer and the reader: type names as files spell them,
// port precisions, numbers, lists, shapes and tensor-name lists.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kiln/core/shape.hpp"
#include "kiln/core/type.hpp"

namespace kiln::io {

// The IR spelling of an op type ("Constant" is written "Const", "Relu" "ReLU", "Softmax"
// "SoftMax", "PRelu" "PReLU", as OpenVINO writes them) and back (both spellings read).
std::string ir_type_name(const std::string& kiln_type);
std::string kiln_type_name(const std::string& ir_type);

// Port precision ("FP32", "I64", "BOOL", ..., "UNSPECIFIED" for dynamic) and back.
const char* precision_name(Type t);
std::optional<Type> type_from_precision(std::string_view s);
// An element_type attribute ("f32", "boolean", "dynamic"; also OpenVINO's older "undefined").
std::optional<Type> type_from_ir_name(std::string_view s);

// Numbers: doubles in their shortest form that reads back to the same bits ("inf", "-inf", "nan"
// for the special values).
std::string format_double(double v);
std::string format_ints(const std::vector<int64_t>& v, const char* sep = ", ");
std::string format_doubles(const std::vector<double>& v);
// Strict parsers: surrounding spaces allowed, anything else that is not the number fails.
std::optional<int64_t> parse_int(std::string_view s);
std::optional<double> parse_double(std::string_view s);
std::optional<bool> parse_bool(std::string_view s);
// Comma-separated lists; "" is the empty list.
std::optional<std::vector<int64_t>> parse_ints(std::string_view s);
std::optional<std::vector<double>> parse_doubles(std::string_view s);

// A partial shape: "?,3,1..10,2.." (dims), "" (a scalar), "..." (dynamic rank); and back.
// Dimensions are non-negative and bounded by 2^62.
std::string format_partial_shape(const PartialShape& s);
std::optional<PartialShape> parse_partial_shape(std::string_view s);

// Tensor names as `names="a,b"`; a comma inside a name is written "\,".
std::string format_names(const std::vector<std::string>& names);
std::vector<std::string> parse_names(std::string_view s);

// The weights file beside an XML file: its extension replaced by ".bin" (or ".bin" appended).
std::string default_bin_path(const std::string& xml_path);

// "opset8" -> 8 (1 to kMaxOpset); nullopt for anything else.
constexpr int64_t kMaxOpset = 16;
std::optional<int64_t> parse_opset(std::string_view s);

}  // namespace kiln::io
