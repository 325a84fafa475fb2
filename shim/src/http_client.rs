//! The HTTP client of every outgoing request (the export's sink, the alerts' webhook, the
//! witnesses): http:// or https://, the latter through rustls, trusting the system's certificate
//! store and, with `--ca-file`, a private CA as well, as a company's own SIEM often has.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// PEM file of CA certificates trusted for https:// URLs besides the system's store (a
    /// private CA's, or a self-signed server's own certificate).
    #[arg(long, value_name = "PEM_FILE")]
    pub ca_file: Option<PathBuf>,
}

pub fn build(tls: &TlsArgs, timeout: Duration) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(timeout);
    if let Some(path) = &tls.ca_file {
        let pem =
            std::fs::read(path).with_context(|| format!("reading --ca-file {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("--ca-file {}", path.display()))?;
        if certs.is_empty() {
            bail!("--ca-file {} holds no PEM certificate", path.display());
        }
        for c in certs {
            builder = builder.add_root_certificate(c);
        }
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("auditlog-ca-{}", std::process::id()));
        std::fs::write(&dir, "not a certificate\n").unwrap();
        let tls = TlsArgs {
            ca_file: Some(dir.clone()),
        };
        let e = build(&tls, Duration::from_secs(1)).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert!(
            format!("{e:#}").contains("holds no PEM certificate"),
            "{e:#}"
        );
    }
}
