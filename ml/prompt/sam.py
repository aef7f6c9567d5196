"""SAM prompt engine on ``segment_anything``: embed once, decode per click.

The embedding stores SAM's image features (float16 on the wire) plus the original and
resized input sizes, which is everything ``SamPredictor`` needs: restoring sets
``features``, ``original_size``, ``input_size`` and ``is_image_set`` with no encoder pass.
"""

from __future__ import annotations

import copy
import gc
import logging
import threading
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor
from segment_anything.modeling import Sam

from ml.precision import resolve_precision as resolve_common
from ml.prompt.engine import (
    Embedding,
    EngineBase,
    Prompts,
    SegmentResult,
    check_image,
    result_score,
    validate_prompts,
)
from ml.prompt.sam_models import file_sha256, load_sam

# A previous bool mask becomes SAM's low-resolution mask logits as +/- this value: large enough
# to be confidently in/out after SAM's sigmoid, small enough to stay within the range of
# logits the decoder produces itself.
PREVIOUS_MASK_LOGIT = 8.0

log = logging.getLogger(__name__)


def resolve_precision(precision: str) -> str:
    """SAM's ``precision`` (``ml.precision``): ``auto`` is ``bf16`` where the CPU has it natively.

    On such a CPU bfloat16 runs vit_b's encoder about 3x and its decoder about 2x faster
    (docs/bench.md); the low-resolution masks agree with float32 on more than 99% of their
    pixels. ``fp32`` is exact, and the right choice on CPUs where bfloat16 would be emulated.
    """
    return resolve_common(precision, what="SAM")


class ClickDecoder:
    """SAM's prompt encoder + mask decoder as they run on every click.

    * In the engine's precision: for ``bf16`` the decoder is a bfloat16 copy (casting its
      weights on every call, as autocast does, costs more than the decoder's own matmuls).
    * The dense positional encoding, the same for every click, is computed once.
    * With ``compile=True`` the first call starts ``torch.compile`` (dynamic shapes, so any
      number of points needs no recompile) in a background thread; calls keep running the
      plain decoder until the compiled one is ready, so no click waits for the compiler.
      If compiling fails the plain decoder stays, with a warning in the log.
    """

    def __init__(self, sam: Sam, *, precision: str, compile: bool) -> None:
        self.prompt_encoder = sam.prompt_encoder
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.decoder = (
            copy.deepcopy(sam.mask_decoder).to(self.dtype) if precision == "bf16" else sam.mask_decoder
        )
        with torch.inference_mode():
            self.dense_pe = self.prompt_encoder.get_dense_pe().to(self.dtype)
        self._run = self.decoder
        self.compile_enabled = compile
        self._compile_started = False
        self.compiled = threading.Event()  # set once the compiled decoder serves (or compiling failed)

    def __call__(self, features: torch.Tensor, points, boxes, masks) -> tuple[torch.Tensor, torch.Tensor]:
        """(1, 256, g, g) features in ``dtype`` + prompts -> float32 (low-res logits (1, 3, 4g, 4g), IoU (1, 3))."""
        if self.compile_enabled and not self._compile_started:
            self._compile_started = True
            threading.Thread(
                target=self._compile, args=(features,), daemon=True, name="sam-decoder-compile"
            ).start()
        return self._decode(self._run, features, points, boxes, masks)

    def _decode(self, decoder, features, points, boxes, masks) -> tuple[torch.Tensor, torch.Tensor]:
        sparse, dense = self.prompt_encoder(points=points, boxes=boxes, masks=masks)
        low_res, iou_pred = decoder(
            image_embeddings=features,
            image_pe=self.dense_pe,
            sparse_prompt_embeddings=sparse.to(self.dtype),
            dense_prompt_embeddings=dense.to(self.dtype),
            multimask_output=True,
        )
        return low_res.float(), iou_pred.float()

    def _compile(self, features: torch.Tensor) -> None:
        try:
            import torch._inductor.config as inductor_config

            inductor_config.compile_threads = 1  # compile in this process: no worker pool in a web server
            compiled = torch.compile(self.decoder, dynamic=True)
            side = self.prompt_encoder.input_image_size[0]
            with torch.inference_mode():  # two points + the padding token: no size-1 specialisation
                points = (torch.rand(1, 2, 2) * side, torch.ones(1, 2, dtype=torch.int64))
                self._decode(compiled, torch.zeros_like(features), points, None, None)
            self._run = compiled
            # Compiling leaves several hundred thousand long-lived Python objects (graphs, guards,
            # kernels). Python's full GC pass scans every tracked object: here ~300 ms, landing on
            # whichever click allocates enough (a noisy mask's polygon) to trigger it. Frozen
            # objects are never scanned again.
            gc.freeze()
            log.info("SAM decoder compiled")
        except Exception:  # the plain decoder is correct, only slower
            log.warning("torch.compile of the SAM decoder failed; decoding without it", exc_info=True)
        finally:
            self.compiled.set()


class SamEngine(EngineBase):
    """Segment Anything with a given model; ``engine_id`` = ``sam-<type>-<sha256[:12]>``.

    Holds predictor state, so use one instance per worker thread (or process)."""

    def __init__(
        self,
        sam: Sam,
        *,
        model_type: str,
        weights_id: str,
        precision: str = "auto",
        compile: bool = False,
    ) -> None:
        self.model = sam.eval()
        self.precision = resolve_precision(precision)
        self.decoder = ClickDecoder(self.model, precision=self.precision, compile=compile)
        self._features: torch.Tensor | None = None  # the predictor's features, in the decoder's dtype
        self.model_type = model_type
        self.engine_id = f"sam-{model_type}-{weights_id}"
        self.predictor = SamPredictor(self.model)
        # The embedding now in the predictor; holding the object (not its id()) means a new
        # embedding can never be mistaken for it after the old one is freed.
        self._restored: Embedding | None = None

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path,
        model_type: str = "vit_b",
        *,
        precision: str = "auto",
        compile: bool = False,
    ) -> SamEngine:
        """Load weights safely on the CPU (``weights_only=True``); the id hashes the file."""
        sam, resolved_type = load_sam(checkpoint, model_type)
        return cls(
            sam,
            model_type=resolved_type,
            weights_id=file_sha256(checkpoint)[:12],
            precision=precision,
            compile=compile,
        )

    @classmethod
    def random_weights(
        cls,
        model_type: str = "vit_b",
        *,
        seed: int = 0,
        precision: str = "auto",
        compile: bool = False,
    ) -> SamEngine:
        """Same compute as the real model, random weights: for latency benchmarks only."""
        from ml.prompt.sam_models import build_sam

        torch.manual_seed(seed)
        return cls(
            build_sam(model_type),
            model_type=model_type,
            weights_id=f"random{seed}",
            precision=precision,
            compile=compile,
        )

    # ------------------------------------------------------------------ embed

    @torch.inference_mode()
    def embed(self, image: np.ndarray) -> Embedding:
        """Run the image encoder once (the expensive step). ``image``: RGB uint8 (H, W, 3)."""
        image = check_image(image)
        # The encoder's big matmuls amortise autocast's casts (unlike the decoder's, see ClickDecoder).
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16"):
            self.predictor.set_image(image, image_format="RGB")
        features = self.predictor.features
        assert features is not None
        self._features = features.to(self.decoder.dtype)
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
        self._features = p.features.to(self.decoder.dtype)
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

        assert self._features is not None
        low_res, iou_pred = self.decoder(self._features, points, boxes, mask_input)
        best = int(torch.argmax(iou_pred[0]))
        # Upsample only the chosen mask, straight from its valid low-res window to the original
        # size: one interpolation instead of SAM's two (via 1024 x 1024), same geometry.
        lh, lw = low_res.shape[-2:]
        side = self.model.image_encoder.img_size
        ih, iw = p.input_size
        window = low_res[:, best : best + 1, : max(1, round(ih * lh / side)), : max(1, round(iw * lw / side))]
        logits = F.interpolate(window, size=p.original_size, mode="bilinear", align_corners=False)
        mask = (logits[0, 0] > self.model.mask_threshold).cpu().numpy()
        # SAM's predicted IoU of the chosen mask; for a box, capped by how well the mask fills it.
        score = result_score(iou_pred[0, best].item(), mask, prompts)
        return SegmentResult(mask=mask, score=score, engine_id=self.engine_id)

    def _mask_to_logits(self, mask: np.ndarray) -> torch.Tensor:
        """Bool (H, W) mask -> (1, 1, 4g, 4g) logits in SAM's padded low-res input frame."""
        p = self.predictor
        ih, iw = p.input_size
        m = torch.from_numpy(np.asarray(mask, dtype=np.float32))[None, None]
        m = F.interpolate(m, size=(ih, iw), mode="bilinear", align_corners=False)
        side = self.model.image_encoder.img_size
        m = F.pad(m, (0, side - iw, 0, side - ih))
        low = F.interpolate(
            m, size=self.model.prompt_encoder.mask_input_size, mode="bilinear", align_corners=False
        )
        return (low * 2.0 - 1.0) * PREVIOUS_MASK_LOGIT
