"""data_scripts/train_student.py: the guarded vote's settings reach DAR, and only the vote takes them."""
import pytest
from datascripts import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("train_student")


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
