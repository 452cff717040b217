#!/usr/bin/env bash
# A Docker engine for `sam local` in `make test`, and nothing left behind.
#
#   infra/docker_daemon.sh up STATE_DIR     # install docker.io/debootstrap if missing (root), start
#                                           # dockerd if none answers; remembers its pid in STATE_DIR
#   infra/docker_daemon.sh down STATE_DIR   # stop the dockerd `up` started (never one it found running)
#
# `up` exits non-zero, saying why, when no engine can be had; make test carries on, and
# tests/functions/test_sam_local.py then fails (AIMUX_REQUIRE_SAM=1) with this script's log.
set -euo pipefail

action=${1:?usage: docker_daemon.sh up|down STATE_DIR}
state=${2:?usage: docker_daemon.sh up|down STATE_DIR}
mkdir -p "$state"
pidfile="$state/dockerd.pid"
log="$state/dockerd.log"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

install_missing() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        echo "docker_daemon: ${missing[*]} missing and not root: install them (apt-get install -y ${missing[*]})" >&2
        return 1
    fi
    echo "docker_daemon: apt-get install ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

up() {
    install_missing
    command -v docker >/dev/null || { echo "docker_daemon: no docker client" >&2; return 1; }
    if engine_answers; then
        echo "docker_daemon: using the Docker engine already running"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "docker_daemon: no Docker engine answers, and starting dockerd needs root" >&2
        return 1
    fi
    echo "docker_daemon: starting dockerd (log: $log)"
    # setsid: its own session, so the end of this make step does not take it down.
    setsid dockerd >"$log" 2>&1 < /dev/null &
    echo $! > "$pidfile"
    for _ in $(seq 1 60); do
        if engine_answers; then
            echo "docker_daemon: dockerd $(cat "$pidfile") answers"
            return 0
        fi
        if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
            break
        fi
        sleep 1
    done
    echo "docker_daemon: dockerd did not start; the end of its log:" >&2
    tail -n 20 "$log" >&2 || true
    down
    return 1
}

down() {
    [ -f "$pidfile" ] || return 0
    local pid
    pid=$(cat "$pidfile")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]; then
        kill -TERM "$pid"
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "docker_daemon: dockerd $pid still running after 30 s; killing it" >&2
            kill -KILL "$pid" || true
        fi
        echo "docker_daemon: stopped dockerd $pid"
    fi
    rm -f "$pidfile"
}

case "$action" in
    up) up ;;
    down) down ;;
    *) echo "usage: docker_daemon.sh up|down STATE_DIR" >&2; exit 2 ;;
esac
