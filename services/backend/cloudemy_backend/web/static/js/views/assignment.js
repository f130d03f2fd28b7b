// One assignment: description, rubric, the code editor with a language picker, and the
// signed-in user's earlier submissions to it.

import { ApiError, api, listAll } from "../api.js";
import { codeEditor } from "../code-editor.js";
import { field, h, setMessage } from "../dom.js";
import { formatNumber, formatScore, languageLabel, statusBadge, timeEl } from "../format.js";
import { isStaff } from "../session.js";
import { assignmentTestsList } from "./test-results.js";

const DRAFT_PREFIX = "cloudemy.draft.";

export function rubricTable(assignment) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "rubric" },
      h("caption", { class: "visually-hidden" }, "Rubric"),
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Criterion"), h("th", { scope: "col", class: "num" }, "Points"))),
      h(
        "tbody",
        {},
        (assignment.rubric || []).map((c) =>
          h(
            "tr",
            {},
            h("td", {}, h("strong", {}, c.title), c.description ? h("p", { class: "criterion-description" }, c.description) : null),
            h("td", { class: "num" }, formatNumber(c.points)),
          ),
        ),
      ),
      h("tfoot", {}, h("tr", {}, h("th", { scope: "row" }, "Total"), h("td", { class: "num" }, formatNumber((assignment.rubric || []).reduce((sum, c) => sum + Number(c.points), 0))))),
    ),
  );
}

export function submissionsList(submissions, { showStudent = false, names = {} } = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "submissions" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          showStudent ? h("th", { scope: "col" }, "Student") : null,
          h("th", { scope: "col" }, "Submitted"),
          h("th", { scope: "col" }, "Language"),
          h("th", { scope: "col", class: "num" }, "Attempt"),
          h("th", { scope: "col" }, "Status"),
          h("th", { scope: "col", class: "num" }, "Score"),
          h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Details")),
        ),
      ),
      h(
        "tbody",
        {},
        submissions.map((s) =>
          h(
            "tr",
            {},
            showStudent ? h("td", {}, names[s.user_id] || s.user_id) : null,
            h("td", {}, timeEl(s.created_at)),
            h("td", {}, languageLabel(s.language)),
            h("td", { class: "num" }, formatNumber(s.attempt)),
            h("td", {}, statusBadge(s.status)),
            h("td", { class: "num" }, formatScore(s.result?.score, s.result?.max_score)),
            h("td", {}, h("a", { href: `#/submissions/${encodeURIComponent(s.id)}` }, "View", h("span", { class: "visually-hidden" }, ` submission from ${s.created_at}`))),
          ),
        ),
      ),
    ),
  );
}

export async function assignmentView(ctx) {
  const { id } = ctx.params;
  const assignment = await api(`/assignments/${encodeURIComponent(id)}`, { signal: ctx.signal });
  ctx.setTitle(assignment.title);
  const staff = isStaff(ctx.user);
  const mine = (await listAll("/submissions", { assignment_id: id, user_id: ctx.user.id }, { signal: ctx.signal })).filter(
    (s) => s.user_id === ctx.user.id,
  );
  mine.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));

  const languages = assignment.languages || [];
  const language = h(
    "select",
    { name: "language", required: true },
    languages.map((lang) => h("option", { value: lang }, languageLabel(lang))),
  );
  const draftKey = `${DRAFT_PREFIX}${id}`;
  const editor = codeEditor({ label: "Your code", value: sessionStorage.getItem(draftKey) || "" });
  editor.textarea.addEventListener("input", () => sessionStorage.setItem(draftKey, editor.value));
  const message = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary" }, "Submit for grading");
  const form = h(
    "form",
    { class: "card submit-form", "aria-labelledby": "submit-heading" },
    h("h2", { id: "submit-heading" }, "Submit your solution"),
    message,
    field("Language", language, languages.length === 1 ? "This assignment accepts one language." : "Only the languages this assignment accepts."),
    editor.element,
    h("div", { class: "actions" }, submit),
  );
  // One Idempotency-Key per distinct submission: a retry of the same code after a failed or timed-out
  // request reuses it, so the server stores the submission once whatever happened to the first answer.
  let idempotency = { key: "", of: null };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    const code = editor.value;
    if (!code.trim()) {
      setMessage(message, "error", "Write or paste your code first.");
      editor.textarea.focus();
      return;
    }
    const bytes = new TextEncoder().encode(code).length;
    const fingerprint = `${language.value}\u0000${code}`;
    if (idempotency.of !== fingerprint) idempotency = { key: randomKey(), of: fingerprint };
    submit.disabled = true;
    submit.textContent = "Submitting…";
    try {
      const created = await api(`/assignments/${encodeURIComponent(id)}/submissions`, {
        method: "POST",
        json: { language: language.value, code },
        headers: { "Idempotency-Key": idempotency.key },
        messages: {
          429: "You are submitting too often. Wait a minute, then submit again.",
          413: `Your code is too large (${bytes.toLocaleString()} bytes): it is over this server's size limit. Shorten it and submit again.`,
          404: "This assignment is not open for submissions any more.",
        },
      });
      idempotency = { key: "", of: null };
      sessionStorage.removeItem(draftKey);
      ctx.flash("success", "Submitted. Grading has started.", { afterNavigation: true });
      ctx.navigate(`/submissions/${created.id}`);
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Submitting failed.");
      submit.disabled = false;
      submit.textContent = "Submit for grading";
    }
  });

  const staffLinks = staff
    ? h(
        "p",
        { class: "card-actions" },
        h("a", { href: `#/assignments/${encodeURIComponent(id)}/submissions` }, "All submissions"),
        h("a", { href: `#/assignments/${encodeURIComponent(id)}/edit` }, "Edit assignment"),
      )
    : null;

  return h(
    "article",
    { class: "assignment" },
    h("p", { class: "crumbs" }, h("a", { href: "#/assignments" }, "Assignments")),
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, assignment.title),
      staff ? h("span", { class: `badge ${assignment.published ? "status-graded" : "status-draft"}` }, assignment.published ? "Published" : "Draft") : null,
    ),
    staffLinks,
    h(
      "p",
      { class: "meta" },
      h("span", {}, `${formatNumber(assignment.max_score)} points`),
      h("span", {}, `Languages: ${languages.map(languageLabel).join(", ")}`),
    ),
    h("div", { class: "layout-two" },
      h(
        "div",
        { class: "col-main" },
        h("section", { class: "card", "aria-labelledby": "desc-heading" }, h("h2", { id: "desc-heading" }, "Description"), h("div", { class: "prose" }, assignment.description || "No description.")),
        form,
      ),
      h(
        "aside",
        { class: "col-side" },
        assignment.rubric?.length ? h("section", { class: "card", "aria-labelledby": "rubric-heading" }, h("h2", { id: "rubric-heading" }, "Rubric"), rubricTable(assignment)) : null,
        assignment.tests?.length
          ? h("section", { class: "card", "aria-labelledby": "tests-list-heading" }, h("h2", { id: "tests-list-heading" }, "Tests"), h("p", { class: "hint" }, "Your program reads each test's input and must print its expected output."), assignmentTestsList(assignment.tests))
          : null,
        h(
          "section",
          { class: "card", "aria-labelledby": "mine-heading" },
          h("h2", { id: "mine-heading" }, "Your submissions"),
          mine.length ? submissionsListCompact(mine) : h("p", { class: "empty" }, "You have not submitted anything yet."),
        ),
      ),
    ),
  );
}

/** The student's own submissions in the narrow side column: time, status, score. */
function submissionsListCompact(submissions) {
  return h(
    "ol",
    { class: "history" },
    submissions.map((s) =>
      h(
        "li",
        {},
        h(
          "a",
          { href: `#/submissions/${encodeURIComponent(s.id)}` },
          h("span", { class: "history-time" }, timeEl(s.created_at)),
          statusBadge(s.status),
          h("span", { class: "history-score" }, formatScore(s.result?.score, s.result?.max_score)),
        ),
      ),
    ),
  );
}

/** 128 random bits as hex (crypto.randomUUID needs a secure context; plain-HTTP installs have none). */
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
