#!/usr/bin/env bash
# Installs an Apache Flink distribution from PyPI, without Maven, and prints its FLINK_HOME.
#
#   scripts/install-flink.sh [VERSION]      (default 2.3.0)
#
# The wheels `apache-flink` (bin/, conf/) and `apache-flink-libraries` (lib/, opt/,
# plugins/, bin/bash-java-utils.jar) unpacked together form a FLINK_HOME. For 1.x the
# libraries package is an sdist whose deps/ holds the same. The result is cached under
# ${FLINKD_CACHE:-~/.cache/flinkd}/flink-VERSION, so a second run is instant and a
# fresh clone of flinkd reuses it.
set -euo pipefail

version="${1:-2.3.0}"
cache="${FLINKD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/flinkd}"
home="$cache/flink-$version"

if [ -x "$home/bin/jobmanager.sh" ] && [ -f "$home/bin/bash-java-utils.jar" ]; then
    echo "$home"
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.install-$version.XXXXXX")
trap 'rm -rf "$work"' EXIT

case "$(uname -m)" in
    x86_64) platform=manylinux2014_x86_64 ;;
    aarch64) platform=manylinux2014_aarch64 ;;
    *) echo "install-flink: no apache-flink wheel for $(uname -m)" >&2; exit 1 ;;
esac

echo "install-flink: downloading apache-flink $version from PyPI" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --platform "$platform" -d "$work/dl" "apache-flink==$version" >&2
python3 -m pip download --quiet --no-deps -d "$work/dl" "apache-flink-libraries==$version" >&2

python3 - "$work" <<'PY'
import glob, os, sys, tarfile, zipfile

work = sys.argv[1]
out = os.path.join(work, "pyflink")

def put(name, data, mode):
    path = os.path.join(out, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)

for wheel in glob.glob(os.path.join(work, "dl", "*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            if info.filename.startswith("pyflink/") and not info.is_dir():
                rel = info.filename[len("pyflink/"):]
                mode = 0o755 if rel.startswith("bin/") else 0o644
                put(rel, z.read(info), mode)

for sdist in glob.glob(os.path.join(work, "dl", "*.tar.gz")):
    with tarfile.open(sdist) as t:
        for m in t.getmembers():
            parts = m.name.split("/")
            if m.isfile() and len(parts) > 2 and parts[1] == "deps":
                rel = "/".join(parts[2:])
                if rel.split("/")[0] in ("lib", "opt", "plugins", "bin", "conf", "licenses"):
                    mode = 0o755 if rel.startswith("bin/") else 0o644
                    put(rel, t.extractfile(m).read(), mode)
PY

for need in bin/jobmanager.sh bin/taskmanager.sh bin/flink bin/bash-java-utils.jar lib; do
    if [ ! -e "$work/pyflink/$need" ]; then
        echo "install-flink: the downloaded packages lack $need" >&2
        exit 1
    fi
done
rm -rf "$home"
mv "$work/pyflink" "$home"
echo "$home"
