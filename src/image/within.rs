//! debootstrap inside a container of another distro, for distros the host cannot bootstrap
//! with verification (Ubuntu on a Debian host: Debian 13's archive carries `ubuntu-keyring`
//! and a debootstrap that knows every current Ubuntu release). The mirror is the one
//! debootstrap's own script names for the release and arch, unless `--mirror` is given.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::{archive_components, image_sources, parse_one_line_sources, BootstrapOptions};
use crate::arch::Arch;
use crate::config::distro::Bootstrap;
use crate::config::Distro;
use crate::engine::{Container, ContainerSpec, Engine};

const JOB: &str = "/osrepo/job";
const OUT: &str = "/osrepo/out";

/// Install the tools, run debootstrap into /osrepo/root, keep the sources it wrote.
const DEBOOTSTRAP: &str = r#"#!/bin/sh
set -eu
ARCH=$1 SUITE=$2 COMPONENTS=$3 MIRROR=${4:-}
export DEBIAN_FRONTEND=noninteractive
apt-get -q update
# shellcheck disable=SC2046
apt-get install -y -q --no-install-recommends ca-certificates $(cat /osrepo/job/packages)
rm -rf /osrepo/root /osrepo/out
mkdir -p /osrepo/out /osrepo/bin
# debootstrap sends a release that distro-info no longer lists as supported to the archive of
# old releases, verified with the removed-keys keyring. A release in extended support (focal)
# is still on the main archive, signed with the current key: the distro file lists it, so it
# counts as supported here.
printf '#!/bin/sh\n[ "${1:-}" = --supported ] && { echo %s; exit 0; }\nexec /usr/bin/ubuntu-distro-info "$@"\n' \
  "$SUITE" > /osrepo/bin/ubuntu-distro-info
chmod 755 /osrepo/bin/ubuntu-distro-info
export PATH="/osrepo/bin:$PATH"
# shellcheck disable=SC2086
debootstrap --variant=minbase --arch="$ARCH" --components="$COMPONENTS" "$SUITE" /osrepo/root $MIRROR
cp /osrepo/root/etc/apt/sources.list /osrepo/out/debootstrap.list
"#;

/// The mirror debootstrap's own script names for a release and arch (`ARCH`, `SUITE` in the
/// environment): its first `default_mirror`.
const SCRIPT_MIRROR: &str = r#"PATH="/osrepo/bin:$PATH"
default_mirror() { echo "$1"; exit 0; }
keyring() { :; }
. "/usr/share/debootstrap/scripts/$SUITE"
"#;

/// Give the tree the image's sources, drop caches and lists, tar it.
const FINISH: &str = r#"#!/bin/sh
set -eu
R=/osrepo/root
rm -f "$R/etc/apt/sources.list" /osrepo/out/debootstrap.list
find "$R/var/cache/apt/archives" "$R/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete
mkdir -p "$R/etc/apt/sources.list.d"
cp /osrepo/job/image.sources "$R/etc/apt/sources.list.d/$1.sources"
tar --numeric-owner -C "$R" -cf /osrepo/out/rootfs.tar .
"#;

/// The root filesystem of `distro` for `opts.arch`, made inside a container of `b.within`,
/// as a tar in `tmp`.
pub(super) async fn rootfs(
    engine: &Engine,
    distro: &Distro,
    b: &Bootstrap,
    opts: &BootstrapOptions,
    tmp: &Path,
) -> Result<PathBuf> {
    let image = helper_image(engine, distro, b).await?;
    let spec = ContainerSpec {
        image,
        arch: Arch::host(),
        binds: Vec::new(),
        network: None,
        label: format!("bootstrap {} {}", distro.name, opts.arch),
    };
    let c = engine.start(&spec).await?;
    let r = run(&c, distro, b, opts, tmp).await;
    c.remove().await;
    r
}

/// The image of the distro debootstrap runs in, bootstrapped from the host when missing.
async fn helper_image(engine: &Engine, distro: &Distro, b: &Bootstrap) -> Result<String> {
    let dir = distro.file.parent().unwrap_or(Path::new("."));
    let helper = crate::config::distro::load_one(dir, &b.within)
        .with_context(|| format!("{}: bootstrap within {}", distro.file.display(), b.within))?;
    if helper.bootstrap.is_some() {
        bail!(
            "{}: bootstrap within {}: that distro is bootstrapped within another one",
            distro.file.display(),
            b.within
        );
    }
    let image = helper.image_for(Arch::host())?.to_string();
    if engine.image_arch(&image).await?.is_none() {
        tracing::info!("{}: bootstrapping {image} first, to run debootstrap in", distro.name);
        let opts = BootstrapOptions { arch: Arch::host(), mirror: None, security_mirror: None, tag: None };
        Box::pin(super::bootstrap(engine, &helper, &opts)).await?;
    }
    Ok(image)
}

async fn run(c: &Container, distro: &Distro, b: &Bootstrap, opts: &BootstrapOptions, tmp: &Path) -> Result<PathBuf> {
    let files = vec![
        ("debootstrap.sh".to_string(), DEBOOTSTRAP.as_bytes().to_vec(), 0o755),
        ("finish.sh".to_string(), FINISH.as_bytes().to_vec(), 0o755),
        ("packages".to_string(), b.packages.join("\n").into_bytes(), 0o644),
    ];
    c.upload(JOB, &files).await?;
    let codename = distro.codename();
    let components = archive_components(distro).join(",");
    let mut cmd = vec!["sh", "/osrepo/job/debootstrap.sh", opts.arch.deb(), codename, &components];
    if let Some(m) = &opts.mirror {
        cmd.push(m);
    }
    let run = c.exec(&cmd).await?;
    if run.code != 0 {
        bail!("debootstrap {codename} --arch {} within {} failed (exit {})", opts.arch, b.within, run.code);
    }
    let out = tmp.join("out");
    c.copy_out(OUT, &out).await?;
    let list = std::fs::read_to_string(out.join("debootstrap.list")).context("debootstrap wrote no sources.list")?;
    let archive = parse_one_line_sources(&list)
        .into_iter()
        .next()
        .map(|h| h.uri.trim_end_matches('/').to_string())
        .context("debootstrap's sources.list names no mirror")?;
    // The archive also carries the -security suites; a separate security mirror is used when given.
    let security = opts.security_mirror.clone().unwrap_or_else(|| archive.clone());
    let ports = ports_mirror(c, distro).await?;
    let sources = image_sources(distro, &archive, Some(&security), ports.as_deref());
    c.upload(JOB, &[("image.sources".to_string(), sources.into_bytes(), 0o644)]).await?;
    let fin = c.exec(&["sh", "/osrepo/job/finish.sh", &distro.id]).await?;
    if fin.code != 0 {
        bail!("finishing the {} root filesystem failed (exit {}): {}", distro.name, fin.code, fin.output);
    }
    c.copy_out(OUT, &out).await?;
    Ok(out.join("rootfs.tar"))
}

/// The mirror of the distro's `ports` sources (arm64 on Ubuntu): the distro file's
/// `mirror.ports`, else the one debootstrap's script names for the first such arch.
async fn ports_mirror(c: &Container, distro: &Distro) -> Result<Option<String>> {
    use crate::config::distro::SourceRole;
    let Some(entry) = distro.sources.iter().find(|s| s.role == SourceRole::Ports) else { return Ok(None) };
    if let Some(m) = distro.mirror.as_ref().and_then(|m| m.ports.clone()) {
        return Ok(Some(m));
    }
    let Some(arch) = entry.arches.first() else { return Ok(None) };
    let env = format!("ARCH={} SUITE={}", arch.deb(), distro.codename());
    let run = c.exec(&["sh", "-c", &format!("{env} sh -c '{SCRIPT_MIRROR}'")]).await?;
    let url = run.output.lines().map(str::trim).find(|l| l.starts_with("http")).map(String::from);
    if url.is_none() {
        tracing::warn!("{}: debootstrap's script names no mirror for {arch}", distro.name);
    }
    Ok(url)
}
