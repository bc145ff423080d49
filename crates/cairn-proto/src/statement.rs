//! Signed statements: `{ "<payload name>": {...}, "signature": { "alg", "value" } }`.
//!
//! What is signed is the JCS encoding of the payload object exactly as it was received, so
//! the verifier canonicalizes the received JSON, never a re-serialization of its own types.
//! Both sides canonicalize once, when the statement is made or read.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeOwned, Error, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::hk::{HardwareKey, HkAlg, SignatureError};
use crate::jcs;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    pub alg: HkAlg,
    #[serde(with = "crate::b64::bytes")]
    #[schema(schema_with = crate::schema::b64_bytes)]
    pub value: Vec<u8>,
    /// TPM2 only: the TPMS_ATTEST structure the quote signed.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "opt_b64")]
    #[schema(schema_with = crate::schema::b64_bytes)]
    pub attest: Option<Vec<u8>>,
    /// TPM2 only: `{ "sha256": { index: hex } }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcrs: Option<BTreeMap<String, BTreeMap<String, String>>>,
}

impl Signature {
    /// The SHA-256 PCR values of a TPM2 signature (`{ "sha256": { "7": hex } }`), the only
    /// bank Cairn quotes.
    pub fn pcr_values(&self) -> Result<cairn_tpm::PcrValues, SignatureError> {
        let bad = |why: &str| SignatureError::MalformedQuote(why.into());
        let banks = self.pcrs.as_ref().ok_or_else(|| bad("no pcrs"))?;
        if banks.keys().any(|bank| bank != "sha256") {
            return Err(bad("only the sha256 PCR bank is accepted"));
        }
        let mut values = cairn_tpm::PcrValues::new();
        for (index, value) in banks.get("sha256").into_iter().flatten() {
            let index: u32 = index
                .parse()
                .ok()
                .filter(|i| *i < 24)
                .ok_or_else(|| bad("a PCR index is 0 to 23"))?;
            let value = hex::decode(value)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(|| bad("a sha256 PCR value is 64 hex digits"))?;
            values.insert(index, value);
        }
        Ok(values)
    }

    /// An EdDSA or ES256 signature: just the raw signature bytes.
    pub fn plain(alg: HkAlg, value: Vec<u8>) -> Self {
        Signature {
            alg,
            value,
            attest: None,
            pcrs: None,
        }
    }
}

mod opt_b64 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&crate::b64::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        let text = String::deserialize(d)?;
        crate::b64::decode(&text)
            .map(Some)
            .map_err(D::Error::custom)
    }
}

/// A payload type and the member name it travels under.
pub trait Payload: Serialize + DeserializeOwned {
    const NAME: &'static str;
}

/// A payload together with the exact JSON it was received (or sent) as, the JCS bytes of
/// that JSON, computed once, and its signature.
#[derive(Clone, Debug)]
pub struct Signed<T> {
    pub payload: T,
    raw: Box<RawValue>,
    canonical: Vec<u8>,
    pub signature: Signature,
}

impl<T: Payload> Signed<T> {
    /// Signs `payload` with `sign`, which receives the JCS bytes.
    pub fn sign<E>(
        payload: T,
        sign: impl FnOnce(&[u8]) -> Result<Signature, E>,
    ) -> Result<Self, E> {
        let raw = serde_json::value::to_raw_value(&payload).expect("payload serializes to JSON");
        let canonical = jcs::canonical_text(raw.get()).expect("serialized payloads are JSON");
        let signature = sign(&canonical)?;
        Ok(Signed {
            payload,
            raw,
            canonical,
            signature,
        })
    }

    /// A statement from its parts as received: the payload's JSON must be canonicalizable
    /// and must be a `T`.
    fn from_parts(raw: Box<RawValue>, signature: Signature) -> Result<Self, serde_json::Error> {
        let canonical = jcs::canonical_text(raw.get())?;
        let payload = serde_json::from_str(raw.get())?;
        Ok(Signed {
            payload,
            raw,
            canonical,
            signature,
        })
    }

    /// The payload exactly as received, parsed.
    #[cfg(feature = "test-support")]
    pub fn raw_payload(&self) -> serde_json::Value {
        serde_json::from_str(self.raw.get()).expect("a raw payload is JSON")
    }

    pub fn verify(&self, hk: &HardwareKey) -> Result<(), SignatureError> {
        hk.verify(&self.canonical, &self.signature)
    }

    /// Replaces the payload JSON while keeping the signature: for tests that tamper.
    #[cfg(feature = "test-support")]
    pub fn with_raw_payload(self, raw: serde_json::Value) -> Result<Self, serde_json::Error> {
        Self::from_parts(serde_json::value::to_raw_value(&raw)?, self.signature)
    }
}

impl<T: Payload> Serialize for Signed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(T::NAME, &self.raw)?;
        map.serialize_entry("signature", &self.signature)?;
        map.end()
    }
}

impl<'de, T: Payload> Deserialize<'de> for Signed<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(Envelope(PhantomData))
    }
}

/// `{ "<T::NAME>": {...}, "signature": {...} }`, each exactly once and nothing else; the
/// payload is kept as text, since what is signed is its canonical form.
struct Envelope<T>(PhantomData<T>);

impl<'de, T: Payload> Visitor<'de> for Envelope<T> {
    type Value = Signed<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a signed {}", T::NAME)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Signed<T>, A::Error> {
        let (mut raw, mut signature) = (None::<Box<RawValue>>, None::<Signature>);
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            match name.as_ref() {
                n if n == T::NAME && raw.is_none() => raw = Some(map.next_value()?),
                "signature" if signature.is_none() => {
                    signature = Some(
                        map.next_value()
                            .map_err(|e| A::Error::custom(format!("signature: {e}")))?,
                    )
                }
                n if n == T::NAME || n == "signature" => {
                    return Err(A::Error::custom(format!("duplicate field `{n}`")));
                }
                other => return Err(A::Error::custom(format!("unknown field `{other}`"))),
            }
        }
        let raw = raw.ok_or_else(|| A::Error::missing_field(T::NAME))?;
        let signature = signature.ok_or_else(|| A::Error::missing_field("signature"))?;
        Signed::from_parts(raw, signature)
            .map_err(|e| A::Error::custom(format!("{}: {e}", T::NAME)))
    }
}
