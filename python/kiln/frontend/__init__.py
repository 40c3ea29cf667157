"""Front ends: the Python half that captures a framework graph and describes it to C++."""
