use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use osrepo::arch::Arch;
use osrepo::config::{distro, PackageSet};
use osrepo::engine::{Engine, PullPolicy};
use osrepo::index::deb::DebHashes;
use osrepo::pipeline::{self as build, decide::LockMode, BuildContext};
use osrepo::plan::{self, PlanOptions};
use osrepo::publish::lockfile;
use osrepo::sign::SigningKey;

#[derive(Parser)]
#[command(
    name = "osrepo",
    version,
    about = "Build signed offline OS package repositories (apt, yum) from packages.yaml"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    /// Warnings and errors only; no progress.
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// More detail (debug logs; twice: trace).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Args, Clone)]
struct ConfigArgs {
    /// The package list.
    #[arg(long, default_value = "packages.yaml")]
    packages: PathBuf,
    /// The directory of distro files.
    #[arg(long, default_value = "distros")]
    distros: PathBuf,
}

#[derive(Subcommand)]
enum Cmd {
    /// Resolve, fetch, index and sign the repositories of the named distros into --out.
    Build(BuildArgs),
    /// Resolve and fetch like build, write the lock (osrepo.lock), publish nothing.
    Lock(BuildArgs),
    /// What changed between two locks or two output trees, per distro and arch.
    Diff {
        a: PathBuf,
        b: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// The download cache.
    #[command(subcommand)]
    Cache(CacheCmd),
    /// Show the distros, or the groups and package specs one distro selects.
    List {
        distro: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Signing keys.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Combine trees built separately into OUT, regenerating and re-signing merged indexes.
    Merge {
        out: PathBuf,
        #[arg(required = true)]
        parts: Vec<PathBuf>,
        #[command(flatten)]
        key: KeyArgs,
        /// Fail at once when another osrepo holds OUT (default: wait).
        #[arg(long)]
        no_wait: bool,
    },
    /// Archives of a tree: NAME-<arch>.tar.gz per arch, NAME-all.tar.gz, sha256sum.txt.
    Pack {
        out: PathBuf,
        #[arg(long)]
        name: String,
        /// Where the archives go.
        #[arg(long, default_value = ".")]
        dest: PathBuf,
        /// Also write an OCI image layout here: the whole tree as one `FROM scratch` layer.
        #[arg(long)]
        oci: Option<PathBuf>,
        /// Also write NAME-<distro>-<arch>.iso per distro and arch (ISO 9660, Rock Ridge; xorriso).
        #[arg(long)]
        iso: bool,
        /// Fail at once when another osrepo holds OUT (default: wait).
        #[arg(long)]
        no_wait: bool,
    },
    /// Index an existing tree (like apt-ftparchive, but signed and complete).
    #[command(subcommand)]
    Index(IndexCmd),
    /// Base images.
    #[command(subcommand)]
    Image(ImageCmd),
    /// Prove a tree works offline: static checks, then installs on clean no-network nodes.
    Verify(VerifyArgs),
    /// Why a package is in a closure: every path from a requested package to it.
    Why {
        package: String,
        #[command(flatten)]
        tree: TreeArgs,
        /// Only this distro (default: every distro of the lock).
        #[arg(long)]
        distro: Option<String>,
        /// Only this arch.
        #[arg(long)]
        arch: Option<Arch>,
        /// Machine-readable output (the paths).
        #[arg(long)]
        json: bool,
    },
    /// Write the SBOMs (sbom/<distro>-<arch>.spdx.json, .cdx.json, signed) of an existing tree.
    Sbom {
        out: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
        /// The lockfile (default: osrepo.lock next to the package list).
        #[arg(long)]
        lock: Option<PathBuf>,
        /// The download cache (records of indexed packages are kept there).
        #[arg(long)]
        cache: Option<PathBuf>,
        #[command(flatten)]
        key: KeyArgs,
        /// Fail at once when another osrepo holds OUT (default: wait).
        #[arg(long)]
        no_wait: bool,
    },
    /// Serve a tree over HTTP(S) for nodes: GET/HEAD, ranges, ETags, nothing outside OUT.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// The tree to serve.
    out: PathBuf,
    /// Address and port to listen on (port 0: any free port, printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// PEM certificate chain: serve HTTPS (with --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// List directories (default: a directory is 404).
    #[arg(long)]
    index: bool,
}

/// A published tree with the configuration and lock it was built from.
#[derive(Args)]
struct TreeArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The tree.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// The lockfile (default: osrepo.lock next to the package list).
    #[arg(long)]
    lock: Option<PathBuf>,
    /// The download cache (records of indexed packages are kept there).
    #[arg(long)]
    cache: Option<PathBuf>,
}

#[derive(Args)]
struct VerifyArgs {
    /// Distros to verify (default: every distro with node config in OUT/repos/).
    distro: Vec<String>,
    #[command(flatten)]
    config: ConfigArgs,
    /// The tree to verify.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    /// Arches to verify (default: those found in the tree).
    #[arg(long, value_delimiter = ',')]
    arch: Option<Vec<Arch>>,
    /// Only the static checks (no engine needed).
    #[arg(long = "static")]
    static_only: bool,
    /// Node image for a distro: DISTRO=REF (repeatable; default: the distro's own image).
    #[arg(long = "node-image", value_name = "DISTRO=REF")]
    node_images: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write a JUnit XML report here.
    #[arg(long)]
    junit: Option<PathBuf>,
}

#[derive(Args)]
struct BuildArgs {
    /// Distros to build (names of files in --distros).
    #[arg(required = true)]
    distro: Vec<String>,
    #[command(flatten)]
    config: ConfigArgs,
    /// Output tree.
    #[arg(long, default_value = "out")]
    out: PathBuf,
    #[command(flatten)]
    key: KeyArgs,
    /// Arches to build (default: those the distro file lists).
    #[arg(long, value_delimiter = ',')]
    arch: Option<Vec<Arch>>,
    /// When to pull build images.
    #[arg(long, value_enum, default_value = "missing")]
    pull: PullPolicy,
    /// Use another build image for a distro: DISTRO=REF (repeatable).
    #[arg(long = "image", value_name = "DISTRO=REF")]
    images: Vec<String>,
    /// Do not follow Recommends (overrides the distro files).
    #[arg(long, conflicts_with = "recommends")]
    no_recommends: bool,
    /// Follow Recommends (overrides the distro files).
    #[arg(long)]
    recommends: bool,
    /// Replace the archive base URL of the distros' own sources.
    #[arg(long)]
    mirror: Option<String>,
    /// Replace the security archive base URL.
    #[arg(long)]
    security_mirror: Option<String>,
    /// Build exactly what the lock says; changed inputs are an error.
    #[arg(long, conflicts_with = "update_lock")]
    locked: bool,
    /// Resolve again even where the lock matches the inputs.
    #[arg(long)]
    update_lock: bool,
    /// The lockfile (default: osrepo.lock next to the package list).
    #[arg(long)]
    lock: Option<PathBuf>,
    /// The download cache (default: $OSREPO_CACHE, $XDG_CACHE_HOME/osrepo or ~/.cache/osrepo).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Jobs (distro × arch) resolved at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Base URL nodes reach the repository at (written into out/repos/).
    #[arg(long, default_value = osrepo::emit::DEFAULT_BASE_URL, value_parser = base_url_arg)]
    base_url: String,
    /// Verify the staged tree (static and install checks) before publishing it.
    #[arg(long)]
    verify: bool,
    /// Node image for `--verify`: DISTRO=REF (repeatable).
    #[arg(long = "node-image", value_name = "DISTRO=REF", requires = "verify")]
    node_images: Vec<String>,
    /// Fail at once when another osrepo holds --out or the lockfile (default: wait).
    #[arg(long)]
    no_wait: bool,
    /// Downloads at once (HTTP connections, over all jobs).
    #[arg(long, default_value_t = osrepo::download::DEFAULT_CONNECTIONS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    connections: usize,
    /// Checksums in apt Packages and Release: sha256 and any of md5, sha1, sha512 (old clients).
    #[arg(long, default_value_t)]
    hashes: DebHashes,
}

/// `--base-url`: it is written into every node file, so one line, an http(s) or file URL.
fn base_url_arg(v: &str) -> Result<String, String> {
    osrepo::names::base_url("base URL", v).map(|()| v.to_string())
}

#[derive(Args)]
struct KeyArgs {
    /// Armored secret signing key (or OSREPO_SIGNING_KEY with the armored text).
    #[arg(long)]
    key: Option<PathBuf>,
}

impl KeyArgs {
    fn load(&self) -> Result<SigningKey> {
        if let Some(p) = &self.key {
            return SigningKey::load(p);
        }
        match std::env::var("OSREPO_SIGNING_KEY") {
            Ok(text) if !text.trim().is_empty() => {
                SigningKey::from_armored(&text).context("OSREPO_SIGNING_KEY does not hold an armored secret key")
            }
            _ => bail!(
                "no signing key: pass --key FILE or set OSREPO_SIGNING_KEY (create one with `osrepo key generate --out keys/`)"
            ),
        }
    }
}

#[derive(Subcommand)]
enum CacheCmd {
    /// Remove cached files that none of the given locks reference.
    Gc {
        #[arg(long)]
        cache: Option<PathBuf>,
        /// Locks whose files stay (repeatable; default ./osrepo.lock). Each must exist.
        #[arg(long, default_value = "osrepo.lock")]
        lock: Vec<PathBuf>,
        /// Remove every cached file (no lock is read).
        #[arg(long, conflicts_with = "lock")]
        all: bool,
        /// Say what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Hash every cached file (builds hash an entry again only when its inode changed);
    /// corrupted entries are removed and the command fails naming them.
    Verify {
        #[arg(long)]
        cache: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create an RSA-4096 signing key: DIR/osrepo.key (secret, 0600), osrepo.asc, osrepo.gpg.
    Generate {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "osrepo repository signing key <osrepo@localhost>")]
        uid: String,
    },
}

#[derive(Subcommand)]
enum IndexCmd {
    /// Write DIR/repodata for the .rpm files under DIR (like createrepo_c, signed when --key is given).
    Rpm {
        dir: PathBuf,
        /// Sign repomd.xml (repodata/repomd.xml.asc).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Metadata compression: gz (EL7's yum needs it) or zstd.
        #[arg(long, default_value = "gz")]
        compress: String,
        /// Changelog entries kept per package.
        #[arg(long, default_value_t = 10)]
        changelog_limit: usize,
    },
    /// Write dists/CODENAME for the .deb files under ROOT/pool.
    Deb {
        root: PathBuf,
        #[arg(long)]
        codename: String,
        #[arg(long, default_value = "main")]
        component: String,
        /// Suite name (default: the codename).
        #[arg(long)]
        suite: Option<String>,
        /// Arches to index (default: those found in the pool).
        #[arg(long, value_delimiter = ',')]
        arch: Vec<String>,
        /// Sign with this key (InRelease, Release.gpg).
        #[arg(long)]
        key: Option<PathBuf>,
        /// Checksums in Packages and Release: sha256 and any of md5, sha1, sha512 (old clients).
        #[arg(long, default_value_t)]
        hashes: DebHashes,
    },
}

#[derive(Subcommand)]
enum ImageCmd {
    /// Build a distro's base image from its archive with debootstrap and load it into the engine.
    Bootstrap {
        distro: String,
        #[arg(long, default_value = "amd64")]
        arch: Arch,
        /// Archive mirror (default: from the host's apt sources).
        #[arg(long)]
        mirror: Option<String>,
        /// Security archive mirror (default: from the host's apt sources).
        #[arg(long)]
        security_mirror: Option<String>,
        /// Tag (default: the distro's image reference).
        #[arg(long)]
        tag: Option<String>,
        #[arg(long, default_value = "distros")]
        distros: PathBuf,
    },
}

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`osrepo list | head`), as command-line tools do.
    // SAFETY: setting a signal disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs on stderr: `OSREPO_LOG` (a tracing filter) beats `-q`/`-v`; colours only on a terminal.
/// `-v` raises osrepo's own level only. The OpenPGP crate never logs below warn, whatever the
/// filter says: its debug output dumps key packets (the secret key included).
fn init_logging(quiet: bool, verbose: u8) {
    use std::io::IsTerminal;
    osrepo::progress::init(quiet);
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "info,osrepo=debug",
        (false, _) => "info,osrepo=trace",
    };
    let filter = std::env::var("OSREPO_LOG").unwrap_or_else(|_| level.to_string());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{filter},pgp=warn"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},pgp=warn")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(osrepo::progress::LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .without_time()
        .init();
}

async fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Build(a) => cmd_build(a, false).await,
        Cmd::Lock(a) => cmd_build(a, true).await,
        Cmd::Diff { a, b, json } => cmd_diff(&a, &b, json),
        Cmd::Cache(CacheCmd::Gc { cache, lock, all, dry_run }) => cmd_cache_gc(cache, &lock, all, dry_run),
        Cmd::Cache(CacheCmd::Verify { cache }) => cmd_cache_verify(cache),
        Cmd::Merge { out, parts, key, no_wait } => {
            let _held = lockfile::lock(&out, "output", !no_wait)?;
            osrepo::publish::merge::merge(&out, &parts, &key.load()?)?;
            eprintln!("merged {} part(s) into {}", parts.len(), out.display());
            Ok(())
        }
        Cmd::Pack { out, name, dest, oci, iso, no_wait } => {
            let _held = lockfile::lock(&out, "output", !no_wait)?;
            let mtime = build::build_date()?.timestamp().max(0) as u64;
            let mut names = osrepo::publish::pack::pack(&out, &name, &dest, mtime)?;
            if iso {
                names.extend(osrepo::publish::iso::pack_iso(&out, &name, &dest, mtime)?);
                osrepo::publish::pack::write_sums(&dest, &names)?;
            }
            for n in names {
                println!("{}", dest.join(n).display());
            }
            if let Some(dir) = oci {
                let layer = dest.join(format!("{name}-all.tar.gz"));
                osrepo::publish::pack::write_oci(&dir, &layer, &name, Arch::host().oci())?;
                println!("{}", dir.display());
            }
            Ok(())
        }
        Cmd::List { distro, config } => cmd_list(distro.as_deref(), &config),
        Cmd::Key(KeyCmd::Generate { out, uid }) => {
            let key = SigningKey::generate(&uid, std::time::SystemTime::now())?;
            osrepo::sign::write_key_files(&out, &key)?;
            println!("{} {}", key.fingerprint(), out.join("osrepo.key").display());
            Ok(())
        }
        Cmd::Index(IndexCmd::Rpm { dir, key, compress, changelog_limit }) => {
            cmd_index_rpm(&dir, key.as_deref(), &compress, changelog_limit)
        }
        Cmd::Index(IndexCmd::Deb { root, codename, component, suite, arch, key, hashes }) => {
            let dist = DebDist { codename, component, suite, arches: arch, hashes };
            cmd_index_deb(&root, &dist, key.as_deref())
        }
        Cmd::Verify(a) => cmd_verify(a).await,
        Cmd::Why { package, tree, distro, arch, json } => cmd_why(&package, &tree, distro.as_deref(), arch, json),
        Cmd::Sbom { out, config, lock, cache, key, no_wait } => {
            let tree = TreeArgs { config, out, lock, cache };
            let _held = lockfile::lock(&tree.out, "output", !no_wait)?;
            let (jobs, cache) = locked_jobs(&tree, None, None)?;
            let fixed = std::env::var_os("SOURCE_DATE_EPOCH").is_some().then(build::build_date).transpose()?;
            let written = osrepo::sbom::regenerate(&tree.out, &jobs, &cache, &key.load()?, fixed)?;
            if written.is_empty() {
                bail!("{} holds none of the lock's jobs", tree.out.display());
            }
            eprintln!("wrote the SBOMs of {}", written.join(", "));
            Ok(())
        }
        Cmd::Serve(a) => {
            let tls = a.tls_cert.zip(a.tls_key).map(|(cert, key)| osrepo::serve::Tls { cert, key });
            let opts = osrepo::serve::ServeOptions { root: a.out, listen: a.listen, tls, index: a.index };
            osrepo::serve::run(opts, stop_signal()).await
        }
        Cmd::Image(ImageCmd::Bootstrap { distro, arch, mirror, security_mirror, tag, distros }) => {
            let d = distro::load_one(&distros, &distro)?;
            if !d.arches.contains(&arch) {
                bail!("distro {} does not list arch {arch}", d.name);
            }
            let engine = Engine::connect().await?;
            let opts = osrepo::image::BootstrapOptions { arch, mirror, security_mirror, tag };
            let tag = osrepo::image::bootstrap(&engine, &d, &opts).await?;
            println!("{tag}");
            Ok(())
        }
    }
}

async fn cmd_build(a: BuildArgs, lock_only: bool) -> Result<()> {
    let packages = PackageSet::load(&a.config.packages)?;
    let distros = distro::load_many(&a.config.distros, &a.distro)?;
    let jobs = plan::plan(&packages, &distros, &plan_options(&a)?)?;
    // One writer per output tree and per lockfile, for the whole read-modify-write.
    let _held_lock = lockfile::lock(&lock_path_of(&a), "lockfile", !a.no_wait)?;
    let _held_out = if lock_only { None } else { Some(lockfile::lock(&a.out, "output", !a.no_wait)?) };
    osrepo::publish::reap::stale_dirs(&a.out)?;
    let ctx = build_context(&a, lock_only).await?;
    if let Ok(engine) = &ctx.engine {
        engine.reap_stale().await;
    }
    let started = std::time::Instant::now();
    let result = tokio::select! {
        r = build::build(&ctx, jobs) => r,
        sig = stop_signal() => {
            eprintln!("{sig}: removing the build containers");
            if let Ok(engine) = &ctx.engine {
                engine.remove_all().await;
            }
            bail!("interrupted; {} is unchanged", a.out.display());
        }
    };
    let outcome = result?;
    print!("{}", build::summary_table(&outcome.reports));
    finish(&outcome, &a.out, lock_only, started.elapsed().as_secs_f64())
}

/// Ctrl-C, SIGTERM or SIGHUP, whichever comes first: its name.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut hup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
        let _ = tokio::signal::ctrl_c().await;
        return "interrupted";
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "SIGTERM",
        _ = hup.recv() => "SIGHUP",
    }
}

fn plan_options(a: &BuildArgs) -> Result<PlanOptions> {
    let images = pairs("--image", &a.images)?;
    let recommends = if a.no_recommends {
        Some(false)
    } else if a.recommends {
        Some(true)
    } else {
        None
    };
    Ok(PlanOptions { arches: a.arch.clone(), images, recommends })
}

/// The lockfile: --lock, or osrepo.lock next to the package list.
fn lock_path_of(a: &BuildArgs) -> PathBuf {
    a.lock.clone().unwrap_or_else(|| a.config.packages.parent().unwrap_or(Path::new(".")).join("osrepo.lock"))
}

async fn build_context(a: &BuildArgs, lock_only: bool) -> Result<BuildContext> {
    let cache_dir = a.cache.clone().unwrap_or_else(osrepo::cache::Cache::default_dir);
    let lock_path = lock_path_of(a);
    Ok(BuildContext {
        key: a.key.load()?,
        // Without an engine, only the jobs that need a container fail.
        engine: Engine::connect().await,
        out: a.out.clone(),
        pull: a.pull,
        base_url: a.base_url.clone(),
        overrides: osrepo::family::Overrides { mirror: a.mirror.clone(), security_mirror: a.security_mirror.clone() },
        date: build::build_date()?,
        date_fixed: std::env::var_os("SOURCE_DATE_EPOCH").is_some(),
        cache: osrepo::cache::Cache::open(&cache_dir)?,
        lock_path,
        lock_mode: LockMode { locked: a.locked, update: a.update_lock },
        lock_only,
        downloader: osrepo::download::Downloader::new(a.connections)?,
        jobs: a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)),
        verify: a
            .verify
            .then(|| pairs("--node-image", &a.node_images).map(|node_images| osrepo::verify::Gate { node_images }))
            .transpose()?,
        deb_hashes: a.hashes,
    })
}

/// The last line of a build and its exit status.
fn finish(outcome: &build::BuildOutcome, out: &Path, lock_only: bool, secs: f64) -> Result<()> {
    if outcome.unchanged {
        println!("{} is up to date ({secs:.2} s)", out.display());
        return Ok(());
    }
    if lock_only {
        if !outcome.failures.is_empty() {
            bail!("{}", outcome.failures.join("\n"));
        }
        println!("locked in {secs:.1} s");
        return Ok(());
    }
    match (outcome.published, outcome.failures.is_empty()) {
        (true, true) => {
            println!("published {} in {secs:.1} s", out.display());
            Ok(())
        }
        (true, false) => bail!(
            "{}\n{} job(s) failed; the other distros were published to {}",
            outcome.failures.join("\n"),
            outcome.failures.len(),
            out.display()
        ),
        (false, _) => bail!("{}\nnothing was published; {} is unchanged", outcome.failures.join("\n"), out.display()),
    }
}

fn cmd_list(name: Option<&str>, config: &ConfigArgs) -> Result<()> {
    match name {
        None => {
            for d in distro::load_all(&config.distros)? {
                println!(
                    "{:<16} {:<4} {:<8} {:<10} {:<24} {}",
                    d.name,
                    d.family.to_string(),
                    d.id,
                    d.codename(),
                    match &d.image {
                        distro::ImageRef::One(s) => s.clone(),
                        distro::ImageRef::PerArch(m) => m.values().cloned().collect::<Vec<_>>().join(","),
                    },
                    d.arches.iter().map(|a| a.deb()).collect::<Vec<_>>().join(",")
                );
            }
        }
        Some(n) => {
            let d = distro::load_one(&config.distros, n)?;
            let packages = PackageSet::load(&config.packages)?;
            let sel = packages.select(&d.groups, d.family)?;
            for g in &d.groups {
                let state = if sel.found.contains(g) { "found" } else { "not defined (empty)" };
                println!("group {g}: {state}");
            }
            for s in &sel.specs {
                println!("{}\t{}", s.raw, s.group);
            }
        }
    }
    Ok(())
}

/// What `osrepo index deb` writes.
struct DebDist {
    codename: String,
    component: String,
    suite: Option<String>,
    arches: Vec<String>,
    hashes: DebHashes,
}

fn cmd_index_deb(root: &Path, d: &DebDist, key: Option<&Path>) -> Result<()> {
    use osrepo::index::deb;
    let key = key.map(SigningKey::load).transpose()?;
    let records = deb::scan_pool(root, d.hashes)?;
    if records.is_empty() {
        bail!("{}: no .deb files under pool/", root.display());
    }
    let by_arch = deb::split_by_arch(&records, &d.arches)?;
    let meta = deb::ReleaseMeta {
        origin: "osrepo".into(),
        label: "osrepo".into(),
        suite: d.suite.clone().unwrap_or_else(|| d.codename.clone()),
        codename: d.codename.clone(),
        date: build::build_date()?,
        architectures: by_arch.keys().cloned().collect(),
        components: vec![d.component.clone()],
        description: format!("osrepo index of {}", root.display()),
        hashes: d.hashes,
    };
    deb::write_dist(root, &meta, &d.component, &by_arch)?;
    let dist = root.join("dists").join(&d.codename);
    if let Some(k) = key {
        osrepo::family::deb::sign_dist(&k, &dist, meta.date)?;
    }
    eprintln!("indexed {} packages into {}", deb::indexed_count(&by_arch), dist.display());
    Ok(())
}

fn cmd_index_rpm(dir: &Path, key: Option<&Path>, compress: &str, changelog_limit: usize) -> Result<()> {
    use osrepo::index::rpm::{self as rpmidx, Compression, RepodataOptions};
    let key = key.map(SigningKey::load).transpose()?;
    let compression: Compression = match compress.parse() {
        Ok(c) => c,
        Err(err) => bail!("--compress: {err}"),
    };
    let records = rpmidx::scan_dir(dir)?;
    if records.is_empty() {
        bail!("{}: no .rpm files", dir.display());
    }
    let date = build::build_date()?;
    let opts = RepodataOptions { compression, changelog_limit, revision: date.timestamp().max(0) as u64 };
    rpmidx::write_repodata(dir, &records, &[], &opts)?;
    if let Some(k) = key {
        osrepo::family::rpm::sign_repomd(&k, dir, date)?;
    }
    eprintln!("indexed {} packages into {}", records.len(), dir.join("repodata").display());
    Ok(())
}

/// `osrepo cache gc`: only against locks that exist and parse (a typo must not empty the
/// cache), or `--all`.
fn cmd_cache_gc(cache: Option<PathBuf>, locks: &[PathBuf], all: bool, dry_run: bool) -> Result<()> {
    let c = osrepo::cache::Cache::open(&cache.unwrap_or_else(osrepo::cache::Cache::default_dir))?;
    let mut keep = std::collections::BTreeSet::new();
    if !all {
        for l in locks {
            if !l.is_file() {
                bail!("lock {} does not exist; nothing removed (pass --all to empty the cache)", l.display());
            }
            let lock = osrepo::lock::Lock::load(l).context("nothing removed")?;
            println!("keeping the {} files of {} ({} jobs)", lock.digests().len(), l.display(), lock.jobs.len());
            keep.extend(lock.digests());
        }
    }
    let r = c.gc(&keep, dry_run)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    if dry_run {
        r.dropped.iter().for_each(|(sha, bytes)| println!("{verb} {sha} ({bytes} bytes)"));
    }
    println!("kept {} cache entries ({} bytes)", r.kept, r.kept_bytes);
    println!("{verb} {} cache entries ({} bytes) that no lock references", r.dropped.len(), r.dropped_bytes());
    Ok(())
}

fn cmd_cache_verify(cache: Option<PathBuf>) -> Result<()> {
    let dir = cache.unwrap_or_else(osrepo::cache::Cache::default_dir);
    let (checked, removed) = osrepo::cache::Cache::open(&dir)?.verify_all()?;
    removed.iter().for_each(|sha| println!("corrupted: {sha} (removed; the next build fetches it again)"));
    println!("checked {checked} cache entries in {}", dir.display());
    if !removed.is_empty() {
        bail!("{} corrupted cache entries removed from {}", removed.len(), dir.display());
    }
    Ok(())
}

/// Closures of a lock file or of an output tree.
fn closures_of(path: &Path) -> Result<osrepo::lock::Closures> {
    if path.is_dir() {
        osrepo::index::tree_closures(path)
    } else {
        Ok(osrepo::lock::closures_of_lock(&osrepo::lock::Lock::load(path)?))
    }
}

fn cmd_diff(a: &Path, b: &Path, json: bool) -> Result<()> {
    let d = osrepo::lock::diff(&closures_of(a)?, &closures_of(b)?);
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", osrepo::lock::render_diff(&d));
    }
    Ok(())
}

/// `DISTRO=REF` options as a map.
fn pairs(flag: &str, items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut m = BTreeMap::new();
    for i in items {
        let (d, r) = i.split_once('=').with_context(|| format!("{flag} {i:?}: expected DISTRO=REF"))?;
        m.insert(d.to_string(), r.to_string());
    }
    Ok(m)
}

/// The install-check targets of `osrepo verify`: the named distros (or every one with node
/// config in the tree), their arches found in the tree (or --arch).
fn verify_targets(a: &VerifyArgs) -> Result<Vec<osrepo::verify::install::Target>> {
    let names: Vec<String> = if a.distro.is_empty() {
        osrepo::verify::distros_in(&a.out)?.into_iter().map(|(n, _)| n).collect()
    } else {
        a.distro.clone()
    };
    let images = pairs("--node-image", &a.node_images)?;
    let packages = PackageSet::load(&a.config.packages)?;
    let mut targets = Vec::new();
    for d in distro::load_many(&a.config.distros, &names)? {
        let specs = packages.select(&d.groups, d.family)?.specs;
        for arch in osrepo::verify::install::arches_in(&a.out, &d) {
            if a.arch.as_ref().is_none_or(|want| want.contains(&arch)) {
                targets.extend(osrepo::verify::targets(&d, arch, &specs, &images)?);
            }
        }
    }
    Ok(targets)
}

async fn cmd_verify(a: VerifyArgs) -> Result<()> {
    if !a.out.is_dir() {
        bail!("{}: no such tree", a.out.display());
    }
    let targets = if a.static_only { Vec::new() } else { verify_targets(&a)? };
    let engine = if a.static_only { None } else { Engine::connect().await.ok() };
    let report = osrepo::verify::run(&a.out, &targets, a.static_only, engine.as_ref()).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    if let Some(j) = &a.junit {
        std::fs::write(j, report.junit()).with_context(|| format!("cannot write {}", j.display()))?;
    }
    if !report.ok() {
        bail!("{} failure(s) in {}", report.failures().len(), a.out.display());
    }
    Ok(())
}

/// The lock's jobs (of `distro`, `arch` when given) with their specs, and the cache.
fn locked_jobs(
    t: &TreeArgs,
    distro: Option<&str>,
    arch: Option<Arch>,
) -> Result<(Vec<(plan::Job, osrepo::lock::LockedJob)>, osrepo::cache::Cache)> {
    let lock_path =
        t.lock.clone().unwrap_or_else(|| t.config.packages.parent().unwrap_or(Path::new(".")).join("osrepo.lock"));
    let lock = osrepo::lock::Lock::load(&lock_path)?;
    let names = match distro {
        Some(d) => vec![d.to_string()],
        None => osrepo::sbom::why::lock_distros(&lock),
    };
    if names.is_empty() {
        bail!("{} has no jobs", lock_path.display());
    }
    let packages = PackageSet::load(&t.config.packages)?;
    let distros = distro::load_many(&t.config.distros, &names)?;
    let jobs = osrepo::sbom::why::locked_jobs(&packages, &distros, &lock, arch)?;
    let cache_dir = t.cache.clone().unwrap_or_else(osrepo::cache::Cache::default_dir);
    Ok((jobs, osrepo::cache::Cache::open(&cache_dir)?))
}

fn cmd_why(package: &str, t: &TreeArgs, distro: Option<&str>, arch: Option<Arch>, json: bool) -> Result<()> {
    let (jobs, cache) = locked_jobs(t, distro, arch)?;
    let answers = osrepo::sbom::why::why(&t.out, &jobs, &cache, package)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&answers)?);
    } else {
        print!("{}", osrepo::sbom::why::render_text(&answers));
    }
    Ok(())
}
