// Admins: create accounts with a role (student, instructor or admin).

import { ApiError, api } from "../api.js";
import { field, h, setMessage } from "../dom.js";

const ROLES = [
  ["student", "Student"],
  ["instructor", "Instructor"],
  ["admin", "Admin"],
];
const ROLE_HINT = "Students submit and see their own results. Instructors write assignments and grade. Admins can also create accounts.";

export function adminUsersView(ctx) {
  ctx.setTitle("Users");
  const name = h("input", { type: "text", name: "name", required: true, maxlength: "200", autocomplete: "off" });
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off" });
  const password = h("input", { type: "password", name: "password", required: true, minlength: "8", autocomplete: "new-password" });
  const role = h("select", { name: "role", required: true }, ROLES.map(([value, label]) => h("option", { value }, label)));
  const message = h("div", { class: "form-message" });
  const created = h("tbody", {});
  const createdTable = h(
    "section",
    { class: "card", hidden: true, "aria-labelledby": "created-heading" },
    h("h2", { id: "created-heading" }, "Created in this session"),
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Email"), h("th", { scope: "col" }, "Role"))),
      created,
    ),
  );
  const submit = h("button", { type: "submit", class: "primary" }, "Create user");
  const form = h(
    "form",
    { class: "card narrow" },
    h("h2", {}, "Create a user"),
    message,
    field("Name", name),
    field("Email", email),
    field("Initial password", password, "At least 8 characters. Share it with the person privately."),
    field("Role", role, ROLE_HINT),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    submit.disabled = true;
    try {
      const user = await api("/users", {
        method: "POST",
        json: { name: name.value.trim(), email: email.value.trim(), password: password.value, role: role.value },
        messages: { 409: "An account with this email already exists." },
      });
      created.prepend(h("tr", {}, h("td", {}, user.name ?? name.value), h("td", {}, user.email ?? email.value), h("td", {}, user.role ?? role.value)));
      createdTable.hidden = false;
      setMessage(message, "success", `Created ${user.email ?? email.value} as ${user.role ?? role.value}.`);
      form.reset();
      name.focus();
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Creating the user failed.");
    } finally {
      submit.disabled = false;
    }
  });
  return h(
    "section",
    {},
    h("h1", {}, "Users"),
    h("p", { class: "muted" }, "Create accounts for instructors, admins and students."),
    h("div", { class: "admin-grid" }, form, createdTable),
  );
}
