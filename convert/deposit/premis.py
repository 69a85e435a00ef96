"""An archive's provenance as PREMIS 3 (loc.gov/standards/premis): each seed's build as a
`creation` event and each recorded `seedpress verify` run as a `fixity check` event.

    <premis:premis version="3.0">
      <premis:object xsi:type="premis:intellectualEntity">   the whole payload ("data"),
                                                           then one per seed (its key)
      <premis:event>                                       creation per seed, then fixity
                                                           check per verify run, oldest first
      <premis:agent>                                       seedpress, which did all of them
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lxml import etree

from convert import PROGRAM
from convert.archive.catalog import BuiltSeed, FixityCheck
from convert.defaults import ARCHIVED_EDITIONS, SEED_COPY
from convert.web import xml_safe

PREMIS_NAMESPACE = "http://www.loc.gov/premis/v3"
PREMIS_SCHEMA = "https://www.loc.gov/standards/premis/v3/premis-v3-0.xsd"
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
#: The Library of Congress preservation vocabularies the event and agent types come from.
EVENT_TYPES = "http://id.loc.gov/vocabulary/preservation/eventType"
AGENT_TYPES = "http://id.loc.gov/vocabulary/preservation/agentType"
#: (label, code) of the two event types written here.
CREATION = ("creation", "cre")
FIXITY_CHECK = ("fixity check", "fix")
#: How the whole payload is named: by its path in the bag. Seeds are named by their key,
#: under another identifier type, so a seed keyed "data" is still told apart.
ARCHIVE_IDENTIFIER = ("bag path", "data")
SEED_IDENTIFIER_TYPE = "local"
AGENT_IDENTIFIER = ("local", PROGRAM)


def _element(parent: etree._Element, name: str, text: str | None = None, **attributes: str) -> etree._Element:
    # Every text comes from the catalog (a seed's file name, what a verify run found), which
    # may hold characters XML cannot carry: they are replaced, so no name can block a deposit.
    child = etree.SubElement(parent, f"{{{PREMIS_NAMESPACE}}}{name}",
                             {name: xml_safe(value) for name, value in attributes.items()})
    if text is not None:
        child.text = xml_safe(text)
    return child


def _identifier(parent: etree._Element, name: str, kind: str, value: str) -> None:
    """`<NAME><NAMEType>kind</…><NAMEValue>value</…></NAME>`, PREMIS's shape of every identifier."""
    holder = _element(parent, name)
    _element(holder, f"{name}Type", kind)
    _element(holder, f"{name}Value", value)


def _object(parent: etree._Element, kind: str, value: str) -> None:
    entity = _element(parent, "object", **{f"{{{XSI_NAMESPACE}}}type": "premis:intellectualEntity"})
    _identifier(entity, "objectIdentifier", kind, value)


def _event(parent: etree._Element, identifier: str, event_type: tuple[str, str], when: str, detail: str,
           outcome: str, notes: Sequence[str], linked_object: tuple[str, str]) -> None:
    event = _element(parent, "event")
    _identifier(event, "eventIdentifier", "local", identifier)
    label, code = event_type
    _element(event, "eventType", label, authority="eventType", authorityURI=EVENT_TYPES,
             valueURI=f"{EVENT_TYPES}/{code}")
    _element(event, "eventDateTime", when)
    _element(_element(event, "eventDetailInformation"), "eventDetail", detail)
    information = _element(event, "eventOutcomeInformation")
    _element(information, "eventOutcome", outcome)
    for note in notes:
        _element(_element(information, "eventOutcomeDetail"), "eventOutcomeDetailNote", note)
    _identifier(event, "linkingAgentIdentifier", *AGENT_IDENTIFIER)
    _identifier(event, "linkingObjectIdentifier", *linked_object)


def premis_events(seeds: Sequence[BuiltSeed], checks: Mapping[int, FixityCheck]) -> bytes:
    """The PREMIS 3 document of `seeds`' builds and the fixity `checks` (by catalog row id)."""
    root = etree.Element(f"{{{PREMIS_NAMESPACE}}}premis", {f"{{{XSI_NAMESPACE}}}schemaLocation":
                                                           f"{PREMIS_NAMESPACE} {PREMIS_SCHEMA}"},
                         nsmap={"premis": PREMIS_NAMESPACE, "xsi": XSI_NAMESPACE}, version="3.0")
    _object(root, *ARCHIVE_IDENTIFIER)
    for seed in seeds:
        _object(root, SEED_IDENTIFIER_TYPE, seed.key)
    editions = ", ".join(edition for edition in ARCHIVED_EDITIONS if edition != SEED_COPY)
    for seed in seeds:
        _event(root, f"creation-{seed.key}", CREATION, seed.built_at,
               f"seedpress archive built the {editions} editions of {seed.source_name} and kept its bytes",
               "success", (), (SEED_IDENTIFIER_TYPE, seed.key))
    for row_id, check in checks.items():
        _event(root, f"fixity-check-{row_id}", FIXITY_CHECK, check.checked_at,
               f"seedpress verify re-hashed {check.files} files against the catalog and SHA256SUMS",
               "success" if check.passed else "failure", [problem.line for problem in check.problems],
               ARCHIVE_IDENTIFIER)
    agent = _element(root, "agent")
    _identifier(agent, "agentIdentifier", *AGENT_IDENTIFIER)
    _element(agent, "agentName", PROGRAM)
    _element(agent, "agentType", "software", authority="agentType", authorityURI=AGENT_TYPES,
             valueURI=f"{AGENT_TYPES}/sof")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
