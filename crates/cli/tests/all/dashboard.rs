//! The dashboard end to end: a real daemon, a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, scripts/install-test-deps.sh) driven over WebDriver, and plain HTTP for
//! the refusals. With SKIFF_SCREENSHOTS=DIR set, the browser test saves its views there as PNGs
//! (docs/images/ holds the ones docs/dashboard.md shows).

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use skiff_test_programs_artifacts::{
    P1_CLI_SLEEP, P2_HTTP_HELLO, P2_HTTP_LOG, P2_HTTP_READY_AFTER,
};

use crate::daemon::{Daemon, state};
use crate::support::{build_reader_with_files, free_port, path_str};

const DRIVER: &str = "chromedriver";
const MISSING: &str = "chromedriver not found: apt-get install chromium chromium-driver \
                       (scripts/install-test-deps.sh does)";
/// How long the page may take to show what happened (its feed is each second; charts sample
/// every 5 s and the app's page reloads them every 5 s).
const PATIENCE: Duration = Duration::from_secs(30);

/// Reads the page with `read` until `check` holds of what it read, and returns that; fails after
/// [`PATIENCE`], showing what was read last.
async fn wait_for<T: std::fmt::Debug>(
    what: &str,
    read: impl AsyncFn() -> T,
    check: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = read().await;
        if check(&seen) {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "the page never showed {what}: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A headless Chromium under its own chromedriver, ended with the test.
struct Browser {
    driver: Child,
    client: Option<Client>,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        // A group of its own, with the browser it starts: a failed test ends both (see Drop).
        let driver = Command::new(DRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(MISSING);
        let mut browser = Browser {
            driver,
            client: None,
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--force-device-scale-factor=1",
            ]}),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    browser.client = Some(client);
                    return browser;
                }
                Err(e) if Instant::now() > deadline => panic!("chromedriver did not start: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// The text of the first element matching `css`, if there is one.
    async fn text(&self, css: &str) -> Option<String> {
        let element = self.client().find(Locator::Css(css)).await.ok()?;
        element.text().await.ok()
    }

    async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let element = self.client().find(Locator::Css(css)).await.ok()?;
        element.attr(name).await.ok().flatten()
    }

    /// The text and the tooltip of the element matching `css`, read in one step: the page
    /// replaces its rows on every update, so an element found first and read later can be gone.
    async fn text_and_title(&self, css: &str) -> Option<(String, String)> {
        let found = self
            .client()
            .execute(
                "const e = document.querySelector(arguments[0]);\n\
                 return e ? [e.textContent, e.title] : null;",
                vec![css.into()],
            )
            .await
            .ok()?;
        serde_json::from_value(found).ok()
    }

    /// The texts of every element matching `css`.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self
            .client()
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_default()
        {
            texts.push(element.text().await.unwrap_or_default());
        }
        texts
    }

    /// Waits until an element matching `css` has the text `text`.
    async fn wait_line(&self, css: &str, text: &str) {
        wait_for(
            &format!("`{text}` in `{css}`"),
            async || self.texts(css).await,
            |texts| texts.iter().any(|t| t == text),
        )
        .await;
    }

    /// Waits until `check` holds of the text of the element `css`.
    async fn wait_text(&self, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
        wait_for(
            &format!("{what} (`{css}`)"),
            async || self.text(css).await,
            |text| text.as_deref().is_some_and(&check),
        )
        .await
        .expect("checked")
    }

    async fn click(&self, css: &str) {
        let element = self
            .client()
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"));
        element.click().await.unwrap();
    }

    /// Saves the page as `DIR/NAME.png` when SKIFF_SCREENSHOTS=DIR is set.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("SKIFF_SCREENSHOTS") else {
            return;
        };
        let png = self.client().screenshot().await.unwrap();
        let path = PathBuf::from(dir).join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After a failure the session was not closed: Chromium, left to itself, would outlive
        // its driver. Both are in the driver's process group.
        // SAFETY: kill has no preconditions; the group is the driver's own (process_group(0)).
        unsafe { libc::kill(-(self.driver.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.driver.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn dashboard(daemon: &Daemon) -> (String, String) {
    let info = daemon.info();
    (
        info["dashboard"].as_str().unwrap().to_string(),
        info["admin_token"].as_str().unwrap().to_string(),
    )
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[test]
fn the_dashboard_shows_apps_traffic_and_logs_live_and_stops_an_app() {
    // Requests priced, CPU and memory free: the bill is exact.
    let daemon = Daemon::start_with(&["--prices", "request=0.5,cpu-second=0,gb-second=0"]);
    daemon
        .run_d("sleeper", &["-e", "MODE=batch", P1_CLI_SLEEP, "600000"])
        .success();
    daemon.run_d("web", &["-p", "0", P2_HTTP_LOG]).success();
    daemon.wait_for("sleeper", "running", |a| state(a) == "running");
    let web = daemon.app("web")["http"]["ports"][0]
        .as_str()
        .unwrap()
        .to_string();
    // On a thread of its own: reqwest's blocking client may not be dropped in an async context.
    let request = |path: &str| {
        let url = format!("http://{web}{path}");
        let answer = std::thread::spawn(move || {
            let response = http().get(url).send().unwrap();
            (response.status(), response.text().unwrap())
        });
        assert_eq!(answer.join().unwrap(), (StatusCode::OK, "logged\n".into()));
    };
    // An image in the store, for the images view.
    let _source = build_reader_with_files(&daemon.skiff, "reader:1.0");
    let (url, token) = dashboard(&daemon);

    runtime().block_on(async {
        let browser = Browser::start().await;
        // What `skiff dashboard` opens: the token goes into a cookie and out of the address.
        browser
            .client()
            .goto(&format!("{url}?token={token}"))
            .await
            .unwrap();
        assert_eq!(browser.client().current_url().await.unwrap().as_str(), url);

        // The list: a command and an HTTP app, with their states.
        let row = |app: &str, cell: &str| format!("#apps tr[data-app=\"{app}\"] td.{cell}");
        browser
            .wait_text(&row("sleeper", "state"), "the command running", |t| {
                t == "running"
            })
            .await;
        browser
            .wait_text(&row("web", "state"), "the HTTP app serving", |t| {
                t == "serving"
            })
            .await;
        assert_eq!(
            browser.text(&row("sleeper", "kind")).await.unwrap(),
            "command"
        );
        assert_eq!(browser.text(&row("web", "kind")).await.unwrap(), "http");
        assert_eq!(browser.text(&row("web", "requests")).await.unwrap(), "0");

        // Requests move its counter without a reload.
        for i in 0..3 {
            request(&format!("/dash-{i}"));
        }
        browser
            .wait_text(&row("web", "requests"), "3 requests", |t| t == "3")
            .await;
        // The filter narrows the list.
        browser
            .client()
            .find(Locator::Css("#search"))
            .await
            .unwrap()
            .send_keys("sleep")
            .await
            .unwrap();
        browser
            .wait_text("#count", "one app matching", |t| t.starts_with("1 of 2"))
            .await;
        assert!(browser.text(&row("web", "state")).await.is_none());
        browser.client().refresh().await.unwrap();
        browser
            .wait_text(&row("web", "state"), "the list again", |t| t == "serving")
            .await;
        browser.screenshot("dashboard-apps").await;

        // The app's page: its logs so far, then a line written now appears live, stdout and
        // stderr told apart.
        browser
            .client()
            .goto(&format!("{url}#/apps/web"))
            .await
            .unwrap();
        browser
            .wait_text("#logs .line.stdout .text", "the stored stdout", |t| {
                t == "handled /dash-0"
            })
            .await;
        request("/written-now");
        browser
            .wait_line("#logs .line.stdout .text", "handled /written-now")
            .await;
        browser
            .wait_line("#logs .line.stderr .text", "warn /written-now")
            .await;
        assert!(
            !browser
                .texts("#logs .line.stdout .text")
                .await
                .iter()
                .any(|t| t.starts_with("warn")),
            "stderr shown as stdout"
        );
        // Its chart of requests per second moves once the sampler has seen them.
        wait_for(
            "the requests chart moving",
            async || {
                browser
                    .attr("svg.chart[data-series=\"rate\"]", "data-total")
                    .await
                    .and_then(|t| t.parse::<f64>().ok())
                    .unwrap_or(0.0)
            },
            |total| *total > 0.0,
        )
        .await;
        // Counted once each instance is gone, which may be just after its log lines show.
        wait_for(
            "the bill counting all 4 requests",
            async || {
                browser
                    .text("#bill dd[data-bill=\"requests\"]")
                    .await
                    .unwrap_or_default()
            },
            |requests| requests == "4",
        )
        .await;
        assert_eq!(
            browser.text("#bill dd[data-bill=\"cost\"]").await.unwrap(),
            "2.00"
        );
        browser.client().set_window_size(1280, 1600).await.unwrap();
        browser.screenshot("dashboard-app").await;

        // Stop, confirmed in the dialog: the app stops, and `skiff ps` agrees.
        browser.click("button[data-action=\"stop\"]").await;
        browser
            .wait_text("#confirm-text", "the confirmation", |t| {
                t.starts_with("Stop")
            })
            .await;
        browser.screenshot("dashboard-confirm").await;
        browser.click("#confirm-ok").await;
        browser
            .wait_text("#app-state", "the app stopped", |t| t == "exited")
            .await;
        daemon.wait_for("web", "stopped", |a| state(a) == "exited");
        daemon.run(&["ps"]).success().stdout_lacks("web");
        daemon
            .run(&["ps", "-a"])
            .success()
            .stdout_has("web")
            .stdout_has("exited");

        browser.client().set_window_size(1280, 900).await.unwrap();
        browser
            .client()
            .goto(&format!("{url}#/images"))
            .await
            .unwrap();
        browser
            .wait_text(
                "#images tr[data-image=\"reader:1.0\"] td:first-child",
                "the image",
                |t| t == "reader",
            )
            .await;
        browser.screenshot("dashboard-images").await;
        browser.close().await;
    });
}

#[test]
fn the_dashboard_shows_what_health_checks_say() {
    let daemon = Daemon::start();
    let state = tempfile::tempdir().unwrap();
    let volume = format!("{}:/state", path_str(state.path()));
    let (url, token) = dashboard(&daemon);
    let row = |app: &str| format!("#apps tr[data-app=\"{app}\"] td.health");

    runtime().block_on(async {
        let browser = Browser::start().await;
        browser
            .client()
            .goto(&format!("{url}?token={token}"))
            .await
            .unwrap();
        browser
            .wait_text("#count", "the empty list", |t| t.starts_with('0'))
            .await;
        // Created with the page open: `starting` until its first check, 3 s in, passes.
        daemon
            .run_d(
                "fine",
                &[
                    "-p",
                    "0",
                    "--health-path",
                    "/healthz",
                    "--health-interval",
                    "3s",
                    P2_HTTP_HELLO,
                ],
            )
            .success();
        browser
            .wait_text(&row("fine"), "a check starting", |t| t == "starting")
            .await;
        browser
            .wait_text(&row("fine"), "a check passing", |t| t == "healthy")
            .await;
        // One answering 503, and a command on a port nothing listens on: unhealthy, the
        // reason the cell's tooltip.
        daemon
            .run_d(
                "sick",
                &[
                    "-p",
                    "0",
                    "-v",
                    &volume,
                    "-e",
                    "NOT_READY_FOR=1000000",
                    "--health-path",
                    "/healthz",
                    "--health-interval",
                    "150ms",
                    "--health-retries",
                    "1",
                    P2_HTTP_READY_AFTER,
                ],
            )
            .success();
        let port = free_port().to_string();
        daemon
            .run_d(
                "deaf",
                &[
                    "-p",
                    &port,
                    "--health-port",
                    &port,
                    "--health-interval",
                    "150ms",
                    "--health-retries",
                    "1",
                    P1_CLI_SLEEP,
                    "600000",
                ],
            )
            .success();
        for (app, reason) in [
            (
                "sick",
                "GET /healthz answered 503 Service Unavailable: not ready (".to_string(),
            ),
            ("deaf", format!("TCP connect to 127.0.0.1:{port} failed: ")),
        ] {
            wait_for(
                &format!("`unhealthy` with `{reason}…` as its tooltip for {app}"),
                async || browser.text_and_title(&row(app)).await,
                |cell| {
                    cell.as_ref().is_some_and(|(text, title)| {
                        text == "unhealthy" && title.starts_with(&reason)
                    })
                },
            )
            .await;
        }
        assert_eq!(browser.text(&row("fine")).await.unwrap(), "healthy");
        browser.screenshot("dashboard-health").await;
        browser.close().await;
    });
}

#[test]
fn the_admin_listener_refuses_strangers() {
    // Off loopback, every request needs the token, /metrics too.
    let open = Daemon::start_with(&["--admin", "0.0.0.0:0"]);
    let (url, token) = dashboard(&open);
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    assert_eq!(url, format!("http://127.0.0.1:{port}/"));
    let file = open.skiff.root().join("daemon/admin-token");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), token);
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&file).unwrap());
    assert_eq!(mode & 0o777, 0o600, "the token must be owner-only");
    open.run(&["info"])
        .success()
        .stdout_has(&format!("Dashboard: {url}"))
        .stdout_has(&token);
    open.run(&["dashboard", "--print"])
        .success()
        .stdout_is(&format!("{url}?token={token}\n"));
    open.run_d("web", &["-p", "0", P2_HTTP_LOG]).success();

    let client = http();
    let get = |path: &str, token: Option<&str>, host: Option<&str>| {
        let mut request = client.get(format!("{url}{}", path.trim_start_matches('/')));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(host) = host {
            request = request.header("host", host);
        }
        let response = request.send().unwrap();
        (response.status(), response.text().unwrap())
    };
    for path in ["/", "/metrics", "/api/apps", "/api/stream", "/api/apps/web"] {
        let (status, body) = get(path, None, None);
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        let (status, _) = get(path, Some("not-the-token"), None);
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{path} with a wrong token"
        );
    }
    let (status, body) = get("/api/apps", Some(&token), None);
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"web\""), "{body}");
    let (status, body) = get("/metrics", Some(&token), None);
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("skiff_http_requests_total"), "{body}");

    // DNS rebinding: a page on another name that resolves here sends its own name as Host, and
    // its browser the cookie of the real address (a page cannot know the token).
    let cookie = format!("skiff_token_{port}={token}");
    for path in ["/", "/api/apps", "/metrics"] {
        let response = client
            .get(format!("{url}{}", path.trim_start_matches('/')))
            .header("host", format!("rebound.example:{port}"))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        let response = client
            .get(format!("{url}{}", path.trim_start_matches('/')))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} with the cookie");
    }
    // Prometheus scraping the machine by name carries the token itself.
    let (status, _) = get(
        "/metrics",
        Some(&token),
        Some(&format!("metrics-host:{port}")),
    );
    assert_eq!(status, StatusCode::OK);

    // No state changes without the page's CSRF token, nor by GET.
    let stop = format!("{url}api/apps/web/stop");
    let response = client.post(&stop).bearer_auth(&token).send().unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = client.get(&stop).bearer_auth(&token).send().unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let page = get("/", Some(&token), None).1;
    let csrf = page
        .split("name=\"skiff-csrf\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries its CSRF token");
    let response = client
        .post(&stop)
        .bearer_auth(&token)
        .header("origin", "http://evil.example")
        .header("x-skiff-csrf", csrf)
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "a cross-site origin"
    );
    assert_eq!(state(&open.app("web")), "serving");
    let response = client
        .post(&stop)
        .bearer_auth(&token)
        .header("x-skiff-csrf", csrf)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(state(&open.app("web")), "exited");

    // On loopback, Prometheus scrapes without a token as before; the dashboard still needs it
    // (it shows `-e` values and can stop apps; other users of the machine reach loopback too).
    let local = Daemon::start();
    let (url, _) = dashboard(&local);
    let status = |path: &str| {
        client
            .get(format!("{url}{}", path.trim_start_matches('/')))
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(status("/metrics"), StatusCode::OK);
    let rebound = client
        .get(format!("{url}metrics"))
        .header("host", "rebound.example")
        .send()
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
    assert_eq!(status("/api/apps"), StatusCode::UNAUTHORIZED);
    assert_eq!(status("/"), StatusCode::UNAUTHORIZED);
}
