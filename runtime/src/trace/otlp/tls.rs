//! HTTPS settings: the trusted roots (the platform's, plus a given CA) and the client
//! certificate of mutual TLS, read from PEM files when the sink is built, so that a missing or
//! unreadable file is an error then and not a failure of every request later. The HTTP
//! transport takes them as ureq's settings ([`Tls::config`]), the gRPC one (feature `grpc`) as
//! tonic's ([`Tls::grpc`]), both from the files read and checked once here.

use super::error::OtlpError;
use std::sync::Arc;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// The PEM files the settings name, each with the setting (variable or builder method) it came
/// from, for the error messages.
#[derive(Clone, Debug, Default)]
pub(super) struct TlsFiles {
    /// A CA certificate (or several) trusted besides the platform's roots.
    pub(super) certificate: Option<(String, String)>,
    pub(super) client_key: Option<(String, String)>,
    pub(super) client_certificate: Option<(String, String)>,
}

/// What the files hold, read and checked.
#[derive(Clone, Debug, Default)]
pub(super) struct Tls {
    ca: Vec<Certificate<'static>>,
    client: Option<ClientCert>,
    /// The same files' PEM text, as tonic takes it: the CA file's, and the client
    /// certificate's and key's.
    #[cfg(feature = "grpc")]
    ca_pem: Option<Vec<u8>>,
    #[cfg(feature = "grpc")]
    client_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    /// Reads and checks every file named.
    pub(super) fn load(&self) -> Result<Tls, OtlpError> {
        let (ca, ca_pem) = match &self.certificate {
            Some((setting, path)) => {
                let (pem, certs) = certificates(setting, path)?;
                if certs.is_empty() {
                    return Err(file_error(setting, path, "has no PEM CERTIFICATE block"));
                }
                (certs, Some(pem))
            }
            None => (Vec::new(), None),
        };
        let (client, client_pem) = match (&self.client_certificate, &self.client_key) {
            (None, None) => (None, None),
            (Some((setting, path)), None) | (None, Some((setting, path))) => {
                return Err(file_error(
                    setting,
                    path,
                    "is given without its pair: mutual TLS needs both the client certificate \
                     and the client key",
                ));
            }
            (Some((cert_setting, cert_path)), Some((key_setting, key_path))) => {
                let (chain_pem, chain) = certificates(cert_setting, cert_path)?;
                if chain.is_empty() {
                    return Err(file_error(
                        cert_setting,
                        cert_path,
                        "has no PEM CERTIFICATE block",
                    ));
                }
                let (key_pem, key) = private_key(key_setting, key_path)?;
                (
                    Some(ClientCert::new_with_certs(&chain, key)),
                    Some((chain_pem, key_pem)),
                )
            }
        };
        #[cfg(not(feature = "grpc"))]
        let _ = (ca_pem, client_pem);
        Ok(Tls {
            ca,
            client,
            #[cfg(feature = "grpc")]
            ca_pem,
            #[cfg(feature = "grpc")]
            client_pem,
        })
    }
}

impl Tls {
    /// The client's TLS settings: the platform's roots plus the given CA (Mozilla's roots when
    /// the platform has none and no CA is given), and the client certificate if any.
    pub(super) fn config(&self) -> TlsConfig {
        let platform = rustls_native_certs::load_native_certs();
        let mut roots: Vec<Certificate<'static>> = platform
            .certs
            .iter()
            .map(|der| Certificate::from_der(der.as_ref()).to_owned())
            .collect();
        roots.extend(self.ca.iter().cloned());
        let roots = if roots.is_empty() {
            RootCerts::WebPki
        } else {
            RootCerts::Specific(Arc::new(roots))
        };
        TlsConfig::builder()
            .root_certs(roots)
            .client_cert(self.client.clone())
            .build()
    }

    /// The same settings for tonic's channel (feature `grpc`): the platform's roots plus the
    /// given CA (Mozilla's roots when the platform has none and no CA is given), and the client
    /// certificate and key if any.
    #[cfg(feature = "grpc")]
    pub(super) fn grpc(&self) -> tonic::transport::ClientTlsConfig {
        let mut config = tonic::transport::ClientTlsConfig::new();
        // tonic refuses to connect when asked for the platform's roots and there are none.
        let platform = !rustls_native_certs::load_native_certs().certs.is_empty();
        if platform {
            config = config.with_native_roots();
        } else if self.ca_pem.is_none() {
            config = config.with_webpki_roots();
        }
        if let Some(pem) = &self.ca_pem {
            config = config.ca_certificate(tonic::transport::Certificate::from_pem(pem));
        }
        if let Some((certificate, key)) = &self.client_pem {
            config = config.identity(tonic::transport::Identity::from_pem(certificate, key));
        }
        config
    }
}

fn read(setting: &str, path: &str) -> Result<Vec<u8>, OtlpError> {
    std::fs::read(path)
        .map_err(|error| file_error(setting, path, &format!("cannot be read: {error}")))
}

/// The file's text and the certificates in it.
fn certificates(
    setting: &str,
    path: &str,
) -> Result<(Vec<u8>, Vec<Certificate<'static>>), OtlpError> {
    let pem = read(setting, path)?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(error) => {
                return Err(file_error(
                    setting,
                    path,
                    &format!("is not valid PEM: {error}"),
                ));
            }
        }
    }
    Ok((pem, certs))
}

/// The file's text and the (first) private key in it.
fn private_key(setting: &str, path: &str) -> Result<(Vec<u8>, PrivateKey<'static>), OtlpError> {
    let pem = read(setting, path)?;
    let mut key = None;
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::PrivateKey(found)) => {
                key = Some(found);
                break;
            }
            Ok(_) => {}
            Err(error) => {
                return Err(file_error(
                    setting,
                    path,
                    &format!("is not valid PEM: {error}"),
                ));
            }
        }
    }
    match key {
        Some(key) => Ok((pem, key)),
        None => Err(file_error(setting, path, "has no PEM PRIVATE KEY block")),
    }
}

fn file_error(setting: &str, path: &str, reason: &str) -> OtlpError {
    OtlpError::Invalid {
        setting: setting.to_string(),
        value: path.to_string(),
        reason: format!("the file {reason}"),
    }
}
