"""GoodSAM: a teacher assistant (TA) trained on pinhole images, Distortion-Aware Rectification (DAR)
that fuses the TA with SAM's masks into ensemble logits and pseudo-labels on panoramas, and a compact
student distilled by Multi-level Knowledge Adaptation (MKA).

::

    from gsam_lab import goodsam, sam
    teacher = goodsam.load_teacher("tiny-synth")
    res = goodsam.dar(teacher, sam.load_sam("tiny-synth"), erp, windows="h", boundary=True, fusion="ctcf")
    student = goodsam.Student("b0")
"""
from .ablation import ABLATION_VARIANTS, AblationResult, run_ablation
from .classmap import CITYSCAPES_CLASSES, map_logits
from .distill import MKAConfig, MKAResult, train_mka
from .evaluate import confidence_curve, dar_labels, evaluate_labels, evaluate_miou
from .fusion import FUSION_RULES, MaskSet, pair_seam_masks, sam_masks
from .mka import MKALoss, feature_pca_rgb, standardize_channels
from .pseudo import PseudoLabelDataset, model_fingerprint, pseudo_label_dataset, pseudo_label_items
from .rectification import DarResult, dar, pad_band_to_erp
from .student import (
                      STUDENT_CONFIGS,
                      STUDENTS,
                      Student,
                      StudentOutput,
                      StudentSpec,
                      count_parameters,
                      list_students,
                      load_student,
                      register_student,
)
from .teacher import (
                      TEACHERS,
                      Teacher,
                      TeacherOutput,
                      TeacherSpec,
                      list_teachers,
                      load_teacher,
                      register_teacher,
                      save_teacher,
)
from .windows import Window, window_layout

__all__ = [
    # ablation.py
    "ABLATION_VARIANTS", "AblationResult", "run_ablation",
    # classmap.py
    "CITYSCAPES_CLASSES", "map_logits",
    # distill.py
    "MKAConfig", "MKAResult", "train_mka",
    # evaluate.py
    "confidence_curve", "dar_labels", "evaluate_labels", "evaluate_miou",
    # fusion.py
    "FUSION_RULES", "MaskSet", "pair_seam_masks", "sam_masks",
    # mka.py
    "MKALoss", "feature_pca_rgb", "standardize_channels",
    # pseudo.py
    "PseudoLabelDataset", "model_fingerprint", "pseudo_label_dataset", "pseudo_label_items",
    # rectification.py (DAR lives there: a dar.py would shadow the function)
    "DarResult", "dar", "pad_band_to_erp",
    # student.py
    "STUDENT_CONFIGS", "STUDENTS", "Student", "StudentOutput", "StudentSpec", "count_parameters", "list_students",
    "load_student", "register_student",
    # teacher.py
    "TEACHERS", "Teacher", "TeacherOutput", "TeacherSpec", "list_teachers", "load_teacher",
    "register_teacher", "save_teacher",
    # windows.py
    "Window", "window_layout",
]
