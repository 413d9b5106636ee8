"""Client JSON is parsed with a limit on nesting, counted without recursion."""

import pytest

from gateway.jsonlimits import TooDeep, loads, nesting_depth


@pytest.mark.parametrize("text,depth", [
    ("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "]]"]', 1), (r'["\"[[["]', 1),
])
def test_depth_counts_brackets_outside_strings(text, depth):
    assert nesting_depth(text) == depth


def test_deep_input_is_refused_before_parsing_and_shallow_input_parsed():
    with pytest.raises(TooDeep):
        loads("[" * 5000 + "]" * 5000)
    with pytest.raises(TooDeep):
        loads(b"[" * 100_000)
    assert loads(b'{"fixes": [{"seq": 1}]}') == {"fixes": [{"seq": 1}]}
    assert loads("[" * 32 + "]" * 32) is not None


def test_bytes_that_are_not_utf8_are_a_value_error():
    with pytest.raises(ValueError):
        loads(b'{"a": "\xff"}')
