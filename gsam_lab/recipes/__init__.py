"""Training recipes that make the models the lab ships (``data_scripts/`` runs them).

They live apart from the packages a student steps through (``gsam_lab.sam``, ``gsam_lab.stable_sam``,
``gsam_lab.goodsam``): a recipe is how a bundled file was made, not part of the methods taught.
"""
