from .modeling_outputs import ModelOutput  # noqa: F401
