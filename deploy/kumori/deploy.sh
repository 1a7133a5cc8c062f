#!/usr/bin/env bash
# Deploy faas-trio on Kumori with kumorictl, one step per command; every name is a parameter.
#
#   deploy.sh setup USER DOMAIN                  init, login, set the user domain, fetch the
#                                                CUE dependencies of this module
#   deploy.sh secrets ADMIN_KEY_FILE CREDENTIALS_FILE
#                                                register the frontend's admin key and the
#                                                scaler's Kumori login (user, password lines)
#   deploy.sh curve-secrets KEYS_DIR            register the CurveZMQ keys of the component links,
#                                                made by `FAAS_CURVE_KEYS=KEYS_DIR faas-trio keys`
#   deploy.sh certificate CERT WILDCARD_DOMAIN CERT_FILE KEY_FILE
#   deploy.sh register DEPLOYMENT INBOUND HOSTNAME CERT
#                                                register the HTTP inbound and the deployment
#   deploy.sh link DEPLOYMENT INBOUND            expose the service through the inbound
#   deploy.sh describe DEPLOYMENT
#   deploy.sh undo DEPLOYMENT INBOUND [CERT]     unlink and unregister, in reverse order
#
# The scaler resizes DEPLOYMENT: give the same name to its FAAS_KUMORI_DEPLOYMENT parameter
# (service config, scaler.deployment; default "faasdep"). KUMORICTL overrides the binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kumorictl=${KUMORICTL:-kumorictl}

usage() {
    sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

need() {
    # need COUNT ARGS...: exactly COUNT arguments, else usage
    local count=$1
    shift
    [[ $# -eq $count ]] || usage
}

run() {
    echo "+ kumorictl $*" >&2
    "$kumorictl" "$@"
}

[[ $# -ge 1 ]] || usage
step=$1
shift
case $step in
setup)
    need 2 "$@"
    run init
    run login "$1"
    run config --user-domain "$2"
    run fetch-dependencies "$here"
    ;;
secrets)
    need 2 "$@"
    run register secret faasadminkey --from-file "$1"
    run register secret faaskumoricreds --from-file "$2"
    ;;
curve-secrets)
    need 1 "$@"
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    FAAS_CURVE_KEYS="$1" faas-trio keys --env >"$tmp/keys"
    sed -n 's/^FAAS_CURVE_PUBLIC=//p' "$tmp/keys" | tr -d '\n' >"$tmp/public"
    run register secret faascurvepublic --from-file "$tmp/public"
    for role in dbmanager jqmanager frontend worker scaler; do
        sed -n "s/^$role: FAAS_CURVE_SECRET=//p" "$tmp/keys" | tr -d '\n' >"$tmp/$role"
        run register secret "faascurve$role" --from-file "$tmp/$role"
    done
    ;;
certificate)
    need 4 "$@"
    run register certificate "$1" --domain "$2" --cert-file "$3" --key-file "$4"
    ;;
register)
    need 4 "$@"
    run register http-inbound "$2" --domain "$3" --cert "$4"
    run register deployment "$1" --deployment "$here/deployment"
    ;;
link)
    need 2 "$@"
    run link "$1:service" "$2"
    ;;
describe)
    need 1 "$@"
    run describe deployment "$1"
    ;;
undo)
    [[ $# -eq 2 || $# -eq 3 ]] || usage
    run unlink "$1:service" "$2" || true
    run unregister deployment "$1" || true
    run unregister http-inbound "$2" || true
    if [[ $# -eq 3 ]]; then
        run unregister certificate "$3" || true
    fi
    ;;
*)
    usage
    ;;
esac
