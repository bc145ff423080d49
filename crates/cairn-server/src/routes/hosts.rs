//! Flow 1: enrollment, and the admin API over the host registry.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use cairn_log::{Event, HostChanged};
use cairn_proto::api::{
    ActivationRequest, CredentialChallenge, EnrollResponse, HostView, check_host_name,
};
use cairn_proto::lifecycle::{EkTrust, HostChange, HostTransition, KeyProof, Tamper};
use cairn_proto::{Digest, Enrollment, HkAlg, HostAction, HostId, HostStatus, Refusal, Signed};
use cairn_store::{Challenge, Enrolled, HostRecord, NewHost, Transition};

use crate::attestation::consume_nonce;
use crate::auth::Admin;
use crate::metrics::Succeeded;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body, Id, WithDetail};
use crate::{AppState, clock, token_hash};

/// A signed enrollment, as `#[utoipa::path]` names its schema.
type SignedEnrollment = Signed<Enrollment>;

refusals!(EnrollRefusals: BODY, STORE, LOGGED;
    EnrollmentSignatureInvalid, InvalidReport, InvalidName, UnsupportedHardwareKey,
    EkCertRequired, EkCertUntrusted, EkCertIsCa, EkCertKeyUsage, EkCertPurpose, EkCertNoTpm,
    NonceExpired, NonceUnknown, JoinTokenInvalid,
    PendingHostsFull, TamperDetected);

/// Enrolls a host: its enrollment, signed by the hardware key it registers.
#[utoipa::path(post, path = "/v1/hosts", tag = "attestation", operation_id = "enroll",
    request_body = SignedEnrollment,
    responses(
        (status = 201, description = "Enrolled", body = EnrollResponse, links(
            ("host" = (operation_id = "showHost", parameters(("host_id" = "$response.body#/host_id")))),
            ("activate" = (operation_id = "activateHost", parameters(("host_id" = "$response.body#/host_id")))),
        )),
        (status = 200, description = "This key's host was enrolled already", body = EnrollResponse),
        EnrollRefusals,
    ))]
pub async fn enroll(
    State(state): State<AppState>,
    Body(signed): Body<Signed<Enrollment>>,
) -> Result<(StatusCode, Extension<Succeeded>, Json<EnrollResponse>), ApiError> {
    let (code, enrolled) = register(&state, signed).await?;
    let did = match code {
        StatusCode::CREATED => "created",
        _ => "existing",
    };
    Ok((code, Extension(Succeeded(did)), enrolled))
}

async fn register(
    state: &AppState,
    signed: Signed<Enrollment>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let enrollment = &signed.payload;
    // Proof of possession first: the enrollment is signed by the key it registers. Nothing
    // else in it is looked at until then (a key that cannot verify anything fails here).
    signed
        .verify(&enrollment.hk)
        .map_err(|e| Refusal::EnrollmentSignatureInvalid.with(e.to_string()))?;
    // One encoding per key, or one key could enroll as two hosts.
    enrollment
        .hk
        .validate()
        .map_err(|e| Refusal::UnsupportedHardwareKey.with(e.to_string()))?;
    enrollment
        .report
        .validate()
        .map_err(|e| Refusal::InvalidReport.with(e.to_string()))?;
    // A machine that says it was opened is not trusted in the first place.
    let tripped = enrollment.report.tripped_sensors();
    if !tripped.is_empty() {
        return Err(Refusal::TamperDetected.with(format!(
            "tripped: {}; nothing was enrolled: inspect the machine and reset the sensor",
            tripped.join(", ")
        )));
    }
    check_host_name(&enrollment.name).map_err(|e| Refusal::InvalidName.with(e))?;
    let challenge = match enrollment.hk.alg {
        HkAlg::TPM2 => Some(tpm_challenge(state, enrollment)?),
        _ => None,
    };
    let join_hash = enrollment.join_token.as_deref().map(token_hash);
    let (challenge, credential) = challenge.unzip();
    let new = NewHost {
        name: enrollment.name.clone(),
        hk: enrollment.hk.clone(),
        report: enrollment.report.clone(),
        challenge,
    };
    let enrolled = Event::HostEnrolled {
        host_id: enrollment.hk.host_id(),
        status: new.admission(join_hash.is_some()).status(),
        fingerprint: enrollment.report.fingerprint(),
    };
    // Before the nonce is used: a refusal because of the log changes nothing.
    let entry = state.log.prepare(enrolled, None)?;
    consume_nonce(state, &enrollment.nonce).await?;
    let enrolled = state
        .store
        .enroll_host(
            new,
            join_hash.as_deref(),
            state.config.max_pending_hosts,
            clock::now(),
            &entry,
        )
        .await?;
    let code = match &enrolled {
        Enrolled::Created(host) => {
            tracing::info!(host = %host.host_id, status = %host.status, "host enrolled");
            StatusCode::CREATED
        }
        Enrolled::Existing(_) => StatusCode::OK,
        Enrolled::JoinTokenRejected => return Err(Refusal::JoinTokenInvalid.into()),
        Enrolled::PendingFull(pending) => {
            return Err(Refusal::PendingHostsFull.with(format!(
                "{pending} hosts await approval; enroll with a join token, or once an operator has approved or revoked some"
            )));
        }
    };
    let host = enrolled.host().expect("created or existing");
    // The challenge goes out only while one is open (a host that answered already has none).
    let credential = match credential {
        Some(credential) if state.store.activation_pending(&host.host_id).await? => {
            Some(credential)
        }
        _ => None,
    };
    Ok((
        code,
        Json(EnrollResponse {
            host_id: host.host_id.clone(),
            status: host.status,
            credential,
        }),
    ))
}

/// A TPM host's EK certificate checked against the manufacturer CAs, and a credential
/// challenge sealed to that EK for the AK being enrolled: only the TPM holding both can
/// answer it (DESIGN.md flow 1, step 3): what the store keeps of it, and what the host gets.
fn tpm_challenge(
    state: &AppState,
    enrollment: &Enrollment,
) -> Result<(Challenge, CredentialChallenge), ApiError> {
    let ek_cert = enrollment
        .ek_cert
        .as_deref()
        .and_then(|c| cairn_proto::b64::decode(c).ok())
        .ok_or(Refusal::EkCertRequired)?;
    let untrusted = |e: cairn_tpm::TpmError| {
        use cairn_tpm::EkProfileError as Profile;
        let refusal = match &e {
            cairn_tpm::TpmError::EkProfile(Profile::IsCa) => Refusal::EkCertIsCa,
            cairn_tpm::TpmError::EkProfile(Profile::KeyUsage(_)) => Refusal::EkCertKeyUsage,
            cairn_tpm::TpmError::EkProfile(Profile::Purpose) => Refusal::EkCertPurpose,
            cairn_tpm::TpmError::EkProfile(Profile::TpmIdentity) => Refusal::EkCertNoTpm,
            _ => Refusal::EkCertUntrusted,
        };
        refusal.with(e.to_string())
    };
    let (ek, chains) = match state.ek_anchors.is_empty() {
        true => (
            cairn_tpm::ek_certificate_key(&ek_cert).map_err(untrusted)?,
            false,
        ),
        false => (
            cairn_tpm::verify_ek_certificate(
                &ek_cert,
                &state.ek_anchors,
                clock::now().secs() as u64,
            )
            .map_err(untrusted)?,
            true,
        ),
    };
    let ak = cairn_tpm::AkPublic::parse(&enrollment.hk.public_key)
        .map_err(|e| Refusal::UnsupportedHardwareKey.with(e.to_string()))?;
    let secret = zeroize::Zeroizing::new(cairn_proto::random_bytes::<32>());
    let made = cairn_tpm::make_credential(&ek, &ak.name, &secret[..]).map_err(untrusted)?;
    let ek = match chains && state.config.ek_auto_approve {
        true => EkTrust::AutoApprove,
        false => EkTrust::Operator,
    };
    Ok((
        Challenge {
            secret_digest: Digest::sha256(&secret[..]).hex(),
            ek,
        },
        CredentialChallenge {
            id_object: made.id_object,
            encrypted_secret: made.encrypted_secret,
        },
    ))
}

refusals!(ActivateRefusals: BODY, STORE, HOST_PATH, LOGGED; ActivationFailed);

/// `POST /v1/hosts/{id}/activation`: the TPM host shows the secret only its TPM could
/// recover. The secret is single-use; a wrong one changes nothing.
#[utoipa::path(post, path = "/v1/hosts/{host_id}/activation", tag = "attestation", operation_id = "activateHost",
    params(("host_id" = HostId, Path, description = "The host")),
    request_body = ActivationRequest,
    responses((status = 200, description = "Activated: the host's status now", body = EnrollResponse), ActivateRefusals))]
pub async fn activate(
    State(state): State<AppState>,
    Id(id): Id<HostId>,
    Body(req): Body<ActivationRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let digest = Digest::sha256(req.secret.expose()).hex();
    let slot = state.log.reserve()?;
    // What answering granted: activation, or no change (an operator approves it).
    let entry = |applied: Option<&HostTransition>| {
        let event = match applied {
            Some(transition) => Event::host_transition(transition, None, None, vec![]),
            None => {
                let unchanged = HostChanged {
                    host_id: id.clone(),
                    from: HostStatus::Pending,
                    to: HostStatus::Pending,
                    by: None,
                    fingerprint: None,
                    sensors: vec![],
                };
                Event::host_changed(HostChange::Activated, unchanged)
            }
        };
        slot.change_of(event)
    };
    match state
        .store
        .activate_host(&id, &digest, clock::now(), entry)
        .await?
    {
        Some(host) => {
            tracing::info!(host = %host.host_id, status = %host.status, "TPM credential activated");
            Ok(Json(EnrollResponse {
                host_id: host.host_id.clone(),
                status: host.status,
                credential: None,
            }))
        }
        None => Err(Refusal::ActivationFailed.into()),
    }
}

fn view(host: &HostRecord) -> HostView {
    HostView {
        host_id: host.host_id.clone(),
        name: host.name.clone(),
        status: host.status,
        hk: host.hk.clone(),
        fingerprint: host.fingerprint,
        report: host.report.clone(),
        created_at: clock::datetime(host.created_at),
        updated_at: clock::datetime(host.updated_at),
        history: vec![],
        tamper: host.tamper.clone(),
    }
}

refusals!(ListHostsRefusals: BEARER, STORE;);

/// Every enrolled host.
#[utoipa::path(get, path = "/v1/hosts", tag = "hosts", operation_id = "listHosts",
    security(("admin" = [])),
    responses(
        (status = 200, description = "The hosts", body = Vec<HostView>, links(
            ("host" = (operation_id = "showHost", parameters(("host_id" = "$response.body#/0/host_id")))),
            ("act" = (operation_id = "actOnHost", parameters(("host_id" = "$response.body#/0/host_id")))),
            ("erot" = (operation_id = "createErot", request_body = json!({"host_id": "$response.body#/0/host_id", "workload": {}}))),
        )),
        ListHostsRefusals,
    ))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<HostView>>, ApiError> {
    Ok(Json(state.store.hosts().await?.iter().map(view).collect()))
}

refusals!(ShowHostRefusals: BEARER, STORE, HOST_PATH; NotFound);

/// One host, with its fingerprint history.
#[utoipa::path(get, path = "/v1/hosts/{host_id}", tag = "hosts", operation_id = "showHost",
    security(("admin" = [])),
    params(("host_id" = HostId, Path, description = "The host")),
    responses((status = 200, description = "The host", body = HostView), ShowHostRefusals))]
pub async fn show(
    State(state): State<AppState>,
    _: Admin,
    Id(id): Id<HostId>,
) -> Result<Json<HostView>, ApiError> {
    let host = state
        .store
        .host(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such host"))?;
    let history = state.store.history(&id).await?;
    Ok(Json(HostView {
        history,
        ..view(&host)
    }))
}

refusals!(ActRefusals: BEARER, STORE, HOST_PATH, LOGGED; NotFound, InvalidTransition, ActivationPending, TamperUncleared);

/// `approve`, `revoke`, `quarantine`, `rotate` and `clear-tamper`: an operator's action, judged
/// by the host life cycle against the status it read, applied only if that status still holds.
#[utoipa::path(post, path = "/v1/hosts/{host_id}/{action}", tag = "hosts", operation_id = "actOnHost",
    security(("admin" = [])),
    params(
        ("host_id" = HostId, Path, description = "The host"),
        ("action" = HostAction, Path, description = "What to do"),
    ),
    responses((status = 200, description = "The host's new status", body = HostView), ActRefusals))]
pub async fn act(
    State(state): State<AppState>,
    admin: Admin,
    Id((id, action)): Id<(HostId, HostAction)>,
) -> Result<Json<HostView>, ApiError> {
    let host = state
        .store
        .host(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such host"))?;
    // Only the actions that can admit a host need to know (a database read).
    let admits = matches!(
        action,
        HostAction::Approve | HostAction::Rotate | HostAction::ClearTamper
    );
    let proof = match admits && state.store.activation_pending(&id).await? {
        true => KeyProof::Owed,
        false => KeyProof::Proven,
    };
    let transition =
        HostTransition::by_operator(&id, host.status, action, proof, Tamper::of(&host.tamper))
            .map_err(|conflict| conflict.refusal().with(conflict.to_string()))?;
    // What a clear-tamper cleared.
    let sensors = match action {
        HostAction::ClearTamper => host.tamper.clone(),
        _ => vec![],
    };
    let event = Event::host_transition(&transition, Some(admin.id()), None, sensors);
    let entry = state.log.prepare(event, None)?;
    // Applied only to a host still as judged: in its status, and with its tamper mark or not.
    match state
        .store
        .apply_host(&transition, &entry, clock::now())
        .await?
    {
        Transition::Done(changed) => {
            tracing::info!(host = %changed.host_id, %action, status = %changed.status, "host status changed");
            Ok(Json(view(&changed)))
        }
        Transition::NotFound => Err(ApiError::not_found("No such host")),
        Transition::Conflict(current) => Err(Refusal::InvalidTransition.with(format!(
            "the host changed meanwhile (it is {current}); cannot {action} it"
        ))),
    }
}
