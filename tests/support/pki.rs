//! A PKI made for one test with rcgen: a CA, a server certificate for `localhost` and
//! 127.0.0.1 and a client certificate (`keel-client`), both signed by the CA, written as PEM
//! files into a directory of the test's own (removed when dropped) and kept as DER for servers
//! built in the test.

// Each test that includes this file uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;

pub struct Pki {
    dir: PathBuf,
    pub ca_der: Vec<u8>,
    pub server_der: Vec<u8>,
    /// The server's key, PKCS #8.
    pub server_key_der: Vec<u8>,
}

impl Pki {
    /// A new PKI whose files are in a directory named after `name` and the process.
    pub fn new(name: &str) -> Self {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("keel {name} test CA"));
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let signed = |names: &[&str], key: &rcgen::KeyPair| {
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap()
                .signed_by(key, &issuer)
                .unwrap()
        };
        let server_key = rcgen::KeyPair::generate().unwrap();
        let server = signed(&["localhost", "127.0.0.1"], &server_key);
        let client_key = rcgen::KeyPair::generate().unwrap();
        let client = signed(&["keel-client"], &client_key);
        let dir = std::env::temp_dir().join(format!("keel-otlp-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (file, pem) in [
            ("ca.pem", ca.pem()),
            ("server.pem", server.pem()),
            ("server.key", server_key.serialize_pem()),
            ("client.pem", client.pem()),
            ("client.key", client_key.serialize_pem()),
        ] {
            std::fs::write(dir.join(file), pem).unwrap();
        }
        Pki {
            dir,
            ca_der: ca.der().to_vec(),
            server_der: server.der().to_vec(),
            server_key_der: server_key.serialize_der(),
        }
    }

    /// The path of one of its PEM files: `ca.pem`, `server.pem`, `server.key`, `client.pem`,
    /// `client.key`.
    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_string()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
