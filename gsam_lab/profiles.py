"""Per-notebook settings of the ``quick`` and ``full`` profiles.

A notebook's ``parameters`` cell leaves sizes at ``None`` ("the profile decides"); :func:`settings`
fills them from this table, and any value the user set (papermill ``-p``, or an edit) wins::

    cfg = settings("01", profile, erp_hw=erp_hw, n_stats=n_stats)
    cfg.erp_hw      # (256, 512) in quick, (1024, 2048) in full, unless given
"""
from __future__ import annotations

from types import SimpleNamespace

__all__ = ["PROFILE_TABLE", "settings"]

PROFILE_TABLE = {
    "01": {
        "quick": dict(erp_hw=(256, 512), view_hw=(160, 160), n_stats=6, stats_hw=(128, 256)),
        "full": dict(erp_hw=(1024, 2048), view_hw=(512, 512), n_stats=100, stats_hw=(256, 512)),
    },
    # 02 (SAM prompt stability)
    # max_objects None: every object of at least 64 px
    "02": {"quick": dict(n_pinhole=4, n_erp=2, pinhole_hw=(192, 256), erp_hw=(256, 512), draws=3, max_objects=None),
           "full": dict(n_pinhole=50, n_erp=20, pinhole_hw=(768, 1024), erp_hw=(1024, 2048), draws=20,
                        max_objects=None)},
    # 03 (Stable-SAM plugins)
    "03": {"quick": dict(n_train=4, steps=8, images_per_step=2, n_pinhole=3, n_erp=1, pinhole_hw=(256, 256),
                         erp_hw=(256, 512), draws=2, max_objects=None),
           "full": dict(n_train=2000, steps=500, images_per_step=4, n_pinhole=50, n_erp=20, pinhole_hw=(768, 1024),
                        erp_hw=(1024, 2048), draws=20, max_objects=None)},
    # 04 (GoodSAM DAR fusion)
    "04": {"quick": dict(erp_hw=(256, 512), n_test=4, n_pinhole=16, pinhole_hw=(256, 512), points_per_side=6,
                         sam="tiny-synth", teacher="tiny-synth", dataset="synthetic"),
           "full": dict(erp_hw=(1024, 2048), n_test=100, n_pinhole=200, pinhole_hw=(512, 1024), points_per_side=32,
                        sam="vit_h", teacher="segformer-b5-cityscapes", dataset="densepass")},
    # 05 (GoodSAM MKA distillation)
    # threads (05, 06): torch's CPU threads for gsam_lab.setup; quick 1 (small models, many small ops: a second
    # thread on a shared core only adds waiting), full None (torch's default: every core)
    "05": {"quick": dict(teacher="tiny-synth", student="tiny", sweep_students=(), steps=150, batch_size=4,
                         erp_hw=(64, 128), n_train=6, n_test=8, dar_fusion="ctcf", threads=1),
           "full": dict(teacher="segformer-b5-cityscapes", student="b0", sweep_students=("b0", "b1", "b2"), steps=8000,
                        batch_size=8, erp_hw=(512, 1024), n_train=500, n_test=200, dar_fusion="ctcf", threads=None)},
    # 06 (results report)
    # max_objects None: every object of at least 64 px; points_per_side: DAR's SAM grid, as in 04
    "06": {"quick": dict(teacher="tiny-synth", student="tiny", steps=150, erp_hw=(64, 128), n_train=6, n_test=8,
                         n_pinhole=2, draws=2, max_objects=None, points_per_side=6, threads=1),
           "full": dict(teacher="segformer-b5-cityscapes", student="b0", steps=8000, erp_hw=(512, 1024), n_train=500,
                        n_test=200, n_pinhole=50, draws=20, max_objects=None, points_per_side=32, threads=None)},
}


def settings(notebook: str, profile: str, **given) -> SimpleNamespace:
    """The profile's defaults for ``notebook`` with every non-``None`` value in ``given`` on top."""
    if notebook not in PROFILE_TABLE:
        raise ValueError(f"no profile table for notebook {notebook!r}; known: {', '.join(PROFILE_TABLE)}")
    table = PROFILE_TABLE[notebook]
    if profile not in table:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(table)}")
    unknown = set(given) - set(table[profile])
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)} for notebook {notebook}; "
                         f"expected some of {sorted(table[profile])}")
    values = dict(table[profile])
    values.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in given.items() if v is not None})
    return SimpleNamespace(profile=profile, **values)
