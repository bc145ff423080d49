//! The `pkcs11` key store: every server key is created inside the HSM by
//! `cairn server init`, marked sensitive and not extractable, and used only through the
//! module: JWS signing keys (CKM_EDDSA or CKM_ECDSA), the volume-key KEK (CKM_AES_GCM) and
//! the ERoT master secret (CKM_SHA256_HMAC). Keys are found by label, `cairn-<name>`.

mod hsm;
mod kek;
mod signer;

use std::collections::HashMap;
use std::sync::Arc;

use cairn_token::JwsSigner;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use zeroize::Zeroizing;

use crate::spec::{Pkcs11Config, SigningAlg};
use crate::{KeyPurpose, KeyStore, KeyStoreError, KeyWrapper};
use hsm::Hsm;
use kek::HsmKek;
use signer::{ED25519_PARAMS, HsmSigner, P256_PARAMS};

const VOLUME_KEK: &str = "volume-kek";
const EROT_MASTER: &str = "erot-master";
const LOG_KEY: &str = "log-signing";

/// The CKA_LABEL of one of Cairn's keys.
pub fn label(name: &str) -> String {
    format!("cairn-{name}")
}

pub struct Pkcs11KeyStore {
    hsm: Arc<Hsm>,
    signers: HashMap<KeyPurpose, Arc<dyn JwsSigner>>,
    log_signer: Arc<dyn JwsSigner>,
    volume_kek: Arc<dyn KeyWrapper>,
    erot_master: ObjectHandle,
}

impl Pkcs11KeyStore {
    /// Generates every key inside the token; refuses a token that already holds one of them.
    pub fn create(config: &Pkcs11Config) -> Result<Self, KeyStoreError> {
        let hsm = Hsm::open(config)?;
        let names =
            KeyPurpose::ALL
                .iter()
                .map(|p| p.name())
                .chain([VOLUME_KEK, EROT_MASTER, LOG_KEY]);
        for name in names {
            for class in [ObjectClass::PRIVATE_KEY, ObjectClass::SECRET_KEY] {
                if hsm.find(class, &label(name))?.is_some() {
                    return Err(KeyStoreError::AlreadyInitialized(format!(
                        "{} (it holds {:?})",
                        hsm.name,
                        label(name)
                    )));
                }
            }
        }
        for purpose in KeyPurpose::ALL {
            generate_signing_key(&hsm, &label(purpose.name()), config.alg)?;
        }
        generate_signing_key(&hsm, &label(LOG_KEY), SigningAlg::EdDSA)?;
        let secret = |name: &str, key_type: KeyType, usage: &[Attribute]| {
            let mut template = secret_key_template(&label(name));
            template.push(Attribute::KeyType(key_type));
            template.extend(only(usage));
            let mechanism = if key_type == KeyType::AES {
                Mechanism::AesKeyGen
            } else {
                Mechanism::GenericSecretKeyGen
            };
            hsm.admin(|s| s.generate_key(&mechanism, &template))
                .map_err(|e| hsm.error(&format!("generating {}", label(name)), e))
        };
        secret(
            VOLUME_KEK,
            KeyType::AES,
            &[Attribute::Encrypt(true), Attribute::Decrypt(true)],
        )?;
        secret(
            EROT_MASTER,
            KeyType::GENERIC_SECRET,
            &[Attribute::Sign(true)],
        )?;
        Self::with(hsm, config.alg)
    }

    pub fn open(config: &Pkcs11Config) -> Result<Self, KeyStoreError> {
        Self::with(Hsm::open(config)?, config.alg)
    }

    fn with(hsm: Hsm, alg: SigningAlg) -> Result<Self, KeyStoreError> {
        let hsm = Arc::new(hsm);
        let mut signers: HashMap<KeyPurpose, Arc<dyn JwsSigner>> = HashMap::new();
        for purpose in KeyPurpose::ALL {
            let label = label(purpose.name());
            let private = hsm.require(ObjectClass::PRIVATE_KEY, &label)?;
            let public = hsm.require(ObjectClass::PUBLIC_KEY, &label)?;
            let signer = HsmSigner::new(hsm.clone(), private, public, alg)?;
            signers.insert(purpose, Arc::new(signer));
        }
        // A token set up before the transparency log gets its key at the first start after.
        let log_label = label(LOG_KEY);
        if hsm.find(ObjectClass::PRIVATE_KEY, &log_label)?.is_none() {
            generate_signing_key(&hsm, &log_label, SigningAlg::EdDSA)?;
            tracing::info!(token = %hsm.name, "created the transparency log's key");
        }
        let log_signer = Arc::new(HsmSigner::new(
            hsm.clone(),
            hsm.require(ObjectClass::PRIVATE_KEY, &log_label)?,
            hsm.require(ObjectClass::PUBLIC_KEY, &log_label)?,
            SigningAlg::EdDSA,
        )?);
        let kek = hsm.require(ObjectClass::SECRET_KEY, &label(VOLUME_KEK))?;
        let Attribute::Id(kek_id) = hsm.attribute(kek, AttributeType::Id)? else {
            return Err(KeyStoreError::Hsm(format!(
                "{}: the KEK has no id",
                hsm.name
            )));
        };
        let erot_master = hsm.require(ObjectClass::SECRET_KEY, &label(EROT_MASTER))?;
        Ok(Pkcs11KeyStore {
            volume_kek: Arc::new(HsmKek::new(hsm.clone(), kek, &kek_id)),
            hsm,
            signers,
            log_signer,
            erot_master,
        })
    }
}

/// Every usage flag off but those in `allowed`: modules default some on (SoftHSM2 lets a
/// private key decrypt and unwrap), and a key should do its one job.
fn only(allowed: &[Attribute]) -> Vec<Attribute> {
    let mut usage = vec![
        Attribute::Encrypt(false),
        Attribute::Decrypt(false),
        Attribute::Sign(false),
        Attribute::Verify(false),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
        Attribute::Derive(false),
    ];
    for flag in allowed {
        usage.retain(|u| u.attribute_type() != flag.attribute_type());
        usage.push(flag.clone());
    }
    usage
}

/// Attributes every secret key gets: on the token, behind the PIN, never readable.
fn secret_key_template(label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::ValueLen(32.into()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(cairn_proto::random_bytes::<16>().to_vec()),
    ]
}

fn generate_signing_key(hsm: &Hsm, label: &str, alg: SigningAlg) -> Result<(), KeyStoreError> {
    let (mechanism, params) = match alg {
        SigningAlg::EdDSA => (Mechanism::EccEdwardsKeyPairGen, ED25519_PARAMS),
        SigningAlg::ES256 => (Mechanism::EccKeyPairGen, P256_PARAMS),
    };
    let id = cairn_proto::random_bytes::<16>().to_vec();
    let common = [
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id),
    ];
    let mut public = common.to_vec();
    public.extend([
        Attribute::Private(false),
        Attribute::EcParams(params.to_vec()),
    ]);
    public.extend(only(&[Attribute::Verify(true)]).into_iter().filter(|a| {
        // Attributes a public key does not have at all.
        !matches!(
            a,
            Attribute::Sign(_) | Attribute::Decrypt(_) | Attribute::Unwrap(_)
        )
    }));
    let mut private = common.to_vec();
    private.extend([
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ]);
    private.extend(only(&[Attribute::Sign(true)]).into_iter().filter(|a| {
        !matches!(
            a,
            Attribute::Verify(_) | Attribute::Encrypt(_) | Attribute::Wrap(_)
        )
    }));
    hsm.admin(|s| s.generate_key_pair(&mechanism, &public, &private))
        .map(drop)
        .map_err(|e| hsm.error(&format!("generating {label} ({alg:?})"), e))
}

impl KeyStore for Pkcs11KeyStore {
    fn signer(&self, purpose: KeyPurpose) -> Arc<dyn JwsSigner> {
        self.signers[&purpose].clone()
    }

    fn log_signer(&self) -> Arc<dyn JwsSigner> {
        self.log_signer.clone()
    }

    fn volume_kek(&self) -> Arc<dyn KeyWrapper> {
        self.volume_kek.clone()
    }

    fn erot_mac(&self, seed: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, KeyStoreError> {
        let tag = Zeroizing::new(
            self.hsm
                .run(|s| s.sign(&Mechanism::Sha256Hmac, self.erot_master, seed))
                .map_err(|e| self.hsm.error("HMAC under the ERoT master secret", e))?,
        );
        let tag: [u8; 32] = tag[..]
            .try_into()
            .map_err(|_| KeyStoreError::Hsm(format!("{}: HMAC is not 32 bytes", self.hsm.name)))?;
        Ok(Zeroizing::new(tag))
    }
}
