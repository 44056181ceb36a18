//! The Docker engine edge: connect, make sure images exist, run build containers, move files
//! in and out through the archive endpoint. Every container osrepo starts is registered and
//! removed again, on success, on error and on Ctrl-C.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    DownloadFromContainerOptionsBuilder, RemoveContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::arch::Arch;

/// When to pull a build image from its registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PullPolicy {
    Missing,
    Always,
    Never,
}

/// A connected engine plus the containers this process has alive.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    live: Arc<Mutex<BTreeSet<String>>>,
}

/// Why there is no engine to talk to.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot use Docker engine address {address} ({source})")]
    BadAddress { address: String, source: bollard::errors::Error },
    #[error("no Docker engine answers at {address} ({source}); {HOW_TO_START}")]
    Unreachable { address: String, source: bollard::errors::Error },
}

const HOW_TO_START: &str = "start one with `scripts/setup-engine.sh` (installs docker.io and runs dockerd), \
or point DOCKER_HOST at a running engine (unix:///path/docker.sock or tcp://host:port)";

impl Engine {
    /// Connect as DOCKER_HOST says (unix socket by default), negotiate the API version, ping.
    pub async fn connect() -> Result<Engine, EngineError> {
        let address = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let docker = match Docker::connect_with_defaults() {
            Ok(d) => d.with_timeout(Duration::from_secs(3600)),
            Err(source) => return Err(EngineError::BadAddress { address, source }),
        };
        let docker = match docker.negotiate_version().await {
            Ok(d) => d,
            Err(source) => return Err(EngineError::Unreachable { address, source }),
        };
        if let Err(source) = docker.ping().await {
            return Err(EngineError::Unreachable { address, source });
        }
        Ok(Engine { docker, live: Arc::default() })
    }

    /// The architecture of a local image, or None when the engine does not have it.
    pub(crate) async fn image_arch(&self, reference: &str) -> Result<Option<String>> {
        match self.docker.inspect_image(reference).await {
            Ok(i) => Ok(Some(i.architecture.unwrap_or_default())),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot inspect image {reference}")),
        }
    }

    /// Make sure `reference` exists locally for `arch`, pulling according to `policy`.
    pub(crate) async fn ensure_image(&self, reference: &str, arch: Arch, policy: PullPolicy) -> Result<()> {
        let have = self.image_arch(reference).await?;
        let wrong_arch = matches!(&have, Some(a) if a != arch.oci());
        let pull = match policy {
            PullPolicy::Always => true,
            PullPolicy::Missing => have.is_none() || wrong_arch,
            PullPolicy::Never => false,
        };
        if !pull {
            if have.is_none() {
                bail!(
                    "image {reference} is not on the engine and --pull never was given; \
                     build it with `osrepo image bootstrap` or load it"
                );
            }
            if wrong_arch {
                bail!("image {reference} on the engine is {} but {arch} is needed", have.unwrap_or_default());
            }
            return Ok(());
        }
        tracing::info!("pulling {reference} for {}", arch.platform());
        let opts = CreateImageOptionsBuilder::default().from_image(reference).platform(&arch.platform()).build();
        let mut s = self.docker.create_image(Some(opts), None, None);
        while let Some(item) = s.next().await {
            if let Err(e) = item {
                bail!(
                    "cannot pull image {reference} for {} ({e}); where no registry is reachable, \
                     build it with `osrepo image bootstrap <distro> --arch {arch}`",
                    arch.platform()
                );
            }
        }
        Ok(())
    }

    /// Build an image tagged `tag` for `arch` from a root filesystem tarball
    /// (`FROM scratch` + `ADD rootfs.tar /`; the build endpoint honours the platform).
    pub(crate) async fn build_from_rootfs(&self, tag: &str, arch: Arch, rootfs_tar: &Path) -> Result<()> {
        let mut ctx = tar::Builder::new(Vec::new());
        let dockerfile = b"FROM scratch\nADD rootfs.tar /\nCMD [\"bash\"]\n";
        let mut h = tar::Header::new_gnu();
        h.set_size(dockerfile.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        ctx.append_data(&mut h, "Dockerfile", &dockerfile[..])?;
        ctx.append_path_with_name(rootfs_tar, "rootfs.tar")
            .with_context(|| format!("cannot read {}", rootfs_tar.display()))?;
        let body = ctx.into_inner()?;
        let opts = BuildImageOptionsBuilder::default()
            .dockerfile("Dockerfile")
            .t(tag)
            .platform(&arch.platform())
            .rm(true)
            .forcerm(true)
            .build();
        let mut s = self.docker.build_image(opts, None, Some(bollard::body_full(body.into())));
        while let Some(item) = s.next().await {
            let info = item.with_context(|| format!("building image {tag}"))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                bail!("building image {tag}: {err}");
            }
        }
        Ok(())
    }

    /// Create and start a container that idles until removed.
    pub async fn start(&self, spec: &ContainerSpec) -> Result<Container> {
        let opts = CreateContainerOptionsBuilder::default().platform(&spec.arch.platform()).build();
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            entrypoint: Some(vec!["sleep".into()]),
            cmd: Some(vec!["infinity".into()]),
            labels: Some(owner_labels(&spec.label)),
            env: Some(vec!["DEBIAN_FRONTEND=noninteractive".into(), "LC_ALL=C".into()]),
            host_config: Some(HostConfig {
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                network_mode: spec.network.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .with_context(|| format!("cannot create a container from {} ({})", spec.image, spec.label))?;
        let c = Container { engine: self.clone(), id: created.id, label: spec.label.clone() };
        self.live.lock().unwrap().insert(c.id.clone());
        if let Err(e) = self.docker.start_container(&c.id, None).await {
            c.remove().await;
            bail!("cannot start a container from {} ({}): {e}", spec.image, spec.label);
        }
        Ok(c)
    }

    /// Remove the osrepo containers of this host whose owning process is gone (killed with
    /// -9, or before owner labels existed: those are left alone). Returns how many.
    pub async fn reap_stale(&self) -> usize {
        let filters = std::collections::HashMap::from([("label".to_string(), vec![OWNER_PID.to_string()])]);
        let opts =
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let Ok(list) = self.docker.list_containers(Some(opts)).await else { return 0 };
        let host = hostname();
        let mut n = 0;
        for c in list {
            let labels = c.labels.unwrap_or_default();
            let pid = labels.get(OWNER_PID).and_then(|p| p.parse::<u32>().ok());
            let stale = labels.get(OWNER_HOST) == Some(&host) && pid.is_some_and(|p| !crate::publish::reap::alive(p));
            if let (true, Some(id)) = (stale, c.id) {
                let opts = RemoveContainerOptionsBuilder::default().force(true).build();
                if self.docker.remove_container(&id, Some(opts)).await.is_ok() {
                    tracing::info!(
                        "removed build container {id} of osrepo process {}, which is gone",
                        pid.unwrap_or(0)
                    );
                    n += 1;
                }
            }
        }
        n
    }

    /// Remove every container this process still has (Ctrl-C path): those it knows, and
    /// those that carry its pid and host (a create that was in flight when the signal came
    /// is not known yet; it is looked for twice, a moment apart).
    pub async fn remove_all(&self) {
        let ids: Vec<String> = self.live.lock().unwrap().iter().cloned().collect();
        for id in ids {
            self.force_remove(&id).await;
            self.live.lock().unwrap().remove(&id);
        }
        for _ in 0..2 {
            for id in self.owned().await {
                self.force_remove(&id).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// The containers labelled with this process as owner.
    async fn owned(&self) -> Vec<String> {
        let mine = format!("{OWNER_PID}={}", std::process::id());
        let filters = std::collections::HashMap::from([("label".to_string(), vec![mine])]);
        let opts =
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(opts)).await.unwrap_or_default();
        let host = hostname();
        list.into_iter()
            .filter(|c| c.labels.as_ref().and_then(|l| l.get(OWNER_HOST)) == Some(&host))
            .filter_map(|c| c.id)
            .collect()
    }

    async fn force_remove(&self, id: &str) {
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = self.docker.remove_container(id, Some(opts)).await;
    }
}

/// Labels of a build container: `osrepo` (its job), and the owning process and host so a
/// later build can remove it when the owner was killed.
const OWNER_PID: &str = "osrepo.pid";
const OWNER_HOST: &str = "osrepo.host";

fn owner_labels(label: &str) -> std::collections::HashMap<String, String> {
    [
        ("osrepo".to_string(), label.to_string()),
        (OWNER_PID.to_string(), std::process::id().to_string()),
        (OWNER_HOST.to_string(), hostname()),
    ]
    .into()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// What a build container needs.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub image: String,
    pub arch: Arch,
    /// `host:container:ro` bind mounts.
    pub binds: Vec<String>,
    /// Network mode (`none` for verification); None is the engine default.
    pub network: Option<String>,
    /// A readable name for logs and the `osrepo` label, e.g. `debian12/amd64`.
    pub label: String,
}

/// A file to upload into a container: path relative to the target dir, content, mode.
pub type UploadFile = (String, Vec<u8>, u32);

/// A running container. Call `remove` when done (the engine also removes it on Ctrl-C).
pub struct Container {
    engine: Engine,
    pub id: String,
    pub label: String,
}

/// The outcome of one command run in a container.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub code: i64,
    pub output: String,
}

impl Container {
    /// Run a command; its output is streamed to the log line by line and also returned.
    pub(crate) async fn exec(&self, cmd: &[&str]) -> Result<ExecOutput> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let docker = &self.engine.docker;
        let exec = docker
            .create_exec(
                &self.id,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("{}: cannot run {:?}", self.label, cmd))?;
        let mut all = String::new();
        if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await? {
            let mut pending = String::new();
            while let Some(chunk) = output.next().await {
                let chunk = chunk.with_context(|| format!("{}: reading output of {:?}", self.label, cmd))?;
                let text = String::from_utf8_lossy(&chunk.into_bytes()).into_owned();
                all.push_str(&text);
                pending.push_str(&text);
                while let Some(i) = pending.find('\n') {
                    let line: String = pending.drain(..=i).collect();
                    tracing::info!(target: "osrepo::container", "[{}] {}", self.label, line.trim_end());
                }
            }
            if !pending.trim().is_empty() {
                tracing::info!(target: "osrepo::container", "[{}] {}", self.label, pending.trim_end());
            }
        }
        let code = docker.inspect_exec(&exec.id).await?.exit_code.unwrap_or(-1);
        Ok(ExecOutput { code, output: all })
    }

    /// Put files into the container: `files` are (path relative to `dir`, bytes, mode).
    /// `dir` (absolute) and its parents are created by the same upload, as directory entries
    /// of the archive (no command runs in the container for it).
    pub(crate) async fn upload(&self, dir: &str, files: &[UploadFile]) -> Result<()> {
        let body = upload_archive(dir, files).with_context(|| format!("{}: files for {dir}", self.label))?;
        let opts = UploadToContainerOptionsBuilder::default().path("/").build();
        self.engine
            .docker
            .upload_to_container(&self.id, Some(opts), bollard::body_full(body.into()))
            .await
            .with_context(|| format!("{}: cannot upload files to {dir}", self.label))
    }

    /// Copy a directory's regular files out of the container into `dest` (flat: the
    /// archive's top directory is stripped). Absolute paths, `..` and links are refused.
    /// Returns the file names written, sorted.
    pub(crate) async fn copy_out(&self, path: &str, dest: &Path) -> Result<Vec<String>> {
        std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
        let opts = DownloadFromContainerOptionsBuilder::default().path(path).build();
        let mut s = self.engine.docker.download_from_container(&self.id, Some(opts));
        let mut spool = tempfile::tempfile_in(dest).context("cannot create a spool file")?;
        while let Some(chunk) = s.next().await {
            let chunk = chunk.with_context(|| format!("{}: cannot copy {path} out", self.label))?;
            spool.write_all(&chunk)?;
        }
        use std::io::Seek;
        spool.rewind()?;
        extract_flat(spool, dest).with_context(|| format!("{}: archive of {path}", self.label))
    }

    /// Remove the container (errors are logged, not returned: this runs on error paths).
    pub(crate) async fn remove(self) {
        let opts = RemoveContainerOptionsBuilder::default().force(true).build();
        if let Err(e) = self.engine.docker.remove_container(&self.id, Some(opts)).await {
            tracing::warn!("cannot remove container {} ({}): {e}", self.id, self.label);
        }
        self.engine.live.lock().unwrap().remove(&self.id);
    }
}

/// The tar archive [`Container::upload`] sends to `/`: a directory entry for `dir` and each
/// of its parents, then the files below `dir`.
fn upload_archive(dir: &str, files: &[UploadFile]) -> Result<Vec<u8>> {
    let rel = dir
        .strip_prefix('/')
        .filter(|r| !r.is_empty())
        .with_context(|| format!("{dir:?} is not an absolute directory"))?;
    let mut b = tar::Builder::new(Vec::new());
    let mut prefix = String::new();
    for part in rel.trim_end_matches('/').split('/') {
        prefix.push_str(part);
        prefix.push('/');
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o755);
        h.set_cksum();
        b.append_data(&mut h, &prefix, std::io::empty())?;
    }
    for (name, data, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_cksum();
        b.append_data(&mut h, format!("{prefix}{name}"), data.as_slice())?;
    }
    Ok(b.into_inner()?)
}

/// Extract the regular files of a tar stream whose entries live under one top directory
/// into `dest`, refusing anything that could escape it.
pub(crate) fn extract_flat(r: impl Read, dest: &Path) -> Result<Vec<String>> {
    let mut ar = tar::Archive::new(r);
    let mut names = Vec::new();
    for entry in ar.entries()? {
        let mut entry = entry?;
        let path: PathBuf = entry.path()?.into_owned();
        let mut comps = Vec::new();
        for c in path.components() {
            match c {
                Component::Normal(n) => comps.push(n.to_owned()),
                Component::CurDir => {}
                _ => bail!("refusing archive entry {}: absolute or parent path", path.display()),
            }
        }
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            bail!("refusing archive entry {}: links are not accepted", path.display());
        }
        if !kind.is_file() {
            bail!("refusing archive entry {}: not a regular file", path.display());
        }
        // Strip the top directory (the archive endpoint names it after the copied dir).
        if comps.len() != 2 {
            continue;
        }
        let name = comps[1].to_string_lossy().into_owned();
        let out = dest.join(&name);
        let mut f = std::fs::File::create(&out).with_context(|| format!("cannot write {}", out.display()))?;
        std::io::copy(&mut entry, &mut f)?;
        names.push(name);
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_archive_creates_its_directory_and_parents_before_the_files() {
        let files =
            vec![("specs".to_string(), b"jq\n".to_vec(), 0o644), ("keys/a.asc".to_string(), b"k".to_vec(), 0o600)];
        let body = upload_archive("/osrepo/job", &files).unwrap();
        let mut ar = tar::Archive::new(body.as_slice());
        let entries: Vec<(String, bool, u32)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (e.path().unwrap().display().to_string(), h.entry_type().is_dir(), h.mode().unwrap())
            })
            .collect();
        let want = [
            ("osrepo/", true, 0o755),
            ("osrepo/job/", true, 0o755),
            ("osrepo/job/specs", false, 0o644),
            ("osrepo/job/keys/a.asc", false, 0o600),
        ];
        assert_eq!(entries, want.map(|(p, d, m)| (p.to_string(), d, m)));
        assert!(upload_archive("osrepo/job", &files).is_err() && upload_archive("/", &files).is_err());
    }
}
