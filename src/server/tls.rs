//! The relay's certificate: given with `--cert` and `--key` (PEM), or made on first start
//! (self-signed, rcgen) and kept in the data folder, so that clients that pinned it trust it
//! again after a restart.

use crate::net::identity::write_private;
use crate::net::tls::{data_dir, fingerprint};
use rustls::crypto::ring as provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The relay's TLS setup and the fingerprint clients will see.
#[derive(Debug, Clone)]
pub struct RelayTls {
    pub config: Arc<ServerConfig>,
    pub fingerprint: String,
    /// Where the certificate came from (for the log).
    pub source: PathBuf,
}

/// The kept certificate of the data folder (made now if there is none).
pub fn own_certificate() -> Result<RelayTls, String> {
    let dir = data_dir();
    let (cert, key) = (dir.join("relay-cert.pem"), dir.join("relay-key.pem"));
    if !cert.exists() || !key.exists() {
        make_certificate(&cert, &key)?;
    }
    load(&cert, &key)
}

/// A self-signed certificate for the names a LAN relay goes by; the key is readable by its
/// owner only.
fn make_certificate(cert: &Path, key: &Path) -> Result<(), String> {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let names: Vec<String> = ["localhost".to_string(), host].into_iter().filter(|n| !n.is_empty()).collect();
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot make a certificate: {e}"))?;
    if let Some(dir) = cert.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    write_private(key, made.key_pair.serialize_pem().as_bytes())?;
    std::fs::write(cert, made.cert.pem()).map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    log::info!("made a certificate for the relay in {}", cert.display());
    Ok(())
}

/// A certificate chain and its key from PEM files.
pub fn load(cert: &Path, key: &Path) -> Result<RelayTls, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?;
    let first = chain.first().ok_or_else(|| format!("{} holds no certificate", cert.display()))?;
    let print = fingerprint(first);
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the key {}: {e}", key.display()))?;
    let config = ServerConfig::builder_with_provider(Arc::new(provider::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate and the key do not go together: {e}"))?;
    Ok(RelayTls { config: Arc::new(config), fingerprint: print, source: cert.to_path_buf() })
}
