//! The router in this process, on a temporary SQLite store and file keys: what a route answers
//! needs no server process, no port and no client, so these run in milliseconds. What needs
//! real processes (restarts, kill -9, replicas, TLS, the CLI) is in `crates/cairn/tests`.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use cairn_keystore::KeyStoreSpec;
use cairn_server::{Server, ServerConfig};
use tower::ServiceExt;

/// A server's router on a fresh data directory, and its admin token.
struct InProcess {
    router: Router,
    admin_token: String,
    _dir: tempfile::TempDir,
}

async fn in_process() -> InProcess {
    let dir = tempfile::tempdir().unwrap();
    let url = ServerConfig::default_database_url(dir.path());
    let made = cairn_server::init(dir.path(), &url, &KeyStoreSpec::File)
        .await
        .unwrap();
    let config = ServerConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".into());
    let server = Server::bind(config).await.unwrap();
    InProcess {
        router: server.router(),
        admin_token: made.admin_token.to_string(),
        _dir: dir,
    }
}

/// An answer: its status, its content type and its body as JSON (`null` if it is not).
async fn ask(router: &Router, request: Request<Body>) -> (StatusCode, String, serde_json::Value) {
    let answer = router.clone().oneshot(request).await.unwrap();
    let status = answer.status();
    let content_type = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, content_type, json)
}

fn get(path: &str, bearer: Option<&str>) -> Request<Body> {
    let mut request = Request::get(path);
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

fn post(path: &str, bearer: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(body.into()).unwrap()
}

#[tokio::test]
async fn a_challenge_is_a_fresh_nonce_with_its_expiry() {
    let server = in_process().await;
    let (status, _, first) = ask(&server.router, post("/v1/attest/challenge", None, "{}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, second) = ask(&server.router, post("/v1/attest/challenge", None, "{}")).await;
    assert!(first["nonce"].is_string() && first["expires_at"].is_string());
    assert_ne!(first["nonce"], second["nonce"]);
}

#[tokio::test]
async fn admin_routes_refuse_without_the_admin_token_as_problems() {
    let server = in_process().await;
    for bearer in [None, Some("not-a-token")] {
        let (status, content_type, problem) = ask(&server.router, get("/v1/hosts", bearer)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem}");
        assert_eq!(content_type, "application/problem+json");
        assert_eq!(problem["status"], 401);
        assert!(problem["type"].is_string() && problem["title"].is_string());
    }
    let (status, _, hosts) = ask(&server.router, get("/v1/hosts", Some(&server.admin_token))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hosts, serde_json::json!([]));
}

#[tokio::test]
async fn an_id_of_the_wrong_form_is_refused_as_its_kind() {
    let server = in_process().await;
    let admin = Some(server.admin_token.as_str());
    // A host id is the client's to get right: a bad one is a bad request, and says why.
    let (status, _, problem) = ask(&server.router, get("/v1/hosts/h_nothex", admin)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("invalid-host-id")
    );
    // A token id of the wrong form names no token.
    let (status, _, problem) = ask(
        &server.router,
        post("/v1/tokens/not-a-token-id/revoke", admin, "{}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused_and_counted() {
    let server = in_process().await;
    let (status, content_type, problem) =
        ask(&server.router, post("/v1/attest", None, "not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(content_type, "application/problem+json");
    let answer = server
        .router
        .clone()
        .oneshot(get("/metrics", None))
        .await
        .unwrap();
    let text = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&text);
    let counted = text.lines().any(|line| {
        line.starts_with("cairn_requests_total{")
            && line.contains("/v1/attest\"")
            && !line.contains("outcome=\"ok\"")
            && line.ends_with(" 1")
    });
    assert!(counted, "{text}");
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let server = in_process().await;
    let router = &server.router;
    assert_eq!(ask(router, get("/healthz", None)).await.0, 200);
    assert_eq!(ask(router, get("/readyz", None)).await.0, 200);
    assert_eq!(
        ask(router, post("/v1/attest/challenge", None, "{}"))
            .await
            .0,
        200
    );
    let answer = router.clone().oneshot(get("/metrics", None)).await.unwrap();
    let metrics = axum::body::to_bytes(answer.into_body(), 1 << 20)
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(metrics.contains("cairn_challenges_total 1"), "{metrics}");
    let (_, _, openapi) = ask(router, get("/openapi.json", None)).await;
    for path in [
        "/v1/attest/challenge",
        "/v1/attest",
        "/v1/hosts",
        "/v1/hosts/{host_id}",
        "/v1/hosts/{host_id}/{action}",
        "/v1/hosts/{host_id}/activation",
        "/v1/tokens",
        "/v1/instances",
        "/v1/volumes",
        "/v1/volumes/{volume_id}/key",
        "/v1/erots",
        "/v1/erots/{erot_id}/receipt",
        "/v1/erots/{erot_id}/release",
        "/v1/erots/{erot_id}/complete",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} missing from openapi.json"
        );
    }
    let (status, content_type, _) = ask(router, get("/v1/nope", None)).await;
    assert_eq!(status, 404);
    assert_eq!(content_type, "application/problem+json");
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_requests_are_problems() {
    let server = in_process().await;
    let router = &server.router;
    let not_evidence = serde_json::json!({
        "evidence": 1,
        "signature": { "alg": "EdDSA", "value": "" },
    });
    let (status, _, body) = ask(router, post("/v1/attest", None, not_evidence.to_string())).await;
    assert_eq!(
        (status.as_u16(), body["type"].as_str().unwrap()),
        (400, "urn:cairn:problem:malformed-request")
    );
    // The detail names the member at fault.
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("evidence"), "{detail}");
    let text = Request::post("/v1/attest")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let (status, _, body) = ask(router, text).await;
    assert_eq!(status.as_u16(), 415);
    assert_eq!(body["type"], "urn:cairn:problem:unsupported-media-type");
    let huge = serde_json::json!({ "evidence": "x".repeat(300 * 1024) });
    let (status, _, body) = ask(router, post("/v1/attest", None, huge.to_string())).await;
    assert_eq!(
        (status.as_u16(), body["type"].as_str().unwrap()),
        (413, "urn:cairn:problem:request-too-large")
    );
}
