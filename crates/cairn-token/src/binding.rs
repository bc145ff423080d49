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
    if pat.registered.sub != token.body.host_id {
        return Err(Disagreement::Host {
            pat: pat.registered.sub.to_string(),
            token: token.body.host_id.to_string(),
        });
    }
    match pat.body.tkd {
        None => return Err(Disagreement::Unbound),
        Some(tkd) if tkd != Digest::sha256(security_token) => {
            return Err(Disagreement::OtherToken);
        }
        Some(_) => {}
    }
    if !token.body.volume_ids.iter().any(|v| v == volume_id) {
        return Err(Disagreement::Volume(volume_id.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pat::{Confirmation, PatStatus};
    use crate::security::Audience;
    use crate::{Jwk, Pat, Registered, SecurityToken};
    use cairn_proto::UnixTime;

    fn pair(host: &str, token_host: &str) -> (PatClaims, SecurityTokenClaims) {
        let at = UnixTime::from_secs;
        let pat = PatClaims {
            registered: Registered {
                iss: "i".into(),
                sub: host.parse().unwrap(),
                aud: "cairn-kbs".into(),
                iat: at(0),
                nbf: at(0),
                exp: at(1),
                jti: "j".into(),
            },
            body: Pat {
                hwfp: Digest::sha256("hw"),
                cnf: Confirmation {
                    jwk: Jwk::okp("X25519", &[1; 32]),
                },
                tkd: Some(Digest::sha256("the-token")),
                status: PatStatus::Affirming,
                drift: vec![],
            },
        };
        let token = SecurityTokenClaims {
            iss: "i".into(),
            sub: "inst".into(),
            aud: Audience::One("cairn-kbs".into()),
            iat: at(0),
            exp: at(1),
            nbf: None,
            jti: None,
            body: SecurityToken {
                host_id: token_host.parse().unwrap(),
                volume_ids: vec!["vol-a".into()],
                image_digest: None,
            },
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
        pat.body.tkd = None;
        assert_eq!(
            check(&pat, &token, "the-token", "vol-a"),
            Err(Disagreement::Unbound)
        );
    }
}
