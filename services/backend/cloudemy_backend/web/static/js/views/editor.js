// Create or edit an assignment: title, description, languages, fail tags, published, the rubric editor
// (criteria with id, title, description and points) and the tests editor (tests-editor.js); the max score
// is the rubric's points plus the tests' points.

import { ApiError, api } from "../api.js";
import { field, h, notice, setMessage, uid } from "../dom.js";
import { isStaff } from "../session.js";
import { LANGUAGES, formatNumber, fromLocalInput, languageLabel, toLocalInput } from "../format.js";
import { rowList } from "./row-list.js";
import { testsEditor } from "./tests-editor.js";

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

function slugify(text, taken) {
  const base = String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "criterion";
  let candidate = base;
  for (let n = 2; taken.has(candidate); n += 1) candidate = `${base}-${n}`;
  return candidate;
}

export async function editorView(ctx) {
  const editing = Boolean(ctx.params.id);
  const existing = editing ? await api(`/assignments/${encodeURIComponent(ctx.params.id)}`, { signal: ctx.signal }) : null;
  // A new assignment goes into one of the courses the user teaches (preselected from the URL).
  const teaching = editing ? [] : (await api("/courses", { signal: ctx.signal })).filter((c) => ["instructor", "admin"].includes(c.my_role) && !c.archived);
  if (!editing && teaching.length === 0) {
    if (!isStaff(ctx.user)) {
      return h("section", {}, h("h1", {}, "Not allowed"), notice("error", "Only a course's instructors create its assignments."));
    }
    return h(
      "section",
      {},
      h("h1", {}, "New assignment"),
      h("p", { class: "empty" }, "Assignments belong to a course, and you teach none yet. ", h("a", { href: "#/courses" }, "Create a course first.")),
    );
  }
  const courseSelect = editing
    ? null
    : h(
        "select",
        { name: "course" },
        teaching.map((c) => h("option", { value: c.id, selected: c.id === ctx.params.course }, `${c.code} · ${c.title}`)),
      );
  const heading = editing ? `Edit: ${existing.title}` : "New assignment";
  ctx.setTitle(heading);

  const title = h("input", { type: "text", name: "title", required: true, maxlength: "200", value: existing?.title ?? "" });
  const description = h("textarea", { name: "description", rows: "8", maxlength: "20000" });
  description.value = existing?.description ?? "";
  const chosen = new Set(existing?.languages ?? ["python"]);
  const languageBoxes = LANGUAGES.map((lang) => {
    const box = h("input", { type: "checkbox", name: "languages", value: lang, id: uid("lang"), checked: chosen.has(lang) });
    return { lang, box, el: h("label", { class: "check", for: box.id }, box, languageLabel(lang)) };
  });
  const failTags = h("input", { type: "text", name: "fail_tags", value: (existing?.fail_tags ?? []).join(", "), autocomplete: "off" });
  const published = h("input", { type: "checkbox", name: "published", id: uid("published"), checked: existing?.published ?? false });
  const opensAt = h("input", { type: "datetime-local", name: "opens_at", value: toLocalInput(existing?.opens_at) });
  const dueAt = h("input", { type: "datetime-local", name: "due_at", value: toLocalInput(existing?.due_at) });
  const lateUntil = h("input", { type: "datetime-local", name: "late_until", value: toLocalInput(existing?.late_until) });
  const penalty = h("input", { type: "number", name: "late_penalty_percent_per_day", min: "0", max: "100", step: "any", inputmode: "decimal", value: existing?.late_penalty_percent_per_day ?? 0 });
  const maxSubmissions = h("input", { type: "number", name: "max_submissions", min: "1", step: "1", inputmode: "numeric", value: existing?.max_submissions ?? "" });
  const counted = h(
    "select",
    { name: "counted" },
    h("option", { value: "last", selected: (existing?.counted ?? "last") === "last" }, "The last graded submission"),
    h("option", { value: "best", selected: existing?.counted === "best" }, "The best submission"),
  );

  const rows = h("ol", { class: "rubric-rows" });
  const total = h("output", { class: "total", "aria-live": "polite" });
  const rubricMessage = h("div", { class: "form-message" });
  const rowsEditor = rowList(rows, { renumber, fallback: () => addCriterion });

  const tests = testsEditor(existing, {
    onChange: () => updateTotal(),
    languages: () => languageBoxes.filter((l) => l.box.checked).map((l) => l.lang),
  });
  for (const { box } of languageBoxes) box.addEventListener("change", tests.refreshLanguages);

  function updateTotal() {
    const sum = [...rows.children].reduce((acc, row) => acc + (Number(row.querySelector("input[name=points]").value) || 0), 0);
    total.textContent = `Max score: ${formatNumber(sum + tests.totalPoints())}`;
  }

  function renumber() {
    [...rows.children].forEach((row, i) => {
      row.querySelector(".row-title").textContent = `Criterion ${i + 1}`;
      row.querySelector("[data-action=up]").disabled = i === 0;
      row.querySelector("[data-action=down]").disabled = i === rows.children.length - 1;
      for (const button of row.querySelectorAll("button[data-action]")) {
        button.setAttribute("aria-label", `${button.dataset.label} criterion ${i + 1}`);
      }
    });
    updateTotal();
  }

  function addRow(criterion = {}, focus = false) {
    const idInput = h("input", { type: "text", name: "id", required: true, maxlength: "64", pattern: SLUG.source, value: criterion.id ?? "", autocomplete: "off" });
    const titleInput = h("input", { type: "text", name: "criterion_title", required: true, maxlength: "200", value: criterion.title ?? "" });
    const descInput = h("textarea", { name: "criterion_description", rows: "2", maxlength: "4000" });
    descInput.value = criterion.description ?? "";
    const points = h("input", { type: "number", name: "points", required: true, min: "0.5", max: "10000", step: "any", value: criterion.points ?? "", inputmode: "decimal" });
    points.addEventListener("input", updateTotal);
    titleInput.addEventListener("change", () => {
      if (!idInput.value.trim() && titleInput.value.trim()) {
        const taken = new Set([...rows.querySelectorAll("input[name=id]")].map((i) => i.value));
        idInput.value = slugify(titleInput.value, taken);
      }
    });
    const row = h(
      "li",
      { class: "rubric-row" },
      rowsEditor.head(() => row),
      h(
        "div",
        { class: "row-grid" },
        field("Title", titleInput),
        field("Id", idInput, "Letters, digits, - _ . : (used in results)."),
        field("Points", points),
      ),
      field("What earns the points", descInput),
    );
    rows.append(row);
    renumber();
    if (focus) titleInput.focus();
  }


  const addCriterion = h("button", { type: "button", class: "secondary", onclick: () => addRow({}, true) }, "Add criterion");
  for (const criterion of existing?.rubric ?? [{}]) addRow(criterion);
  updateTotal(); // also when there is no criterion (a tests-only assignment)

  const message = h("div", { class: "form-message" });
  const save = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create assignment");
  const form = h(
    "form",
    { class: "card editor", novalidate: true },
    message,
    courseSelect ? field("Course", courseSelect) : null,
    field("Title", title),
    field("Description", description, "Shown to students (as Markdown: **bold**, lists, `code`, links) and given to the grader."),
    h("fieldset", { class: "languages" }, h("legend", {}, "Allowed languages"), h("div", { class: "checks" }, languageBoxes.map((l) => l.el))),
    h(
      "fieldset",
      { class: "rubric-editor" },
      h("legend", {}, "Rubric"),
      h("p", { class: "hint" }, "Each criterion is scored separately by the grader. With tests, the rubric may be empty: the tests alone then grade, without the AI grader."),
      rubricMessage,
      rows,
      h("div", { class: "rubric-foot" }, addCriterion, total),
    ),
    tests.element,
    field("Fail tags", failTags, "Optional, comma-separated, e.g. no-tests, off-topic. The grader may attach them to a result."),
    h(
      "fieldset",
      { class: "schedule" },
      h("legend", {}, "Dates and limits"),
      h("p", { class: "hint" }, `Times are in your time zone (${Intl.DateTimeFormat().resolvedOptions().timeZone}); the server's clock decides.`),
      h(
        "div",
        { class: "row-grid" },
        field("Opens at", opensAt, "Optional: no submissions before."),
        field("Due at", dueAt, "Optional: later submissions are late, or refused without a late window."),
        field("Late submissions until", lateUntil, "Optional: accepted after the due date until then."),
      ),
      h(
        "div",
        { class: "row-grid" },
        field("Late penalty (% per day)", penalty, "Taken off a late score per started day after the due date."),
        field("Submissions allowed", maxSubmissions, "Empty: unlimited. Failures of the platform do not count."),
        field("Gradebook counts", counted),
      ),
    ),
    h("div", { class: "field" }, h("label", { class: "check", for: published.id }, published, "Published (students can see and submit)")),
    h("div", { class: "actions" }, save, h("a", { class: "button secondary", href: editing ? `#/assignments/${encodeURIComponent(existing.id)}` : "#/assignments" }, "Cancel")),
  );

  function collect() {
    const problems = [];
    const body = {
      title: title.value.trim(),
      description: description.value,
      languages: languageBoxes.filter((l) => l.box.checked).map((l) => l.lang),
      rubric: [],
      fail_tags: failTags.value.split(",").map((t) => t.trim()).filter(Boolean),
      published: published.checked,
      opens_at: fromLocalInput(opensAt.value),
      due_at: fromLocalInput(dueAt.value),
      late_until: fromLocalInput(lateUntil.value),
      late_penalty_percent_per_day: Number(penalty.value || 0),
      max_submissions: maxSubmissions.value === "" ? null : Number(maxSubmissions.value),
      counted: counted.value,
    };
    if (!body.title) problems.push("Give the assignment a title.");
    if (body.languages.length === 0) problems.push("Allow at least one language.");
    const ids = new Set();
    [...rows.children].forEach((row, i) => {
      const criterion = {
        id: row.querySelector("input[name=id]").value.trim(),
        title: row.querySelector("input[name=criterion_title]").value.trim(),
        description: row.querySelector("textarea[name=criterion_description]").value,
        points: Number(row.querySelector("input[name=points]").value),
      };
      const blank = !criterion.id && !criterion.title && !criterion.description.trim() && !row.querySelector("input[name=points]").value;
      if (blank) return; // an untouched criterion row is no criterion (a tests-only assignment has none)
      if (!criterion.id && criterion.title) criterion.id = slugify(criterion.title, ids);
      if (!criterion.title) problems.push(`Criterion ${i + 1}: give it a title.`);
      if (!SLUG.test(criterion.id)) problems.push(`Criterion ${i + 1}: the id may hold only letters, digits and - _ . : (at most 64).`);
      else if (ids.has(criterion.id)) problems.push(`Criterion ${i + 1}: the id "${criterion.id}" is used twice.`);
      ids.add(criterion.id);
      if (!(criterion.points > 0)) problems.push(`Criterion ${i + 1}: points must be more than 0.`);
      body.rubric.push(criterion);
    });
    if (body.due_at && body.opens_at && body.due_at <= body.opens_at) problems.push("The due date must be after the opening date.");
    if (body.late_until && !body.due_at) problems.push("A late window needs a due date.");
    if (body.late_until && body.due_at && body.late_until < body.due_at) problems.push("Late submissions must end after the due date.");
    if (!(body.late_penalty_percent_per_day >= 0 && body.late_penalty_percent_per_day <= 100)) problems.push("The late penalty must be between 0 and 100 %.");
    if (body.max_submissions !== null && !(Number.isInteger(body.max_submissions) && body.max_submissions >= 1)) problems.push("Submissions allowed must be a whole number of at least 1, or empty.");
    for (const tag of body.fail_tags) if (!SLUG.test(tag)) problems.push(`Fail tag "${tag}": use only letters, digits and - _ . : (no spaces).`);
    const { tests: testList, limits, reference_solution: reference } = tests.collect(problems, ids);
    Object.assign(body, { tests: testList, limits, reference_solution: reference });
    if (!body.rubric.length && !testList.length) problems.push("Add a rubric criterion or a test: there is nothing to grade.");
    return { body, problems };
  }

  // Set once the assignment exists (editing, or created by a reference run); later saves PATCH it.
  let savedId = existing?.id ?? null;

  /** Validate and save the form; the saved assignment, or null (the problems are shown). */
  async function store() {
    setMessage(message, "", "");
    setMessage(rubricMessage, "", "");
    const { body, problems } = collect();
    if (problems.length) {
      setMessage(message, "error", `Please correct the following:\n${problems.join("\n")}`);
      message.focus?.();
      message.scrollIntoView({ block: "nearest" });
      return null;
    }
    try {
      if (savedId) return await api(`/assignments/${encodeURIComponent(savedId)}`, { method: "PATCH", json: body });
      const created = await api(`/courses/${encodeURIComponent(courseSelect.value)}/assignments`, { method: "POST", json: body });
      savedId = created.id;
      return created;
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Saving failed.");
      message.scrollIntoView({ block: "nearest" });
      return null;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    const wasSaved = Boolean(savedId);
    const saved = await store();
    save.disabled = false;
    if (!saved) return;
    ctx.flash("success", editing || wasSaved ? "Assignment saved." : "Assignment created.", { afterNavigation: true });
    ctx.navigate(`/assignments/${saved.id ?? savedId}`);
  });
  tests.connectRun(ctx, async () => {
    const creating = !savedId;
    const saved = await store();
    if (saved && creating) {
      // Stay on this form, now editing the created assignment (no navigation: the run shows here).
      history.replaceState(null, "", `#/assignments/${encodeURIComponent(saved.id)}/edit`);
      save.textContent = "Save changes";
      ctx.flash("success", "Assignment created (it stays as you set it, published or not).");
    }
    return saved;
  });

  return h(
    "section",
    {},
    h("p", { class: "crumbs" }, h("a", { href: "#/assignments" }, "Assignments")),
    h("h1", {}, heading),
    form,
  );
}
