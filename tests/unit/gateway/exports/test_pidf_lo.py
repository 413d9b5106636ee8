"""A fix as PIDF-LO: a gs:Circle in WGS84 with its radius in metres, per RFC 4119 and RFC 5491."""

from xml.etree import ElementTree as ET

from gateway.exports.pidf_lo import METRE, NAMESPACES, WGS84_2D, pidf_lo

NS = {k or "pidf": v for k, v in NAMESPACES.items()}
FIX = {"id": 7, "latitude": 53.7997, "longitude": -1.5492, "accuracy": 15.0, "device_time": "2026-11-26T23:41:02.000Z"}


def test_a_fix_with_accuracy_is_a_circle_with_lat_lon_order_and_metres():
    doc = ET.fromstring(pidf_lo("pres:WYP-1@gw.example", FIX))
    assert doc.tag == "{urn:ietf:params:xml:ns:pidf}presence" and doc.get("entity") == "pres:WYP-1@gw.example"
    circle = doc.find("dm:device/gp:geopriv/gp:location-info/gs:Circle", NS)
    assert circle.get("srsName") == WGS84_2D
    assert circle.find("gml:pos", NS).text == "53.7997000 -1.5492000"
    radius = circle.find("gs:radius", NS)
    assert radius.get("uom") == METRE and radius.text == "15.0"


def test_method_usage_rules_and_timestamp_are_where_rfc_4119_puts_them():
    doc = ET.fromstring(pidf_lo("pres:x@y", FIX))
    geopriv = doc.find("dm:device/gp:geopriv", NS)
    assert [child.tag.split("}")[1] for child in geopriv] == ["location-info", "usage-rules", "method"]
    assert geopriv.find("gp:method", NS).text == "GPS"
    assert geopriv.find("gp:usage-rules/gbp:retransmission-allowed", NS).text == "false"
    assert doc.find("dm:device/dm:timestamp", NS).text == FIX["device_time"]


def test_a_fix_without_accuracy_is_a_point():
    doc = ET.fromstring(pidf_lo("pres:x@y", {**FIX, "accuracy": None}))
    assert doc.find(".//gml:Point/gml:pos", NS).text == "53.7997000 -1.5492000"
    assert doc.find(".//gs:Circle", NS) is None
