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
