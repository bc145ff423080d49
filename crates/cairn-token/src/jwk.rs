//! JSON Web Keys for the key types Cairn signs with or seals to (OKP Ed25519 and X25519, EC
//! P-256), and RSA, which external issuers (clouds, Kubernetes) commonly sign with.

use cairn_proto::{b64, jcs};
use serde::{Deserialize, Serialize};

/// A JSON Web Key (RFC 7517) of the kinds Cairn publishes and reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub crv: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus and exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "use")]
    pub use_: Option<String>,
}

impl Jwk {
    pub fn okp(crv: &str, public: &[u8]) -> Self {
        Jwk {
            kty: "OKP".into(),
            crv: crv.into(),
            x: b64::encode(public),
            y: None,
            n: None,
            e: None,
            kid: None,
            alg: None,
            use_: None,
        }
    }

    /// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
    pub fn thumbprint(&self) -> String {
        let required = match (&self.y, &self.n, &self.e) {
            (Some(y), _, _) => {
                serde_json::json!({ "crv": self.crv, "kty": self.kty, "x": self.x, "y": y })
            }
            (None, Some(n), Some(e)) => serde_json::json!({ "e": e, "kty": self.kty, "n": n }),
            _ => serde_json::json!({ "crv": self.crv, "kty": self.kty, "x": self.x }),
        };
        b64::encode(cairn_proto::Digest::sha256(jcs::canonical(&required)).0)
    }

    /// The raw X25519 public key of an `OKP`/`X25519` JWK (a PAT's `cnf` key).
    pub fn x25519_public(&self) -> Option<[u8; 32]> {
        (self.kty == "OKP" && self.crv == "X25519")
            .then(|| b64::decode_array(&self.x).ok())
            .flatten()
    }
}

/// A JWK Set (RFC 7517, section 5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8037_thumbprint_example() {
        // RFC 8037 appendix A.3.
        let jwk = Jwk {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
            ..Jwk::okp("", &[])
        };
        assert_eq!(
            jwk.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
