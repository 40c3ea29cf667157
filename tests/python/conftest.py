import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    # Every test draws its own data; seeding per test keeps a failure reproducible when run alone.
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
