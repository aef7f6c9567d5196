"""``manage.py fetch_sam --model vit_b``: download an official SAM checkpoint and verify its sha256."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

# The official segment-anything checkpoints (github.com/facebookresearch/segment-anything).
OFFICIAL = {
    "vit_b": (
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
    ),
    "vit_l": (
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
    ),
    "vit_h": (
        "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
    ),
}
CHUNK = 1 << 20


class Command(BaseCommand):
    help = "Download an official SAM checkpoint (with a progress bar) and verify its sha256."

    def add_arguments(self, parser):
        parser.add_argument("--model", choices=sorted(OFFICIAL), default="vit_b")
        parser.add_argument("--out", type=Path, help="where to write it (default: var/models/sam/<file>)")
        parser.add_argument("--url", help="a mirror URL instead of the official one")
        parser.add_argument("--sha256", help="the expected sha256 when using a mirror of another file")

    def handle(self, *args, model: str, out: Path | None, url: str | None, sha256: str | None, **options):
        official_url, official_sha = OFFICIAL[model]
        url = url or official_url
        expected = (sha256 or official_sha).lower()
        out = out or Path(settings.VAR_DIR) / "models" / "sam" / Path(official_url).name
        if out.exists() and _sha256(out) == expected:
            self.stdout.write(f"{out} is already there and verified")
        else:
            self._download(url, out, expected)
        self.stdout.write(
            self.style.SUCCESS(
                f"Verified {model} checkpoint. Use it with:\n  SAM_MODEL_TYPE={model} SAM_CHECKPOINT={out.resolve()}"
            )
        )

    def _download(self, url: str, out: Path, expected: str) -> None:
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=30) as response, open(partial, "wb") as fh:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc=out.name, disable=None) as bar:
                    while chunk := response.read(CHUNK):
                        fh.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            partial.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            raise CommandError(
                f"Could not download {url}: {reason}. This machine looks offline or the host is blocked. "
                f"Download the file on a connected machine, copy it here and set SAM_CHECKPOINT to its path "
                f"(or run this command with --url pointing at a reachable mirror)."
            ) from exc
        actual = digest.hexdigest()
        if actual != expected:
            partial.unlink(missing_ok=True)
            raise CommandError(
                f"sha256 mismatch for {url}: expected {expected}, got {actual}; nothing was kept"
            )
        os.replace(partial, out)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
