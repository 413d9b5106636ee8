"""/static/ serves the pages' own files and nothing else from web_client/."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.web.pages import asset_path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in (
        "console/console.js", "console/console.css", "caller/i18n/cy.json", "console/notes.txt",
        "console/.hidden/x.js", "node_modules/leaflet/package.json", "node_modules/leaflet/dist/leaflet.js",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "package-lock.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize(
    "folder, name", [("console", "console.js"), ("console", "console.css"), ("caller", "i18n/cy.json")]
)
def test_page_assets_are_served(root: Path, folder: str, name: str) -> None:
    assert asset_path(folder, name, root) == (root / folder / name).resolve()


@pytest.mark.parametrize(
    "folder, name",
    [
        ("node_modules", "leaflet/package.json"),  # only the vendor dist folders, mounted apart
        ("node_modules", "leaflet/dist/leaflet.js"),
        ("console", "notes.txt"),  # not a page asset's kind
        ("console", ".hidden/x.js"),
        ("console", "../package.json"),
        ("console", "../../etc/passwd"),
        ("..", "package.json"),
        ("console", "missing.js"),
        ("package.json", "x"),
    ],
)
def test_everything_else_is_not(root: Path, folder: str, name: str) -> None:
    assert asset_path(folder, name, root) is None
