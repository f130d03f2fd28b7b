"""Makes the benchmark scripts importable as modules for the helper tests.

``bench/`` goes on sys.path, and ``common`` is bound to ``bench/common.py`` explicitly: with ``tests/`` on
the path, ``import common`` could otherwise find the ``tests/common`` folder as a namespace package.
"""

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bind_bench_common() -> None:
    current = sys.modules.get("common")
    if getattr(current, "__file__", None) == str(BENCH / "common.py"):
        return
    spec = importlib.util.spec_from_file_location("common", BENCH / "common.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["common"] = module
    spec.loader.exec_module(module)


if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))
_bind_bench_common()
