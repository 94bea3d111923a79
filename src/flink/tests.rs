use super::*;

#[test]
fn java_errors_say_their_root_cause_first() {
    let body = r#"{"errors":["Internal server error.","<Exception on server side:\njava.util.concurrent.CompletionException: org.apache.flink.client.program.ProgramInvocationException: The program's entry point class 'com.example.Nope' was not found in the jar file.\n\tat org.apache.flink.runtime.webmonitor.handlers.utils.JarHandlerUtils$JarHandlerContext.toPackagedProgram(JarHandlerUtils.java:204)\n\tat java.base/java.lang.Thread.run(Thread.java:840)\nCaused by: java.lang.ClassNotFoundException: com.example.Nope\n\tat java.base/java.net.URLClassLoader.findClass(URLClassLoader.java:445)\n\t... 7 more\n\nEnd of exception on server side>"]}"#;
    let m = flink_message(body);
    assert_eq!(
        m,
        "The program's entry point class 'com.example.Nope' was not found in the jar file. (CompletionException > ProgramInvocationException > ClassNotFoundException: com.example.Nope)"
    );
}

#[test]
fn job_states_parse() {
    let d: JobDetails =
        serde_json::from_str(r#"{"jid":"a","name":"x","state":"RUNNING","extra":1}"#).unwrap();
    assert_eq!(d.state, FlinkJobState::Running);
    assert!(FlinkJobState::Canceled.is_terminal());
    assert!(!FlinkJobState::Restarting.is_terminal());
}

#[test]
fn a_checkpoint_knows_when_it_completed() {
    let c: CompletedCheckpoint = serde_json::from_str(
        r#"{"id": 7, "external_path": "file:/c/chk-7", "latest_ack_timestamp": 1764000000123, "status": "COMPLETED"}"#,
    )
    .unwrap();
    assert_eq!(
        c.completed_at().unwrap().unix_timestamp_nanos(),
        1_764_000_000_123_000_000
    );
    let none: CompletedCheckpoint = serde_json::from_str(r#"{"id": 7}"#).unwrap();
    assert_eq!(none.completed_at(), None);
}

#[test]
fn run_requests_use_the_argument_list() {
    let r = RunRequest {
        entry_class: Some("a.B".into()),
        program_args_list: vec!["--x".into(), "1 2".into()],
        parallelism: 2,
        savepoint_path: None,
        allow_non_restored_state: false,
        job_id: None,
    };
    assert_eq!(
        serde_json::to_value(&r).unwrap(),
        serde_json::json!({"entryClass": "a.B", "programArgsList": ["--x", "1 2"], "parallelism": 2, "allowNonRestoredState": false})
    );
    let with_id = RunRequest {
        job_id: Some("00000000000000000000000000000001".into()),
        ..r
    };
    assert_eq!(
        serde_json::to_value(&with_id).unwrap()["jobId"],
        "00000000000000000000000000000001"
    );
}

#[tokio::test]
async fn a_gateway_without_an_answer_is_no_answer_from_flink() {
    use axum::http::StatusCode;
    let app = axum::Router::new()
        .route(
            "/jobs/{id}",
            axum::routing::get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    r#"{"kind":"Status","message":"no endpoints available for service \"flink-x-jobmanager\""}"#,
                )
            }),
        )
        .route(
            "/jobs/{id}/checkpoints",
            axum::routing::get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"services \"flink-x-jobmanager\" not found","reason":"NotFound","code":404}"#,
                )
            }),
        )
        .route(
            "/overview",
            axum::routing::get(|| async { (StatusCode::NOT_FOUND, r#"{"errors":["Not found"]}"#) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = FlinkClient::new(http_client(std::time::Duration::from_secs(5)), url);
    let e = client.job("j").await.unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().contains("HTTP 503"), "{e}");
    // The API server's 404 for a Service it does not have is not Flink's "no such job".
    let e = client.latest_checkpoint("j").await.unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(
        e.to_string().contains("HTTP 404")
            && e.to_string()
                .contains("services \"flink-x-jobmanager\" not found"),
        "{e}"
    );
    // Other errors are answers.
    let e = client.overview().await.unwrap_err();
    assert!(!e.is_unreachable(), "{e}");
}
