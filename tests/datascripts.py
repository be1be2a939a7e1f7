"""Import a ``data_scripts/*.py`` file as a module (the folder is not a package), for the tests of its functions."""
import importlib.util
from pathlib import Path

DATA_SCRIPTS = Path(__file__).resolve().parents[1] / "data_scripts"


def load_script(name: str, module_name: str = ""):
    """``data_scripts/<name>.py`` executed as a module named ``module_name`` (default: ``<name>_script``)."""
    spec = importlib.util.spec_from_file_location(module_name or f"{name}_script", DATA_SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
