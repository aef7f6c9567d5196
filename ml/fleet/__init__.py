"""The fleet loop: one generation of the universal base trains the next.

Pure ``ml`` (no Django): merging every contributing team's COCO data with synthetic scenes
(:mod:`ml.fleet.data`), retraining the base from the current one (:mod:`ml.fleet.base`), the
multi-set promotion gate (:mod:`ml.fleet.gate`) and the three-team proof
(``python -m ml.experiments.fleet.simulate --json [--quick]``).
"""
