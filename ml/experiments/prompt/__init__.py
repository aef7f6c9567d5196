"""The prompt engines scored by a simulated clicker on synthetic or COCO data (``evaluate``)."""
