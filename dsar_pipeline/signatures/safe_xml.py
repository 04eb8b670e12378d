"""Parsing untrusted XML (signature files, manifests) without the classic XML attacks.

Why a wrapper: lxml's defaults resolve entities and may load DTDs. Signature XML never needs a
DOCTYPE, so any DOCTYPE (billion laughs, external entities) is refused outright, the network is
never touched, and huge documents are refused by size before parsing.
"""

from __future__ import annotations

from lxml import etree

MAX_XML_BYTES = 2 * 1024 * 1024


class XmlError(ValueError):
    """The XML is malformed or uses a forbidden feature."""


def parse_xml(data: bytes) -> etree._Element:
    """Parse bytes into an element tree root, refusing DTDs, entities and oversized input."""
    if len(data) > MAX_XML_BYTES:
        raise XmlError("XML document is too large")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise XmlError("XML document contains a DOCTYPE or entity declaration")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        remove_comments=False,
        remove_pis=False,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError:
        raise XmlError("XML document is not well-formed") from None
    tree = root.getroottree()
    if tree.docinfo.doctype:
        raise XmlError("XML document contains a DOCTYPE")
    return root


__all__ = ["MAX_XML_BYTES", "XmlError", "parse_xml"]
