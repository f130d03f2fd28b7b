// Small display helpers shared by the views.

import { h } from "./dom.js";

export const TERMINAL = new Set(["graded", "needs_review", "error", "timeout"]);
export const PROGRESS = ["queued", "dispatched", "running"];
export const LANGUAGES = ["python", "javascript", "typescript", "java", "c", "cpp", "go", "rust"];

const STATUS_LABELS = {
  queued: "Queued",
  dispatched: "Dispatched",
  running: "Running",
  graded: "Graded",
  needs_review: "Needs review",
  error: "Error",
  timeout: "Timed out",
};

const LANGUAGE_LABELS = {
  python: "Python",
  javascript: "JavaScript",
  typescript: "TypeScript",
  java: "Java",
  c: "C",
  cpp: "C++",
  go: "Go",
  rust: "Rust",
};

// Students see what a dispatched submission means for them: it waits for a free grader.
const STUDENT_LABELS = { dispatched: "Waiting for a grader" };

export function statusLabel(status, { student = false } = {}) {
  if (student && Object.hasOwn(STUDENT_LABELS, status)) return STUDENT_LABELS[status];
  return STATUS_LABELS[status] ?? String(status);
}

export function languageLabel(language) {
  return LANGUAGE_LABELS[language] ?? String(language);
}

/** A coloured pill with the status in words (colour is never the only cue). */
export function statusBadge(status, { student = false } = {}) {
  const known = Object.hasOwn(STATUS_LABELS, status) ? status : "unknown";
  return h("span", { class: `badge status-${known}` }, statusLabel(status, { student }));
}

/** The "late" badge of a late submission, with its penalty in words. */
export function lateBadge(submission) {
  if (!submission?.late) return null;
  const days = submission.late_days === 1 ? "1 day" : `${submission.late_days} days`;
  const penalty = submission.penalty_percent ? `, −${formatNumber(submission.penalty_percent)} %` : "";
  return h("span", { class: "badge late", title: `Submitted ${days} late${penalty}` }, `Late (${days}${penalty})`);
}

export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "–";
  const n = Number(value);
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/\.?0+$/, "");
}

/** "7 / 10", or "–" when not scored. */
export function formatScore(score, max) {
  if (score === null || score === undefined) return "–";
  return max === null || max === undefined ? formatNumber(score) : `${formatNumber(score)} / ${formatNumber(max)}`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatTime(value) {
  if (!value) return "–";
  const text = String(value);
  // The API's timestamps are UTC; one without a zone is read as UTC, not local time.
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? text : dateFormat.format(date);
}

/** <time datetime=...>formatted</time> */
export function timeEl(value) {
  return h("time", { datetime: value ? String(value) : null }, formatTime(value));
}

function parseTime(value) {
  if (!value) return null;
  const text = String(value);
  const date = new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** "in 2 days 3 h", "in 5 min", "3 h ago": the distance from now to a time. */
export function relativeTime(value, now = Date.now()) {
  const date = parseTime(value);
  if (!date) return "";
  const diff = date.getTime() - now;
  const abs = Math.abs(diff);
  const minutes = Math.round(abs / 60000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  let text;
  if (days > 0) text = hours ? `${days} d ${hours} h` : `${days} d`;
  else if (hours > 0) text = `${hours} h ${minutes % 60} min`;
  else text = `${Math.max(minutes, 1)} min`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/** Where an assignment stands for the caller now: {state: upcoming|open|late|closed|always, text}. */
export function deadlineState(assignment, now = Date.now()) {
  const opens = parseTime(assignment.opens_at);
  const due = parseTime(assignment.mine?.due_at ?? assignment.due_at);
  const lateUntil = parseTime(assignment.mine?.late_until ?? assignment.late_until);
  if (opens && now < opens.getTime()) return { state: "upcoming", text: `Opens ${relativeTime(opens, now)}` };
  if (!due) return { state: "always", text: "No due date" };
  if (now <= due.getTime()) return { state: "open", text: `Due ${relativeTime(due, now)}` };
  if (lateUntil && now <= lateUntil.getTime()) {
    const penalty = Number(assignment.late_penalty_percent_per_day) || 0;
    const cost = penalty ? `, −${formatNumber(penalty)} % per day` : "";
    return { state: "late", text: `Past due: late submissions close ${relativeTime(lateUntil, now)}${cost}` };
  }
  return { state: "closed", text: "Closed" };
}

/** "3 of 5 submissions used", or null when there is no limit. */
export function attemptsText(assignment) {
  const mine = assignment.mine;
  if (!mine || mine.allowed === null || mine.allowed === undefined) return null;
  return `${mine.used} of ${mine.allowed} submissions used`;
}

/** A countdown element that keeps itself current while the page is shown (stops with `signal`). */
export function countdown(assignment, signal) {
  const el = h("span", { class: "countdown" });
  const update = () => {
    const { state, text } = deadlineState(assignment);
    el.className = `countdown deadline-${state}`;
    el.textContent = text;
  };
  update();
  const timer = setInterval(update, 30_000);
  signal?.addEventListener("abort", () => clearInterval(timer), { once: true });
  return el;
}

/** An API time as the value of an <input type="datetime-local"> in the browser's zone ("" for none). */
export function toLocalInput(value) {
  const date = parseTime(value);
  if (!date) return "";
  const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return local.toISOString().slice(0, 16);
}

/** A datetime-local value (the browser's zone) as an ISO time in UTC, or null when empty. */
export function fromLocalInput(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
