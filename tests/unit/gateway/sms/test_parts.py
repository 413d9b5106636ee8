"""Counting SMS parts: GSM 03.38 septets or UCS-2 code units, one part or several.

Every expected value is worked out by hand in the comment beside it from the rules: one part holds
160 septets / 70 code units; each part of a longer message holds 153 / 67; an extension character
is 2 septets, a character outside the BMP 2 code units, and neither pair is split between parts.
"""

import pytest

from gateway.sms.parts import SmsParts, count_parts


@pytest.mark.parametrize("text, expected", [
    # nothing to send is still one (empty) message
    ("", SmsParts("GSM-7", 0, 1)),
    # 160 plain letters fill one part exactly
    ("a" * 160, SmsParts("GSM-7", 160, 1)),
    # 161 no longer fit: 153 + 8, two parts
    ("a" * 161, SmsParts("GSM-7", 161, 2)),
    # 2 x 153 = 306 fill two parts; 307 needs a third
    ("a" * 306, SmsParts("GSM-7", 306, 2)),
    ("a" * 307, SmsParts("GSM-7", 307, 3)),
    # é, ü, Ç, @, £ are in the default alphabet: one septet each, 5 in all
    ("éüÇ@£", SmsParts("GSM-7", 5, 1)),
    # € is an extension character: 80 of them are 160 septets, still one part
    ("€" * 80, SmsParts("GSM-7", 160, 1)),
    # 81 are 162 septets; a part of a long message takes 76 of them (152: a 77th would make 154),
    # so 81 need 2 parts
    ("€" * 81, SmsParts("GSM-7", 162, 2)),
    # [ ] { } \ ~ ^ | : 8 extension characters, 16 septets, plus "x" = 17
    ("x[]{}\\~^|", SmsParts("GSM-7", 17, 1)),
    # 152 + 2 + 152 = 306 septets, which two full parts would hold, but the € cannot be split:
    # part 1 is the first 152 letters, part 2 the € and 151 letters (153), part 3 the last letter
    ("a" * 152 + "€" + "a" * 152, SmsParts("GSM-7", 306, 3)),
])
def test_gsm_texts(text, expected):
    assert count_parts(text) == expected


@pytest.mark.parametrize("text, expected", [
    # one ł is not in the GSM alphabet: the whole text goes as UCS-2, 1 unit a character
    ("Zażółć", SmsParts("UCS-2", 6, 1)),
    ("a" * 69 + "ł", SmsParts("UCS-2", 70, 1)),
    # 71 code units: 67 + 4, two parts (as GSM the same 71 letters would be one)
    ("a" * 70 + "ł", SmsParts("UCS-2", 71, 2)),
    # 2 x 67 = 134 fill two parts; 135 need three
    ("ą" * 134, SmsParts("UCS-2", 134, 2)),
    ("ą" * 135, SmsParts("UCS-2", 135, 3)),
    # Arabic, Gurmukhi: one code unit per character, vowel signs included (ਕੈ is 2)
    ("ابقَ", SmsParts("UCS-2", 4, 1)),
    ("ਕੈਮਰਾ", SmsParts("UCS-2", 5, 1)),
    # the right-to-left mark is a character like any other: 1 unit, and not GSM
    ("\u200fabc", SmsParts("UCS-2", 4, 1)),
    # an emoji is outside the BMP: 2 code units; 35 of them are 70, one part
    ("\U0001F600" * 35, SmsParts("UCS-2", 70, 1)),
    # 36 are 72 units; a part takes 33 (66: a 34th would make 68), so two parts
    ("\U0001F600" * 36, SmsParts("UCS-2", 72, 2)),
    # 66 + 2 + 66 = 134 units, but the pair cannot be split: 66 | pair + 65 | 1, three parts
    ("a" * 66 + "\U0001F600" + "a" * 66, SmsParts("UCS-2", 134, 3)),
])
def test_ucs2_texts(text, expected):
    assert count_parts(text) == expected


def test_the_count_is_reported_for_the_console():
    assert count_parts("a" * 161).to_json() == {"count": 2, "encoding": "GSM-7", "units": 161}
