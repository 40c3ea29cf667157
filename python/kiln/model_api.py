"""Python sugar on kiln.Model (the class itself is C++)."""
from kiln._kiln import Model, PartialShape
from kiln.frontend.torch.inputs import _is_shape, to_partial_shape


def reshape(self: Model, shapes) -> None:
    """Sets input shapes and re-infers every shape in the model.

    shapes: a shape for a one-input model (list with -1 for dynamic dims, or a PartialShape), a
    list of shapes (one per input), or a dict input name / index / Port -> shape. Raises
    ValueError naming the node that cannot take the new shapes.
    """
    n = len(self.inputs)
    if isinstance(shapes, dict):
        by_index = {}
        for k, v in shapes.items():
            key = k.index if hasattr(k, "index") and hasattr(k, "any_name") else k
            by_index[self._input_index(key)] = to_partial_shape(v)
    elif isinstance(shapes, PartialShape) or _is_shape(shapes):
        if n != 1:
            raise ValueError(f"the model has {n} inputs: give a list or a dict of shapes")
        by_index = {0: to_partial_shape(shapes)}
    else:
        shapes = list(shapes)
        if len(shapes) != n:
            raise ValueError(f"the model has {n} inputs, got {len(shapes)} shapes")
        by_index = {i: to_partial_shape(s) for i, s in enumerate(shapes)}
    self._reshape(by_index)


Model.reshape = reshape
