"""CLI: ``python -m ml.synth --domain D --count N --seed S --out DIR [--workers K]`` (``--contact-sheet PNG``).

``--domain`` takes one name, a comma-separated list, or ``all`` (the four original domains; the
photo-like ``racking_wall``, ``storeroom_shelf`` and ``no_package`` only when named)."""

from __future__ import annotations

import argparse

from tqdm import tqdm

from ml.synth.dataset import contact_sheet, write_dataset
from ml.synth.scene import ALL_DOMAINS


def _domains(value: str) -> str:
    if value != "all" and any(name not in ALL_DOMAINS for name in value.split(",")):
        raise argparse.ArgumentTypeError(
            f"unknown domain in {value!r}; choose from {', '.join(ALL_DOMAINS)} or 'all'"
        )
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate synthetic warehouse scenes with COCO masks.")
    parser.add_argument(
        "--domain",
        default="all",
        type=_domains,
        help=f"one of {', '.join(ALL_DOMAINS)}, a comma-separated list of them, or 'all' "
        "(the first four only)",
    )
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, nargs=2, default=[512, 512], metavar=("H", "W"))
    parser.add_argument("--out", help="output folder (images/ + annotations.json)")
    parser.add_argument(
        "--workers", type=int, default=1, help="processes rendering scenes (same files as one)"
    )
    parser.add_argument("--contact-sheet", help="instead write a 4x4 contact sheet PNG here")
    args = parser.parse_args(argv)
    if args.contact_sheet:
        print(contact_sheet(args.contact_sheet, seed=args.seed, domain=args.domain))
        return
    if not args.out:
        parser.error("--out is required unless --contact-sheet is given")
    with tqdm(total=args.count, unit="scene") as bar:
        path = write_dataset(
            args.out,
            args.domain,
            args.count,
            args.seed,
            tuple(args.size),
            progress=bar.update,
            workers=args.workers,
        )
    print(path)


if __name__ == "__main__":
    main()
