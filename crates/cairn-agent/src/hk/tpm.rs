//! `tpm:TCTI[?pcrs=0,1,2,7][&ek=rsa|ecc]`: the hardware key is an attestation key (AK) inside
//! the TPM, created under the endorsement key (EK) at enrollment and made persistent at
//! [`AK_HANDLE`] (the EK at its handle, [`EkKind::handle`]), so later runs find both without
//! any file on disk. The EK is the RSA 2048 one by default; `ek=ecc` takes the NIST P-256 EK,
//! or the P-384 one where only that has a certificate.
//! Signing is TPM2_Quote over the selected SHA-256 PCRs (default 0–7) with the payload's
//! SHA-256 as qualifying data (DESIGN.md); the AK never signs anything else. Each operation
//! opens its own connection: swtpm serves one client at a time, and has no resource manager,
//! so every transient object is flushed before the connection closes.

use std::str::FromStr;

use cairn_proto::secret::ActivationSecret;
use cairn_proto::{Digest, HardwareKey, HkAlg, Signature};
use tss_esapi::abstraction::{AsymmetricAlgorithmSelection, ak, ek, pcr};
use tss_esapi::attributes::SessionAttributesBuilder;
use tss_esapi::constants::{CapabilityType, SessionType};
use tss_esapi::handles::{
    AuthHandle, KeyHandle, NvIndexTpmHandle, ObjectHandle, PersistentTpmHandle, SessionHandle,
    TpmHandle,
};
use tss_esapi::interface_types::algorithm::{HashingAlgorithm, SignatureSchemeAlgorithm};
use tss_esapi::interface_types::dynamic_handles::Persistent;
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::key_bits::RsaKeyBits;
use tss_esapi::interface_types::resource_handles::Provision;
use tss_esapi::interface_types::session_handles::PolicySession;
use tss_esapi::structures::{
    CapabilityData, Data, Digest as TpmDigest, DigestList, EncryptedSecret, IdObject,
    PcrSelectionListBuilder, PcrSlot, PublicBuffer, SignatureScheme, SymmetricDefinition,
};
use tss_esapi::traits::Marshall;
use tss_esapi::{Context, TctiNameConf};
use zeroize::Zeroizing;

use super::{HardwareKeySigner, HkError};

/// Where Cairn keeps its AK: a persistent handle in the endorsement range (TCG provisioning
/// guidance reserves 0x81010000–0x8101FFFF for endorsement-hierarchy keys).
pub const AK_HANDLE: u32 = 0x8101_0ca1;

/// The endorsement keys the agent uses, by TCG EK Credential Profile template (the server's
/// side is `cairn_tpm::EkPublic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EkKind {
    /// Template L-1, certificate at NV 0x01c00002.
    Rsa2048,
    /// Template L-2, certificate at 0x01c0000a.
    EccP256,
    /// Template H-3, certificate at 0x01c00016.
    EccP384,
}

impl EkKind {
    fn selection(self) -> AsymmetricAlgorithmSelection {
        match self {
            EkKind::Rsa2048 => AsymmetricAlgorithmSelection::Rsa(RsaKeyBits::Rsa2048),
            EkKind::EccP256 => AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP256),
            EkKind::EccP384 => AsymmetricAlgorithmSelection::Ecc(EccCurve::NistP384),
        }
    }

    /// Where the EK is kept: the TCG handles for the RSA and ECC EKs, and the next one for
    /// P-384, which has none.
    pub fn handle(self) -> u32 {
        match self {
            EkKind::Rsa2048 => 0x8101_0001,
            EkKind::EccP256 => 0x8101_0002,
            EkKind::EccP384 => 0x8101_0003,
        }
    }

    fn certificate_index(self) -> u32 {
        match self {
            EkKind::Rsa2048 => 0x01c0_0002,
            EkKind::EccP256 => 0x01c0_000a,
            EkKind::EccP384 => 0x01c0_0016,
        }
    }

    fn name_hash(self) -> HashingAlgorithm {
        match self {
            EkKind::EccP384 => HashingAlgorithm::Sha384,
            _ => HashingAlgorithm::Sha256,
        }
    }
}

/// The high-range EK templates' policy (TCG EK Credential Profile, PolicyB for SHA-384):
/// PolicyOR of PolicyA (PolicySecret of the endorsement hierarchy) and PolicyC.
const POLICY_A_SHA384: [u8; 48] = [
    0x8b, 0xbf, 0x22, 0x66, 0x53, 0x7c, 0x17, 0x1c, 0xb5, 0x6e, 0x40, 0x3c, 0x4d, 0xc1, 0xd4, 0xb6,
    0x4f, 0x43, 0x26, 0x11, 0xdc, 0x38, 0x6e, 0x6f, 0x53, 0x20, 0x50, 0xc3, 0x27, 0x8c, 0x93, 0x0e,
    0x14, 0x3e, 0x8b, 0xb1, 0x13, 0x38, 0x24, 0xcc, 0xb4, 0x31, 0x05, 0x38, 0x71, 0xc6, 0xdb, 0x53,
];
const POLICY_C_SHA384: [u8; 48] = [
    0xd6, 0x03, 0x2c, 0xe6, 0x1f, 0x2f, 0xb3, 0xc2, 0x40, 0xeb, 0x3c, 0xf6, 0xa3, 0x32, 0x37, 0xef,
    0x2b, 0x6a, 0x16, 0xf4, 0x29, 0x3c, 0x22, 0xb4, 0x55, 0xe2, 0x61, 0xcf, 0xfd, 0x21, 0x7a, 0xd5,
    0xb4, 0x94, 0x7c, 0x2d, 0x73, 0xe6, 0x30, 0x05, 0xee, 0xd2, 0xdc, 0x2b, 0x35, 0x93, 0xd1, 0x65,
];

/// Which EK family the spec asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EkChoice {
    Rsa,
    Ecc,
}

/// PCRs 0–7 unless the spec says otherwise: the firmware and boot chain measurements.
const DEFAULT_PCRS: [u32; 8] = [0, 1, 2, 3, 4, 5, 6, 7];

/// `TCTI[?pcrs=LIST][&ek=rsa|ecc]` → the TCTI, the PCR indices to quote, the EK family.
fn parse_spec(spec: &str) -> Result<(String, Vec<u32>, EkChoice), HkError> {
    let (tcti, query) = spec.split_once('?').unwrap_or((spec, ""));
    let mut pcrs = DEFAULT_PCRS.to_vec();
    let mut ek = EkChoice::Rsa;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("ek", "rsa")) => ek = EkChoice::Rsa,
            Some(("ek", "ecc")) => ek = EkChoice::Ecc,
            Some(("pcrs", list)) => {
                pcrs = list
                    .split(',')
                    .map(|i| i.trim().parse::<u32>().ok().filter(|i| *i < 24))
                    .collect::<Option<Vec<_>>>()
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| {
                        HkError::BadSpec(format!("pcrs={list}: PCR indices are 0 to 23"))
                    })?;
                pcrs.sort_unstable();
                pcrs.dedup();
            }
            _ => return Err(HkError::BadSpec(format!("tpm:{spec} (unknown {pair:?})"))),
        }
    }
    if tcti.is_empty() {
        return Err(HkError::BadSpec(format!("tpm:{spec} (no TCTI)")));
    }
    Ok((tcti.to_string(), pcrs, ek))
}

fn tpm_error(what: &str) -> impl Fn(tss_esapi::Error) -> HkError + '_ {
    move |e| HkError::Invalid(format!("TPM: {what}: {e}"))
}

pub struct TpmKey {
    tcti: String,
    pcrs: Vec<PcrSlot>,
    ek: EkKind,
    /// The AK's TPM2B_PUBLIC: the hardware key's `public_key`.
    public: Vec<u8>,
    /// The EK's TPM2B_PUBLIC: the TPM's identity in the hardware report.
    endorsement: Vec<u8>,
}

impl TpmKey {
    /// Opens the TPM of `spec` (`TCTI[?pcrs=LIST][&ek=rsa|ecc]`, the TCTI being `swtpm:host=…,port=…`,
    /// `device:/dev/tpmrm0`, …) and finds Cairn's AK, creating it (and persisting the EK)
    /// when `create` (enrollment) and it is missing.
    pub fn open(spec: &str, create: bool) -> Result<Self, HkError> {
        let (tcti, pcrs, ek_choice) = parse_spec(spec)?;
        let pcrs = pcrs
            .iter()
            .map(|i| PcrSlot::try_from(1u32 << i).map_err(tpm_error("PCR index")))
            .collect::<Result<_, _>>()?;
        let mut key = TpmKey {
            tcti,
            pcrs,
            ek: EkKind::Rsa2048,
            public: vec![],
            endorsement: vec![],
        };
        let mut ctx = key.context()?;
        key.ek = match ek_choice {
            EkChoice::Rsa => EkKind::Rsa2048,
            // The P-256 EK where it is certified, else the P-384 one.
            EkChoice::Ecc if nv_present(&mut ctx, EkKind::EccP256.certificate_index())? => {
                EkKind::EccP256
            }
            EkChoice::Ecc => EkKind::EccP384,
        };
        let (ek, transient) = endorsement_key(&mut ctx, key.ek, create)?;
        let read = tpm2b_public(&mut ctx, ek);
        if transient {
            let _ = ctx.flush_context(ek.into());
        }
        key.endorsement = read?;
        let ak = match find_persistent(&mut ctx, AK_HANDLE)? {
            Some(ak) => ak,
            None if create => create_ak(&mut ctx, key.ek)?,
            None => {
                return Err(HkError::Invalid(
                    "this TPM holds no Cairn attestation key (enroll this host first)".into(),
                ));
            }
        };
        key.public = tpm2b_public(&mut ctx, ak)?;
        Ok(key)
    }

    fn context(&self) -> Result<Context, HkError> {
        let tcti = TctiNameConf::from_str(&self.tcti)
            .map_err(|e| HkError::Invalid(format!("TPM TCTI {:?}: {e}", self.tcti)))?;
        Context::new(tcti)
            .map_err(|e| HkError::Invalid(format!("cannot open the TPM at {:?}: {e}", self.tcti)))
    }

    /// The EK certificate (DER) from its NV index (0x01c00002 for RSA 2048, 0x01c0000a or
    /// 0x01c00016 for ECC), as the manufacturer provisioned it.
    pub fn ek_certificate(&self) -> Result<Vec<u8>, HkError> {
        let mut ctx = self.context()?;
        ek::retrieve_ek_pubcert(&mut ctx, self.ek.selection()).map_err(tpm_error(
            "reading the EK certificate (does this TPM have one?)",
        ))
    }

    /// TPM2_ActivateCredential: recovers the secret a server sealed to this TPM's EK for
    /// this AK's name, which only this TPM can.
    pub fn activate_credential(
        &self,
        id_object: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<ActivationSecret, HkError> {
        let mut ctx = self.context()?;
        let ak = find_persistent(&mut ctx, AK_HANDLE)?
            .ok_or_else(|| HkError::Invalid("no Cairn AK".into()))?;
        let (ek, transient) = endorsement_key(&mut ctx, self.ek, false)?;
        let result = activate(&mut ctx, ak, (ek, self.ek), id_object, encrypted_secret);
        if transient {
            let _ = ctx.flush_context(ek.into());
        }
        ActivationSecret::from_slice(&result?).map_err(HkError::Invalid)
    }
}

fn activate(
    ctx: &mut Context,
    ak: KeyHandle,
    (ek, kind): (KeyHandle, EkKind),
    id_object: &[u8],
    encrypted_secret: &[u8],
) -> Result<Zeroizing<Vec<u8>>, HkError> {
    let start = |ctx: &mut Context, session_type| {
        let session = ctx
            .start_auth_session(
                None,
                None,
                None,
                session_type,
                SymmetricDefinition::AES_128_CFB,
                kind.name_hash(),
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
    // The EK's policy: PolicySecret of the endorsement hierarchy (PolicyA), which the
    // high-range templates wrap in PolicyOR(PolicyA, PolicyC).
    let result = ctx
        .execute_with_session(Some(hmac), |ctx| {
            let session = PolicySession::try_from(policy)?;
            ctx.policy_secret(
                session,
                AuthHandle::Endorsement,
                Default::default(),
                Default::default(),
                Default::default(),
                None,
            )?;
            if kind == EkKind::EccP384 {
                let mut branches = DigestList::new();
                branches.add(TpmDigest::try_from(POLICY_A_SHA384.to_vec())?)?;
                branches.add(TpmDigest::try_from(POLICY_C_SHA384.to_vec())?)?;
                // PolicyOR authorizes nothing itself: it runs with no session attached.
                ctx.execute_without_session(|ctx| ctx.policy_or(session, branches))?;
            }
            Ok(())
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

/// A loaded key's public area as TPM2B_PUBLIC, the bytes the wire format carries.
fn tpm2b_public(ctx: &mut Context, key: KeyHandle) -> Result<Vec<u8>, HkError> {
    let (public, _, _) = ctx
        .read_public(key)
        .map_err(tpm_error("reading a public key"))?;
    PublicBuffer::try_from(public)
        .and_then(|p| p.marshall())
        .map_err(tpm_error("encoding a public key"))
}

fn persistent(handle: u32) -> PersistentTpmHandle {
    PersistentTpmHandle::new(handle).expect("a persistent handle")
}

/// The object at persistent `handle`, if the TPM holds one. The persistent handles are listed
/// first: asking for a handle that does not exist makes the TSS log errors.
fn find_persistent(ctx: &mut Context, at: u32) -> Result<Option<KeyHandle>, HkError> {
    let handle = TpmHandle::Persistent(persistent(at));
    let (listed, _) = ctx
        .get_capability(CapabilityType::Handles, at, 1)
        .map_err(tpm_error("listing persistent handles"))?;
    let present = matches!(listed, CapabilityData::Handles(list) if list.contains(&handle));
    if !present {
        return Ok(None);
    }
    ctx.execute_without_session(|ctx| ctx.tr_from_tpm_public(handle))
        .map(|h| Some(KeyHandle::from(h)))
        .map_err(tpm_error("opening a persistent key"))
}

/// Whether NV index `index` is defined (listed first, as for persistent handles).
fn nv_present(ctx: &mut Context, index: u32) -> Result<bool, HkError> {
    let handle = TpmHandle::NvIndex(NvIndexTpmHandle::new(index).map_err(tpm_error("NV index"))?);
    let (listed, _) = ctx
        .get_capability(CapabilityType::Handles, index, 1)
        .map_err(tpm_error("listing NV indices"))?;
    Ok(matches!(listed, CapabilityData::Handles(list) if list.contains(&handle)))
}

/// The EK of `kind`: the persistent one, or one made from its template (the same key every
/// time), persisted when `persist`. Returns whether the handle is transient (the caller
/// flushes it).
fn endorsement_key(
    ctx: &mut Context,
    kind: EkKind,
    persist: bool,
) -> Result<(KeyHandle, bool), HkError> {
    if let Some(ek) = find_persistent(ctx, kind.handle())? {
        return Ok((ek, false));
    }
    let ek = ek::create_ek_object_2(ctx, kind.selection(), None)
        .map_err(tpm_error("creating the EK"))?;
    if !persist {
        return Ok((ek, true));
    }
    let persisted = ctx.execute_with_nullauth_session(|ctx| {
        ctx.evict_control(
            Provision::Owner,
            ek.into(),
            Persistent::Persistent(persistent(kind.handle())),
        )
    });
    let _ = ctx.flush_context(ek.into());
    persisted
        .map(|h| (KeyHandle::from(h), false))
        .map_err(tpm_error("making the EK persistent"))
}

/// A new ECDSA P-256 AK under the (persistent) EK, made persistent too.
fn create_ak(ctx: &mut Context, kind: EkKind) -> Result<KeyHandle, HkError> {
    let (ek, _) = endorsement_key(ctx, kind, true)?;
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
    let transient = made?;
    let persisted = ctx.execute_with_nullauth_session(|ctx| {
        ctx.evict_control(
            Provision::Owner,
            transient.into(),
            Persistent::Persistent(persistent(AK_HANDLE)),
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
        let ak = find_persistent(&mut ctx, AK_HANDLE)?
            .ok_or_else(|| HkError::Invalid("no Cairn AK".into()))?;
        let selection = PcrSelectionListBuilder::new()
            .with_selection(HashingAlgorithm::Sha256, &self.pcrs)
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

    fn endorsement_key(&self) -> Option<Vec<u8>> {
        Some(self.endorsement.clone())
    }

    fn activate_credential(
        &self,
        id_object: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<ActivationSecret, HkError> {
        TpmKey::activate_credential(self, id_object, encrypted_secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_tcti_and_optionally_the_quoted_pcrs_and_the_ek() {
        let (tcti, pcrs, ek) = parse_spec("swtpm:host=127.0.0.1,port=2321").unwrap();
        assert_eq!(
            (tcti.as_str(), pcrs, ek),
            (
                "swtpm:host=127.0.0.1,port=2321",
                DEFAULT_PCRS.to_vec(),
                EkChoice::Rsa
            )
        );
        let (tcti, pcrs, ek) = parse_spec("device:/dev/tpmrm0?pcrs=7,0,7,14&ek=ecc").unwrap();
        assert_eq!(
            (tcti.as_str(), pcrs, ek),
            ("device:/dev/tpmrm0", vec![0, 7, 14], EkChoice::Ecc)
        );
        for bad in [
            "",
            "?pcrs=1",
            "device:/dev/tpmrm0?pcrs=24",
            "device:x?pcrs=",
            "device:x?pcr=1",
            "device:x?ek=dsa",
        ] {
            assert!(parse_spec(bad).is_err(), "{bad}");
        }
    }
}
