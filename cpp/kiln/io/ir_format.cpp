#include "kiln/io/ir_format.hpp"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace kiln::io {

namespace {

constexpr std::pair<const char*, const char*> kTypeSpellings[] = {
    {"Constant", "Const"}, {"Relu", "ReLU"}, {"Softmax", "SoftMax"}, {"PRelu", "PReLU"}};

struct Precision {
    Type t;
    const char* precision;
};
constexpr Precision kPrecisions[] = {
    {Type::f32, "FP32"}, {Type::f16, "FP16"}, {Type::bf16, "BF16"}, {Type::f64, "FP64"},  {Type::i64, "I64"},
    {Type::i32, "I32"},  {Type::i8, "I8"},    {Type::u8, "U8"},     {Type::boolean, "BOOL"}, {Type::dynamic, "UNSPECIFIED"},
    {Type::i16, "I16"},  {Type::u16, "U16"},  {Type::u32, "U32"},   {Type::u64, "U64"},
};

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

template <typename F>
bool split_commas(std::string_view s, F&& f) {
    s = trim(s);
    if (s.empty()) return true;
    size_t start = 0;
    while (true) {
        size_t c = s.find(',', start);
        if (!f(s.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start))) return false;
        if (c == std::string_view::npos) return true;
        start = c + 1;
    }
}

constexpr int64_t kMaxDim = int64_t(1) << 62;

}  // namespace

std::string ir_type_name(const std::string& kiln_type) {
    for (auto& [k, ir] : kTypeSpellings)
        if (kiln_type == k) return ir;
    return kiln_type;
}

std::string kiln_type_name(const std::string& ir_type) {
    for (auto& [k, ir] : kTypeSpellings)
        if (ir_type == ir) return k;
    return ir_type;
}

const char* precision_name(Type t) {
    for (auto& p : kPrecisions)
        if (p.t == t) return p.precision;
    return "UNSPECIFIED";
}

std::optional<Type> type_from_precision(std::string_view s) {
    s = trim(s);
    for (auto& p : kPrecisions)
        if (s == p.precision) return p.t;
    // Older spellings.
    if (s == "FP16") return Type::f16;
    if (s == "BOOLEAN") return Type::boolean;
    if (s == "UNDEFINED" || s == "DYNAMIC") return Type::dynamic;
    return std::nullopt;
}

std::optional<Type> type_from_ir_name(std::string_view s) {
    s = trim(s);
    if (s == "undefined") return Type::dynamic;
    for (Type t : {Type::dynamic, Type::boolean, Type::u8, Type::i8, Type::i32, Type::i64, Type::f16, Type::bf16,
                   Type::f32, Type::f64, Type::i16, Type::u16, Type::u32, Type::u64})
        if (s == type_name(t)) return t;
    return std::nullopt;
}

std::string format_double(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

std::string format_ints(const std::vector<int64_t>& v, const char* sep) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += sep;
        s += std::to_string(v[i]);
    }
    return s;
}

std::string format_doubles(const std::vector<double>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ", ";
        s += format_double(v[i]);
    }
    return s;
}

std::optional<int64_t> parse_int(std::string_view s) {
    s = trim(s);
    if (s.empty()) return std::nullopt;
    int64_t v = 0;
    const char* b = s.data();
    if (*b == '+') ++b;
    auto r = std::from_chars(b, s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<double> parse_double(std::string_view s) {
    s = trim(s);
    if (s.empty()) return std::nullopt;
    std::string low(s);
    for (auto& c : low) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (low == "inf" || low == "+inf" || low == "infinity") return std::numeric_limits<double>::infinity();
    if (low == "-inf" || low == "-infinity") return -std::numeric_limits<double>::infinity();
    if (low == "nan" || low == "-nan") return std::numeric_limits<double>::quiet_NaN();
    double v = 0;
    const char* b = s.data();
    if (*b == '+') ++b;
    auto r = std::from_chars(b, s.data() + s.size(), v);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<bool> parse_bool(std::string_view s) {
    s = trim(s);
    std::string low(s);
    for (auto& c : low) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (low == "true" || low == "1") return true;
    if (low == "false" || low == "0") return false;
    return std::nullopt;
}

std::optional<std::vector<int64_t>> parse_ints(std::string_view s) {
    std::vector<int64_t> r;
    bool ok = split_commas(s, [&](std::string_view item) {
        auto v = parse_int(item);
        if (!v) return false;
        r.push_back(*v);
        return true;
    });
    if (!ok) return std::nullopt;
    return r;
}

std::optional<std::vector<double>> parse_doubles(std::string_view s) {
    std::vector<double> r;
    bool ok = split_commas(s, [&](std::string_view item) {
        auto v = parse_double(item);
        if (!v) return false;
        r.push_back(*v);
        return true;
    });
    if (!ok) return std::nullopt;
    return r;
}

std::string format_partial_shape(const PartialShape& s) {
    if (s.rank_is_dynamic()) return "...";
    std::string r;
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) r += ",";
        const Dimension& d = s[i];
        if (d.is_static()) r += std::to_string(d.get_length());
        else if (d.get_min_length() == 0 && d.get_max_length() < 0) r += "?";
        else {
            r += std::to_string(d.get_min_length()) + "..";
            if (d.get_max_length() >= 0) r += std::to_string(d.get_max_length());
        }
    }
    return r;
}

std::optional<PartialShape> parse_partial_shape(std::string_view s) {
    s = trim(s);
    if (s == "...") return PartialShape();
    std::vector<Dimension> dims;
    bool ok = split_commas(s, [&](std::string_view item) {
        item = trim(item);
        if (item == "?" || item == "-1") {
            dims.push_back(Dimension::dynamic());
            return true;
        }
        size_t dots = item.find("..");
        if (dots == std::string_view::npos) {
            auto v = parse_int(item);
            if (!v || *v < 0 || *v > kMaxDim) return false;
            dims.emplace_back(*v);
            return true;
        }
        auto lo_s = item.substr(0, dots), hi_s = item.substr(dots + 2);
        int64_t lo = 0, hi = -1;
        if (!trim(lo_s).empty()) {
            auto v = parse_int(lo_s);
            if (!v || *v < 0 || *v > kMaxDim) return false;
            lo = *v;
        }
        if (!trim(hi_s).empty()) {
            auto v = parse_int(hi_s);
            if (!v || *v < lo || *v > kMaxDim) return false;
            hi = *v;
        }
        dims.emplace_back(lo, hi);
        return true;
    });
    if (!ok) return std::nullopt;
    return PartialShape(dims);
}

std::string format_names(const std::vector<std::string>& names) {
    std::string r;
    for (size_t i = 0; i < names.size(); ++i) {
        if (i) r += ',';
        for (char c : names[i]) {
            if (c == ',') r += '\\';
            r += c;
        }
    }
    return r;
}

std::vector<std::string> parse_names(std::string_view s) {
    std::vector<std::string> r;
    std::string cur;
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '\\' && i + 1 < s.size() && s[i + 1] == ',') {
            cur += ',';
            ++i;
        } else if (c == ',') {
            if (!cur.empty()) r.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    if (!cur.empty()) r.push_back(cur);
    return r;
}

std::optional<int64_t> parse_opset(std::string_view s) {
    if (s.substr(0, 5) != "opset") return std::nullopt;
    auto v = parse_int(s.substr(5));
    if (!v || *v < 1 || *v > kMaxOpset || s.substr(5).find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    return v;
}

}  // namespace kiln::io
