//! The web console in a real browser: the daemon on the fake Flink (no JVM), Debian's
//! Chromium driven headless through its chromedriver (installed by
//! `scripts/prerequisites.sh --tests`). It checks what an operator relies on: the
//! Deployments listed with their status, a change made by editing a file shown without
//! a reload, a JobFailing Deployment highlighted, the savepoint button making a
//! savepoint record, the Flink UI link reaching the cluster's REST API through the
//! proxy, a token asked for where one is set, and no error in the browser's console.
//! Screenshots go to `target/console/`.

#![cfg(feature = "test-support")]

mod e2e;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{on_the_fake, Daemon};
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use flinkd::spec::{DeploymentState, SavepointOrigin};
use serde_json::{json, Value};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver in a process group of its own, with the browsers it starts: the whole
/// group is killed when dropped, whatever the test did.
struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Driver {
    fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "{CHROMEDRIVER} and {CHROMIUM} are needed: run scripts/prerequisites.sh --tests"
        );
        let port = e2e::free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let until = Instant::now() + Duration::from_secs(20);
        while e2e::get_json(&format!("{url}/status")).is_none() {
            assert!(Instant::now() < until, "chromedriver did not answer");
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            child,
            url,
            _profile: tempfile::tempdir().unwrap(),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(-(self.child.id() as i32));
        let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// chromedriver's log of the browser's console (`goog:loggingPrefs`).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// One headless Chromium session, driven step by step from a synchronous test.
struct Browser {
    rt: tokio::runtime::Runtime,
    client: Client,
    errors: Vec<String>,
    _driver: Driver,
}

impl Browser {
    fn open() -> Browser {
        let driver = Driver::start();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let profile = driver._profile.path().display().to_string();
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1400,1000", format!("--user-data-dir={profile}"),
                ],
            },
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let caps = caps.as_object().unwrap().clone().into_iter().collect();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = rt
            .block_on(
                ClientBuilder::new(connector)
                    .capabilities(caps)
                    .connect(&driver.url),
            )
            .expect("a Chromium session");
        Browser {
            rt,
            client,
            errors: Vec::new(),
            _driver: driver,
        }
    }

    fn goto(&self, url: &str) {
        self.rt.block_on(self.client.goto(url)).unwrap();
    }

    fn js(&self, script: &str) -> Value {
        self.rt
            .block_on(self.client.execute(script, vec![]))
            .unwrap()
    }

    /// The text of the first element `css` finds, if there is one (read in the page in
    /// one step: no element can be replaced between finding and reading it).
    fn text(&self, css: &str) -> Option<String> {
        let script =
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;";
        let v = self
            .rt
            .block_on(self.client.execute(script, vec![json!(css)]))
            .ok()?;
        v.as_str().map(str::to_string)
    }

    fn attr(&self, css: &str, name: &str) -> Option<String> {
        let script = "const e = document.querySelector(arguments[0]); return e ? e.getAttribute(arguments[1]) : null;";
        let v = self
            .rt
            .block_on(self.client.execute(script, vec![json!(css), json!(name)]))
            .ok()?;
        v.as_str().map(str::to_string)
    }

    fn click(&self, css: &str) {
        self.rt.block_on(async {
            self.client
                .find(Locator::Css(css))
                .await
                .unwrap()
                .click()
                .await
                .unwrap()
        });
    }

    fn type_into(&self, css: &str, text: &str) {
        self.rt.block_on(async {
            let e = self.client.find(Locator::Css(css)).await.unwrap();
            e.send_keys(text).await.unwrap();
        });
    }

    /// Waits until `check` says yes, within `secs`.
    fn until(&self, what: &str, secs: u64, mut check: impl FnMut(&Browser) -> bool) -> Duration {
        let began = Instant::now();
        while !check(self) {
            let page = self.text("main").unwrap_or_default();
            assert!(
                began.elapsed() < Duration::from_secs(secs),
                "{what}: not within {secs}s; the page says:\n{page}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        began.elapsed()
    }

    fn screenshot(&self, name: &str) {
        let png = self.rt.block_on(self.client.screenshot()).unwrap();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }

    /// What the browser's console said since last asked, errors (SEVERE) kept.
    fn console_errors(&mut self) -> &[String] {
        let log = self.rt.block_on(self.client.issue_cmd(BrowserLog)).unwrap();
        for entry in log.as_array().into_iter().flatten() {
            if entry["level"] == "SEVERE" {
                self.errors
                    .push(entry["message"].as_str().unwrap_or_default().to_string());
            }
        }
        &self.errors
    }
}

fn row(name: &str) -> String {
    format!("tr[data-deployment=\"default/{name}\"]")
}

#[test]
fn the_console_shows_and_acts_on_deployments_live() {
    let d = Daemon::start_with(&e2e::fake_flink_home(), "");
    d.deploy("alpha.yaml", &on_the_fake("alpha", "  state: running", &[]));
    d.deploy(
        "flaky.yaml",
        &on_the_fake("flaky", "  state: running", &[("fake.job.restarts", "5")]),
    );
    d.wait_status("alpha", DeploymentState::Running, 30);
    d.wait_status("flaky", DeploymentState::Running, 30);

    let mut b = Browser::open();
    b.goto(&format!("{}/", d.api));
    b.until("alpha listed as RUNNING", 15, |b| {
        b.text(&row("alpha")).is_some_and(|t| t.contains("RUNNING"))
    });
    // A Deployment whose job restarts in a loop is highlighted, in words as well.
    b.until("flaky highlighted as JobFailing", 30, |b| {
        b.attr(&row("flaky"), "class").as_deref() == Some("attention")
            && b.text(&row("flaky"))
                .is_some_and(|t| t.contains("Needs attention") && t.contains("JobFailing"))
    });
    assert_ne!(b.attr(&row("alpha"), "class").as_deref(), Some("attention"));
    b.screenshot("deployments.png");

    // An edit of the file shows without a reload: the page's own state survives.
    b.js("window.stillTheSamePage = 42;");
    d.deploy(
        "alpha.yaml",
        &on_the_fake("alpha", "  state: suspended", &[]),
    );
    let took = b.until("alpha shown SUSPENDED", 10, |b| {
        b.text(&row("alpha"))
            .is_some_and(|t| t.contains("SUSPENDED"))
    });
    eprintln!("the console showed the edit {took:?} after it");
    assert_eq!(
        b.js("return window.stillTheSamePage;"),
        json!(42),
        "no reload"
    );

    // A Deployment's page: its savepoint button goes through the API.
    b.click(&format!("{} a", row("flaky")));
    b.until("the page of flaky", 10, |b| {
        b.text("#summary").is_some_and(|t| t.contains("RUNNING"))
            && b.text("#events")
                .is_some_and(|t| t.contains("JOB_SUCCESSFULLY_STARTED"))
    });
    assert!(b.text("#spec").unwrap().contains("kind: Deployment"));
    assert!(b
        .text("#conditions")
        .is_some_and(|t| t.contains("JobFailing") && t.contains("True")));
    b.click("#take-savepoint");
    b.until("the savepoint asked for", 10, |b| {
        b.text("#action-result")
            .is_some_and(|t| t.starts_with("savepoint "))
    });
    d.wait("a USER_REQUEST savepoint record of flaky", 10, || {
        d.savepoints("flaky")
            .iter()
            .any(|s| s.origin == SavepointOrigin::UserRequest)
            .then_some(())
    });
    b.until("the savepoint listed on the page", 10, |b| {
        b.text("#savepoints")
            .is_some_and(|t| t.contains("USER_REQUEST"))
    });
    b.screenshot("deployment.png");

    // The Flink UI link reaches the cluster's REST API through flinkd's proxy.
    let href = b.attr("#flink-ui", "href").expect("a Flink UI link");
    assert_eq!(href, "/flink/default/flaky/");
    b.goto(&format!("{}{href}overview", d.api));
    let body = b.text("body").unwrap_or_default();
    let overview: Value = serde_json::from_str(&body).unwrap_or_default();
    assert_eq!(overview["flink-version"], "fake", "{body}");

    let errors = b.console_errors().to_vec();
    assert!(errors.is_empty(), "the browser's console: {errors:#?}");
}

/// Where the API wants a token, the console asks for it, then works as without one;
/// its link to the Flink UI carries the token as the console's cookie.
#[test]
fn the_console_asks_for_the_token_where_one_is_set() {
    let d = Daemon::start_env(
        &e2e::fake_flink_home(),
        "",
        &[("FLINKD_API__TOKEN", "s3cret")],
    );
    d.deploy("alpha.yaml", &on_the_fake("alpha", "  state: running", &[]));
    let mut b = Browser::open();
    b.goto(&format!("{}/", d.api));
    b.until("the token asked for", 10, |b| {
        b.js("return document.getElementById('token-form').hidden;") == json!(false)
    });
    b.type_into("#token", "s3cret");
    b.click("#token-form button");
    b.until("alpha listed as RUNNING", 30, |b| {
        b.text(&row("alpha")).is_some_and(|t| t.contains("RUNNING"))
    });
    b.click(&format!("{} a", row("alpha")));
    b.until("the Flink UI link", 10, |b| {
        b.attr("#flink-ui", "href").is_some()
    });
    let href = b.attr("#flink-ui", "href").unwrap();
    b.goto(&format!("{}{href}overview", d.api));
    let body = b.text("body").unwrap_or_default();
    assert!(body.contains("\"flink-version\""), "{body}");
    // The console asked without a token first: that 401 is the only error expected.
    let errors: Vec<String> = b
        .console_errors()
        .iter()
        .filter(|e| !e.contains("401"))
        .cloned()
        .collect();
    assert!(errors.is_empty(), "the browser's console: {errors:#?}");
}
