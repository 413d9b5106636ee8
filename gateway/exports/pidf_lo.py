"""PIDF-LO location documents (RFC 4119, with the geodetic shapes of RFC 5491).

A fix becomes a ``gs:Circle``: the WGS84 point (``gml:pos`` is "latitude longitude") and the
accuracy radius in metres, with the method and the time the device took it. Pure: values in, text
out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

NAMESPACES = {
    "": "urn:ietf:params:xml:ns:pidf",
    "gp": "urn:ietf:params:xml:ns:pidf:geopriv10",
    "gbp": "urn:ietf:params:xml:ns:pidf:geopriv10:basicPolicy",
    "gml": "http://www.opengis.net/gml",
    "gs": "http://www.opengis.net/pidflo/1.0",
    "dm": "urn:ietf:params:xml:ns:pidf:data-model",
}
WGS84_2D = "urn:ogc:def:crs:EPSG::4326"
METRE = "urn:ogc:def:uom:EPSG::9001"
MEDIA_TYPE = "application/pidf+xml"

for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)


def _q(prefix: str, tag: str) -> str:
    return f"{{{NAMESPACES[prefix]}}}{tag}"


def pidf_lo(entity: str, fix: Mapping[str, Any], method: str = "GPS") -> str:
    """A PIDF-LO document for one fix (latitude, longitude, accuracy in metres, device_time)."""
    root = ET.Element(_q("", "presence"), {"entity": entity})
    device = ET.SubElement(root, _q("dm", "device"), {"id": f"fix-{fix.get('id', 'latest')}"})
    geopriv = ET.SubElement(device, _q("gp", "geopriv"))
    info = ET.SubElement(geopriv, _q("gp", "location-info"))
    position = f"{fix['latitude']:.7f} {fix['longitude']:.7f}"
    accuracy = fix.get("accuracy")
    if accuracy:
        circle = ET.SubElement(info, _q("gs", "Circle"), {"srsName": WGS84_2D})
        ET.SubElement(circle, _q("gml", "pos")).text = position
        ET.SubElement(circle, _q("gs", "radius"), {"uom": METRE}).text = f"{accuracy:.1f}"
    else:
        point = ET.SubElement(info, _q("gml", "Point"), {"srsName": WGS84_2D})
        ET.SubElement(point, _q("gml", "pos")).text = position
    rules = ET.SubElement(geopriv, _q("gp", "usage-rules"))
    ET.SubElement(rules, _q("gbp", "retransmission-allowed")).text = "false"
    ET.SubElement(geopriv, _q("gp", "method")).text = method
    when = fix.get("device_time") or fix.get("received_at")
    if when:
        ET.SubElement(device, _q("dm", "timestamp")).text = when
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
