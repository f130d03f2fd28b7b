// Building DOM nodes without markup strings. Text always goes in through text nodes or
// textContent, so untrusted text (code, feedback, names, descriptions) can never become markup.

/**
 * h("button", {class: "primary", type: "submit", onclick: fn}, "Save") -> <button ...>Save</button>
 * props: "class", "text" (textContent), "dataset" (object), "on<event>" (listener), booleans
 * (true sets the attribute, false/null/undefined omit it) and any other attribute as a string.
 * children: strings and numbers (as text), nodes, arrays of either; null/undefined/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" && "value" in el) el.value = value;
    else if (key === "checked" && "checked" in el) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

let idCounter = 0;
/** A document-unique id for label/aria wiring. */
export function uid(prefix = "f") {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/** A labelled form field: <div class="field"><label for=id>label</label> control hint</div>. */
export function field(label, control, hint) {
  if (!control.id) control.id = uid("field");
  let hintEl = null;
  if (hint) {
    hintEl = h("p", { class: "hint", id: `${control.id}-hint` }, hint);
    const described = control.getAttribute("aria-describedby");
    control.setAttribute("aria-describedby", described ? `${described} ${hintEl.id}` : hintEl.id);
  }
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control, hintEl);
}

/** A message box; kind is "error", "success" or "info". Errors are announced by screen readers. */
export function notice(kind, ...children) {
  return h("div", { class: `notice notice-${kind}`, role: kind === "error" ? "alert" : "status" }, ...children);
}

/** Replace the content of a container that announces its changes (role=alert/status on the element). */
export function setMessage(container, kind, text) {
  container.replaceChildren();
  if (text) container.append(notice(kind, text));
}
