//! The rpm family (CentOS, Rocky, AlmaLinux, openEuler): dnf or repotrack resolves in the
//! build container, osrepo writes `<id>/<release>/os/<basearch>/` with signed `repodata/`
//! (and the module metadata of the closure's module streams), ships the upstream package
//! keys and emits a `.repo` file for nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};

use super::{Backend, ContainerInputs, Identity, LockExtras, Overrides, PublishContext, Publishing, Ready, Report};
use crate::cache::Cache;
use crate::config::distro::RpmResolver;
use crate::config::{Distro, ExtraRepo};
use crate::fsutil::write_atomic;
use crate::index::rpm::{Compression, RepodataOptions, RpmRecord};
use crate::lock::{LockedJob, LockedPackage, UpstreamKey};
use crate::plan::Job;
use crate::resolve::{dnf, JOB_DIR};
use crate::sbom::{Flavor, Package};
use crate::sign::SigningKey;

/// The rpm backend.
pub(crate) struct Rpm;

impl Backend for Rpm {
    fn name(&self) -> &'static str {
        "rpm"
    }

    fn validate(&self, d: &Distro) -> Result<()> {
        for r in &d.extra_repos {
            if !r.suites.is_empty() {
                bail!(
                    "{}: distro {}: extra repo {}: suites are for deb distros (rpm repos take a url)",
                    d.file.display(),
                    d.name,
                    r.name
                );
            }
        }
        compression(d).map(|_| ())
    }

    /// dnf reads `name-version[-release]` itself; the name is the part before the first `-`
    /// that starts a version (a digit), which is how yum specs are written.
    fn split_pin<'a>(&self, raw: &'a str) -> Option<(&'a str, &'a str)> {
        let bytes = raw.as_bytes();
        (2..bytes.len())
            .find_map(|i| (bytes[i - 1] == b'-' && bytes[i].is_ascii_digit()).then(|| (&raw[..i - 1], &raw[i..])))
    }

    /// `name-1.6.28` takes any release of 1.6.28; `name-1.6.28-3.el7` that release; an
    /// epoch is compared when the pin gives one.
    fn pin_matches(&self, pin: &str, version: &str) -> bool {
        let no_epoch = version.split_once(':').map_or(version, |(_, vr)| vr);
        let upstream = no_epoch.rsplit_once('-').map_or(no_epoch, |(v, _)| v);
        pin == version || pin == no_epoch || pin == upstream
    }

    fn container_inputs(&self, job: &Job, _: &Overrides) -> Result<ContainerInputs> {
        let d = &job.distro;
        let mut inputs = ContainerInputs::resolver(&dnf::script(), job);
        if !d.repos.is_empty() {
            inputs.files.push(("replace-repos".into(), Vec::new(), 0o644));
            for r in &d.repos {
                let url = dnf::baseurl_for(d, &r.baseurl, job.arch)?;
                let text = dnf::repo_file(&r.name, url, &r.gpgkey, !r.gpgkey.is_empty());
                inputs.files.push((format!("repos/{}.repo", r.name), text.into_bytes(), 0o644));
            }
        }
        // Keys yum fetches by URL (EPEL's on EL7) are fetched into the report too, so nodes
        // get them in out/keys/<distro>/ and can check those packages' signatures offline.
        let mut key_urls = remote_repo_keys(d);
        for r in &d.extra_repos {
            let url = match super::mount_file_repo(d, r, &mut inputs.binds)? {
                Some(inside) => format!("file://{inside}"),
                None => r.url.clone(),
            };
            let key = extra_repo_key(d, r, &mut inputs, &mut key_urls)?;
            let text = dnf::repo_file(&r.name, &url, &[key], true);
            inputs.files.push((format!("repos/{}.repo", r.name), text.into_bytes(), 0o644));
        }
        if !key_urls.is_empty() {
            inputs.files.push(("key-urls".into(), key_urls.into_bytes(), 0o644));
        }
        Ok(inputs)
    }

    fn resolve_command(&self, job: &Job) -> Vec<String> {
        let (releasever, basearch) = dnf::releasever_basearch(&job.distro, job.arch);
        let tool = match job.distro.resolver {
            RpmResolver::Dnf => "dnf",
            RpmResolver::Repotrack => "repotrack",
        };
        let weak = if job.recommends { "1" } else { "0" };
        let arches = job.distro.package_arches_for(job.arch).join(",");
        vec!["sh".into(), format!("{JOB_DIR}/resolve.sh"), basearch, releasever, weak.into(), tool.into(), arches]
    }

    fn report_dirs(&self) -> &'static [(&'static str, &'static str)] {
        &[("out/md", "md"), ("keys", "keys")]
    }

    fn parse_report(&self, job: &Job, dir: &Path) -> Result<Report> {
        let mut report = Report::default();
        let mut upstream = Vec::new();
        for (n, p) in crate::fsutil::files_under(&dir.join("md"))? {
            let data = crate::index::decompress(&n, &std::fs::read(&p)?)?;
            if n.contains("primary.xml") {
                upstream.extend(
                    crate::index::rpm::read_primary(&String::from_utf8_lossy(&data))
                        .with_context(|| format!("upstream {n}"))?,
                );
            } else if n.contains("modules.yaml") {
                report.modules.push(String::from_utf8_lossy(&data).into_owned());
            }
        }
        for (n, p) in crate::fsutil::files_under(&dir.join("keys"))? {
            report.keys.push((n, std::fs::read(&p)?));
        }
        let urls = std::fs::read_to_string(dir.join("out/urls.txt")).context("resolver wrote no urls.txt")?;
        let arches = job.distro.package_arches_for(job.arch);
        report.artifacts =
            dnf::artifacts(&urls, &upstream, &arches).context("matching downloads to upstream metadata")?;
        Ok(report)
    }

    fn identify(&self, cache: &Cache, sha256: &str, path: &Path) -> Result<Identity> {
        let rec = record(cache, sha256, path)?;
        let provides = rec.provides.iter().map(|p| p.name.clone()).collect();
        Ok(Identity { version: evr(&rec), name: rec.name, arch: rec.arch, provides })
    }

    fn upstream_repo(&self, url: &str) -> String {
        match url.find("/Packages/") {
            Some(i) => url[..i].to_string(),
            None => url.rsplit_once('/').map(|x| x.0).unwrap_or(url).to_string(),
        }
    }

    fn lock_extras(&self, packages: &[LockedPackage], report: &Report) -> Result<LockExtras> {
        let nevras: BTreeSet<String> = packages.iter().map(nevra).collect();
        let modules = crate::index::modules::select(&report.modules, &nevras)?;
        let keys = report.keys.iter().map(|(n, b)| (n.clone(), UpstreamKey::from_bytes(b))).collect();
        Ok(LockExtras { modules, keys })
    }

    fn publish(&self, tree: &Path, jobs: &[Publishing<'_>], ctx: &PublishContext<'_>) -> Result<()> {
        for j in jobs.iter().filter(|j| j.changed) {
            let repo_dir = index_job(tree, j.ready, ctx.cache)?;
            sign_repomd(ctx.key, &repo_dir, j.ready.date)?;
        }
        let saved = dedup_noarch(tree)?;
        if saved > 0 {
            tracing::info!("noarch packages shared between arches: {saved} bytes stored once");
        }
        emit(tree, jobs, ctx.base_url)
    }

    fn sbom_closure(
        &self,
        tree: &Path,
        job: &Job,
        locked: &LockedJob,
        cache: &Cache,
    ) -> Result<Option<(Flavor, Vec<Package>)>> {
        let d = &job.distro;
        let repo = format!("{}/{}/os/{}", d.id, d.release, job.arch.rpm());
        Ok(crate::sbom::read::rpm(tree, &repo, locked, cache)?.map(|p| (Flavor::Rpm, p)))
    }

    fn regenerated_by_merge(&self, rel: &str) -> bool {
        rel.ends_with("/repodata/repomd.xml.asc")
    }

    fn finish_merge(&self, tree: &Path, parts: &[PathBuf], key: &SigningKey) -> Result<()> {
        let mut repos = BTreeSet::new();
        for part in parts {
            for (rel, _) in crate::fsutil::files_under(part)? {
                if let Some(repo) = rel.strip_suffix("/repodata/repomd.xml") {
                    repos.insert(repo.to_string());
                }
            }
        }
        for repo in &repos {
            let dir = tree.join(repo);
            sign_repomd(key, &dir, repomd_revision(&dir)?)?;
        }
        dedup_noarch(tree).map(|_| ())
    }
}

/// The repodata compression a distro file asks for (gz by default).
fn compression(d: &Distro) -> Result<Compression> {
    let c = d.compress.as_deref().unwrap_or("gz");
    c.parse().map_err(|e| anyhow::anyhow!("{}: compress: {e}", d.file.display()))
}

/// `key-urls` lines (`NAME URL`) for the http(s) gpgkeys of the distro's own repos.
fn remote_repo_keys(d: &Distro) -> String {
    let mut out = String::new();
    for r in &d.repos {
        let remote: Vec<&String> =
            r.gpgkey.iter().filter(|k| k.starts_with("http://") || k.starts_with("https://")).collect();
        for (i, url) in remote.iter().enumerate() {
            let name = if remote.len() == 1 { r.name.clone() } else { format!("{}-{}", r.name, i + 1) };
            out.push_str(&format!("{name} {url}\n"));
        }
    }
    out
}

/// The key of an rpm extra repo: uploaded when inline or a host file, else fetched in the
/// container (`key-urls`). Returns the gpgkey URL for its repo file.
fn extra_repo_key(d: &Distro, r: &ExtraRepo, inputs: &mut ContainerInputs, key_urls: &mut String) -> Result<String> {
    let data = match &r.key {
        Some(k) => Some(k.as_bytes().to_vec()),
        None => super::read_key_file(d, r)?,
    };
    Ok(match data {
        Some(data) => {
            inputs.files.push((format!("keys/{}.asc", r.name), data, 0o644));
            format!("file://{JOB_DIR}/keys/{}.asc", r.name)
        }
        None => {
            let u = r.key_url.clone().unwrap_or_default();
            key_urls.push_str(&format!("{} {u}\n", r.name));
            u
        }
    })
}

/// The index record of a cached .rpm; its SHA-256 is the cache key (checked when the file
/// entered or left the cache), not computed again.
fn record(cache: &Cache, sha256: &str, path: &Path) -> Result<RpmRecord> {
    super::cached_record(cache, "rpm", sha256, || {
        let (dir, name) = super::split_path(path)?;
        RpmRecord::read(dir, &name, Some(sha256))
    })
}

/// `[epoch:]version-release`, as the lock writes rpm versions.
fn evr(r: &RpmRecord) -> String {
    crate::index::rpm::evr_string(r.epoch, &r.version, &r.release)
}

/// `name-epoch:version-release.arch` of a locked package (epoch always given).
fn nevra(p: &LockedPackage) -> String {
    let (epoch, vr) = match p.version.split_once(':') {
        Some((e, vr)) => (e.parse().unwrap_or(0), vr),
        None => (0, p.version.as_str()),
    };
    let (version, release) = vr.rsplit_once('-').unwrap_or((vr, ""));
    crate::index::rpm::nevra(&p.name, epoch, version, release, &p.arch)
}

/// Place a job's files in `<tree>/<id>/<release>/os/<basearch>/Packages/` and write its
/// repodata (with the module metadata of its module streams). Returns the repo directory.
fn index_job(tree: &Path, r: &Ready, cache: &Cache) -> Result<PathBuf> {
    let d = &r.job.distro;
    let basearch = r.job.arch.rpm();
    // The tree is laid out by release (what the node's $releasever is, as emitted in .repo).
    let repo_dir = tree.join(&d.id).join(&d.release).join("os").join(basearch);
    if repo_dir.exists() {
        crate::fsutil::remove_tree(&repo_dir).with_context(|| format!("cannot clear {}", repo_dir.display()))?;
    }
    crate::fsutil::create_dirs(&repo_dir.join("Packages"))?;
    let date = r.date.timestamp().max(0) as u64;
    let arches = d.package_arches_for(r.job.arch);
    let label = format!("{}: indexing", r.job.label());
    let read =
        crate::index::par_read_counted(&label, &r.locked.packages, |p| record(cache, &p.sha256, &r.files[&p.sha256]))?;
    let mut records = Vec::with_capacity(read.len());
    for (p, mut rec) in r.locked.packages.iter().zip(read) {
        let cached = &r.files[&p.sha256];
        check_names(p, &rec).with_context(|| format!("{}: package {} from {}", r.job.label(), p.name, p.repo))?;
        let rel = format!("Packages/{}", p.file);
        cache.link(cached, &repo_dir.join(&rel))?;
        if !arches.contains(&rec.arch) {
            bail!("{}: {} is for {}, not {}", r.job.label(), p.file, rec.arch, arches.join(" or "));
        }
        // Deterministic <time file=...>: the build date, not the download time.
        rec.location_href = rel;
        rec.time_file = date;
        records.push(rec);
    }
    records.sort_by(|a, b| a.order(b));
    let mut extra = Vec::new();
    if let Some(yaml) = &r.locked.modules {
        extra.push(("modules".to_string(), "modules.yaml".to_string(), yaml.clone().into_bytes()));
    }
    let opts = RepodataOptions { compression: compression(d)?, changelog_limit: 10, revision: date };
    crate::index::rpm::write_repodata(&repo_dir, &records, &extra, &opts)?;
    Ok(repo_dir)
}

/// The fields of an upstream package that become paths: the file name, the header's name
/// and arch.
fn check_names(p: &LockedPackage, rec: &RpmRecord) -> Result<()> {
    use crate::names;
    names::file_name("file name", &p.file)
        .and_then(|()| names::rpm_field("header name", &rec.name))
        .and_then(|()| names::rpm_field("header arch", &rec.arch))
        .map_err(anyhow::Error::msg)
}

/// Upstream package keys into `keys/<distro>/` and `<distro>.repo` for every published
/// rpm distro.
fn emit(tree: &Path, jobs: &[Publishing<'_>], base_url: &str) -> Result<()> {
    for j in jobs {
        let d = &j.ready.job.distro;
        let keydir = tree.join("keys").join(&d.name);
        for (name, key) in &j.ready.locked.keys {
            write_atomic(&keydir.join(name), key.bytes())?;
        }
    }
    let mut seen = BTreeSet::new();
    for j in jobs {
        let d = &j.ready.job.distro;
        if !seen.insert(d.name.clone()) {
            continue;
        }
        let keydir = tree.join("keys").join(&d.name);
        let mut names: Vec<String> = Vec::new();
        for e in std::fs::read_dir(&keydir).into_iter().flatten().flatten() {
            names.push(format!("{}/{}", d.name, e.file_name().to_string_lossy()));
        }
        names.sort();
        let text = crate::emit::yum_repo(d, base_url, &names);
        write_atomic(&tree.join("repos").join(format!("{}.repo", d.name)), text.as_bytes())?;
        crate::emit::write_node_entry(tree, d, base_url)?;
    }
    Ok(())
}

/// Sign `repodata/repomd.xml` into `repomd.xml.asc`.
pub fn sign_repomd(key: &SigningKey, repo_dir: &Path, date: DateTime<Utc>) -> Result<()> {
    let p = repo_dir.join("repodata/repomd.xml");
    let data = std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
    let when = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(date.timestamp().max(0) as u64);
    write_atomic(&repo_dir.join("repodata/repomd.xml.asc"), key.sign_detached(&data, when)?.as_bytes())
}

/// The revision of a repomd.xml, as the signature time.
fn repomd_revision(repo: &Path) -> Result<DateTime<Utc>> {
    let text = std::fs::read_to_string(repo.join("repodata/repomd.xml"))?;
    let rev = text
        .split("<revision>")
        .nth(1)
        .and_then(|s| s.split("</revision>").next())
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    DateTime::from_timestamp(rev, 0).context("repomd revision out of range")
}

/// Store identical noarch RPMs of one distro release once: `os/<arch>/Packages/x.noarch.rpm`
/// files with the same content become hard links of one another. Returns the bytes saved.
fn dedup_noarch(root: &Path) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut groups: BTreeMap<(String, String), Vec<PathBuf>> = BTreeMap::new();
    for (rel, p) in crate::fsutil::files_under(root)? {
        let parts: Vec<&str> = rel.split('/').collect();
        // <id>/<release>/os/<basearch>/Packages/<file>
        if parts.len() == 6 && parts[2] == "os" && parts[4] == "Packages" && parts[5].ends_with(".noarch.rpm") {
            groups.entry((format!("{}/{}", parts[0], parts[1]), parts[5].to_string())).or_default().push(p);
        }
    }
    let mut saved = 0;
    for files in groups.values() {
        let first = &files[0];
        for other in &files[1..] {
            let (a, b) = (std::fs::metadata(first)?, std::fs::metadata(other)?);
            if a.ino() != b.ino() && crate::fsutil::same_content(first, other)? {
                let tmp = other.with_extension("rpm.osrepo-link");
                std::fs::hard_link(first, &tmp)?;
                std::fs::rename(&tmp, other)?;
                saved += a.len();
            }
        }
    }
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;

    fn job(name: &str) -> Job {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("distros");
        let distro = crate::config::distro::load_one(&dir, name).unwrap();
        Job { image: "x".into(), distro, arch: Arch::Amd64, specs: vec![], recommends: true }
    }

    fn uploaded(inputs: &ContainerInputs, name: &str) -> Option<String> {
        inputs.files.iter().find(|f| f.0 == name).map(|f| String::from_utf8_lossy(&f.1).into_owned())
    }

    #[test]
    fn remote_gpgkeys_of_own_repos_are_fetched_for_the_nodes() {
        // centos7's EPEL repo names its key by URL: yum would use it at build time only.
        let inputs = Rpm.container_inputs(&job("centos7"), &Overrides::default()).unwrap();
        let urls = uploaded(&inputs, "key-urls").expect("no key-urls uploaded");
        let epel: Vec<&str> = urls.lines().filter(|l| l.starts_with("epel ")).collect();
        assert_eq!(epel.len(), 1, "{urls}");
        assert!(epel[0].ends_with("RPM-GPG-KEY-EPEL-7"), "{urls}");
        // file:// keys inside the image are copied by the script, not fetched.
        assert!(!urls.contains("file://"), "{urls}");
    }

    #[test]
    fn package_arches_come_from_the_distro_file() {
        let mut j = job("rocky9");
        assert_eq!(j.distro.package_arches_for(Arch::Amd64), ["x86_64", "noarch"]);
        j.distro.package_arches.insert("amd64".into(), vec!["x86_64".into(), "x86_64_v2".into()]);
        assert_eq!(j.distro.package_arches_for(Arch::Amd64), ["x86_64", "x86_64_v2", "noarch"]);
        assert_eq!(j.distro.package_arches_for(Arch::Arm64), ["aarch64", "noarch"]);
        let cmd = Rpm.resolve_command(&j);
        assert_eq!(cmd.last().unwrap(), "x86_64,x86_64_v2,noarch");
    }

    #[test]
    fn openeuler_keeps_its_images_releasever_and_nodes_name_the_release() {
        let j = job("openeuler2203");
        let cmd = Rpm.resolve_command(&j);
        // sh resolve.sh BASEARCH RELEASEVER WEAK TOOL ARCHES: no --releasever forced.
        assert_eq!(cmd[3], "", "{cmd:?}");
        let repo = crate::emit::yum_repo(&j.distro, "http://h", &[]);
        assert!(repo.contains("baseurl=http://h/openeuler/22.03/os/$basearch/"), "{repo}");
        // openEuler does not take docker-ce (no such tree); containerd comes from its own repos.
        assert!(j.distro.extra_repos.is_empty());
        let rocky = job("rocky9");
        assert_eq!(Rpm.resolve_command(&rocky)[3], "9");
        assert!(crate::emit::yum_repo(&rocky.distro, "http://h", &[]).contains("/rocky/$releasever/os/"));
    }

    #[test]
    fn shipped_package_names_fit_each_family() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let packages = crate::config::PackageSet::load(&root.join("packages.yaml")).unwrap();
        for d in crate::config::distro::load_all(&root.join("distros")).unwrap() {
            let names: Vec<String> =
                packages.select(&d.groups, d.family).unwrap().specs.into_iter().map(|s| s.name).collect();
            let (wrong, right) =
                if d.family == crate::config::Family::Rpm { ("iproute2", "iproute") } else { ("iproute", "iproute2") };
            assert!(!names.iter().any(|n| n == wrong) && names.iter().any(|n| n == right), "{}: {names:?}", d.name);
        }
        let eul = job("openeuler2403");
        let names: Vec<String> =
            packages.select(&eul.distro.groups, eul.distro.family).unwrap().specs.into_iter().map(|s| s.name).collect();
        for n in ["conntrack-tools", "device-mapper", "containerd"] {
            assert!(names.iter().any(|x| x == n), "openEuler lacks {n}");
        }
        // EL8 and later take EPEL (the debug tools EL does not ship itself).
        for name in ["rocky8", "rocky9", "rocky10", "almalinux9", "oraclelinux9", "centos-stream10"] {
            assert!(job(name).distro.extra_repos.iter().any(|r| r.name == "epel"), "{name} has no EPEL");
        }
    }
}
