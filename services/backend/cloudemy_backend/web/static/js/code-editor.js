// A monospace code editor: a plain <textarea> with a line-number gutter.
// Keyboard: Tab indents (the selected lines, or inserts spaces), Shift+Tab outdents.
// Esc "releases" the editor: the next Tab or Shift+Tab moves focus out as usual.

import { h, uid } from "./dom.js";
import { highlightInto } from "./highlight.js";

const INDENT = "    ";

export function codeEditor({ label, value = "", name = "code", readOnly = false }) {
  const id = uid("code");
  const hintId = `${id}-keys`;
  const textarea = h("textarea", {
    id,
    name,
    class: "code-input",
    spellcheck: "false",
    autocapitalize: "off",
    autocomplete: "off",
    wrap: "off",
    rows: "18",
    readonly: readOnly,
    "aria-describedby": readOnly ? null : hintId,
  });
  textarea.value = value;
  const gutter = h("div", { class: "code-gutter", "aria-hidden": "true" });
  const hint = readOnly
    ? null
    : h("p", { class: "hint", id: hintId }, "Tab indents, Shift+Tab outdents. To leave the editor, press Esc, then Tab.");

  let released = false;

  function renderLineNumbers() {
    const lines = textarea.value.split("\n").length;
    if (gutter.dataset.lines === String(lines)) return;
    gutter.dataset.lines = String(lines);
    const numbers = [];
    for (let i = 1; i <= lines; i += 1) numbers.push(i);
    gutter.textContent = numbers.join("\n");
  }

  function replaceSelection(start, end, text, selectStart, selectEnd) {
    textarea.focus();
    textarea.setSelectionRange(start, end);
    // execCommand keeps the browser's undo history; setRangeText is the fallback.
    const done = document.execCommand && document.execCommand("insertText", false, text);
    if (!done) textarea.setRangeText(text, start, end, "end");
    textarea.setSelectionRange(selectStart, selectEnd);
    renderLineNumbers();
  }

  function indent(outdent) {
    const { selectionStart: start, selectionEnd: end, value: text } = textarea;
    const multiLine = text.slice(start, end).includes("\n");
    if (!outdent && !multiLine) {
      replaceSelection(start, end, INDENT, start + INDENT.length, start + INDENT.length);
      return;
    }
    const lineStart = text.lastIndexOf("\n", start - 1) + 1;
    const blockEnd = end > start && text[end - 1] === "\n" ? end - 1 : end;
    const lines = text.slice(lineStart, blockEnd).split("\n");
    let firstDelta = 0;
    let totalDelta = 0;
    const changed = lines.map((line, index) => {
      if (!outdent) {
        totalDelta += INDENT.length;
        if (index === 0) firstDelta = INDENT.length;
        return INDENT + line;
      }
      const remove = line.match(/^( {1,4}|\t)/)?.[0].length ?? 0;
      totalDelta -= remove;
      if (index === 0) firstDelta = -remove;
      return line.slice(remove);
    });
    const newStart = Math.max(lineStart, start + firstDelta);
    replaceSelection(lineStart, blockEnd, changed.join("\n"), newStart, Math.max(newStart, end + totalDelta));
  }

  if (!readOnly) {
    textarea.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        released = true;
        return;
      }
      if (event.key === "Tab" && !event.ctrlKey && !event.altKey && !event.metaKey) {
        if (released) {
          released = false; // let the browser move focus
          return;
        }
        event.preventDefault();
        indent(event.shiftKey);
        return;
      }
      released = false;
    });
    textarea.addEventListener("blur", () => {
      released = false;
    });
  }
  textarea.addEventListener("input", renderLineNumbers);
  textarea.addEventListener("scroll", () => {
    gutter.scrollTop = textarea.scrollTop;
  });

  renderLineNumbers();
  const wrapper = h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("div", { class: `code-editor${readOnly ? " is-readonly" : ""}` }, gutter, textarea),
    hint,
  );
  return {
    element: wrapper,
    textarea,
    get value() {
      return textarea.value;
    },
    set value(text) {
      textarea.value = text;
      renderLineNumbers();
    },
  };
}

/** Read-only code with line numbers, as a <pre> (for showing a submission's code). */
export function codeBlock(code, label = "Code", language = null) {
  const text = String(code ?? "");
  const lines = (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
  const gutter = h("div", { class: "code-gutter", "aria-hidden": "true" }, lines.map((_, i) => i + 1).join("\n"));
  const codeEl = h("code", {});
  highlightInto(codeEl, text, language);
  const pre = h("pre", { class: "code-view" }, codeEl);
  // The box scrolls as a whole (gutter and code together); it is focusable so keys can scroll it.
  return h("div", { class: "code-editor code-static", tabindex: "0", role: "region", "aria-label": label }, gutter, pre);
}
