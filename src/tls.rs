//! TLS for the HTTP checks: which server certificates are trusted, and why one was not, in
//! words.
//!
//! Verification is rustls' WebPKI verification against Mozilla's roots plus the certificates of
//! `--ca-file`, with one addition curl and OpenSSL make: a server certificate that *is* one of
//! the `--ca-file` certificates (byte for byte) is trusted as it is, its name and validity
//! period still checked. That is the usual self-signed certificate (`openssl req -x509 ...`
//! marks it `CA:TRUE`), which WebPKI refuses as "a CA used as an end entity".
//!
//! A shared leaf: the HTTP check builds its client with [`client_config`], and
//! [`crate::reason`] describes failures with [`describe`].

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};

/// The PEM certificates of a file's text; `Err` when a block is not a valid PEM certificate.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())
}

/// A client configuration trusting Mozilla's roots and `extra` (the `--ca-file` certificates).
///
/// # Errors
/// A certificate of `extra` that cannot serve as a trust anchor.
pub fn client_config(extra: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots
            .add(cert.clone())
            .map_err(|e| format!("a certificate cannot be trusted: {e}"))?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let verifier = Verifier {
        inner,
        pinned: extra.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// WebPKI, plus the `--ca-file` certificates trusted as end entities (see the module's doc).
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let err = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(verified) => return Ok(verified),
            Err(err) => err,
        };
        let pinned = self
            .pinned
            .iter()
            .any(|c| c.as_ref() == end_entity.as_ref());
        let ca_as_end_entity = is_ca_used_as_end_entity(&err);
        let unknown = matches!(
            err,
            TlsError::InvalidCertificate(CertificateError::UnknownIssuer)
        );
        if pinned && (ca_as_end_entity || unknown) {
            // Both refusals come only after webpki has checked the end entity's own properties,
            // its validity period first (rustls-webpki `verify_cert.rs`: `build_chain_inner`
            // calls `check_issuer_independent_properties`, which reads the validity before the
            // basic constraints): an expired certificate never gets here. The name is checked
            // here, as OpenSSL does for a certificate it trusts as it is (curl's partial chains).
            return verify_pinned_name(end_entity, server_name)
                .map(|()| ServerCertVerified::assertion());
        }
        if (unknown || ca_as_end_entity) && !pinned && is_self_signed(end_entity) {
            return Err(refusal(Refusal::SelfSigned));
        }
        Err(err)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The name check of a trusted-as-is certificate: its subjectAltName names, or — only when it
/// has none, as OpenSSL does — its subject's common name.
fn verify_pinned_name(cert: &CertificateDer<'_>, name: &ServerName<'_>) -> Result<(), TlsError> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert)?;
    match rustls::client::verify_server_name(&parsed, name) {
        Err(TlsError::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        })) if presented.is_empty() => {
            let wanted = name.to_str();
            let subject = webpki::EndEntityCert::try_from(cert)
                .map(|c| c.subject().to_vec())
                .unwrap_or_default();
            if common_names(&subject)
                .iter()
                .any(|cn| cn.eq_ignore_ascii_case(&wanted))
            {
                Ok(())
            } else {
                Err(TlsError::InvalidCertificate(
                    CertificateError::NotValidForNameContext {
                        expected: name.to_owned(),
                        // Spelled as webpki spells its names, for `describe`.
                        presented: common_names(&subject)
                            .iter()
                            .map(|cn| format!("DnsName(\"{cn}\")"))
                            .collect(),
                    },
                ))
            }
        }
        other => other,
    }
}

fn is_ca_used_as_end_entity(err: &TlsError) -> bool {
    matches!(
        err,
        TlsError::InvalidCertificate(CertificateError::Other(other))
            if matches!(other.0.downcast_ref::<webpki::Error>(), Some(webpki::Error::CaUsedAsEndEntity))
    )
}

fn is_self_signed(cert: &CertificateDer<'_>) -> bool {
    webpki::EndEntityCert::try_from(cert).is_ok_and(|c| c.issuer() == c.subject())
}

/// Why a certificate was refused, where rustls' own errors do not say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Self-signed and not among the trusted certificates.
    SelfSigned,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::SelfSigned => f.write_str("self-signed certificate"),
        }
    }
}

impl std::error::Error for Refusal {}

fn refusal(refusal: Refusal) -> TlsError {
    TlsError::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
        refusal,
    ))))
}

/// The common names (OID 2.5.4.3) of a DER `Name` given without its outer `SEQUENCE`.
#[must_use]
pub fn common_names(name: &[u8]) -> Vec<String> {
    const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
    let mut names = Vec::new();
    let mut rdns = name;
    while let Some((0x31, mut set, rest)) = der(rdns) {
        rdns = rest;
        while let Some((0x30, attribute, more)) = der(set) {
            set = more;
            let Some((0x06, oid, value)) = der(attribute) else {
                continue;
            };
            // UTF8String, PrintableString, IA5String, T61String.
            if let Some((0x0c | 0x13 | 0x16 | 0x14, text, _)) = der(value) {
                if oid == COMMON_NAME {
                    names.push(String::from_utf8_lossy(text).into_owned());
                }
            }
        }
    }
    names
}

/// One DER element: (tag, contents, what follows). `None` when malformed.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let width = usize::from(first & 0x7f);
        if width == 0 || width > 4 || rest.len() < width {
            return None;
        }
        let len = rest[..width]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[width..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// A TLS failure in words, with a hint, when the error (or one of its sources) is rustls'.
#[must_use]
pub fn describe(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let tls = find(err)?;
    Some(match tls {
        TlsError::InvalidCertificate(cert) => certificate(cert),
        TlsError::InvalidMessage(rustls::InvalidMessage::InvalidContentType) => {
            "TLS handshake failed: the server does not speak TLS on this port (hint: `http://` instead of `https://`?)".to_owned()
        }
        TlsError::AlertReceived(alert) => format!(
            "the server refused the TLS handshake ({} alert; hint: an old or misconfigured server? `--insecure` does not help with this)",
            alert_words(*alert)
        ),
        TlsError::PeerIncompatible(_) | TlsError::PeerMisbehaved(_) => {
            format!("TLS handshake failed: {tls}")
        }
        other => format!("TLS failed: {other}"),
    })
}

fn certificate(err: &CertificateError) -> String {
    let insecure = "or `--insecure` to skip verification";
    match err {
        CertificateError::Expired => {
            format!("the server's certificate has expired (hint: renew it, {insecure})")
        }
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "the server's certificate expired on {} (hint: renew it, {insecure})",
            date(*not_after)
        ),
        CertificateError::NotValidYet => format!(
            "the server's certificate is not valid yet (hint: check this machine's clock, {insecure})"
        ),
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "the server's certificate is not valid before {} (hint: check this machine's clock, {insecure})",
            date(*not_before)
        ),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } if presented.iter().all(|n| host_name(n).is_none()) => format!(
            "the server's certificate names no host, so it is not valid for `{}` (hint: reissue it with `-addext subjectAltName=DNS:{}`; the common name alone is not used)",
            expected.to_str(),
            expected.to_str()
        ),
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => {
            let hosts: Vec<&str> = presented.iter().filter_map(|n| host_name(n)).collect();
            let names: Vec<String> = hosts.iter().take(8).map(|n| format!("`{n}`")).collect();
            let more = if hosts.len() > 8 { ", ..." } else { "" };
            format!(
                "the server's certificate is for {}{more}, not `{}` (hint: ask for one of its names with `--host NAME`, {insecure})",
                names.join(", "),
                expected.to_str()
            )
        }
        CertificateError::NotValidForName => format!(
            "the server's certificate is not valid for this host name (hint: ask for one of its names with `--host NAME`, {insecure})"
        ),
        CertificateError::UnknownIssuer => format!(
            "the server's certificate is signed by an unknown authority (hint: pass that authority's certificate with `--ca-file`, {insecure})"
        ),
        CertificateError::BadSignature => {
            "the server's certificate has a bad signature (hint: is the certificate chain complete and in order?)".to_owned()
        }
        CertificateError::Revoked => "the server's certificate was revoked".to_owned(),
        CertificateError::Other(other) => {
            if other.0.downcast_ref::<Refusal>() == Some(&Refusal::SelfSigned) {
                format!(
                    "the server's certificate is self-signed and not trusted (hint: pass the certificate itself with `--ca-file`, {insecure})"
                )
            } else if matches!(
                other.0.downcast_ref::<webpki::Error>(),
                Some(webpki::Error::CaUsedAsEndEntity)
            ) {
                format!(
                    "the server presents a CA certificate as its own (hint: if it is the very certificate the server uses, pass it with `--ca-file`, {insecure})"
                )
            } else {
                format!("the server's certificate was refused: {other}")
            }
        }
        other => format!("the server's certificate was refused: {other}"),
    }
}

/// The host name or address in webpki's spelling of a certificate name: `DnsName("a.b")` →
/// `a.b`, `IpAddress(10.0.0.1)` → `10.0.0.1`; other kinds of names are no hosts.
fn host_name(presented: &str) -> Option<&str> {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|n| n.strip_suffix("\")"))
        .or_else(|| {
            presented
                .strip_prefix("IpAddress(")
                .and_then(|n| n.strip_suffix(')'))
        })
}

fn alert_words(alert: rustls::AlertDescription) -> String {
    use rustls::AlertDescription as A;
    match alert {
        A::HandshakeFailure => {
            "handshake failure: no protocol version or cipher in common".to_owned()
        }
        A::ProtocolVersion => "protocol version: no TLS version in common".to_owned(),
        A::UnrecognisedName => "unrecognised name: it serves no such host".to_owned(),
        A::CertificateRequired => "certificate required: it wants a client certificate".to_owned(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// `2024-01-31`.
fn date(time: UnixTime) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(time.as_secs());
    let text = humantime::format_rfc3339_seconds(at).to_string();
    text.split('T').next().unwrap_or(&text).to_owned()
}

/// rustls' error behind a reqwest/hyper/io error. `io::Error::source` skips the error it wraps,
/// so each level's wrapped error is looked at too.
fn find<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a TlsError> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<TlsError>() {
            return Some(tls);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(found) = find(inner) {
                    return Some(found);
                }
            }
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_names_are_read_from_a_subject() {
        // SEQUENCE-less Name: SET { SEQUENCE { OID 2.5.4.3, UTF8String "localhost" } }
        let mut attribute = vec![0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x09];
        attribute.extend_from_slice(b"localhost");
        let mut set = vec![0x30, u8::try_from(attribute.len()).unwrap()];
        set.extend(attribute);
        let mut name = vec![0x31, u8::try_from(set.len()).unwrap()];
        name.extend(set);
        assert_eq!(common_names(&name), vec!["localhost".to_owned()]);
        assert!(common_names(&[0x31, 0x85, 0xff]).is_empty());
        assert!(common_names(&[]).is_empty());
    }

    #[test]
    fn dates_are_days() {
        assert_eq!(
            date(UnixTime::since_unix_epoch(std::time::Duration::ZERO)),
            "1970-01-01"
        );
    }
}
