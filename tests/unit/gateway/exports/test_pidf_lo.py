"""A fix as PIDF-LO: the shape RFC 4119 and RFC 5491 define, checked against their URNs as written there.

The namespaces, CRS and unit URNs are spelled out here rather than imported from the module, so a
typo in the module cannot pass its own test.
"""

from xml.etree import ElementTree as ET

from gateway.exports.pidf_lo import pidf_lo

NS = {
    "pidf": "urn:ietf:params:xml:ns:pidf",
    "gp": "urn:ietf:params:xml:ns:pidf:geopriv10",
    "gbp": "urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy",
    "dm": "urn:ietf:params:xml:ns:pidf:data-model",
    "gml": "http://www.opengis.net/gml",
    "gs": "http://www.opengis.net/pidflo/1.0",
}
FIX = {"id": 7, "latitude": 53.7997, "longitude": -1.5492, "accuracy": 15.0, "device_time": "2026-11-26T23:41:02.000Z"}


def test_a_fix_with_accuracy_is_a_circle_with_lat_lon_order_and_metres():
    doc = ET.fromstring(pidf_lo("pres:WYP-1@gw.example", FIX))
    assert doc.tag == "{urn:ietf:params:xml:ns:pidf}presence" and doc.get("entity") == "pres:WYP-1@gw.example"
    circle = doc.find("dm:device/gp:geopriv/gp:location-info/gs:Circle", NS)
    # RFC 5491 section 5.2.3: 2D WGS 84 is EPSG 4326, radius in metres is EPSG unit 9001.
    assert circle.get("srsName") == "urn:ogc:def:crs:EPSG::4326"
    assert circle.find("gml:pos", NS).text == "53.7997000 -1.5492000"
    radius = circle.find("gs:radius", NS)
    assert radius.get("uom") == "urn:ogc:def:uom:EPSG::9001" and radius.text == "15.0"
    assert list(circle) == [circle.find("gml:pos", NS), radius], "a Circle holds a pos then a radius"


def test_method_usage_rules_and_timestamp_are_where_rfc_4119_puts_them():
    doc = ET.fromstring(pidf_lo("pres:x@y", FIX))
    geopriv = doc.find("dm:device/gp:geopriv", NS)
    assert [child.tag for child in geopriv] == [
        "{urn:ietf:params:xml:ns:pidf:geopriv10}location-info",
        "{urn:ietf:params:xml:ns:pidf:geopriv10}usage-rules",
        "{urn:ietf:params:xml:ns:pidf:geopriv10}method",
    ]
    assert geopriv.find("gp:method", NS).text == "GPS"
    assert geopriv.find("gp:usage-rules/gbp:retransmission-allowed", NS).text == "false"
    assert doc.find("dm:device/dm:timestamp", NS).text == FIX["device_time"]


def test_a_fix_without_accuracy_is_a_point():
    doc = ET.fromstring(pidf_lo("pres:x@y", {**FIX, "accuracy": None}))
    point = doc.find(".//gml:Point", NS)
    assert point.get("srsName") == "urn:ogc:def:crs:EPSG::4326"
    assert point.find("gml:pos", NS).text == "53.7997000 -1.5492000"
    assert doc.find(".//gs:Circle", NS) is None
