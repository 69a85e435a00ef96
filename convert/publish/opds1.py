"""The OPDS 1.2 acquisition feed (Atom), opds.xml and its pages."""

from __future__ import annotations

from collections.abc import Sequence
from copy import deepcopy

from lxml import etree

from convert import PROGRAM, __version__
from convert.dates import iso_timestamp
from convert.layout import COVER_EDITION, FEED_NAME, INDEX_NAME, OPENSEARCH_NAME, THUMBNAIL_EDITION
from convert.publish.entries import (
    FEED_EDITIONS,
    Entry,
    HandoutOptions,
    downloads,
    image,
    landing,
    oldest_first,
    once_per_entry,
    updated,
)
from convert.publish.facets import Facet, FacetLink, facet_heading, group_label
from convert.publish.paging import Pages, page_links
from convert.web import EDITION_TYPES, IMAGE_TYPE, href, xml_safe

#: The media type of an OPDS acquisition feed, for links and for the server.
OPDS_ACQUISITION_TYPE = "application/atom+xml;profile=opds-catalog;kind=acquisition"

#: Every edition is free to take, with no sign-in or payment: OPDS 1.2's open-access
#: acquisition, which clients offer as a plain download.
OPDS_ACQUISITION_REL = "http://opds-spec.org/acquisition/open-access"
#: The relation of an edition that is no acquisition (DOCX, Markdown, the source text):
#: another form of the entry, which a client may list but not take as a book.
ALTERNATE_REL = "alternate"

#: The link relations of an entry's cover and its thumbnail (OPDS 1.2, section 8).
OPDS_IMAGE_RELS = {COVER_EDITION: "http://opds-spec.org/image", THUMBNAIL_EDITION: "http://opds-spec.org/image/thumbnail"}


#: The link relation of a license (RFC 4946).
LICENSE_REL = "license"

#: The feed's id: constant so that readers recognise the catalog across rebuilds.
FEED_ID = "urn:seedpress:catalog"

ATOM = "http://www.w3.org/2005/Atom"


DC = "http://purl.org/dc/terms/"

OPDS = "http://opds-spec.org/2010/catalog"

#: The Atom threading extension (RFC 4685), whose thr:count tells a facet's number of titles.
THREAD = "http://purl.org/syndication/thread/1.0"

#: The link relation of a facet (OPDS 1.2, section 4.3).
FACET_REL = "http://opds-spec.org/facet"


def render_feed(entries: Sequence[Entry], options: HandoutOptions = HandoutOptions(), *,
                pages: Pages | None = None, number: int = 1, listing: Facet | None = None,
                facets: Sequence[FacetLink] = ()) -> bytes:
    """One page of the OPDS 1.2 acquisition feed: an Atom entry per seed with its editions
    as acquisitions, paged by RFC 5005 links (first is the newest page, the start; next
    goes to older ones), its links absolute when the archive has a base URL. With a
    `listing`, a page of that facet value's titles (its own files, its start link the
    catalog's); `facets`, its OPDS 1.2 facet links."""
    pages = pages or Pages(oldest_first(entries))
    start = FEED_NAME if listing is None else listing.start(FEED_NAME)
    feed = etree.Element(f"{{{ATOM}}}feed", nsmap={None: ATOM, "dc": DC, "opds": OPDS, "thr": THREAD})
    feed_id = FEED_ID if listing is None else f"{FEED_ID}:{start.rpartition('.')[0]}"
    _text(feed, "id", feed_id if number == pages.last else f"{feed_id}:page:{number}")
    _text(feed, "title", options.title if listing is None
          else f"{options.title} · {facet_heading(listing)}")
    # An older page tells only of its own entries: the archive's size or last change would
    # rewrite every page at every new seed.
    _text(feed, "updated", iso_timestamp(updated(pages.entries if number == pages.last else entries)))
    add_generator(feed)
    for rel, target in page_links(pages, number):
        name = FEED_NAME if rel == "start" and listing is not None else pages.name(start, target)
        _link(feed, rel=rel, href=options.link(name), type=OPDS_ACQUISITION_TYPE)
    html = INDEX_NAME if listing is None else listing.start(INDEX_NAME)
    _link(feed, rel="alternate", href=options.link(pages.name(html, number)), type="text/html")
    for found in facets:
        link = _link(feed, rel=FACET_REL, href=options.link(found.facet.start(FEED_NAME)), type=OPDS_ACQUISITION_TYPE)
        link.set("title", xml_safe(found.facet.label()))
        link.set(f"{{{OPDS}}}facetGroup", group_label(found.facet.group))
        if found.count is not None:
            link.set(f"{{{THREAD}}}count", str(found.count))
        if found.active:
            link.set(f"{{{OPDS}}}activeFacet", "true")
    if options.server_search:
        _link(feed, rel="search", href=options.link(OPENSEARCH_NAME), type=OPENSEARCH_TYPE)
    for entry in entries:
        feed.append(feed_entry(entry, options))
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)




OPENSEARCH_TYPE = "application/opensearchdescription+xml"


def add_generator(feed: etree._Element) -> None:
    """The feed's author and generator: seedpress, and its version."""
    _text(etree.SubElement(feed, f"{{{ATOM}}}author"), "name", PROGRAM)
    _text(feed, "generator", PROGRAM).set("version", __version__)


def feed_entry(entry: Entry, options: HandoutOptions = HandoutOptions()) -> etree._Element:
    """The entry as an Atom entry of the OPDS 1.2 feeds: a copy of its own, for the caller
    to add to a feed (an element has one parent) or change (search adds its language)."""
    return deepcopy(_feed_entry(entry, options))


@once_per_entry
def _feed_entry(entry: Entry, options: HandoutOptions) -> etree._Element:
    item = etree.Element(f"{{{ATOM}}}entry")
    _text(item, "title", entry.title)
    _text(item, "id", entry.identifier)
    _text(item, "updated", iso_timestamp(entry.date))
    if entry.author is not None:
        _text(etree.SubElement(item, f"{{{ATOM}}}author"), "name", entry.author)
    etree.SubElement(item, f"{{{DC}}}identifier").text = xml_safe(entry.identifier)
    if entry.published_day() is not None:
        # dc:issued is the publication date: without one given, the build date is no such thing.
        etree.SubElement(item, f"{{{DC}}}issued").text = entry.published_day()
    for tag in entry.tags or ():
        etree.SubElement(item, f"{{{ATOM}}}category").set("term", xml_safe(tag))
    if entry.marked_lang() is not None:
        etree.SubElement(item, f"{{{DC}}}language").text = entry.marked_lang()
    if entry.publisher is not None:
        etree.SubElement(item, f"{{{DC}}}publisher").text = xml_safe(entry.publisher)
    if entry.rights is not None:
        _text(item, "rights", entry.rights).set("type", "text")
    summary = _text(item, "summary", entry.summary)
    summary.set("type", "text")
    for edition in downloads(entry):
        media_type, label = EDITION_TYPES[edition.name]
        rel = OPDS_ACQUISITION_REL if edition.name in FEED_EDITIONS else ALTERNATE_REL
        link = _link(item, rel=rel, href=options.link(href(edition.path)), type=media_type)
        link.set("title", label)
        link.set("length", str(edition.size))
    for name, rel in OPDS_IMAGE_RELS.items():
        found = image(entry, name)
        if found is not None:
            _link(item, rel=rel, href=options.link(href(found.path)), type=IMAGE_TYPE)
    page = landing(entry)
    _link(item, rel="alternate", href=options.link(href(page) if page else f"{INDEX_NAME}#{entry.key}"),
          type="text/html")
    if entry.license_url is not None:
        _link(item, rel=LICENSE_REL, href=entry.license_url)
    return item


def _text(parent: etree._Element, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ATOM}}}{name}")
    element.text = xml_safe(text)
    return element


def _link(parent: etree._Element, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{ATOM}}}link", attributes)
