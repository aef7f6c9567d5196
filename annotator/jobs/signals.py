"""What the jobs app announces; upper apps subscribe in their ``AppConfig.ready()``."""

from django.dispatch import Signal

# The reaper failed the running jobs whose worker stopped reporting: ``reaped`` (int). Learning
# fails the model versions those training runs left 'training'.
stale_jobs_reaped = Signal()
