"""GoodSAM: a teacher assistant (TA) trained on pinhole images, Distortion-Aware Rectification (DAR)
that fuses the TA with SAM's masks into ensemble logits and pseudo-labels on panoramas, and a compact
student distilled by Multi-level Knowledge Adaptation (MKA).

::

    from gsam_lab import goodsam, sam
    teacher = goodsam.load_teacher("tiny-synth")
    res = goodsam.dar(teacher, sam.load_sam("tiny-synth"), erp, windows="h", boundary=True, fusion="ctcf")
    student = goodsam.Student("b0")
"""
from .classmap import CITYSCAPES_CLASSES, map_logits
from .distill import MKAConfig, MKAResult, evaluate_miou, train_mka
from .fusion import MaskSet, sam_masks
from .mka import MKALoss
from .pseudo import PseudoLabelDataset, pseudo_label_dataset
from .rectification import DarResult, dar  # DAR lives in rectification.py: a dar.py would shadow the function
from .student import STUDENT_CONFIGS, Student, StudentOutput, load_student
from .teacher import TEACHERS, Teacher, TeacherOutput, evaluate_teacher, load_teacher, save_teacher

__all__ = [
    # classmap.py
    "CITYSCAPES_CLASSES", "map_logits",
    # distill.py
    "MKAConfig", "MKAResult", "evaluate_miou", "train_mka",
    # fusion.py
    "MaskSet", "sam_masks",
    # mka.py
    "MKALoss",
    # pseudo.py
    "PseudoLabelDataset", "pseudo_label_dataset",
    # rectification.py
    "DarResult", "dar",
    # student.py
    "STUDENT_CONFIGS", "Student", "StudentOutput", "load_student",
    # teacher.py
    "TEACHERS", "Teacher", "TeacherOutput", "evaluate_teacher", "load_teacher", "save_teacher",
]
