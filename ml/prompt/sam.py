"""SAM prompt engine on ``segment_anything``: embed once, decode per click.

The embedding stores SAM's image features (float16 on the wire) plus the original and
resized input sizes, which is everything ``SamPredictor`` needs: restoring sets
``features``, ``original_size``, ``input_size`` and ``is_image_set`` with no encoder pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor
from segment_anything.modeling import Sam

from ml.prompt.engine import Embedding, EngineBase, Prompts, SegmentResult, check_image, validate_prompts
from ml.prompt.sam_models import file_sha256, load_sam

# A previous bool mask becomes SAM's low-resolution mask logits as +/- this value: large enough
# to be confidently in/out after SAM's sigmoid, small enough to stay within the range of
# logits the decoder produces itself.
PREVIOUS_MASK_LOGIT = 8.0


class SamEngine(EngineBase):
    """Segment Anything with a given model; ``engine_id`` = ``sam-<type>-<sha256[:12]>``.

    Holds predictor state, so use one instance per worker thread (or process)."""

    def __init__(self, sam: Sam, *, model_type: str, weights_id: str) -> None:
        self.model = sam.eval()
        self.model_type = model_type
        self.engine_id = f"sam-{model_type}-{weights_id}"
        self.predictor = SamPredictor(self.model)
        # The embedding now in the predictor; holding the object (not its id()) means a new
        # embedding can never be mistaken for it after the old one is freed.
        self._restored: Embedding | None = None

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, model_type: str = "vit_b") -> SamEngine:
        """Load weights safely on the CPU (``weights_only=True``); the id hashes the file."""
        sam, resolved_type = load_sam(checkpoint, model_type)
        return cls(sam, model_type=resolved_type, weights_id=file_sha256(checkpoint)[:12])

    @classmethod
    def random_weights(cls, model_type: str = "vit_b", *, seed: int = 0) -> SamEngine:
        """Same compute as the real model, random weights: for latency benchmarks only."""
        from ml.prompt.sam_models import build_sam

        torch.manual_seed(seed)
        return cls(build_sam(model_type), model_type=model_type, weights_id=f"random{seed}")

    # ------------------------------------------------------------------ embed

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> Embedding:
        """Run the image encoder once (the expensive step). ``image``: RGB uint8 (H, W, 3)."""
        image = check_image(image)
        self.predictor.set_image(image, image_format="RGB")
        features = self.predictor.features
        assert features is not None
        h, w = image.shape[:2]
        embedding = Embedding(
            engine_id=self.engine_id,
            image_size=(h, w),
            arrays={"features": features[0].float().cpu().numpy()},
            meta={"input_size": list(self.predictor.input_size)},
        )
        self._restored = embedding  # the predictor now holds exactly these features
        return embedding

    def restore(self, embedding: Embedding) -> None:
        """Put a stored embedding into the predictor without running the encoder."""
        self._check_embedding(embedding)
        feats = torch.from_numpy(np.asarray(embedding.arrays["features"], dtype=np.float32))
        p = self.predictor
        p.reset_image()
        p.features = feats[None].to(p.device)
        p.original_size = tuple(embedding.image_size)
        p.input_size = tuple(int(v) for v in embedding.meta["input_size"])
        p.is_image_set = True
        self._restored = embedding

    # ------------------------------------------------------------------ segment

    @torch.inference_mode()
    def segment(self, embedding: Embedding, prompts: Prompts) -> SegmentResult:
        """Decode one mask: multimask output, the best of the three by predicted IoU."""
        h, w = embedding.image_size
        validate_prompts(prompts, w, h)
        if self._restored is not embedding:
            self.restore(embedding)
        p = self.predictor
        points = None
        if prompts.points:
            # SAM adds half a pixel to point coords itself (pixel indices -> centres); ours are
            # continuous pixel coords already, so shift back.
            coords = np.asarray(prompts.points, dtype=np.float64) - 0.5
            coords = p.transform.apply_coords(coords, p.original_size)
            points = (
                torch.as_tensor(coords, dtype=torch.float32)[None],
                torch.as_tensor(prompts.labels, dtype=torch.int64)[None],
            )
        boxes = None
        if prompts.box is not None:
            box = p.transform.apply_boxes(np.asarray(prompts.box, dtype=np.float64)[None], p.original_size)
            boxes = torch.as_tensor(box, dtype=torch.float32)
        mask_input = None
        if prompts.mask is not None:
            mask_input = self._mask_to_logits(prompts.mask)

        sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=mask_input)
        low_res, iou_pred = self.model.mask_decoder(
            image_embeddings=p.features,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
        )
        best = int(torch.argmax(iou_pred[0]))
        # Upsample only the chosen mask, straight from its valid low-res window to the original
        # size: one interpolation instead of SAM's two (via 1024 x 1024), same geometry.
        lh, lw = low_res.shape[-2:]
        side = self.model.image_encoder.img_size
        ih, iw = p.input_size
        window = low_res[:, best : best + 1, : max(1, round(ih * lh / side)), : max(1, round(iw * lw / side))]
        logits = F.interpolate(window, size=p.original_size, mode="bilinear", align_corners=False)
        mask = (logits[0, 0] > self.model.mask_threshold).cpu().numpy()
        score = float(np.clip(iou_pred[0, best].item(), 0.0, 1.0))
        return SegmentResult(mask=mask, score=score, engine_id=self.engine_id)

    def _mask_to_logits(self, mask: np.ndarray) -> torch.Tensor:
        """Bool (H, W) mask -> (1, 1, 4g, 4g) logits in SAM's padded low-res input frame."""
        p = self.predictor
        ih, iw = p.input_size
        m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
        m = F.interpolate(m, size=(ih, iw), mode="bilinear", align_corners=False)
        side = self.model.image_encoder.img_size
        m = F.pad(m, (0, side - iw, 0, side - ih))
        low = F.interpolate(m, size=self.model.prompt_encoder.mask_input_size, mode="bilinear",
                            align_corners=False)
        return (low * 2.0 - 1.0) * PREVIOUS_MASK_LOGIT
