"""Every harness module imports with torch and mxnet blocked (only one framework may exist)."""

import pkgutil
import subprocess
import sys

import harness

BLOCK = """
import importlib, importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('torch', 'mxnet'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
for m in {modules!r}:
    importlib.import_module(m)
import reference_impls, reference_impls._frameworks
from harness.registry import default_registry
r = default_registry()
for t in r.tutorials():
    r.spec(t)
print('ok')
"""


def test_harness_imports_without_any_framework():
    modules = [f"harness.{m.name}" for m in pkgutil.iter_modules(harness.__path__)
               if m.name != "__main__"]
    code = BLOCK.format(modules=modules)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
