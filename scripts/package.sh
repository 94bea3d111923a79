#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb: target/debian/flinkd_<version>_<arch>.deb
# holds /usr/bin/flinkd, the systemd unit, /etc/flinkd/flinkd.toml (a conffile),
# /etc/flinkd/deployments/, the docs, the man page and bash/zsh/fish completions; installing it creates the `flinkd` system user
# and /var/lib/flinkd (0700). Prints the package's path.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
cargo build --release --locked >&2

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 target/release/flinkd "$root/usr/bin/flinkd"
install -D -m 0644 systemd/flinkd.service "$root/lib/systemd/system/flinkd.service"
install -D -m 0640 packaging/flinkd.toml "$root/etc/flinkd/flinkd.toml"
install -d -m 0750 "$root/etc/flinkd/deployments"
install -D -m 0644 README.md "$root/usr/share/doc/flinkd/README.md"
install -D -m 0644 config/flinkd.toml "$root/usr/share/doc/flinkd/flinkd.toml.example"
# The man page and the shell completions, generated from the clap definitions.
install -d "$root/usr/share/man/man1" "$root/usr/share/bash-completion/completions" \
    "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
target/release/flinkd man | gzip -9n > "$root/usr/share/man/man1/flinkd.1.gz"
target/release/flinkd completions bash > "$root/usr/share/bash-completion/completions/flinkd"
target/release/flinkd completions zsh > "$root/usr/share/zsh/vendor-completions/_flinkd"
target/release/flinkd completions fish > "$root/usr/share/fish/vendor_completions.d/flinkd.fish"
install -d "$root/DEBIAN"
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: flinkd
Version: $version
Architecture: $arch
Maintainer: flinkd developers <flinkd@localhost>
Installed-Size: $size
Depends: passwd
Section: admin
Priority: optional
Description: Apache Flink applications from declarative Deployment files
 A supervisor daemon: Deployment YAML files dropped into /etc/flinkd/deployments are
 driven to their desired state (running, suspended, cancelled) on local Flink
 clusters or existing ones, with savepoints, upgrades and a CPU quota.
CONTROL
echo /etc/flinkd/flinkd.toml > "$root/DEBIAN/conffiles"
cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
    if ! getent passwd flinkd >/dev/null; then
        useradd --system --user-group --home-dir /var/lib/flinkd --no-create-home \
            --shell /usr/sbin/nologin flinkd
    fi
    install -d -o flinkd -g flinkd -m 0700 /var/lib/flinkd
    chown root:flinkd /etc/flinkd /etc/flinkd/flinkd.toml /etc/flinkd/deployments
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null || true
    fi
fi
POSTINST
cat > "$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
fi
# The store and the clusters' state stay unless purged.
if [ "$1" = purge ]; then
    rm -rf /var/lib/flinkd
    if getent passwd flinkd >/dev/null; then
        userdel flinkd || true
    fi
fi
POSTRM
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
mkdir -p target/debian
deb="target/debian/flinkd_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >&2
echo "$deb"
