// The signed-in user's bearer token lives in localStorage, so every tab of this browser shares one
// login (and logging out in one tab logs out all of them, see app.js). It is sent nowhere but this
// origin's /api, as an Authorization header, and it expires (JWT_EXPIRE_MINUTES). The trade-off:
// script running in the page could read it (as it could from sessionStorage, or act through a cookie);
// the strict CSP (scripts from this origin only) and DOM-only rendering are what keep such script out.

export const TOKEN_KEY = "cloudemy.token";

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  localStorage.setItem(TOKEN_KEY, token);
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  currentUser = null;
}

/** Another tab logged in or out: forget the user shown here (the next render asks the server). */
export function forgetUser() {
  currentUser = null;
}

/** Expiry of a JWT in ms since the epoch, or null when it has no readable `exp` claim. */
export function tokenExpiry(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
    return typeof claims.exp === "number" ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

/** True when there is a token that has not expired yet (with a few seconds of margin). */
export function hasLiveToken() {
  const token = getToken();
  if (!token) return false;
  const expiry = tokenExpiry(token);
  return expiry === null || expiry - 5000 > Date.now();
}

let currentUser = null;

export function getUser() {
  return currentUser;
}

export function setUser(user) {
  currentUser = user;
}

export function isStaff(user = currentUser) {
  return Boolean(user) && (user.role === "instructor" || user.role === "admin");
}

export function isAdmin(user = currentUser) {
  return Boolean(user) && user.role === "admin";
}
