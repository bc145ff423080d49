//! `tpm:TCTI`: the hardware key is an attestation key (AK) inside the TPM, created under the
//! endorsement key (EK) at enrollment and made persistent at [`AK_HANDLE`], so later runs find
//! it without any file on disk. Signing is TPM2_Quote over SHA-256 PCRs 0–7 with the payload's
//! SHA-256 as qualifying data (DESIGN.md); the AK never signs anything else. Each operation
//! opens its own connection: swtpm serves one client at a time, and has no resource manager,
//! so every transient object is flushed before the connection closes.

use std::str::FromStr;

use cairn_proto::{Digest, HardwareKey, HkAlg, Signature};
use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, ak, ek, pcr};
use tss_esapi::attributes::SessionAttributesBuilder;
use tss_esapi::constants::{CapabilityType, SessionType};
use tss_esapi::handles::{
    AuthHandle, KeyHandle, ObjectHandle, PersistentTpmHandle, SessionHandle, TpmHandle,
};
use tss_esapi::interface_types::algorithm::{
    AsymmetricAlgorithm, HashingAlgorithm, SignatureSchemeAlgorithm,
};
use tss_esapi::interface_types::dynamic_handles::Persistent;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Provision;
use tss_esapi::interface_types::session_handles::PolicySession;
use tss_esapi::structures::{
    CapabilityData, Data, EncryptedSecret, IdObject, PcrSelectionListBuilder, PcrSlot,
    PublicBuffer, SignatureScheme, SymmetricDefinition,
};
use tss_esapi::traits::Marshall;
use tss_esapi::{Context, TctiNameConf};
use zeroize::Zeroizing;

use super::{HardwareKeySigner, HkError};

/// Where Cairn keeps its AK: a persistent handle in the endorsement range (TCG provisioning
/// guidance reserves 0x81010000–0x8101FFFF for endorsement-hierarchy keys).
pub const AK_HANDLE: u32 = 0x8101_0ca1;

/// PCRs 0–7: the firmware and boot chain measurements.
const QUOTED_PCRS: [PcrSlot; 8] = [
    PcrSlot::Slot0,
    PcrSlot::Slot1,
    PcrSlot::Slot2,
    PcrSlot::Slot3,
    PcrSlot::Slot4,
    PcrSlot::Slot5,
    PcrSlot::Slot6,
    PcrSlot::Slot7,
];

fn tpm_error(what: &str) -> impl Fn(tss_esapi::Error) -> HkError + '_ {
    move |e| HkError::Invalid(format!("TPM: {what}: {e}"))
}

pub struct TpmKey {
    tcti: String,
    /// The AK's TPM2B_PUBLIC: the hardware key's `public_key`.
    public: Vec<u8>,
}

impl TpmKey {
    /// Opens the TPM named by `tcti` (`swtpm:host=…,port=…`, `device:/dev/tpmrm0`, …) and
    /// finds Cairn's AK, creating it when `create` (enrollment) and it is missing.
    pub fn open(tcti: &str, create: bool) -> Result<Self, HkError> {
        let mut key = TpmKey {
            tcti: tcti.to_string(),
            public: vec![],
        };
        let mut ctx = key.context()?;
        let ak = match find_ak(&mut ctx)? {
            Some(ak) => ak,
            None if create => create_ak(&mut ctx)?,
            None => {
                return Err(HkError::Invalid(
                    "this TPM holds no Cairn attestation key (enroll this host first)".into(),
                ));
            }
        };
        let (public, _, _) = ctx.read_public(ak).map_err(tpm_error("reading the AK"))?;
        key.public = PublicBuffer::try_from(public)
            .and_then(|p| p.marshall())
            .map_err(tpm_error("encoding the AK"))?;
        Ok(key)
    }

    fn context(&self) -> Result<Context, HkError> {
        let tcti = TctiNameConf::from_str(&self.tcti)
            .map_err(|e| HkError::Invalid(format!("TPM TCTI {:?}: {e}", self.tcti)))?;
        Context::new(tcti)
            .map_err(|e| HkError::Invalid(format!("cannot open the TPM at {:?}: {e}", self.tcti)))
    }

    /// The EK certificate (DER) from NV index 0x01c00002 (RSA 2048), as the manufacturer
    /// provisioned it.
    pub fn ek_certificate(&self) -> Result<Vec<u8>, HkError> {
        let mut ctx = self.context()?;
        ek::retrieve_ek_pubcert(
            &mut ctx,
            AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
        )
        .map_err(tpm_error(
            "reading the EK certificate (does this TPM have one?)",
        ))
    }

    /// TPM2_ActivateCredential: recovers the secret a server sealed to this TPM's EK for
    /// this AK's name, which only this TPM can.
    pub fn activate_credential(
        &self,
        id_object: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HkError> {
        let mut ctx = self.context()?;
        let ak = find_ak(&mut ctx)?.ok_or_else(|| HkError::Invalid("no Cairn AK".into()))?;
        let ek = ek::create_ek_object(&mut ctx, AsymmetricAlgorithm::Rsa, None)
            .map_err(tpm_error("loading the EK"))?;
        let result = activate(&mut ctx, ak, ek, id_object, encrypted_secret);
        let _ = ctx.flush_context(ek.into());
        result
    }
}

fn activate(
    ctx: &mut Context,
    ak: KeyHandle,
    ek: KeyHandle,
    id_object: &[u8],
    encrypted_secret: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HkError> {
    let start = |ctx: &mut Context, kind| {
        let session = ctx
            .start_auth_session(
                None,
                None,
                None,
                kind,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .map_err(tpm_error("starting a session"))?
            .ok_or_else(|| HkError::Invalid("TPM: no session".into()))?;
        let (attributes, mask) = SessionAttributesBuilder::new().build();
        ctx.tr_sess_set_attributes(session, attributes, mask)
            .map_err(tpm_error("configuring a session"))?;
        Ok::<_, HkError>(session)
    };
    let hmac = start(ctx, SessionType::Hmac)?;
    let policy = start(ctx, SessionType::Policy)?;
    // The EK's policy: PolicySecret of the endorsement hierarchy.
    let result = ctx
        .execute_with_session(Some(hmac), |ctx| {
            ctx.policy_secret(
                PolicySession::try_from(policy)?,
                AuthHandle::Endorsement,
                Default::default(),
                Default::default(),
                Default::default(),
                None,
            )
        })
        .map_err(tpm_error("satisfying the EK policy"))
        .and_then(|_| {
            let credential =
                IdObject::try_from(id_object.to_vec()).map_err(tpm_error("the credential blob"))?;
            let secret = EncryptedSecret::try_from(encrypted_secret.to_vec())
                .map_err(tpm_error("the encrypted secret"))?;
            ctx.execute_with_sessions((Some(hmac), Some(policy), None), |ctx| {
                ctx.activate_credential(ak, ek, credential, secret)
            })
            .map_err(|e| {
                HkError::Invalid(format!(
                    "TPM: credential activation failed (not sealed to this TPM's EK and AK): {e}"
                ))
            })
        });
    for session in [hmac, policy] {
        let _ = ctx.flush_context(ObjectHandle::from(SessionHandle::from(session)));
    }
    result.map(|digest| Zeroizing::new(digest.to_vec()))
}

fn ak_handle() -> PersistentTpmHandle {
    PersistentTpmHandle::new(AK_HANDLE).expect("a persistent handle")
}

/// Cairn's AK, if the TPM holds it. The persistent handles are listed first: asking for a
/// handle that does not exist makes the TSS log errors.
fn find_ak(ctx: &mut Context) -> Result<Option<KeyHandle>, HkError> {
    let handle = TpmHandle::Persistent(ak_handle());
    let (listed, _) = ctx
        .get_capability(CapabilityType::Handles, AK_HANDLE, 1)
        .map_err(tpm_error("listing persistent handles"))?;
    let present = matches!(listed, CapabilityData::Handles(list) if list.contains(&handle));
    if !present {
        return Ok(None);
    }
    ctx.execute_without_session(|ctx| ctx.tr_from_tpm_public(handle))
        .map(|h| Some(KeyHandle::from(h)))
        .map_err(tpm_error("opening the AK"))
}

/// A new ECDSA P-256 AK under the RSA EK, made persistent; the EK is flushed again (its
/// certificate and template make it reproducible at any time).
fn create_ak(ctx: &mut Context) -> Result<KeyHandle, HkError> {
    let ek = ek::create_ek_object(ctx, AsymmetricAlgorithm::Rsa, None)
        .map_err(tpm_error("creating the EK"))?;
    let made = ak::create_ak(
        ctx,
        ek,
        HashingAlgorithm::Sha256,
        SignatureSchemeAlgorithm::EcDsa,
        None,
        None,
    )
    .and_then(|key| ak::load_ak(ctx, ek, None, key.out_private, key.out_public))
    .map_err(tpm_error("creating the AK"));
    let _ = ctx.flush_context(ek.into());
    let transient = made?;
    let persisted = ctx.execute_with_nullauth_session(|ctx| {
        ctx.evict_control(
            Provision::Owner,
            transient.into(),
            Persistent::Persistent(ak_handle()),
        )
    });
    let _ = ctx.flush_context(transient.into());
    persisted
        .map(KeyHandle::from)
        .map_err(tpm_error("making the AK persistent"))
}

impl HardwareKeySigner for TpmKey {
    fn public(&self) -> HardwareKey {
        HardwareKey {
            alg: HkAlg::TPM2,
            public_key: self.public.clone(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, HkError> {
        let mut ctx = self.context()?;
        let ak = find_ak(&mut ctx)?.ok_or_else(|| HkError::Invalid("no Cairn AK".into()))?;
        let selection = PcrSelectionListBuilder::new()
            .with_selection(HashingAlgorithm::Sha256, &QUOTED_PCRS)
            .build()
            .map_err(tpm_error("the PCR selection"))?;
        let qualifying = Data::try_from(Digest::sha256(message).0.to_vec())
            .map_err(tpm_error("qualifying data"))?;
        let (attest, signature) = ctx
            .execute_with_nullauth_session(|ctx| {
                ctx.quote(ak, qualifying, SignatureScheme::Null, selection.clone())
            })
            .map_err(tpm_error("quote"))?;
        let values = pcr::read_all(&mut ctx, selection).map_err(tpm_error("reading PCRs"))?;
        let bank = values
            .pcr_bank(HashingAlgorithm::Sha256)
            .ok_or_else(|| HkError::Invalid("TPM: no SHA-256 PCR bank".into()))?;
        let pcrs = bank
            .into_iter()
            .map(|(slot, digest)| {
                let index = u32::from(*slot).trailing_zeros();
                (index.to_string(), hex::encode(digest.value()))
            })
            .collect();
        Ok(Signature {
            alg: HkAlg::TPM2,
            value: signature.marshall().map_err(tpm_error("encoding"))?,
            attest: Some(attest.marshall().map_err(tpm_error("encoding"))?),
            pcrs: Some([("sha256".to_string(), pcrs)].into()),
        })
    }

    fn ek_certificate(&self) -> Result<Option<Vec<u8>>, HkError> {
        TpmKey::ek_certificate(self).map(Some)
    }

    fn activate_credential(
        &self,
        id_object: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, HkError> {
        TpmKey::activate_credential(self, id_object, encrypted_secret)
    }
}
