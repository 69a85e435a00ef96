"""The browsing pages of the hand-out (issue 24): browse-<group>.html, the values of one
facet group with their counts, and index-<group>-<slug>.html, the titles of one value,
paged as the index is. Their words come from labels.toml: a language's list is labelled
in that language, every other page in the index's."""

from __future__ import annotations

from collections.abc import Sequence

from convert.document.labels import labels, titles_count
from convert.document.language import is_right_to_left
from convert.layout import FAVICON_NAME, FEED_NAME, INDEX_NAME, browse_name
from convert.publish.entries import Entry, HandoutOptions
from convert.publish.facets import Facet, FacetIndex, browse_line, facet_heading, group_label
from convert.publish.index_page import CONTENT_SECURITY_POLICY, STYLE, index_item
from convert.publish.opds1 import OPDS_ACQUISITION_TYPE
from convert.publish.paging import Pages
from convert.web import html_text, page_head

#: What a group's browse page says while it has no value, where "0 titles" read as if the
#: archive were empty. The language and year lists are empty only when nothing is published;
#: no title may name an author or have a tag. (The words may not depend on whether anything
#: is published: the page is written again only when its group's values change.)
EMPTY_GROUP_WORDS = {"author": "no_author", "tag": "no_tag"}


def words_language(listing: Facet, options: HandoutOptions) -> str:
    """The labels.toml language a value's list is labelled in: a language's own, else the
    index's ([archive] lang)."""
    return labels(listing.value).language if listing.group == "language" else labels(options.lang).language


def _page(language: str, title: str, head_links: str, heading: str, about: str, main: str, navigation: str) -> bytes:
    direction = ' dir="rtl"' if is_right_to_left(language) else ""
    return f"""<!DOCTYPE html>
<html lang="{html_text(language)}"{direction}>
<head>
{page_head(CONTENT_SECURITY_POLICY, icon=FAVICON_NAME)}<title>{html_text(title)}</title>{head_links}
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>{heading}</h1>
<p class="about">{about}</p>
{browse_line(language)}
</header>
<main>
{main}
</main>
{navigation}</body>
</html>
""".encode()


def render_facet_index(entries: Sequence[Entry], options: HandoutOptions, *, pages: Pages, number: int,
                       listing: Facet) -> bytes:
    """One page of the titles of the facet value `listing`, newest first, with links to the
    newer and older pages, to every title and to the other values of its group."""
    language = words_language(listing, options)
    words = labels(language)
    start = listing.start(INDEX_NAME)
    group = group_label(listing.group, language)
    value = html_text(listing.label(language))
    own = f' lang="{html_text(listing.value)}"' if listing.group == "language" else ""
    heading = html_text(words.browse_of).format(group=html_text(group), value=f"<bdi{own}>{value}</bdi>")
    browse_group = "year" if listing.group == "month" else listing.group
    about = [f'<a href="{INDEX_NAME}">{html_text(words.browse_all)}</a>',
             f'<a href="{browse_name(browse_group)}">{html_text(group_label(browse_group, language))}</a>']
    # Only the start page tells how many titles the value has: an older page stays as it is.
    about.insert(0, html_text(titles_count(len(pages.entries), language)) if number == pages.last
                 else f'<a href="{html_text(start)}">{value}</a>')
    feed = listing.start(FEED_NAME)
    head_links = f'\n<link rel="alternate" type="{html_text(OPDS_ACQUISITION_TYPE)}" href="{html_text(feed)}">'
    head_links += "".join(
        f'\n<link rel="{rel}" href="{html_text(pages.name(start, target))}">'
        for rel, target in (("next", pages.older(number)), ("prev", pages.newer(number))) if target is not None)
    items = "\n".join(index_item(entry, words) for entry in entries)
    title = f"{facet_heading(listing, language)} · {options.title}" + ("" if number == pages.last else f" · {number}")
    return _page(language, title, head_links, heading, " · ".join(about),
                 f'<ol class="entries">\n{items}\n</ol>', _navigation(pages, number, start, language))


def _navigation(pages: Pages, number: int, start: str, language: str) -> str:
    """Newer and older links, when the list has more than one page."""
    if pages.last == 1:
        return ""
    words = labels(language)
    links = []
    if pages.newer(number) is not None:
        links.append(f'<a rel="prev" href="{html_text(pages.name(start, pages.newer(number)))}">'
                     f'{html_text(words.newer)}</a>')
    if pages.older(number) is not None:
        links.append(f'<a rel="next" href="{html_text(pages.name(start, pages.older(number)))}">'
                     f'{html_text(words.older)}</a>')
    return f'<nav class="pages" aria-label="{html_text(words.browse)}">{" · ".join(links)}</nav>\n'


def render_browse_group(group: str, index: FacetIndex, options: HandoutOptions) -> bytes:
    """browse-<group>.html: every value of `group` with its number of titles, each leading to
    its list; on the year page, each year's months under it."""
    language = labels(options.lang).language
    words = labels(language)
    name = group_label(group, language)
    months = index.facets("month")
    items = []
    for facet in index.facets(group):
        items.append(f"<li>{_value_link(facet, index, language)}")
        if group == "year":
            within = [_value_link(month, index, language) for month in months if month.value[:4] == facet.value]
            items.append('<ul class="months">' + "".join(f"<li>{link}</li>" for link in within) + "</ul>")
        items.append("</li>")
    listing = (f'<ul class="facets">\n{"".join(items)}\n</ul>' if items
               else f'<p class="none">{html_text(getattr(words, EMPTY_GROUP_WORDS.get(group, "nothing_yet")))}</p>')
    about = f'<a href="{INDEX_NAME}">{html_text(words.browse_all)}</a>'
    heading = words.browse_of.format(group=words.browse, value=name)
    return _page(language, f"{heading} · {options.title}", "", html_text(heading), about, listing, "")


def _value_link(facet: Facet, index: FacetIndex, language: str) -> str:
    own = f' lang="{html_text(facet.value)}"' if facet.group == "language" else ""
    return (f'<a href="{html_text(facet.start(INDEX_NAME))}"><bdi{own}>{html_text(facet.label(language))}</bdi></a>'
            f' <span class="size">({index.count(facet)})</span>')
