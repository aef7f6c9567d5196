from django.core.management.base import BaseCommand, CommandError

from annotator.jobs.schedule import PERIODIC_CHECKS, periodic_task_ensure


class Command(BaseCommand):
    help = "Create the periodic checks run by celery beat (all, or the named ones; --every re-times them)."

    def add_arguments(self, parser):
        parser.add_argument(
            "checks", nargs="*", help=f"which checks (default: all): {', '.join(PERIODIC_CHECKS)}"
        )
        parser.add_argument("--every", type=int, default=None, help="seconds between checks")

    def handle(self, *args, checks=(), every=None, **options):
        unknown = sorted(set(checks) - set(PERIODIC_CHECKS))
        if unknown:
            raise CommandError(f"Unknown check(s) {', '.join(unknown)}; use {', '.join(PERIODIC_CHECKS)}")
        for key in checks or PERIODIC_CHECKS:
            task = periodic_task_ensure(key=key, every_seconds=every)
            self.stdout.write(
                f"{key}: {task.name}: every {task.interval.every} {task.interval.period}, enabled={task.enabled}"
            )
