from django.core.management.base import BaseCommand

from annotator.universal.schedule import base_schedule_ensure


class Command(BaseCommand):
    help = "Create (or re-time) the periodic check that retrains the universal base when enough data arrived."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=None, help="seconds between checks")

    def handle(self, *args, every=None, **options):
        task = base_schedule_ensure(every_seconds=every)
        self.stdout.write(
            f"{task.name}: every {task.interval.every} s ({'enabled' if task.enabled else 'disabled'})"
        )
