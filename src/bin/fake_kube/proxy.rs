//! The service proxy of the fake API server: a fake Flink per JobManager Service,
//! started at its first request.

use super::*;

/// The fake Flink behind a Service: started at the first request, with the `fake.*`
/// settings of the cluster's ConfigMap.
fn flink_of(app: &App, ns: &str, service: &str) -> Result<u16, Box<Response>> {
    let mut f = app.fake.lock().unwrap();
    let skey = ("services".to_string(), ns.to_string(), service.to_string());
    let Some(svc) = f.objects.get(&skey).cloned() else {
        return Err(Box::new(status(
            404,
            "NotFound",
            format!("services \"{service}\" not found"),
        )));
    };
    if !f.endpoints(ns, &svc) {
        return Err(Box::new(status(
            503,
            "ServiceUnavailable",
            format!("no endpoints available for service \"{service}\""),
        )));
    }
    if let Some((_, port)) = f.flinks.get(&(ns.to_string(), service.to_string())) {
        return Ok(*port);
    }
    let base = service.strip_suffix("-jobmanager").unwrap_or(service);
    let conf = f
        .objects
        .get(&(
            "configmaps".to_string(),
            ns.to_string(),
            format!("{base}-config"),
        ))
        .and_then(|cm| cm["data"]["config.yaml"].as_str().map(str::to_string))
        .unwrap_or_default();
    let port = free_port();
    let savepoints = app.dir.join(format!("{ns}-{service}"));
    let mut command = Command::new(&app.fake_flink);
    command
        .args(["--port", &port.to_string(), "--savepoints-dir"])
        .arg(&savepoints)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // The generated config as Flink reads it (quoted or not).
    let settings: BTreeMap<String, serde_yaml::Value> =
        serde_yaml::from_str(&conf).unwrap_or_default();
    for (k, v) in settings.iter().filter(|(k, _)| k.starts_with("fake.")) {
        let v = match v {
            serde_yaml::Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        command.args(["--set", &format!("{k}={v}")]);
    }
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let child = command
        .spawn()
        .map_err(|e| Box::new(status(500, "InternalError", format!("fake-flink: {e}"))))?;
    f.flinks
        .insert((ns.to_string(), service.to_string()), (child, port));
    Ok(port)
}

pub(super) async fn proxy(
    app: &App,
    t: &Target,
    method: &Method,
    headers: HeaderMap,
    body: Bytes,
    query: &HashMap<String, String>,
) -> Response {
    if t.kind != "services" {
        return status(404, "NotFound", "only services are proxied here".into());
    }
    let service = t.name.clone().unwrap_or_default();
    let port = match flink_of(app, &t.ns, &service) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let mut url = format!(
        "http://127.0.0.1:{port}{}",
        t.proxied.as_deref().unwrap_or("/")
    );
    if !query.is_empty() {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query.iter())
            .finish();
        url = format!("{url}?{q}");
    }
    let mut request = app.http.request(method.clone(), &url).body(body);
    if let Some(ct) = headers.get("content-type") {
        request = request.header("content-type", ct);
    }
    // A fake Flink just started answers within a few seconds.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let sent = request
            .try_clone()
            .expect("a request with a body in memory")
            .send()
            .await;
        match sent {
            Ok(r) => {
                let code = r.status();
                let ct = r.headers().get("content-type").cloned();
                let bytes = r.bytes().await.unwrap_or_default();
                let mut resp = (code, bytes).into_response();
                if let Some(ct) = ct {
                    resp.headers_mut().insert("content-type", ct);
                }
                return resp;
            }
            Err(e) if e.is_connect() && Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => {
                return status(
                    503,
                    "ServiceUnavailable",
                    format!("error trying to reach service: {e}"),
                )
            }
        }
    }
}
