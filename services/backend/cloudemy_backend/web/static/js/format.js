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

export function statusLabel(status) {
  return STATUS_LABELS[status] ?? String(status);
}

export function languageLabel(language) {
  return LANGUAGE_LABELS[language] ?? String(language);
}

/** A coloured pill with the status in words (colour is never the only cue). */
export function statusBadge(status) {
  const known = Object.hasOwn(STATUS_LABELS, status) ? status : "unknown";
  return h("span", { class: `badge status-${known}` }, statusLabel(status));
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
