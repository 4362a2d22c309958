"""Every harness module (the private ones in subpackages too) imports with torch and mxnet
blocked (only one framework may exist)."""

import pkgutil
import subprocess
import sys

import harness
from harness.backends import FRAMEWORKS

BLOCK = """
import importlib, importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('torch', 'mxnet'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
for m in {modules!r}:
    importlib.import_module(m)
import reference_impls
from harness.registry import default_registry
r = default_registry()
for t in r.tutorials():
    r.spec(t)
print('ok')
"""


def test_harness_imports_without_any_framework():
    # every module, the private ones inside subpackages included, except the framework
    # backends and the framework adapter bases beside them (harness.backends.torch_adapter):
    # each imports its own framework, and only that framework's ports import it
    backends = {fw.backend for fw in FRAMEWORKS.values()}
    framework_modules = tuple(f"harness.backends.{name}_" for name in FRAMEWORKS)
    modules = [m.name for m in pkgutil.walk_packages(harness.__path__, "harness.")
               if not m.name.endswith("__main__") and m.name not in backends
               and not m.name.startswith(framework_modules)]
    code = BLOCK.format(modules=modules)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
