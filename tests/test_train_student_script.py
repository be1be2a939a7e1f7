"""data_scripts/train_student.py: the guarded vote's settings reach DAR, and only the vote takes them."""
import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "data_scripts" / "train_student.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("train_student_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_vote_guards_become_fusion_kwargs(script):
    args = script.parse(["--fusion", "vote", "--min-share", "0.6", "--keep-confident", "0.8"])
    assert script.fusion_kwargs(args) == {"min_share": 0.6, "keep_confident": 0.8}
    assert script.fusion_kwargs(script.parse(["--fusion", "vote"])) == {}          # the rule's own defaults
    assert script.fusion_kwargs(script.parse(["--fusion", "vote", "--keep-confident", "0.9"])) == {
        "keep_confident": 0.9}


def test_guards_without_the_vote_are_refused(script):
    with pytest.raises(SystemExit, match="--fusion vote"):
        script.fusion_kwargs(script.parse(["--fusion", "ctcf", "--min-share", "0.6"]))


def test_sam_method_is_grid_or_windows(script):
    assert script.parse([]).sam_method == "grid"
    assert script.parse(["--sam-method", "windows"]).sam_method == "windows"
    with pytest.raises(SystemExit):
        script.parse(["--sam-method", "tangent"])
