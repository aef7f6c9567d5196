"""What the annotations app announces; upper apps subscribe in their ``AppConfig.ready()``.

Sent after the transaction that stored the change has committed.
"""

from django.dispatch import Signal

# A reviewer accepted or rejected an image: ``project`` (Project), ``image_id`` (int), ``decision``
# ("accept" | "reject"). Learning recomputes the project's pre-label trust gate from the reviewed images.
image_reviewed = Signal()
