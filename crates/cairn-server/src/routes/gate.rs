//! What both release routes (a volume's key, flow 3; an ERoT's key, flow 4) ask of the tokens
//! they are shown, in one place: the PAT verifies as one this deployment issued, its host is
//! still admitted now (invariant 4: not merely when it attested), and what is released for it
//! is sealed to its `cnf` key. Each refusal names the token and the failure.

use cairn_proto::{HostId, Refusal};
use cairn_store::HostRecord;
use cairn_token::TokenError;
use cairn_token::pat::PatClaims;

use super::known_host;
use crate::AppState;
use crate::problem::{ApiError, WithDetail};

/// The PAT's claims, if it verifies.
pub fn pat(state: &AppState, raw: &str) -> Result<PatClaims, ApiError> {
    state
        .pat_verifier
        .verify_pat(raw)
        .map_err(|e| token_refusal(Token::Pat, e))
}

/// The host a PAT names, if it may still be given anything.
pub async fn admitted(
    state: &AppState,
    host: &HostId,
) -> Result<std::sync::Arc<HostRecord>, ApiError> {
    let host = known_host(state, host).await?;
    host.status.admit()?;
    Ok(host)
}

/// The PAT's `cnf` key, to which whatever is released for it is sealed.
pub fn recipient(pat: &PatClaims) -> Result<[u8; 32], ApiError> {
    pat.body
        .cnf
        .jwk
        .x25519_public()
        .ok_or_else(|| Refusal::CnfKeyInvalid.with("the PAT's cnf key is not an X25519 OKP key"))
}

/// Which token a refusal is about.
#[derive(Clone, Copy)]
pub enum Token {
    Pat,
    Security,
}

/// A refusal per token and failure kind, e.g. `pat-expired`,
/// `security-token-untrusted-issuer`.
pub fn token_refusal(which: Token, e: TokenError) -> ApiError {
    use Token::{Pat, Security};
    let refusal = match (which, &e) {
        (Pat, TokenError::Expired) => Refusal::PatExpired,
        (Pat, TokenError::NotYetValid) => Refusal::PatNotYetValid,
        (Pat, _) => Refusal::PatInvalid,
        (Security, TokenError::Expired) => Refusal::SecurityTokenExpired,
        (Security, TokenError::NotYetValid) => Refusal::SecurityTokenNotYetValid,
        (Security, TokenError::UntrustedIssuer(_)) => Refusal::SecurityTokenUntrustedIssuer,
        (Security, TokenError::StaleIssuer(_)) => Refusal::SecurityTokenIssuerStale,
        (Security, _) => Refusal::SecurityTokenInvalid,
    };
    refusal.with(e.to_string())
}
