//! `cairn agent boot`: the seed's boot sequence (DESIGN.md flow 3, step 2). Scan, challenge,
//! attest with a PAT bound to a per-boot X25519 key and to the instance's security token, ask
//! the key broker for the volume key, open it with the per-boot key, unlock. The per-boot
//! private key and the released key are zeroized when they drop.

use cairn_proto::Report;
use cairn_proto::api::KeyRequest;
use cairn_proto::sealed::{RecipientKey, VOLUME_KEY_INFO};
use cairn_proto::secret::VolumeKey;

use crate::volume::{Backend, VolumeError};
use cairn_client::{ApiClient, ClientError};

use crate::{HardwareKeySigner, flows};

/// Where boot stopped, each with its own exit code in the CLI.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("attestation: {0}")]
    Attestation(ClientError),
    #[error("key release: {0}")]
    Release(ClientError),
    #[error("the released key does not open: {0}")]
    Sealed(String),
    #[error("unlock: {0}")]
    Unlock(VolumeError),
}

/// One step done, for the boot log.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

pub async fn boot(
    client: &ApiClient,
    hk: &dyn HardwareKeySigner,
    report: Report,
    security_token: &str,
    volume_id: &str,
    backend: &Backend,
    progress: Progress<'_>,
) -> Result<String, BootError> {
    let key = release(client, hk, report, security_token, volume_id, progress).await?;
    let done = backend.unlock(key.expose()).map_err(BootError::Unlock)?;
    progress(&done);
    Ok(done)
}

/// Everything up to the opened volume key.
pub async fn release(
    client: &ApiClient,
    hk: &dyn HardwareKeySigner,
    report: Report,
    security_token: &str,
    volume_id: &str,
    progress: Progress<'_>,
) -> Result<VolumeKey, BootError> {
    let boot_key = RecipientKey::generate();
    let pat = flows::attest(client, hk, report, boot_key.public(), Some(security_token))
        .await
        .map_err(BootError::Attestation)?;
    progress("attested: PAT received, bound to this boot's key and the security token");
    let sealed = client
        .release_key(
            volume_id,
            &KeyRequest {
                security_token: security_token.into(),
                pat,
            },
        )
        .await
        .map_err(BootError::Release)?;
    let key = boot_key
        .open(&sealed, VOLUME_KEY_INFO, volume_id.as_bytes())
        .map_err(|e| BootError::Sealed(e.to_string()))?;
    let key = VolumeKey::from_slice(&key).map_err(BootError::Sealed)?;
    progress(&format!("volume key for {volume_id} released and opened"));
    Ok(key)
}
