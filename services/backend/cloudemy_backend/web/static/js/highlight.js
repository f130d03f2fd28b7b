// Syntax highlighting with highlight.js (vendored core and the languages Cloudemy grades). The
// highlighter's output passes through DOMPurify (spans with classes only) before it reaches the page.

import hljs from "../vendor/highlight/core.min.js";
import c from "../vendor/highlight/languages/c.min.js";
import cpp from "../vendor/highlight/languages/cpp.min.js";
import go from "../vendor/highlight/languages/go.min.js";
import java from "../vendor/highlight/languages/java.min.js";
import javascript from "../vendor/highlight/languages/javascript.min.js";
import python from "../vendor/highlight/languages/python.min.js";
import rust from "../vendor/highlight/languages/rust.min.js";
import typescript from "../vendor/highlight/languages/typescript.min.js";
import { sanitizeHighlight } from "./sanitize.js";

for (const [name, grammar] of Object.entries({ c, cpp, go, java, javascript, python, rust, typescript })) {
  hljs.registerLanguage(name, grammar);
}

const MAX_HIGHLIGHT_CHARS = 200_000; // beyond this the code is shown plain (highlighting would stall the page)

/** Fill `element` with `code`, highlighted as `language` when it is one we know; plain text otherwise. */
export function highlightInto(element, code, language) {
  const text = String(code ?? "");
  if (!language || !hljs.getLanguage(language) || text.length > MAX_HIGHLIGHT_CHARS) {
    element.textContent = text;
    return;
  }
  const { value } = hljs.highlight(text, { language, ignoreIllegals: true });
  element.replaceChildren(sanitizeHighlight(value));
  element.classList.add("hljs");
}
