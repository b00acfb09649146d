//! A small W3C WebDriver client on `reqwest` for headless Chromium: start chromedriver,
//! open a session, navigate, run scripts, type, click and take screenshots.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long [`Browser::wait_for`] waits by default.
pub const WAIT: Duration = Duration::from_secs(30);

/// The chromedriver binary: `$CHROMEDRIVER`, or `chromedriver` on the PATH.
pub fn chromedriver() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("CHROMEDRIVER") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromedriver"))
            .find(|p| p.is_file())
    })
}

/// A running chromedriver with one headless Chromium session; both end on drop.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (no sandbox: tests run as root in
    /// containers); `None` with a warning when chromedriver is missing outside CI.
    pub async fn start() -> Option<Browser> {
        let Some(driver_path) = chromedriver() else {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("CI=true but chromedriver is missing: install chromium and chromium-driver (scripts/test.sh does)");
            }
            eprintln!(
                "warning: skipping browser test: chromedriver not found \
                 (apt-get install chromium chromium-driver, or set CHROMEDRIVER)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(started.elapsed() < WAIT, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut options = json!({"args": [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--window-size=1280,900", "--no-first-run", "--disable-extensions"
        ]});
        let binary = std::env::var("CHROME_BIN").ok().or_else(|| {
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .map(str::to_owned)
        });
        if let Some(binary) = binary {
            options["binary"] = json!(binary);
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": options
        }}});
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
        };
        let created = browser.call("POST", &format!("{base}/session"), caps).await;
        browser.session = format!(
            "{base}/session/{}",
            created["sessionId"].as_str().expect("session id")
        );
        Some(browser)
    }

    async fn call(&self, method: &str, url: &str, body: Value) -> Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, url);
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await.expect("webdriver request");
        let status = response.status();
        let value: Value = response.json().await.expect("webdriver json");
        assert!(status.is_success(), "webdriver {url}: {status} {value}");
        value["value"].clone()
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
            .await
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url })).await;
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its result.
    pub async fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
        .await
    }

    /// Polls `script` until it returns something truthy; panics with `what` after [`WAIT`].
    pub async fn wait_js(&self, what: &str, script: &str, args: Value) -> Value {
        let started = Instant::now();
        loop {
            let v = self.js(script, args.clone()).await;
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if started.elapsed() > WAIT {
                let body = self
                    .js("return document.body.innerText.slice(0, 2000)", json!([]))
                    .await;
                panic!("timed out waiting for {what}; page text: {body}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `css` matches an element and returns its reference.
    pub async fn wait_for(&self, css: &str) -> Value {
        self.wait_js(
            css,
            "return document.querySelector(arguments[0]) ? true : false",
            json!([css]),
        )
        .await;
        self.find(css).await
    }

    /// The first element matching `css`.
    pub async fn find(&self, css: &str) -> Value {
        self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        )
        .await
    }

    fn id(element: &Value) -> &str {
        element[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("not an element reference: {element}"))
    }

    /// Clicks `element`.
    pub async fn click(&self, element: &Value) {
        self.cmd(
            "POST",
            &format!("/element/{}/click", Self::id(element)),
            json!({}),
        )
        .await;
    }

    /// Clears `element` and types `text` into it (`\u{E007}` is Enter).
    pub async fn type_into(&self, element: &Value, text: &str) {
        let id = Self::id(element);
        self.cmd("POST", &format!("/element/{id}/clear"), json!({}))
            .await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Accepts the open `confirm()` dialog.
    pub async fn accept_alert(&self) {
        self.cmd("POST", "/alert/accept", json!({})).await;
    }

    /// Types `text` into `element` after what it holds (`\u{E015}` is the down arrow).
    pub async fn type_into_more(&self, element: &Value, text: &str) {
        self.cmd(
            "POST",
            &format!("/element/{}/value", Self::id(element)),
            json!({ "text": text }),
        )
        .await;
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        let element = self.wait_for(css).await;
        self.cmd(
            "GET",
            &format!("/element/{}/text", Self::id(&element)),
            json!(null),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Saves a PNG screenshot as `<artifacts>/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.cmd("GET", "/screenshot", json!(null)).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("screenshot data"))
            .expect("base64 png");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Browser {
    /// Ends the browser session, then the driver.
    pub async fn quit(self) {
        let _ = self
            .http
            .delete(&self.session)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After `quit` (or a failed test) the driver goes too.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `$CARGO_TARGET_DIR/browser-artifacts`, or `target/browser-artifacts` in the package.
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
            PathBuf::from,
        )
        .join("browser-artifacts")
}
