// Log in and register.

import { ApiError, api } from "../api.js";
import { field, h, setMessage } from "../dom.js";
import { setToken } from "../session.js";

function busy(button, isBusy, label) {
  button.disabled = isBusy;
  button.setAttribute("aria-busy", isBusy ? "true" : "false");
  if (label) button.textContent = label;
}

async function logIn(email, password) {
  const form = new URLSearchParams({ username: email, password });
  const token = await api("/auth/token", {
    method: "POST",
    form,
    auth: false,
    messages: { 401: "Wrong email or password.", 422: "Enter your email and password." },
  });
  setToken(token.access_token);
  return api("/users/me");
}

export function loginView(ctx) {
  ctx.setTitle("Log in");
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const message = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary" }, "Log in");
  const form = h(
    "form",
    { class: "card narrow", novalidate: false },
    h("h1", {}, "Log in"),
    message,
    field("Email", email),
    field("Password", password),
    h("div", { class: "actions" }, submit),
    h("p", { class: "muted" }, "New here? ", h("a", { href: "#/register" }, "Create an account")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    busy(submit, true, "Logging in…");
    try {
      ctx.onLogin(await logIn(email.value.trim(), password.value));
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Login failed.");
      password.focus();
    } finally {
      busy(submit, false, "Log in");
    }
  });
  return h("section", { class: "auth" }, form);
}

export function registerView(ctx) {
  ctx.setTitle("Create an account");
  const name = h("input", { type: "text", name: "name", autocomplete: "name", required: true, maxlength: "200" });
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: "8" });
  const message = h("div", { class: "form-message" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  const form = h(
    "form",
    { class: "card narrow" },
    h("h1", {}, "Create an account"),
    h("p", { class: "muted" }, "Students register here. Instructors get their accounts from an administrator."),
    message,
    field("Name", name),
    field("Email", email),
    field("Password", password, "At least 8 characters."),
    h("div", { class: "actions" }, submit),
    h("p", { class: "muted" }, "Already registered? ", h("a", { href: "#/login" }, "Log in")),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    setMessage(message, "", "");
    busy(submit, true, "Creating…");
    try {
      await api("/auth/register", {
        method: "POST",
        auth: false,
        json: { name: name.value.trim(), email: email.value.trim(), password: password.value },
        messages: {
          403: "Sign-up is turned off on this installation. Ask an administrator for an account.",
          409: "An account with this email already exists. Log in instead.",
        },
      });
      ctx.flash("success", "Account created. Welcome!", { afterNavigation: true });
      ctx.onLogin(await logIn(email.value.trim(), password.value));
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Registration failed.");
    } finally {
      busy(submit, false, "Create account");
    }
  });
  return h("section", { class: "auth" }, form);
}
