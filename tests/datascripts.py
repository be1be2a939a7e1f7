"""Import a ``data_scripts/*.py`` file as a module (the folder is not a package), for the tests of its functions."""
import importlib.util
import sys
from pathlib import Path

DATA_SCRIPTS = Path(__file__).resolve().parents[1] / "data_scripts"


def load_script(name: str, module_name: str = ""):
    """``data_scripts/<name>.py`` executed as a module named ``module_name`` (default: ``<name>_script``).

    The module is entered in ``sys.modules`` under that name before it runs (dataclasses look their module
    up there), and ``data_scripts/`` is put on ``sys.path`` for the scripts that import a sibling.
    """
    if str(DATA_SCRIPTS) not in sys.path:
        sys.path.insert(0, str(DATA_SCRIPTS))
    module_name = module_name or f"{name}_script"
    spec = importlib.util.spec_from_file_location(module_name, DATA_SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = mod
    spec.loader.exec_module(mod)
    return mod
