// seedpress: the index page's search box, answered in the browser by the Pagefind bundle
// in pagefind/, so that search works wherever dist/ is copied (nginx, S3) with no server.
// Without this script, or when the bundle cannot load, the form goes to /search, which
// `seedpress serve` answers from the catalog. Every text is set as text, never as HTML.
// A classic script, not a module: a browser runs none from a page opened from disk
// (file://), and this one must run there to say that search needs a web server.

"use strict";
{

const form = document.getElementById("search");
const field = document.getElementById("search-query");
const panel = document.getElementById("search-results");
const bundle = new URL("pagefind/", document.baseURI);
const SHOWN = 20;
let loading = null;
let asked = 0; // the latest search: an earlier one that answers late is not shown

// Pagefind keeps one index per page language and searches the one of the page it runs
// on (or, lacking that, its base language, or the largest); the archive's titles are in
// many languages, so every other index is merged in. pagefind/ indexes the newest page of
// titles; each full page of 100 has its own index, made once, which seedpress-pages.json
// lists with its languages, and those are merged in too, into one list of results.
function load() {
  loading ??= (async () => {
    const [entry, listed] = await Promise.all([
      fetch(new URL("pagefind-entry.json", bundle)).then((response) => response.json()),
      fetch(new URL("seedpress-pages.json", bundle)).then((response) => (response.ok ? response.json() : { pages: [] })),
    ]);
    const languages = Object.entries(entry.languages).sort((a, b) => b[1].page_count - a[1].page_count);
    const pageLanguage = (document.documentElement.lang || "unknown").toLowerCase();
    const primary = [pageLanguage, pageLanguage.split("-")[0]].find((code) => code in entry.languages)
      ?? languages[0][0];
    const pagefind = await import(new URL("pagefind.js", bundle).href);
    await pagefind.options({ excerptLength: 24 });
    await pagefind.init();
    const merges = [];
    for (const [language] of languages) {
      // By its full URL: Pagefind skips a merge whose path is the primary index's own.
      if (language !== primary) merges.push(pagefind.mergeIndex(bundle.href, { language }));
    }
    for (const page of listed.pages) {
      const index = new URL(page.path, bundle).href;
      for (const language of page.languages) merges.push(pagefind.mergeIndex(index, { language }));
    }
    await Promise.all(merges);
    return pagefind;
  })();
  return loading;
}

// Pagefind's excerpts mark the matched words with <mark>; keep those and nothing else.
function excerpt(html) {
  const parsed = document.createElement("template");
  parsed.innerHTML = html;
  const paragraph = document.createElement("p");
  for (const node of parsed.content.childNodes) {
    if (node.nodeName === "MARK") {
      const mark = document.createElement("mark");
      mark.textContent = node.textContent;
      paragraph.append(mark);
    } else {
      paragraph.append(node.textContent);
    }
  }
  return paragraph;
}

function item(result) {
  const entry = document.createElement("li");
  // A title, and its words, in their own language (each landing page gives it to Pagefind)
  // and their own direction, whatever the page's.
  const lang = result.meta.lang;
  if (lang && lang !== document.documentElement.lang) entry.lang = lang;
  entry.dir = "auto";
  const link = document.createElement("a");
  link.href = result.url;
  link.textContent = result.meta.title || result.url;
  const title = document.createElement("h3");
  title.append(link);
  entry.append(title, excerpt(result.excerpt));
  return entry;
}

// The page's own words for the results (index_page.py's data attributes, from labels.toml),
// English where a page lacks them (one written before they were); numbers as the page's
// language writes them.
const words = {
  results: "Results for \u201c{query}\u201d", titles: "{count} titles", titleOne: "{count} title",
  more: "Show more", rangeOf: "{first}\u2013{last} of {total}", ...panel.dataset,
};
// The language of the words (labels.toml's, as the pages' numbers and plurals are), in Latin
// digits as Babel writes the pages' own.
const numbers = (() => {
  try {
    return new Intl.NumberFormat(words.locale || document.documentElement.lang || "en", { numberingSystem: "latn" });
  } catch {
    return new Intl.NumberFormat("en"); // a tag the browser cannot take
  }
})();
// title_one where the language's plural rule says "one" (CLDR's, as labels.titles_count).
const plural = new Intl.PluralRules(numbers.resolvedOptions().locale);
const counted = (total) => (plural.select(total) === "one" ? words.titleOne : words.titles)
  .replace("{count}", numbers.format(total));

// The first SHOWN results, and a button that adds the next SHOWN until all are listed.
async function show(query, results, mine) {
  const total = results.length;
  const heading = document.createElement("h2");
  heading.textContent = words.results.replace("{query}", () => query);
  const count = document.createElement("p");
  count.className = "count";
  count.textContent = counted(total);
  const list = document.createElement("ol");
  const more = document.createElement("button");
  more.type = "button";
  more.className = "more";
  let shown = 0;
  const next = async () => {
    const page = await Promise.all(results.slice(shown, shown + SHOWN).map((result) => result.data()));
    if (mine !== asked) return;
    list.append(...page.map(item));
    shown += page.length;
    const range = words.rangeOf.replace("{first}", numbers.format(1)).replace("{last}", numbers.format(shown))
      .replace("{total}", numbers.format(total));
    more.textContent = `${words.more} (${range})`;
    more.hidden = shown >= total;
  };
  more.addEventListener("click", () => { more.disabled = true; next().finally(() => { more.disabled = false; }); });
  await next();
  if (mine !== asked) return;
  panel.replaceChildren(heading, count, list, more);
  panel.hidden = false;
}

// Opened from disk, the browser lets the page load neither the bundle nor a server's answer.
function needsServer(query) {
  const heading = document.createElement("h2");
  heading.textContent = `Cannot search for \u201c${query}\u201d here`;
  const why = document.createElement("p");
  why.textContent = "This page was opened from a file, and search needs a web server: serve this "
    + "folder over HTTP (with \u201cseedpress serve --dist FOLDER\u201d, or \u201cpython3 -m http.server\u201d "
    + "inside it) and open index.html from there. The titles below are all here to browse.";
  // These words are English on a page in any language: marked so, a screen reader says them so.
  for (const element of [heading, why]) element.lang = "en";
  panel.replaceChildren(heading, why);
  panel.hidden = false;
}

async function search(query) {
  const mine = ++asked;
  const pagefind = await load();
  const answer = await pagefind.search(query);
  if (mine === asked) await show(query, answer.results, mine);
}

form.addEventListener("submit", async (event) => {
  const query = field.value.trim();
  if (!query) return;
  event.preventDefault();
  try {
    await search(query);
    history.replaceState(null, "", `?q=${encodeURIComponent(query)}`);
  } catch (error) {
    if (location.protocol === "file:") {
      needsServer(query);
      return;
    }
    // No bundle here (a run without Pagefind, or a server that has its own search).
    console.warn("seedpress: static search unavailable, asking the server", error);
    form.submit();
  }
});

const inAddress = new URLSearchParams(location.search).get("q");
if (inAddress) {
  field.value = inAddress;
  search(inAddress.trim()).catch((error) => {
    if (location.protocol === "file:") needsServer(inAddress.trim());
    else console.warn("seedpress: static search unavailable", error);
  });
}
form.dataset.ready = "true";
}
