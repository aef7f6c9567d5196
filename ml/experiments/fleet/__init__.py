"""The fleet proof: three teams' data retrain the base, generation after generation (``simulate``)."""
