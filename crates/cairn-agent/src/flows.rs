//! Enrollment and attestation as an agent runs them: challenge, sign, send.

use cairn_proto::api::EnrollResponse;
use cairn_proto::{Digest, Enrollment, ErotId, Evidence, Report, Signed};
use time::OffsetDateTime;

use cairn_client::{ApiClient, ClientError};

use crate::HardwareKeySigner;

/// This machine's hardware report as evidence carries it: what the files under `root` show,
/// and the TPM's endorsement key when the hardware key lives in a TPM.
pub fn host_report(root: &std::path::Path, key: &dyn HardwareKeySigner) -> Report {
    let report = cairn_hfm::scan(root).report;
    match key.endorsement_key() {
        Some(ek) => cairn_hfm::with_endorsement_key(report, &ek),
        None => report,
    }
}

fn sign_with<T: cairn_proto::statement::Payload>(
    hk: &dyn HardwareKeySigner,
    payload: T,
) -> Result<Signed<T>, ClientError> {
    Signed::sign(payload, |bytes| hk.sign(bytes)).map_err(|e| ClientError::Usage(e.to_string()))
}

pub async fn enroll(
    client: &ApiClient,
    hk: &dyn HardwareKeySigner,
    name: &str,
    report: Report,
    join_token: Option<String>,
) -> Result<EnrollResponse, ClientError> {
    let ek_cert = hk
        .ek_certificate()
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    let challenge = client.challenge().await?;
    let enrollment = Enrollment {
        nonce: challenge.nonce,
        name: name.into(),
        report,
        hk: hk.public(),
        join_token,
        ek_cert: ek_cert.map(cairn_proto::b64::encode),
    };
    let enrolled = client.enroll(&sign_with(hk, enrollment)?).await?;
    // A TPM host proves its AK sits in the TPM of its EK before the enrollment counts.
    let Some(credential) = &enrolled.credential else {
        return Ok(enrolled);
    };
    let secret = hk
        .activate_credential(&credential.id_object, &credential.encrypted_secret)
        .map_err(|e| ClientError::Usage(e.to_string()))?;
    client.activate(&enrolled.host_id, secret).await
}

/// Attests and returns the PAT, bound to `instance_key` (the boot client's X25519 public key)
/// and, when given, to the instance's security token.
pub async fn attest(
    client: &ApiClient,
    hk: &dyn HardwareKeySigner,
    report: Report,
    instance_key: [u8; 32],
    security_token: Option<&str>,
) -> Result<String, ClientError> {
    let challenge = client.challenge().await?;
    let evidence = Evidence {
        host_id: hk.public().host_id(),
        nonce: challenge.nonce,
        instance_key,
        security_token_digest: security_token.map(Digest::sha256),
        time: OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("zero is a valid nanosecond"),
        report,
    };
    client.attest(&sign_with(hk, evidence)?).await
}

/// A fresh X25519 public key for diagnostics (`cairn agent attest`), whose private half is
/// dropped at once: the PAT it yields can prove attestation but unlock nothing.
pub fn throwaway_instance_key() -> [u8; 32] {
    use aws_lc_rs::agreement::{PrivateKey, X25519};
    let key = PrivateKey::generate(&X25519).expect("X25519 key generation");
    let public = key.compute_public_key().expect("X25519 public key");
    public
        .as_ref()
        .try_into()
        .expect("X25519 public keys are 32 bytes")
}

/// Reports a finished workload, signed with the hardware key; the server destroys the ERoT.
pub async fn complete(
    client: &ApiClient,
    hk: &dyn HardwareKeySigner,
    erot_id: &ErotId,
    exit_status: i32,
    output_digest: Digest,
) -> Result<(), ClientError> {
    let completion = cairn_proto::Completion {
        erot_id: erot_id.to_string(),
        host_id: hk.public().host_id(),
        exit_status,
        output_digest,
        time: OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .expect("zero is a valid nanosecond"),
    };
    client
        .complete_erot(erot_id, &sign_with(hk, completion)?)
        .await
}
