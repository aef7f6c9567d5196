"""The demo's processes: training has a worker of its own, so it never holds up pre-labels or exports."""

from pathlib import Path

from django.conf import settings

from annotator.projects.management.commands.demo import demo_commands


def _queues(command: list[str]) -> set[str]:
    return set(command[command.index("-Q") + 1].split(",")) if "-Q" in command else set()


def test_training_runs_on_its_own_worker_and_every_routed_queue_has_one():
    commands = demo_commands("python", 8000, Path("/tmp/var"))
    workers = {name: _queues(cmd) for name, cmd in commands.items() if "worker" in cmd}
    assert workers == {"worker+beat": {"default", "inference"}, "training worker": {"training"}}
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed == {"default", "inference", "training"}
    names = [cmd[cmd.index("-n") + 1] for name, cmd in commands.items() if name in workers]
    assert len(set(names)) == 2  # distinct node names: both run side by side on one host
    for task in ("annotator.learning.tasks.pre_label_image", "annotator.datasets.tasks.export_coco"):
        assert settings.CELERY_TASK_ROUTES[task]["queue"] not in workers["training worker"]
    assert settings.CELERY_TASK_ROUTES["annotator.learning.tasks.train_model"]["queue"] == "training"
