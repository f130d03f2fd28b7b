// The instructor tests of one result: a table (test, verdict, points, time) and, per test the viewer may
// see, its input, expected and actual output side by side with the first differing line marked.
// A student's hidden tests arrive from the API as {id, name: "Hidden test", hidden, verdict, points,
// max_points} and are shown as exactly that; staff get every field of every test. A program that did
// not compile shows the compiler's output instead of outputs. All text goes in as text nodes.

import { h, notice } from "../dom.js";
import { formatNumber, formatScore } from "../format.js";

const VERDICTS = {
  passed: "Passed",
  wrong_output: "Wrong output",
  time_limit: "Time limit exceeded",
  memory_limit: "Memory limit exceeded",
  runtime_error: "Runtime error",
  output_limit: "Output limit exceeded",
  compile_error: "Compile error",
  sandbox_error: "Grader error",
};

const TRUNCATED = "[... truncated]";

export function verdictLabel(verdict) {
  return VERDICTS[verdict] ?? String(verdict);
}

/** A pill with the verdict in words; the class gives its colour (never the only cue). */
export function verdictBadge(verdict) {
  const known = Object.hasOwn(VERDICTS, verdict) ? verdict : "unknown";
  return h("span", { class: `badge verdict verdict-${known}` }, verdictLabel(verdict));
}

function lines(text, compare) {
  const all = String(text ?? "").split("\n");
  if (compare === "exact") return all;
  const trimmed = all.map((line) => line.replace(/\s+$/, ""));
  while (trimmed.length && trimmed[trimmed.length - 1] === "") trimmed.pop();
  return trimmed;
}

/** The 1-based number of the first line where actual differs from expected (as the test compares), or 0. */
export function firstDifference(expected, actual, compare = "trim") {
  const want = lines(expected, compare);
  const got = lines(actual, compare);
  const count = Math.max(want.length, got.length);
  for (let i = 0; i < count; i += 1) {
    if (want[i] !== got[i]) return i + 1;
  }
  return 0;
}

/** A <pre> of text with its line `mark` (1-based; 0 for none) wrapped in <mark>. */
function outputBlock(label, text, mark, extraClass = "") {
  const pre = h("pre", { class: `test-io ${extraClass}`.trim(), tabindex: "0", "aria-label": label });
  const value = String(text ?? "");
  if (value === "") {
    pre.append(h("span", { class: "muted" }, "(empty)"));
    return pre;
  }
  value.split("\n").forEach((line, index, all) => {
    const content = index < all.length - 1 ? `${line}\n` : line;
    if (index + 1 === mark) pre.append(h("mark", { class: "diff-line", title: "first difference" }, content || " \n"));
    else pre.append(content);
  });
  return pre;
}

function timeText(outcome) {
  return outcome.time_ms === undefined || outcome.time_ms === null ? "–" : `${formatNumber(outcome.time_ms)} ms`;
}

function exitText(outcome) {
  if (outcome.signal) return `killed by ${outcome.signal}`;
  if (outcome.exit_code === null || outcome.exit_code === undefined) return "no exit code";
  return `exit code ${outcome.exit_code}`;
}

/** Input, expected and actual output of one test, side by side, with the first difference marked. */
function testDetail(outcome, test, staff) {
  const compare = test?.compare ?? "trim";
  const expected = test?.expected_stdout;
  const actual = outcome.stdout ?? "";
  const truncated = actual.endsWith(TRUNCATED);
  const diffAt = expected !== undefined && outcome.verdict === "wrong_output" ? firstDifference(expected, actual, compare) : 0;
  const columns = [
    h("div", { class: "io-col" }, h("h4", {}, "Input"), test ? outputBlock(`Input of ${outcome.name}`, test.stdin) : h("p", { class: "muted" }, "Not available.")),
    h("div", { class: "io-col" }, h("h4", {}, "Expected output"), expected !== undefined ? outputBlock(`Expected output of ${outcome.name}`, expected, diffAt) : h("p", { class: "muted" }, "Not available.")),
    h("div", { class: "io-col" }, h("h4", {}, staff ? "Actual output" : "Your output"), outputBlock(`Actual output of ${outcome.name}`, actual, diffAt, "actual")),
  ];
  return h(
    "div",
    { class: "test-detail-body" },
    diffAt ? h("p", { class: "diff-note" }, `First difference at line ${diffAt}`, compare !== "exact" ? ` (compared ${compare === "trim" ? "ignoring trailing spaces" : `as ${compare}`})` : "") : null,
    truncated ? h("p", { class: "hint" }, "The output is shown up to its first 4 KiB.") : null,
    h("div", { class: "io-grid" }, columns),
    outcome.stderr ? [h("h4", {}, "Error output (stderr)"), outputBlock(`Error output of ${outcome.name}`, outcome.stderr, 0, "stderr")] : null,
    h("p", { class: "hint" }, exitText(outcome), test?.compare ? ` · compared: ${test.compare}` : ""),
  );
}

/**
 * The tests part of a result, or null when the result has no tests.
 * result: the submission's result; tests: the assignment's tests as this viewer got them; staff: true for
 * instructors and admins (every test opens, hidden ones included).
 */
export function testResultsSection(result, tests, { staff = false, headingLevel = "h3" } = {}) {
  const outcomes = result?.tests;
  if (!Array.isArray(outcomes) && !result?.compile_output) return null;
  const list = Array.isArray(outcomes) ? outcomes : [];
  const byId = Object.fromEntries((tests || []).map((t) => [t.id, t]));
  const passed = list.filter((o) => o.verdict === "passed").length;
  const earned = list.reduce((sum, o) => sum + (Number(o.points) || 0), 0);
  const possible = list.reduce((sum, o) => sum + (Number(o.max_points) || 0), 0);
  const compileFailed = list.some((o) => o.verdict === "compile_error");
  const parts = [
    h(headingLevel, { id: "tests-heading" }, "Tests"),
    list.length ? h("p", { class: "tests-summary", "data-testid": "tests-summary" }, `${passed} of ${list.length} passed · ${formatScore(earned, possible)} points`) : null,
  ];
  if (compileFailed) {
    parts.push(notice("error", "The program did not compile, so no test could run. The compiler said:"));
  }
  if (result?.compile_output) {
    const output = h("pre", { class: "test-io compile-output", tabindex: "0", "aria-label": "Compiler output" }, result.compile_output);
    parts.push(compileFailed ? output : h("details", { class: "compile-details" }, h("summary", {}, "Compiler output (warnings)"), output));
  }
  if (list.length) parts.push(testTable(list, byId, staff));
  return h("section", { class: "tests-result", "aria-labelledby": "tests-heading" }, parts);
}

function testTable(list, byId, staff) {
  const rows = [];
  let opened = false;
  list.forEach((outcome, index) => {
    const test = byId[outcome.id];
    const hidden = Boolean(outcome.hidden);
    const name = hidden && !staff ? "Hidden test" : outcome.name || test?.name || outcome.id;
    const canOpen = (staff || !hidden) && outcome.verdict !== "compile_error";
    const detailId = `test-detail-${index}`;
    const toggle = canOpen ? h("button", { type: "button", class: "link small", "aria-expanded": "false", "aria-controls": detailId }, "Show output") : null;
    rows.push(
      h(
        "tr",
        { class: `test-row${hidden ? " hidden-test" : ""}`, dataset: { testId: outcome.id, verdict: outcome.verdict } },
        h("th", { scope: "row" }, h("span", { class: "test-name" }, name), hidden ? h("span", { class: "badge status-draft small" }, staff ? "hidden" : "hidden from you") : null),
        h("td", {}, verdictBadge(outcome.verdict)),
        h("td", { class: "num nowrap" }, formatScore(outcome.points, outcome.max_points)),
        h("td", { class: "num nowrap" }, hidden && !staff ? "–" : timeText(outcome)),
        h("td", {}, toggle),
      ),
    );
    if (canOpen) {
      const detail = h("tr", { class: "test-detail", id: detailId, hidden: true }, h("td", { colspan: "5" }, testDetail({ ...outcome, name }, test, staff)));
      const open = (value) => {
        detail.hidden = !value;
        toggle.setAttribute("aria-expanded", String(value));
        toggle.textContent = value ? "Hide output" : "Show output";
      };
      toggle.addEventListener("click", () => open(detail.hidden));
      if (!opened && outcome.verdict !== "passed") {
        open(true); // the first failing test the viewer may see starts open
        opened = true;
      }
      rows.push(detail);
    }
  });
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { class: "tests" },
      h("caption", { class: "visually-hidden" }, "Test results"),
      h(
        "thead",
        {},
        h("tr", {}, h("th", { scope: "col" }, "Test"), h("th", { scope: "col" }, "Verdict"), h("th", { scope: "col", class: "num" }, "Points"), h("th", { scope: "col", class: "num" }, "Time"), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Details"))),
      ),
      h("tbody", {}, rows),
    ),
  );
}

/** The assignment's tests as a student sees them before submitting: visible ones with input and expected output. */
export function assignmentTestsList(tests) {
  if (!tests?.length) return null;
  return h(
    "ol",
    { class: "assignment-tests" },
    tests.map((test) =>
      h(
        "li",
        { dataset: { testId: test.id } },
        h(
          "div",
          { class: "row-head" },
          h("span", {}, h("strong", {}, test.hidden && !("stdin" in test) ? "Hidden test" : test.name || test.id), test.hidden && "stdin" in test ? h("span", { class: "badge status-draft small" }, "hidden from students") : null),
          h("span", { class: "muted" }, `${formatNumber(test.points)} points`),
        ),
        test.hidden && !("stdin" in test)
          ? h("p", { class: "hint" }, "Its input and expected output are not shown.")
          : h("details", {}, h("summary", {}, "Input and expected output"), h("div", { class: "io-grid two" }, h("div", { class: "io-col" }, h("h4", {}, "Input"), outputBlock(`Input of ${test.name || test.id}`, test.stdin)), h("div", { class: "io-col" }, h("h4", {}, "Expected output"), outputBlock(`Expected output of ${test.name || test.id}`, test.expected_stdout)))),
      ),
    ),
  );
}
