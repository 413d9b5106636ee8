"""AML messages, SMS text and HTTPS form, parsed into one report.

Every expected value below was worked out by hand from the message text: the ``ml`` lengths by
counting characters field by field (e.g. ``A"ML=1;`` 7, ``lt=+53.80010;`` 13, ``lg=-1.54920;`` 12,
``rd=12;`` 6, ``top=...;`` 19, ``lc=68;`` 6, ``pm=G;`` 5, ``si=...;`` 19, ``ei=...;`` 19,
``mcc=234;`` 8, ``mnc=15;`` 7, ``ml=127`` 6: 127 in all).
"""

from datetime import UTC, datetime

import pytest

from gis.aml import AmlError, parse_https, parse_sms

LEEDS = (
    'A"ML=1;lt=+53.80010;lg=-1.54920;rd=12;top=20260301120000;lc=68;pm=G;'
    "si=234150000000000;ei=356938035643809;mcc=234;mnc=15;ml=127"
)
NO_FIX = (
    'A"ML=1;lt=+00.00000;lg=+000.00000;rd=N;top=20260301120005;lc=0;pm=N;'
    "si=234150000000000;ei=356938035643809;mcc=234;mnc=15;ml=127"
)


class TestSmsText:
    def test_a_position_with_its_radius_time_and_method(self):
        report = parse_sms(LEEDS)
        assert report.transport == "sms"
        assert report.fix is not None
        assert report.fix.latitude == 53.8001
        assert report.fix.longitude == -1.5492
        assert report.fix.accuracy == 12.0
        assert report.fix.time == datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
        assert report.method == "gnss"
        assert report.confidence == 68.0
        assert (report.imei, report.imsi, report.mcc, report.mnc) == (
            "356938035643809", "234150000000000", "234", "15",
        )
        assert report.msisdn is None  # the number comes from the SMS envelope, not the text

    def test_no_fix_is_a_report_without_a_position(self):
        # 7 + 13 ("lt=+00.00000;") + 14 ("lg=+000.00000;") + 5 ("rd=N;") + 19 + 5 ("lc=0;")
        # + 5 ("pm=N;") + 19 + 19 + 8 + 7 + 6 = 127
        report = parse_sms(NO_FIX)
        assert report.fix is None
        assert report.method == "none"

    def test_a_radius_of_n_means_no_fix_even_with_coordinates(self):
        text = LEEDS.replace("rd=12;", "rd=N;").replace("ml=127", "ml=126")
        assert parse_sms(text).fix is None

    def test_missing_latitude_means_no_fix(self):
        # drop "lt=+53.80010;" (13 characters): 127 - 13 = 114
        text = LEEDS.replace("lt=+53.80010;", "").replace("ml=127", "ml=114")
        assert parse_sms(text).fix is None

    def test_wifi_and_cell_methods(self):
        assert parse_sms(LEEDS.replace("pm=G", "pm=W")).method == "wifi"
        assert parse_sms(LEEDS.replace("pm=G", "pm=C")).method == "cell"

    def test_a_length_that_disagrees_with_ml_is_refused(self):
        with pytest.raises(AmlError, match="ml says 126"):
            parse_sms(LEEDS.replace("ml=127", "ml=126"))

    def test_a_text_cut_short_is_refused(self):
        with pytest.raises(AmlError, match="ml is missing"):
            parse_sms(LEEDS[:100])

    def test_a_trailing_newline_from_the_modem_is_not_part_of_the_length(self):
        assert parse_sms(LEEDS + "\r\n").fix is not None

    @pytest.mark.parametrize("text", ["hello", "", "AML=1;ml=10", 'A"ML=2;ml=11'])
    def test_other_texts_are_not_aml(self, text):
        with pytest.raises(AmlError):
            parse_sms(text)

    def test_an_unreadable_latitude_is_an_error_not_a_silent_zero(self):
        text = LEEDS.replace("lt=+53.80010", "lt=+53.8O010")  # a letter O
        with pytest.raises(AmlError, match="lt is not a number"):
            parse_sms(text)

    def test_a_position_off_the_earth_is_refused(self):
        text = LEEDS.replace("lt=+53.80010", "lt=+93.80010")
        with pytest.raises(AmlError, match="unusable position"):
            parse_sms(text)

    def test_a_duplicated_field_is_refused(self):
        # "lc=68;" appears twice: 127 + 6 = 133
        text = LEEDS.replace("lc=68;", "lc=68;lc=68;").replace("ml=127", "ml=133")
        with pytest.raises(AmlError, match="twice"):
            parse_sms(text)


class TestHttpsForm:
    FORM = {
        "v": "1",
        "emergency_number": "999",
        "source": "call",
        "time": "1772366400000",  # 2026-03-01T12:00:00Z: 20513 days * 86400 s + 12 h, in ms
        "location_latitude": "53.7997",
        "location_longitude": "-1.5492",
        "location_time": "1772366410500",  # ten and a half seconds later
        "location_accuracy": "18.5",
        "location_source": "gps",
        "location_confidence": "0.6827",
        "location_bearing": "90",
        "location_speed": "1.5",
        "device_number": "+447700900123",
        "device_imei": "356938035643809",
        "device_imsi": "234150000000000",
        "cell_network_mcc": "234",
        "cell_network_mnc": "15",
    }

    def test_every_field_lands_where_it_belongs(self):
        report = parse_https(self.FORM)
        assert report.transport == "https"
        assert report.fix is not None
        assert (report.fix.latitude, report.fix.longitude, report.fix.accuracy) == (53.7997, -1.5492, 18.5)
        assert report.fix.time == datetime(2026, 3, 1, 12, 0, 10, 500000, tzinfo=UTC)
        assert report.call_time == datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
        assert (report.fix.heading, report.fix.speed) == (90.0, 1.5)
        assert report.method == "gnss"
        assert report.confidence == 68.27
        assert report.msisdn == "+447700900123"
        assert report.emergency_number == "999"
        assert (report.mcc, report.mnc) == ("234", "15")

    def test_without_coordinates_there_is_no_fix(self):
        form = {k: v for k, v in self.FORM.items() if k != "location_latitude"}
        report = parse_https(form)
        assert report.fix is None
        assert report.msisdn == "+447700900123"

    def test_no_accuracy_is_a_fix_without_a_radius(self):
        form = {k: v for k, v in self.FORM.items() if k != "location_accuracy"}
        fix = parse_https(form).fix
        assert fix is not None and fix.accuracy is None

    def test_wifi_and_unknown_sources(self):
        assert parse_https({**self.FORM, "location_source": "wifi"}).method == "wifi"
        assert parse_https({**self.FORM, "location_source": "bluetooth"}).method == "unknown"

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("location_latitude", "north", "location_latitude is not a number"),
            ("location_accuracy", "-3", "accuracy must not be negative"),
            ("location_confidence", "68", "between 0 and 1"),
            ("location_time", "nan", "not a finite number"),
            ("device_number", "robert'); drop", "not a telephone number"),
        ],
    )
    def test_damaged_fields_are_errors(self, field, value, message):
        with pytest.raises(AmlError, match=message):
            parse_https({**self.FORM, field: value})
