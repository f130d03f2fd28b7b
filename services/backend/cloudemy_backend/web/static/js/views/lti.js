// LTI 1.3: signing in from an LMS launch, the deep-linking picker, and the admin page of LMS registrations.

import { ApiError, api } from "../api.js";
import { field, h, setMessage } from "../dom.js";
import { setToken } from "../session.js";

/**
 * A launch lands on /?lti_code=<one-time code>#/<page>. Exchange the code for a session before anything
 * else renders, and drop it from the address bar (it works once, within a minute, but should not linger).
 */
export async function redeemLaunchCode() {
  const params = new URLSearchParams(location.search);
  const code = params.get("lti_code");
  if (!code) return false;
  params.delete("lti_code");
  const query = params.toString();
  history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
  try {
    const answer = await api("/auth/lti-token", { method: "POST", json: { code }, auth: false });
    setToken(answer.access_token);
    return true;
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return false;
  }
}

/** #/courses/<course>/lti-deep-link/<request>: an instructor picks the assignment the LMS course gets. */
export async function ltiDeepLinkView(ctx) {
  ctx.setTitle("Add an assignment to your LMS course");
  const { courseId, deepLinkId } = ctx.params;
  const page = await api(`/courses/${encodeURIComponent(courseId)}/assignments`, { signal: ctx.signal });
  const assignments = Array.isArray(page) ? page : page.items || [];
  const message = h("div", { class: "form-message", role: "status" });
  const list = h("ul", { class: "plain-list" });
  for (const assignment of assignments) {
    const button = h("button", { type: "button", class: "primary small" }, "Add to the LMS");
    button.addEventListener("click", async () => {
      button.disabled = true;
      setMessage(message, "", "");
      try {
        const answer = await api("/lti/deep-link", {
          method: "POST",
          base: "",
          json: { deep_link_id: deepLinkId, assignment_id: assignment.id },
        });
        const jwtField = h("input", { type: "hidden", name: "JWT", value: answer.jwt });
        const form = h("form", { method: "POST", action: answer.return_url, hidden: true }, jwtField);
        document.body.append(form);
        setMessage(message, "success", `Adding "${assignment.title}" to the LMS course…`);
        form.submit();
      } catch (err) {
        button.disabled = false;
        setMessage(message, "error", err instanceof ApiError ? err.message : "The LMS link could not be made.");
      }
    });
    list.append(h("li", { class: "row" }, h("span", {}, assignment.title), " ", h("span", { class: "muted" }, `${assignment.max_score} points`), " ", button));
  }
  return h(
    "div",
    {},
    h("h1", { tabindex: "-1" }, "Add an assignment to your LMS course"),
    h("p", {}, "Pick the Cloudemy assignment this LMS link opens. Its grades go to the LMS gradebook column the LMS creates for it."),
    message,
    assignments.length ? list : h("p", { class: "muted" }, "This course has no assignments yet. Create one first, then add it from the LMS again."),
  );
}

const PLATFORM_FIELDS = [
  ["name", "Name", "text", "Shown to admins only, e.g. Canvas (production)."],
  ["issuer", "Issuer (Platform ID)", "url", "Canvas: https://canvas.instructure.com; Moodle: the site URL."],
  ["client_id", "Client ID", "text", "The developer key's or tool's client id."],
  ["auth_login_url", "Authentication request URL", "url", "The platform's OIDC authorization endpoint."],
  ["auth_token_url", "Access token URL", "url", "The platform's OAuth 2 token endpoint."],
  ["key_set_url", "Public keyset URL", "url", "The platform's JWKS."],
  ["deployment_ids", "Deployment IDs", "text", "Comma-separated."],
];

/** #/admin/lti: LMS registrations, and the URLs to enter in the LMS. */
export async function adminLtiView(ctx) {
  ctx.setTitle("LTI platforms");
  const message = h("div", { class: "form-message" });
  const table = h("tbody", {});
  const toolUrls = h("dl", { class: "tool-urls" });

  async function refresh() {
    const platforms = await api("/lti/platforms", { signal: ctx.signal });
    table.replaceChildren(
      ...platforms.map((p) => {
        const remove = h("button", { type: "button", class: "secondary small" }, "Remove");
        remove.addEventListener("click", async () => {
          if (!window.confirm(`Remove ${p.name || p.issuer}? Launches from it stop working.`)) return;
          await api(`/lti/platforms/${encodeURIComponent(p.id)}`, { method: "DELETE" });
          await refresh();
        });
        return h("tr", {}, h("td", {}, p.name || "—"), h("td", {}, p.issuer), h("td", {}, p.client_id), h("td", {}, p.deployment_ids.join(", ")), h("td", {}, remove));
      }),
    );
    const tool = platforms[0]?.tool;
    if (tool) {
      toolUrls.replaceChildren(
        ...Object.entries({ "OIDC login URL": tool.login_url, "Redirect / launch URL": tool.redirect_uri, "Public JWK URL": tool.jwks_url }).flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, h("code", {}, v))]),
      );
    }
  }

  const inputs = Object.fromEntries(PLATFORM_FIELDS.map(([name, , type]) => [name, h("input", { type, name, required: name !== "name", autocomplete: "off" })]));
  const submit = h("button", { type: "submit", class: "primary" }, "Register platform");
  const form = h(
    "form",
    { class: "card narrow" },
    h("h2", {}, "Register an LMS"),
    message,
    PLATFORM_FIELDS.map(([name, label, , hint]) => field(label, inputs[name], hint)),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    setMessage(message, "", "");
    const body = Object.fromEntries(PLATFORM_FIELDS.map(([name]) => [name, inputs[name].value.trim()]));
    body.deployment_ids = body.deployment_ids.split(",").map((d) => d.trim()).filter(Boolean);
    try {
      await api("/lti/platforms", { method: "POST", json: body, messages: { 409: "This issuer and client id are already registered." } });
      setMessage(message, "success", "Registered. Launches from this LMS work now.");
      form.reset();
      await refresh();
    } catch (err) {
      setMessage(message, "error", err instanceof ApiError ? err.message : "Registering failed.");
    } finally {
      submit.disabled = false;
    }
  });
  await refresh();
  return h(
    "div",
    {},
    h("h1", { tabindex: "-1" }, "LTI platforms"),
    h("section", { class: "card" }, h("h2", {}, "Enter these in the LMS"), toolUrls, h("p", { class: "hint" }, "See docs/lti.md for Canvas and Moodle, step by step.")),
    h(
      "section",
      { class: "card" },
      h("h2", {}, "Registered"),
      h("table", {}, h("thead", {}, h("tr", {}, ["Name", "Issuer", "Client ID", "Deployments", ""].map((t) => h("th", { scope: "col" }, t)))), table),
    ),
    form,
  );
}
