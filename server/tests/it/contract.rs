//! The server's answers read back as the contract's types (`stagegate-api` and
//! the evaluator's), which is how the console reads them, and requests written
//! from those types are accepted.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use evaluator::Evaluation;
use evaluator::model::Role;
use serde::Serialize;
use serde::de::DeserializeOwned;
use stagegate_api::{
    Action, AuditEntry, ErrorBody, Health, Me, RevisionSummary, SignoffCreated, SignoffRequest,
    StageRequest, UserCreated, UserEvent, UserInfo, UserRequest, UserRoleRequest, Written,
};

use crate::common::Server;

/// The in-process server, called with the contract's types.
struct Api {
    server: Server,
    admin: String,
}

impl Api {
    async fn new() -> Api {
        let server = Server::new().await;
        let admin = server.admin.clone();
        Api { server, admin }
    }

    /// One call; the answer's status and its body read as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<String>,
    ) -> (StatusCode, T) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body)
            }
            None => Body::empty(),
        };
        let reply = self.server.send(request.body(body).unwrap()).await;
        let text = String::from_utf8_lossy(&reply.body);
        let body = serde_json::from_slice(&reply.body)
            .unwrap_or_else(|error| panic!("{path}: {error} in {text}"));
        (reply.status, body)
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, token: &str) -> T {
        let (status, body) = self.call(Method::GET, path, token, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        body
    }
}

/// A request body, written from its contract type.
fn body(value: &impl Serialize) -> Option<String> {
    Some(serde_json::to_string(value).unwrap())
}

#[tokio::test]
async fn every_answer_reads_as_its_contract_type() {
    let api = Api::new().await;
    let admin = api.admin.clone();
    let health: Health = api.get("/healthz", &admin).await;
    assert_eq!((health.status.as_str(), health.revision), ("ok", 1));

    let me: Me = api.get("/api/me", &admin).await;
    assert_eq!(me, Me::new("admin".into(), Role::Admin));
    assert!(me.may(Action::ManageUsers) && !me.may(Action::Sign));

    let request = UserRequest {
        name: "quinn".into(),
        role: "qa-lead".into(),
    };
    let (status, created): (_, UserCreated) = api
        .call(Method::POST, "/api/users", &admin, body(&request))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        (created.name.as_str(), created.role),
        ("quinn", Role::QaLead)
    );
    let quinn = created.token;
    let signer: Me = api.get("/api/me", &quinn).await;
    assert_eq!(signer.actions, Action::allowed_to(Role::QaLead));

    let users: Vec<UserInfo> = api.get("/api/users", &admin).await;
    assert!(users.iter().any(|user| user.name == "quinn"));

    let request = SignoffRequest {
        rollout: "domain-migration".into(),
        stage: "stage-1".into(),
        comment: "checked".into(),
    };
    let (status, signed): (_, SignoffCreated) = api
        .call(Method::POST, "/api/signoffs", &quinn, body(&request))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(signed.signoff.by, "quinn");
    assert_eq!(signed.signoff.revision, signed.revision);
    let path = format!("/api/signoffs/{}", signed.signoff.id);
    let (status, written): (_, Written) = api.call(Method::DELETE, &path, &quinn, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(written.revision, signed.revision + 1);

    let request = StageRequest {
        stage: Some("stage-1".into()),
        comment: String::new(),
    };
    let path = "/api/rollouts/domain-migration/environments/staging/stage";
    let (status, plan): (_, evaluator::Plan) =
        api.call(Method::POST, path, &admin, body(&request)).await;
    assert_eq!(status, StatusCode::OK);
    let staging = &plan.rollouts["domain-migration"].environments["staging"];
    assert_eq!(staging.active_stage.as_deref(), Some("stage-1"));

    let revisions: Vec<RevisionSummary> = api.get("/api/revisions", &admin).await;
    let audit: Vec<AuditEntry> = api.get("/api/audit", &admin).await;
    assert_eq!(revisions.len(), audit.len());
    assert_eq!(
        (audit[0].revision, audit[0].action.as_str()),
        (plan.revision, "stage")
    );

    let path = "/api/evaluate?rollout=domain-migration&env=staging&targetingKey=user-42";
    let answer: Evaluation = api.get(path, &admin).await;
    assert_eq!(answer.revision, plan.revision);
    assert_eq!(answer.stage.as_deref(), Some("stage-1"));

    let request = UserRoleRequest {
        role: "viewer".into(),
    };
    let (status, info): (_, UserInfo) = api
        .call(Method::PATCH, "/api/users/quinn", &admin, body(&request))
        .await;
    assert_eq!((status, info.role), (StatusCode::OK, Role::Viewer));
    let log: Vec<UserEvent> = api.get("/api/users/log", &admin).await;
    assert_eq!(log[0].previous_role, Some(Role::QaLead));

    let (status, error): (_, ErrorBody) = api.call(Method::GET, "/api/users", &quinn, None).await;
    assert_eq!(
        (status, error.error.as_str()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert!(error.message.contains("manage-users"), "{}", error.message);
}
