// The one DOMPurify instance (vendored): every HTML string a library produces becomes a sanitised
// DocumentFragment here before it reaches the page.

import DOMPurify from "../vendor/purify.es.js";

export const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("rel", "noopener noreferrer nofollow");
    node.setAttribute("target", "_blank");
  }
});

/** Only harmless highlighter output: <span class="hljs-..."> around text. */
export function sanitizeHighlight(html) {
  return purifier.sanitize(html, { ALLOWED_TAGS: ["span"], ALLOWED_ATTR: ["class"], RETURN_DOM_FRAGMENT: true });
}
