// Dimensions and shapes: static, dynamic, or bounded by an interval.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

using Shape = std::vector<int64_t>;  // a fully known shape

int64_t shape_size(const Shape& s);  // product of dims; 1 for a scalar; saturates at INT64_MAX
// Integer arithmetic on sizes that saturates at the int64 limits instead of overflowing (values
// from files and users can be anything; a saturated size is one nothing can hold).
int64_t add_saturated(int64_t a, int64_t b);
int64_t mul_saturated(int64_t a, int64_t b);
std::string to_string(const Shape& s);

// One dimension: the interval [min, max]; max == -1 means unbounded. Static when min == max.
class Dimension {
public:
    Dimension() = default;  // fully dynamic
    Dimension(int64_t v) : min_(v < 0 ? 0 : v), max_(v < 0 ? -1 : v) {}  // -1 -> dynamic
    Dimension(int64_t lo, int64_t hi) : min_(lo), max_(hi) {}
    static Dimension dynamic() { return Dimension(); }

    bool is_static() const { return max_ >= 0 && min_ == max_; }
    bool is_dynamic() const { return !is_static(); }
    int64_t get_length() const;  // throws if dynamic
    int64_t get_min_length() const { return min_; }
    int64_t get_max_length() const { return max_; }
    bool compatible(int64_t v) const { return v >= min_ && (max_ < 0 || v <= max_); }
    bool compatible(const Dimension& d) const;
    // Intersection of two dimensions; nullopt when they cannot be equal.
    static std::optional<Dimension> merge(const Dimension& a, const Dimension& b);
    bool operator==(const Dimension& o) const { return min_ == o.min_ && max_ == o.max_; }
    bool operator!=(const Dimension& o) const { return !(*this == o); }
    Dimension operator+(const Dimension& o) const;
    Dimension operator*(const Dimension& o) const;
    std::string to_string() const;  // "3", "?", "1..8", "2.."

private:
    int64_t min_ = 0;
    int64_t max_ = -1;
};

// A shape whose rank may be unknown and whose dimensions may be dynamic.
class PartialShape {
public:
    PartialShape() : rank_dynamic_(true) {}  // dynamic rank
    PartialShape(std::vector<Dimension> dims) : rank_dynamic_(false), dims_(std::move(dims)) {}
    PartialShape(std::initializer_list<Dimension> dims) : rank_dynamic_(false), dims_(dims) {}
    PartialShape(const Shape& s);
    static PartialShape dynamic(std::optional<int64_t> rank = std::nullopt);

    bool rank_is_static() const { return !rank_dynamic_; }
    bool rank_is_dynamic() const { return rank_dynamic_; }
    int64_t rank() const;  // throws if rank is dynamic
    bool is_static() const;
    Shape to_shape() const;  // throws if not static
    bool compatible(const PartialShape& o) const;
    bool compatible(const Shape& s) const;
    static std::optional<PartialShape> merge(const PartialShape& a, const PartialShape& b);

    const std::vector<Dimension>& dims() const { return dims_; }
    std::vector<Dimension>& dims() { return dims_; }
    const Dimension& operator[](size_t i) const { return dims_[i]; }
    Dimension& operator[](size_t i) { return dims_[i]; }
    size_t size() const { return dims_.size(); }
    bool operator==(const PartialShape& o) const {
        return rank_dynamic_ == o.rank_dynamic_ && dims_ == o.dims_;
    }
    bool operator!=(const PartialShape& o) const { return !(*this == o); }
    std::string to_string() const;  // "[?,3,224..512,?]" or "[...]"

private:
    bool rank_dynamic_;
    std::vector<Dimension> dims_;
};

// Normalizes a possibly negative axis against rank; throws ValueError naming `what` if out of range.
int64_t normalize_axis(int64_t axis, int64_t rank, const char* what = "axis");

}  // namespace kiln
