"""einops.rearrange for the plain patterns upstream uses ('b c t h w -> (b t) c h w',
'(b t) q h -> b t q h', 'l b d -> b l d', ...): axis permutation, grouping and ungrouping.
Sizes of ungrouped axes come from keyword arguments (all but one per group)."""
import re
from functools import reduce


def _parse(side):
    groups = []
    for m in re.finditer(r"\(([^)]*)\)|(\S+)", side):
        groups.append(m.group(1).split() if m.group(1) is not None else [m.group(2)])
    return groups


def rearrange(tensor, pattern, **sizes):
    left, right = (s.strip() for s in pattern.split("->"))
    lg, rg = _parse(left), _parse(right)
    if len(lg) != tensor.ndim:
        raise ValueError(f"einops shim: {pattern!r} does not match a {tensor.ndim}-d tensor")
    known = dict(sizes)
    for names, n in zip(lg, tensor.shape):
        missing = [a for a in names if a not in known]
        prod = reduce(lambda x, y: x * y, [known[a] for a in names if a in known], 1)
        if len(missing) > 1:
            raise ValueError(f"einops shim: cannot infer {missing} in {pattern!r}")
        if missing:
            known[missing[0]] = n // prod
    flat = [a for names in lg for a in names]
    x = tensor.reshape([known[a] for a in flat])
    order = [a for names in rg for a in names]
    x = x.permute([flat.index(a) for a in order])
    return x.reshape([reduce(lambda p, a: p * known[a], names, 1) for names in rg])
