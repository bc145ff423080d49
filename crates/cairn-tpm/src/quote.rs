//! TPM2_Quote results: a `TPMS_ATTEST` of type quote, signed by an attestation key, over a
//! PCR selection and its digest. [`verify_quote`] is what the attestation service runs on
//! `TPM2` evidence (DESIGN.md: the qualifying data is SHA-256 of the canonical payload).

use std::collections::BTreeMap;

use aws_lc_rs::digest::{Context, SHA256};

use crate::wire::{Reader, alg};
use crate::{AkPublic, TpmError};

const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;

/// PCR index → SHA-256 bank value, as the `pcrs.sha256` of a signed statement carries them.
pub type PcrValues = BTreeMap<u32, [u8; 32]>;

/// What a verified quote says besides the PCRs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The TPM's clock in milliseconds, and its reset and restart counters: a reboot or TPM
    /// reset shows as a change.
    pub clock: u64,
    pub reset_count: u32,
    pub restart_count: u32,
    pub firmware_version: u64,
}

/// Checks, in this order: the AK's signature over `attest`; that `attest` is a TPM-made quote;
/// that its qualifying data is `qualifying_data`; that it selects exactly the SHA-256 PCRs of
/// `pcrs`; and that its PCR digest is theirs. Only then are the PCR values trustworthy.
pub fn verify_quote(
    ak: &AkPublic,
    attest: &[u8],
    signature: &[u8],
    qualifying_data: &[u8],
    pcrs: &PcrValues,
) -> Result<Quote, TpmError> {
    ak.verify(attest, signature)?;
    let mut r = Reader::new(attest);
    if r.u32()? != TPM_GENERATED_VALUE || r.u16()? != TPM_ST_ATTEST_QUOTE {
        return Err(TpmError::NotAQuote);
    }
    let _qualified_signer = r.sized()?;
    if r.sized()? != qualifying_data {
        return Err(TpmError::QualifyingData);
    }
    let clock = r.u64()?;
    let reset_count = r.u32()?;
    let restart_count = r.u32()?;
    let _safe = r.u8()?;
    let firmware_version = r.u64()?;
    let selected = read_selection(&mut r)?;
    let pcr_digest = r.sized()?;
    r.finish()?;
    if !selected.iter().eq(pcrs.keys()) {
        return Err(TpmError::PcrSelection);
    }
    let mut expected = Context::new(&SHA256);
    pcrs.values().for_each(|value| expected.update(value));
    if expected.finish().as_ref() != pcr_digest {
        return Err(TpmError::PcrDigest);
    }
    Ok(Quote {
        clock,
        reset_count,
        restart_count,
        firmware_version,
    })
}

/// A `TPML_PCR_SELECTION` that selects only from the SHA-256 bank: its indices, ascending
/// (the order in which the TPM hashes the values).
fn read_selection(r: &mut Reader) -> Result<Vec<u32>, TpmError> {
    let mut indices = vec![];
    for _ in 0..r.u32()? {
        let hash = r.u16()?;
        let size = r.u8()? as usize;
        let bitmap = r.take(size)?;
        let bank: Vec<u32> = (0..bitmap.len() * 8)
            .filter(|i| bitmap[i / 8] & (1 << (i % 8)) != 0)
            .map(|i| i as u32)
            .collect();
        if bank.is_empty() {
            continue;
        }
        if hash != alg::SHA256 || !indices.is_empty() {
            return Err(TpmError::PcrSelection);
        }
        indices = bank;
    }
    Ok(indices)
}

/// Reference values: for each PCR that has a list, the value must be on it. Returns the
/// PCRs whose values are not (empty when all are).
pub fn check_reference(pcrs: &PcrValues, reference: &BTreeMap<u32, Vec<[u8; 32]>>) -> Vec<u32> {
    reference
        .iter()
        .filter(|(index, allowed)| !pcrs.get(index).is_some_and(|v| allowed.contains(v)))
        .map(|(index, _)| *index)
        .collect()
}
