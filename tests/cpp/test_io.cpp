#include <gtest/gtest.h>

#include "kiln/core/op_factory.hpp"
#include "kiln/io/ir.hpp"

using namespace kiln;

TEST(OpFactory, HasEntries) { EXPECT_GT(op_registry().size(), 50u); }
