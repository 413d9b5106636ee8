"""The outbox sender keeps each text as a file with the link's token masked, and masks the files
of releases that kept the link whole, once."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.links import link_url, mask_tokens, new_token
from gateway.sms.outbox import MASKED_MARK, OutboxSender, mask_folder


async def test_a_text_is_kept_with_its_token_masked(tmp_path: Path):
    token = new_token()
    body = f"999 Control Room: tap this link: {link_url('https://gw.example', token)}"
    result = await OutboxSender(tmp_path).send("+447700900123", body)
    kept = json.loads((tmp_path / f"{result.provider_ref}.json").read_text())
    assert kept["body"] == f"999 Control Room: tap this link: https://gw.example/c/{token[:4]}{'*' * 28}"


def test_files_written_whole_are_masked_once_and_the_rest_left_alone(tmp_path: Path):
    token = new_token()
    whole = {"id": "outbox-1", "to": "+447700900123", "body": f"tap https://gw.example/c/{token}"}
    (tmp_path / "outbox-1.json").write_text(json.dumps(whole, indent=2))
    (tmp_path / "outbox-2.json").write_text(json.dumps({**whole, "id": "outbox-2", "body": "no link here"}))
    before = (tmp_path / "outbox-2.json").stat().st_mtime_ns

    assert mask_folder(tmp_path) == 1
    assert json.loads((tmp_path / "outbox-1.json").read_text()) == {**whole, "body": mask_tokens(whole["body"])}
    assert token not in (tmp_path / "outbox-1.json").read_text()
    assert (tmp_path / "outbox-2.json").stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [MASKED_MARK, "outbox-1.json", "outbox-2.json"]
    # Once done, the folder is not read again (later files are written masked).
    (tmp_path / "outbox-3.json").write_text(json.dumps({**whole, "id": "outbox-3"}))
    assert mask_folder(tmp_path) == 0


def test_a_missing_folder_is_nothing_to_mask(tmp_path: Path):
    assert mask_folder(tmp_path / "outbox") == 0
    assert not (tmp_path / "outbox").exists()
