//! Certificates for the HTTPS tests.

/// A CA and a certificate for localhost and 127.0.0.1 signed by it, as PEM
/// files: rustls refuses a self-signed certificate used as the server's own.
pub struct Certs {
    pub ca: std::path::PathBuf,
    pub ca_der: tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    pub leaf: std::path::PathBuf,
    pub leaf_key: std::path::PathBuf,
}

impl Certs {
    pub fn new(dir: &std::path::Path) -> Certs {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let certs = Certs {
            ca: dir.join("ca.pem"),
            ca_der: ca.der().clone(),
            leaf: dir.join("leaf.pem"),
            leaf_key: dir.join("leaf.key"),
        };
        std::fs::write(&certs.ca, ca.pem()).unwrap();
        std::fs::write(&certs.leaf, leaf.pem()).unwrap();
        std::fs::write(&certs.leaf_key, leaf_key.serialize_pem()).unwrap();
        certs
    }
}
