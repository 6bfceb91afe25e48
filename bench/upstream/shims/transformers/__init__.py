"""The handful of transformers names upstream's Qformer.py imports (transformers is not installable
on the bench machine). Inference-only stand-ins; see the module docstrings."""
