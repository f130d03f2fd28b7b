// An editable list of rows (rubric criteria, tests): each row's head with its title and its move-up, move-down
// and remove buttons, and the moves themselves (focus stays on the button that moved the row).

import { h } from "../dom.js";

/**
 * list: the <ol> holding the rows; renumber(): called after every change; fallback(): the element to focus
 * once the last row is removed. Returns {head(rowOf), move(row, delta), remove(row)}; head(rowOf) builds a
 * row's head, rowOf() giving the row it belongs to (it does not exist yet while its children are built).
 */
export function rowList(list, { renumber, fallback }) {
  function move(row, delta) {
    const sibling = delta < 0 ? row.previousElementSibling : row.nextElementSibling;
    if (!sibling) return;
    if (delta < 0) list.insertBefore(row, sibling);
    else list.insertBefore(sibling, row);
    renumber();
    row.querySelector(`[data-action=${delta < 0 ? "up" : "down"}]`).focus();
  }

  function remove(row) {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber();
    (next?.querySelector("input") ?? fallback()).focus();
  }

  function head(rowOf) {
    return h(
      "div",
      { class: "row-head" },
      h("span", { class: "row-title" }),
      h(
        "div",
        { class: "row-tools" },
        h("button", { type: "button", class: "icon", dataset: { action: "up", label: "Move up" }, onclick: () => move(rowOf(), -1) }, "↑"),
        h("button", { type: "button", class: "icon", dataset: { action: "down", label: "Move down" }, onclick: () => move(rowOf(), 1) }, "↓"),
        h("button", { type: "button", class: "icon danger", dataset: { action: "remove", label: "Remove" }, onclick: () => remove(rowOf()) }, "✕"),
      ),
    );
  }

  return { head, move, remove };
}
