//! Whether a PAT and a security token agree (DESIGN.md flow 3, step 3; invariant 2): both
//! verified on their own, they must also speak of the same host, be bound to each other by
//! the PAT's `tkd`, and the token must grant the volume asked for.

use cairn_proto::Digest;

use crate::{PatClaims, SecurityTokenClaims};

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Disagreement {
    #[error("the PAT is for host {pat} but the security token places the instance on {token}")]
    Host { pat: String, token: String },
    #[error("the PAT is not bound to a security token (no tkd claim)")]
    Unbound,
    #[error("the PAT is bound to another security token (tkd differs)")]
    OtherToken,
    #[error("the security token does not grant volume {0:?}")]
    Volume(String),
}

/// `security_token` is the token exactly as presented: `tkd` is the SHA-256 of those bytes.
pub fn check(
    pat: &PatClaims,
    token: &SecurityTokenClaims,
    security_token: &str,
    volume_id: &str,
) -> Result<(), Disagreement> {
    if pat.sub != token.host_id {
        return Err(Disagreement::Host {
            pat: pat.sub.to_string(),
            token: token.host_id.to_string(),
        });
    }
    match pat.tkd {
        None => return Err(Disagreement::Unbound),
        Some(tkd) if tkd != Digest::sha256(security_token) => {
            return Err(Disagreement::OtherToken);
        }
        Some(_) => {}
    }
    if !token.volume_ids.iter().any(|v| v == volume_id) {
        return Err(Disagreement::Volume(volume_id.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Jwk;
    use crate::pat::{Confirmation, PatStatus};
    use crate::security::Audience;

    fn pair(host: &str, token_host: &str) -> (PatClaims, SecurityTokenClaims) {
        let pat = PatClaims {
            iss: "i".into(),
            sub: host.parse().unwrap(),
            aud: "cairn-kbs".into(),
            iat: 0,
            nbf: 0,
            exp: 1,
            jti: "j".into(),
            hwfp: Digest::sha256("hw"),
            cnf: Confirmation {
                jwk: Jwk::okp("X25519", &[1; 32]),
            },
            tkd: Some(Digest::sha256("the-token")),
            status: PatStatus::Affirming,
            drift: vec![],
        };
        let token = SecurityTokenClaims {
            iss: "i".into(),
            sub: "inst".into(),
            aud: Audience::One("cairn-kbs".into()),
            iat: 0,
            exp: 1,
            nbf: None,
            jti: None,
            host_id: token_host.parse().unwrap(),
            volume_ids: vec!["vol-a".into()],
            image_digest: None,
        };
        (pat, token)
    }

    const A: &str = "h_00000000000000000000000000000000";
    const B: &str = "h_11111111111111111111111111111111";

    #[test]
    fn agreeing_tokens_pass() {
        let (pat, token) = pair(A, A);
        assert_eq!(check(&pat, &token, "the-token", "vol-a"), Ok(()));
    }

    #[test]
    fn each_disagreement_is_named() {
        let (pat, token) = pair(A, B);
        assert!(matches!(
            check(&pat, &token, "the-token", "vol-a"),
            Err(Disagreement::Host { .. })
        ));
        let (mut pat, token) = pair(A, A);
        assert_eq!(
            check(&pat, &token, "another-token", "vol-a"),
            Err(Disagreement::OtherToken)
        );
        assert_eq!(
            check(&pat, &token, "the-token", "vol-b"),
            Err(Disagreement::Volume("vol-b".into()))
        );
        pat.tkd = None;
        assert_eq!(
            check(&pat, &token, "the-token", "vol-a"),
            Err(Disagreement::Unbound)
        );
    }
}
