//! A real OCI registry (Debian's `docker-registry`, the CNCF distribution server) on a loopback port,
//! for the tests of `skiff push`, `pull` and `login`; plus a minimal HTTP/1.1 client to inspect it.

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::free_port;

const BINARY: &str = "docker-registry";
const MISSING: &str = "docker-registry not found: apt-get install docker-registry (see .ci/run)";
const START_DEADLINE: Duration = Duration::from_secs(20);
const PORT_ATTEMPTS: usize = 5;

/// Every manifest type the tests may push; the registry answers 404 for an OCI manifest unless the
/// request's `Accept` names its media type.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// A running registry, killed when dropped. Plain HTTP; storage in a private temp dir.
pub struct Registry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    auth: Option<(String, String)>,
    child: Child,
    dir: tempfile::TempDir,
}

/// One HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Registry {
    /// A registry that needs no credentials.
    pub fn start() -> Registry {
        Registry::launch(None, "127.0.0.1", false)
    }

    /// A registry listening on `ip` (plain HTTP) instead of loopback.
    pub fn start_on(ip: &str) -> Registry {
        Registry::launch(None, ip, false)
    }

    /// A registry that needs HTTP basic auth as `user`/`password` (htpasswd, bcrypt).
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Registry::launch(
            Some((user.to_owned(), password.to_owned())),
            "127.0.0.1",
            false,
        )
    }

    /// A registry on loopback that speaks only HTTPS, with a self-signed certificate that no
    /// authority vouches for (`crates/image/testdata`), and needs basic auth as `user`/`password`.
    /// For Skiff's own commands only: the helpers below speak plain HTTP.
    pub fn start_tls_with_auth(user: &str, password: &str) -> Registry {
        Registry::launch(
            Some((user.to_owned(), password.to_owned())),
            "127.0.0.1",
            true,
        )
    }

    /// `ADDR/REPO:TAG`, the reference `skiff push`/`pull` take.
    pub fn url(&self, repo_and_tag: &str) -> String {
        format!("{}/{repo_and_tag}", self.addr)
    }

    /// Whether `HEAD /v2/REPO/manifests/REFERENCE` (a tag or digest) finds a manifest.
    pub fn manifest_exists(&self, repo: &str, reference: &str) -> bool {
        let path = format!("/v2/{repo}/manifests/{reference}");
        let response = self.request("HEAD", &path, &[("Accept", MANIFEST_ACCEPT)], b"");
        match response.status {
            200 => true,
            404 => false,
            _ => panic!("HEAD {path}: {response:#?}"),
        }
    }

    /// The body of `GET /v2/_catalog`, e.g. `{"repositories":["a/b"]}`.
    pub fn catalog(&self) -> String {
        let response = self.request("GET", "/v2/_catalog", &[], b"");
        assert_eq!(response.status, 200, "GET /v2/_catalog: {response:#?}");
        response.text()
    }

    /// A request to the registry, with the registry's credentials if it has any. `path` may also
    /// be an absolute `http://ADDR/...` URL, as in an upload's `Location`.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let authorization = self.auth.as_ref().map(|(u, p)| basic_auth(u, p));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(value) = &authorization {
            all.push(("Authorization", value));
        }
        let path = path
            .strip_prefix(&format!("http://{}", self.addr))
            .unwrap_or(path);
        http(&self.addr, method, path, &all, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.log()))
    }

    /// What the registry has written to stderr so far.
    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    fn launch(auth: Option<(String, String)>, ip: &str, tls: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let auth_yaml = match &auth {
            None => String::new(),
            Some((user, password)) => {
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, htpasswd(user, password)).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: skiff-test\n    path: '{}'\n",
                    file.display()
                )
            }
        };
        let tls_yaml = if tls {
            let certificates = Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/testdata");
            format!(
                "  tls:\n    certificate: '{}'\n    key: '{}'\n",
                certificates.join("untrusted-registry.crt").display(),
                certificates.join("untrusted-registry.key").display()
            )
        } else {
            String::new()
        };
        // Answers without credentials when the registry is ready: proof it is ours, not a
        // registry of another test that won a race for the port, is the header below. Over
        // plain HTTP, a TLS registry answers 400 without it.
        let ready_status = match (tls, &auth) {
            (true, _) => 400,
            (false, Some(_)) => 401,
            (false, None) => 200,
        };
        let token = dir.path().file_name().unwrap().to_str().unwrap().to_owned();
        let config = dir.path().join("config.yml");
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let addr = format!("{ip}:{port}");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\n\
                     log:\n  level: warn\n  accesslog:\n    disabled: true\n\
                     storage:\n  filesystem:\n    rootdirectory: '{}'\n  delete:\n    enabled: true\n\
                     http:\n  addr: {addr}\n  secret: skiff-test-secret\n  \
                     headers:\n    X-Skiff-Registry: ['{token}']\n\
                     {tls_yaml}{auth_yaml}",
                    dir.path().join("storage").display(),
                ),
            )
            .unwrap();
            let log = File::create(dir.path().join("registry.log")).unwrap();
            let mut child = match Command::new(BINARY)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
            {
                Ok(child) => child,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{MISSING}"),
                Err(e) => panic!("failed to start {BINARY}: {e}"),
            };
            let token = (!tls).then_some(token.as_str());
            match wait_ready(&mut child, &addr, dir.path(), ready_status, token) {
                Ok(()) => {
                    return Registry {
                        addr,
                        auth,
                        child,
                        dir,
                    };
                }
                Err(log) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // Another process took the port between our probe and the registry's bind.
                    if !log.contains("address already in use") {
                        panic!("{BINARY} at {addr} did not become ready: {log}");
                    }
                }
            }
        }
        panic!("{BINARY}: no free port after {PORT_ATTEMPTS} attempts");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `GET /v2/` until it answers `status`, with our marker header if `token` is given;
/// `Err(log)` if the registry exits or the deadline passes.
fn wait_ready(
    child: &mut Child,
    addr: &str,
    dir: &Path,
    status: u16,
    token: Option<&str>,
) -> Result<(), String> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return Err(format!("exited with {exit}\n{}", read_log(dir)));
        }
        if let Ok(response) = http(addr, "GET", "/v2/", &[], b"")
            && response.status == status
            && token.is_none_or(|token| response.header("X-Skiff-Registry") == Some(token))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no {status} from GET /v2/ within {START_DEADLINE:?}\n{}",
                read_log(dir)
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default()
}

/// An htpasswd line with a bcrypt hash, from apache2-utils' `htpasswd`.
fn htpasswd(user: &str, password: &str) -> String {
    let output = Command::new("htpasswd")
        .args(["-Bbn", user, password])
        .output()
        .unwrap_or_else(|e| panic!("htpasswd: {e}: apt-get install apache2-utils (see .ci/run)"));
    assert!(output.status.success(), "htpasswd: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// The value of an `Authorization` header for HTTP basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let input = format!("{user}:{password}");
    let mut out = String::from("Basic ");
    for chunk in input.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;

    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    };
    if method == "HEAD" {
        response.body.clear();
    } else if response
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        response.body = dechunk(&response.body).ok_or_else(|| bad("bad chunked body"))?;
    }
    Ok(response)
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

#[test]
fn registry_starts() {
    let started = Instant::now();
    let registry = Registry::start();
    eprintln!("registry up in {:?}", started.elapsed());
    let response = http(&registry.addr, "GET", "/v2/", &[], b"").unwrap();
    assert_eq!(response.status, 200, "{response:#?}");
    assert_eq!(registry.catalog(), "{\"repositories\":[]}\n");
}

#[test]
fn registry_with_auth_rejects_anonymous() {
    let registry = Registry::start_with_auth("alice", "s3cret pass");
    let get = |headers: &[(&str, &str)]| http(&registry.addr, "GET", "/v2/", headers, b"").unwrap();

    let anonymous = get(&[]);
    assert_eq!(anonymous.status, 401, "{anonymous:#?}");
    assert_eq!(
        anonymous.header("WWW-Authenticate"),
        Some("Basic realm=\"skiff-test\"")
    );
    let right = basic_auth("alice", "s3cret pass");
    assert_eq!(get(&[("Authorization", &right)]).status, 200);
    let wrong = basic_auth("alice", "s3cret");
    assert_eq!(get(&[("Authorization", &wrong)]).status, 401);
    // The harness's own requests carry the credentials.
    assert_eq!(registry.catalog(), "{\"repositories\":[]}\n");
}

/// Pushes a minimal OCI manifest over the HTTP API, as `skiff push` will, and checks the helpers
/// see it.
#[test]
fn registry_stores_a_pushed_manifest() {
    // sha256 of `{}`, the OCI empty descriptor.
    const EMPTY: &str = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
    let registry = Registry::start_with_auth("bob", "pw");
    assert_eq!(
        registry.url("demo/hello:v1"),
        format!("{}/demo/hello:v1", registry.addr)
    );

    // A single `POST ...?digest=` upload is not monolithic here: it answers 202 and ignores the
    // body. POST, then PUT the bytes to the `Location` (an absolute URL) with the digest.
    let started = registry.request("POST", "/v2/demo/hello/blobs/uploads/", &[], b"");
    assert_eq!(started.status, 202, "{started:#?}");
    let location = started.header("Location").unwrap();
    let separator = if location.contains('?') { '&' } else { '?' };
    let put = registry.request(
        "PUT",
        &format!("{location}{separator}digest={EMPTY}"),
        &[("Content-Type", "application/octet-stream")],
        b"{}",
    );
    assert_eq!(put.status, 201, "{put:#?}");

    let manifest = format!(
        "{{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\
         \"config\":{{\"mediaType\":\"application/vnd.oci.empty.v1+json\",\"digest\":\"{EMPTY}\",\
         \"size\":2}},\"layers\":[]}}"
    );
    let put = registry.request(
        "PUT",
        "/v2/demo/hello/manifests/v1",
        &[("Content-Type", "application/vnd.oci.image.manifest.v1+json")],
        manifest.as_bytes(),
    );
    assert_eq!(put.status, 201, "{put:#?}");
    let digest = put.header("Docker-Content-Digest").unwrap().to_owned();

    assert!(registry.manifest_exists("demo/hello", "v1"));
    assert!(registry.manifest_exists("demo/hello", &digest));
    assert!(!registry.manifest_exists("demo/hello", "v2"));
    assert_eq!(registry.catalog(), "{\"repositories\":[\"demo/hello\"]}\n");
}
