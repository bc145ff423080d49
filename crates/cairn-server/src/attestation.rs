//! Flow 2 apart from HTTP: a host's signed evidence becomes a PAT in one step after another,
//! each a function of its own:
//!
//! verify (the host's key signed it) → nonce (fresh, used up now) → judge (the life cycle's
//! verdict on its status, sensors, drift and PCRs) → apply (the change the verdict makes,
//! with its log entry) → sign (the PAT) → log (`pat.issued`).
//!
//! A new kind of evidence (a confidential VM's report) is a new `verify`/`judge` pair beside
//! these that ends in the same [`Appraisal`]; a decision step (an operator's policy) is one
//! function between `apply` and `sign`.

use cairn_log::Event;
use cairn_proto::lifecycle::{self, HostTransition, TamperMark, Verdict};
use cairn_proto::nonce::ChallengeError;
use cairn_proto::{Digest, Evidence, HkAlg, HostId, Nonce, Refusal, Signature, Signed, drift};
use cairn_store::{HostState, Transition};
use cairn_token::pat::{Confirmation, PatStatus};
use cairn_token::{Issued, Jwk, Pat, Validity};

use crate::log::Reservation;
use crate::problem::{ApiError, WithDetail};
use crate::{AppState, clock};

/// A PAT, and what it says of the host.
pub struct Attested {
    pub pat: String,
    pub status: PatStatus,
}

/// Verified evidence, judged: what the PAT will say of it.
struct Appraisal<'a> {
    evidence: &'a Evidence,
    /// The presented report's.
    fingerprint: Digest,
    host: HostState,
    verdict: Verdict,
}

/// Every check of DESIGN.md flow 2 step 3, in order. The evidence is read only once its
/// signature verifies, and the nonce is used up only then: nobody without the key can burn a
/// host's nonce or make the server remember anything.
pub async fn attest(state: &AppState, signed: &Signed<Evidence>) -> Result<Attested, ApiError> {
    verify(state, signed).await?;
    // A request refused because of the log changes nothing, its nonce included; once it has
    // begun, what it logs is taken. (Only a host's own evidence holds a place.)
    let slot = state.log.reserve()?;
    let host = use_nonce(state, &signed.payload).await?;
    let appraisal = judge(state, signed, host).await?;
    apply(state, &slot, &appraisal).await?;
    let issued = issue_pat(state, appraisal)?;
    let registered = issued.claims.registered;
    let status = issued.claims.body.status;
    let logged = Event::PatIssued {
        host_id: registered.sub,
        jti: registered.jti,
        expires_at: registered.exp.secs(),
    };
    slot.record(logged, None)?;
    let pat = issued.token;
    Ok(Attested { pat, status })
}

/// The evidence is signed by the hardware key its host enrolled, and its report is well
/// formed.
async fn verify(state: &AppState, signed: &Signed<Evidence>) -> Result<(), ApiError> {
    let evidence = &signed.payload;
    let hk = state
        .store
        .hardware_key(&evidence.host_id)
        .await?
        .ok_or(Refusal::UnknownHost)?;
    signed
        .verify(&hk)
        .map_err(|e| Refusal::EvidenceSignatureInvalid.with(e.to_string()))?;
    evidence
        .report
        .validate()
        .map_err(|e| Refusal::InvalidReport.with(e.to_string()))
}

/// Uses the evidence's nonce up, reading its host's state in the same database round trip
/// (shared by the attestations in flight on PostgreSQL). Only the host itself learns its
/// status.
async fn use_nonce(state: &AppState, evidence: &Evidence) -> Result<HostState, ApiError> {
    let expires_at = check_nonce(state, &evidence.nonce)?;
    let (host, first) = state
        .store
        .use_nonce_reading_host(&evidence.nonce, expires_at, &evidence.host_id)
        .await?
        .ok_or(Refusal::UnknownHost)?;
    host.status.admit()?;
    first_use(first)?;
    Ok(host)
}

/// Uses a challenge nonce up, or says why it cannot be used: not made here, expired, or
/// used already (on any replica).
pub async fn consume_nonce(state: &AppState, nonce: &Nonce) -> Result<(), ApiError> {
    let expires_at = check_nonce(state, nonce)?;
    first_use(state.store.use_nonce(nonce, expires_at).await?)
}

/// The expiry of a nonce this service made, unless it has passed.
fn check_nonce(state: &AppState, nonce: &Nonce) -> Result<i64, ApiError> {
    state
        .challenges
        .check(nonce, clock::now().secs())
        .map_err(|e| match e {
            ChallengeError::Expired => ApiError::from(Refusal::NonceExpired),
            ChallengeError::Unknown => {
                Refusal::NonceUnknown.with("it was never issued by this service")
            }
        })
}

fn first_use(first: bool) -> Result<(), ApiError> {
    match first {
        true => Ok(()),
        false => Err(Refusal::NonceUnknown.with("it was already used")),
    }
}

/// The life cycle's verdict on what the host presented against what it registered.
async fn judge<'a>(
    state: &AppState,
    signed: &'a Signed<Evidence>,
    host: HostState,
) -> Result<Appraisal<'a>, ApiError> {
    let evidence = &signed.payload;
    let host_id = &evidence.host_id;
    let pcrs_off = pcrs_off(state, host_id, &signed.signature)?;
    let fingerprint = evidence.report.fingerprint();
    // Equal fingerprints mean equal canonical component lists: no per-component work (and a
    // registered report never holds a tripped sensor: those are refused before they are).
    let (drift, missing) = match fingerprint == host.fingerprint {
        true => (drift::Drift::default(), vec![]),
        false => {
            let registered = state
                .store
                .registered_report(host_id, &host.fingerprint)
                .await?;
            let missing = evidence.report.missing_sensors(&registered);
            (drift::compare(&registered, &evidence.report), missing)
        }
    };
    let sensors = lifecycle::Sensors {
        tripped: evidence.report.tripped_sensors(),
        missing,
    };
    let policy = lifecycle::Policy {
        strict_drift: state.config.strict_drift,
        on_pcr_mismatch: state
            .pcr_reference
            .as_ref()
            .map(|r| r.on_mismatch)
            .unwrap_or_default(),
    };
    let verdict = lifecycle::judge(host.status, sensors, drift, &pcrs_off, policy);
    Ok(Appraisal {
        evidence,
        fingerprint,
        host,
        verdict,
    })
}

/// A TPM host's quoted PCRs that are off their `--pcr-reference` lists (none without one).
fn pcrs_off(state: &AppState, host: &HostId, signature: &Signature) -> Result<Vec<u32>, ApiError> {
    let (Some(reference), HkAlg::TPM2) = (&state.pcr_reference, signature.alg) else {
        return Ok(vec![]);
    };
    // The quote verified over these values, so they parse (and are the quoted ones).
    let values = signature
        .pcr_values()
        .map_err(|e| Refusal::EvidenceSignatureInvalid.with(e.to_string()))?;
    Ok(cairn_tpm::check_reference(
        &values,
        &reference.for_host(host),
    ))
}

/// Makes the change the verdict calls for, with its log entry: the maintenance window closes
/// on the presented hardware, or the host is quarantined for drift or tamper.
async fn apply(
    state: &AppState,
    slot: &Reservation<'_>,
    appraisal: &Appraisal<'_>,
) -> Result<(), ApiError> {
    let evidence = appraisal.evidence;
    let Some(transition) = HostTransition::on_attestation(
        &evidence.host_id,
        appraisal.host.status,
        &appraisal.verdict,
        &evidence.report,
    ) else {
        return match appraisal.verdict {
            Verdict::Rotate { .. } => Err(Refusal::HostStatusChanged.into()),
            _ => Ok(()),
        };
    };
    let sensors = match transition.mark() {
        TamperMark::Set(sensors) => sensors.clone(),
        _ => vec![],
    };
    let fingerprint = Some(appraisal.fingerprint);
    let event = Event::host_transition(&transition, None, fingerprint, sensors);
    let entry = slot.change(event, None)?;
    let applied = state
        .store
        .apply_host(&transition, &entry, clock::now())
        .await?;
    match (applied, &appraisal.verdict) {
        (Transition::Done(_), verdict) => {
            tracing::warn!(host = %evidence.host_id, change = ?transition.change(), ?verdict, "host status changed by attestation");
            Ok(())
        }
        // Whoever changed it meanwhile decides; the refusal below stands either way.
        (_, Verdict::Quarantine(_) | Verdict::Tamper(_)) => Ok(()),
        (_, _) => Err(Refusal::HostStatusChanged.into()),
    }
}

/// What the PAT says (its status and what drifted), or the refusal the verdict is.
fn outcome(verdict: Verdict) -> Result<(PatStatus, Vec<String>), ApiError> {
    let warn = |named: Vec<String>| match named.is_empty() {
        true => (PatStatus::Affirming, named),
        false => (PatStatus::Warning, named),
    };
    match verdict {
        Verdict::Affirm => Ok((PatStatus::Affirming, vec![])),
        Verdict::Warn(drifted) => Ok((PatStatus::Warning, drifted)),
        Verdict::Rotate { warn: pcrs } => Ok(warn(pcrs)),
        Verdict::Quarantine(changed) => Err(Refusal::ImmutableComponentChanged.with(format!(
            "changed: {}; the host is quarantined",
            changed.join(", ")
        ))),
        Verdict::Tamper(sensors) => Err(Refusal::TamperDetected.with(format!(
            "tripped or gone silent: {}; the host is quarantined until an operator clears it",
            sensors.join(", ")
        ))),
        Verdict::Refuse(refusal, named) => {
            let detail = match refusal {
                Refusal::PcrMismatch => format!("off the reference list: {}", named.join(", ")),
                _ if named.is_empty() => return Err(refusal.into()),
                _ => format!("changed: {}", named.join(", ")),
            };
            Err(refusal.with(detail))
        }
    }
}

/// The PAT the appraisal earns (DESIGN.md flow 2, step 4), or the refusal its verdict is.
fn issue_pat(state: &AppState, appraisal: Appraisal<'_>) -> Result<Issued<Pat>, ApiError> {
    let (status, drift) = outcome(appraisal.verdict)?;
    let evidence = appraisal.evidence;
    let body = Pat {
        hwfp: appraisal.fingerprint,
        cnf: Confirmation {
            jwk: Jwk::okp("X25519", &evidence.instance_key),
        },
        tkd: evidence.security_token_digest,
        status,
        drift,
    };
    let validity = Validity::for_ttl(clock::now(), state.config.pat_ttl);
    state
        .pat_signer
        .issue(&state.issuer, evidence.host_id.clone(), validity, body)
        .map_err(|e| ApiError::signing_unavailable(&e))
}
