#include "kiln/core/shape.hpp"

#include <limits>
#include <sstream>

#include "kiln/core/error.hpp"

namespace kiln {

namespace {
// Dimension arithmetic saturates instead of overflowing: shapes come from files and users, and a
// product past int64 is a size nothing can hold anyway (allocating it fails cleanly).
constexpr int64_t kHuge = std::numeric_limits<int64_t>::max();
int64_t sat_mul(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_mul_overflow(a, b, &r) ? ((a < 0) != (b < 0) ? std::numeric_limits<int64_t>::min() : kHuge) : r;
}
int64_t sat_add(int64_t a, int64_t b) {
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? (a < 0 ? std::numeric_limits<int64_t>::min() : kHuge) : r;
}
}  // namespace

int64_t add_saturated(int64_t a, int64_t b) { return sat_add(a, b); }
int64_t mul_saturated(int64_t a, int64_t b) { return sat_mul(a, b); }

int64_t shape_size(const Shape& s) {
    int64_t n = 1;
    for (auto d : s) n = sat_mul(n, d);
    return n;
}

std::string to_string(const Shape& s) {
    std::string r = "[";
    for (size_t i = 0; i < s.size(); ++i) {
        if (i) r += ',';
        r += std::to_string(s[i]);
    }
    return r + "]";
}

int64_t Dimension::get_length() const {
    KILN_CHECK(is_static(), "dimension ", to_string(), " is dynamic");
    return min_;
}

bool Dimension::compatible(const Dimension& d) const { return merge(*this, d).has_value(); }

std::optional<Dimension> Dimension::merge(const Dimension& a, const Dimension& b) {
    int64_t lo = std::max(a.min_, b.min_);
    int64_t hi;
    if (a.max_ < 0) hi = b.max_;
    else if (b.max_ < 0) hi = a.max_;
    else hi = std::min(a.max_, b.max_);
    if (hi >= 0 && lo > hi) return std::nullopt;
    return Dimension(lo, hi);
}

Dimension Dimension::operator+(const Dimension& o) const {
    int64_t hi = (max_ < 0 || o.max_ < 0) ? -1 : sat_add(max_, o.max_);
    return Dimension(sat_add(min_, o.min_), hi);
}

Dimension Dimension::operator*(const Dimension& o) const {
    int64_t hi = (max_ < 0 || o.max_ < 0) ? -1 : sat_mul(max_, o.max_);
    return Dimension(sat_mul(min_, o.min_), hi);
}

std::string Dimension::to_string() const {
    if (is_static()) return std::to_string(min_);
    if (min_ == 0 && max_ < 0) return "?";
    return std::to_string(min_) + ".." + (max_ < 0 ? std::string() : std::to_string(max_));
}

PartialShape::PartialShape(const Shape& s) : rank_dynamic_(false) {
    dims_.reserve(s.size());
    for (auto d : s) dims_.emplace_back(d, d);
}

PartialShape PartialShape::dynamic(std::optional<int64_t> rank) {
    if (!rank) return PartialShape();
    return PartialShape(std::vector<Dimension>(static_cast<size_t>(*rank)));
}

int64_t PartialShape::rank() const {
    KILN_CHECK(!rank_dynamic_, "rank of shape ", to_string(), " is dynamic");
    return static_cast<int64_t>(dims_.size());
}

bool PartialShape::is_static() const {
    if (rank_dynamic_) return false;
    for (auto& d : dims_)
        if (!d.is_static()) return false;
    return true;
}

Shape PartialShape::to_shape() const {
    KILN_CHECK(is_static(), "shape ", to_string(), " is not static");
    Shape s;
    for (auto& d : dims_) s.push_back(d.get_length());
    return s;
}

bool PartialShape::compatible(const PartialShape& o) const { return merge(*this, o).has_value(); }

bool PartialShape::compatible(const Shape& s) const {
    if (rank_dynamic_) return true;
    if (dims_.size() != s.size()) return false;
    for (size_t i = 0; i < s.size(); ++i)
        if (!dims_[i].compatible(s[i])) return false;
    return true;
}

std::optional<PartialShape> PartialShape::merge(const PartialShape& a, const PartialShape& b) {
    if (a.rank_dynamic_) return b;
    if (b.rank_dynamic_) return a;
    if (a.dims_.size() != b.dims_.size()) return std::nullopt;
    std::vector<Dimension> r;
    for (size_t i = 0; i < a.dims_.size(); ++i) {
        auto m = Dimension::merge(a.dims_[i], b.dims_[i]);
        if (!m) return std::nullopt;
        r.push_back(*m);
    }
    return PartialShape(std::move(r));
}

std::string PartialShape::to_string() const {
    if (rank_dynamic_) return "[...]";
    std::string r = "[";
    for (size_t i = 0; i < dims_.size(); ++i) {
        if (i) r += ',';
        r += dims_[i].to_string();
    }
    return r + "]";
}

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= std::max<int64_t>(rank, 1))
        throw ValueError(str_cat(what, " ", axis, " is out of range for rank ", rank));
    return a;
}

}  // namespace kiln
