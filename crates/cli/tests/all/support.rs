//! Running the real `skiff` binary in a private root, and reading what a user would see.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Skiff {
    root: tempfile::TempDir,
}

/// What a user sees after a command.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Skiff {
    pub fn new() -> Self {
        Skiff {
            root: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_skiff"));
        cmd.env("SKIFF_ROOT", self.root.path())
            .env_remove("SKIFF_LOG");
        cmd
    }

    /// `skiff ARGS...` with empty stdin.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_with(self.command().args(args), b"")
    }

    pub fn run_with(&self, cmd: &mut Command, stdin: &[u8]) -> Outcome {
        let started = Instant::now();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("failed to start skiff");
        let mut input = child.stdin.take().unwrap();
        let stdin = stdin.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&stdin);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        let outcome = Outcome {
            code: output.status.code().expect("skiff was killed by a signal"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        };
        eprintln!("{outcome:#?}");
        outcome
    }
}

impl Outcome {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        self
    }

    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code: {self:#?}");
        self
    }

    #[track_caller]
    pub fn stdout_is(&self, expected: &str) -> &Self {
        assert_eq!(self.stdout, expected, "unexpected stdout: {self:#?}");
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stdout_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stdout.contains(needle),
            "stdout has {needle:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}: {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "stderr has {needle:?}: {self:#?}"
        );
        self
    }
}

/// A temp directory holding the given files.
pub fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, contents) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    dir
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A port free on 127.0.0.1 now (for a server that must be told its port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A certificate for `localhost` that no root signed, and its key (`cert.pem`, `key.pem` in
/// `dir`, the key readable by its owner only), made with `openssl`.
pub fn self_signed_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (scripts/install-test-deps.sh)");
    assert!(made.status.success(), "{made:?}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (cert, key)
}

/// A certificate authority of the test's own (`ca.pem`) and a certificate for `localhost` it
/// signed, with its key (`cert.pem`, `key.pem` in `dir`, the key readable by its owner only),
/// made with `openssl`.
pub fn certificate_signed_by_a_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca-key.pem"));
    let (cert, key, request) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert.csr"),
    );
    let extensions = write_file(
        dir,
        "cert.ext",
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n",
    );
    let openssl = |args: &[&std::ffi::OsStr]| {
        let made = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (scripts/install-test-deps.sh)");
        assert!(made.status.success(), "{made:?}");
    };
    let os = |s: &'static str| std::ffi::OsStr::new(s);
    openssl(&[
        os("req"),
        os("-x509"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-days"),
        os("1"),
        os("-subj"),
        os("/CN=Skiff test CA"),
        os("-keyout"),
        ca_key.as_os_str(),
        os("-out"),
        ca.as_os_str(),
    ]);
    openssl(&[
        os("req"),
        os("-newkey"),
        os("rsa:2048"),
        os("-nodes"),
        os("-subj"),
        os("/CN=localhost"),
        os("-keyout"),
        key.as_os_str(),
        os("-out"),
        request.as_os_str(),
    ]);
    openssl(&[
        os("x509"),
        os("-req"),
        os("-in"),
        request.as_os_str(),
        os("-CA"),
        ca.as_os_str(),
        os("-CAkey"),
        ca_key.as_os_str(),
        os("-CAcreateserial"),
        os("-days"),
        os("1"),
        os("-extfile"),
        extensions.as_os_str(),
        os("-out"),
        cert.as_os_str(),
    ]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (ca, cert, key)
}

pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// Builds, into `skiff`'s store as `tag`, the file-reading guest with `data/hello.txt`
/// (`packaged`) packaged at `/data` by `[[files]]`; returns the app's source directory.
pub fn build_reader_with_files(skiff: &Skiff, tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        skiff_test_programs_artifacts::P2_CLI_READ_FILE,
        dir.path().join("app.wasm"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/hello.txt"), "packaged\n").unwrap();
    std::fs::write(
        dir.path().join("skiff.toml"),
        "manifest_version = 1\n\n[app]\nname = \"reader\"\nversion = \"1.0.0\"\n\n\
         [build]\nwasm = \"app.wasm\"\n\n[[files]]\nsource = \"data\"\ndestination = \"/data\"\n",
    )
    .unwrap();
    skiff
        .run(&["build", "-t", tag, path_str(dir.path())])
        .success();
    dir
}

/// OpenVINO's runtime libraries, which wasi-nn's tests give Skiff as `LD_LIBRARY_PATH`:
/// `SKIFF_OPENVINO_DIR`, else `openvino` in the target directory (where
/// `scripts/fetch-openvino.sh` puts them). Missing is a failure with the fix, never a skip.
pub fn openvino_dir() -> PathBuf {
    let dir = std::env::var_os("SKIFF_OPENVINO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // <target>/<profile>/skiff
            let bin = Path::new(env!("CARGO_BIN_EXE_skiff"));
            bin.parent()
                .and_then(Path::parent)
                .unwrap()
                .join("openvino")
        });
    assert!(
        dir.join("libopenvino_c.so").exists(),
        "OpenVINO's runtime is not in {}: run scripts/fetch-openvino.sh (or set SKIFF_OPENVINO_DIR)",
        dir.display()
    );
    dir
}

/// The OpenVINO IR model the wasi-nn tests run: y = x + 1 on an f32 tensor of shape [1, 4]
/// (`crates/cli/tests/nn/make-model.py`).
pub fn nn_model_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nn/add-one")
}

/// An app directory: `skiff.toml` plus `app.wasm` (a copy of `wasm`) and `extra` files.
pub fn app_dir(wasm: &str, manifest_tail: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(wasm, dir.path().join("app.wasm")).unwrap();
    let manifest = format!(
        "manifest_version = 1\n\n[app]\nname = \"hello\"\nversion = \"1.0.0\"\n\n[build]\nwasm = \"app.wasm\"\n{manifest_tail}"
    );
    std::fs::write(dir.path().join("skiff.toml"), manifest).unwrap();
    for (name, contents) in extra {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
    dir
}

/// A Spin app of the SDK 5 and 7 test components (`app.wasm`, `app7.wasm`) and the Spin 1
/// module (`app1.wasm`, as Spin's Go SDK v2 builds one) as `spin_toml`
/// describes it, run in a daemon of the test's own as `NAME` with `--network NETWORK`, published on a free port.
pub struct SpinApp {
    pub daemon: crate::daemon::Daemon,
    pub port: String,
    _dir: tempfile::TempDir,
}

impl SpinApp {
    pub fn run(name: &str, spin_toml: &str, network: &str) -> SpinApp {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            skiff_test_programs_artifacts::SPIN_SDK_HTTP,
            dir.path().join("app.wasm"),
        )
        .unwrap();
        std::fs::copy(
            skiff_test_programs_artifacts::SPIN_SDK7_HTTP,
            dir.path().join("app7.wasm"),
        )
        .unwrap();
        std::fs::copy(
            skiff_test_programs_artifacts::SPIN1_HTTP_P1,
            dir.path().join("app1.wasm"),
        )
        .unwrap();
        let manifest = dir.path().join("spin.toml");
        std::fs::write(&manifest, spin_toml).unwrap();
        let daemon = crate::daemon::Daemon::start();
        let port = crate::support::free_port().to_string();
        daemon
            .run_d(
                name,
                &[
                    "--network",
                    network,
                    "-p",
                    &port,
                    manifest.to_str().unwrap(),
                ],
            )
            .success();
        SpinApp {
            daemon,
            port,
            _dir: dir,
        }
    }

    /// GET `path`: the status and the body.
    pub fn get(&self, path: &str) -> (u16, String) {
        let (status, body) = crate::http::get(&format!("http://127.0.0.1:{}{path}", self.port));
        (status.as_u16(), body)
    }

    /// POST `statement` to `path` (a component's `/pg4/query`, SDK 7's `/pg/query`): the status
    /// and the body.
    pub fn query(&self, path: &str, statement: &str) -> (u16, String) {
        let response = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{}{path}", self.port))
            .body(statement.to_string())
            .send()
            .unwrap();
        (response.status().as_u16(), response.text().unwrap())
    }
}
