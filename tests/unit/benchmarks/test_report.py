"""A benchmark rewrites only its own section of the performance page."""

from __future__ import annotations

from benchmarks.report import machine, write_section


def test_a_section_is_replaced_in_place_and_the_rest_of_the_page_kept(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text(
        "# Performance\n\n<!-- a:begin -->\nold A\n<!-- a:end -->\n\nnotes\n\n<!-- b:begin -->\nB\n<!-- b:end -->\n"
    )
    write_section("<!-- a:begin -->", "<!-- a:end -->", "new A\n", doc=doc)
    assert doc.read_text() == (
        "# Performance\n\n<!-- a:begin -->\nnew A\n<!-- a:end -->\n\nnotes\n\n<!-- b:begin -->\nB\n<!-- b:end -->\n"
    )


def test_a_new_section_goes_after_the_named_one_or_at_the_end(tmp_path):
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\n<!-- a:begin -->\nA\n<!-- a:end -->\n\n<!-- c:begin -->\nC\n<!-- c:end -->\n")
    write_section("<!-- b:begin -->", "<!-- b:end -->", "B", after="<!-- a:end -->", doc=doc)
    write_section("<!-- d:begin -->", "<!-- d:end -->", "D", after="<!-- missing -->", doc=doc)
    assert doc.read_text().split() == [
        "#", "Performance", "<!--", "a:begin", "-->", "A", "<!--", "a:end", "-->",
        "<!--", "b:begin", "-->", "B", "<!--", "b:end", "-->",
        "<!--", "c:begin", "-->", "C", "<!--", "c:end", "-->",
        "<!--", "d:begin", "-->", "D", "<!--", "d:end", "-->",
    ]


def test_the_machine_is_named_with_its_load():
    described = machine()
    assert "logical CPUs" in described and "load average" in described
