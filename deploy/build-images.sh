#!/usr/bin/env bash
# Build and push one image per component, and point the Kumori manifests at them.
#
#   deploy/build-images.sh REGISTRY USER VERSION      e.g. registry.hub.docker.com ann 0.1.0
#
# Images are REGISTRY/USER/faas-trio-<role>:VERSION. The manifests' image variables
# (deploy/kumori/variables/image) are rewritten first, so that the scaler image carries
# manifests naming the images that were pushed. The scaler image needs a kumorictl binary
# inside the repository: KUMORICTL=path/relative/to/repo (default deploy/bin/kumorictl).
# Set PUSH=0 to build without pushing.
set -euo pipefail

if [[ $# -ne 3 ]]; then
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
fi
registry=$1 user=$2 version=$3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kumorictl=${KUMORICTL:-deploy/bin/kumorictl}
roles=(frontend dbmanager jqmanager worker scaler)

if [[ ! -x "$root/$kumorictl" ]]; then
    echo "no executable kumorictl at $root/$kumorictl (set KUMORICTL)" >&2
    exit 1
fi

cat > "$root/deploy/kumori/variables/image/manifest.cue" <<CUE
// Where the component images live; deploy/build-images.sh rewrites these three lines with
// the registry, user and version it pushed.
package image

#REGISTRY: "$registry"
#USER:     "$user"
#VERSION:  "$version"
CUE

# Every role's image starts from this one; it is built here and never pushed.
base="faas-trio-base:$version"
echo "== $base"
DOCKER_BUILDKIT=1 docker build --file "$root/components/base.Dockerfile" --tag "$base" "$root"

for role in "${roles[@]}"; do
    image="$registry/$user/faas-trio-$role:$version"
    echo "== $image"
    DOCKER_BUILDKIT=1 docker build \
        --file "$root/components/$role/Dockerfile" \
        --build-arg "BASE=$base" \
        --build-arg "KUMORICTL=$kumorictl" \
        --tag "$image" \
        "$root"
    if [[ ${PUSH:-1} != 0 ]]; then
        docker push "$image"
    fi
done
