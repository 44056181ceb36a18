//! OpenPGP signing of repository metadata.
//!
//! A [`SigningKey`] wraps a v4 RSA OpenPGP secret key (RSA so that old verifiers such as
//! EL7's gpg 2.0 / rpm 4.11 and apt's `gpgv` accept it). It produces armored detached
//! signatures (`Release.gpg`, `repomd.xml.asc`) and cleartext-signed messages (`InRelease`),
//! always with SHA-256 and with a caller-supplied creation time, so that signing the same
//! data with the same key at the same time yields byte-identical output (e.g. under
//! `SOURCE_DATE_EPOCH`).
//!
//! [`write_key_files`] and [`write_public_key_files`] persist the key as `osrepo.key`
//! (armored secret, mode 0600), `osrepo.asc` (armored public) and `osrepo.gpg` (binary
//! public, usable as an apt `signed-by=` keyring and with `gpgv --keyring`).

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};
use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, EncryptionCaps, KeyType,
    SecretKeyParamsBuilder, SignedPublicKey, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::crypto::sym::SymmetricKeyAlgorithm;
use pgp::packet::{Signature, SignatureConfig, SignatureType, Subpacket, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, KeyVersion, Password, Timestamp};

/// File name of the armored secret key written by [`write_key_files`].
pub(crate) const SECRET_KEY_FILE: &str = "osrepo.key";
/// File name of the armored public key.
pub(crate) const PUBLIC_ARMORED_FILE: &str = "osrepo.asc";
/// File name of the binary public key (an OpenPGP keyring usable by apt and `gpgv`).
pub(crate) const PUBLIC_BINARY_FILE: &str = "osrepo.gpg";

/// Size of generated RSA keys in bits.
const RSA_BITS: u32 = 4096;
/// Digest used for all data signatures (SHA-1 is refused by apt and rpm).
const SIGNATURE_HASH: HashAlgorithm = HashAlgorithm::Sha256;

/// An unprotected v4 RSA OpenPGP secret key whose primary key signs repository metadata.
#[derive(Clone)]
pub struct SigningKey {
    key: SignedSecretKey,
}

impl fmt::Debug for SigningKey {
    /// Shows only the fingerprint, never secret material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("fingerprint", &self.fingerprint()).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// New RSA-4096 key, primary key can sign, user id `uid` (e.g. "osrepo <osrepo@localhost>"),
    /// created at `created`.
    ///
    /// A `created` in the future is clamped to now: the self-signature is made now, and
    /// verifiers reject keys (and self-signatures) from the future.
    pub fn generate(uid: &str, created: SystemTime) -> Result<SigningKey> {
        if uid.trim().is_empty() {
            bail!("OpenPGP user id must not be empty");
        }
        let created = timestamp(created.min(SystemTime::now()))?;
        let params = SecretKeyParamsBuilder::default()
            .key_type(KeyType::Rsa(RSA_BITS))
            .can_certify(true)
            .can_sign(true)
            .can_encrypt(EncryptionCaps::None)
            .primary_user_id(uid.to_owned())
            .created_at(created)
            .preferred_hash_algorithms(vec![HashAlgorithm::Sha512, HashAlgorithm::Sha384, HashAlgorithm::Sha256].into())
            .preferred_symmetric_algorithms(vec![SymmetricKeyAlgorithm::AES256, SymmetricKeyAlgorithm::AES128].into())
            .build()
            .context("building OpenPGP key parameters")?;
        let key = params.generate(rand::thread_rng()).context("generating RSA signing key")?;
        Self::from_secret_key(key)
    }

    /// Parse an armored secret key (as written by [`SigningKey::secret_armored`], or by
    /// `gpg --export-secret-keys --armor` for an unprotected RSA key).
    pub fn from_armored(text: &str) -> Result<SigningKey> {
        let (key, _headers) = SignedSecretKey::from_string(text).context("parsing armored OpenPGP secret key")?;
        Self::from_secret_key(key)
    }

    /// Read an armored secret key file; errors name the path.
    pub fn load(path: &Path) -> Result<SigningKey> {
        let text = fs::read_to_string(path).with_context(|| format!("reading secret key file {}", path.display()))?;
        Self::from_armored(&text).with_context(|| format!("loading secret key from {}", path.display()))
    }

    /// Check that `key` is usable for repository signing and wrap it.
    fn from_secret_key(key: SignedSecretKey) -> Result<SigningKey> {
        key.verify_bindings().context("OpenPGP secret key has invalid self-signatures")?;
        let primary = &key.primary_key;
        let fingerprint = format!("{:X}", primary.fingerprint());
        if primary.version() != KeyVersion::V4 {
            bail!("OpenPGP key {fingerprint} is a {:?} key; only v4 keys are supported", primary.version());
        }
        if !matches!(primary.algorithm(), PublicKeyAlgorithm::RSA | PublicKeyAlgorithm::RSASign) {
            bail!(
                "OpenPGP key {fingerprint} uses {:?}; an RSA key is required \
                 (older apt, gpg and rpm cannot verify other algorithms)",
                primary.algorithm()
            );
        }
        if primary.secret_params().is_encrypted() {
            bail!(
                "OpenPGP secret key {fingerprint} is passphrase-protected; \
                 export it without protection"
            );
        }
        if !primary_can_sign(&key) {
            bail!("the primary key of OpenPGP key {fingerprint} is not allowed to sign");
        }
        Ok(SigningKey { key })
    }

    /// The armored secret key ("-----BEGIN PGP PRIVATE KEY BLOCK-----").
    pub(crate) fn secret_armored(&self) -> Result<String> {
        self.key.to_armored_string(ArmorOptions::default()).context("armoring OpenPGP secret key")
    }

    /// The armored public key ("-----BEGIN PGP PUBLIC KEY BLOCK-----").
    pub(crate) fn public_armored(&self) -> Result<String> {
        self.public_key().to_armored_string(ArmorOptions::default()).context("armoring OpenPGP public key")
    }

    /// The binary public key, usable as an apt keyring file (`signed-by=/x.gpg`) and with
    /// `gpgv --keyring`.
    pub(crate) fn public_binary(&self) -> Result<Vec<u8>> {
        self.public_key().to_bytes().context("serializing OpenPGP public key")
    }

    /// Upper-case hex fingerprint of the primary key (40 characters for v4 keys).
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.key.primary_key.fingerprint())
    }

    /// Creation time of the primary key.
    #[cfg(test)]
    pub(crate) fn created(&self) -> SystemTime {
        self.key.primary_key.created_at().into()
    }

    /// Armored detached signature over `data` (used for `Release.gpg` and `repomd.xml.asc`).
    ///
    /// The signature creation time is `created`, raised to the key's creation time if earlier
    /// (verifiers reject signatures older than their key), so the output is reproducible.
    pub(crate) fn sign_detached(&self, data: &[u8], created: SystemTime) -> Result<String> {
        let config = self.signature_config(SignatureType::Binary, created)?;
        let signature = config
            .sign(&self.key.primary_key, &Password::empty(), data)
            .context("creating detached OpenPGP signature")?;
        DetachedSignature::new(signature)
            .to_armored_string(ArmorOptions::default())
            .context("armoring detached OpenPGP signature")
    }

    /// Cleartext-signed message (`InRelease`).
    ///
    /// Line endings are normalised to `\n` and trailing spaces/tabs are stripped from every
    /// line first, since verifiers ignore them. As with `gpg --clearsign`, a final newline
    /// becomes the line break before the signature armor, so `gpgv --output -` (and apt)
    /// give back the normalised text (with a final newline added if it had none). The
    /// creation time is handled as in [`SigningKey::sign_detached`].
    pub(crate) fn clearsign(&self, text: &str, created: SystemTime) -> Result<String> {
        let text = normalize_cleartext(text);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let config = self.signature_config(SignatureType::Text, created)?;
        CleartextSignedMessage::new(text, config, &self.key.primary_key, &Password::empty())
            .context("creating cleartext OpenPGP signature")?
            .to_armored_string(ArmorOptions::default())
            .context("armoring cleartext-signed message")
    }

    fn public_key(&self) -> SignedPublicKey {
        self.key.to_public_key()
    }

    /// A v4 signature configuration with a fixed creation time and only deterministic
    /// subpackets (issuer fingerprint and creation time hashed, issuer key id unhashed).
    fn signature_config(&self, typ: SignatureType, created: SystemTime) -> Result<SignatureConfig> {
        let primary = &self.key.primary_key;
        let created = timestamp(created)?.max(primary.created_at());
        let mut config = SignatureConfig::v4(typ, primary.algorithm(), SIGNATURE_HASH);
        config.hashed_subpackets = vec![
            Subpacket::regular(SubpacketData::IssuerFingerprint(primary.fingerprint()))?,
            Subpacket::regular(SubpacketData::SignatureCreationTime(created))?,
        ];
        config.unhashed_subpackets = vec![Subpacket::regular(SubpacketData::IssuerKeyId(primary.legacy_key_id()))?];
        Ok(config)
    }
}

/// Whether the primary key may make data signatures: true unless every self-signature that
/// carries a key-flags subpacket denies signing.
fn primary_can_sign(key: &SignedSecretKey) -> bool {
    let self_sigs =
        key.details.direct_signatures.iter().chain(key.details.users.iter().flat_map(|u| u.signatures.iter()));
    let mut flag_sigs = self_sigs.filter(|s| has_key_flags(s)).peekable();
    flag_sigs.peek().is_none() || flag_sigs.any(|s| s.key_flags().sign())
}

fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| c.hashed_subpackets().any(|p| matches!(p.data, SubpacketData::KeyFlags(_))))
}

fn timestamp(time: SystemTime) -> Result<Timestamp> {
    Timestamp::try_from(time).context("time is not representable as an OpenPGP timestamp")
}

/// Normalise line endings to `\n` and strip trailing spaces and tabs from every line.
fn normalize_cleartext(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (content, newline) = match line.strip_suffix('\n') {
            Some(content) => (content.strip_suffix('\r').unwrap_or(content), "\n"),
            None => (line, ""),
        };
        out.push_str(content.trim_end_matches([' ', '\t', '\r']));
        out.push_str(newline);
    }
    out
}

/// Write `DIR/osrepo.key` (armored secret key, created with mode 0600), `DIR/osrepo.asc`
/// (armored public) and `DIR/osrepo.gpg` (binary public). Creates `dir`. Refuses to
/// overwrite an existing `osrepo.key`.
pub fn write_key_files(dir: &Path, key: &SigningKey) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let path = dir.join(SECRET_KEY_FILE);
    let secret = key.secret_armored()?;
    let mut file = match create_private_file(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            bail!("refusing to overwrite existing secret key {}", path.display())
        }
        Err(e) => return Err(e).with_context(|| format!("creating secret key file {}", path.display())),
    };
    if let Err(e) = file.write_all(secret.as_bytes()).and_then(|()| file.sync_all()) {
        drop(file);
        // Best effort: do not leave a truncated key behind that would block a retry.
        let _ = fs::remove_file(&path);
        return Err(e).with_context(|| format!("writing secret key file {}", path.display()));
    }
    write_public_key_files(dir, key)
}

/// Create `path` exclusively, readable and writable by the owner only from the start.
fn create_private_file(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Sign a file's bytes `data`: the detached armored signature beside it as `<file>.asc`
/// (the SBOMs).
pub(crate) fn write_detached(key: &SigningKey, file: &Path, data: &[u8], created: SystemTime) -> Result<()> {
    let mut name = file.as_os_str().to_owned();
    name.push(".asc");
    crate::fsutil::write_atomic(Path::new(&name), key.sign_detached(data, created)?.as_bytes())
}

/// Write only the public parts (`osrepo.asc`, `osrepo.gpg`) into `dir` (e.g. the output
/// tree's `keys/`), creating `dir` and replacing existing files.
pub(crate) fn write_public_key_files(dir: &Path, key: &SigningKey) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating directory {}", dir.display()))?;
    let asc = dir.join(PUBLIC_ARMORED_FILE);
    fs::write(&asc, key.public_armored()?).with_context(|| format!("writing public key {}", asc.display()))?;
    let gpg = dir.join(PUBLIC_BINARY_FILE);
    fs::write(&gpg, key.public_binary()?).with_context(|| format!("writing public keyring {}", gpg.display()))?;
    Ok(())
}

/// Public keys read from a keyring file (binary `.gpg` or armored `.asc`), for checking
/// signatures of a published tree (`osrepo verify`).
pub(crate) struct PublicKeys {
    keys: Vec<SignedPublicKey>,
}

impl PublicKeys {
    /// Read every public key in `path`; errors name the file.
    pub(crate) fn load(path: &Path) -> Result<PublicKeys> {
        let data = fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let keys: Vec<SignedPublicKey> = match SignedPublicKey::from_reader_many(io::Cursor::new(&data)) {
            Ok((iter, _)) => iter.filter_map(|k| k.ok()).collect(),
            Err(_) => Vec::new(),
        };
        if keys.is_empty() {
            bail!("{}: holds no OpenPGP public key", path.display());
        }
        Ok(PublicKeys { keys })
    }

    /// The fingerprints, upper-case hex.
    pub(crate) fn fingerprints(&self) -> Vec<String> {
        self.keys.iter().map(|k| format!("{:X}", k.fingerprint())).collect()
    }

    /// Does the armored detached signature `sig` verify `data` with one of these keys?
    pub(crate) fn verify_detached(&self, data: &[u8], sig: &str) -> Result<()> {
        let (sig, _) = DetachedSignature::from_string(sig).context("not an armored OpenPGP signature")?;
        if self.keys.iter().any(|k| sig.verify(k, data).is_ok()) {
            return Ok(());
        }
        bail!("the signature does not verify with {}", self.fingerprints().join(", "))
    }

    /// Verify a cleartext-signed message (`InRelease`); returns the signed text with `\n`
    /// line ends and one final newline, as apt reads it.
    pub(crate) fn verify_cleartext(&self, armored: &str) -> Result<String> {
        let (msg, _) = CleartextSignedMessage::from_string(armored).context("not a cleartext-signed message")?;
        if !self.keys.iter().any(|k| msg.verify(k).is_ok()) {
            bail!("the signature does not verify with {}", self.fingerprints().join(", "));
        }
        let text = msg.signed_text().replace("\r\n", "\n");
        Ok(format!("{}\n", text.trim_end_matches('\n')))
    }
}

/// The cleartext a signed copy of `text` holds (line ends and trailing blanks normalised,
/// one final newline), to compare `Release` with the text `InRelease` signs.
pub(crate) fn cleartext_of(text: &str) -> String {
    let t = normalize_cleartext(text);
    format!("{}\n", t.trim_end_matches('\n'))
}

/// Check an RPM's header signature (what `rpm -K` checks: header digests and a signature
/// by one of the armored keys in `key_files`).
pub(crate) fn verify_rpm(path: &Path, key_files: &[(String, Vec<u8>)]) -> Result<()> {
    let mut verifier = rpm::signature::pgp::Verifier::new();
    let mut loaded = 0;
    for (name, data) in key_files {
        if verifier.load_from_asc_bytes(data).is_ok() {
            loaded += 1;
        } else {
            tracing::debug!("{name}: not an armored key usable for rpm signatures");
        }
    }
    if loaded == 0 {
        bail!("no usable armored key to check it with");
    }
    let meta = rpm::PackageMetadata::open(path).map_err(|e| anyhow::anyhow!("cannot read its header: {e}"))?;
    meta.verify_signature(verifier).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::{Command, Output};
    use std::sync::OnceLock;
    use std::time::{Duration, UNIX_EPOCH};

    const GPGV: &str = "/usr/bin/gpgv";
    const GPG: &str = "/usr/bin/gpg";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const KEY_TIME: u64 = 1_700_000_000;
    const SIGN_TIME: u64 = 1_700_000_600;

    fn test_key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate("osrepo test <osrepo@localhost>", at(KEY_TIME)).unwrap())
    }

    fn other_key() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(|| SigningKey::generate("someone else <else@localhost>", at(KEY_TIME)).unwrap())
    }

    /// Write `key`'s public files into `dir` and return the binary keyring path.
    fn keyring(dir: &Path, key: &SigningKey) -> PathBuf {
        write_public_key_files(dir, key).unwrap();
        dir.join(PUBLIC_BINARY_FILE)
    }

    /// Run gpgv with a throwaway GNUPGHOME.
    fn gpgv(keyring: &Path, args: &[&Path]) -> Output {
        let home = tempfile::tempdir().unwrap();
        Command::new(GPGV)
            .env("GNUPGHOME", home.path())
            .arg("--keyring")
            .arg(keyring)
            .args(args)
            .output()
            .expect("running gpgv")
    }

    fn assert_success(out: &Output) {
        assert!(out.status.success(), "gpgv failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn detached_signature_verifies_with_gpgv() {
        let dir = tempfile::tempdir().unwrap();
        let data = b"Origin: osrepo\nSuite: stable\n\x00\xffbinary too\n";
        let sig = test_key().sign_detached(data, at(SIGN_TIME)).unwrap();
        assert!(sig.starts_with("-----BEGIN PGP SIGNATURE-----"));
        let data_path = dir.path().join("Release");
        let sig_path = dir.path().join("Release.gpg");
        fs::write(&data_path, data).unwrap();
        fs::write(&sig_path, &sig).unwrap();

        let good = keyring(&dir.path().join("good"), test_key());
        assert_success(&gpgv(&good, &[&sig_path, &data_path]));

        let bad = keyring(&dir.path().join("bad"), other_key());
        assert!(!gpgv(&bad, &[&sig_path, &data_path]).status.success());

        fs::write(&data_path, b"tampered").unwrap();
        assert!(!gpgv(&good, &[&sig_path, &data_path]).status.success());
    }

    #[test]
    fn clearsigned_message_verifies_with_gpgv_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let text = "Origin: osrepo\nLabel: test\nSHA256:\n abc 12 main/binary-amd64/Packages\n";
        let signed = test_key().clearsign(text, at(SIGN_TIME)).unwrap();
        assert!(signed.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"));
        // Like `gpg --clearsign`: no blank line between the text and the signature.
        assert!(signed.contains("Packages\n-----BEGIN PGP SIGNATURE-----\n"));
        let path = dir.path().join("InRelease");
        fs::write(&path, &signed).unwrap();

        let good = keyring(&dir.path().join("good"), test_key());
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(GPGV)
            .env("GNUPGHOME", home.path())
            .arg("--keyring")
            .arg(&good)
            .args(["--output", "-"])
            .arg(&path)
            .output()
            .unwrap();
        assert_success(&out);
        assert_eq!(String::from_utf8(out.stdout).unwrap(), text);

        let bad = keyring(&dir.path().join("bad"), other_key());
        assert!(!gpgv(&bad, &[&path]).status.success());

        let tampered = signed.replace("Label: test", "Label: evil");
        fs::write(&path, tampered).unwrap();
        assert!(!gpgv(&good, &[&path]).status.success());
    }

    #[test]
    fn clearsign_strips_trailing_whitespace() {
        let dir = tempfile::tempdir().unwrap();
        let text = "Origin: osrepo \t\r\nMD5Sum: \n x\t\n-dash line  \n\nlast ";
        let signed = test_key().clearsign(text, at(SIGN_TIME)).unwrap();
        assert!(!signed.contains("MD5Sum: \n"));
        assert!(!signed.contains('\r'));
        assert!(signed.contains("\n- -dash line\n"));
        let path = dir.path().join("InRelease");
        fs::write(&path, &signed).unwrap();

        let good = keyring(dir.path(), test_key());
        let home = tempfile::tempdir().unwrap();
        let out = Command::new(GPGV)
            .env("GNUPGHOME", home.path())
            .arg("--keyring")
            .arg(&good)
            .args(["--output", "-"])
            .arg(&path)
            .output()
            .unwrap();
        assert_success(&out);
        assert_eq!(String::from_utf8(out.stdout).unwrap(), "Origin: osrepo\nMD5Sum:\n x\n-dash line\n\nlast\n");
    }

    #[test]
    fn normalize_cleartext_handles_line_endings() {
        assert_eq!(normalize_cleartext("a \r\nb\t\n\n c  "), "a\nb\n\n c");
        assert_eq!(normalize_cleartext(""), "");
        assert_eq!(normalize_cleartext("x\n"), "x\n");
    }

    #[test]
    fn armored_secret_key_round_trips() {
        let armored = test_key().secret_armored().unwrap();
        assert!(armored.starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
        let loaded = SigningKey::from_armored(&armored).unwrap();
        assert_eq!(loaded.fingerprint(), test_key().fingerprint());
        assert_eq!(loaded.created(), at(KEY_TIME));

        let dir = tempfile::tempdir().unwrap();
        let data_path = dir.path().join("repomd.xml");
        let sig_path = dir.path().join("repomd.xml.asc");
        fs::write(&data_path, b"<repomd/>").unwrap();
        let sig = loaded.sign_detached(b"<repomd/>", at(SIGN_TIME)).unwrap();
        fs::write(&sig_path, sig).unwrap();
        // Verify against the keyring of the original key.
        let good = keyring(&dir.path().join("k"), test_key());
        assert_success(&gpgv(&good, &[&sig_path, &data_path]));
    }

    #[test]
    fn public_armor_and_fingerprint_format() {
        let key = test_key();
        assert!(key.public_armored().unwrap().starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
        let fpr = key.fingerprint();
        assert_eq!(fpr.len(), 40);
        assert!(fpr.chars().all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)));
        let debug = format!("{key:?}");
        assert!(debug.contains(&fpr) && !debug.contains("BEGIN"));
    }

    #[test]
    fn signatures_are_deterministic() {
        let key = test_key();
        let a = key.sign_detached(b"same data", at(SIGN_TIME)).unwrap();
        let b = key.sign_detached(b"same data", at(SIGN_TIME)).unwrap();
        assert_eq!(a, b);
        let c = key.sign_detached(b"same data", at(SIGN_TIME + 1)).unwrap();
        assert_ne!(a, c);
        let d = key.clearsign("Suite: x\n", at(SIGN_TIME)).unwrap();
        let e = key.clearsign("Suite: x\n", at(SIGN_TIME)).unwrap();
        assert_eq!(d, e);
    }

    #[test]
    fn signature_uses_sha256_and_given_time() {
        let armored = test_key().sign_detached(b"data", at(SIGN_TIME)).unwrap();
        let (sig, _) = DetachedSignature::from_string(&armored).unwrap();
        let hash = sig.signature.hash_alg().unwrap();
        assert!(matches!(hash, HashAlgorithm::Sha256 | HashAlgorithm::Sha384 | HashAlgorithm::Sha512));
        assert_eq!(sig.signature.created(), Some(Timestamp::from_secs(SIGN_TIME as u32)));

        let signed = test_key().clearsign("a\n", at(SIGN_TIME)).unwrap();
        let (msg, _) = CleartextSignedMessage::from_string(&signed).unwrap();
        assert_eq!(msg.signatures()[0].hash_alg(), Some(HashAlgorithm::Sha256));

        if Path::new(GPG).exists() {
            let dir = tempfile::tempdir().unwrap();
            let sig_path = dir.path().join("sig.asc");
            fs::write(&sig_path, &armored).unwrap();
            let out = Command::new(GPG)
                .env("GNUPGHOME", dir.path())
                .args(["--batch", "--list-packets"])
                .arg(&sig_path)
                .output()
                .unwrap();
            let listing = String::from_utf8_lossy(&out.stdout);
            // 8 = SHA256, 9 = SHA384, 10 = SHA512.
            assert!(
                ["digest algo 8,", "digest algo 9,", "digest algo 10,"].iter().any(|s| listing.contains(s)),
                "unexpected packet listing: {listing}"
            );
            assert!(!listing.contains("digest algo 2,"));
        }
    }

    #[test]
    fn signature_time_is_not_before_key_creation() {
        let key = test_key();
        let armored = key.sign_detached(b"old", at(KEY_TIME - 1000)).unwrap();
        let (sig, _) = DetachedSignature::from_string(&armored).unwrap();
        assert_eq!(sig.signature.created(), Some(Timestamp::from_secs(KEY_TIME as u32)));
        let dir = tempfile::tempdir().unwrap();
        let (data_path, sig_path) = (dir.path().join("d"), dir.path().join("d.sig"));
        fs::write(&data_path, b"old").unwrap();
        fs::write(&sig_path, armored).unwrap();
        let good = keyring(&dir.path().join("k"), key);
        assert_success(&gpgv(&good, &[&sig_path, &data_path]));
    }

    #[test]
    fn write_key_files_is_private_and_refuses_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/keys");
        write_key_files(&dir, test_key()).unwrap();
        let secret = dir.join(SECRET_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&secret).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(dir.join(PUBLIC_ARMORED_FILE).is_file());
        assert_eq!(fs::read(dir.join(PUBLIC_BINARY_FILE)).unwrap(), test_key().public_binary().unwrap());
        let loaded = SigningKey::load(&secret).unwrap();
        assert_eq!(loaded.fingerprint(), test_key().fingerprint());

        let before = fs::read(&secret).unwrap();
        let err = write_key_files(&dir, other_key()).unwrap_err();
        assert!(format!("{err:#}").contains(&secret.display().to_string()));
        assert_eq!(fs::read(&secret).unwrap(), before);
    }

    #[test]
    fn load_and_parse_errors_are_descriptive() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope.key");
        let err = SigningKey::load(&missing).unwrap_err();
        assert!(format!("{err:#}").contains(&missing.display().to_string()));

        let public = tmp.path().join("public.key");
        fs::write(&public, test_key().public_armored().unwrap()).unwrap();
        let err = SigningKey::load(&public).unwrap_err();
        assert!(format!("{err:#}").contains(&public.display().to_string()));

        assert!(SigningKey::from_armored("not a key").is_err());
        assert!(SigningKey::generate("  ", at(KEY_TIME)).is_err());
    }

    /// Run gpg in `home`; panics with stderr on failure.
    fn gpg(home: &Path, args: &[&str]) -> Vec<u8> {
        let out = Command::new(GPG)
            .env("GNUPGHOME", home)
            .args(["--batch", "--no-tty", "--quiet"])
            .args(args)
            .output()
            .expect("running gpg");
        assert!(out.status.success(), "gpg {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    #[test]
    fn public_key_imports_into_gpg() {
        if !Path::new(GPG).exists() {
            return;
        }
        let home = tempfile::tempdir().unwrap();
        let keys = home.path().join("keys");
        write_public_key_files(&keys, test_key()).unwrap();
        let asc = keys.join(PUBLIC_ARMORED_FILE);
        gpg(home.path(), &["--import", asc.to_str().unwrap()]);
        let listing = gpg(home.path(), &["--with-colons", "--list-keys"]);
        let listing = String::from_utf8(listing).unwrap();
        assert!(listing.contains(&format!("fpr:::::::::{}:", test_key().fingerprint())));
        assert!(listing.contains("osrepo test <osrepo@localhost>"));
    }

    #[test]
    fn gpg_exported_secret_key_is_accepted() {
        if !Path::new(GPG).exists() {
            return;
        }
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        gpg(
            h,
            &[
                "--passphrase",
                "",
                "--pinentry-mode",
                "loopback",
                "--quick-generate-key",
                "gpg made <gpg@localhost>",
                "rsa2048",
                "sign",
                "never",
            ],
        );
        let exported = gpg(h, &["--armor", "--export-secret-keys"]);
        let public = gpg(h, &["--export"]);
        // Stop the agent this test started (it is bound to this GNUPGHOME only).
        let _ = Command::new("gpgconf").env("GNUPGHOME", h).args(["--kill", "gpg-agent"]).status();

        let key = SigningKey::from_armored(&String::from_utf8(exported).unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ring = dir.path().join("gpg-export.gpg");
        fs::write(&ring, public).unwrap();
        let (data_path, sig_path) = (dir.path().join("d"), dir.path().join("d.asc"));
        fs::write(&data_path, b"hello").unwrap();
        fs::write(&sig_path, key.sign_detached(b"hello", SystemTime::now()).unwrap()).unwrap();
        assert_success(&gpgv(&ring, &[&sig_path, &data_path]));
    }
}
