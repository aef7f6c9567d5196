"""Experiments and harnesses beside the library: what the app never imports.

Each harness is a module with its own ``main`` (``python -m ml.experiments.<area>.<harness>``), as
detectron2 keeps its ``tools/`` and torchvision its ``references/``; figures go to ``docs/``.

* :mod:`ml.experiments.active`: the active-learning simulation and its headroom study.
* :mod:`ml.experiments.fleet`: the three-team proof of the fleet loop.
* :mod:`ml.experiments.universal`: the held-out-domain study and the grouping ceiling.
* :mod:`ml.experiments.prompt`: the simulated-clicker evaluation of the prompt engines.
"""
