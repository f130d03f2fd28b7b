// Course staff: every submission to one assignment, with filters, and the CSV export.

import { ApiError, api, listAll } from "../api.js";
import { field, h, setMessage } from "../dom.js";
import { TERMINAL, formatNumber, formatScore, lateBadge, statusBadge, statusLabel, timeEl } from "../format.js";

const STATUSES = ["queued", "dispatched", "running", "graded", "needs_review", "error", "timeout"];

/** user_id -> {name, email} of every student who submitted, from the grades endpoint. */
export async function studentDirectory(assignmentId, signal) {
  try {
    const grades = await api(`/assignments/${encodeURIComponent(assignmentId)}/grades`, { signal });
    return Object.fromEntries(grades.items.map((row) => [row.user_id, { name: row.student_name, email: row.student_email }]));
  } catch (err) {
    if (err instanceof ApiError && err.status !== 401) return {}; // names are a nicety; ids still identify
    throw err;
  }
}

export async function submissionsView(ctx) {
  const { id } = ctx.params;
  const assignment = await api(`/assignments/${encodeURIComponent(id)}`, { signal: ctx.signal });
  ctx.setTitle(`Submissions – ${assignment.title}`);
  let [submissions, students] = await Promise.all([
    listAll("/submissions", { assignment_id: id }, { signal: ctx.signal }),
    studentDirectory(id, ctx.signal),
  ]);
  const studentLabel = (s) => students[s.user_id]?.name || students[s.user_id]?.email || s.user_id;
  const studentEmail = (s) => students[s.user_id]?.email;

  const statusFilter = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "Any status"),
    h("option", { value: "open" }, "Not finished yet"),
    STATUSES.map((s) => h("option", { value: s }, statusLabel(s))),
  );
  const studentFilter = h("input", { type: "search", name: "student", autocomplete: "off", placeholder: "name, email or id" });
  const latestOnly = h("input", { type: "checkbox", name: "latest", id: "latest-only" });
  const count = h("p", { class: "muted", role: "status", "aria-live": "polite" });
  const tableArea = h("div", {});
  const message = h("div", { class: "form-message" });

  function filtered() {
    const status = statusFilter.value;
    const needle = studentFilter.value.trim().toLowerCase();
    let rows = submissions.filter((s) => {
      if (status === "open" && TERMINAL.has(s.status)) return false;
      if (status && status !== "open" && s.status !== status) return false;
      if (needle && ![students[s.user_id]?.name, studentEmail(s), s.user_id].some((v) => String(v ?? "").toLowerCase().includes(needle))) return false;
      return true;
    });
    rows.sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
    if (latestOnly.checked) {
      const seen = new Set();
      rows = rows.filter((s) => !seen.has(s.user_id) && seen.add(s.user_id));
    }
    return rows;
  }

  function renderTable() {
    const rows = filtered();
    count.textContent = `Showing ${rows.length} of ${submissions.length} submissions.`;
    if (rows.length === 0) {
      tableArea.replaceChildren(h("p", { class: "empty" }, submissions.length ? "No submission matches these filters." : "No submissions yet."));
      return;
    }
    tableArea.replaceChildren(
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "submissions" },
          h("caption", { class: "visually-hidden" }, `Submissions to ${assignment.title}`),
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              h("th", { scope: "col" }, "Student"),
              h("th", { scope: "col", class: "num" }, "Attempt"),
              h("th", { scope: "col" }, "Status"),
              h("th", { scope: "col", class: "num" }, "Score"),
              h("th", { scope: "col" }, "Submitted"),
              h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Open")),
            ),
          ),
          h(
            "tbody",
            {},
            rows.map((s) =>
              h(
                "tr",
                { dataset: { status: s.status } },
                h("td", {}, h("span", { class: "student" }, studentLabel(s)), students[s.user_id]?.name && studentEmail(s) ? h("span", { class: "muted small" }, studentEmail(s)) : null),
                h("td", { class: "num" }, formatNumber(s.attempt ?? 1)),
                h("td", {}, statusBadge(s.status), " ", lateBadge(s)),
                h("td", { class: "num" }, formatScore(s.result?.score, s.result?.max_score)),
                h("td", {}, timeEl(s.created_at)),
                h(
                  "td",
                  {},
                  h(
                    "a",
                    { href: `#/submissions/${encodeURIComponent(s.id)}` },
                    s.status === "needs_review" ? "Review" : "Open",
                    h("span", { class: "visually-hidden" }, ` submission by ${studentLabel(s)}`),
                  ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  const refresh = h("button", { type: "button", class: "secondary" }, "Refresh");
  refresh.addEventListener("click", async () => {
    refresh.disabled = true;
    setMessage(message, "", "");
    try {
      [submissions, students] = await Promise.all([
        listAll("/submissions", { assignment_id: id }, { signal: ctx.signal }),
        studentDirectory(id, ctx.signal),
      ]);
      renderTable();
    } catch (err) {
      if (err?.name !== "AbortError") setMessage(message, "error", err instanceof ApiError ? err.message : "Refresh failed.");
    } finally {
      refresh.disabled = false;
    }
  });

  const download = h("button", { type: "button", class: "primary" }, "Download grades (CSV)");
  download.addEventListener("click", async () => {
    download.disabled = true;
    setMessage(message, "", "");
    try {
      const blob = await api(`/assignments/${encodeURIComponent(id)}/grades.csv`, { accept: "blob" });
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: `grades-${slug(assignment.title)}.csv`, class: "visually-hidden" }, "download");
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setMessage(message, "success", "Grades downloaded: the latest attempt of each student.");
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "The download failed.");
    } finally {
      download.disabled = false;
    }
  });

  for (const control of [statusFilter, studentFilter, latestOnly]) control.addEventListener("input", renderTable);
  renderTable();

  return h(
    "section",
    {},
    h("p", { class: "crumbs" }, h("a", { href: "#/assignments" }, "Assignments"), " › ", h("a", { href: `#/assignments/${encodeURIComponent(id)}` }, assignment.title)),
    h("div", { class: "page-head" }, h("h1", {}, `Submissions: ${assignment.title}`), h("div", { class: "head-actions" }, refresh, download)),
    message,
    h(
      "form",
      { class: "filters card", role: "search", "aria-label": "Filter submissions", onsubmit: (e) => e.preventDefault() },
      field("Status", statusFilter),
      field("Student", studentFilter),
      h("div", { class: "field check-field" }, h("label", { class: "check", for: latestOnly.id }, latestOnly, "Latest submission per student")),
    ),
    count,
    tableArea,
  );
}

function slug(text) {
  return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "assignment";
}
