"""The universal instance-segmentation model: a compact CPU-trainable UNet with instance grouping.

Entry points: :class:`ml.universal.predictor.UniversalPredictor`,
:func:`ml.universal.finetune.fine_tune`, :mod:`ml.universal.evaluate`, :mod:`ml.universal.train`.
"""
