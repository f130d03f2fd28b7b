// One submission: live status (its small /status polled from every second to every 5 s while nothing
// changes, the whole submission fetched when it does, no polling once terminal), the result with its
// per-criterion breakdown, fail tags and feedback, the code, earlier submissions, and for
// instructors and admins: regrade and the manual-grade form for `needs_review`.

import { ApiError, api, listAll } from "../api.js";
import { codeBlock } from "../code-editor.js";
import { field, h, notice, setMessage } from "../dom.js";
import { PROGRESS, TERMINAL, formatNumber, formatScore, languageLabel, lateBadge, statusBadge, statusLabel, timeEl } from "../format.js";
import { courseOf, isCourseStaff } from "../courses.js";
import { studentDirectory } from "./submissions.js";
import { testResultsSection } from "./test-results.js";

const POLL_MS = 1000;
const MAX_QUIET_MS = 5000;
const MAX_BACKOFF_MS = 5000;

export async function submissionView(ctx) {
  const { id } = ctx.params;
  const path = `/submissions/${encodeURIComponent(id)}`;
  let submission = await api(path, { signal: ctx.signal });
  const assignment = await api(`/assignments/${encodeURIComponent(submission.assignment_id)}`, { signal: ctx.signal }).catch((err) => {
    if (err instanceof ApiError && err.status !== 401) return null;
    throw err;
  });
  const course = await courseOf(assignment?.course_id, ctx.signal).catch(() => null);
  const staff = isCourseStaff(course?.my_role);
  const student = staff ? (await studentDirectory(submission.assignment_id, ctx.signal))[submission.user_id] : null;
  const title = assignment ? assignment.title : "Submission";
  ctx.setTitle(`${title} – submission`);

  const statusArea = h("section", { class: "card status-card", "aria-labelledby": "status-heading" });
  const liveText = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
  const resultArea = h("div", {});
  const staffArea = h("div", {});
  const requestsArea = h("div", {});
  const connection = h("div", { class: "form-message" });
  const history = h("section", { class: "card", "aria-labelledby": "history-heading" }, h("h2", { id: "history-heading" }, "Earlier submissions"), h("p", { class: "muted" }, "Loading…"));

  let shownVersion = "";
  function show(sub) {
    // the regrade requests too: sending one changes neither the status nor the result
    const version = `${sub.status}|${sub.attempt}|${sub.updated_at}|${JSON.stringify(sub.result ?? null)}|${JSON.stringify(sub.regrade_requests ?? null)}`;
    if (version === shownVersion) return;
    const statusChanged = !shownVersion.startsWith(`${sub.status}|`);
    shownVersion = version;
    statusArea.replaceChildren(...statusTracker(sub, !staff));
    resultArea.replaceChildren(resultSection(sub, assignment, staff));
    if (staff) staffArea.replaceChildren(staffActions(sub));
    requestsArea.replaceChildren(regradeRequests(sub));
    if (statusChanged) liveText.textContent = `Status: ${statusLabel(sub.status, { student: !staff })}`;
  }

  async function poll() {
    let delay = POLL_MS;
    while (!ctx.signal.aborted && !TERMINAL.has(submission.status)) {
      await sleep(delay, ctx.signal);
      if (ctx.signal.aborted) return;
      try {
        const state = await api(`${path}/status`, { signal: ctx.signal });
        setMessage(connection, "", "");
        if (state.status !== submission.status || state.attempt !== submission.attempt || state.updated_at !== submission.updated_at) {
          submission = await api(path, { signal: ctx.signal });
          delay = POLL_MS;
          show(submission);
        } else {
          delay = Math.min(Math.round(delay * 1.5), MAX_QUIET_MS); // nothing new: ask less often
        }
      } catch (err) {
        if (err?.name === "AbortError" || !(err instanceof ApiError)) return;
        if (err.status === 401) return; // the app sends the user to the login page
        setMessage(connection, "error", `${err.message} Retrying…`);
        if (err.status === 404) return;
        delay = Math.min(delay * 2, MAX_BACKOFF_MS);
      }
    }
    loadHistory();
  }

  function staffActions(sub) {
    const regradeMessage = h("div", { class: "form-message" });
    const regrade = h("button", { type: "button", class: "secondary", disabled: !TERMINAL.has(sub.status) }, "Regrade");
    regrade.addEventListener("click", async () => {
      if (sub.result?.grader === "manual" && !window.confirm("An instructor graded this submission. Regrade it anyway? The instructor's grade stays in the history, but the new result replaces it.")) return;
      regrade.disabled = true;
      setMessage(regradeMessage, "", "");
      try {
        submission = await api(`${path}/regrade`, { method: "POST", messages: { 409: "This submission is still being graded; regrade it once it has finished." } });
        ctx.flash("success", `Regrade queued: attempt ${submission.attempt ?? ""}.`);
        if (!submission.status) submission = await api(path);
        show(submission);
        poll();
      } catch (err) {
        setMessage(regradeMessage, "error", err instanceof ApiError ? err.message : "Regrade failed.");
        regrade.disabled = false;
      }
    });
    const parts = [
      h("h2", { id: "staff-heading" }, "Instructor actions"),
      regradeMessage,
      h("p", {}, regrade, " ", h("span", { class: "hint" }, "Runs the grader again as a new attempt.")),
    ];
    if (TERMINAL.has(sub.status)) parts.push(manualGradeForm(sub));
    parts.push(resultHistory(sub, assignment));
    return h("section", { class: "card", "aria-labelledby": "staff-heading" }, parts);
  }

  function manualGradeForm(sub) {
    const max = assignment?.max_score ?? sub.result?.max_score ?? null;
    const rubric = assignment?.rubric || [];
    const aiMarks = Object.fromEntries((sub.result?.criteria || []).map((c) => [c.id, c.score]));
    const outcomes = sub.result?.tests || [];
    const score = h("input", { type: "number", name: "score", min: "0", max: max ?? null, step: "any", inputmode: "decimal" });
    const criterionInputs = rubric.map((c) => {
      const input = h("input", { type: "number", name: `criterion-${c.id}`, min: "0", max: String(c.points), step: "any", inputmode: "decimal", placeholder: aiMarks[c.id] !== undefined ? `grader: ${formatNumber(aiMarks[c.id])}` : "" });
      return { id: c.id, points: c.points, input, row: field(`${c.title} (0 to ${formatNumber(c.points)})`, input) };
    });
    const testInputs = outcomes.map((t) => {
      const input = h("input", { type: "number", name: `test-${t.id}`, min: "0", max: String(t.max_points), step: "any", inputmode: "decimal", placeholder: `now ${formatNumber(t.points)}` });
      return { id: t.id, max: t.max_points, input, row: field(`Test ${t.name || t.id}: ${t.verdict} (0 to ${formatNumber(t.max_points)})`, input) };
    });
    const feedback = h("textarea", { name: "feedback", rows: "5", maxlength: "20000", placeholder: "What the student should know about this grade" });
    const message = h("div", { class: "form-message" });
    const save = h("button", { type: "submit", class: "primary" }, "Save grade");
    const replaces = sub.status === "needs_review" ? "This submission needs review." : `This replaces the ${statusLabel(sub.status)} result; it stays in the history.`;
    const form = h(
      "form",
      { class: "manual-grade", "aria-labelledby": "manual-heading", novalidate: true },
      h("h3", { id: "manual-heading" }, sub.status === "needs_review" ? "Grade manually" : "Override the grade"),
      h("p", { class: "hint" }, `${replaces} Give marks per criterion or per test (the score is their sum; the ones left empty keep the current marks), or a single score.`),
      message,
      criterionInputs.length ? h("fieldset", {}, h("legend", {}, "Per criterion"), criterionInputs.map((c) => c.row)) : null,
      testInputs.length ? h("fieldset", {}, h("legend", {}, "Per test"), testInputs.map((t) => t.row)) : null,
      field(max !== null ? `Or a single score (0 to ${formatNumber(max)})` : "Or a single score", score),
      field("Feedback for the student", feedback),
      h("div", { class: "actions" }, save),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      setMessage(message, "", "");
      const body = { feedback: feedback.value };
      const bad = (input, top) => {
        const value = Number(input.value);
        return Number.isNaN(value) || value < 0 || (top !== null && top !== undefined && value > top);
      };
      const criteria = [];
      for (const c of criterionInputs) {
        if (c.input.value.trim() === "") continue;
        if (bad(c.input, c.points)) return setMessage(message, "error", `Enter 0 to ${formatNumber(c.points)} for this criterion.`), c.input.focus();
        criteria.push({ id: c.id, score: Number(c.input.value) });
      }
      const tests = [];
      for (const t of testInputs) {
        if (t.input.value.trim() === "") continue;
        if (bad(t.input, t.max)) return setMessage(message, "error", `Enter 0 to ${formatNumber(t.max)} for this test.`), t.input.focus();
        tests.push({ id: t.id, points: Number(t.input.value) });
      }
      if (criteria.length) body.criteria = criteria;
      if (tests.length) body.tests = tests;
      if (!criteria.length && !tests.length) {
        if (score.value.trim() === "" || bad(score, max)) {
          setMessage(message, "error", max !== null ? `Enter a score between 0 and ${formatNumber(max)}, or marks per criterion.` : "Enter a score of 0 or more.");
          score.focus();
          return;
        }
        body.score = Number(score.value);
      }
      save.disabled = true;
      try {
        await api(`${path}/grade`, {
          method: "POST",
          json: body,
          messages: { 409: "This submission is being graded again right now. Reload to see it." },
        });
        submission = await api(path);
        ctx.flash("success", "Grade saved.");
        show(submission);
        loadHistory();
        resultArea.querySelector("h2")?.focus();
      } catch (err) {
        setMessage(message, "error", err instanceof ApiError ? err.message : "Saving the grade failed.");
        save.disabled = false;
      }
    });
    return form;
  }

  function regradeRequests(sub) {
    const requests = sub.regrade_requests || [];
    const items = requests.map((r) =>
      h("li", { class: "regrade-request" }, h("p", {}, h("strong", {}, "Request: "), r.message), r.state === "resolved" ? h("p", { "data-testid": "regrade-answer" }, h("strong", {}, "Answer: "), r.response) : h("p", { class: "muted" }, "Waiting for an answer from the course staff.")),
    );
    const open = requests.some((r) => r.state === "open");
    let form = null;
    if (!staff && TERMINAL.has(sub.status) && !open && sub.result?.released !== false) {
      const text = h("textarea", { name: "message", rows: "3", maxlength: "4000", required: true });
      const message = h("div", { class: "form-message" });
      const send = h("button", { type: "submit", class: "secondary" }, "Ask for a regrade");
      form = h("form", { class: "regrade-request-form" }, message, field("Why should this grade change?", text), h("div", { class: "actions" }, send));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (!text.value.trim()) return setMessage(message, "error", "Say what you would like the staff to look at."), text.focus();
        send.disabled = true;
        try {
          await api(`${path}/regrade-requests`, { method: "POST", json: { message: text.value.trim() }, messages: { 409: "You already have an open request for this submission." } });
          submission = await api(path);
          ctx.flash("success", "Request sent to the course staff.");
          show(submission);
        } catch (err) {
          setMessage(message, "error", err instanceof ApiError ? err.message : "Sending the request failed.");
          send.disabled = false;
        }
      });
    }
    if (!items.length && !form) return h("div", {});
    return h("section", { class: "card", "aria-labelledby": "requests-heading" }, h("h2", { id: "requests-heading" }, "Regrade requests"), items.length ? h("ul", { class: "plain-list" }, items) : null, form);
  }

  async function loadHistory() {
    try {
      const others = (await listAll("/submissions", { assignment_id: submission.assignment_id, user_id: submission.user_id }, { signal: ctx.signal }))
        .filter((s) => s.user_id === submission.user_id && s.id !== submission.id)
        .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
      history.replaceChildren(h("h2", { id: "history-heading" }, "Earlier submissions"), historyList(others, submission.id, !staff));
    } catch (err) {
      if (err?.name === "AbortError") return;
      history.replaceChildren(h("h2", { id: "history-heading" }, "Earlier submissions"), notice("error", err instanceof ApiError ? err.message : "Could not load them."));
    }
  }

  show(submission);
  if (TERMINAL.has(submission.status)) loadHistory();
  else poll();

  const assignmentLink = h("a", { href: `#/assignments/${encodeURIComponent(submission.assignment_id)}` }, title);
  return h(
    "article",
    { class: "submission" },
    h(
      "p",
      { class: "crumbs" },
      h("a", { href: "#/assignments" }, "Assignments"),
      " › ",
      assignmentLink,
      staff ? [" › ", h("a", { href: `#/assignments/${encodeURIComponent(submission.assignment_id)}/submissions` }, "Submissions")] : null,
    ),
    h("h1", {}, `Submission: ${title}`),
    h(
      "p",
      { class: "meta" },
      h("span", {}, "Submitted ", timeEl(submission.created_at)),
      h("span", {}, languageLabel(submission.language)),
      submission.test_run ? h("span", { class: "badge status-draft" }, "Reference run (not counted)") : null,
      lateBadge(submission),
      staff ? h("span", {}, "Student: ", h("strong", {}, student?.name || submission.user_id), student?.email ? ` (${student.email})` : null) : null,
    ),
    liveText,
    connection,
    h("div", { class: "layout-two" }, h("div", { class: "col-main" }, statusArea, resultArea, requestsArea, staffArea, h("section", { class: "card", "aria-labelledby": "code-heading" }, h("h2", { id: "code-heading" }, "Code"), codeBlock(submission.code, "Submitted code", submission.language))), h("aside", { class: "col-side" }, history)),
  );
}

function statusTracker(sub, student) {
  const terminal = TERMINAL.has(sub.status);
  const reached = terminal ? PROGRESS.length : PROGRESS.indexOf(sub.status);
  const steps = [...PROGRESS, terminal ? sub.status : "result"];
  return [
    h("div", { class: "card-head" }, h("h2", { id: "status-heading" }, "Status"), h("span", { class: "attempt" }, `Attempt ${formatNumber(sub.attempt ?? 1)}`)),
    h(
      "ol",
      { class: "steps", "aria-label": "Grading progress" },
      steps.map((step, index) => {
        const state = index < reached ? "done" : index === reached ? "current" : "todo";
        const label = step === "result" ? "Result" : statusLabel(step, { student });
        return h(
          "li",
          { class: `step step-${state}${terminal && index === steps.length - 1 ? ` step-end-${sub.status}` : ""}`, "aria-current": state === "current" || (terminal && index === steps.length - 1) ? "step" : null },
          h("span", { class: "step-dot", "aria-hidden": "true" }),
          h("span", { class: "step-label" }, label),
        );
      }),
    ),
    h("p", { class: "status-line", "data-status": sub.status }, "Current status: ", statusBadge(sub.status, { student }), terminal ? null : h("span", { class: "spinner", "aria-hidden": "true" }), terminal ? null : h("span", { class: "muted" }, " updating live")),
  ];
}

const GRADERS = { llm: "Graded by the AI grader", offline: "Static checks only", tests: "Graded by the tests", sweep: "Ended by the platform" };

function graderLabel(result) {
  if (result.grader === "manual") return `Graded by ${result.graded_by_name || "an instructor"}`;
  return GRADERS[result.grader] ?? null;
}


function penaltyNote(sub, result) {
  if (!sub.late) return null;
  const days = sub.late_days === 1 ? "1 day" : `${sub.late_days} days`;
  if (!sub.penalty_percent) return notice("info", `Submitted ${days} late; this assignment takes nothing off for lateness.`);
  const before = result.score_before_penalty;
  return notice(
    "info",
    h("span", { class: "penalty" }, `Submitted ${days} late: −${formatNumber(sub.penalty_percent)} % late penalty.`, before !== null && before !== undefined ? ` Score before the penalty: ${formatScore(before, result.max_score)}.` : ""),
  );
}

function resultSection(sub, assignment, staff) {
  const student = !staff;
  const result = sub.result;
  if (!TERMINAL.has(sub.status) || !result) {
    return h("section", { class: "card", "aria-labelledby": "result-heading" }, h("h2", { id: "result-heading", tabindex: "-1" }, "Result"), h("p", { class: "muted" }, "The result appears here as soon as grading finishes."));
  }
  if (result.released === false) {
    return h("section", { class: "card", "aria-labelledby": "result-heading" }, h("h2", { id: "result-heading", tabindex: "-1" }, "Result"), h("p", { class: "unreleased", "data-testid": "unreleased" }, "Submitted, grade not released yet."), h("p", { class: "muted" }, "Your instructors release the grades of this assignment when they have reviewed them."));
  }
  const titles = Object.fromEntries((assignment?.rubric || []).map((c) => [c.id, c.title]));
  const criteria = result.criteria || [];
  const tags = result.fail_tags || [];
  return h(
    "section",
    { class: "card result", "aria-labelledby": "result-heading" },
    h("div", { class: "card-head" }, h("h2", { id: "result-heading", tabindex: "-1" }, "Result"), statusBadge(sub.status, { student })),
    h(
      "div",
      { class: "score-line" },
      h("span", { class: "score", "data-testid": "score" }, formatScore(result.score, result.max_score ?? assignment?.max_score)),
      graderLabel(result) ? h("span", { class: "muted", "data-testid": "grader" }, graderLabel(result)) : null,
    ),
    penaltyNote(sub, result),
    sub.status === "needs_review" ? notice("info", "An instructor will review this submission and set the final grade.") : null,
    tags.length
      ? h("div", { class: "tags-block" }, h("h3", {}, "Issues found"), h("ul", { class: "tags", "aria-label": "Fail tags" }, tags.map((tag) => h("li", { class: "tag" }, tag))))
      : null,
    testResultsSection(result, assignment?.tests, { staff }),
    h("h3", {}, "Feedback"),
    h("div", { class: "prose feedback" }, result.feedback || "No feedback."),
    criteria.length
      ? [
          h("h3", {}, "Per criterion"),
          h(
            "div",
            { class: "table-wrap" },
            h(
              "table",
              { class: "criteria" },
              h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Criterion"), h("th", { scope: "col", class: "num" }, "Score"), h("th", { scope: "col" }, "Feedback"))),
              h(
                "tbody",
                {},
                criteria.map((c) =>
                  h(
                    "tr",
                    {},
                    h("th", { scope: "row" }, titles[c.id] || c.id),
                    h("td", { class: "num nowrap" }, formatScore(c.score, c.max_score), scoreBar(c.score, c.max_score)),
                    h("td", { class: "prose" }, c.feedback || ""),
                  ),
                ),
              ),
            ),
          ),
        ]
      : null,
  );
}

/** Staff: every result the submission had, and the AI's and the instructor's marks side by side. */
function resultHistory(sub, assignment) {
  const entries = sub.history || [];
  if (entries.length <= 1) return null;
  const titles = Object.fromEntries((assignment?.rubric || []).map((c) => [c.id, c.title]));
  const reasons = { override: "replaced by an instructor's grade", regrade: "replaced by a regrade" };
  const list = h(
    "ol",
    { class: "result-history", "data-testid": "result-history" },
    entries.map((e) => {
      const r = e.result || {};
      const who = r.grader === "manual" ? `instructor (${r.graded_by_name || "staff"})` : r.grader || "platform";
      return h("li", {}, h("span", {}, `Attempt ${e.attempt ?? "?"}: `), h("strong", {}, formatScore(r.score, r.max_score)), ` by ${who}`, e.replaced_at ? [" — ", reasons[e.reason] || "replaced", " ", timeEl(e.replaced_at)] : " — current");
    }),
  );
  const current = entries[entries.length - 1]?.result;
  const lastAi = [...entries].reverse().find((e) => e.result?.grader === "llm")?.result;
  let compare = null;
  if (current?.grader === "manual" && lastAi?.criteria?.length) {
    const mine = Object.fromEntries((current.criteria || []).map((c) => [c.id, c.score]));
    compare = h(
      "table",
      { class: "criteria ai-vs-human", "data-testid": "ai-vs-human" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Criterion"), h("th", { scope: "col", class: "num" }, "AI"), h("th", { scope: "col", class: "num" }, "Instructor"))),
      h("tbody", {}, lastAi.criteria.map((c) => h("tr", {}, h("th", { scope: "row" }, titles[c.id] || c.id), h("td", { class: "num" }, formatScore(c.score, c.max_score)), h("td", { class: "num" }, mine[c.id] !== undefined ? formatScore(mine[c.id], c.max_score) : "—")))),
    );
  }
  return h("div", { class: "history-block" }, h("h3", {}, "History of results"), list, compare ? [h("h3", {}, "AI and instructor, per criterion"), compare] : null);
}

function scoreBar(score, max) {
  const ratio = max ? Math.max(0, Math.min(1, Number(score) / Number(max))) : 0;
  const bar = h("span", { class: "bar", "aria-hidden": "true" }, h("span", { class: "bar-fill" }));
  bar.firstChild.style.width = `${Math.round(ratio * 100)}%`;
  return bar;
}

function historyList(submissions, currentId, student) {
  if (submissions.length === 0) return h("p", { class: "empty" }, "No other submissions to this assignment.");
  return h(
    "ol",
    { class: "history" },
    submissions.map((s) => {
      const inner = [h("span", { class: "history-time" }, timeEl(s.created_at)), statusBadge(s.status, { student }), lateBadge(s), h("span", { class: "history-score" }, formatScore(s.result?.score, s.result?.max_score))];
      return h("li", {}, s.id === currentId ? h("span", { class: "history-current", "aria-current": "page" }, inner, h("span", { class: "visually-hidden" }, " (this one)")) : h("a", { href: `#/submissions/${encodeURIComponent(s.id)}` }, inner));
    }),
  );
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
