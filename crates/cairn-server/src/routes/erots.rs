//! The ERoT generator (DERG, DESIGN.md flow 4): derive a workload's key pair for a host, sign
//! receipts for sealed containers, release the private key once to the attested host, and
//! destroy it on completion or expiry. No private key is ever stored.

use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;

use axum::{Extension, Json};
use cairn_log::Event;
use cairn_proto::ErotId;
use cairn_proto::api::{
    ErotRequest, ErotResponse, ReceiptRequest, ReceiptResponse, ReleaseRequest,
};
use cairn_proto::erot::{self, EROT_KEY_INFO};
use cairn_proto::lifecycle::{ErotEvent, ErotTransition, Usable};
use cairn_proto::{Completion, Digest, ErotStatus, Refusal, Sealed, Signed, b64, sealed};
use cairn_store::ErotRecord;
use cairn_token::{Receipt, ReceiptClaims, Validity};

use super::gate;
use super::known_host;
use crate::auth::Bearer;
use crate::metrics::Succeeded;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body, Id, WithDetail};
use crate::{AppState, clock};

fn derive(state: &AppState, erot: &ErotRecord) -> Result<sealed::RecipientKey, ApiError> {
    let seed = erot::seed(&erot.hk_public, &erot.workload_digest, &erot.nonce);
    erot::derive(&seed, |seed| state.keys.erot_mac(seed))
        .map_err(|e| ApiError::signing_unavailable(&e))
}

/// A signed completion, as `#[utoipa::path]` names its schema.
type SignedCompletion = Signed<Completion>;

refusals!(CreateErotRefusals: BODY, BEARER, STORE, ADMITTED, SIGNING, LOGGED; InvalidWorkload);

/// Derives a workload's ERoT key pair for a host (its private key is never stored).
#[utoipa::path(post, path = "/v1/erots", tag = "erots", operation_id = "createErot",
    security(("customer" = []), ("admin" = [])),
    request_body = ErotRequest,
    responses(
        (status = 201, description = "The ERoT's public key and derivation inputs", body = ErotResponse, links(
            ("receipt" = (operation_id = "erotReceipt", parameters(("erot_id" = "$response.body#/erot_id")))),
            ("release" = (operation_id = "releaseErot", parameters(("erot_id" = "$response.body#/erot_id")))),
            ("complete" = (operation_id = "completeErot", parameters(("erot_id" = "$response.body#/erot_id")))),
        )),
        CreateErotRefusals,
    ))]
pub async fn create(
    State(state): State<AppState>,
    bearer: Bearer,
    Body(req): Body<ErotRequest>,
) -> Result<(StatusCode, Json<ErotResponse>), ApiError> {
    if !req.workload.is_object() {
        return Err(Refusal::InvalidWorkload.into());
    }
    let host = known_host(&state, &req.host_id).await?;
    host.status.admit()?;
    let now = clock::now();
    let ttl = req
        .ttl_seconds
        .map_or(state.config.erot_ttl, Duration::from_secs)
        .min(state.config.erot_ttl);
    let expires_at = now.after(ttl);
    let mut record = ErotRecord {
        erot_id: ErotId::random(),
        owner: bearer.hash,
        host_id: host.host_id.clone(),
        hk_public: host.hk.public_key.clone(),
        workload_digest: erot::workload_digest(&req.workload),
        workload: req.workload,
        nonce: erot::nonce(expires_at.secs()),
        erot_pub: [0; 32],
        status: ErotStatus::Active,
        expires_at,
        created_at: now,
    };
    record.erot_pub = derive(&state, &record)?.public();
    let generated = Event::ErotGenerated {
        erot_id: record.erot_id.to_string(),
        host_id: record.host_id.clone(),
        workload_digest: record.workload_digest,
        erot_pub_digest: Digest::sha256(record.erot_pub),
        customer: cairn_store::token_id(&record.owner),
        expires_at: expires_at.secs(),
    };
    let entry = state.log.prepare(generated, Some(&record.owner))?;
    state.store.insert_erot(&record, &entry).await?;
    tracing::info!(erot = %record.erot_id, host = %record.host_id, "ERoT generated");
    Ok((
        StatusCode::CREATED,
        Json(ErotResponse {
            erot_id: record.erot_id,
            erot_pub: record.erot_pub,
            nonce: record.nonce,
            workload_digest: record.workload_digest,
            expires_at: expires_at.datetime(),
        }),
    ))
}

/// The ERoT `id`, if the caller owns it (others learn nothing, not even that it exists).
async fn owned(state: &AppState, id: &str, bearer: &Bearer) -> Result<ErotRecord, ApiError> {
    match state.store.erot(id).await? {
        Some(erot) if erot.owner == bearer.hash => Ok(erot),
        _ => Err(ApiError::not_found("No ERoT with this id")),
    }
}

refusals!(ReceiptRefusals: BODY, BEARER, STORE, SIGNING, LOGGED; NotFound, ErotGone);

/// A signed receipt binding a sealed container's digest to the caller's ERoT.
#[utoipa::path(post, path = "/v1/erots/{erot_id}/receipt", tag = "erots", operation_id = "erotReceipt",
    security(("customer" = []), ("admin" = [])),
    params(("erot_id" = ErotId, Path, description = "The ERoT (its owner's only)")),
    request_body = ReceiptRequest,
    responses((status = 200, description = "The receipt (a JWS)", body = ReceiptResponse), ReceiptRefusals))]
pub async fn receipt(
    State(state): State<AppState>,
    bearer: Bearer,
    Id(id): Id<ErotId>,
    Body(req): Body<ReceiptRequest>,
) -> Result<Json<ReceiptResponse>, ApiError> {
    let erot = owned(&state, id.as_str(), &bearer).await?;
    if erot.status.usable_at(erot.expires_at, clock::now()) != Usable::Yes {
        return Err(Refusal::ErotGone.into());
    }
    let body = Receipt {
        workload: erot.workload,
        workload_digest: erot.workload_digest,
        host_id: erot.host_id,
        hk_pub: b64::encode(&erot.hk_public),
        nonce: b64::encode(&erot.nonce),
        erot_pub: b64::encode(erot.erot_pub),
        ewc_digest: req.ewc_digest,
    };
    let validity = Validity::until(clock::now(), erot.expires_at);
    let receipt = state
        .receipt_signer
        .issue(&state.issuer, erot.erot_id, validity, body)
        .map_err(|e| ApiError::signing_unavailable(&e))?;
    let tlog_proof = super::log::tlog_proof(&state, receipt.claims.registered.sub.as_str())
        .await?
        .map(|proof| proof.to_text());
    Ok(Json(ReceiptResponse {
        receipt: receipt.token,
        tlog_proof,
    }))
}

refusals!(ReleaseErotRefusals: BODY, STORE, ADMITTED, SIGNING, LOGGED;
    PatExpired, PatNotYetValid, PatInvalid, NotFound, ErotHostMismatch, ReceiptInvalid,
    ErotExpired, CnfKeyInvalid, ErotGone);

/// Flow 4, step 4: the key goes once, sealed to the PAT's `cnf` key, to the host the ERoT
/// was derived for, while the ERoT is active and unexpired.
#[utoipa::path(post, path = "/v1/erots/{erot_id}/release", tag = "erots", operation_id = "releaseErot",
    params(("erot_id" = ErotId, Path, description = "The ERoT")),
    request_body = ReleaseRequest,
    responses((status = 200, description = "The ERoT private key, sealed to the PAT's `cnf` key", body = Sealed), ReleaseErotRefusals))]
pub async fn release(
    State(state): State<AppState>,
    id: Result<Id<ErotId>, ApiError>,
    Body(req): Body<ReleaseRequest>,
) -> Result<(Extension<Succeeded>, Json<Sealed>), ApiError> {
    // The PAT first: without one, nothing is said about the ERoT, not even that it exists.
    let pat = gate::pat(&state, &req.pat)?;
    let Id(id) = id?;
    let erot = state
        .store
        .erot(id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("No ERoT with this id"))?;
    if pat.registered.sub != erot.host_id {
        return Err(Refusal::ErotHostMismatch.into());
    }
    let receipt: ReceiptClaims = state
        .receipt_verifier
        .verify(&req.receipt)
        .map_err(|e| Refusal::ReceiptInvalid.with(e.to_string()))?;
    if receipt.registered.sub != erot.erot_id || receipt.body.host_id != erot.host_id {
        return Err(Refusal::ReceiptInvalid.with("the receipt is for another ERoT"));
    }
    let now = clock::now();
    // An ERoT whose key could still go, but whose time is up, expires now.
    if erot.status.usable_at(erot.expires_at, now) == Usable::Expired
        && let Some(expire) = ErotTransition::new(id.as_str(), erot.status, ErotEvent::Expire)
    {
        let event = Event::ErotExpired {
            erot_id: id.to_string(),
        };
        let entry = state.log.prepare(event, Some(&erot.owner))?;
        state.store.apply_erot(&expire, &entry, now).await?;
        return Err(Refusal::ErotExpired.into());
    }
    gate::admitted(&state, &erot.host_id).await?;
    let recipient = gate::recipient(&pat)?;
    // Derived and sealed before the ERoT is spent, so a key-store failure burns nothing.
    let key = derive(&state, &erot)?;
    if key.public() != erot.erot_pub {
        tracing::error!(erot = %id, "re-derived ERoT key differs: the master secret changed");
        return Err(ApiError::signing_unavailable(&"ERoT derivation mismatch"));
    }
    let sealed = sealed::seal(
        &recipient,
        EROT_KEY_INFO,
        id.as_str().as_bytes(),
        key.private(),
    )
    .map_err(|_| Refusal::CnfKeyInvalid)?;
    drop(key);
    // Released at most once: of concurrent requests on any replica, one wins this update.
    let gone =
        || Refusal::ErotGone.with("its key was released already, or it is destroyed or expired");
    let release =
        ErotTransition::new(id.as_str(), erot.status, ErotEvent::Release).ok_or_else(gone)?;
    let event = Event::ErotReleased {
        erot_id: id.to_string(),
        host_id: erot.host_id.clone(),
        pat_jti: pat.registered.jti,
    };
    let entry = state.log.prepare(event, Some(&erot.owner))?;
    if !state.store.apply_erot(&release, &entry, now).await? {
        return Err(gone());
    }
    tracing::info!(erot = %id, host = %erot.host_id, "ERoT key released");
    Ok((Extension(Succeeded("released")), Json(sealed)))
}

refusals!(CompleteErotRefusals: BODY, STORE, LOGGED;
    NotFound, CompletionInvalid, UnknownHost, CompletionSignatureInvalid, ErotGone);

/// Flow 4, step 5: the host says the workload finished; the ERoT is destroyed for good.
#[utoipa::path(post, path = "/v1/erots/{erot_id}/complete", tag = "erots", operation_id = "completeErot",
    params(("erot_id" = ErotId, Path, description = "The ERoT")),
    request_body = SignedCompletion,
    responses((status = 204, description = "The ERoT is destroyed"), CompleteErotRefusals))]
pub async fn complete(
    State(state): State<AppState>,
    id: Result<Id<ErotId>, ApiError>,
    Body(signed): Body<Signed<Completion>>,
) -> Result<StatusCode, ApiError> {
    // (After the body: a malformed completion is refused as such.)
    let Id(id) = id?;
    let erot = state
        .store
        .erot(id.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("No ERoT with this id"))?;
    let completion = &signed.payload;
    if completion.erot_id != id.as_str() || completion.host_id != erot.host_id {
        return Err(Refusal::CompletionInvalid.into());
    }
    let host = known_host(&state, &erot.host_id).await?;
    signed
        .verify(&host.hk)
        .map_err(|e| Refusal::CompletionSignatureInvalid.with(e.to_string()))?;
    let event = Event::ErotDestroyed {
        erot_id: id.to_string(),
        host_id: erot.host_id.clone(),
        exit_status: completion.exit_status,
        output_digest: completion.output_digest,
    };
    let entry = state.log.prepare(event, Some(&erot.owner))?;
    // A status only moves forward, so each lost race leaves fewer statuses to try.
    let mut from = erot.status;
    loop {
        let Some(destroy) = ErotTransition::new(id.as_str(), from, ErotEvent::Complete) else {
            return Err(Refusal::ErotGone.with(format!("the ERoT is {from}")));
        };
        if state
            .store
            .apply_erot(&destroy, &entry, clock::now())
            .await?
        {
            tracing::info!(erot = %id, exit_status = completion.exit_status, output = %completion.output_digest, "ERoT destroyed on completion");
            return Ok(StatusCode::NO_CONTENT);
        }
        from = match state.store.erot(id.as_str()).await? {
            Some(erot) => erot.status,
            None => return Err(ApiError::not_found("No ERoT with this id")),
        };
    }
}
