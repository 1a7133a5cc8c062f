#!/bin/sh
# Hosts for the multi-host tests, made of network namespaces on this machine.
#
#   netns.sh up   NAME            make the hosts NAME-core, NAME-front, NAME-w1, NAME-w2,
#                                 NAME-client and NAME-intruder, and the hub NAME-hub
#   netns.sh down NAME            remove them, killing whatever still runs in them (idempotent)
#   netns.sh link NAME HOST NET up|down
#                                 bring HOST's link to network NET (int or pub) up or down
#   netns.sh exec NAME HOST CMD…  run CMD on HOST (ip netns exec NAME-HOST CMD…)
#
# Two networks, each a bridge in the hub namespace, with no route anywhere else: nothing
# here touches the machine's own namespace, and every address lives only inside the
# namespaces made here.
#
#   int  10.199.0.0/24  core .1, front .2, w1 .3, w2 .4, intruder .9  (component links)
#   pub  10.199.1.0/24  front .2, client .9                            (the HTTP API)
#
# The intruder stands for a tenant's machine that can reach the component network; the
# client for the platform's users. Needs root (CAP_NET_ADMIN) and iproute2.
set -eu

INT_NET=10.199.0
PUB_NET=10.199.1

usage() {
    sed -n '2,11p' "$0" >&2
    exit 2
}

# host -> "net:last-octet ..." (the networks the host is on).
links_of() {
    case "$1" in
        core) echo "int:1" ;;
        front) echo "int:2 pub:2" ;;
        w1) echo "int:3" ;;
        w2) echo "int:4" ;;
        client) echo "pub:9" ;;
        intruder) echo "int:9" ;;
        *) echo "netns.sh: no host named $1" >&2; exit 2 ;;
    esac
}

HOSTS="core front w1 w2 client intruder"

up() {
    name=$1
    hub=$name-hub
    ip netns add "$hub"
    ip -n "$hub" link set lo up
    for net in int pub; do
        ip -n "$hub" link add "br-$net" type bridge
        ip -n "$hub" link set "br-$net" up
    done
    for host in $HOSTS; do
        ns=$name-$host
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        for link in $(links_of "$host"); do
            net=${link%%:*}
            octet=${link##*:}
            if [ "$net" = int ]; then prefix=$INT_NET; else prefix=$PUB_NET; fi
            # The pair is made inside the hub and one end moved to the host: names need
            # only be unique there, so parallel runs never collide.
            ip -n "$hub" link add "$host-$net" type veth peer name "eth-$net" netns "$ns"
            ip -n "$hub" link set "$host-$net" master "br-$net" up
            ip -n "$ns" addr add "$prefix.$octet/24" dev "eth-$net"
            ip -n "$ns" link set "eth-$net" up
        done
    done
}

down() {
    name=$1
    for host in $HOSTS hub; do
        ns=$name-$host
        [ -e "/run/netns/$ns" ] || continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do
            kill -9 "$pid" 2>/dev/null || true
        done
        ip netns del "$ns" 2>/dev/null || true
    done
}

link() {
    name=$1 host=$2 net=$3 state=$4
    links_of "$host" >/dev/null
    case "$state" in up | down) ;; *) usage ;; esac
    ip -n "$name-hub" link set "$host-$net" "$state"
}

[ $# -ge 2 ] || usage
verb=$1
shift
case "$verb" in
    up) [ $# -eq 1 ] || usage; down "$1"; up "$1" || { down "$1"; exit 1; } ;;
    down) [ $# -eq 1 ] || usage; down "$1" ;;
    link) [ $# -eq 4 ] || usage; link "$@" ;;
    exec) [ $# -ge 3 ] || usage; ns=$1-$2; links_of "$2" >/dev/null; shift 2;
          exec ip netns exec "$ns" "$@" ;;
    *) usage ;;
esac
