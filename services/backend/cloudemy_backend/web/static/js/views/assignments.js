// The list of assignments: published ones for students, all of them (with drafts) for staff.

import { listAll } from "../api.js";
import { h } from "../dom.js";
import { formatNumber, languageLabel } from "../format.js";
import { isCourseStaff, myCourses } from "../courses.js";
import { isStaff } from "../session.js";

export async function assignmentsView(ctx) {
  ctx.setTitle("Assignments");
  const staff = isStaff(ctx.user);
  const courses = await myCourses(ctx.signal);
  const assignments = await listAll("/assignments", {}, { signal: ctx.signal });
  const staffOf = (a) => isCourseStaff(courses[a.course_id]?.my_role);
  const heading = h(
    "div",
    { class: "page-head" },
    h("h1", {}, "Assignments"),
    staff ? h("a", { class: "button primary", href: "#/assignments/new" }, "New assignment") : null,
  );
  if (assignments.length === 0) {
    return h(
      "section",
      {},
      heading,
      h("p", { class: "empty" }, staff ? "No assignments yet. Create the first one." : "No assignments are published yet. Check back later."),
    );
  }
  const cards = assignments.map((a) =>
    h(
      "li",
      { class: "card assignment-card" },
      h(
        "div",
        { class: "card-head" },
        h("h2", {}, h("a", { href: `#/assignments/${encodeURIComponent(a.id)}` }, a.title)),
        staffOf(a) ? h("span", { class: `badge ${a.published ? "status-graded" : "status-draft"}` }, a.published ? "Published" : "Draft") : null,
      ),
      h("p", { class: "summary" }, summary(a.description)),
      h(
        "p",
        { class: "meta" },
        h("span", {}, `${formatNumber(a.max_score)} points`),
        h("span", {}, `${(a.rubric || []).length} criteria`),
        h("span", {}, (a.languages || []).map(languageLabel).join(", ")),
      ),
      staffOf(a)
        ? h(
            "p",
            { class: "card-actions" },
            h("a", { href: `#/assignments/${encodeURIComponent(a.id)}/submissions` }, "Submissions"),
            h("a", { href: `#/assignments/${encodeURIComponent(a.id)}/edit` }, "Edit"),
          )
        : null,
    ),
  );
  return h("section", {}, heading, h("ul", { class: "card-list" }, cards));
}

function summary(text) {
  const flat = String(text || "").replace(/\s+/g, " ").trim();
  return flat.length > 220 ? `${flat.slice(0, 217)}…` : flat || "No description.";
}
