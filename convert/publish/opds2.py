"""The OPDS 2.0 catalog (JSON), opds.json and its pages."""

from __future__ import annotations

import json
from collections.abc import Sequence

from convert.dates import iso_timestamp
from convert.layout import INDEX_NAME, JSON_FEED_NAME, SEARCH_JSON_PATH
from convert.publish.entries import (
    FEED_EDITIONS,
    IMAGE_SIZES,
    Edition,
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
from convert.publish.opds1 import ALTERNATE_REL, LICENSE_REL, OPDS_ACQUISITION_REL
from convert.publish.paging import PAGE_SIZE, Pages, page_links
from convert.web import EDITION_TYPES, IMAGE_TYPE, href, xml_safe

#: The media type of an OPDS 2.0 feed, for links and for the server.
OPDS2_TYPE = "application/opds+json"
#: What an OPDS 2.0 search link adds to its URL: the query, named `query` as the spec asks.
SEARCH_TEMPLATE = "{?query}"
#: The schema.org type of every publication.
BOOK_TYPE = "http://schema.org/Book"


def render_json_feed(entries: Sequence[Entry], options: HandoutOptions = HandoutOptions(), *,
                     pages: Pages | None = None, number: int = 1, listing: Facet | None = None,
                     facets: Sequence[FacetLink] = ()) -> bytes:
    """One page of the catalog as OPDS 2.0 JSON, paged as the Atom feed is; with a
    `listing`, a page of that facet value's titles, and `facets` its OPDS 2.0 facets."""
    pages = pages or Pages(oldest_first(entries))
    start = JSON_FEED_NAME if listing is None else listing.start(JSON_FEED_NAME)
    links = [{"rel": rel, "href": options.link(JSON_FEED_NAME if rel == "start" else pages.name(start, target)),
              "type": OPDS2_TYPE}
             for rel, target in page_links(pages, number) if rel != "start" or listing is not None]
    if options.server_search:
        links.append({"rel": "search", "href": options.link(SEARCH_JSON_PATH) + SEARCH_TEMPLATE, "type": OPDS2_TYPE,
                      "templated": True})
    html = INDEX_NAME if listing is None else listing.start(INDEX_NAME)
    links.append({"rel": "alternate", "href": options.link(pages.name(html, number)), "type": "text/html"})
    title = options.title if listing is None else f"{options.title} · {facet_heading(listing)}"
    metadata = {"title": xml_safe(title), "itemsPerPage": PAGE_SIZE, "modified": iso_timestamp(updated(entries))}
    if number == pages.last:
        # Only the start page tells of the whole archive: an older page stays as it is.
        metadata.update(numberOfItems=len(pages.entries), currentPage=1,
                        modified=iso_timestamp(updated(pages.entries)))
    feed = {
        "metadata": metadata,
        "links": links,
        **json_collection([json_publication(entry, options) for entry in entries], options.link(JSON_FEED_NAME)),
    }
    if facets:
        feed["facets"] = json_facets(facets, options)
    # Compact: json's C encoder, which indentation turns off (a page of 100 titles: 2.6 ms,
    # not 10.7; a new page of the archive and of each of a title's facets renders 12).
    return (json.dumps(feed, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def json_facets(facets: Sequence[FacetLink], options: HandoutOptions) -> list[dict]:
    """OPDS 2.0 `facets`: one per facet group, its title the group's name, a link per value
    (its count as numberOfItems where known; the value being listed, rel "self")."""
    groups: dict[str, list[dict]] = {}
    for found in facets:
        link = {"href": options.link(found.facet.start(JSON_FEED_NAME)), "type": OPDS2_TYPE,
                "title": xml_safe(found.facet.label())}
        if found.active:
            link["rel"] = "self"
        if found.count is not None:
            link["properties"] = {"numberOfItems": found.count}
        groups.setdefault(found.facet.group, []).append(link)
    return [{"metadata": {"title": group_label(group)}, "links": links} for group, links in groups.items()]


def json_collection(publications: list[dict], start: str) -> dict:
    """The collection an OPDS 2.0 feed holds: its publications, or, when there are none (an
    empty archive, a search that matched nothing), a navigation link to the start of the
    catalog. OPDS 2.0 wants at least one non-empty collection in every feed; an empty
    `publications` array is not one."""
    if publications:
        return {"publications": publications}
    return {"navigation": [{"rel": "start", "href": start, "type": OPDS2_TYPE, "title": "All titles"}]}


@once_per_entry
def json_publication(entry: Entry, options: HandoutOptions) -> dict:
    """One publication of the OPDS 2.0 feed: its metadata and its acquisition links (shared
    by every feed that lists the entry: not to be changed)."""
    metadata = {"@type": BOOK_TYPE, "title": xml_safe(entry.title), "identifier": entry.identifier,
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
    links = [json_acquisition(edition, options.link(href(edition.path))) for edition in downloads(entry)]
    page = landing(entry)
    if page is not None:
        links.insert(0, {"rel": "alternate", "href": options.link(href(page)), "type": "text/html"})
    if entry.license_url is not None:
        links.append({"rel": LICENSE_REL, "href": entry.license_url})
    publication = {"metadata": metadata, "links": links}
    images = json_images(entry, options)
    if images:
        publication["images"] = images
    return publication


def json_images(entry: Entry, options: HandoutOptions) -> list[dict]:
    """The entry's cover and thumbnail as OPDS 2.0 `images`, the cover first, each with its
    type, height and width; none when the entry has no images."""
    images = []
    for name, (width, height) in IMAGE_SIZES.items():
        found = image(entry, name)
        if found is not None:
            images.append({"href": options.link(href(found.path)), "type": IMAGE_TYPE,
                           "height": height, "width": width})
    return images


def json_acquisition(edition: Edition, link: str) -> dict:
    """The OPDS 2.0 link of an edition at `link`: an open-access acquisition for the EPUB
    and PDF (FEED_EDITIONS), an alternate for the others. Its size in bytes is the Link
    Object's own `size` (Readium Web Publication Manifest), not one of its `properties`,
    and like that `size` is given only when above 0."""
    rel = OPDS_ACQUISITION_REL if edition.name in FEED_EDITIONS else ALTERNATE_REL
    acquisition = {"rel": rel, "href": link, "type": EDITION_TYPES[edition.name][0],
                   "title": EDITION_TYPES[edition.name][1]}
    if edition.size > 0:
        acquisition["size"] = edition.size
    return acquisition
