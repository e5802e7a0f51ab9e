//! `check http` against certificates made by the real `openssl` command, the way people make
//! them for nginx: the usual self-signed one (which OpenSSL marks `CA:TRUE`), one without
//! subjectAltName, expired and not-yet-valid ones, one for another name, and a leaf signed by a
//! private CA. Each refusal is said for people, with the flag that fixes it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{closed_port, http, normalize, stackctl};

/// A directory of keys and certificates made with `openssl`.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("the `openssl` command runs");
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `openssl req -x509 -newkey rsa:2048 -nodes ...`: self-signed, `CA:TRUE` (OpenSSL's
    /// default `v3_ca` extensions), as the nginx guides make it.
    fn self_signed(&self, name: &str, subject: &str, san: Option<&str>) {
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        let subj = format!("/CN={subject}");
        let mut args = vec![
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &cert,
            "-days", "30", "-subj", &subj,
        ];
        let ext;
        if let Some(san) = san {
            ext = format!("subjectAltName={san}");
            args.extend(["-addext", &ext]);
        }
        self.openssl(&args);
    }

    /// A self-signed certificate for `localhost` valid only between two dates (`openssl ca
    /// -selfsign` is the one way OpenSSL 3.0 sets both).
    fn dated(&self, name: &str, start: &str, end: &str) {
        std::fs::write(
            self.path("ca.cnf"),
            "[ca]\ndefault_ca = local\n[local]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
             default_md = sha256\npolicy = any\ncopy_extensions = copy\nunique_subject = no\n[any]\ncommonName = supplied\n",
        )
        .unwrap();
        std::fs::write(self.path("index.txt"), "").unwrap();
        std::fs::write(self.path("serial"), "01\n").unwrap();
        let (key, csr, cert) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ]);
        self.openssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-selfsign",
            "-keyfile",
            &key,
            "-in",
            &csr,
            "-out",
            &cert,
            "-startdate",
            start,
            "-enddate",
            end,
            "-notext",
        ]);
    }

    /// A private CA and a `localhost` leaf it signs; `leaf-chain.pem` is what nginx serves.
    fn private_ca(&self) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Chat Private CA",
        ]);
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(self.path("leaf.ext"), "subjectAltName=DNS:localhost\n").unwrap();
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "30",
            "-extfile",
            "leaf.ext",
        ]);
        let chain = self.read("leaf.pem") + &self.read("ca.pem");
        std::fs::write(self.path("leaf-chain.pem"), chain).unwrap();
    }

    /// An HTTPS server presenting `NAME.pem` (or `chain`) with `NAME.key`.
    fn serve(&self, name: &str, chain: Option<&str>) -> u16 {
        let chain = self.read(chain.unwrap_or(&format!("{name}.pem")));
        http::start_tls_with(&chain, &self.read(&format!("{name}.key"))).port()
    }
}

fn check(url: &str, extra: &[&str], dir: &Path) -> crate::support::Output {
    let mut args = vec!["check", "http", url];
    args.extend_from_slice(extra);
    stackctl(&args).current_dir(dir).output()
}

#[test]
fn openssl_certificates_are_judged_like_curl_and_refusals_say_why() {
    let pki = Pki::new();
    pki.self_signed("self", "localhost", Some("DNS:localhost"));
    pki.self_signed("cn-only", "localhost", None);
    pki.self_signed(
        "other",
        "chat.example.org",
        Some("DNS:chat.example.org,DNS:www.chat.example.org"),
    );
    pki.dated("expired", "20200101000000Z", "20200201000000Z");
    pki.dated("future", "20990101000000Z", "20990201000000Z");
    pki.private_ca();

    let dir = pki.dir.path();
    let url = |port: u16| format!("https://localhost:{port}/");
    let self_signed = url(pki.serve("self", None));
    let cn_only = url(pki.serve("cn-only", None));
    let other = url(pki.serve("other", None));
    let expired = url(pki.serve("expired", None));
    let future = url(pki.serve("future", None));
    let leaf = url(pki.serve("leaf", Some("leaf-chain.pem")));
    let plain = format!("https://{}/health", http::start());
    let tls_as_plain = self_signed.replace("https://", "http://");

    // Trusted: each exits 0.
    for (target, extra) in [
        (&self_signed, &["--ca-file", "self.pem"][..]),
        (
            &self_signed,
            &["--ca-file", "self.pem", "--body-contains", "secure"][..],
        ),
        (&cn_only, &["--ca-file", "cn-only.pem"][..]),
        (
            &other,
            &["--ca-file", "other.pem", "--host", "www.chat.example.org"][..],
        ),
        (&leaf, &["--ca-file", "ca.pem"][..]),
        (&leaf, &["--ca-file", "leaf.pem"][..]),
        (&self_signed, &["--insecure"][..]),
        (&expired, &["--insecure"][..]),
    ] {
        let out = check(target, extra, dir);
        assert_eq!(out.code, Some(0), "{extra:?}: {out:#?}");
    }
    // `curl --cacert` agrees on the usual self-signed certificate.
    let curl = Command::new("curl")
        .args(["-fsS", "--cacert", "self.pem", &self_signed])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(curl.status.success(), "{curl:?}");

    // Refused: each exits 1 with one line saying why.
    let mut transcript = String::new();
    for (what, target, extra) in [
        ("self-signed, not trusted", &self_signed, &[][..]),
        (
            "self-signed, another certificate trusted",
            &self_signed,
            &["--ca-file", "cn-only.pem"][..],
        ),
        (
            "trusted, asked by address",
            &self_signed.replace("localhost", "127.0.0.1"),
            &["--ca-file", "self.pem"][..],
        ),
        (
            "no subjectAltName, asked by address",
            &cn_only.replace("localhost", "127.0.0.1"),
            &["--ca-file", "cn-only.pem"][..],
        ),
        ("another name", &other, &["--ca-file", "other.pem"][..]),
        (
            "expired, trusted",
            &expired,
            &["--ca-file", "expired.pem"][..],
        ),
        (
            "not yet valid, trusted",
            &future,
            &["--ca-file", "future.pem"][..],
        ),
        ("private CA, not trusted", &leaf, &[][..]),
        ("plain HTTP on https://", &plain, &[][..]),
        ("TLS on http://", &tls_as_plain, &[][..]),
        (
            "nothing listening",
            &format!("https://localhost:{}/", closed_port()),
            &[][..],
        ),
        (
            "no such host",
            &"https://no-such-host.invalid/".to_owned(),
            &[][..],
        ),
    ] {
        let out = check(target, extra, dir);
        assert_eq!(out.code, Some(1), "{what}: {out:#?}");
        let line = out.one_line();
        assert!(
            !line.contains("Other(") && !line.contains("DnsName("),
            "debug text: {line}"
        );
        let _ = writeln!(transcript, "# {what}\n{line}");
    }
    insta::assert_snapshot!(normalize(&transcript));
}
