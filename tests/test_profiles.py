import pytest

from gsam_lab.profiles import settings


def test_profile_defaults_and_overrides():
    q = settings("01", "quick", erp_hw=None)
    f = settings("01", "full")
    assert q.erp_hw[0] < f.erp_hw[0] and q.profile == "quick"
    assert settings("01", "quick", erp_hw=[64, 128]).erp_hw == (64, 128)   # user value wins, lists become tuples


def test_profile_errors():
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        settings("01", "huge")
    with pytest.raises(ValueError, match="unknown setting"):
        settings("01", "quick", nonsense=1)
    with pytest.raises(ValueError, match="no profile table"):
        settings("99", "quick")
