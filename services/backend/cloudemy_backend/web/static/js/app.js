// Entry point: a small hash router (#/courses, #/assignments/<id>, #/submissions/<id>, ...), the top navigation,
// and the session rules (no token -> login page; an expired or rejected token -> back to login).

import { ApiError, SESSION_ENDED, api } from "./api.js";
import { h, notice } from "./dom.js";
import { TOKEN_KEY, clearSession, forgetUser, getUser, hasLiveToken, isAdmin, isStaff, setUser } from "./session.js";
import { adminUsersView } from "./views/admin.js";
import { loginView, registerView } from "./views/auth.js";
import { assignmentView } from "./views/assignment.js";
import { assignmentsView } from "./views/assignments.js";
import { courseView, coursesView } from "./views/courses.js";
import { editorView } from "./views/editor.js";
import { submissionView } from "./views/submission.js";
import { submissionsView } from "./views/submissions.js";
import { adminLtiView, ltiDeepLinkView, redeemLaunchCode } from "./views/lti.js";

const ROUTES = [
  { pattern: /^\/login$/, view: loginView, access: "public" },
  { pattern: /^\/register$/, view: registerView, access: "public" },
  { pattern: /^\/courses$/, view: coursesView, access: "user" },
  { pattern: /^\/courses\/([^/]+)$/, view: courseView, access: "user", keys: ["id"] },
  { pattern: /^\/assignments$/, view: assignmentsView, access: "user" },
  { pattern: /^\/assignments\/new$/, view: editorView, access: "user" },
  { pattern: /^\/courses\/([^/]+)\/assignments\/new$/, view: editorView, access: "user", keys: ["course"] },
  { pattern: /^\/assignments\/([^/]+)$/, view: assignmentView, access: "user", keys: ["id"] },
  { pattern: /^\/assignments\/([^/]+)\/edit$/, view: editorView, access: "user", keys: ["id"] },
  { pattern: /^\/assignments\/([^/]+)\/submissions$/, view: submissionsView, access: "user", keys: ["id"] },
  { pattern: /^\/submissions\/([^/]+)$/, view: submissionView, access: "user", keys: ["id"] },
  { pattern: /^\/admin\/users$/, view: adminUsersView, access: "admin" },
  { pattern: /^\/admin\/lti$/, view: adminLtiView, access: "admin" },
  { pattern: /^\/courses\/([^/]+)\/lti-deep-link\/([^/]+)$/, view: ltiDeepLinkView, access: "user", keys: ["courseId", "deepLinkId"] },
];

const NEXT_KEY = "cloudemy.next";
const main = document.getElementById("main");
const nav = document.getElementById("nav");
const flashArea = document.getElementById("flash");

let pendingFlash = null;
let lastPath = null;
let current = null; // {controller} of the view on screen

/** Show a message above the page; with {afterNavigation: true} it appears on the next page instead. */
export function flash(kind, text, { afterNavigation = false } = {}) {
  if (afterNavigation) {
    pendingFlash = { kind, text };
    return;
  }
  flashArea.replaceChildren(notice(kind, text, h("button", { type: "button", class: "link dismiss", onclick: clearFlash }, "Dismiss")));
}

function clearFlash() {
  flashArea.replaceChildren();
}

export function navigate(path) {
  const target = `#${path}`;
  if (location.hash === target) render();
  else location.hash = target;
}

function currentPath() {
  const raw = location.hash.replace(/^#/, "");
  return raw.startsWith("/") ? raw : "/";
}

async function loadUser() {
  if (getUser() || !hasLiveToken()) return getUser();
  try {
    setUser(await api("/users/me"));
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401) throw err;
  }
  return getUser();
}

function renderNav(user) {
  if (!user) {
    nav.replaceChildren(
      h("ul", { class: "nav-links" }, h("li", {}, h("a", { href: "#/login" }, "Log in")), h("li", {}, h("a", { href: "#/register" }, "Register"))),
    );
    return;
  }
  const links = [h("li", {}, h("a", { href: "#/courses" }, "Courses")), h("li", {}, h("a", { href: "#/assignments" }, "Assignments"))];
  if (isStaff(user)) links.push(h("li", {}, h("a", { href: "#/assignments/new" }, "New assignment")));
  if (isAdmin(user)) links.push(h("li", {}, h("a", { href: "#/admin/users" }, "Users")));
  if (isAdmin(user)) links.push(h("li", {}, h("a", { href: "#/admin/lti" }, "LTI")));
  nav.replaceChildren(
    h("ul", { class: "nav-links" }, links),
    h(
      "div",
      { class: "nav-user" },
      h("span", { class: "who" }, h("span", { class: "who-name" }, user.name || user.email), " ", h("span", { class: "role" }, user.role)),
      h("button", { type: "button", class: "secondary small", onclick: logout }, "Log out"),
    ),
  );
  for (const link of nav.querySelectorAll("a[href]")) {
    if (link.getAttribute("href") === `#${currentPath()}`) link.setAttribute("aria-current", "page");
  }
}

function logout() {
  clearSession();
  flash("info", "You are logged out.", { afterNavigation: true });
  navigate("/login");
}

function allowed(access, user) {
  if (access === "public") return true;
  if (!user) return false;
  if (access === "staff") return isStaff(user);
  if (access === "admin") return isAdmin(user);
  return true;
}

async function render() {
  current?.controller.abort();
  const controller = new AbortController();
  current = { controller };
  const path = currentPath();
  if (pendingFlash) {
    flash(pendingFlash.kind, pendingFlash.text);
    pendingFlash = null;
  } else if (path !== lastPath) {
    clearFlash(); // a message belongs to the page it was shown on; re-rendering the same page keeps it
  }
  lastPath = path;

  let user = null;
  try {
    user = await loadUser();
  } catch (err) {
    showError(err);
    return;
  }
  if (controller.signal.aborted) return;

  if (path === "/") {
    navigate(user ? "/courses" : "/login");
    return;
  }
  const route = ROUTES.find((r) => r.pattern.test(path));
  if (!route) {
    renderNav(user);
    showPage("Page not found", h("div", {}, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/courses" }, "Go to your courses"))));
    return;
  }
  if (!user && route.access !== "public") {
    sessionStorage.setItem(NEXT_KEY, path);
    navigate("/login");
    return;
  }
  if (user && (path === "/login" || path === "/register")) {
    navigate("/courses");
    return;
  }
  renderNav(user);
  if (!allowed(route.access, user)) {
    showPage("Not allowed", h("div", {}, h("h1", { tabindex: "-1" }, "Not allowed"), notice("error", "Your role cannot open this page.")));
    return;
  }
  const match = path.match(route.pattern);
  const params = Object.fromEntries((route.keys || []).map((key, i) => [key, decodeURIComponent(match[i + 1])]));
  const ctx = {
    params,
    user,
    signal: controller.signal,
    navigate,
    flash,
    setTitle: (title) => {
      document.title = title ? `${title} · Cloudemy` : "Cloudemy";
    },
    onLogin: (newUser) => {
      setUser(newUser);
      const next = sessionStorage.getItem(NEXT_KEY);
      sessionStorage.removeItem(NEXT_KEY);
      navigate(next && next !== "/login" ? next : "/courses");
    },
  };
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    const node = await route.view(ctx);
    if (controller.signal.aborted) return;
    main.replaceChildren(node);
    focusHeading();
  } catch (err) {
    if (controller.signal.aborted || err?.name === "AbortError") return;
    showError(err);
  }
}

function showPage(title, node) {
  document.title = `${title} · Cloudemy`;
  main.replaceChildren(node);
  focusHeading();
}

function showError(err) {
  if (err instanceof ApiError && err.status === 401) return; // the session-ended handler redirects
  const message = err instanceof ApiError ? err.message : "Something went wrong in the page. Reload and try again.";
  if (!(err instanceof ApiError)) console.warn(err);
  showPage(
    "Error",
    h(
      "div",
      {},
      h("h1", { tabindex: "-1" }, "Could not load this page"),
      notice("error", h("span", { class: "pre-line" }, message)),
      h("p", {}, h("button", { type: "button", onclick: render }, "Try again"), " ", h("a", { href: "#/assignments" }, "Back to the assignments")),
    ),
  );
}

function focusHeading() {
  // Move focus to the new page's heading so keyboard and screen-reader users start there.
  const heading = main.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

window.addEventListener(SESSION_ENDED, (event) => {
  const path = currentPath();
  if (path !== "/login" && path !== "/register") sessionStorage.setItem(NEXT_KEY, path);
  const reason = event.detail?.reason;
  if (reason !== "missing") {
    flash("error", "Your session has expired. Please log in again.", { afterNavigation: true });
  }
  navigate("/login");
});
// The skip link must not change the URL fragment (the router owns it): it moves focus instead.
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});
// One login per browser: a login or logout in another tab changes the token; follow it here.
window.addEventListener("storage", (event) => {
  if (event.key !== TOKEN_KEY && event.key !== null) return;
  forgetUser();
  if (!event.newValue) {
    flash("info", "You logged out in another tab.", { afterNavigation: true });
    navigate("/login");
  } else {
    render();
  }
});
window.addEventListener("hashchange", render);
// A launch from an LMS arrives with a one-time sign-in code: exchange it before the first page renders.
redeemLaunchCode().then(render, render);
