// kiln's exceptions. Every message a user sees should say what was expected and what came.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

// Base of every kiln error; Python sees RuntimeError unless a subclass maps elsewhere.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
// Bad value from the user (maps to Python ValueError).
class ValueError : public Error {
public:
    using Error::Error;
};
// Wrong element type from the user (maps to Python TypeError).
class TypeError : public Error {
public:
    using Error::Error;
};
// A model that cannot be translated (maps to kiln.ConversionError).
class ConversionError : public Error {
public:
    using Error::Error;
};

// A fault in an IR file (maps to kiln.IRError): the message names the file, the layer (id and
// name) when there is one, and the fault.
class IRError : public Error {
public:
    using Error::Error;
};

namespace detail {
inline void stream_all(std::ostringstream&) {}
template <typename T, typename... R>
void stream_all(std::ostringstream& os, const T& v, const R&... rest) {
    os << v;
    stream_all(os, rest...);
}
}  // namespace detail

template <typename... A>
std::string str_cat(const A&... a) {
    std::ostringstream os;
    detail::stream_all(os, a...);
    return os.str();
}

}  // namespace kiln

#define KILN_CHECK(cond, ...)                                              \
    do {                                                                   \
        if (!(cond)) throw ::kiln::Error(::kiln::str_cat(__VA_ARGS__));   \
    } while (0)

// Errors raised about one node start with "[Type name] ".
#define KILN_CHECK_NODE(node, cond, ...)                                                      \
    do {                                                                                      \
        if (!(cond))                                                                          \
            throw ::kiln::Error(::kiln::str_cat("[", (node).type_name(), " ", (node).name(), \
                                                "] ", __VA_ARGS__));                         \
    } while (0)
