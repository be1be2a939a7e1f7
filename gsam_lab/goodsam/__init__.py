"""GoodSAM: a teacher assistant (TA) trained on pinhole images, Distortion-Aware Rectification (DAR)
that fuses the TA with SAM's masks into ensemble logits and pseudo-labels on panoramas, and a compact
student distilled by Multi-level Knowledge Adaptation (MKA).

::

    from gsam_lab import goodsam, sam
    teacher = goodsam.load_teacher("tiny-synth")
    res = goodsam.dar(teacher, sam.load_sam("tiny-synth"), erp, windows="h", boundary=True, fusion="ctcf")
    student = goodsam.Student("b0")
"""
from __future__ import annotations

import importlib

# public name -> submodule that defines it (imported on first use)
_EXPORTS = {
    # teacher assistant, DAR and pseudo-labelling (issue 5)
    "Teacher": "teacher", "TeacherOutput": "teacher", "load_teacher": "teacher", "TEACHERS": "teacher",
    "CITYSCAPES_CLASSES": "classmap", "map_logits": "classmap",
    "dar": "rectification", "DarResult": "rectification",   # module not named dar.py: it would shadow the function
    "pseudo_label_dataset": "pseudo", "PseudoLabelDataset": "pseudo",
    "evaluate_teacher": "teacher", "save_teacher": "teacher", "sam_masks": "fusion", "MaskSet": "fusion",
    # student and MKA (issue 6)
    "Student": "student", "STUDENT_CONFIGS": "student", "StudentOutput": "student", "load_student": "student",
    "MKALoss": "mka", "train_mka": "distill", "MKAConfig": "distill", "MKAResult": "distill",
    "evaluate_miou": "distill",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'gsam_lab.goodsam' has no attribute {name!r}")


def __dir__():
    return __all__
