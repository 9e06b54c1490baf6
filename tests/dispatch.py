"""What a piece of PyTorch code asks of the host: the aten ops it dispatches, recorded with a
TorchDispatchMode on the CPU. A tensor made from Python data shows as `lift_fresh` (on a GPU: a
host-to-device copy, which a CUDA-graph capture refuses); a value read back as `_local_scalar_dense`
(`.item()`, `bool(tensor)`, `float(tensor)`: on a GPU, a sync that stalls the device's queue)."""
from __future__ import annotations

from torch.utils._python_dispatch import TorchDispatchMode

# ops that need the host: data from it, or a value read back (or a result whose size it must learn)
HOST_OPS = frozenset({"lift_fresh", "lift_fresh_copy", "_local_scalar_dense", "item", "is_nonzero", "equal",
                      "nonzero", "masked_select", "unique_consecutive", "_unique2", "_linalg_check_errors"})


class Recorder(TorchDispatchMode):
    """`with Recorder() as r: ...`; then r.ops: every aten op name dispatched, in order."""

    def __init__(self):
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))

    @property
    def host(self) -> list[str]:
        """The ops in HOST_OPS that ran."""
        return [op for op in self.ops if op in HOST_OPS]
