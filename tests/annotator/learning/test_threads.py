"""Model work runs on the configured torch thread count and leaves the process's count as it was."""

from __future__ import annotations

import pytest
import torch

from annotator.torch_threads import torch_threads


def test_torch_threads_sets_the_count_for_the_block_and_restores_it() -> None:
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError), torch_threads(other):  # restored on errors too
        raise RuntimeError("model failed")
    assert torch.get_num_threads() == before
    with torch_threads(0):  # 0: torch's default, untouched
        assert torch.get_num_threads() == before


@pytest.mark.django_db
def test_a_pre_label_runs_on_the_configured_threads(project, settings, monkeypatch) -> None:
    """The real universal model on a real image: the forward pass sees PRELABEL_THREADS."""
    from annotator.learning.adapters import universal
    from ml.universal.predictor import UniversalPredictor
    from tests.annotator.learning.conftest import add_images

    seen: list[int] = []
    real_predict = UniversalPredictor.predict

    def recording_predict(self, image):
        seen.append(torch.get_num_threads())
        return real_predict(self, image)

    monkeypatch.setattr(UniversalPredictor, "predict", recording_predict)
    settings.ANNOTATOR = {**settings.ANNOTATOR, "PRELABEL_THREADS": 1}
    before = torch.get_num_threads()
    result = universal.predict(
        image=add_images(project, 1)[0], checkpoint=settings.ANNOTATOR["UNIVERSAL_CHECKPOINT"]
    )
    assert seen == [1] and 0.0 <= result.uncertainty <= 1.0
    assert torch.get_num_threads() == before
