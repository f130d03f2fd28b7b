// The home page (the caller's courses, creating one, joining one by code) and one course's page:
// its assignments with their dates and a countdown; for staff the join code, members, roster upload,
// gradebook download and archiving.

import { ApiError, api, listAll } from "../api.js";
import { ROLE_LABELS, canManage, isCourseStaff } from "../courses.js";
import { field, h, setMessage } from "../dom.js";
import { attemptsText, countdown, formatNumber, timeEl } from "../format.js";
import { isStaff } from "../session.js";

export async function coursesView(ctx) {
  ctx.setTitle("Courses");
  const courses = await api("/courses", { signal: ctx.signal });
  const list = courses.length
    ? h(
        "ul",
        { class: "card-list" },
        courses.map((c) =>
          h(
            "li",
            { class: "card course-card" },
            h(
              "div",
              { class: "card-head" },
              h("h2", {}, h("a", { href: `#/courses/${encodeURIComponent(c.id)}` }, `${c.code} · ${c.title}`)),
              h("span", { class: "badge role-badge" }, ROLE_LABELS[c.my_role] ?? c.my_role),
            ),
            h("p", { class: "meta" }, c.term ? h("span", {}, c.term) : null, c.archived ? h("span", { class: "badge status-draft" }, "Archived") : null),
          ),
        ),
      )
    : h("p", { class: "empty" }, isStaff(ctx.user) ? "You are in no course yet. Create one, or join one with its code." : "You are in no course yet. Join one with the code your instructor gave you.");
  return h(
    "section",
    {},
    h("div", { class: "page-head" }, h("h1", {}, "Courses")),
    list,
    h("div", { class: "course-forms" }, joinForm(ctx), isStaff(ctx.user) ? createForm(ctx) : null),
  );
}

function joinForm(ctx) {
  const code = h("input", { type: "text", name: "join_code", required: true, maxlength: "64", autocomplete: "off", autocapitalize: "characters", spellcheck: "false" });
  const message = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary" }, "Join course");
  const form = h("form", { class: "card narrow join-form" }, h("h2", {}, "Join a course"), message, field("Join code", code, "The code your instructor shared, e.g. K7QM2XPA."), h("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    if (!code.value.trim()) {
      setMessage(message, "error", "Enter the course's join code.");
      code.focus();
      return;
    }
    submit.disabled = true;
    try {
      const course = await api("/courses/join", {
        method: "POST",
        json: { join_code: code.value.trim() },
        messages: { 404: "No course has this join code. Check it with your instructor (codes can be changed).", 403: "This course is archived: it takes no new members." },
      });
      ctx.flash("success", `You joined ${course.code} · ${course.title}.`, { afterNavigation: true });
      ctx.navigate(`/courses/${course.id}`);
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Joining failed.");
      submit.disabled = false;
    }
  });
  return form;
}

function createForm(ctx) {
  const code = h("input", { type: "text", name: "code", required: true, maxlength: "32", autocomplete: "off" });
  const title = h("input", { type: "text", name: "title", required: true, maxlength: "200", autocomplete: "off" });
  const term = h("input", { type: "text", name: "term", maxlength: "64", autocomplete: "off" });
  const message = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create course");
  const form = h(
    "form",
    { class: "card narrow create-course" },
    h("h2", {}, "Create a course"),
    message,
    field("Course code", code, "Short, e.g. CS101."),
    field("Course title", title),
    field("Term", term, "Optional, e.g. Fall 2026."),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    if (!code.value.trim() || !title.value.trim()) {
      setMessage(message, "error", "Give the course a code and a title.");
      return;
    }
    submit.disabled = true;
    try {
      const course = await api("/courses", { method: "POST", json: { code: code.value.trim(), title: title.value.trim(), term: term.value.trim() } });
      ctx.flash("success", `Course ${course.code} created. Share its join code with your students.`, { afterNavigation: true });
      ctx.navigate(`/courses/${course.id}`);
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Creating the course failed.");
      submit.disabled = false;
    }
  });
  return form;
}

export async function courseView(ctx) {
  const { id } = ctx.params;
  const enc = encodeURIComponent(id);
  let course = await api(`/courses/${enc}`, { signal: ctx.signal });
  const assignments = await listAll(`/courses/${enc}/assignments`, {}, { signal: ctx.signal });
  ctx.setTitle(`${course.code} · ${course.title}`);
  const staff = isCourseStaff(course.my_role);
  const manage = canManage(course.my_role);

  const items = assignments.map((a) =>
    h(
      "li",
      { class: "card assignment-card" },
      h(
        "div",
        { class: "card-head" },
        h("h3", {}, h("a", { href: `#/assignments/${encodeURIComponent(a.id)}` }, a.title)),
        staff ? h("span", { class: `badge ${a.published ? "status-graded" : "status-draft"}` }, a.published ? "Published" : "Draft") : null,
      ),
      h(
        "p",
        { class: "meta" },
        a.opens_at ? h("span", {}, "Opens ", timeEl(a.opens_at)) : null,
        a.mine?.due_at ?? a.due_at ? h("span", {}, "Due ", timeEl(a.mine?.due_at ?? a.due_at)) : null,
        h("span", {}, `${formatNumber(a.max_score)} points`),
      ),
      h("p", { class: "deadline" }, countdown(a, ctx.signal), !staff && attemptsText(a) ? h("span", { class: "attempts" }, attemptsText(a)) : null),
      staff
        ? h(
            "p",
            { class: "card-actions" },
            h("a", { href: `#/assignments/${encodeURIComponent(a.id)}/submissions` }, "Submissions"),
            manage ? h("a", { href: `#/assignments/${encodeURIComponent(a.id)}/edit` }, "Edit") : null,
          )
        : null,
    ),
  );

  const head = h(
    "div",
    { class: "page-head" },
    h("h1", {}, `${course.code} · ${course.title}`),
    h(
      "div",
      { class: "head-actions" },
      manage && !course.archived ? h("a", { class: "button primary", href: `#/courses/${enc}/assignments/new` }, "New assignment") : null,
      staff ? h("button", { type: "button", class: "secondary", onclick: () => downloadGradebook(course, message) }, "Download gradebook (CSV)") : null,
    ),
  );
  const message = h("div", { class: "form-message" });
  const sections = [
    h("p", { class: "crumbs" }, h("a", { href: "#/courses" }, "Courses")),
    head,
    h("p", { class: "meta" }, course.term ? h("span", {}, course.term) : null, h("span", {}, `Your role: ${ROLE_LABELS[course.my_role] ?? course.my_role}`), course.archived ? h("span", { class: "badge status-draft" }, "Archived (read-only)") : null),
    message,
    h(
      "section",
      { "aria-labelledby": "course-assignments" },
      h("h2", { id: "course-assignments" }, "Assignments"),
      items.length ? h("ul", { class: "card-list" }, items) : h("p", { class: "empty" }, staff ? "No assignments yet." : "No assignments are published yet. Check back later."),
    ),
  ];
  if (staff) sections.push(await staffPanel(ctx, course, (updated) => (course = updated)));
  return h("section", { class: "course" }, sections);
}

async function downloadGradebook(course, message) {
  setMessage(message, "", "");
  try {
    const blob = await api(`/courses/${encodeURIComponent(course.id)}/grades.csv`, { accept: "blob" });
    const link = h("a", { href: URL.createObjectURL(blob), download: `grades-${course.code}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (err) {
    setMessage(message, "error", err instanceof ApiError ? err.message : "The download failed.");
  }
}

async function staffPanel(ctx, course, setCourse) {
  const enc = encodeURIComponent(course.id);
  const manage = canManage(course.my_role);
  const members = await api(`/courses/${enc}/members`, { signal: ctx.signal });
  const codeText = h("code", { class: "join-code" }, course.join_code ?? "");
  const codeMessage = h("div", { class: "form-message" });
  const rotate = manage && !course.archived
    ? h("button", { type: "button", class: "secondary small", onclick: async () => {
        try {
          const updated = await api(`/courses/${enc}/join-code`, { method: "POST" });
          setCourse(updated);
          codeText.textContent = updated.join_code;
          setMessage(codeMessage, "success", "New join code: the old one no longer works.");
        } catch (err) {
          setMessage(codeMessage, "error", err instanceof ApiError ? err.message : "Changing the code failed.");
        }
      } }, "New join code")
    : null;

  const tbody = h("tbody", {});
  const membersMessage = h("div", { class: "form-message" });
  function renderMembers(list) {
    tbody.replaceChildren(
      ...list.map((m) =>
        h(
          "tr",
          {},
          h("td", {}, m.name),
          h("td", {}, m.email),
          h("td", {}, ROLE_LABELS[m.role] ?? m.role),
          manage && !course.archived
            ? h("td", {}, h("button", { type: "button", class: "link", "aria-label": `Remove ${m.email}`, onclick: () => removeMember(m) }, "Remove"))
            : null,
        ),
      ),
    );
  }
  async function reload() {
    renderMembers(await api(`/courses/${enc}/members`));
  }
  async function removeMember(member) {
    setMessage(membersMessage, "", "");
    try {
      await api(`/courses/${enc}/members/${encodeURIComponent(member.user_id)}`, { method: "DELETE", messages: { 409: "A course keeps at least one instructor: add another one first." } });
      setMessage(membersMessage, "success", `Removed ${member.email}.`);
      await reload();
    } catch (err) {
      setMessage(membersMessage, "error", err instanceof ApiError ? err.message : "Removing failed.");
    }
  }
  renderMembers(members);

  const parts = [
    h("h2", { id: "course-staff" }, "Course staff area"),
    h("div", { class: "join-code-box" }, h("p", {}, "Join code for students: ", codeText, " ", rotate), codeMessage),
    h("h3", {}, `Members (${members.length})`),
    membersMessage,
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { class: "members" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Email"), h("th", { scope: "col" }, "Role"), manage && !course.archived ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")) : null)),
        tbody,
      ),
    ),
  ];
  if (manage && !course.archived) parts.push(addMemberForm(course, membersMessage, reload), rosterForm(course, reload));
  if (manage) parts.push(archiveControl(ctx, course));
  return h("section", { class: "card staff-panel", "aria-labelledby": "course-staff" }, parts);
}

function addMemberForm(course, message, reload) {
  const email = h("input", { type: "email", name: "member_email", required: true, autocomplete: "off" });
  const role = h("select", { name: "member_role" }, ["student", "ta", "instructor"].map((r) => h("option", { value: r }, ROLE_LABELS[r])));
  const form = h("form", { class: "inline-form add-member" }, h("h3", {}, "Add a member"), h("div", { class: "row-grid" }, field("Member email", email), field("Member role", role)), h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Add member")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    try {
      const added = await api(`/courses/${encodeURIComponent(course.id)}/members`, {
        method: "POST",
        json: { email: email.value.trim(), role: role.value },
        messages: { 404: "No account has this email. Ask the person to register first.", 409: "This person is already a member of the course." },
      });
      setMessage(message, "success", `Added ${added.email} as ${ROLE_LABELS[added.role]}.`);
      form.reset();
      await reload();
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Adding failed.");
    }
  });
  return form;
}

function rosterForm(course, reload) {
  const file = h("input", { type: "file", name: "roster", accept: ".csv,text/csv" });
  const report = h("div", { class: "form-message roster-report" });
  const form = h(
    "form",
    { class: "inline-form roster" },
    h("h3", {}, "Upload a roster"),
    field("Roster file (CSV)", file, "One line per person: email,role (role: student, ta or instructor; default student). Only existing accounts are added; a file with a bad line changes nothing."),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, "Upload roster")),
    report,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(report, "", "");
    const chosen = file.files?.[0];
    if (!chosen) {
      setMessage(report, "error", "Choose a CSV file first.");
      return;
    }
    try {
      const result = await api(`/courses/${encodeURIComponent(course.id)}/roster`, { method: "POST", text: await chosen.text(), contentType: "text/csv" });
      report.replaceChildren(
        h(
          "div",
          { class: "notice notice-success", role: "status" },
          h("p", {}, `Added: ${result.added.length}. Already members: ${result.already_present.length}. Unknown emails: ${result.unknown.length}.`),
          result.unknown.length ? h("p", {}, "No account for: ", result.unknown.join(", ")) : null,
        ),
      );
      await reload();
    } catch (err) {
      setMessage(report, "error", err instanceof ApiError ? err.message : "The upload failed.");
    }
  });
  return form;
}

function archiveControl(ctx, course) {
  const archived = course.archived;
  const button = h("button", { type: "button", class: "secondary" }, archived ? "Reopen course" : "Archive course");
  button.addEventListener("click", async () => {
    if (!archived && !window.confirm("Archive this course? It becomes read-only: no submissions, no changes.")) return;
    try {
      await api(`/courses/${encodeURIComponent(course.id)}`, { method: "PATCH", json: { archived: !archived } });
      ctx.flash("success", archived ? "Course reopened." : "Course archived: it is read-only now.", { afterNavigation: true });
      ctx.navigate(`/courses/${course.id}`);
    } catch (err) {
      ctx.flash("error", err instanceof ApiError ? err.message : "Changing the course failed.");
    }
  });
  return h("div", { class: "archive" }, h("h3", {}, "Archive"), h("p", { class: "hint" }, "An archived course keeps everything but takes no submissions or changes."), button);
}
