"""Reading a stored image into the array the ``ml`` package expects."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from annotator.projects.models import Image


def load_rgb(image: Image) -> np.ndarray:
    """(height, width, 3) uint8 RGB; EXIF orientation was already applied at upload."""
    with image.file.open("rb") as fh, PILImage.open(fh) as pil:
        return np.asarray(pil.convert("RGB"))
