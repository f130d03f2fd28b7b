// One assignment: description, rubric, the code editor with a language picker, and the
// signed-in user's earlier submissions to it.

import { ApiError, api } from "../api.js";
import { codeEditor } from "../code-editor.js";
import { canManage, courseOf, isCourseStaff } from "../courses.js";
import { field, h, notice, setMessage } from "../dom.js";
import { attemptsText, countdown, deadlineState, formatNumber, formatScore, fromLocalInput, languageLabel, lateBadge, statusBadge, timeEl } from "../format.js";
import { renderMarkdown } from "../markdown.js";
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

const HISTORY_PAGE = 10;
const EXTENSIONS = { python: ["py"], javascript: ["js", "mjs", "cjs"], typescript: ["ts"], java: ["java"], c: ["c", "h"], cpp: ["cpp", "cc", "cxx", "hpp"], go: ["go"], rust: ["rs"] };
const MAX_UPLOAD_BYTES = 1024 * 1024;

export async function assignmentView(ctx) {
  const { id } = ctx.params;
  const assignment = await api(`/assignments/${encodeURIComponent(id)}`, { signal: ctx.signal });
  ctx.setTitle(assignment.title);
  const course = await courseOf(assignment.course_id, ctx.signal);
  const staff = isCourseStaff(course?.my_role);
  const manage = canManage(course?.my_role);
  const { state } = deadlineState(assignment);
  const limitReached = !staff && assignment.mine?.allowed !== null && assignment.mine?.allowed !== undefined && assignment.mine.used >= assignment.mine.allowed;
  const blocked = course?.archived ? "This course is archived: it takes no submissions." : !staff && state === "upcoming" ? "This assignment is not open yet." : !staff && state === "closed" ? "This assignment is closed: the deadline has passed." : limitReached ? "You have used all your submissions for this assignment." : null;

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
  const upload = h("input", { type: "file", name: "upload", accept: languages.flatMap((l) => (EXTENSIONS[l] || []).map((e) => `.${e}`)).join(",") || null });
  upload.addEventListener("change", async () => {
    const file = upload.files?.[0];
    if (!file) return;
    setMessage(message, "", "");
    if (file.size > MAX_UPLOAD_BYTES) {
      setMessage(message, "error", `${file.name} is too large (${file.size.toLocaleString()} bytes). Choose the source file itself.`);
      return;
    }
    const text = await file.text();
    if (text.includes("\u0000")) {
      setMessage(message, "error", `${file.name} is not a text file. Choose the source file itself.`);
      return;
    }
    editor.value = text;
    sessionStorage.setItem(draftKey, text);
    const ext = file.name.split(".").pop().toLowerCase();
    const guessed = languages.find((l) => (EXTENSIONS[l] || []).includes(ext));
    if (guessed) language.value = guessed;
    setMessage(message, "success", `Loaded ${file.name} into the editor${guessed ? ` (${languageLabel(guessed)})` : ""}. Check it, then submit.`);
  });
  const submit = h("button", { type: "submit", class: "primary", disabled: Boolean(blocked) }, "Submit for grading");
  const attempts = attemptsText(assignment);
  const form = h(
    "form",
    { class: "card submit-form", "aria-labelledby": "submit-heading" },
    h("h2", { id: "submit-heading" }, "Submit your solution"),
    blocked ? notice("info", blocked) : null,
    message,
    field("Language", language, languages.length === 1 ? "This assignment accepts one language." : "Only the languages this assignment accepts."),
    field("Upload a file instead of typing", upload, "Loads the file into the editor below; nothing is sent until you submit."),
    editor.element,
    h("div", { class: "actions" }, submit, !staff && attempts ? h("span", { class: "attempts", "data-testid": "attempts" }, attempts) : null),
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
          409: "You have used all your submissions for this assignment.",
        },
      });
      idempotency = { key: "", of: null };
      sessionStorage.removeItem(draftKey);
      ctx.flash("success", created.late ? "Submitted late. Grading has started; the late penalty applies to the score." : "Submitted. Grading has started.", { afterNavigation: true });
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
        manage ? h("a", { href: `#/assignments/${encodeURIComponent(id)}/edit` }, "Edit assignment") : null,
      )
    : null;

  const description = h("div", { class: "prose markdown" });
  if (assignment.description) description.append(renderMarkdown(assignment.description));
  else description.textContent = "No description.";

  return h(
    "article",
    { class: "assignment" },
    h(
      "p",
      { class: "crumbs" },
      course ? h("a", { href: `#/courses/${encodeURIComponent(course.id)}` }, `${course.code} · ${course.title}`) : h("a", { href: "#/assignments" }, "Assignments"),
    ),
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
        h("section", { class: "card", "aria-labelledby": "desc-heading" }, h("h2", { id: "desc-heading" }, "Description"), description),
        form,
        staff ? await reviewSection(ctx, assignment) : null,
        staff ? await extensionsSection(ctx, assignment, course) : null,
      ),
      h(
        "aside",
        { class: "col-side" },
        scheduleCard(assignment, ctx.signal),
        assignment.rubric?.length ? h("section", { class: "card", "aria-labelledby": "rubric-heading" }, h("h2", { id: "rubric-heading" }, "Rubric"), rubricTable(assignment)) : null,
        assignment.tests?.length
          ? h("section", { class: "card", "aria-labelledby": "tests-list-heading" }, h("h2", { id: "tests-list-heading" }, "Tests"), h("p", { class: "hint" }, "Your program reads each test's input and must print its expected output."), assignmentTestsList(assignment.tests))
          : null,
        await historyCard(ctx, id, !staff),
      ),
    ),
  );
}

/** Dates, penalty and limit of the assignment as they apply to the caller, with a live countdown. */
function scheduleCard(assignment, signal) {
  const mine = assignment.mine;
  const due = mine?.due_at ?? assignment.due_at;
  const lateUntil = mine?.late_until ?? assignment.late_until;
  const rows = [
    assignment.opens_at ? ["Opens", timeEl(assignment.opens_at)] : null,
    ["Due", due ? timeEl(due) : "No due date"],
    lateUntil ? ["Late submissions until", timeEl(lateUntil)] : null,
    lateUntil && Number(assignment.late_penalty_percent_per_day) ? ["Late penalty", `${formatNumber(assignment.late_penalty_percent_per_day)} % per started day`] : null,
    ["Submissions", assignment.max_submissions ? (attemptsText(assignment) ?? `${assignment.max_submissions} allowed`) : "Unlimited"],
    ["Gradebook counts", assignment.counted === "best" ? "The best submission" : "The last graded submission"],
  ].filter(Boolean);
  return h(
    "section",
    { class: "card schedule-card", "aria-labelledby": "schedule-heading" },
    h("h2", { id: "schedule-heading" }, "Dates"),
    h("p", {}, countdown(assignment, signal)),
    mine?.extended ? notice("info", "You have an extension: the dates below are yours.") : null,
    h("dl", { class: "facts" }, rows.map(([label, value]) => [h("dt", {}, label), h("dd", {}, value)])),
  );
}

/** The caller's own submissions, newest first, a page at a time. */
async function historyCard(ctx, assignmentId, student) {
  const list = h("ol", { class: "history" });
  const more = h("button", { type: "button", class: "secondary small", hidden: true }, "Show older submissions");
  const section = h("section", { class: "card", "aria-labelledby": "mine-heading" }, h("h2", { id: "mine-heading" }, "Your submissions"), list, more);
  let cursor = null;
  async function loadPage() {
    const query = new URLSearchParams({ assignment_id: assignmentId, user_id: ctx.user.id, limit: String(HISTORY_PAGE) });
    if (cursor) query.set("cursor", cursor);
    const page = await api(`/submissions?${query}`, { signal: ctx.signal });
    const items = page.items.filter((s) => s.user_id === ctx.user.id);
    list.append(...historyItems(items, student));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!list.children.length) list.replaceWith(h("p", { class: "empty" }, "You have not submitted anything yet."));
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      await loadPage();
    } finally {
      more.disabled = false;
    }
  });
  await loadPage();
  return section;
}

async function extensionsSection(ctx, assignment, course) {
  const enc = encodeURIComponent(assignment.id);
  const [members, extensions] = await Promise.all([
    api(`/courses/${encodeURIComponent(course.id)}/members`, { signal: ctx.signal }),
    api(`/assignments/${enc}/extensions`, { signal: ctx.signal }),
  ]);
  const students = members.filter((m) => m.role === "student");
  const byId = Object.fromEntries(members.map((m) => [m.user_id, m]));
  const tbody = h("tbody", {});
  function renderRows(rows) {
    tbody.replaceChildren(
      ...rows.map((x) =>
        h("tr", {}, h("td", {}, byId[x.user_id]?.name ?? x.user_id), h("td", {}, timeEl(x.due_at)), h("td", {}, x.late_until ? timeEl(x.late_until) : "–"), h("td", { class: "num" }, formatNumber(x.extra_submissions))),
      ),
    );
  }
  renderRows(extensions);
  const student = h("select", { name: "extension_student" }, students.map((m) => h("option", { value: m.user_id }, `${m.name} (${m.email})`)));
  const dueAt = h("input", { type: "datetime-local", name: "extension_due_at", required: true });
  const lateUntil = h("input", { type: "datetime-local", name: "extension_late_until" });
  const extra = h("input", { type: "number", name: "extra_submissions", min: "0", step: "1", value: "0", inputmode: "numeric" });
  const message = h("div", { class: "form-message" });
  const form = h(
    "form",
    { class: "extension-form" },
    h("h3", {}, "Grant an extension"),
    message,
    field("Student", student),
    h("div", { class: "row-grid" }, field("New due date", dueAt), field("Late submissions until (optional)", lateUntil), field("Extra submissions", extra)),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary", disabled: students.length === 0 }, "Save extension")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    const due = fromLocalInput(dueAt.value);
    if (!student.value || !due) {
      setMessage(message, "error", "Choose a student and a new due date.");
      return;
    }
    const late = fromLocalInput(lateUntil.value);
    if (late && late < due) {
      setMessage(message, "error", "Late submissions must end after the new due date.");
      return;
    }
    try {
      await api(`/assignments/${enc}/extensions/${encodeURIComponent(student.value)}`, {
        method: "PUT",
        json: { due_at: due, late_until: late, extra_submissions: Number(extra.value || 0) },
      });
      setMessage(message, "success", `Extension saved for ${byId[student.value]?.name ?? "the student"}.`);
      renderRows(await api(`/assignments/${enc}/extensions`));
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Saving the extension failed.");
    }
  });
  return h(
    "section",
    { class: "card extensions", "aria-labelledby": "extensions-heading" },
    h("h2", { id: "extensions-heading" }, "Extensions"),
    h("div", { class: "table-wrap" }, h("table", { class: "extensions-table" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Student"), h("th", { scope: "col" }, "Due"), h("th", { scope: "col" }, "Late until"), h("th", { scope: "col", class: "num" }, "Extra submissions"))), tbody)),
    form,
  );
}

/** The caller's own submissions in the narrow side column: time, status, late, score. */
function historyItems(submissions, student) {
  return submissions.map((s) =>
    h(
      "li",
      {},
      h(
        "a",
        { href: `#/submissions/${encodeURIComponent(s.id)}` },
        h("span", { class: "history-time" }, timeEl(s.created_at)),
        statusBadge(s.status, { student }),
        lateBadge(s),
        h("span", { class: "history-score" }, formatScore(s.result?.score, s.result?.max_score)),
      ),
    ),
  );
}

/** 128 random bits as hex (crypto.randomUUID needs a secure context; plain-HTTP installs have none). */
function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Staff: release the grades, regrade everything, and how far instructors moved the AI's grades. */
async function reviewSection(ctx, assignment) {
  const id = encodeURIComponent(assignment.id);
  const message = h("div", { class: "form-message", role: "status" });
  const parts = [h("h2", { id: "review-heading" }, "Review and release"), message];
  if (assignment.release === "manual") {
    const released = Boolean(assignment.released_at);
    const state = h("p", { "data-testid": "release-state" }, released ? "Grades are released to students." : "Grades are hidden from students until you release them.");
    const button = h("button", { type: "button", class: "primary", disabled: released }, released ? "Released" : "Release grades");
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await api(`/assignments/${id}/release`, { method: "POST" });
        state.textContent = "Grades are released to students.";
        button.textContent = "Released";
        setMessage(message, "success", "Grades released: students see their results now.");
      } catch (err) {
        button.disabled = false;
        setMessage(message, "error", err instanceof ApiError ? err.message : "Releasing failed.");
      }
    });
    parts.push(state, h("p", {}, button));
  }
  const which = h("select", { name: "statuses" }, [["", "every student's latest submission"], ["needs_review", "only those that need review"], ["error", "only errors"], ["timeout", "only timeouts"]].map(([value, label]) => h("option", { value }, label)));
  const progress = h("p", { class: "muted", "data-testid": "regrade-progress" });
  const regrade = h("button", { type: "button", class: "secondary" }, "Regrade");
  async function refreshProgress() {
    const p = await api(`/assignments/${id}/regrade`, { signal: ctx.signal }).catch(() => null);
    if (p && p.total) progress.textContent = `Last bulk regrade: ${formatNumber(p.done)} of ${formatNumber(p.total)} graded again.`;
    return p;
  }
  regrade.addEventListener("click", async () => {
    if (!window.confirm("Grade these submissions again? Their current results stay in each submission's history.")) return;
    regrade.disabled = true;
    try {
      const body = which.value ? { statuses: [which.value] } : {};
      const answer = await api(`/assignments/${id}/regrade`, { method: "POST", json: body });
      setMessage(message, "success", `${formatNumber(answer.queued)} submissions queued for grading.`);
      for (let i = 0; i < 120 && !ctx.signal.aborted; i += 1) {
        const p = await refreshProgress();
        if (!p || p.done >= p.total) break;
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "The regrade could not be started.");
    } finally {
      regrade.disabled = false;
    }
  });
  parts.push(h("div", { class: "inline-form" }, h("label", {}, "Regrade ", which), " ", regrade), progress);
  const figures = await api(`/assignments/${id}/agreement`, { signal: ctx.signal }).catch(() => null);
  if (figures && figures.pairs) {
    const criteria = figures.per_criterion || [];
    const pairs = criteria.reduce((n, c) => n + c.pairs, 0);
    const agreed = criteria.reduce((n, c) => n + (c.agreed || 0), 0);
    const diffs = criteria.filter((c) => c.mean_abs_diff !== null);
    const meanDiff = diffs.length ? diffs.reduce((n, c) => n + c.mean_abs_diff * c.pairs, 0) / Math.max(1, pairs) : figures.mean_abs_diff;
    parts.push(h("p", { "data-testid": "agreement" }, pairs ? `AI and instructors agreed on ${formatNumber(agreed)} of ${formatNumber(pairs)} overridden criteria (mean difference ${formatNumber(Math.round(meanDiff * 100) / 100)} points).` : `Instructors overrode ${formatNumber(figures.pairs)} AI grades (mean difference ${formatNumber(figures.mean_abs_diff)} points).`));
  } else {
    parts.push(h("p", { class: "hint" }, "No AI grade of this assignment has been overridden yet."));
  }
  await refreshProgress();
  return h("section", { class: "card", "aria-labelledby": "review-heading" }, parts);
}
