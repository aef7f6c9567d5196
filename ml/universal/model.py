"""The universal instance-segmentation network: a compact UNet with three heads.

Input: float tensor (B, 3, H, W), RGB scaled to [0, 1], H and W multiples of 32.
Outputs (``forward`` returns a dict), all at half the input resolution (stride 2):

* ``semantic``: (B, C + 1, H/2, W/2) logits; channel 0 is background, channel k is category k.
* ``interior``: (B, 1, H/2, W/2) logits of the normalised distance to the instance border
  (1 at an instance's most interior pixel, 0 on its border and on background).
* ``features``: (B, D) image-level descriptor (global average pool of the bottleneck).
* ``centers`` (variants named ``*_centers``, ``*_center_branch``, ``*_center_tower`` and ``*_center_mobile``): (B, 3, H/2, W/2), a package-centre heatmap logit and
  the log width and log height (stride-2 pixels) of the package's box there (:mod:`ml.universal.centers`).

Instances are grouped from these maps in :mod:`ml.universal.grouping`. Modules hold no
configuration: the builders below pick widths, and ``MODELS`` names the variants.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2

# Initial centre-heatmap logit: sigmoid = 0.1, so the first steps' focal loss is not swamped by the
# many background pixels (the prior-probability initialisation of Lin et al., 2017, and CenterNet).
CENTER_PRIOR_LOGIT = -2.19


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )


class DownStage(nn.Sequential):
    """Halve the resolution with a strided 3x3 block, then ``depth - 1`` more 3x3 blocks."""

    def __init__(self, cin: int, cout: int, depth: int):
        super().__init__(ConvBNReLU(cin, cout, stride=2), *[ConvBNReLU(cout, cout) for _ in range(depth - 1)])


class UpStage(nn.Module):
    """Double the resolution, concatenate the encoder skip, fuse with one 3x3 block."""

    def __init__(self, cin: int, cskip: int, cout: int):
        super().__init__()
        self.fuse = ConvBNReLU(cin + cskip, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([x, skip], dim=1))


class CenterBranch(nn.Module):
    """A centre head with context of its own: the decoder's stride-16 and stride-8 features side by side
    (a hypercolumn, Hariharan et al., 2015), two 3x3 convolutions at stride 8, and the heatmap logit and
    log box sizes upsampled to stride 2. No BatchNorm, so it trains the same on a frozen network
    (``train``'s ``train_only``), whose statistics stay as they were.

    Why: a 3x3 block on the stride-2 features (``centers=True``) learned little on the eighth file's
    frozen features (real val box AP50 0.056); a carton's centre and extent are a matter of context,
    which the coarser decoder stages hold."""

    def __init__(self, c16: int, c8: int, width: int):
        super().__init__()
        self.fuse = nn.Sequential(
            nn.Conv2d(c16 + c8, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(width, 3, 1)
        assert self.out.bias is not None
        nn.init.constant_(self.out.bias[:1], CENTER_PRIOR_LOGIT)

    def forward(self, d16: torch.Tensor, d8: torch.Tensor, size: torch.Size) -> torch.Tensor:
        up = F.interpolate(d16, size=d8.shape[-2:], mode="bilinear", align_corners=False)
        out = self.out(self.fuse(torch.cat([up, d8], dim=1)))
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)


class CenterTower(nn.Module):
    """A centre head on a network of its own: a second trunk (``UniversalUNet`` with the 3x3 centre block),
    of which only the centre output is used. Its semantic and interior heads are kept, unused, so that
    its weights load from any checkpoint of the same widths (``centers.add_center_head``).

    Why: a trunk that learns centres on real photos doubled their box AP50 (the eleventh candidates,
    0.32 against 0.16), but moved the shared maps and lost the synthetic guard; centre heads on the
    shipped, frozen features (``centers=True``, ``CenterBranch``) learned little. A tower learns
    centres with a trunk of its own while the maps stay exactly as they were. The predictor runs it
    once per image, without the test-time flips, so it adds one pass, not four."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)["centers"]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The trunk's blocks (torchvision's ``features`` indices) whose outputs feed the decoder: strides 4, 8, 16, 32.
TAPS = (3, 6, 13, 17)
TAP_CHANNELS = (24, 32, 96, 320)
DECODER_WIDTH = 64
HEAD_WIDTH = 48
# The trunk's stride-2 block, whose output (16 channels) gives ``MobileMaps`` its fine detail, and that stage's width.
FINE_TAP, FINE_CHANNELS, FINE_WIDTH = 1, 16, 32
SIZE_PRIOR = math.log(16.0)  # initial log box side, stride-2 pixels: a 32 px carton in the network's input


def _conv_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True))


def _top_down_layers() -> tuple[nn.ModuleList, nn.ModuleList]:
    """``_top_down``'s layers: a 1x1 lateral per tap of ``TAP_CHANNELS``, a 3x3 smoothing block per merge."""
    lateral = nn.ModuleList(nn.Conv2d(c, DECODER_WIDTH, 1) for c in TAP_CHANNELS)
    smooth = nn.ModuleList(_conv_relu(DECODER_WIDTH, DECODER_WIDTH) for _ in TAP_CHANNELS[:-1])
    return lateral, smooth


def _top_down(taps: list[torch.Tensor], lateral: nn.ModuleList, smooth: nn.ModuleList) -> torch.Tensor:
    """An FPN top-down path (Lin et al., 2017) over ``taps`` (strides 4, 8, 16, 32): stride-4 features."""
    top = lateral[-1](taps[-1])
    for lat, smo, tap in zip(reversed(lateral[:-1]), reversed(smooth), reversed(taps[:-1]), strict=True):
        top = F.interpolate(top, size=tap.shape[-2:], mode="bilinear", align_corners=False)
        top = smo(top + lat(tap))
    return top


class MobileCenterNet(nn.Module):
    """MobileNetV2 trunk, top-down decoder to stride 4, centre head; ``forward`` returns ``{"centers": ...}``
    at half the input's resolution (B, 3, H/2, W/2), as ``CenterTower`` asks of its net. Input: RGB in [0, 1].
    Why a pretrained trunk, and where its weights come from: :mod:`ml.universal.backbone`."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*list(mobilenet_v2().features)[: TAPS[-1] + 1])
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.lateral, self.smooth = _top_down_layers()
        self.head = _conv_relu(DECODER_WIDTH, HEAD_WIDTH)
        self.out = nn.Conv2d(HEAD_WIDTH, 3, 1)
        assert self.out.bias is not None
        with torch.no_grad():
            self.out.bias.copy_(torch.tensor([CENTER_PRIOR_LOGIT, SIZE_PRIOR, SIZE_PRIOR]))

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The trunk's features of ``x`` at strides 2 (block ``FINE_TAP``), 4, 8, 16 and 32 (``TAPS``)."""
        x = (x - self.mean) / self.std
        taps = []
        for index, block in enumerate(self.features):
            x = block(x)
            if index == FINE_TAP or index in TAPS:
                taps.append(x)
        return taps

    def centres(self, taps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """The centre head's output (B, 3, ``size``) from ``taps``' last four."""
        out = self.out(self.head(_top_down(taps[-len(TAPS) :], self.lateral, self.smooth)))
        return F.interpolate(out, size=size, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"centers": self.centres(self.taps(x), (x.shape[-2] // 2, x.shape[-1] // 2))}


class MobileMaps(nn.Module):
    """Semantic and interior maps from a ``MobileCenterNet``'s trunk: a top-down path of its own, as wide as the
    tower's, to stride 4, then two 3x3 blocks at stride 2 on it and the trunk's stride-2 features (block
    ``FINE_TAP``), so that masks keep their edges. No BatchNorm, like the tower's decoder: it trains the same
    while ``train_only`` keeps the trunk's statistics."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.lateral, self.smooth = _top_down_layers()
        self.fine = nn.Sequential(
            _conv_relu(DECODER_WIDTH + FINE_CHANNELS, FINE_WIDTH), _conv_relu(FINE_WIDTH, FINE_WIDTH)
        )
        self.semantic = nn.Conv2d(FINE_WIDTH, num_classes + 1, 1)
        self.interior = nn.Conv2d(FINE_WIDTH, 1, 1)

    def forward(self, taps: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        fine = taps[0]
        top = F.interpolate(
            _top_down(taps[1:], self.lateral, self.smooth),
            size=fine.shape[-2:],
            mode="bilinear",
            align_corners=False,
        )
        x = self.fine(torch.cat([top, fine], dim=1))
        return {"semantic": self.semantic(x), "interior": self.interior(x)}


class MobileUniversalNet(nn.Module):
    """The maps and the centres on one pretrained MobileNetV2 trunk (``mobile_maps``): the eighteenth file's
    tower (``tower``, a ``MobileCenterNet``) and ``MobileMaps`` (``maps``) on its trunk. Same outputs as
    ``UniversalUNet``; ``features`` is the stride-32 tap's average (320 values).

    Why: the eighteenth's maps are a 0.7 M-parameter UNet trained from nothing on synthetic scenes; every
    continuation on real photos lost the val captures (the model card, "the twenty-first's arms"), as the
    tower did before it got a pretrained trunk. One trunk also costs one pass where the two networks cost two."""

    centers = None  # no separate centre network: the centres come with every pass (``predictor._forward``)

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.tower = MobileCenterNet()
        self.maps = MobileMaps(num_classes)

    def forward(self, x: torch.Tensor, tower: bool = True) -> dict[str, torch.Tensor]:
        """The maps of ``x``; ``tower=False`` leaves out the centres (a distillation teacher's pass)."""
        taps = self.tower.taps(x)
        out = {**self.maps(taps), "features": taps[-1].mean(dim=(2, 3))}
        if tower:
            out["centers"] = self.tower.centres(taps, (x.shape[-2] // 2, x.shape[-1] // 2))
        return out


class UniversalUNet(nn.Module):
    """Encoder (stride 2..32) - decoder (back to stride 2) with semantic and interior heads.

    ``enc_widths``/``enc_depths`` describe the five encoder stages (strides 2, 4, 8, 16, 32);
    ``dec_widths`` the four decoder stages (strides 16, 8, 4, 2).
    """

    def __init__(
        self,
        enc_widths: tuple[int, ...],
        enc_depths: tuple[int, ...],
        dec_widths: tuple[int, ...],
        num_classes: int,
        centers: bool | str = False,
    ):
        super().__init__()
        cins = (3, *enc_widths[:-1])
        self.encoder = nn.ModuleList(
            [DownStage(a, b, d) for a, b, d in zip(cins, enc_widths, enc_depths, strict=True)]
        )
        ups, cin = [], enc_widths[-1]
        for skip, cout in zip(reversed(enc_widths[:-1]), dec_widths, strict=True):
            ups.append(UpStage(cin, skip, cout))
            cin = cout
        self.decoder = nn.ModuleList(ups)
        self.refine = ConvBNReLU(cin, cin)
        self.semantic = nn.Conv2d(cin, num_classes + 1, 1)
        self.interior = nn.Conv2d(cin, 1, 1)
        # Centre heatmap and box size: one 3x3 block of its own (``centers=True``), so a continued base
        # learns it without bending the features the semantic and interior heads share; or, with
        # ``centers="branch"``, a ``CenterBranch`` on the coarser decoder stages; or, with ``centers="tower"``,
        # a ``CenterTower`` of the same widths; with ``centers="mobile"``, a ``CenterTower`` on ``MobileCenterNet``.
        self.centers: nn.Module | None = None
        if centers == "tower":
            self.centers = CenterTower(UniversalUNet(enc_widths, enc_depths, dec_widths, num_classes, True))
        elif centers == "mobile":
            self.centers = CenterTower(MobileCenterNet())
        elif centers == "branch":
            self.centers = CenterBranch(dec_widths[0], dec_widths[1], dec_widths[1])
        elif centers:
            self.centers = nn.Sequential(ConvBNReLU(cin, cin), nn.Conv2d(cin, 3, 1))
            head = self.centers[1]
            assert isinstance(head, nn.Conv2d) and head.bias is not None
            nn.init.constant_(head.bias[:1], CENTER_PRIOR_LOGIT)
        self.feature_dim = enc_widths[-1]

    def forward(self, x: torch.Tensor, tower: bool = True) -> dict[str, torch.Tensor]:
        """The maps of ``x``; ``tower=False`` leaves out a ``CenterTower``'s centres (the predictor runs
        it apart from the test-time flips)."""
        inputs = x
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        features = x.mean(dim=(2, 3))
        decoded = []
        for stage, skip in zip(self.decoder, reversed(skips[:-1]), strict=True):
            x = stage(x, skip)
            decoded.append(x)
        x = self.refine(x)
        out = {"semantic": self.semantic(x), "interior": self.interior(x), "features": features}
        if isinstance(self.centers, CenterTower):
            if tower:
                out["centers"] = self.centers(inputs)
        elif isinstance(self.centers, CenterBranch):
            out["centers"] = self.centers(decoded[0], decoded[1], x.shape[-2:])
        elif self.centers is not None:
            out["centers"] = self.centers(x)
        return out


def fuse_for_inference(model: UniversalNet) -> UniversalNet:
    """A copy of ``model`` in eval mode with every BatchNorm folded into the convolution before it: in
    ``ConvBNReLU`` and, in a ``MobileCenterNet``'s trunk, torchvision's conv-norm blocks and the linear 1x1
    at the end of each inverted residual (any ``nn.Sequential`` holding a Conv2d then a BatchNorm2d)."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(model).eval()
    for module in list(fused.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        for index in range(len(module) - 1):
            conv, norm = module[index], module[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                module[index] = fuse_conv_bn_eval(conv, norm)
                module[index + 1] = nn.Identity()
    return fused


def build_unet_xs(num_classes: int = 5) -> UniversalUNet:
    """Extra-small variant (~0.2 M parameters): the shipped base model."""
    return UniversalUNet((16, 24, 48, 64, 96), (1, 1, 2, 2, 2), (48, 32, 24, 16), num_classes)


def build_unet_s(num_classes: int = 5, centers: bool | str = False) -> UniversalUNet:
    """Small variant (~0.7 M parameters), twice the decoder width."""
    return UniversalUNet((16, 32, 64, 96, 128), (1, 2, 2, 2, 2), (64, 48, 32, 24), num_classes, centers)


def build_unet_m(num_classes: int = 5, centers: bool | str = False) -> UniversalUNet:
    """Medium variant (~1.55 M parameters): ``unet_s`` with every stage 1.5 times as wide, so a ``unet_s``
    checkpoint widens into it without changing its output (:mod:`ml.universal.widen`)."""
    return UniversalUNet((24, 48, 96, 144, 192), (1, 2, 2, 2, 2), (96, 72, 48, 36), num_classes, centers)


# Any registered network: the UNets, and the maps on the tower's trunk.
UniversalNet = UniversalUNet | MobileUniversalNet

MODELS: dict[str, Callable[..., UniversalNet]] = {
    "unet_xs": build_unet_xs,
    "unet_s": build_unet_s,
    "unet_m": build_unet_m,
    # With the centre head (``centers``), for ``ml.universal.centers``' instance formation.
    "unet_s_centers": functools.partial(build_unet_s, centers=True),
    "unet_m_centers": functools.partial(build_unet_m, centers=True),
    "unet_s_center_branch": functools.partial(build_unet_s, centers="branch"),
    "unet_s_center_tower": functools.partial(build_unet_s, centers="tower"),
    # The tower on a pretrained MobileNetV2 trunk (``MobileCenterNet``; ``ml.universal.backbone``).
    "unet_s_center_mobile": functools.partial(build_unet_s, centers="mobile"),
    # The maps on that trunk too (``MobileUniversalNet``; ``ml.universal.backbone.share_trunk``).
    "mobile_maps": MobileUniversalNet,
}


# Architecture-name suffixes of the centre-head variants.
CENTER_VARIANTS = ("centers", "center_branch", "center_tower", "center_mobile")


def has_center_head(architecture: str) -> bool:
    """Whether a registered architecture's network has a centre head (``ml.universal.centers``)."""
    return architecture == "mobile_maps" or architecture.endswith(tuple(f"_{v}" for v in CENTER_VARIANTS))


def build_model(name: str, num_classes: int = 5) -> UniversalNet:
    """Instantiate a registered architecture by name (see ``MODELS``)."""
    if name not in MODELS:
        raise KeyError(f"unknown architecture {name!r}; choose from {sorted(MODELS)}")
    return MODELS[name](num_classes)
