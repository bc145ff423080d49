//! Tokens Cairn issues and checks: JSON Web Keys (RFC 7517, thumbprints per RFC 7638), compact
//! JWS signing (RFC 7515) with keys parsed once, the physical attestation token (PAT) and
//! instance security token claims, and a verifier any relying party can embed.

pub mod binding;
pub mod claims;
pub mod jwk;
pub mod jws;
pub mod pat;
pub mod receipt;
pub mod security;
pub mod verify;

pub use claims::{Claims, Issued, KeyPurpose, Registered, TokenKind, TokenSigner, Validity};
pub use jwk::{Jwk, Jwks};
pub use jws::{Ed25519Signer, JwsSigner, SignError};
pub use pat::{Pat, PatClaims, PatStatus};
pub use receipt::{Receipt, ReceiptClaims};
pub use security::{SECURITY_TOKEN_TYP, SecurityToken, SecurityTokenClaims, TrustedIssuers};
pub use verify::{TokenError, Verifier};

/// Seconds of clock skew tolerated on `exp`, `nbf` and `iat` (DESIGN.md flow 3).
pub const MAX_SKEW_SECS: u64 = 60;
