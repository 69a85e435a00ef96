// Read an archive's OPDS feeds with two real client parsers and print what they saw, as JSON.
//
//     node tests/opds-clients/read_feeds.js <dist>
//
// Readium's r2-opds-js (the parser Thorium uses) reads every feed: OPDS 1.2 as Thorium does
// (xmldom, its XML mapper, then convertOpds1ToOpds2), OPDS 2.0 with its JSON mapper. Every
// publication then goes through its JSON mapper once more, which is where it checks a
// publication and logs "OPDSPublication.Image[s] is not set!" and the like: those lines are
// the warnings reported. NYPL's opds-feed-parser (OPDS 1 only) reads every Atom feed.
//
// The crawl starts at opds.xml and opds.json in <dist> and follows every link to a catalog
// (an Atom feed with profile=opds-catalog, or application/opds+json) that points into
// <dist>: `next`, facets, navigation, alternates, so that feeds added later are covered
// without a change here. Search templates are not followed. The report:
//   {"feeds": [{"path", "format", "r2": {...}, "nypl": {...}}], "problems": [...]}

"use strict";

const fs = require("fs");
const path = require("path");
const { pathToFileURL, fileURLToPath } = require("url");

const xmldom = require("@xmldom/xmldom");
const Parser = require("opds-feed-parser").default;
const { OPDSArtworkLink } = require("opds-feed-parser");
const { TaJsonDeserialize, TaJsonSerialize } = require("r2-lcp-js/dist/es8-es2017/src/serializable");
const { XML } = require("r2-utils-js/dist/es8-es2017/src/_utils/xml-js-mapper");
const { convertOpds1ToOpds2 } = require("r2-opds-js/dist/es8-es2017/src/opds/converter");
const { initGlobalConverters_GENERIC, initGlobalConverters_OPDS } = require("r2-opds-js/dist/es8-es2017/src/opds/init-globals");
const { OPDS } = require("r2-opds-js/dist/es8-es2017/src/opds/opds1/opds");
const { OPDSFeed } = require("r2-opds-js/dist/es8-es2017/src/opds/opds2/opds2");

initGlobalConverters_OPDS();
initGlobalConverters_GENERIC();

const ATOM_NS = "http://www.w3.org/2005/Atom";
const OPDS1 = "opds1";
const OPDS2 = "opds2";

// What a parser logs while it reads, caught: r2-opds-js reports problems with console.log.
async function logged(work) {
  const lines = [];
  const saved = { log: console.log, warn: console.warn, error: console.error };
  for (const name of Object.keys(saved)) {
    console[name] = (...parts) => lines.push(parts.map(String).join(" "));
  }
  try {
    const value = await work();
    return { value, lines };
  } finally {
    Object.assign(console, saved);
  }
}

function formatOf(type) {
  if (!type) return null;
  const lower = type.toLowerCase();
  if (lower.startsWith("application/opds+json")) return OPDS2;
  if (lower.startsWith("application/atom+xml") && lower.includes("opds-catalog")) return OPDS1;
  return null;
}

// The r2-opds-js publications of a feed, through its JSON mapper once more (its checks run there).
function checkedPublications(feed) {
  const publications = [...(feed.Publications || [])];
  for (const group of feed.Groups || []) publications.push(...(group.Publications || []));
  return publications.map((publication) => {
    const again = TaJsonDeserialize(TaJsonSerialize(publication), publication.constructor);
    return { title: again.Metadata && again.Metadata.Title, images: (again.Images || []).length + (again.Image ? 1 : 0) };
  });
}

async function readWithR2(text, format) {
  const { value, lines } = await logged(() => {
    let feed;
    if (format === OPDS1) {
      const dom = new xmldom.DOMParser().parseFromString(text, "application/xml");
      feed = convertOpds1ToOpds2(XML.deserialize(dom, OPDS));
    } else {
      feed = TaJsonDeserialize(JSON.parse(text), OPDSFeed);
    }
    return { title: feed.Metadata && feed.Metadata.Title, publications: checkedPublications(feed) };
  });
  return {
    title: typeof value.title === "string" ? value.title : JSON.stringify(value.title),
    publications: value.publications.length,
    with_images: value.publications.filter((p) => p.images > 0).length,
    warnings: lines,
  };
}

async function readWithNypl(text) {
  const { value, lines } = await logged(() => new Parser().parse(text));
  const entries = value.entries || [];
  return {
    title: value.title,
    entries: entries.length,
    with_images: entries.filter((entry) => (entry.links || []).some((link) => link instanceof OPDSArtworkLink)).length,
    facet_links: (value.links || []).filter((link) => link.rel === "http://opds-spec.org/facet").length,
    warnings: lines,
  };
}

// Every catalog link of a feed: [href, format]; the raw document, so nothing a parser drops is missed.
function catalogLinks(text, format) {
  const found = [];
  if (format === OPDS1) {
    const dom = new xmldom.DOMParser().parseFromString(text, "application/xml");
    const links = dom.getElementsByTagNameNS(ATOM_NS, "link");
    for (let i = 0; i < links.length; i++) {
      const link = links[i];
      if (link.getAttribute("rel") === "search") continue;
      found.push([link.getAttribute("href"), formatOf(link.getAttribute("type"))]);
    }
  } else {
    const visit = (node) => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (!node || typeof node !== "object") return;
      if (typeof node.href === "string" && !node.templated) {
        const rels = [].concat(node.rel || []);
        if (!rels.includes("search")) found.push([node.href, formatOf(node.type)]);
      }
      for (const key of Object.keys(node)) {
        if (key !== "publications") visit(node[key]);
      }
    };
    const feed = JSON.parse(text);
    visit(feed.links); visit(feed.facets); visit(feed.navigation); visit(feed.groups);
  }
  return found.filter(([href, kind]) => href && kind);
}

async function main() {
  const dist = path.resolve(process.argv[2] || "dist");
  const root = pathToFileURL(dist + path.sep).href;
  const queue = [["opds.xml", OPDS1], ["opds.json", OPDS2]].map(([name, kind]) => [new URL(name, root).href, kind]);
  const seen = new Set(queue.map(([url]) => url));
  const report = { feeds: [], problems: [] };
  while (queue.length) {
    const [url, format] = queue.shift();
    const relative = url.slice(root.length);
    let text;
    try {
      text = fs.readFileSync(fileURLToPath(url), "utf-8");
    } catch (error) {
      report.problems.push(`${relative}: cannot be read (${error.code || error.message})`);
      continue;
    }
    const feed = { path: relative, format };
    for (const [name, read] of [["r2", () => readWithR2(text, format)],
                                ["nypl", format === OPDS1 ? () => readWithNypl(text) : null]]) {
      if (!read) continue;
      try {
        feed[name] = await read();
      } catch (error) {
        feed[name] = { error: String(error && error.stack || error) };
        report.problems.push(`${relative}: ${name} could not read it: ${error}`);
      }
    }
    report.feeds.push(feed);
    for (const [href, kind] of catalogLinks(text, format)) {
      const target = new URL(href, url);
      target.hash = "";
      if (!target.href.startsWith(root) || seen.has(target.href)) continue;
      seen.add(target.href);
      queue.push([target.href, kind]);
    }
  }
  process.stdout.write(JSON.stringify(report, null, 1) + "\n");
}

main().catch((error) => {
  process.stderr.write(`read_feeds.js: ${error && error.stack || error}\n`);
  process.exit(2);
});
