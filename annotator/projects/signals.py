"""What the projects app announces; upper apps subscribe in their ``AppConfig.ready()``.

Sent after the transaction that stored the rows has committed, so a receiver that queues
work never races the rows it is about.
"""

from django.dispatch import Signal

# New images were stored: ``project`` (Project), ``image_ids`` (list[int]). Learning pre-labels
# them, prompting computes their embeddings.
images_added = Signal()
