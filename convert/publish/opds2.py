"""The OPDS 2.0 catalog (JSON), opds.json and its pages."""

from __future__ import annotations

import json
from collections.abc import Sequence

from convert.dates import iso_timestamp
from convert.layout import INDEX_NAME, JSON_FEED_NAME
from convert.publish.entries import (
    FEED_EDITIONS,
    Edition,
    Entry,
    HandoutOptions,
    downloads,
    landing,
    oldest_first,
    updated,
)
from convert.publish.opds1 import LICENSE_REL, OPDS_ACQUISITION_REL
from convert.publish.paging import PAGE_SIZE, Pages, page_links
from convert.web import EDITION_TYPES, href, xml_safe

OPDS2_TYPE = "application/opds+json"


def render_json_feed(entries: Sequence[Entry], options: HandoutOptions = HandoutOptions(), *,
                     pages: Pages | None = None, number: int = 1) -> bytes:
    """One page of the catalog as OPDS 2.0 JSON, paged as the Atom feed is."""
    pages = pages or Pages(oldest_first(entries))
    links = [{"rel": rel, "href": options.link(pages.name(JSON_FEED_NAME, target)), "type": OPDS2_TYPE}
             for rel, target in page_links(pages, number) if rel != "start"]
    links.append({"rel": "search", "href": options.link("search.json") + "{?query}", "type": OPDS2_TYPE,
                  "templated": True})
    links.append({"rel": "alternate", "href": options.link(pages.name(INDEX_NAME, number)), "type": "text/html"})
    metadata = {"title": options.title, "itemsPerPage": PAGE_SIZE, "modified": iso_timestamp(updated(entries))}
    if number == pages.last:
        # Only the start page tells of the whole archive: an older page stays as it is.
        metadata.update(numberOfItems=len(pages.entries), currentPage=1,
                        modified=iso_timestamp(updated(pages.entries)))
    feed = {
        "metadata": metadata,
        "links": links,
        **json_collection([json_publication(entry, options) for entry in entries], options.link(JSON_FEED_NAME)),
    }
    return (json.dumps(feed, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def json_collection(publications: list[dict], start: str) -> dict:
    """The collection an OPDS 2.0 feed holds: its publications, or, when there are none (an
    empty archive, a search that matched nothing), a navigation link to the start of the
    catalog. OPDS 2.0 wants at least one non-empty collection in every feed; an empty
    `publications` array is not one."""
    if publications:
        return {"publications": publications}
    return {"navigation": [{"rel": "start", "href": start, "type": OPDS2_TYPE, "title": "All titles"}]}


def json_publication(entry: Entry, options: HandoutOptions) -> dict:
    """One publication of the OPDS 2.0 feed: its metadata and its acquisition links."""
    metadata = {"@type": "http://schema.org/Book", "title": xml_safe(entry.title), "identifier": entry.identifier,
                "modified": iso_timestamp(entry.date),
                "description": xml_safe(entry.description or entry.summary)}
    if entry.published_day() is not None:
        # The publication date a person gave; the build date is not one.
        metadata["published"] = entry.published_day()
    if entry.tags:
        metadata["subject"] = [xml_safe(tag) for tag in entry.tags]
    if entry.marked_lang() is not None:
        metadata["language"] = entry.marked_lang()
    for field in ("author", "publisher"):
        if getattr(entry, field) is not None:
            metadata[field] = {"name": xml_safe(getattr(entry, field))}
    if entry.rights is not None:
        metadata["rights"] = xml_safe(entry.rights)
    links = [json_acquisition(edition, options.link(href(edition.path)))
             for edition in downloads(entry) if edition.name in FEED_EDITIONS]
    page = landing(entry)
    if page is not None:
        links.insert(0, {"rel": "alternate", "href": options.link(href(page)), "type": "text/html"})
    if entry.license_url is not None:
        links.append({"rel": LICENSE_REL, "href": entry.license_url})
    return {"metadata": metadata, "links": links}


def json_acquisition(edition: Edition, link: str) -> dict:
    """The OPDS 2.0 acquisition link of an edition at `link`. Its size in bytes is the Link
    Object's own `size` (Readium Web Publication Manifest), not one of its `properties`,
    and like that `size` is given only when above 0."""
    acquisition = {"rel": OPDS_ACQUISITION_REL, "href": link, "type": EDITION_TYPES[edition.name][0],
                   "title": EDITION_TYPES[edition.name][1]}
    if edition.size > 0:
        acquisition["size"] = edition.size
    return acquisition
