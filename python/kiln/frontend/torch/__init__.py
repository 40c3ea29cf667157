"""The PyTorch front end: capture (trace, script) and the TorchScript graph decoder."""
from kiln.frontend.torch.capture import capture  # noqa: F401
from kiln.frontend.torch.decoder import describe_graph  # noqa: F401
