from django.core.management.base import BaseCommand

from annotator.learning.schedule import retrain_schedule_ensure


class Command(BaseCommand):
    help = "Create (or re-time with --every) the periodic retraining check run by celery beat."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=None, help="seconds between checks")

    def handle(self, *args, every=None, **options):
        task = retrain_schedule_ensure(every_seconds=every)
        self.stdout.write(
            f"{task.name}: every {task.interval.every} {task.interval.period}, enabled={task.enabled}"
        )
