// Assignment descriptions as Markdown: marked (vendored) renders, raw HTML in the source is shown as
// text, and DOMPurify (vendored) keeps only harmless elements and attributes. The result is a DOM
// fragment, never a markup string written into the page; the CSP forbids inline scripts and styles anyway.

import { Marked } from "../vendor/marked.esm.js";
import { highlightInto } from "./highlight.js";
import { purifier } from "./sanitize.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    // No raw HTML: an author's <div> or <script> is shown as the text they typed.
    html: (token) => escapeHtml(token.text),
  },
});

const ALLOWED_TAGS = [
  "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a",
  "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
];
const ALLOWED_ATTR = ["href", "title", "class", "start", "align"]; // no images: the CSP allows this origin's only

/** The Markdown text as a sanitised DocumentFragment (code blocks highlighted). */
export function renderMarkdown(text) {
  const html = marked.parse(String(text ?? ""), { async: false });
  const fragment = purifier.sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#|\/)/i,
    RETURN_DOM_FRAGMENT: true,
  });
  for (const block of fragment.querySelectorAll("pre > code")) {
    const language = [...block.classList].find((c) => c.startsWith("language-"))?.slice(9);
    highlightInto(block, block.textContent, language);
  }
  return fragment;
}
