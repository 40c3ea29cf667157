// Helpers shared by the C++ unit tests.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "kiln/core/error.hpp"

namespace kiln::test {

// Runs f, which must throw a kiln::Error whose message contains `part`.
template <typename F>
void expect_error(F&& f, const std::string& part) {
    try {
        f();
        ADD_FAILURE() << "expected an error containing: " << part;
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
}

}  // namespace kiln::test
