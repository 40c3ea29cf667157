import os
import random

# Every pass of every compile and plan build in the suite is followed by the graph validator, which
# names the pass that broke an invariant (passes/pipeline.hpp). Set before kiln is first imported.
os.environ.setdefault("KILN_VALIDATE_PASSES", "1")

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    # Every test draws its own data; seeding per test keeps a failure reproducible when run alone.
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


def pytest_collection_modifyitems(items):
    # A test marked after_op_tests reads what the per-op tests recorded as they ran (the op kinds of
    # their torch.export programs): it runs after every other test, so that nothing is exported twice.
    late = [item for item in items if item.get_closest_marker("after_op_tests")]
    if late:
        ids = {id(item) for item in late}
        items[:] = [item for item in items if id(item) not in ids] + late
