// The instructor's tests editor inside the assignment form: tests (add, reorder, remove; name, id, points,
// hidden, compare mode, per-test limits, input and expected output), the default limits, the reference
// solution, and "run against the reference solution", which saves the form and grades the reference
// solution through the normal queue so the verdicts show before the assignment is published.

import { ApiError, api } from "../api.js";
import { codeEditor } from "../code-editor.js";
import { field, h, notice, setMessage } from "../dom.js";
import { TERMINAL, formatNumber, languageLabel, statusBadge } from "../format.js";
import { rowList } from "./row-list.js";
import { testResultsSection } from "./test-results.js";

const SLUG = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const MAX_TESTS = 100;
const MAX_IO_BYTES = 256 * 1024;
const COMPARE_MODES = [
  ["trim", "Ignore trailing spaces"],
  ["exact", "Exact bytes"],
  ["tokens", "Same words"],
  ["float", "Numbers within tolerance"],
];
const LIMIT_DEFAULTS = { time_seconds: 2, memory_mb: 256, output_kb: 64 };
const POLL_MS = 1000;
const RUN_TIMEOUT_MS = 10 * 60 * 1000;

const bytes = (text) => new TextEncoder().encode(text).length;

function numberInput(name, value, { min, max, step = "any" } = {}) {
  return h("input", { type: "number", name, min, max, step, inputmode: "decimal", value: value ?? "" });
}

/**
 * existing: the assignment being edited (or null); onChange: called when the tests' points change.
 * Returns {element, totalPoints(), collect(problems, rubricIds) -> {tests, limits, reference_solution}, runPanel(ctx, save)}.
 */
export function testsEditor(existing, { onChange = () => {}, languages = () => ["python"] } = {}) {
  const rows = h("ol", { class: "test-rows" });
  const rowsEditor = rowList(rows, { renumber, fallback: () => addButton });
  const count = h("span", { class: "muted" });
  const limits = { ...LIMIT_DEFAULTS, ...(existing?.limits || {}) };
  const timeLimit = numberInput("limits_time_seconds", limits.time_seconds, { min: "0.1", max: "60" });
  const memoryLimit = numberInput("limits_memory_mb", limits.memory_mb, { min: "16", max: "4096", step: "1" });
  const outputLimit = numberInput("limits_output_kb", limits.output_kb, { min: "1", max: "16384", step: "1" });
  for (const input of [timeLimit, memoryLimit, outputLimit]) input.setAttribute("required", "");

  function totalPoints() {
    return [...rows.children].reduce((sum, row) => sum + (Number(row.querySelector("input[name=test_points]").value) || 0), 0);
  }

  function renumber() {
    [...rows.children].forEach((row, i) => {
      row.querySelector(".row-title").textContent = `Test ${i + 1}`;
      row.querySelector("[data-action=up]").disabled = i === 0;
      row.querySelector("[data-action=down]").disabled = i === rows.children.length - 1;
      for (const button of row.querySelectorAll("button[data-action]")) button.setAttribute("aria-label", `${button.dataset.label} test ${i + 1}`);
    });
    count.textContent = rows.children.length ? `${rows.children.length} test${rows.children.length === 1 ? "" : "s"}, ${formatNumber(totalPoints())} points` : "No tests: the rubric alone grades.";
    addButton.disabled = rows.children.length >= MAX_TESTS;
    if (!building) onChange(); // not while the editor itself is still being built
  }

  function addRow(test = {}, focus = false) {
    const name = h("input", { type: "text", name: "test_name", maxlength: "200", value: test.name ?? "", autocomplete: "off" });
    const id = h("input", { type: "text", name: "test_id", required: true, maxlength: "64", pattern: SLUG.source, value: test.id ?? "", autocomplete: "off" });
    const points = numberInput("test_points", test.points ?? 1, { min: "0", max: "10000" });
    const hidden = h("input", { type: "checkbox", name: "test_hidden", checked: Boolean(test.hidden) });
    const compare = h("select", { name: "test_compare" }, COMPARE_MODES.map(([value, label]) => h("option", { value, selected: (test.compare ?? "trim") === value }, label)));
    const tolerance = numberInput("test_tolerance", test.float_tolerance ?? 1e-6, { min: "0", max: "1" });
    const toleranceField = field("Tolerance", tolerance, "Absolute or relative, e.g. 0.000001.");
    const time = numberInput("test_time", test.time_limit_seconds ?? "", { min: "0.1", max: "60" });
    time.placeholder = "default";
    const memory = numberInput("test_memory", test.memory_limit_mb ?? "", { min: "16", max: "4096", step: "1" });
    memory.placeholder = "default";
    const stdin = h("textarea", { name: "test_stdin", rows: "4", class: "mono", spellcheck: "false", wrap: "off" });
    stdin.value = test.stdin ?? "";
    const expected = h("textarea", { name: "test_expected", rows: "4", class: "mono", spellcheck: "false", wrap: "off" });
    expected.value = test.expected_stdout ?? "";
    const syncTolerance = () => {
      toleranceField.hidden = compare.value !== "float";
    };
    compare.addEventListener("change", syncTolerance);
    syncTolerance();
    points.addEventListener("input", renumber);
    name.addEventListener("change", () => {
      if (!id.value.trim() && name.value.trim()) id.value = slugify(name.value, takenIds());
    });
    const row = h(
      "li",
      { class: "test-row rubric-row" },
      rowsEditor.head(() => row),
      h("div", { class: "row-grid" }, field("Test name", name), field("Test id", id, "Letters, digits, - _ . : (unique, not a rubric id)."), field("Points", points)),
      h("div", { class: "io-grid two" }, field("Input (stdin)", stdin), field("Expected output", expected)),
      h(
        "div",
        { class: "row-grid test-options" },
        field("Compare output", compare),
        toleranceField,
        field("Time limit (s)", time, "Empty: the default below."),
        field("Memory limit (MB)", memory, "Empty: the default below."),
        h("div", { class: "field check-field" }, h("label", { class: "check" }, hidden, "Hidden from students")),
      ),
    );
    rows.append(row);
    renumber();
    if (focus) name.focus();
  }

  function takenIds() {
    return new Set([...rows.querySelectorAll("input[name=test_id]")].map((input) => input.value));
  }

  function slugify(text, taken) {
    const base = String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "test";
    let candidate = `t-${base}`.slice(0, 64);
    for (let n = 2; taken.has(candidate); n += 1) candidate = `t-${base}-${n}`;
    return candidate;
  }


  const addButton = h("button", { type: "button", class: "secondary", onclick: () => addRow({}, true) }, "Add test");
  let building = true;
  for (const test of existing?.tests ?? []) addRow(test);
  building = false;

  const reference = existing?.reference_solution ?? null;
  const referenceLanguage = h("select", { name: "reference_language" });
  const referenceCode = codeEditor({ label: "Reference solution", value: reference?.code ?? "", name: "reference_code" });
  referenceCode.textarea.rows = 10;
  function refreshLanguages() {
    const current = referenceLanguage.value || reference?.language;
    referenceLanguage.replaceChildren(...languages().map((lang) => h("option", { value: lang, selected: lang === current }, languageLabel(lang))));
  }
  refreshLanguages();

  function collect(problems, rubricIds) {
    const tests = [];
    const ids = new Set();
    let total = 0;
    [...rows.children].forEach((row, i) => {
      const value = (name) => row.querySelector(`[name=${name}]`).value;
      const test = {
        id: value("test_id").trim(),
        name: value("test_name").trim(),
        stdin: value("test_stdin"),
        expected_stdout: value("test_expected"),
        points: Number(value("test_points")),
        hidden: row.querySelector("[name=test_hidden]").checked,
        compare: value("test_compare"),
      };
      if (!test.id && test.name) test.id = slugify(test.name, ids);
      if (test.compare === "float") test.float_tolerance = Number(value("test_tolerance"));
      if (value("test_time").trim() !== "") test.time_limit_seconds = Number(value("test_time"));
      if (value("test_memory").trim() !== "") test.memory_limit_mb = Number(value("test_memory"));
      const label = `Test ${i + 1}`;
      if (!SLUG.test(test.id)) problems.push(`${label}: give it an id of letters, digits and - _ . : (at most 64).`);
      else if (ids.has(test.id)) problems.push(`${label}: the id "${test.id}" is used twice.`);
      else if (rubricIds.has(test.id)) problems.push(`${label}: the id "${test.id}" is also a rubric criterion's id.`);
      ids.add(test.id);
      if (!(test.points >= 0)) problems.push(`${label}: points must be 0 or more.`);
      for (const [key, what] of [["stdin", "input"], ["expected_stdout", "expected output"]]) {
        const size = bytes(test[key]);
        total += size;
        if (size > MAX_IO_BYTES) problems.push(`${label}: the ${what} is ${size.toLocaleString()} bytes; at most 256 KiB.`);
      }
      if (test.time_limit_seconds !== undefined && !(test.time_limit_seconds >= 0.1 && test.time_limit_seconds <= 60)) problems.push(`${label}: the time limit must be 0.1 to 60 seconds.`);
      if (test.memory_limit_mb !== undefined && !(Number.isInteger(test.memory_limit_mb) && test.memory_limit_mb >= 16 && test.memory_limit_mb <= 4096)) problems.push(`${label}: the memory limit must be a whole number from 16 to 4096 MB.`);
      tests.push(test);
    });
    if (total > 4 * 1024 * 1024) problems.push(`All tests' input and expected output together are ${total.toLocaleString()} bytes; at most 4 MiB.`);
    const limitsBody = { time_seconds: Number(timeLimit.value), memory_mb: Number(memoryLimit.value), output_kb: Number(outputLimit.value) };
    if (!(limitsBody.time_seconds >= 0.1 && limitsBody.time_seconds <= 60)) problems.push("Default time limit: 0.1 to 60 seconds.");
    if (!(Number.isInteger(limitsBody.memory_mb) && limitsBody.memory_mb >= 16 && limitsBody.memory_mb <= 4096)) problems.push("Default memory limit: a whole number from 16 to 4096 MB.");
    if (!(Number.isInteger(limitsBody.output_kb) && limitsBody.output_kb >= 1 && limitsBody.output_kb <= 16384)) problems.push("Output limit: a whole number from 1 to 16384 KB.");
    const code = referenceCode.value;
    const referenceBody = code.trim() ? { language: referenceLanguage.value, code } : null;
    if (referenceBody && !languages().includes(referenceBody.language)) problems.push("Reference solution: pick one of the allowed languages.");
    return { tests, limits: limitsBody, reference_solution: referenceBody };
  }

  const runMessage = h("div", { class: "form-message" });
  const runResult = h("div", { class: "reference-run", "aria-live": "polite" });
  const runButton = h("button", { type: "button", class: "secondary" }, "Run against the reference solution");

  /** Wire the run button: save(): Promise<assignment|null> saves the form (null when it did not validate). */
  function connectRun(ctx, save) {
    if (existing) showLatestRun(ctx);
    runButton.addEventListener("click", async () => {
      setMessage(runMessage, "", "");
      if (!referenceCode.value.trim()) {
        setMessage(runMessage, "error", "Write or paste the reference solution first.");
        referenceCode.textarea.focus();
        return;
      }
      runButton.disabled = true;
      try {
        const saved = await save();
        if (!saved) return;
        runResult.replaceChildren(h("p", { class: "muted" }, "Queued: the reference solution is being graded…"));
        let run = await api(`/assignments/${encodeURIComponent(saved.id)}/test-run`, { method: "POST", json: {} });
        const started = Date.now();
        while (!TERMINAL.has(run.status) && !ctx.signal.aborted && Date.now() - started < RUN_TIMEOUT_MS) {
          runResult.replaceChildren(h("p", { class: "status-line" }, "Reference run: ", statusBadge(run.status), h("span", { class: "spinner", "aria-hidden": "true" })));
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          run = await api(`/submissions/${encodeURIComponent(run.id)}`, { signal: ctx.signal });
        }
        showRun(run, saved);
      } catch (err) {
        if (err?.name === "AbortError") return;
        setMessage(runMessage, "error", err instanceof ApiError ? err.message : "The reference run failed.");
      } finally {
        runButton.disabled = false;
      }
    });
  }

  /** An assignment opened for editing shows its latest reference run, if it has one. */
  async function showLatestRun(ctx) {
    try {
      const page = await api(`/submissions?assignment_id=${encodeURIComponent(existing.id)}&test_runs=true&limit=1`, { signal: ctx.signal });
      const latest = page.items?.[0];
      if (latest && TERMINAL.has(latest.status) && !runResult.hasChildNodes()) showRun(latest, existing, "Latest reference run");
    } catch (err) {
      if (err?.name !== "AbortError") setMessage(runMessage, "error", err instanceof ApiError ? err.message : "Could not load the latest reference run.");
    }
  }

  function showRun(run, saved, label = "Reference run") {
    const result = run.result;
    if (!result) {
      runResult.replaceChildren(notice("info", "The reference run has not finished yet; its result will be in the assignment's test runs."));
      return;
    }
    const outcomes = result.tests || [];
    const failed = outcomes.filter((o) => o.verdict !== "passed").length;
    const body = h(
      "div",
      {},
      h("p", { class: "status-line" }, `${label}: `, statusBadge(run.status), h("a", { href: `#/submissions/${encodeURIComponent(run.id)}` }, "open the run")),
      outcomes.length && failed === 0 ? notice("success", `The reference solution passes all ${outcomes.length} tests.`) : null,
      failed ? notice("error", `The reference solution fails ${failed} of ${outcomes.length} tests: check the expected outputs before publishing.`) : null,
      !outcomes.length && result.feedback ? h("p", { class: "prose" }, result.feedback) : null,
      testResultsSection(result, saved.tests, { staff: true, headingLevel: "h4" }),
    );
    runResult.replaceChildren(body);
  }

  const element = h(
    "div",
    { class: "tests-editor" },
    h(
      "fieldset",
      { class: "rubric-editor" },
      h("legend", {}, "Tests"),
      h("p", { class: "hint" }, "Each test runs the program with its input and compares what it prints with the expected output. A passed test earns its points; hidden tests show students only their verdict."),
      rows,
      h("div", { class: "rubric-foot" }, addButton, count),
    ),
    h(
      "fieldset",
      { class: "limits" },
      h("legend", {}, "Default limits per test"),
      h("div", { class: "row-grid" }, field("Time limit (seconds)", timeLimit), field("Memory limit (megabytes)", memoryLimit), field("Output limit (kilobytes)", outputLimit)),
    ),
    h(
      "fieldset",
      { class: "reference" },
      h("legend", {}, "Reference solution"),
      h("p", { class: "hint" }, "Your own solution: students never see it. Running it grades it like a submission (it is never counted), so you see every test's verdict before publishing."),
      field("Reference solution language", referenceLanguage),
      referenceCode.element,
      runMessage,
      h("div", { class: "actions" }, runButton, h("span", { class: "hint" }, existing ? "Saves the assignment first." : "Creates the assignment (as it is set, published or not) first.")),
      runResult,
    ),
  );

  return { element, totalPoints, collect, connectRun, refreshLanguages, count: () => rows.children.length };
}
