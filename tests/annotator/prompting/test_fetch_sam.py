"""fetch_sam: verified downloads, a clear failure offline, nothing kept on a bad checksum."""

import hashlib

import pytest
from django.core.management import CommandError, call_command


def test_download_is_verified_and_placed(tmp_path):
    source = tmp_path / "mirror.pth"
    source.write_bytes(b"weights" * 1000)
    out = tmp_path / "sam" / "sam_vit_b.pth"
    call_command(
        "fetch_sam",
        "--model",
        "vit_b",
        "--url",
        source.as_uri(),
        "--sha256",
        hashlib.sha256(source.read_bytes()).hexdigest(),
        "--out",
        str(out),
    )
    assert out.read_bytes() == source.read_bytes()
    assert not out.with_name(out.name + ".part").exists()


def test_checksum_mismatch_keeps_nothing(tmp_path):
    source = tmp_path / "tampered.pth"
    source.write_bytes(b"not the official weights")
    out = tmp_path / "sam_vit_b.pth"
    with pytest.raises(CommandError, match="sha256 mismatch"):
        call_command("fetch_sam", "--model", "vit_b", "--url", source.as_uri(), "--out", str(out))
    assert list(tmp_path.iterdir()) == [source]


def test_unreachable_host_fails_with_a_clear_message(tmp_path):
    # A port nothing listens on: the same code path as an offline machine, without relying on DNS.
    with pytest.raises(CommandError, match="looks offline") as info:
        call_command(
            "fetch_sam",
            "--model",
            "vit_b",
            "--url",
            "http://127.0.0.1:9/sam_vit_b_01ec64.pth",
            "--out",
            str(tmp_path / "sam.pth"),
        )
    assert "SAM_CHECKPOINT" in str(info.value)
    assert list(tmp_path.iterdir()) == []
